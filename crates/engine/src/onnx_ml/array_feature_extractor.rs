//! `ArrayFeatureExtractor`: picks columns (the last axis) by index. skl2onnx
//! uses it to pick a ColumnTransformer's columns, classes by index, and the
//! pairwise decisions of an SVC's one-vs-rest scores.
//!
//! It replaces tract's, which drops the last axis for a single (scalar)
//! index where onnxruntime keeps it: onnxruntime gives `X.shape[..-1] + [n]`
//! for n indices of any shape, and `[1, n]` for a 1-D X, and exported graphs
//! depend on that.

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{ArrayD, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure};

use super::attributes::build;
use super::kernel::{Kernel, Parsed};

pub(crate) fn array_feature_extractor(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> Parsed {
    build(node, &[], |_| Ok(ArrayFeatureExtractor))
}

#[derive(Debug)]
struct ArrayFeatureExtractor;

impl Kernel for ArrayFeatureExtractor {
    fn name(&self) -> &'static str {
        "ArrayFeatureExtractor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [x, indices] = inputs else {
            bail!(
                "ArrayFeatureExtractor takes two inputs, got {}",
                inputs.len()
            );
        };
        ensure!(
            x.rank() >= 1,
            "ArrayFeatureExtractor takes at least one dimension, got a scalar"
        );
        ensure!(
            indices.datum_type == DatumType::I64,
            "ArrayFeatureExtractor takes int64 indices, got {:?}",
            indices.datum_type
        );
        let count: TDim = indices.shape.iter().product();
        let mut shape: TVec<TDim> = if x.rank() == 1 {
            tvec!(1.into())
        } else {
            x.shape.iter().take(x.rank() - 1).cloned().collect()
        };
        shape.push(count);
        Ok(tvec!(x.datum_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, indices) = (&inputs[0], inputs[1].cast_to::<i64>()?);
        let indices = indices.try_as_plain_ram()?.as_slice::<i64>()?.to_vec();
        ensure!(
            !indices.is_empty(),
            "ArrayFeatureExtractor needs at least one index"
        );
        let width = *x.shape().last().unwrap_or(&0);
        let picks = indices
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .filter(|&i| i < width)
                    .ok_or_else(|| {
                        tract_onnx::tract_hir::internal::format_err!(
                            "ArrayFeatureExtractor: index {i} is out of range for {width} columns"
                        )
                    })
            })
            .collect::<TractResult<Vec<usize>>>()?;
        fn pick<T: Datum + Clone>(x: &Tensor, picks: &[usize]) -> TractResult<Tensor> {
            let view = x.to_plain_array_view::<T>()?;
            let view = if view.ndim() == 1 {
                view.insert_axis(Axis(0))
            } else {
                view
            };
            let last = Axis(view.ndim() - 1);
            // `select` along the last axis assembles the columns side by
            // side, so its result is laid out column-major: tensors are
            // row-major.
            let picked: ArrayD<T> = view.select(last, picks);
            let picked = if picked.is_standard_layout() {
                picked
            } else {
                picked.as_standard_layout().into_owned()
            };
            Ok(picked.into_tensor())
        }
        let y = match x.datum_type() {
            DatumType::F32 => pick::<f32>(x, &picks)?,
            DatumType::F64 => pick::<f64>(x, &picks)?,
            DatumType::I32 => pick::<i32>(x, &picks)?,
            DatumType::I64 => pick::<i64>(x, &picks)?,
            DatumType::String => pick::<String>(x, &picks)?,
            other => bail!("ArrayFeatureExtractor does not take {other:?} tensors"),
        };
        Ok(tvec!(y.into_tvalue()))
    }
}
