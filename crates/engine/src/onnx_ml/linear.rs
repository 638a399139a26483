//! `LinearClassifier` and `LinearRegressor`: what skl2onnx exports
//! `LogisticRegression`, `LinearRegression`, `Ridge`, `LinearSVR`, ... as.
//!
//! They replace tract's own, which differ from onnxruntime on binary
//! models (the score layout, and a label picked after the post-transform
//! rather than from the raw scores) and refuse PROBIT and SOFTMAX_ZERO.

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{Array2, Axis};
use tract_onnx::prelude::*;

use super::attributes::build;
use super::kernel::{
    Kernel, Parsed, as_f32, as_matrix, check_features, label_datum_type, label_tensor,
};
use super::post_transform::{PostTransform, logistic as logistic_fn};
use crate::types::ClassLabels;

pub(crate) fn linear_classifier(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> Parsed {
    const KNOWN: &[&str] = &[
        "coefficients",
        "intercepts",
        "multi_class",
        "classlabels_ints",
        "classlabels_strings",
        "post_transform",
    ];
    build(node, KNOWN, |a| {
        let coefficients: Vec<f32> = a.list("coefficients")?;
        let Some(intercepts) = a.opt_list::<f32>("intercepts")? else {
            return a.bail(
                "intercepts",
                "must be set (one per class, or one for a binary model)",
            );
        };
        let models = intercepts.len();
        a.ensure("intercepts", models > 0, || "must not be empty".into())?;
        a.ensure(
            "coefficients",
            !coefficients.is_empty() && coefficients.len().is_multiple_of(models),
            || format!("has {} values for {models} intercepts", coefficients.len()),
        )?;
        let has_ints = a.has("classlabels_ints");
        let labels = if has_ints || a.has("classlabels_strings") {
            Some(a.class_labels("classlabels_ints", "classlabels_strings")?)
        } else {
            None
        };
        let post_transform = PostTransform::of(a)?;
        let layout = match (&labels, models) {
            (Some(labels), 1) if labels.len() == 2 => {
                // onnxruntime makes [1 - s, s] (of σ(s) for LOGISTIC) and
                // leaves half of PROBIT's output unwritten: refuse that
                // rather than guess.
                a.ensure(
                    "post_transform",
                    post_transform != PostTransform::Probit,
                    || "PROBIT on a binary model with one score has no defined result".into(),
                )?;
                Layout::BinaryTwoColumns
            }
            (_, 1) => Layout::BinaryOneColumn,
            (Some(labels), n) => {
                a.ensure("classlabels_ints", labels.len() == n, || {
                    format!("has {} labels for {n} classes (intercepts)", labels.len())
                })?;
                Layout::PerClass
            }
            (None, _) => return a.bail("classlabels_ints", "class labels must be set"),
        };
        let labels = match (layout, labels) {
            // Without two labels, onnxruntime answers 1 or 0 (as text if the
            // labels are strings).
            (Layout::BinaryOneColumn, Some(ClassLabels::String(_))) => {
                ClassLabels::String(vec!["0".into(), "1".into()])
            }
            (Layout::BinaryOneColumn, _) => ClassLabels::I64(vec![0, 1]),
            (_, Some(labels)) => labels,
            (_, None) => return a.bail("classlabels_ints", "class labels must be set"),
        };
        Ok(LinearClassifier {
            features: coefficients.len() / models,
            weights: Array2::from_shape_vec((models, coefficients.len() / models), coefficients)?,
            intercepts,
            labels,
            layout,
            post_transform,
        })
    })
}

/// How a linear classifier's scores become its outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One score per class; the label is the first highest raw score.
    PerClass,
    /// One score s for two labels: label 1 if s > 0; scores [1 - s, s], or
    /// [1 - σ(s), σ(s)] for LOGISTIC.
    BinaryTwoColumns,
    /// One score s and no two labels: label 1 or 0; the score as it is.
    BinaryOneColumn,
}

#[derive(Debug)]
struct LinearClassifier {
    features: usize,
    /// [models, features]
    weights: Array2<f32>,
    intercepts: Vec<f32>,
    labels: ClassLabels,
    layout: Layout,
    post_transform: PostTransform,
}

