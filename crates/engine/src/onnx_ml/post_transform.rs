//! `post_transform`: what the classifiers and regressors of ONNX-ML do to
//! their scores before giving them out, computed the way onnxruntime does
//! (in f32, its logistic and its approximation of `erfinv` for PROBIT).

use tract_onnx::prelude::tract_ndarray::{ArrayViewMut1, ArrayViewMut2};
use tract_onnx::prelude::*;

use super::attributes::Attributes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostTransform {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    /// The node's `post_transform` (default `NONE`).
    pub(crate) fn of(a: &Attributes) -> TractResult<PostTransform> {
        Ok(match a.opt::<&str>("post_transform")?.unwrap_or("NONE") {
            "NONE" => PostTransform::None,
            "SOFTMAX" => PostTransform::Softmax,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => {
                return a.bail(
                    "post_transform",
                    format!(
                        "`{other}` is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"
                    ),
                );
            }
        })
    }

    /// Transforms one row of scores in place.
    pub(crate) fn apply_row(self, row: &mut [f32]) {
        let mut row = ArrayViewMut1::from(row);
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => row.mapv_inplace(logistic),
            PostTransform::Probit => row.mapv_inplace(probit),
            PostTransform::Softmax => softmax(row),
            PostTransform::SoftmaxZero => softmax_zero(row),
        }
    }

    /// Transforms every row of `[rows, scores]` in place.
    pub(crate) fn apply_rows(self, scores: &mut ArrayViewMut2<f32>) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.mapv_inplace(logistic),
            PostTransform::Probit => scores.mapv_inplace(probit),
            PostTransform::Softmax => scores.rows_mut().into_iter().for_each(softmax),
            PostTransform::SoftmaxZero => scores.rows_mut().into_iter().for_each(softmax_zero),
        }
    }
}

/// 1 / (1 + e^-x), computed on |x| so it never overflows.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// The probit function: √2 · erfinv(2x − 1).
pub(crate) fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erfinv(2.0 * x - 1.0)
}

/// Winitzki's approximation of the inverse error function (a = 0.147), the
/// one onnxruntime uses.
fn erfinv(x: f32) -> f32 {
    const A: f32 = 0.147;
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let ln = ((1.0 - x) * (1.0 + x)).ln();
    let v = 2.0 / (std::f32::consts::PI * A) + 0.5 * ln;
    sign * (-v + (v * v - ln / A).sqrt()).sqrt()
}

fn softmax(mut row: ArrayViewMut1<f32>) {
    let max = row.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

/// Softmax over the non-zero scores; zeros stay zero.
fn softmax_zero(mut row: ArrayViewMut1<f32>) {
    let max = row.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in row.iter_mut() {
        if x.abs() > 1e-7 {
            *x = (*x - max).exp();
            sum += *x;
        } else {
            *x *= (-max).exp();
        }
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_is_symmetric_and_saturates_without_overflow() {
        assert_eq!(logistic(0.0), 0.5);
        assert!((logistic(2.0) + logistic(-2.0) - 1.0).abs() < 1e-7);
        assert_eq!(logistic(-1000.0), 0.0);
        assert_eq!(logistic(1000.0), 1.0);
    }

    #[test]
    fn probit_inverts_the_normal_cdf_closely() {
        // Φ(1) = 0.8413447; Winitzki's approximation is good to ~1e-3.
        assert!((probit(0.841_344_7) - 1.0).abs() < 2e-3);
        assert_eq!(probit(0.5), 0.0);
    }

    #[test]
    fn softmax_zero_keeps_zeros() {
        let mut row = tract_onnx::prelude::tract_ndarray::arr1(&[0.0f32, 1.0, 2.0]);
        softmax_zero(row.view_mut());
        assert_eq!(row[0], 0.0);
        assert!((row[1] + row[2] - 1.0).abs() < 1e-6);
    }
}
