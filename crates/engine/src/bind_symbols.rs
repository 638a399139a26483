//! Symbolic constants get each run's symbol values before any op reads
//! them.
//!
//! Planned for every shape, tract folds what a model computes from its
//! inputs' shapes into constants of dimensions that name the symbols: the
//! `sizes` of a `Resize` that upsamples a feature map to the size of
//! another (`Shape` → `Concat`, as PyTorch exports `F.interpolate(x,
//! size=y.shape[2:])`) becomes `[N, 16, H/16, W/16]`. Most of tract's ops
//! evaluate such a constant with the run's values (`EvalContext::symbols`);
//! tract 0.23.9's `Resize` does not, and fails every call with
//! "Undetermined symbol in expression" (InsightFace's SCRFD face detector
//! in the corpus). Rather than patch tract, [`patch`] puts a
//! [`BindSymbols`] after each such constant in the optimized model, so
//! every op downstream reads plain numbers. An op that does evaluate the
//! constant itself gets the same values either way.

use tract_onnx::prelude::{
    Arc, OutletId, TDim, TValue, TVec, Tensor, TractResult, TypedModel, TypedModelPatch, tvec,
};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::konst::Const;

/// The identity on a tensor of dimensions, but with every symbol the run
/// knows replaced by its value.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(crate) struct BindSymbols;

impl Op for BindSymbols {
    fn name(&self) -> StaticName {
        "WasmodelBindSymbols".into()
    }

    op_as_typed_op!();
}

impl EvalOp for BindSymbols {
    op_out_of_plan!();

    fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut bound = args_1!(inputs).into_tensor();
        for dim in bound.try_as_plain_ram_mut()?.as_slice_mut::<TDim>()? {
            *dim = dim.eval(ctx.symbols);
        }
        Ok(tvec!(bound.into_tvalue()))
    }
}

impl TypedOp for BindSymbols {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].clone()))
    }

    as_op!();
}

/// Whether a constant is dimensions that name a symbol.
fn names_symbols(tensor: &Arc<Tensor>) -> bool {
    if tensor.datum_type() != TDim::datum_type() {
        return false;
    }
    let Ok(plain) = tensor.try_as_plain_ram() else {
        return false;
    };
    plain
        .as_slice::<TDim>()
        .is_ok_and(|dims| dims.iter().any(|d| d.to_i64().is_err()))
}

/// Puts a [`BindSymbols`] after every constant of an optimized model that
/// names a symbol; returns how many.
pub(crate) fn patch(model: &mut TypedModel) -> TractResult<usize> {
    let symbolic: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|node| {
            node.op_as::<Const>()
                .is_some_and(|konst| names_symbols(konst.val()))
        })
        .map(|node| node.id)
        .collect();
    for &id in &symbolic {
        let outlet = OutletId::new(id, 0);
        let fact = model.outlet_fact(outlet)?.clone();
        let name = format!("{}.bind_symbols", model.node(id).name);
        TypedModelPatch::intercept(model, outlet, name, BindSymbols, fact)?.apply(model)?;
    }
    Ok(symbolic.len())
}
