//! Numeric feature transforms: `Scaler` (StandardScaler, MinMaxScaler,
//! RobustScaler, MaxAbsScaler), `Imputer` (SimpleImputer), `Binarizer`,
//! `Normalizer`, and `FeatureVectorizer` (which joins feature columns).

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{Array2, ArrayD, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure};

use super::attributes::build;
use super::kernel::{
    Kernel, Parsed, as_f32, as_matrix, fixed_columns, is_numeric_feature, numeric_input,
    rows_and_columns,
};

type Ctx<'a> = tract_onnx::model::ParsingContext<'a>;

/// Per-feature parameters: one value for every feature, or one each.
#[derive(Debug)]
struct PerFeature(Vec<f32>);

impl PerFeature {
    fn get(&self, feature: usize) -> f32 {
        if self.0.len() == 1 {
            self.0[0]
        } else {
            self.0[feature]
        }
    }

    fn check(&self, op: &str, attribute: &str, features: &TDim) -> TractResult<()> {
        if self.0.len() == 1 {
            return Ok(());
        }
        let features = fixed_columns(op, features)?;
        ensure!(
            self.0.len() == features,
            "{op}: `{attribute}` has {} values for {features} features",
            self.0.len()
        );
        Ok(())
    }
}

// -- Scaler ---------------------------------------------------------------------

pub(crate) fn scaler(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    build(node, &["offset", "scale"], |a| {
        let offset = a.opt_list::<f32>("offset")?.unwrap_or_else(|| vec![0.0]);
        let scale = a.opt_list::<f32>("scale")?.unwrap_or_else(|| vec![1.0]);
        a.ensure("offset", !offset.is_empty(), || "must not be empty".into())?;
        a.ensure("scale", !scale.is_empty(), || "must not be empty".into())?;
        Ok(Scaler {
            offset: PerFeature(offset),
            scale: PerFeature(scale),
        })
    })
}

/// (x − offset) × scale, per feature, in f32.
#[derive(Debug)]
struct Scaler {
    offset: PerFeature,
    scale: PerFeature,
}

