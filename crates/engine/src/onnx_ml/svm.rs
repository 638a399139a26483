//! `SVMClassifier` and `SVMRegressor`: scikit-learn's `SVC`, `NuSVC`,
//! `SVR`, `NuSVR` as skl2onnx exports them (libsvm's layout), computed the
//! way onnxruntime does: kernels in f32, pairwise decisions summed in f64,
//! one-vs-one votes for the label, and Platt scaling with libsvm's pairwise
//! coupling when the model has probabilities.

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{Array2, ArrayView1, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::format_err;

use super::attributes::{Attributes, build};
use super::kernel::{
    Kernel, Parsed, as_f32, as_matrix, check_features, label_datum_type, label_tensor,
};
use super::linear::first_argmax;
use super::post_transform::{PostTransform, logistic};
use crate::types::ClassLabels;

type Ctx<'a> = tract_onnx::model::ParsingContext<'a>;

#[derive(Debug, Clone, Copy)]
enum KernelType {
    Linear,
    Poly { gamma: f32, coef0: f32, degree: f32 },
    Rbf { gamma: f32 },
    Sigmoid { gamma: f32, coef0: f32 },
}

impl KernelType {
    fn of(a: &Attributes) -> TractResult<KernelType> {
        let params = a.list::<f32>("kernel_params")?;
        let param = |i: usize| params.get(i).copied().unwrap_or(0.0);
        let (gamma, coef0, degree) = (param(0), param(1), param(2));
        Ok(match a.opt::<&str>("kernel_type")?.unwrap_or("LINEAR") {
            "LINEAR" => KernelType::Linear,
            "POLY" => KernelType::Poly {
                gamma,
                coef0,
                degree,
            },
            "RBF" => KernelType::Rbf { gamma },
            "SIGMOID" => KernelType::Sigmoid { gamma, coef0 },
            other => {
                return a.bail(
                    "kernel_type",
                    format!("`{other}` is not one of LINEAR, POLY, RBF, SIGMOID"),
                );
            }
        })
    }

    /// K(x, v), in f32.
    fn eval(self, x: ArrayView1<f32>, v: ArrayView1<f32>) -> f32 {
        let dot = || x.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
        match self {
            KernelType::Linear => dot(),
            KernelType::Poly {
                gamma,
                coef0,
                degree,
            } => {
                let t = gamma * dot() + coef0;
                if degree == 2.0 {
                    t * t
                } else if degree == 3.0 {
                    t * t * t
                } else {
                    t.powf(degree)
                }
            }
            KernelType::Rbf { gamma } => {
                let d: f32 = x.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                (-gamma * d).exp()
            }
            KernelType::Sigmoid { gamma, coef0 } => (gamma * dot() + coef0).tanh(),
        }
    }
}

/// The support vectors as `[vectors, features]`, from `support_vectors`.
fn support_vectors(a: &Attributes, count: usize) -> TractResult<Array2<f32>> {
    let values = a.list::<f32>("support_vectors")?;
    a.ensure(
        "support_vectors",
        count > 0 && !values.is_empty() && values.len().is_multiple_of(count),
        || format!("has {} values for {count} support vectors", values.len()),
    )?;
    Ok(Array2::from_shape_vec(
        (count, values.len() / count),
        values,
    )?)
}

// -- SVMClassifier --------------------------------------------------------------

pub(crate) fn svm_classifier(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    const KNOWN: &[&str] = &[
        "kernel_type",
        "kernel_params",
        "vectors_per_class",
        "support_vectors",
        "coefficients",
        "rho",
        "prob_a",
        "prob_b",
        "classlabels_ints",
        "classlabels_strings",
        "post_transform",
    ];
    build(node, KNOWN, |a| {
        let labels = a.class_labels("classlabels_ints", "classlabels_strings")?;
        let classes = labels.len();
        a.ensure("classlabels_ints", classes >= 2, || {
            format!("needs at least two classes, got {classes}")
        })?;
        let coefficients = a.list::<f32>("coefficients")?;
        let rho = a.list::<f32>("rho")?;
        let post_transform = PostTransform::of(a)?;
        let per_class = a.list::<i64>("vectors_per_class")?;
        let vectors: i64 = per_class.iter().sum();
        if vectors == 0 {
            // liblinear's form: one coefficient row per class, no vectors.
            a.ensure(
                "coefficients",
                !coefficients.is_empty() && coefficients.len().is_multiple_of(classes),
                || format!("has {} values for {classes} classes", coefficients.len()),
            )?;
            a.ensure("rho", !rho.is_empty(), || "must not be empty".into())?;
            a.ensure("prob_a", !a.has("prob_a"), || {
                "probabilities of a linear SVM (no support vectors) are not supported".into()
            })?;
            let features = coefficients.len() / classes;
            return Ok(SvmClassifier {
                features,
                labels,
                post_transform,
                mode: Mode::Linear {
                    weights: Array2::from_shape_vec((classes, features), coefficients)?,
                    bias: rho[0],
                    all_positive: a.list::<f32>("coefficients")?.iter().all(|&w| w >= 0.0),
                },
            });
        }
        a.ensure("vectors_per_class", per_class.len() == classes, || {
            format!("has {} entries for {classes} classes", per_class.len())
        })?;
        a.ensure(
            "vectors_per_class",
            per_class.iter().all(|&n| n >= 0),
            || "must not be negative".into(),
        )?;
        let vectors = vectors as usize;
        let support = support_vectors(a, vectors)?;
        let pairs = classes * (classes - 1) / 2;
        a.ensure(
            "coefficients",
            coefficients.len() == (classes - 1) * vectors,
            || {
                format!(
                    "has {} values; {classes} classes and {vectors} support vectors need {}",
                    coefficients.len(),
                    (classes - 1) * vectors
                )
            },
        )?;
        a.ensure("rho", rho.len() == pairs, || {
            format!("has {} values for {pairs} pairs of classes", rho.len())
        })?;
        let probabilities = match (a.opt_list::<f32>("prob_a")?, a.opt_list::<f32>("prob_b")?) {
            (None, None) => None,
            (Some(pa), Some(pb)) if pa.len() == pairs && pb.len() == pairs => Some((pa, pb)),
            (pa, pb) => {
                return a.bail(
                    "prob_a",
                    format!(
                        "prob_a and prob_b need {pairs} values each, got {} and {}",
                        pa.map_or(0, |v| v.len()),
                        pb.map_or(0, |v| v.len())
                    ),
                );
            }
        };
        if probabilities.is_none() && classes == 2 {
            a.ensure(
                "post_transform",
                post_transform != PostTransform::Probit,
                || "PROBIT on a binary SVM without probabilities has no defined result".into(),
            )?;
        }
        let mut starts = Vec::with_capacity(classes);
        let mut start = 0;
        for &n in &per_class {
            starts.push(start);
            start += n as usize;
        }
        Ok(SvmClassifier {
            features: support.ncols(),
            labels,
            post_transform,
            mode: Mode::Svc {
                kernel: KernelType::of(a)?,
                support,
                coefficients: Array2::from_shape_vec((classes - 1, vectors), coefficients)?,
                rho,
                starts,
                per_class: per_class.iter().map(|&n| n as usize).collect(),
                probabilities,
            },
        })
    })
}

#[derive(Debug)]
enum Mode {
    /// Support vectors and one-vs-one decisions (libsvm).
    Svc {
        kernel: KernelType,
        /// [vectors, features]
        support: Array2<f32>,
        /// [classes - 1, vectors], libsvm's dual coefficients.
        coefficients: Array2<f32>,
        /// One per pair of classes.
        rho: Vec<f32>,
        /// Where each class's vectors start, and how many it has.
        starts: Vec<usize>,
        per_class: Vec<usize>,
        /// Platt scaling (prob_a, prob_b), one pair per pair of classes.
        probabilities: Option<(Vec<f32>, Vec<f32>)>,
    },
    /// A linear SVM: a score per class, no support vectors (liblinear).
    Linear {
        /// [classes, features]
        weights: Array2<f32>,
        bias: f32,
        all_positive: bool,
    },
}

#[derive(Debug)]
struct SvmClassifier {
    features: usize,
    labels: ClassLabels,
    post_transform: PostTransform,
    mode: Mode,
}

impl SvmClassifier {
    fn score_columns(&self) -> usize {
        let classes = self.labels.len();
        match &self.mode {
            Mode::Svc {
                probabilities: Some(_),
                ..
            } => classes,
            Mode::Svc { .. } if classes == 2 => 2,
            Mode::Svc { .. } => classes * (classes - 1) / 2,
            Mode::Linear { .. } => classes,
        }
    }
}

impl Kernel for SvmClassifier {
    fn name(&self) -> &'static str {
        "SVMClassifier"
    }

    fn outputs(&self) -> usize {
        2
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = check_features(self.name(), inputs, self.features)?;
        Ok(tvec!(
            label_datum_type(&self.labels).fact([rows.clone()]),
            f32::fact([rows, self.score_columns().into()]),
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = as_f32(&inputs[0])?;
        let x = as_matrix::<f32>(&x)?;
        let classes = self.labels.len();
        let mut scores = Array2::<f32>::zeros((x.nrows(), self.score_columns()));
        let mut picks = Vec::with_capacity(x.nrows());
        for (row, mut out) in x.axis_iter(Axis(0)).zip(scores.axis_iter_mut(Axis(0))) {
            let out = out
                .as_slice_mut()
                .ok_or_else(|| format_err!("SVMClassifier: scores not contiguous"))?;
            match &self.mode {
                Mode::Svc {
                    kernel,
                    support,
                    coefficients,
                    rho,
                    starts,
                    per_class,
                    probabilities,
                } => {
                    let k: Vec<f32> = support
                        .axis_iter(Axis(0))
                        .map(|v| kernel.eval(row, v))
                        .collect();
                    let mut votes = vec![0u32; classes];
                    let mut decisions = Vec::with_capacity(rho.len());
                    let mut pair = 0;
                    for i in 0..classes {
                        for j in i + 1..classes {
                            let mut sum = 0f64;
                            for v in starts[i]..starts[i] + per_class[i] {
                                sum += f64::from(coefficients[(j - 1, v)] * k[v]);
                            }
                            for v in starts[j]..starts[j] + per_class[j] {
                                sum += f64::from(coefficients[(i, v)] * k[v]);
                            }
                            sum += f64::from(rho[pair]);
                            votes[if sum > 0.0 { i } else { j }] += 1;
                            decisions.push(sum as f32);
                            pair += 1;
                        }
                    }
                    // The label comes from the votes, even with
                    // probabilities (as libsvm's predict does).
                    let mut best = 0;
                    for (c, &v) in votes.iter().enumerate() {
                        if v > votes[best] {
                            best = c;
                        }
                    }
                    picks.push(best);
                    match probabilities {
                        Some((a, b)) => {
                            let p = pairwise_coupling(&decisions, a, b, classes);
                            out.copy_from_slice(&p);
                        }
                        None if classes == 2 => {
                            let d = decisions[0];
                            match self.post_transform {
                                PostTransform::None => out.copy_from_slice(&[-d, d]),
                                // onnxruntime writes [1 - d, d] and skips the
                                // transform in the binary case.
                                _ => out.copy_from_slice(&[1.0 - d, d]),
                            }
                        }
                        None => out.copy_from_slice(&decisions),
                    }
                }
                Mode::Linear {
                    weights,
                    bias,
                    all_positive,
                } => {
                    for (c, w) in weights.axis_iter(Axis(0)).enumerate() {
                        out[c] = row.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() + bias;
                    }
                    let best = first_argmax(ArrayView1::from(&*out));
                    let top = out[best];
                    // onnxruntime's choice for two classes without
                    // probabilities, kept for identical labels.
                    let pick = if classes == 2
                        && ((*all_positive && top >= 0.5) || (!*all_positive && top > 0.0))
                    {
                        1
                    } else {
                        best
                    };
                    picks.push(pick);
                }
            }
        }
        let binary_raw = classes == 2
            && matches!(
                self.mode,
                Mode::Svc {
                    probabilities: None,
                    ..
                }
            );
        if !binary_raw {
            self.post_transform.apply_rows(&mut scores.view_mut());
        }
        Ok(tvec!(
            label_tensor(&self.labels, picks.into_iter()).into_tvalue(),
            scores.into_tensor().into_tvalue()
        ))
    }
}

/// Platt scaling of each pairwise decision, then libsvm's coupling of the
/// pairwise probabilities into one per class (Wu, Lin and Weng's second
/// method), in f32 as onnxruntime computes it.
#[expect(
    clippy::needless_range_loop,
    reason = "the coupling is matrix algebra over class indices; indices read best"
)]
fn pairwise_coupling(
    decisions: &[f32],
    prob_a: &[f32],
    prob_b: &[f32],
    classes: usize,
) -> Vec<f32> {
    let mut r = vec![vec![0f32; classes]; classes];
    let mut pair = 0;
    for i in 0..classes {
        for j in i + 1..classes {
            let q = 1.0 - logistic(decisions[pair] * prob_a[pair] + prob_b[pair]);
            let q = q.clamp(1e-7, 1.0 - 1e-7);
            r[i][j] = q;
            r[j][i] = 1.0 - q;
            pair += 1;
        }
    }
    let mut q = vec![vec![0f32; classes]; classes];
    for t in 0..classes {
        for j in 0..classes {
            if j != t {
                q[t][t] += r[j][t] * r[j][t];
                q[t][j] = -r[j][t] * r[t][j];
            }
        }
    }
    let mut p = vec![1.0 / classes as f32; classes];
    let mut qp = vec![0f32; classes];
    let epsilon = 0.005 / classes as f32;
    for _ in 0..100 {
        let mut pqp = 0f32;
        for t in 0..classes {
            qp[t] = (0..classes).map(|j| q[t][j] * p[j]).sum();
            pqp += p[t] * qp[t];
        }
        let max_error = qp.iter().map(|&v| (v - pqp).abs()).fold(0f32, f32::max);
        if max_error < epsilon {
            break;
        }
        for t in 0..classes {
            let d = (pqp - qp[t]) / q[t][t];
            p[t] += d;
            pqp = (pqp + d * (d * q[t][t] + 2.0 * qp[t])) / ((1.0 + d) * (1.0 + d));
            for j in 0..classes {
                qp[j] = (qp[j] + d * q[t][j]) / (1.0 + d);
                p[j] /= 1.0 + d;
            }
        }
    }
    p
}

