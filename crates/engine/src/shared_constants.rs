//! One copy of each constant across a model's plans.
//!
//! A model whose batch is dynamic is optimized twice, for any batch and
//! for a batch of one ([`batch_one`](crate::batch_one)); a model can also be
//! planned for several input shapes ([`plans`](crate::plans)). Each optimization
//! packs the weights for the matrix kernel it picks, so each plan holds
//! its own packed copy of every weight: a second copy of the model in the
//! component's memory image, which every fresh instance maps and every host
//! hashes or compiles (ResNet-18's predictor was 113 MB for 47 MB of
//! weights). Where both plans packed a weight alike (the same kernel, so the
//! same panels), the bytes are equal, and the second plan can point at the
//! first plan's tensor: its own copy is then freed before the snapshot.
//!
//! Packed weights live in two places in an optimized plan: `Const` nodes,
//! and inside a matrix product (tract's `OptMatMul` bakes a constant,
//! unbatched operand into itself, `MatMulOperand::Const`: MobileNetV2's
//! point-wise convolutions, a Gemm's weights). Both are shared.
//!
//! Constants are compared whole (element type, shape and bytes; packed
//! ones by their packing and panels, as tract compares them), so a plan
//! only ever gets a constant equal to its own. Compared, not hashed: two
//! constants of another shape or packing differ at once, so a scan costs
//! little, where hashing would read every weight of every plan.

use std::sync::Arc;

use tract_onnx::prelude::TypedModel;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::matmul::optimized::{MatMulOperand, OptMatMul, ProtoFusedSpec};

/// Makes every constant of `model` that equals one of `from`'s (other
/// optimized plans of the same model) the same tensor as theirs (its node,
/// and its output's fact; or the packed operand a matrix product holds),
/// so that `model`'s own copy is dropped with the last reference to it.
/// Returns how many constants `model` now shares.
pub(crate) fn share(model: &mut TypedModel, from: &[&TypedModel]) -> usize {
    let siblings = || from.iter().flat_map(|sibling| sibling.nodes());
    let known: Vec<&Const> = siblings()
        .filter_map(|node| node.op_as::<Const>())
        .collect();
    let known_baked: Vec<&MatMulOperand> = siblings()
        .filter_map(|node| node.op_as::<OptMatMul>())
        .flat_map(|op| &op.micro_ops)
        .flat_map(operands)
        .filter(|operand| matches!(operand, MatMulOperand::Const(_)))
        .collect();
    let mut shared = 0;
    for node in model.nodes_mut() {
        if let Some(op) = node.op_as_mut::<OptMatMul>() {
            for operand in op.micro_ops.iter_mut().flat_map(operands_mut) {
                // `known_baked` holds packed constants only, so an input
                // operand never matches. Equal packed values are the same
                // packing of the same bytes: the clone holds the sibling's
                // panels (an `Arc`).
                if let Some(same) = known_baked.iter().find(|known| **known == operand) {
                    *operand = (*same).clone();
                    shared += 1;
                }
            }
            continue;
        }
        let Some(same) = node.op_as::<Const>().and_then(|own| {
            let same = known.iter().find(|known| **known == own)?;
            (!Arc::ptr_eq(same.val(), own.val())).then(|| (*same).clone())
        }) else {
            continue;
        };
        for output in &mut node.outputs {
            if output.fact.konst.is_some() {
                output.fact.konst = Some(same.val().clone());
            }
        }
        node.op = Box::new(same);
        shared += 1;
    }
    shared
}

/// The operands of one of a matrix product's steps (none but a product's).
fn operands(spec: &ProtoFusedSpec) -> impl Iterator<Item = &MatMulOperand> {
    match spec {
        ProtoFusedSpec::AddMatMul { a, b, .. } => Some([a, b]),
        _ => None,
    }
    .into_iter()
    .flatten()
}

