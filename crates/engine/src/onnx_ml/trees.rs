//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor`: decision trees,
//! random forests, extra trees, gradient boosting (scikit-learn's, LightGBM's
//! and XGBoost's) as their exporters write them.
//!
//! The evaluator follows onnxruntime, including where that is surprising:
//! trees are runs of equal `nodes_treeids` whose first listed node is the
//! root; thresholds and sums are f32 for float and integer inputs, f64 for
//! double; a binary classifier's label comes from its raw score (above 0.5
//! when every weight is positive, above 0 otherwise) and its two scores are
//! rebuilt from one; a post_transform on a single score is ignored except
//! PROBIT. tract's own classifier differs on several of these (binary labels
//! above all), so this replaces it.
//!
//! Not implemented: the opset-5 `TreeEnsemble` operator (no exporter writes
//! it by default) and PROBIT on binary classifiers (onnxruntime leaves half
//! its output unwritten).

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{Array2, ArrayView2, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::tract_num_traits::Float;
use tract_onnx::tract_hir::internal::{bail, ensure};

use super::attributes::{Attributes, build};
use super::kernel::{
    Kernel, Parsed, as_matrix, fixed_columns, label_datum_type, label_tensor, rows_and_columns,
};
use super::post_transform::{PostTransform, logistic};
use crate::types::ClassLabels;

type Ctx<'a> = tract_onnx::model::ParsingContext<'a>;

/// The attributes both operators share.
const NODE_ATTRIBUTES: &[&str] = &[
    "nodes_treeids",
    "nodes_nodeids",
    "nodes_featureids",
    "nodes_modes",
    "nodes_values",
    "nodes_values_as_tensor",
    "nodes_truenodeids",
    "nodes_falsenodeids",
    "nodes_missing_value_tracks_true",
    "nodes_hitrates",
    "nodes_hitrates_as_tensor",
    "post_transform",
    "base_values",
    "base_values_as_tensor",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Comparison {
    fn holds<T: PartialOrd>(self, x: T, threshold: T) -> bool {
        match self {
            Comparison::Leq => x <= threshold,
            Comparison::Lt => x < threshold,
            Comparison::Gte => x >= threshold,
            Comparison::Gt => x > threshold,
            Comparison::Eq => x == threshold,
            Comparison::Neq => x != threshold,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Branch {
        feature: usize,
        comparison: Comparison,
        threshold: f64,
        threshold_f32: f32,
        missing_goes_true: bool,
        if_true: usize,
        if_false: usize,
    },
    /// The leaf's weights: `weights[start..end]`.
    Leaf { start: usize, end: usize },
}

/// One leaf weight: which target (or class) it adds to, and how much.
#[derive(Debug, Clone, Copy)]
struct Weight {
    target: usize,
    value: f64,
    value_f32: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// The trees, ready to walk.
#[derive(Debug)]
struct Ensemble {
    nodes: Vec<Node>,
    roots: Vec<usize>,
    weights: Vec<Weight>,
    targets: usize,
    /// The highest feature a branch reads, if any.
    max_feature: Option<usize>,
    aggregate: Aggregate,
}

/// A number type the trees are evaluated in: f32 for float and integer
/// inputs, f64 for double, as onnxruntime does.
trait Accumulator: Float + Default + std::ops::AddAssign + Datum {
    /// A node's threshold (or a base value) in this type.
    fn threshold(node_threshold: f64, node_threshold_f32: f32) -> Self;
    fn weight(w: &Weight) -> Self {
        Self::threshold(w.value, w.value_f32)
    }
    fn to_f32(self) -> f32;
    /// The average of a sum over `n` trees.
    fn mean_of(self, n: usize) -> Self {
        self / Self::from(n).unwrap_or_else(Self::one)
    }
}

impl Accumulator for f32 {
    fn threshold(_: f64, t: f32) -> f32 {
        t
    }
    fn to_f32(self) -> f32 {
        self
    }
}

impl Accumulator for f64 {
    fn threshold(t: f64, _: f32) -> f64 {
        t
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
}

impl Ensemble {
    /// Reads the trees, with their leaves' weights from `{prefix}_treeids`,
    /// `{prefix}_nodeids`, `{prefix}_ids`, `{prefix}_weights`.
    fn parse(
        a: &Attributes,
        prefix: &str,
        targets: usize,
        aggregate: Aggregate,
    ) -> TractResult<Ensemble> {
        let tree_ids = a.list::<i64>("nodes_treeids")?;
        let n = tree_ids.len();
        a.ensure("nodes_treeids", n > 0, || {
            "the ensemble has no nodes".into()
        })?;
        let same_length = |name: &str, len: usize| {
            a.ensure(name, len == n, || {
                format!("has {len} entries for {n} nodes")
            })
        };
        let node_ids = a.list::<i64>("nodes_nodeids")?;
        same_length("nodes_nodeids", node_ids.len())?;
        let features = a.list::<i64>("nodes_featureids")?;
        same_length("nodes_featureids", features.len())?;
        let modes = a.list::<&str>("nodes_modes")?;
        same_length("nodes_modes", modes.len())?;
        let true_ids = a.list::<i64>("nodes_truenodeids")?;
        same_length("nodes_truenodeids", true_ids.len())?;
        let false_ids = a.list::<i64>("nodes_falsenodeids")?;
        same_length("nodes_falsenodeids", false_ids.len())?;
        let thresholds = values(a, "nodes_values")?;
        same_length("nodes_values", thresholds.len())?;
        let missing = a.list::<i64>("nodes_missing_value_tracks_true")?;

        // Trees are runs of equal tree ids; each run's first node is its root.
        let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        let mut roots = Vec::new();
        for i in 0..n {
            if i == 0 || tree_ids[i] != tree_ids[i - 1] {
                roots.push(i);
            }
            if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
                return a.bail(
                    "nodes_nodeids",
                    format!(
                        "node {} of tree {} is listed twice",
                        node_ids[i], tree_ids[i]
                    ),
                );
            }
        }

        // Leaf weights, attached to their leaves in order.
        let leaf_tree = a.list::<i64>(&format!("{prefix}_treeids"))?;
        let leaf_node = a.list::<i64>(&format!("{prefix}_nodeids"))?;
        let leaf_target = a.list::<i64>(&format!("{prefix}_ids"))?;
        let leaf_value = values(a, &format!("{prefix}_weights"))?;
        for (name, len) in [
            (format!("{prefix}_nodeids"), leaf_node.len()),
            (format!("{prefix}_ids"), leaf_target.len()),
            (format!("{prefix}_weights"), leaf_value.len()),
        ] {
            a.ensure(&name, len == leaf_tree.len(), || {
                format!("has {len} entries for {} leaf weights", leaf_tree.len())
            })?;
        }
        let mut per_node: Vec<Vec<Weight>> = vec![Vec::new(); n];
        for i in 0..leaf_tree.len() {
            let target = leaf_target[i];
            a.ensure(
                &format!("{prefix}_ids"),
                (0..targets as i64).contains(&target),
                || format!("{target} is not one of the {targets} targets or classes"),
            )?;
            let Some(&node) = index.get(&(leaf_tree[i], leaf_node[i])) else {
                return a.bail(
                    &format!("{prefix}_nodeids"),
                    format!(
                        "node {} of tree {} does not exist",
                        leaf_node[i], leaf_tree[i]
                    ),
                );
            };
            let (value, value_f32) = leaf_value[i];
            per_node[node].push(Weight {
                target: target as usize,
                value,
                value_f32,
            });
        }

        let mut nodes = Vec::with_capacity(n);
        let mut weights = Vec::new();
        let mut max_feature = None;
        for i in 0..n {
            let comparison = match modes[i] {
                "LEAF" => {
                    // Weights on a branch are ignored, as onnxruntime does.
                    let start = weights.len();
                    weights.extend_from_slice(&per_node[i]);
                    nodes.push(Node::Leaf {
                        start,
                        end: weights.len(),
                    });
                    continue;
                }
                "BRANCH_LEQ" => Comparison::Leq,
                "BRANCH_LT" => Comparison::Lt,
                "BRANCH_GTE" => Comparison::Gte,
                "BRANCH_GT" => Comparison::Gt,
                "BRANCH_EQ" => Comparison::Eq,
                "BRANCH_NEQ" => Comparison::Neq,
                other => {
                    return a.bail(
                        "nodes_modes",
                        format!("`{other}` is not supported (BRANCH_LEQ, _LT, _GTE, _GT, _EQ, _NEQ or LEAF)"),
                    );
                }
            };
            let child = |ids: &[i64], name: &str| -> TractResult<usize> {
                match index.get(&(tree_ids[i], ids[i])) {
                    Some(&c) if c != i => Ok(c),
                    Some(_) => a.bail(
                        name,
                        format!(
                            "node {} of tree {} is its own child",
                            node_ids[i], tree_ids[i]
                        ),
                    ),
                    None => a.bail(
                        name,
                        format!(
                            "node {} of tree {} has no node {} to go to",
                            node_ids[i], tree_ids[i], ids[i]
                        ),
                    ),
                }
            };
            a.ensure("nodes_featureids", features[i] >= 0, || {
                format!(
                    "feature {} of node {} is negative",
                    features[i], node_ids[i]
                )
            })?;
            let feature = features[i] as usize;
            max_feature = max_feature.max(Some(feature));
            let (threshold, threshold_f32) = thresholds[i];
            nodes.push(Node::Branch {
                feature,
                comparison,
                threshold,
                threshold_f32,
                missing_goes_true: missing.get(i) == Some(&1),
                if_true: child(&true_ids, "nodes_truenodeids")?,
                if_false: child(&false_ids, "nodes_falsenodeids")?,
            });
        }
        let ensemble = Ensemble {
            nodes,
            roots,
            weights,
            targets,
            max_feature,
            aggregate,
        };
        ensemble.check_acyclic(a)?;
        Ok(ensemble)
    }

    /// Refuses trees whose branches loop (a malformed file would otherwise
    /// make every prediction run forever).
    fn check_acyclic(&self, a: &Attributes) -> TractResult<()> {
        // 0: not seen, 1: on the current path, 2: done.
        let mut state = vec![0u8; self.nodes.len()];
        for &root in &self.roots {
            let mut stack = vec![(root, false)];
            while let Some((node, children_done)) = stack.pop() {
                if children_done {
                    state[node] = 2;
                    continue;
                }
                match state[node] {
                    1 => return a.bail("nodes_truenodeids", "the trees' branches form a cycle"),
                    2 => continue,
                    _ => {}
                }
                state[node] = 1;
                stack.push((node, true));
                if let Node::Branch {
                    if_true, if_false, ..
                } = self.nodes[node]
                {
                    for child in [if_true, if_false] {
                        if state[child] == 1 {
                            return a.bail("nodes_truenodeids", "the trees' branches form a cycle");
                        }
                        if state[child] == 0 {
                            stack.push((child, false));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_input(&self, op: &str, inputs: &[&TypedFact]) -> TractResult<TDim> {
        let [input] = inputs else {
            bail!("{op} takes one input, got {}", inputs.len());
        };
        ensure!(
            matches!(
                input.datum_type,
                DatumType::F32 | DatumType::F64 | DatumType::I64 | DatumType::I32
            ),
            "{op} takes float, double, int64 or int32 features, got {:?}",
            input.datum_type
        );
        let (rows, columns) = rows_and_columns(op, input)?;
        if let Some(max) = self.max_feature {
            let columns = fixed_columns(op, &columns)?;
            ensure!(
                max < columns,
                "{op} reads feature {max}, its input has {columns} features"
            );
        }
        Ok(rows)
    }

    /// The leaf a row reaches in one tree.
    fn leaf<T: Accumulator>(&self, row: &[T], root: usize) -> (usize, usize) {
        let mut i = root;
        loop {
            match &self.nodes[i] {
                Node::Leaf { start, end } => return (*start, *end),
                Node::Branch {
                    feature,
                    comparison,
                    threshold,
                    threshold_f32,
                    missing_goes_true,
                    if_true,
                    if_false,
                } => {
                    let x = row[*feature];
                    let t = T::threshold(*threshold, *threshold_f32);
                    let goes_true = comparison.holds(x, t) || (*missing_goes_true && x.is_nan());
                    i = if goes_true { *if_true } else { *if_false };
                }
            }
        }
    }

    /// Every tree's contribution to one row: the aggregated score per
    /// target, and whether any leaf voted for it.
    fn aggregate<T: Accumulator>(&self, row: &[T], scores: &mut [T], voted: &mut [bool]) {
        scores.fill(T::default());
        voted.fill(false);
        for &root in &self.roots {
            let (start, end) = self.leaf(row, root);
            let leaf = &self.weights[start..end];
            // With one target, only a leaf's first weight counts.
            let leaf = if self.targets == 1 {
                &leaf[..leaf.len().min(1)]
            } else {
                leaf
            };
            for w in leaf {
                let (k, w) = (w.target, T::weight(w));
                match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => scores[k] += w,
                    Aggregate::Min => scores[k] = if voted[k] { scores[k].min(w) } else { w },
                    Aggregate::Max => scores[k] = if voted[k] { scores[k].max(w) } else { w },
                }
                voted[k] = true;
            }
        }
    }
}

/// A list of floats from `name` or `name_as_tensor`, each as f64 and f32.
fn values(a: &Attributes, name: &str) -> TractResult<Vec<(f64, f32)>> {
    let as_tensor = format!("{name}_as_tensor");
    match (a.opt_list::<f32>(name)?, a.tensor(&as_tensor)?) {
        (Some(v), None) => Ok(v.into_iter().map(|x| (f64::from(x), x)).collect()),
        (None, Some(t)) => {
            let t = t.cast_to::<f64>()?;
            Ok(t.try_as_plain_ram()?
                .as_slice::<f64>()?
                .iter()
                .map(|&x| (x, x as f32))
                .collect())
        }
        (None, None) => Ok(Vec::new()),
        (Some(_), Some(_)) => a.bail(
            &as_tensor,
            format!("only one of `{name}` and `{as_tensor}` may be set"),
        ),
    }
}

/// Runs `f` with the input as a matrix of the accumulator type it calls
/// for: f64 for double, f32 otherwise (integers converted).
fn with_rows<R>(
    input: &TValue,
    f32_rows: impl FnOnce(ArrayView2<f32>) -> TractResult<R>,
    f64_rows: impl FnOnce(ArrayView2<f64>) -> TractResult<R>,
) -> TractResult<R> {
    match input.datum_type() {
        DatumType::F64 => f64_rows(as_matrix::<f64>(input)?),
        DatumType::F32 => f32_rows(as_matrix::<f32>(input)?),
        _ => {
            let cast = input.cast_to::<f32>()?;
            f32_rows(as_matrix::<f32>(&cast)?)
        }
    }
}

// -- TreeEnsembleRegressor ------------------------------------------------------

pub(crate) fn tree_ensemble_regressor(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    let known: Vec<&str> = NODE_ATTRIBUTES
        .iter()
        .copied()
        .chain([
            "n_targets",
            "aggregate_function",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
            "target_weights_as_tensor",
        ])
        .collect();
    build(node, &known, |a| {
        let targets = a.opt::<i64>("n_targets")?.unwrap_or(0);
        a.ensure("n_targets", targets > 0, || {
            format!("must be at least 1, got {targets}")
        })?;
        let targets = targets as usize;
        let aggregate = match a.opt::<&str>("aggregate_function")?.unwrap_or("SUM") {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => {
                return a.bail(
                    "aggregate_function",
                    format!("`{other}` is not one of SUM, AVERAGE, MIN, MAX"),
                );
            }
        };
        let base = values(a, "base_values")?;
        a.ensure(
            "base_values",
            base.is_empty() || base.len() == targets,
            || format!("has {} values for {targets} targets", base.len()),
        )?;
        Ok(TreeRegressor {
            ensemble: Ensemble::parse(a, "target", targets, aggregate)?,
            base,
            post_transform: PostTransform::of(a)?,
        })
    })
}

#[derive(Debug)]
struct TreeRegressor {
    ensemble: Ensemble,
    base: Vec<(f64, f32)>,
    post_transform: PostTransform,
}

impl TreeRegressor {
    fn predict<T: Accumulator>(&self, x: ArrayView2<T>) -> TractResult<Array2<f32>> {
        let e = &self.ensemble;
        let k = e.targets;
        let mut y = Array2::<f32>::zeros((x.nrows(), k));
        let mut scores = vec![T::default(); k];
        let mut voted = vec![false; k];
        let trees = e.roots.len();
        let base = |t: usize| {
            self.base
                .get(t)
                .map_or(T::default(), |&(b, b32)| T::threshold(b, b32))
        };
        for (row, mut out) in x.axis_iter(Axis(0)).zip(y.axis_iter_mut(Axis(0))) {
            let row = row.to_vec();
            e.aggregate(&row, &mut scores, &mut voted);
            for t in 0..k {
                let mut v = scores[t];
                if e.aggregate == Aggregate::Average {
                    v = v.mean_of(trees);
                }
                v += base(t);
                // With several targets, one no leaf voted for is 0, without
                // its base value (onnxruntime's behaviour).
                out[t] = if k > 1 && !voted[t] { 0.0 } else { v.to_f32() };
            }
        }
        // A single score is transformed only by PROBIT, as onnxruntime does.
        if k > 1 || self.post_transform == PostTransform::Probit {
            self.post_transform.apply_rows(&mut y.view_mut());
        }
        Ok(y)
    }
}

impl Kernel for TreeRegressor {
    fn name(&self) -> &'static str {
        "TreeEnsembleRegressor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = self.ensemble.check_input(self.name(), inputs)?;
        Ok(tvec!(f32::fact([rows, self.ensemble.targets.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let y = with_rows(&inputs[0], |x| self.predict(x), |x| self.predict(x))?;
        Ok(tvec!(y.into_tensor().into_tvalue()))
    }
}

// -- TreeEnsembleClassifier -----------------------------------------------------

pub(crate) fn tree_ensemble_classifier(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    let known: Vec<&str> = NODE_ATTRIBUTES
        .iter()
        .copied()
        .chain([
            "classlabels_int64s",
            "classlabels_strings",
            "class_treeids",
            "class_nodeids",
            "class_ids",
            "class_weights",
            "class_weights_as_tensor",
        ])
        .collect();
    build(node, &known, |a| {
        // Strings win if both are given, as in onnxruntime.
        let labels = match a.strings("classlabels_strings")? {
            Some(strings) if !strings.is_empty() => ClassLabels::String(strings),
            _ => ClassLabels::I64(a.list::<i64>("classlabels_int64s")?),
        };
        let classes = labels.len();
        a.ensure("classlabels_int64s", classes > 0, || {
            "the classifier has no class labels".into()
        })?;
        a.ensure(
            "classlabels_strings",
            classes > 1 || matches!(labels, ClassLabels::I64(_)),
            || "a one-class classifier with string labels is not supported".into(),
        )?;
        let base = values(a, "base_values")?;
        let allowed = if classes <= 2 {
            base.len() <= 2
        } else {
            base.is_empty() || base.len() == classes
        };
        a.ensure("base_values", allowed, || {
            format!("has {} values for {classes} classes", base.len())
        })?;
        let post_transform = PostTransform::of(a)?;
        a.ensure("post_transform", !(classes <= 2 && post_transform == PostTransform::Probit), || {
            "PROBIT on a binary classifier is not supported (onnxruntime leaves half of its scores unwritten)".into()
        })?;
        let ensemble = Ensemble::parse(a, "class", classes, Aggregate::Sum)?;
        let mut used: Vec<usize> = ensemble.weights.iter().map(|w| w.target).collect();
        used.sort_unstable();
        used.dedup();
        Ok(TreeClassifier {
            binary_case: used.len() == 1,
            all_positive: ensemble.weights.iter().all(|w| w.value >= 0.0),
            ensemble,
            labels,
            base,
            post_transform,
        })
    })
}

#[derive(Debug)]
struct TreeClassifier {
    ensemble: Ensemble,
    labels: ClassLabels,
    base: Vec<(f64, f32)>,
    post_transform: PostTransform,
    /// Only one class id carries weights (exporters put the positive
    /// class's score under id 0 for binary models).
    binary_case: bool,
    all_positive: bool,
}

/// What a row's label is: a class's index in the labels, or, for binary
/// models that use both class ids, onnxruntime's literal 0 or 1.
enum Pick {
    Class(usize),
    Literal(i64),
}

impl TreeClassifier {
    /// One score column per class (two for a binary model).
    fn columns(&self) -> usize {
        self.labels.len()
    }

    fn predict<T: Accumulator>(&self, x: ArrayView2<T>) -> TractResult<(Tensor, Array2<f32>)> {
        let e = &self.ensemble;
        let classes = self.labels.len();
        let mut y = Array2::<f32>::zeros((x.nrows(), self.columns()));
        let mut picks = Vec::with_capacity(x.nrows());
        let mut scores = vec![T::default(); classes];
        let mut voted = vec![false; classes];
        let base = |c: usize| {
            self.base
                .get(c)
                .map_or(T::default(), |&(b, b32)| T::threshold(b, b32))
        };
        for (row, mut out) in x.axis_iter(Axis(0)).zip(y.axis_iter_mut(Axis(0))) {
            let row = row.to_vec();
            e.aggregate(&row, &mut scores, &mut voted);
            let out = out.as_slice_mut().ok_or_else(|| {
                tract_onnx::tract_hir::internal::format_err!("scores not contiguous")
            })?;
            match classes {
                1 => {
                    // One class: the raw score, untransformed; label 1 or 0.
                    let s = scores[0] + base(0);
                    out[0] = s.to_f32();
                    picks.push(Pick::Literal(i64::from(s > T::default())));
                }
                2 => picks.push(self.binary(&mut scores, &mut voted, out)),
                _ => {
                    if !self.base.is_empty() {
                        for c in 0..classes {
                            scores[c] += base(c);
                            voted[c] = true;
                        }
                    }
                    // The label is the first highest raw score among the
                    // classes that have one.
                    let mut best: Option<usize> = None;
                    for c in (0..classes).filter(|&c| voted[c]) {
                        if best.is_none_or(|b| scores[c] > scores[b]) {
                            best = Some(c);
                        }
                    }
                    picks.push(Pick::Class(best.unwrap_or(0)));
                    for c in 0..classes {
                        out[c] = if voted[c] { scores[c].to_f32() } else { 0.0 };
                    }
                }
            }
        }
        if classes > 2 {
            self.post_transform.apply_rows(&mut y.view_mut());
        }
        let labels = match &self.labels {
            ClassLabels::I64(v) => tensor1(
                &picks
                    .iter()
                    .map(|p| match *p {
                        Pick::Class(c) => v[c],
                        Pick::Literal(l) => l,
                    })
                    .collect::<Vec<_>>(),
            ),
            strings => label_tensor(
                strings,
                picks
                    .iter()
                    .map(|p| match *p {
                        Pick::Class(c) => c,
                        Pick::Literal(l) => l as usize,
                    })
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
        };
        Ok((labels, y))
    }

    /// A binary model's label and two scores, onnxruntime's way.
    fn binary<T: Accumulator>(
        &self,
        scores: &mut [T],
        voted: &mut [bool],
        out: &mut [f32],
    ) -> Pick {
        let base = |c: usize| {
            self.base
                .get(c)
                .map_or(T::default(), |&(b, b32)| T::threshold(b, b32))
        };
        // A. Base values. With two, class 1's score becomes base[1] plus
        //    class 0's trees, and class 0's its opposite.
        let mut two_scores = voted[1];
        match self.base.len() {
            2 if voted[1] => {
                let v1 = base(1) + scores[0];
                scores[1] = v1;
                scores[0] = -v1;
            }
            2 => {
                scores[0] += base(0);
                two_scores = true;
            }
            1 => scores[0] += base(0),
            _ => {}
        }
        // B. The label, from the raw positive score.
        let positive = if voted[1] {
            scores[1]
        } else if voted[0] {
            scores[0]
        } else {
            T::default()
        };
        let zero = T::default();
        let pick = if self.binary_case {
            let above = if self.all_positive {
                positive.to_f32() > 0.5
            } else {
                positive > zero
            };
            Pick::Class(usize::from(above))
        } else {
            let above = usize::from(positive > zero);
            match self.labels {
                ClassLabels::I64(_) => Pick::Literal(above as i64),
                ClassLabels::String(_) => Pick::Class(above),
            }
        };
        // C. The scores.
        if two_scores {
            // A class no leaf voted for scores 0, before the transform.
            out[0] = if voted[0] { scores[0].to_f32() } else { 0.0 };
            out[1] = if voted[1] { scores[1].to_f32() } else { 0.0 };
            self.post_transform.apply_row(out);
        } else {
            let s = scores[0].to_f32();
            let positive_weights = self.binary_case && self.all_positive;
            let [a, b] = match (self.post_transform, positive_weights) {
                (PostTransform::Logistic, true) => [1.0 - logistic(s), logistic(s)],
                (PostTransform::Logistic, false) => [logistic(-s), logistic(s)],
                (_, true) => [1.0 - s, s],
                (_, false) => [-s, s],
            };
            out[0] = a;
            out[1] = b;
        }
        pick
    }
}

impl Kernel for TreeClassifier {
    fn name(&self) -> &'static str {
        "TreeEnsembleClassifier"
    }

    fn outputs(&self) -> usize {
        2
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = self.ensemble.check_input(self.name(), inputs)?;
        Ok(tvec!(
            label_datum_type(&self.labels).fact([rows.clone()]),
            f32::fact([rows, self.columns().into()]),
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (labels, scores) = with_rows(&inputs[0], |x| self.predict(x), |x| self.predict(x))?;
        Ok(tvec!(
            labels.into_tvalue(),
            scores.into_tensor().into_tvalue()
        ))
    }
}
