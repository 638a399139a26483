//! ONNX `Flatten`, registered with tract-onnx in place of its own, which
//! refuses an input shape with more than one symbol ("square of symbols").
//! A text pipeline meets it at once: skl2onnx flattens the rows of tokens
//! onnxruntime's `Tokenizer` gives, `[texts, tokens]`, whose two lengths
//! are known only when the model runs; tract's refusal left such a model
//! without a plan for every shape. Here the two sides of the axis are
//! products of symbols, and a flatten that changes nothing (a rank-2 input
//! at axis 1) is an identity.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::change_axes::to_axis_ops_with_tf_rules;
use tract_onnx::tract_core::ops::identity::Identity;
use tract_onnx::tract_hir::internal::*;

pub(crate) fn flatten(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let axis = node.get_attr_opt::<i64>("axis")?.unwrap_or(1);
    Ok((expand(Flatten { axis }), vec![]))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Flatten {
    axis: i64,
}

impl Flatten {
    /// The output shape: the product of the dimensions before the axis,
    /// and of those from it on.
    fn output_shape(&self, shape: &[TDim]) -> TractResult<[TDim; 2]> {
        let rank = shape.len() as i64;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        ensure!(
            (0..=rank).contains(&axis),
            "Flatten: axis {} of a rank-{rank} input",
            self.axis
        );
        let (before, after) = shape.split_at(axis as usize);
        Ok([
            before.iter().cloned().product(),
            after.iter().cloned().product(),
        ])
    }
}

impl Expansion for Flatten {
    fn name(&self) -> StaticName {
        "Flatten".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, 2)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let [rows, columns] = self.output_shape(&shape)?;
            s.equals(&outputs[0].shape, ShapeFactoid::from(vec![rows, columns]))
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let input_shape = model.outlet_fact(inputs[0])?.shape.to_tvec();
        let output_shape = self.output_shape(&input_shape)?;
        if input_shape.as_slice() == output_shape.as_slice() {
            return model.wire_node(prefix, Identity, &inputs[..1]);
        }
        // tract's own axis ops where it finds them (they optimize better),
        // else one reshape.
        let ops = to_axis_ops_with_tf_rules(&input_shape, &output_shape).unwrap_or_else(|_| {
            tvec![AxisOp::Reshape(
                0,
                input_shape.clone(),
                output_shape.to_vec().into(),
            )]
        });
        let mut wire = tvec!(inputs[0]);
        for (ix, op) in ops.into_iter().enumerate() {
            wire = model.wire_node(format!("{prefix}.{ix}"), op, &wire)?;
        }
        Ok(wire)
    }
}