fn operands_mut(spec: &mut ProtoFusedSpec) -> impl Iterator<Item = &mut MatMulOperand> {
    match spec {
        ProtoFusedSpec::AddMatMul { a, b, .. } => Some([a, b]),
        _ => None,
    }
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use tract_onnx::prelude::*;

    use super::*;

    /// x · W + b, with W and b constants.
    fn affine(weights: &[f32], bias: f32) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model
            .add_source("x", f32::fact([1usize, 4]))
            .expect("source");
        let w = model
            .add_const(
                "w",
                tensor2(&[[weights[0]], [weights[1]], [weights[2]], [weights[3]]]),
            )
            .expect("w");
        let b = model.add_const("b", tensor2(&[[bias]])).expect("b");
        let product = model
            .wire_node(
                "product",
                tract_onnx::tract_core::ops::einsum::EinSum::new(
                    "ik,kj->ij".parse().expect("axes"),
                    f32::datum_type(),
                ),
                &[x, w],
            )
            .expect("einsum");
        let sum = model
            .wire_node(
                "sum",
                tract_onnx::tract_core::ops::math::add(),
                &[product[0], b],
            )
            .expect("add");
        model.select_output_outlets(&sum).expect("outputs");
        model
    }

    /// digits_cnn, whose batch is dynamic, with four plans: for every
    /// batch, for a batch of one, and two planned ahead.
    fn digits_cnn_with_four_plans() -> crate::Model {
        let onnx = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/digits_cnn.onnx"
        ))
        .expect("models/digits_cnn.onnx");
        let mut options = crate::LoadOptions::default();
        options.add_input_shape("image=2,1,8,8").expect("shape");
        options.add_input_shape("image=3,1,8,8").expect("shape");
        let model = crate::Model::load_with(&onnx, "digits_cnn", "1", &options).expect("loads");
        assert_eq!(model.plans().len(), 4);
        model
    }

    /// Checks that what each plan holds (`held[plan]`) and an earlier plan
    /// holds too is the same allocation as one of theirs; returns, for each
    /// plan, how many of its values it shares with earlier plans.
    fn assert_held_once<T: PartialEq + std::fmt::Debug>(held: &[Vec<Arc<T>>]) -> Vec<usize> {
        held.iter()
            .enumerate()
            .map(|(i, ours)| {
                let earlier: Vec<&Arc<T>> = held[..i].iter().flatten().collect();
                ours.iter()
                    .filter(|a| {
                        let equal: Vec<_> = earlier.iter().filter(|b| **b == *a).collect();
                        assert!(
                            equal.is_empty() || equal.iter().any(|b| Arc::ptr_eq(a, b)),
                            "plan {i} holds a copy of {a:?}"
                        );
                        !equal.is_empty()
                    })
                    .count()
            })
            .collect()
    }

    #[test]
    fn a_model_s_plans_hold_each_constant_once() {
        let model = digits_cnn_with_four_plans();
        let held: Vec<Vec<Arc<Tensor>>> =
            model.plans().iter().map(|p| constants(p.model())).collect();
        // tract may hold equal small constants twice within one plan: those
        // are left as they are. Each later plan does share with the earlier
        // ones (the convolutions' weights, packed alike for any batch).
        let shared = assert_held_once(&held);
        for (i, count) in shared.iter().enumerate().skip(1) {
            assert!(*count > 0, "plan {i} shares nothing");
        }
    }

    #[test]
    fn packed_operands_inside_matrix_products_are_held_once() {
        // digits_cnn's dense layer: tract bakes its packed weights into the
        // matrix product, in every plan; natively, only the plan for any
        // batch packs them for another kernel.
        let model = digits_cnn_with_four_plans();
        let held: Vec<Vec<Arc<Blob>>> = model.plans().iter().map(|p| baked(p.model())).collect();
        assert!(
            held.iter().all(|plan| !plan.is_empty()),
            "a plan without packed operands"
        );
        let shared: usize = assert_held_once(&held).iter().sum();
        assert!(shared > 0, "the plans share no packed operand");
    }

    /// The panels of every packed operand `model`'s matrix products hold.
    fn baked(model: &TypedModel) -> Vec<Arc<Blob>> {
        model
            .nodes()
            .iter()
            .filter_map(|n| n.op_as::<OptMatMul>())
            .flat_map(|op| &op.micro_ops)
            .flat_map(operands)
            .filter_map(|operand| match operand {
                MatMulOperand::Const(value) => value
                    .downcast_ref::<tract_onnx::tract_core::tract_linalg::mmm::EagerPackedInput>()
                    .map(|packed| packed.packed.clone()),
                MatMulOperand::Input(_) => None,
            })
            .collect()
    }

    fn constants(model: &TypedModel) -> Vec<Arc<Tensor>> {
        model
            .nodes()
            .iter()
            .filter_map(|n| n.op_as::<Const>())
            .map(|k| k.val().clone())
            .collect()
    }

    #[test]
    fn equal_constants_become_one_and_others_stay() {
        let from = affine(&[1.0, 2.0, 3.0, 4.0], 0.5);
        // The same weights, another bias.
        let mut model = affine(&[1.0, 2.0, 3.0, 4.0], 0.25);
        assert_eq!(share(&mut model, &[&from]), 1);
        let (ours, theirs) = (constants(&model), constants(&from));
        let weights = ours.iter().find(|t| t.shape() == [4, 1]).expect("weights");
        assert!(theirs.iter().any(|t| Arc::ptr_eq(t, weights)));
        let bias = ours.iter().find(|t| t.shape() == [1, 1]).expect("bias");
        assert!(!theirs.iter().any(|t| Arc::ptr_eq(t, bias)));
        assert_eq!(**bias, tensor2(&[[0.25f32]]));
        // The shared node's fact points at the same tensor.
        let node = model.node_by_name("w").expect("w");
        assert!(Arc::ptr_eq(
            node.outputs[0]
                .fact
                .konst
                .as_ref()
                .expect("a constant fact"),
            weights
        ));
        // And it computes the same.
        let x = tensor2(&[[1.0f32, 1.0, 1.0, 1.0]]);
        let out = model
            .into_runnable()
            .expect("runnable")
            .run(tvec![x.into()])
            .expect("run");
        assert_eq!(*out[0], tensor2(&[[10.25f32]]));
    }
}
