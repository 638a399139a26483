//! `com.microsoft:Attention`: the self-attention that onnxruntime's
//! transformer optimizer fuses a BERT-like layer's attention into
//! (`onnxruntime.transformers.optimizer`, optimum's `--optimize O1`–`O4`
//! exports), rewritten before tract sees the graph into the standard ONNX
//! it stands for. (tract's own `Attention` is the ONNX operator of that
//! name, opset 23, which takes other inputs.)
//!
//! A node takes the layer's input `X` [batch, sequence, hidden], the
//! merged projection `W` [hidden, q + k + v] and `bias` [q + k + v], and
//! optionally a mask and an additive attention bias; it becomes
//!
//! ```text
//! Q, K, V = X·W + bias, split along the last axis, each [batch, heads, sequence, head size]
//! scores  = Q·Kᵀ × scale (+ attention bias) + where(kept, 0, mask_filter_value)
//! output  = softmax(scores)·V, the heads merged back: [batch, sequence, v]
//! ```
//!
//! as onnxruntime's CPU kernel computes it: `scale` is 1/√(head size)
//! unless given, `mask_filter_value` −10000 unless given, and which keys a
//! query keeps is what `mask_index` says, by its rank:
//!
//! - 1-D: [batch] each row's end (its keys from there on are masked, what
//!   the optimizer writes by default: a `ReduceSum` of the attention
//!   mask), or [2 × batch] the ends, then the starts (keys before a start
//!   are masked);
//! - 2-D [batch, keys]: 1 keeps a key, 0 masks it (the attention mask
//!   itself, the optimizer's `use_raw_attention_mask`);
//! - 3-D [batch, sequence, keys]: the same per query;
//!
//! and with `unidirectional` a query also masks every key after its own
//! position.
//!
//! The mask's rank is read from the graph: declared shapes, or the `Cast`
//! and `ReduceSum` the optimizer computes it with, or the
//! `EmbedLayerNormalization` that counts it. Refused, naming the
//! node: a 4-D (Megatron) mask or one whose rank the graph does not tell,
//! past state (`past`, `present`, `past_sequence_length`), rotary
//! embeddings (`do_rotary`), projections whose sizes neither
//! `qkv_hidden_sizes` nor a constant `W` gives, and models of an opset
//! before 11 (the rewrite uses `CumSum`).

use std::collections::HashMap;

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto, tensor_proto::DataType};

use super::{Target, refused};
use crate::error::LoadError;
use crate::proto::{Builder, float_attribute, input, int_attr, int_attribute, ints_attr};

/// The operator rewritten here (domain `com.microsoft`).
pub(crate) const OPERATOR: &str = "Attention";

/// Rewrites every `com.microsoft:Attention` of the model's graphs (nested
/// ones included) into standard ONNX.
pub(crate) fn expand(proto: &mut ModelProto) -> Result<(), LoadError> {
    super::rewrite(
        proto,
        &|op| op == OPERATOR,
        &mask_ranks,
        &|node, ranks, target| {
            if target.opset < 11 {
                return Err(refused(
                    node,
                    &format!(
                        "is in a model of opset {}; its rewrite needs opset 11 or later",
                        target.opset
                    ),
                ));
            }
            let mask = input(node, 3).map(|mask| (mask, ranks.get(mask).copied().flatten()));
            expand_node(node, mask, target)
        },
    )
}

/// The rank of each `Attention` node's mask in `graph`, read while the
/// graph is whole.
fn mask_ranks(graph: &GraphProto) -> HashMap<String, Option<usize>> {
    graph
        .node
        .iter()
        .filter(|n| n.domain == "com.microsoft" && n.op_type == OPERATOR)
        .filter_map(|n| input(n, 3))
        .map(|mask| (mask.to_owned(), rank_of(graph, mask, 0)))
        .collect()
}

