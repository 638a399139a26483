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
//! Constants are compared whole (element type, shape and bytes; packed
//! ones by their packing and panels, as tract compares them), so a plan
//! only ever gets a constant equal to its own. Compared, not hashed: two
//! constants of another shape or packing differ at once, so a scan costs
//! little, where hashing would read every weight of every plan.

use std::sync::Arc;

use tract_onnx::prelude::TypedModel;
use tract_onnx::tract_core::ops::konst::Const;

/// Makes every constant of `model` that equals one of `from`'s (other
/// optimized plans of the same model) the same tensor as theirs (its node,
/// and its output's fact), so that `model`'s own copy is dropped with the
/// last reference to it. Returns how many constants `model` now shares.
pub(crate) fn share(model: &mut TypedModel, from: &[&TypedModel]) -> usize {
    let known: Vec<&Const> = from
        .iter()
        .flat_map(|sibling| sibling.nodes())
        .filter_map(|node| node.op_as::<Const>())
        .collect();
    let mut shared = 0;
    for node in model.nodes_mut() {
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

    #[test]
    fn a_model_s_plans_hold_each_constant_once() {
        // digits_cnn's batch is dynamic: a plan for every batch, one for a
        // batch of one, and two planned ahead.
        let onnx = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/digits_cnn.onnx"
        ))
        .expect("models/digits_cnn.onnx");
        let mut options = crate::LoadOptions::default();
        options.add_input_shape("image=2,1,8,8").expect("shape");
        options.add_input_shape("image=3,1,8,8").expect("shape");
        let model = crate::Model::load_with(&onnx, "digits_cnn", "1", &options).expect("loads");
        let plans = model.plans();
        assert_eq!(plans.len(), 4);
        let held: Vec<Vec<Arc<Tensor>>> = plans.iter().map(|p| constants(p.model())).collect();
        // A constant of a plan that an earlier plan holds too is the same
        // tensor as one of theirs (tract may hold equal small constants
        // twice within one plan: those are left as they are).
        for (i, ours) in held.iter().enumerate() {
            let earlier: Vec<&Arc<Tensor>> = held[..i].iter().flatten().collect();
            for a in ours {
                let equal: Vec<_> = earlier.iter().filter(|b| **b == a).collect();
                assert!(
                    equal.is_empty() || equal.iter().any(|b| Arc::ptr_eq(a, b)),
                    "plan {i} holds a copy of {a:?}"
                );
            }
        }
        // And each later plan does share with the earlier ones (the
        // convolutions' weights, packed alike for any batch).
        for (i, ours) in held.iter().enumerate().skip(1) {
            let shared = ours
                .iter()
                .filter(|a| held[..i].iter().flatten().any(|b| Arc::ptr_eq(a, b)))
                .count();
            assert!(shared > 0, "plan {i} shares nothing");
        }
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
