//! `ReduceLogSumExp` (a standard ONNX operator): log Σ exp(x), computed as
//! max + log Σ exp(x − max), as onnxruntime does.
//!
//! It replaces tract's, which computes exp first and overflows to infinity
//! for scores above ~88 (f32): scikit-learn's naive Bayes exports normalise
//! their log-likelihoods with it, and got `inf` probabilities.

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{ArrayD, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure};

use super::attributes::build;
use super::kernel::{Kernel, Parsed};

pub(crate) fn reduce_log_sum_exp(
    ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> Parsed {
    // Since opset 18 the axes are an (optional) second input, which must
    // be a constant of the graph here.
    let axes_input = node.input.get(1).filter(|name| !name.is_empty()).cloned();
    let initializer = axes_input.as_ref().and_then(|name| {
        ctx.parent_graphs
            .last()
            .and_then(|g| g.initializer.iter().find(|t| &t.name == name))
            .and_then(|t| ctx.load_tensor(t).ok())
    });
    build(node, &["axes", "keepdims", "noop_with_empty_axes"], |a| {
        let axes: Vec<i64> = match (&axes_input, initializer) {
            (Some(_), Some(t)) => t
                .cast_to::<i64>()?
                .try_as_plain_ram()?
                .as_slice::<i64>()?
                .to_vec(),
            (Some(name), None) => {
                return a.bail(
                    "axes",
                    format!("the axes input `{name}` must be a constant of the graph"),
                );
            }
            (None, _) => a.list::<i64>("axes")?,
        };
        Ok(LogSumExp {
            axes,
            keep_dims: a.opt::<i64>("keepdims")?.unwrap_or(1) != 0,
            noop_without_axes: a.opt::<i64>("noop_with_empty_axes")?.unwrap_or(0) != 0,
        })
    })
}

#[derive(Debug)]
struct LogSumExp {
    axes: Vec<i64>,
    keep_dims: bool,
    noop_without_axes: bool,
}

impl LogSumExp {
    /// The reduced axes, for an input of this rank, in increasing order.
    fn axes(&self, rank: usize) -> TractResult<Vec<usize>> {
        if self.axes.is_empty() {
            return Ok(if self.noop_without_axes {
                vec![]
            } else {
                (0..rank).collect()
            });
        }
        let mut axes = self
            .axes
            .iter()
            .map(|&a| {
                let axis = if a < 0 { a + rank as i64 } else { a };
                ensure!(
                    (0..rank as i64).contains(&axis),
                    "ReduceLogSumExp: axis {a} for rank {rank}"
                );
                Ok(axis as usize)
            })
            .collect::<TractResult<Vec<usize>>>()?;
        axes.sort_unstable();
        axes.dedup();
        Ok(axes)
    }
}

impl Kernel for LogSumExp {
    fn name(&self) -> &'static str {
        "ReduceLogSumExp"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let Some(x) = inputs.first() else {
            bail!("ReduceLogSumExp takes an input");
        };
        ensure!(
            matches!(x.datum_type, DatumType::F32 | DatumType::F64),
            "ReduceLogSumExp takes float or double, got {:?}",
            x.datum_type
        );
        let axes = self.axes(x.rank())?;
        let shape: TVec<TDim> = x
            .shape
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), self.keep_dims) {
                (false, _) => Some(d.clone()),
                (true, true) => Some(1.into()),
                (true, false) => None,
            })
            .collect();
        Ok(tvec!(x.datum_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        fn reduce<T: Datum + tract_onnx::prelude::tract_num_traits::Float>(
            x: &Tensor,
            axes: &[usize],
            keep_dims: bool,
        ) -> TractResult<Tensor> {
            let mut y: ArrayD<T> = x.to_plain_array_view::<T>()?.to_owned();
            // Reduce the highest axis first, so the others keep their index.
            for &axis in axes.iter().rev() {
                y = y.map_axis(Axis(axis), |lane| {
                    let max = lane.iter().copied().fold(T::neg_infinity(), T::max);
                    let max = if max.is_finite() { max } else { T::zero() };
                    let sum = lane.iter().fold(T::zero(), |s, &v| s + (v - max).exp());
                    sum.ln() + max
                });
                if keep_dims {
                    y = y.insert_axis(Axis(axis));
                }
            }
            Ok(y.into_tensor())
        }
        let x = &inputs[0];
        let axes = self.axes(x.rank())?;
        let y = match x.datum_type() {
            DatumType::F32 => reduce::<f32>(x, &axes, self.keep_dims)?,
            DatumType::F64 => reduce::<f64>(x, &axes, self.keep_dims)?,
            other => bail!("ReduceLogSumExp takes float or double, got {other:?}"),
        };
        Ok(tvec!(y.into_tvalue()))
    }
}