/// The number of dimensions of the value `name` in `graph`, where the graph
/// tells it: a declared shape, an initializer, or the producer's input
/// through a `Cast`, `Identity` or a reduction.
fn rank_of(graph: &GraphProto, name: &str, depth: usize) -> Option<usize> {
    use tract_onnx::pb::type_proto::Value;
    if depth > 32 {
        return None;
    }
    let declared = graph
        .input
        .iter()
        .chain(&graph.value_info)
        .chain(&graph.output)
        .find(|v| v.name == name)
        .and_then(|v| v.r#type.as_ref()?.value.as_ref());
    if let Some(Value::TensorType(tensor)) = declared
        && let Some(shape) = &tensor.shape
    {
        return Some(shape.dim.len());
    }
    if let Some(tensor) = graph.initializer.iter().find(|t| t.name == name) {
        return Some(tensor.dims.len());
    }
    let node = graph
        .node
        .iter()
        .find(|n| n.output.iter().any(|o| o == name))?;
    let input_rank = || rank_of(graph, input(node, 0)?, depth + 1);
    match node.op_type.as_str() {
        // Its mask index, [batch] (rewritten after this).
        super::embed_layer_norm::OPERATOR if node.output.get(1).is_some_and(|o| o == name) => {
            Some(1)
        }
        "Cast" | "Identity" => input_rank(),
        "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceMean" | "ReduceProd" => {
            let rank = input_rank()?;
            if int_attribute(node, "keepdims").unwrap_or(1) != 0 {
                return Some(rank);
            }
            let axes = match node.attribute.iter().find(|a| a.name == "axes") {
                Some(axes) => axes.ints.len(),
                None => match input(node, 1) {
                    Some(axes) => {
                        let axes = graph.initializer.iter().find(|t| t.name == axes)?;
                        axes.dims.iter().product::<i64>() as usize
                    }
                    None if int_attribute(node, "noop_with_empty_axes").unwrap_or(0) != 0 => 0,
                    None => rank,
                },
            };
            rank.checked_sub(axes)
        }
        _ => None,
    }
}

/// Writes the standard ONNX of one `Attention` node into `nodes`; `mask`
/// is its `mask_index` and that input's rank, if it has one.
fn expand_node(
    node: &NodeProto,
    mask: Option<(&str, Option<usize>)>,
    target: Target,
) -> Result<(), LoadError> {
    let Target {
        opset,
        nodes,
        initializers,
    } = target;
    let output = node
        .output
        .first()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| refused(node, "has no output"))?;
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(refused(
            node,
            "returns its present state; past state is not supported",
        ));
    }
    for (k, what) in [(4, "past"), (6, "past_sequence_length")] {
        if input(node, k).is_some() {
            return Err(refused(
                node,
                &format!("is given `{what}`; past state is not supported"),
            ));
        }
    }
    if int_attribute(node, "do_rotary").unwrap_or(0) != 0 {
        return Err(refused(
            node,
            "applies rotary embeddings (do_rotary), which are not supported",
        ));
    }
    let x = input(node, 0).ok_or_else(|| refused(node, "lacks its input"))?;
    let weights = input(node, 1).ok_or_else(|| refused(node, "lacks its weights"))?;
    let bias = input(node, 2);
    let heads = int_attribute(node, "num_heads")
        .filter(|&n| n > 0)
        .ok_or_else(|| refused(node, "lacks a positive num_heads"))?;
    let [q_size, k_size, v_size] = projection_sizes(node, weights, initializers)?;
    if q_size != k_size || q_size % heads != 0 || v_size % heads != 0 {
        return Err(refused(
            node,
            &format!(
                "projects to sizes {q_size}, {k_size}, {v_size}, which {heads} heads do not share \
                 (Q and K must be equal, each a multiple of the heads)"
            ),
        ));
    }
    let scale = float_attribute(node, "scale")
        .filter(|&s| s != 0.0)
        .unwrap_or_else(|| 1.0 / ((q_size / heads) as f32).sqrt());
    let filter = float_attribute(node, "mask_filter_value").unwrap_or(-10000.0);
    let causal = int_attribute(node, "unidirectional").unwrap_or(0) != 0;

    let mut b = Builder::new(nodes, initializers, format!("{output}/wasmodel.attention."));
    // The projections, each [batch, heads, sequence, head size] (K transposed).
    let mut qkv = b.op("MatMul", &[x, weights], vec![]);
    if let Some(bias) = bias {
        qkv = b.op("Add", &[&qkv, bias], vec![]);
    }
    let last = b.constant("last_axis", &[-1]);
    let split_heads = b.constant("split_heads", &[0, 0, heads, -1]);
    let project = |b: &mut Builder, from: i64, to: i64, perm: &[i64]| {
        let start = b.constant("start", &[from]);
        let end = b.constant("end", &[to]);
        let part = b.op("Slice", &[&qkv, &start, &end, &last], vec![]);
        let heads = b.op("Reshape", &[&part, &split_heads], vec![]);
        b.op("Transpose", &[&heads], vec![ints_attr("perm", perm)])
    };
    let q = project(&mut b, 0, q_size, &[0, 2, 1, 3]);
    let k = project(&mut b, q_size, q_size + k_size, &[0, 2, 3, 1]);
    let v = project(
        &mut b,
        q_size + k_size,
        q_size + k_size + v_size,
        &[0, 2, 1, 3],
    );

    let products = b.op("MatMul", &[&q, &k], vec![]);
    let scale = b.scalar("scale", scale);
    let mut scores = b.op("Mul", &[&products, &scale], vec![]);
    if let Some(attention_bias) = input(node, 5) {
        scores = b.op("Add", &[&scores, attention_bias], vec![]);
    }
    if let Some(kept) = kept_keys(node, &mut b, x, mask, causal, opset)? {
        let zero = b.scalar("kept", 0.0);
        let filter = b.scalar("masked", filter);
        let additive = b.op("Where", &[&kept, &zero, &filter], vec![]);
        scores = b.op("Add", &[&scores, &additive], vec![]);
    }
    let probabilities = b.op("Softmax", &[&scores], vec![int_attr("axis", -1)]);
    let context = b.op("MatMul", &[&probabilities, &v], vec![]);
    let merged = b.op(
        "Transpose",
        &[&context],
        vec![ints_attr("perm", &[0, 2, 1, 3])],
    );
    let merge_heads = b.constant("merge_heads", &[0, 0, -1]);
    b.op_into("Reshape", &[&merged, &merge_heads], output, vec![]);
    Ok(())
}

