//! Which class each column of a classifier's probabilities stands for.
//!
//! A graph output made by a `ZipMap` (skl2onnx's default) carries its
//! labels as the maps' keys; a plain probability tensor (`zipmap=False`,
//! LightGBM and XGBoost exports) carries them as the classifier's
//! `classlabels_*` attribute. Either way they are in the ONNX file, and
//! wasmodel shows them beside the output ([`crate::TensorInfo::class_labels`]).

use tract_onnx::pb::{GraphProto, NodeProto};

use super::attributes::Attributes;
use crate::types::ClassLabels;

/// Ops an output may pass through on its way from the classifier to the
/// graph's output without its columns changing meaning.
const PASS_THROUGH: &[&str] = &["Identity", "Cast"];

/// The classifiers whose second output is a score per class, and their
/// label attributes.
const CLASSIFIERS: &[(&str, &str, &str)] = &[
    (
        "TreeEnsembleClassifier",
        "classlabels_int64s",
        "classlabels_strings",
    ),
    (
        "LinearClassifier",
        "classlabels_ints",
        "classlabels_strings",
    ),
    ("SVMClassifier", "classlabels_ints", "classlabels_strings"),
];

/// The class labels of every graph output that holds one score per class,
/// by output name. The caller keeps those whose column count matches (a
/// binary linear model may give one score column for two labels).
pub fn output_class_labels(graph: &GraphProto) -> Vec<(String, ClassLabels)> {
    graph
        .output
        .iter()
        .filter_map(|output| Some((output.name.clone(), labels_of(graph, &output.name)?)))
        .collect()
}

fn labels_of(graph: &GraphProto, value: &str) -> Option<ClassLabels> {
    let mut value = value;
    // Follow the value back through pass-through ops (a bounded walk: a
    // malformed graph could loop).
    for _ in 0..graph.node.len().min(64) + 1 {
        let (node, index) = producer(graph, value)?;
        let op = node.op_type.as_str();
        if op == "ZipMap" {
            return node_labels(node, "classlabels_int64s", "classlabels_strings");
        }
        if let Some((_, ints, strings)) = CLASSIFIERS.iter().find(|(name, ..)| *name == op) {
            return (index == 1)
                .then(|| node_labels(node, ints, strings))
                .flatten();
        }
        if !PASS_THROUGH.contains(&op) {
            return None;
        }
        value = node.input.first()?;
    }
    None
}

fn producer<'g>(graph: &'g GraphProto, value: &str) -> Option<(&'g NodeProto, usize)> {
    graph.node.iter().find_map(|node| {
        let index = node.output.iter().position(|o| o == value)?;
        Some((node, index))
    })
}

fn node_labels(node: &NodeProto, ints: &str, strings: &str) -> Option<ClassLabels> {
    // Unchecked attributes: the operator itself checks them when it loads.
    let attributes = Attributes::unchecked(node);
    attributes.class_labels(ints, strings).ok()
}