impl Kernel for Scaler {
    fn name(&self) -> &'static str {
        "Scaler"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (input, _, features) = numeric_input(self.name(), inputs)?;
        self.offset.check(self.name(), "offset", &features)?;
        self.scale.check(self.name(), "scale", &features)?;
        Ok(tvec!(f32::fact(input.shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = as_f32(&inputs[0])?;
        let mut y: ArrayD<f32> = x.to_plain_array_view::<f32>()?.to_owned();
        let features = y.shape().last().copied().unwrap_or(1).max(1);
        for (i, v) in y.iter_mut().enumerate() {
            let f = i % features;
            *v = (*v - self.offset.get(f)) * self.scale.get(f);
        }
        Ok(tvec!(y.into_tensor().into_tvalue()))
    }
}

// -- Normalizer -----------------------------------------------------------------

pub(crate) fn normalizer(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    build(node, &["norm"], |a| {
        let norm = match a.opt::<&str>("norm")?.unwrap_or("MAX") {
            "MAX" => Norm::Max,
            "L1" => Norm::L1,
            "L2" => Norm::L2,
            other => return a.bail("norm", format!("`{other}` is not one of MAX, L1, L2")),
        };
        Ok(Normalizer { norm })
    })
}

#[derive(Debug, Clone, Copy)]
enum Norm {
    Max,
    L1,
    L2,
}

/// Each row divided by its norm, as onnxruntime computes it: MAX is the
/// row's (signed) maximum, L1 the sum of absolute values, L2 the Euclidean
/// norm; a row whose norm is zero stays as it is.
#[derive(Debug)]
struct Normalizer {
    norm: Norm,
}

impl Kernel for Normalizer {
    fn name(&self) -> &'static str {
        "Normalizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (input, _, _) = numeric_input(self.name(), inputs)?;
        Ok(tvec!(f32::fact(input.shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = as_f32(&inputs[0])?;
        let shape = x.shape().to_vec();
        let mut y: Array2<f32> = as_matrix::<f32>(&x)?.to_owned();
        for mut row in y.axis_iter_mut(Axis(0)) {
            match self.norm {
                Norm::Max => {
                    let max = row.iter().copied().fold(f32::MIN, f32::max);
                    if max != 0.0 {
                        row.mapv_inplace(|v| v / max);
                    }
                }
                Norm::L1 => {
                    let sum: f32 = row.iter().map(|v| v.abs()).sum();
                    if sum != 0.0 {
                        row.mapv_inplace(|v| v / sum);
                    }
                }
                Norm::L2 => {
                    let sum: f32 = row.iter().map(|v| v * v).sum();
                    if sum != 0.0 {
                        row.mapv_inplace(|v| (v * v / sum).sqrt().copysign(v));
                    }
                }
            }
        }
        Ok(tvec!(y.into_shape_with_order(shape)?.into_tvalue()))
    }
}

// -- Binarizer ------------------------------------------------------------------

pub(crate) fn binarizer(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    build(node, &["threshold"], |a| {
        Ok(Binarizer {
            threshold: a.opt::<f32>("threshold")?.unwrap_or(0.0),
        })
    })
}

/// 1 where x > threshold, else 0, in the input's type.
#[derive(Debug)]
struct Binarizer {
    threshold: f32,
}

impl Kernel for Binarizer {
    fn name(&self) -> &'static str {
        "Binarizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (input, _, _) = numeric_input(self.name(), inputs)?;
        Ok(tvec!((*input).clone().without_value()))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        fn binarize<
            T: Datum
                + Copy
                + tract_onnx::tract_hir::internal::tract_num_traits::Zero
                + tract_onnx::tract_hir::internal::tract_num_traits::One,
        >(
            x: &Tensor,
            above: impl Fn(T) -> bool,
        ) -> TractResult<Tensor> {
            let view = x.to_plain_array_view::<T>()?;
            Ok(view
                .mapv(|v| if above(v) { T::one() } else { T::zero() })
                .into_tensor())
        }
        let x = &*inputs[0];
        let t = self.threshold;
        let y = match x.datum_type() {
            DatumType::F32 => binarize::<f32>(x, |v| v > t)?,
            DatumType::F64 => binarize::<f64>(x, |v| v > f64::from(t))?,
            DatumType::I64 => binarize::<i64>(x, |v| (v as f32) > t)?,
            DatumType::I32 => binarize::<i32>(x, |v| (v as f32) > t)?,
            other => bail!("Binarizer takes numeric features, got {other:?}"),
        };
        Ok(tvec!(y.into_tvalue()))
    }
}

// -- Imputer --------------------------------------------------------------------

pub(crate) fn imputer(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    const KNOWN: &[&str] = &[
        "imputed_value_floats",
        "imputed_value_int64s",
        "replaced_value_float",
        "replaced_value_int64",
    ];
    build(node, KNOWN, |a| {
        let floats = a.opt_list::<f32>("imputed_value_floats")?;
        let ints = a.opt_list::<i64>("imputed_value_int64s")?;
        let values = match (floats, ints) {
            (Some(v), None) if !v.is_empty() => Imputed::F32 {
                values: v,
                replaced: a.opt::<f32>("replaced_value_float")?.unwrap_or(0.0),
            },
            (None, Some(v)) if !v.is_empty() => Imputed::I64 {
                values: v,
                replaced: a.opt::<i64>("replaced_value_int64")?.unwrap_or(0),
            },
            (Some(_), Some(_)) => {
                return a.bail(
                    "imputed_value_int64s",
                    "only one of imputed_value_floats and imputed_value_int64s may be set",
                );
            }
            _ => {
                return a.bail(
                    "imputed_value_floats",
                    "one of imputed_value_floats and imputed_value_int64s must hold values",
                );
            }
        };
        Ok(Imputer(values))
    })
}

#[derive(Debug)]
enum Imputed {
    F32 { values: Vec<f32>, replaced: f32 },
    I64 { values: Vec<i64>, replaced: i64 },
}

/// Replaces every `replaced` value (NaN matches NaN) by the feature's
/// imputed value. Float features stay float, int64 stay int64.
#[derive(Debug)]
struct Imputer(Imputed);

impl Kernel for Imputer {
    fn name(&self) -> &'static str {
        "Imputer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (input, _, features) = numeric_input(self.name(), inputs)?;
        let (expected, count) = match &self.0 {
            Imputed::F32 { values, .. } => (DatumType::F32, values.len()),
            Imputed::I64 { values, .. } => (DatumType::I64, values.len()),
        };
        ensure!(
            input.datum_type == expected,
            "Imputer with imputed values of type {expected:?} takes {expected:?} features, got {:?}",
            input.datum_type
        );
        if count != 1 {
            let features = fixed_columns(self.name(), &features)?;
            ensure!(
                count == features,
                "Imputer has {count} imputed values for {features} features"
            );
        }
        Ok(tvec!((*input).clone().without_value()))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        fn impute<T: Datum + Copy>(
            x: &Tensor,
            values: &[T],
            is_replaced: impl Fn(T) -> bool,
        ) -> TractResult<Tensor> {
            let mut y: ArrayD<T> = x.to_plain_array_view::<T>()?.to_owned();
            let features = *y.shape().last().unwrap_or(&1);
            for (i, v) in y.iter_mut().enumerate() {
                if is_replaced(*v) {
                    *v = if values.len() == 1 {
                        values[0]
                    } else {
                        values[i % features]
                    };
                }
            }
            Ok(y.into_tensor())
        }
        let y = match &self.0 {
            Imputed::F32 { values, replaced } => {
                let replaced = *replaced;
                impute::<f32>(&inputs[0], values, |v| {
                    v == replaced || (v.is_nan() && replaced.is_nan())
                })?
            }
            Imputed::I64 { values, replaced } => {
                let replaced = *replaced;
                impute::<i64>(&inputs[0], values, |v| v == replaced)?
            }
        };
        Ok(tvec!(y.into_tvalue()))
    }
}

// -- FeatureVectorizer ----------------------------------------------------------

pub(crate) fn feature_vectorizer(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    build(node, &["inputdimensions"], |a| {
        let dimensions = a.list::<i64>("inputdimensions")?;
        a.ensure(
            "inputdimensions",
            !dimensions.is_empty() && dimensions.iter().all(|&d| d >= 0),
            || format!("must list one non-negative width per input, got {dimensions:?}"),
        )?;
        Ok(FeatureVectorizer {
            widths: dimensions.into_iter().map(|d| d as usize).collect(),
        })
    })
}

/// Joins its inputs' features into one float row each: input i gives
/// `inputdimensions[i]` columns (cut, or padded with zeros, to that width).
#[derive(Debug)]
struct FeatureVectorizer {
    widths: Vec<usize>,
}

impl Kernel for FeatureVectorizer {
    fn name(&self) -> &'static str {
        "FeatureVectorizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == self.widths.len(),
            "FeatureVectorizer has {} input widths for {} inputs",
            self.widths.len(),
            inputs.len()
        );
        let mut rows: Option<TDim> = None;
        for input in inputs {
            ensure!(
                is_numeric_feature(input.datum_type),
                "FeatureVectorizer takes float, double, int64 or int32 features, got {:?}",
                input.datum_type
            );
            let (r, _) = rows_and_columns(self.name(), input)?;
            if let Some(rows) = &rows {
                ensure!(
                    *rows == r,
                    "FeatureVectorizer's inputs have different numbers of rows ({rows}, {r})"
                );
            }
            rows = Some(r);
        }
        let rows = rows.unwrap_or(TDim::Val(1));
        let width: usize = self.widths.iter().sum();
        Ok(tvec!(f32::fact([rows, width.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let width: usize = self.widths.iter().sum();
        let mut offset = 0;
        let mut y: Option<Array2<f32>> = None;
        for (input, &w) in inputs.iter().zip(&self.widths) {
            let x = as_f32(input)?;
            let x = as_matrix::<f32>(&x)?;
            let y = y.get_or_insert_with(|| Array2::zeros((x.nrows(), width)));
            ensure!(
                x.nrows() == y.nrows(),
                "FeatureVectorizer's inputs have different numbers of rows"
            );
            let copied = w.min(x.ncols());
            y.slice_mut(tract_onnx::prelude::tract_ndarray::s![
                ..,
                offset..offset + copied
            ])
            .assign(&x.slice(tract_onnx::prelude::tract_ndarray::s![.., ..copied]));
            offset += w;
        }
        let y = y.unwrap_or_else(|| Array2::zeros((1, width)));
        Ok(tvec!(y.into_tensor().into_tvalue()))
    }
}
