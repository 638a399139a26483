//! Input shapes a model planned for every shape cannot take, refused as
//! the caller's mistake before tract runs.
//!
//! A plan for every shape computes its intermediate shapes from the
//! inputs' symbols: a convolution over `samples` gives `samples/160 - 3`
//! frames. Fed fewer samples than its kernel takes, such a dimension is
//! negative, and tract failed deep inside the plan with a tensor shape
//! wrapped around to 2^32 (openwakeword's melspectrogram with 100
//! samples). [`ShapeGuard`] keeps every computed dimension of the plan
//! that tract cannot prove non-negative and checks them against each call's input shapes: a negative one is an
//! [`InputError`] that names the input, the node and the dimension.

use tract_onnx::prelude::{Symbol, SymbolValues, TDim, TValue, TypedRunnableModel};

use crate::error::{InputError, InputErrorKind};
use crate::types::TensorInfo;

/// The symbols of a plan's inputs and the dimensions it computes from
/// them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShapeGuard {
    /// (input, axis, symbol): where each symbol's value is read.
    symbols: Vec<(usize, usize, Symbol)>,
    /// (node, dimension): each distinct computed dimension, with the first
    /// node that has it.
    dims: Vec<(String, TDim)>,
}

impl ShapeGuard {
    pub(crate) fn of(plan: &TypedRunnableModel) -> ShapeGuard {
        let model = plan.model();
        let mut symbols = Vec::new();
        for (input, outlet) in model.input_outlets().unwrap_or(&[]).iter().enumerate() {
            let Ok(fact) = model.outlet_fact(*outlet) else {
                continue;
            };
            for (axis, dim) in fact.shape.iter().enumerate() {
                if let TDim::Sym(symbol) = dim {
                    symbols.push((input, axis, symbol.clone()));
                }
            }
        }
        let mut dims: Vec<(String, TDim)> = Vec::new();
        for node in model.nodes() {
            for output in &node.outputs {
                for dim in output.fact.shape.iter() {
                    // `height / 8` or `batch * 3` cannot go below zero
                    // (symbols do not): only what tract cannot prove
                    // non-negative is checked on each call.
                    let computed = !matches!(dim, TDim::Val(_) | TDim::Sym(_));
                    if computed
                        && !dim.prove_positive_or_zero()
                        && !dims.iter().any(|(_, seen)| seen == dim)
                    {
                        dims.push((node.name.clone(), dim.clone()));
                    }
                }
            }
        }
        ShapeGuard { symbols, dims }
    }

    /// Refuses input values that make a computed dimension negative.
    pub(crate) fn check(&self, inputs: &[TensorInfo], values: &[TValue]) -> Result<(), InputError> {
        if self.dims.is_empty() {
            return Ok(());
        }
        let mut known = SymbolValues::default();
        for (input, axis, symbol) in &self.symbols {
            if let Some(&len) = values.get(*input).and_then(|v| v.shape().get(*axis)) {
                known.set(symbol, len as i64);
            }
        }
        for (node, dim) in &self.dims {
            let Ok(value) = dim.eval_to_i64(&known) else {
                continue;
            };
            if value >= 0 {
                continue;
            }
            let used = dim.symbols();
            let Some((input, _, _)) = self.symbols.iter().find(|(_, _, s)| used.contains(s)) else {
                continue;
            };
            let (Some(info), Some(given)) = (inputs.get(*input), values.get(*input)) else {
                continue;
            };
            return Err(InputError::new(
                InputErrorKind::Shape,
                &info.name,
                format!("a shape for which node `{node}` has a dimension ({dim}) of zero or more"),
                format!("{:?}, which makes it {value}", given.shape()),
            ));
        }
        Ok(())
    }
}