// -- SVMRegressor ---------------------------------------------------------------

pub(crate) fn svm_regressor(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    const KNOWN: &[&str] = &[
        "kernel_type",
        "kernel_params",
        "n_supports",
        "support_vectors",
        "coefficients",
        "rho",
        "one_class",
        "post_transform",
    ];
    build(node, KNOWN, |a| {
        let coefficients = a.list::<f32>("coefficients")?;
        let rho = a.list::<f32>("rho")?;
        a.ensure("rho", !rho.is_empty(), || "must not be empty".into())?;
        a.ensure("coefficients", !coefficients.is_empty(), || {
            "must not be empty".into()
        })?;
        // onnxruntime parses post_transform and never applies it.
        a.ensure(
            "post_transform",
            PostTransform::of(a)? == PostTransform::None,
            || "only NONE is supported for SVMRegressor (onnxruntime ignores any other)".into(),
        )?;
        let supports = a.opt::<i64>("n_supports")?.unwrap_or(0);
        a.ensure("n_supports", supports >= 0, || {
            "must not be negative".into()
        })?;
        let one_class = a.opt::<i64>("one_class")?.unwrap_or(0) != 0;
        let (kernel, support) = if supports > 0 {
            let support = support_vectors(a, supports as usize)?;
            a.ensure(
                "coefficients",
                coefficients.len() == supports as usize,
                || {
                    format!(
                        "has {} values for {supports} support vectors",
                        coefficients.len()
                    )
                },
            )?;
            (KernelType::of(a)?, support)
        } else {
            // Linear form: the coefficients are the weights.
            let features = coefficients.len();
            (
                KernelType::Linear,
                Array2::from_shape_vec((1, features), coefficients.clone())?,
            )
        };
        let coefficients = if supports > 0 {
            coefficients
        } else {
            vec![1.0]
        };
        Ok(SvmRegressor {
            kernel,
            support,
            coefficients,
            bias: rho[0],
            one_class,
        })
    })
}

#[derive(Debug)]
struct SvmRegressor {
    kernel: KernelType,
    /// [vectors, features]; one row of weights for a linear model.
    support: Array2<f32>,
    coefficients: Vec<f32>,
    bias: f32,
    one_class: bool,
}

impl Kernel for SvmRegressor {
    fn name(&self) -> &'static str {
        "SVMRegressor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = check_features(self.name(), inputs, self.support.ncols())?;
        Ok(tvec!(f32::fact([rows, 1.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = as_f32(&inputs[0])?;
        let x = as_matrix::<f32>(&x)?;
        let y: Vec<f32> = x
            .axis_iter(Axis(0))
            .map(|row| {
                let sum: f32 = self
                    .support
                    .axis_iter(Axis(0))
                    .zip(&self.coefficients)
                    .map(|(v, c)| c * self.kernel.eval(row, v))
                    .sum();
                let y = sum + self.bias;
                if self.one_class {
                    if y > 0.0 { 1.0 } else { -1.0 }
                } else {
                    y
                }
            })
            .collect();
        Ok(tvec!(
            Array2::from_shape_vec((y.len(), 1), y)?
                .into_tensor()
                .into_tvalue()
        ))
    }
}