/// The sizes of Q, K and V: `qkv_hidden_sizes`, else a third each of the
/// constant weights' columns.
fn projection_sizes(
    node: &NodeProto,
    weights: &str,
    initializers: &[TensorProto],
) -> Result<[i64; 3], LoadError> {
    if let Some(sizes) = node.attribute.iter().find(|a| a.name == "qkv_hidden_sizes") {
        return <[i64; 3]>::try_from(sizes.ints.as_slice())
            .map_err(|_| refused(node, "has a qkv_hidden_sizes of other than three sizes"));
    }
    match initializers.iter().find(|t| t.name == weights) {
        Some(w) if w.dims.len() == 2 && w.dims[1] % 3 == 0 => {
            let third = w.dims[1] / 3;
            Ok([third; 3])
        }
        Some(w) => Err(refused(
            node,
            &format!("has weights of shape {:?}, not [hidden, 3 × size]", w.dims),
        )),
        None => Err(refused(
            node,
            "has weights that are not a constant and no qkv_hidden_sizes to split them by",
        )),
    }
}

/// Which keys each query keeps (a boolean that broadcasts to the scores'
/// [batch, heads, sequence, keys]), or None if it keeps them all.
fn kept_keys(
    node: &NodeProto,
    b: &mut Builder,
    x: &str,
    mask: Option<(&str, Option<usize>)>,
    causal: bool,
    opset: i64,
) -> Result<Option<String>, LoadError> {
    let padding = match mask {
        Some((mask, rank)) => Some(mask_kept(node, b, x, mask, rank, opset)?),
        None => None,
    };
    if !causal {
        return Ok(padding);
    }
    // A query keeps the keys up to its own position (keys are the queries:
    // no past state): the lower triangle of [sequence, keys].
    let sequence = b.axis_length(x, 1);
    let square = b.op("Concat", &[&sequence, &sequence], vec![int_attr("axis", 0)]);
    let ones = b.ones(&square);
    let lower = b.op("Trilu", &[&ones], vec![int_attr("upper", 0)]);
    let zero = b.scalar("zero", 0.0);
    let up_to_query = b.op("Greater", &[&lower, &zero], vec![]);
    Ok(Some(match padding {
        Some(kept) => b.op("And", &[&kept, &up_to_query], vec![]),
        None => up_to_query,
    }))
}

