//! What an ONNX file holds, read without loading the model: every operator
//! it uses (nested graphs included) and whether the engine has it, and the
//! categories its encoders know for a string input, and the inputs it
//! takes as shapes. `wasmodel check` uses them: to list every problem at
//! once, and to make up inputs that mean something to the model.

use std::collections::{BTreeMap, BTreeSet};

pub use tract_onnx::pb::GraphProto;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto};
use tract_onnx::prelude::Framework as _;

use crate::error::LoadError;

/// One operator a model uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorUse {
    /// The operator's domain: `ai.onnx` (the standard one), `ai.onnx.ml`, ...
    pub domain: String,
    pub op_type: String,
    /// How many nodes use it, nested graphs included.
    pub nodes: usize,
    /// Whether the engine implements it (tract's operators and ours).
    pub supported: bool,
}

/// Every operator of an ONNX file, sorted by domain and name.
pub fn operators(onnx: &[u8]) -> Result<Vec<OperatorUse>, LoadError> {
    let proto = decode_model(onnx)?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| LoadError::Malformed("the file holds no graph".into()))?;
    Ok(operators_of(graph, &crate::onnx()))
}

/// Every operator of a graph and its nested graphs, and whether `framework`
/// has it.
pub(crate) fn operators_of(graph: &GraphProto, framework: &tract_onnx::Onnx) -> Vec<OperatorUse> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    visit(graph, &mut |node| {
        let domain = match node.domain.as_str() {
            "" => "ai.onnx",
            other => other,
        };
        *counts
            .entry((domain.to_owned(), node.op_type.clone()))
            .or_default() += 1;
    });
    counts
        .into_iter()
        .map(|((domain, op_type), nodes)| OperatorUse {
            // tract's parser keys operators by name alone; an operator of
            // another vendor's domain is not the one it knows.
            supported: match domain.as_str() {
                "ai.onnx" => {
                    framework.op_register.0.contains_key(&op_type)
                        || crate::sequences::OPERATORS.contains(&op_type.as_str())
                }
                "ai.onnx.ml" => framework.op_register.0.contains_key(&op_type),
                "com.microsoft" => {
                    crate::contrib::supports(&op_type)
                        || crate::text::MICROSOFT_OPERATORS.contains(&op_type.as_str())
                }
                _ => false,
            },
            domain,
            op_type,
            nodes,
        })
        .collect()
}

/// The strings the model's encoders know for the graph input `input`: the
/// categories of every `OneHotEncoder`, `LabelEncoder` and `CategoryMapper`
/// its values reach, through ops that only move values around.
pub fn input_categories(graph: &GraphProto, input: &str) -> Vec<String> {
    const MOVES: &[&str] = &[
        "Identity",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Gather",
        "ArrayFeatureExtractor",
        "Slice",
        "Transpose",
        "Where",
    ];
    const CATEGORIES: &[&str] = &["cats_strings", "keys_strings", "classes_strings"];
    let mut reached: BTreeSet<&str> = BTreeSet::from([input]);
    let mut categories = BTreeSet::new();
    // Values only flow forward in a graph's node list (it is sorted), so one
    // pass follows every path.
    for node in &graph.node {
        if !node.input.iter().any(|i| reached.contains(i.as_str())) {
            continue;
        }
        if MOVES.contains(&node.op_type.as_str()) {
            reached.extend(node.output.iter().map(String::as_str));
        }
        for attribute in node
            .attribute
            .iter()
            .filter(|a| CATEGORIES.contains(&a.name.as_str()))
        {
            categories.extend(
                attribute
                    .strings
                    .iter()
                    .filter_map(|s| String::from_utf8(s.clone()).ok()),
            );
        }
    }
    categories.into_iter().collect()
}

/// The words of the model's text pipelines: the strings in the pools of
/// its `TfIdfVectorizer` nodes (words, or characters for a character
/// analyzer), in the order first seen, for made-up texts that hit them.
pub fn text_vocabulary(graph: &GraphProto) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::new();
    for node in graph.node.iter().filter(|n| n.op_type == "TfIdfVectorizer") {
        for attribute in node.attribute.iter().filter(|a| a.name == "pool_strings") {
            for word in attribute.strings.iter() {
                if let Ok(word) = String::from_utf8(word.clone())
                    && seen.insert(word.clone())
                {
                    words.push(word);
                }
            }
        }
    }
    words
}

/// Where an operator takes a shape, axes or lengths from an input: an
/// integer graph input found there gives its value to the plan (`plans`).
const SHAPE_OPERANDS: &[(&str, &[usize])] = &[
    ("Expand", &[1]),
    ("Reshape", &[1]),
    ("ConstantOfShape", &[0]),
    ("Tile", &[1]),
    ("Range", &[0, 1, 2]),
    ("Slice", &[1, 2, 3, 4]),
    ("Split", &[1]),
    ("Pad", &[1]),
    ("TopK", &[1]),
    ("OneHot", &[1]),
    ("Squeeze", &[1]),
    ("Unsqueeze", &[1]),
    ("Resize", &[3]),
    ("ReduceSum", &[1]),
    ("ReduceMean", &[1]),
    ("ReduceMax", &[1]),
    ("ReduceMin", &[1]),
    ("ReduceProd", &[1]),
];

/// Whether a node of `graph` takes the value `name` as a shape, axes or
/// lengths.
pub(crate) fn gives_shape(graph: &GraphProto, name: &str) -> bool {
    graph.node.iter().any(|node| {
        SHAPE_OPERANDS.iter().any(|(op, positions)| {
            node.op_type == *op
                && positions
                    .iter()
                    .any(|&p| node.input.get(p).is_some_and(|i| i == name))
        })
    })
}

/// The graph inputs of an ONNX file that a node takes as a shape, axes or
/// lengths: their values decide the model's shapes as much as the other
/// inputs' shapes do, so `wasmodel check` makes them up as ones (which any
/// `Expand`, `Tile` or `ConstantOfShape` takes) rather than at random, and
/// says so.
pub fn shape_giving_inputs(graph: &GraphProto) -> Vec<String> {
    graph
        .input
        .iter()
        .map(|input| input.name.clone())
        .filter(|name| gives_shape(graph, name))
        .collect()
}

/// An ONNX file's protobuf, as tract-onnx reads it.
pub fn decode_model(onnx: &[u8]) -> Result<ModelProto, LoadError> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut &onnx[..])
        .map_err(|e| LoadError::Malformed(e.to_string()))
}

/// Calls `f` on every node of `graph` and of the graphs nested in its
/// nodes' attributes (Scan, Loop and If bodies).
fn visit(graph: &GraphProto, f: &mut impl FnMut(&NodeProto)) {
    for node in &graph.node {
        f(node);
        for attribute in &node.attribute {
            for nested in nested_graphs(attribute) {
                visit(nested, f);
            }
        }
    }
}

pub(crate) fn nested_graphs(attribute: &AttributeProto) -> impl Iterator<Item = &GraphProto> {
    attribute.g.iter().chain(attribute.graphs.iter())
}