impl Kernel for LinearClassifier {
    fn name(&self) -> &'static str {
        "LinearClassifier"
    }

    fn outputs(&self) -> usize {
        2
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = check_features(self.name(), inputs, self.features)?;
        let columns = match self.layout {
            Layout::PerClass => self.intercepts.len(),
            Layout::BinaryTwoColumns => 2,
            Layout::BinaryOneColumn => 1,
        };
        Ok(tvec!(
            label_datum_type(&self.labels).fact([rows.clone()]),
            f32::fact([rows, columns.into()]),
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let scores = linear_scores(&inputs[0], &self.weights, &self.intercepts)?;
        let (labels, scores) = match self.layout {
            Layout::PerClass => {
                let picks: Vec<usize> = scores.rows().into_iter().map(first_argmax).collect();
                let mut scores = scores;
                self.post_transform.apply_rows(&mut scores.view_mut());
                (label_tensor(&self.labels, picks.into_iter()), scores)
            }
            Layout::BinaryTwoColumns => {
                let s = scores.column(0);
                let picks: Vec<usize> = s.iter().map(|&s| usize::from(s > 0.0)).collect();
                // onnxruntime: [1 - p, p] with p = σ(s) for LOGISTIC, else s
                // as it is (SOFTMAX on one score is ignored).
                let logistic = self.post_transform == PostTransform::Logistic;
                let two = Array2::from_shape_fn((s.len(), 2), |(r, c)| {
                    let p = if logistic { logistic_fn(s[r]) } else { s[r] };
                    if c == 0 { 1.0 - p } else { p }
                });
                (label_tensor(&self.labels, picks.into_iter()), two)
            }
            Layout::BinaryOneColumn => {
                let picks: Vec<usize> = scores.iter().map(|&s| usize::from(s > 0.0)).collect();
                let mut scores = scores;
                if self.post_transform == PostTransform::Probit {
                    self.post_transform.apply_rows(&mut scores.view_mut());
                }
                (label_tensor(&self.labels, picks.into_iter()), scores)
            }
        };
        Ok(tvec!(
            labels.into_tvalue(),
            scores.into_tensor().into_tvalue()
        ))
    }
}

pub(crate) fn linear_regressor(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> Parsed {
    const KNOWN: &[&str] = &["coefficients", "intercepts", "targets", "post_transform"];
    build(node, KNOWN, |a| {
        let targets = a.opt::<i64>("targets")?.unwrap_or(1);
        a.ensure("targets", targets >= 1, || {
            format!("must be at least 1, got {targets}")
        })?;
        let targets = targets as usize;
        let coefficients: Vec<f32> = a.list("coefficients")?;
        a.ensure(
            "coefficients",
            !coefficients.is_empty() && coefficients.len().is_multiple_of(targets),
            || format!("has {} values for {targets} targets", coefficients.len()),
        )?;
        let intercepts = a
            .opt_list::<f32>("intercepts")?
            .unwrap_or_else(|| vec![0.0; targets]);
        a.ensure("intercepts", intercepts.len() == targets, || {
            format!("has {} values for {targets} targets", intercepts.len())
        })?;
        let features = coefficients.len() / targets;
        Ok(LinearRegressor {
            features,
            weights: Array2::from_shape_vec((targets, features), coefficients)?,
            intercepts,
            post_transform: PostTransform::of(a)?,
        })
    })
}

#[derive(Debug)]
struct LinearRegressor {
    features: usize,
    /// [targets, features]
    weights: Array2<f32>,
    intercepts: Vec<f32>,
    post_transform: PostTransform,
}

impl Kernel for LinearRegressor {
    fn name(&self) -> &'static str {
        "LinearRegressor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = check_features(self.name(), inputs, self.features)?;
        Ok(tvec!(f32::fact([rows, self.intercepts.len().into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut scores = linear_scores(&inputs[0], &self.weights, &self.intercepts)?;
        // With one target, onnxruntime applies only PROBIT.
        if self.intercepts.len() > 1 || self.post_transform == PostTransform::Probit {
            self.post_transform.apply_rows(&mut scores.view_mut());
        }
        Ok(tvec!(scores.into_tensor().into_tvalue()))
    }
}

/// x · Wᵀ + b, in f32.
fn linear_scores(
    input: &TValue,
    weights: &Array2<f32>,
    intercepts: &[f32],
) -> TractResult<Array2<f32>> {
    let x = as_f32(input)?;
    let x = as_matrix::<f32>(&x)?;
    let mut scores = x.dot(&weights.t());
    for mut row in scores.axis_iter_mut(Axis(0)) {
        for (s, b) in row.iter_mut().zip(intercepts) {
            *s += b;
        }
    }
    Ok(scores)
}

/// The index of the first highest value (ties go to the lower index).
pub(crate) fn first_argmax(row: tract_onnx::prelude::tract_ndarray::ArrayView1<f32>) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}