/// Which keys `mask` (of `rank` dimensions) keeps: [batch, 1, 1, keys], or
/// [batch, 1, sequence, keys] for a mask per query.
fn mask_kept(
    node: &NodeProto,
    b: &mut Builder,
    x: &str,
    mask: &str,
    rank: Option<usize>,
    opset: i64,
) -> Result<String, LoadError> {
    let rank = match rank {
        Some(rank @ 1..=3) => rank,
        Some(rank) => {
            return Err(refused(
                node,
                &format!(
                    "has a mask of {rank} dimensions; 1 (ends, or ends and starts), \
                     2 (batch, keys) and 3 (batch, queries, keys) are supported"
                ),
            ));
        }
        None => {
            return Err(refused(
                node,
                "has a mask whose number of dimensions the graph does not tell",
            ));
        }
    };
    let mask = b.op(
        "Cast",
        &[mask],
        vec![int_attr("to", DataType::Int64 as i64)],
    );
    let as_keys = |b: &mut Builder, kept: &str| {
        let shape = b.constant("as_keys", &[0, 1, 1, -1]);
        b.op("Reshape", &[kept, &shape], vec![])
    };
    if rank == 1 {
        // Keys at positions 0..sequence (the queries': no past state).
        let sequence = b.axis_length(x, 1);
        let positions = b.positions(&sequence);
        // Ends then starts: the mask followed by as many zeros holds both
        // whether it has a start per row or not.
        let zeros = b.op("Sub", &[&mask, &mask], vec![]);
        let padded = b.op("Concat", &[&mask, &zeros], vec![int_attr("axis", 0)]);
        let batch = b.axis_length(x, 0);
        let twice = b.op("Add", &[&batch, &batch], vec![]);
        let first = b.constant("first", &[0]);
        let ends = b.op("Slice", &[&padded, &first, &batch], vec![]);
        let starts = b.op("Slice", &[&padded, &batch, &twice], vec![]);
        let column = b.constant("column", &[-1, 1]);
        let ends = b.op("Reshape", &[&ends, &column], vec![]);
        let starts = b.op("Reshape", &[&starts, &column], vec![]);
        let before_end = b.op("Less", &[&positions, &ends], vec![]);
        let before_start = b.op("Less", &[&positions, &starts], vec![]);
        let after_start = b.op("Not", &[&before_start], vec![]);
        let kept = b.op("And", &[&before_end, &after_start], vec![]);
        return Ok(as_keys(b, &kept));
    }
    let zero = b.index("zero", 0);
    let kept = b.op("Greater", &[&mask, &zero], vec![]);
    Ok(if rank == 2 {
        as_keys(b, &kept)
    } else if opset < 13 {
        b.op("Unsqueeze", &[&kept], vec![ints_attr("axes", &[1])])
    } else {
        let axis = b.constant("heads_axis", &[1]);
        b.op("Unsqueeze", &[&kept, &axis], vec![])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;
    use tract_onnx::pb::OperatorSetIdProto;

    /// A model of one `Attention` node over `inputs`, with 2 heads and a
    /// constant [4, 12] projection, and the nodes `before` it.
    fn model(inputs: &[&str], before: Vec<NodeProto>) -> ModelProto {
        let mut attention = proto::node(
            "attention".into(),
            OPERATOR,
            inputs,
            &["y"],
            vec![int_attr("num_heads", 2)],
        );
        attention.domain = "com.microsoft".into();
        let mut node = before;
        node.push(attention);
        ModelProto {
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 14,
            }],
            graph: Some(GraphProto {
                node,
                initializer: vec![proto::floats("w", &[4, 12], &[0.0; 48])],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
    }

    fn refusal(mut model: ModelProto) -> String {
        expand(&mut model).unwrap_err().to_string()
    }

    #[test]
    fn what_is_not_supported_is_refused_naming_the_node_and_why() {
        let past = refusal(model(&["x", "w", "b", "", "past"], vec![]));
        assert!(past.contains("`attention` is given `past`"), "{past}");
        // A mask from an operator that does not tell its rank.
        let unknown = refusal(model(
            &["x", "w", "b", "m"],
            vec![proto::node("shape".into(), "Shape", &["x"], &["m"], vec![])],
        ));
        assert!(unknown.contains("does not tell"), "{unknown}");
        // A 4-D mask: its rank declared by a reduction keeping its axes.
        let cast = proto::node("cast".into(), "Cast", &["w4"], &["m"], vec![]);
        let mut megatron = model(&["x", "w", "b", "m"], vec![cast]);
        let graph = megatron.graph.as_mut().unwrap();
        graph
            .initializer
            .push(proto::floats("w4", &[1, 1, 1, 1], &[1.0]));
        let four = refusal(megatron);
        assert!(four.contains("a mask of 4 dimensions"), "{four}");
        let uneven = refusal(model(&["x", "v", "b"], vec![]));
        assert!(uneven.contains("not a constant"), "{uneven}");
    }

    #[test]
    fn a_mask_reduced_from_the_attention_mask_has_one_dimension() {
        let mut mask = model(&["x", "w", "b", "ends"], vec![]);
        let graph = mask.graph.as_mut().unwrap();
        graph.input.push(tract_onnx::pb::ValueInfoProto {
            name: "attention_mask".into(),
            r#type: Some(tract_onnx::pb::TypeProto {
                value: Some(tract_onnx::pb::type_proto::Value::TensorType(
                    tract_onnx::pb::type_proto::Tensor {
                        elem_type: DataType::Int64 as i32,
                        shape: Some(tract_onnx::pb::TensorShapeProto {
                            dim: vec![Default::default(), Default::default()],
                        }),
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        });
        graph.initializer.push(proto::int64s("axes", &[1], &[1]));
        let cast = proto::node("cast".into(), "Cast", &["attention_mask"], &["m32"], vec![]);
        let sum = proto::node(
            "sum".into(),
            "ReduceSum",
            &["m32", "axes"],
            &["ends"],
            vec![int_attr("keepdims", 0)],
        );
        assert_eq!(rank_of(graph, "ends", 0), None);
        graph.node.insert(0, sum);
        graph.node.insert(0, cast);
        assert_eq!(rank_of(graph, "ends", 0), Some(1));
        assert_eq!(rank_of(graph, "m32", 0), Some(2));
        expand(&mut mask).unwrap();
        let graph = mask.graph.as_ref().unwrap();
        assert!(!graph.node.iter().any(|n| n.op_type == OPERATOR));
        assert!(
            graph
                .node
                .iter()
                .any(|n| n.output == ["y"] && n.op_type == "Reshape")
        );
    }
}
