//! A second plan, for a batch of one.
//!
//! Most exported networks leave their batch dimension to the caller
//! (`[batch, 3, 224, 224]`), and most calls of a served model carry one
//! item. With the batch unknown, tract must lower a convolution the general
//! way (an im2col buffer, then a matrix product whose width it learns only
//! when called); with every dimension known it has faster lowerings (im2col
//! fused into the matrix packing, direct and depth-wise convolutions).
//! `scripts/kernel-tiles.sh` measured SqueezeNet at 1.46× faster in wasm
//! (1.6× natively) with the batch fixed to one, digits_cnn at 2.1×
//! (BENCHMARKS.md, "A plan for a batch of one").
//!
//! So when every dynamic input dimension is a leading batch axis, the model
//! is optimized twice: for any batch, and with each of those axes set to
//! one. A call whose batch axes are all one runs the second plan; any other
//! call runs the first. Both compute the same function, so which one ran is
//! never visible but in time. The weights both plans pack alike are held
//! once ([`shared_constants`](crate::shared_constants)).

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::prelude::{TDim, TValue, TypedModel, TypedRunnableModel};

use crate::plans;

/// The plan for a batch of one, or `None` when the model's inputs have no
/// dynamic dimension, have one elsewhere than on their leading axis, or
/// the specialized model cannot be optimized (the general plan serves
/// every call then). It shares the constants it holds alike with
/// `general`, the optimized model of the plan for any batch.
pub(crate) fn plan(typed: &TypedModel, general: &TypedModel) -> Option<Arc<TypedRunnableModel>> {
    let mut ones = HashMap::new();
    for &input in &typed.inputs {
        let fact = typed.outlet_fact(input).ok()?;
        for (axis, dim) in fact.shape.iter().enumerate() {
            match dim {
                TDim::Val(_) => {}
                TDim::Sym(symbol) if axis == 0 => {
                    ones.insert(symbol.clone(), TDim::Val(1));
                }
                // A dynamic inner axis (a sequence, an image size) or an
                // expression: not a plain batch.
                _ => return None,
            }
        }
    }
    if ones.is_empty() {
        return None;
    }
    typed
        .set_symbols(&ones)
        .and_then(|one| plans::runnable_sharing(one, &[general]))
        .ok()
}

/// Whether `values` (in declared input order) are a batch of one for the
/// plan of [`plan`]: every input whose leading axis is dynamic has one
/// item.
pub(crate) fn applies(dynamic_leading: &[bool], values: &[TValue]) -> bool {
    dynamic_leading
        .iter()
        .zip(values)
        .all(|(&dynamic, value)| !dynamic || value.shape().first() == Some(&1))
}
