//! A softmax over dequantized values, kept a softmax.
//!
//! Quantized models run a softmax on real values between a
//! `DequantizeLinear` and a `QuantizeLinear`: onnxruntime's QDQ format
//! writes it so, and so does [`contrib::qlinear`](crate::contrib::qlinear)
//! for `QLinearSoftmax`. tract 0.23.9 folds a chain of one-input operators
//! between a scalar `DequantizeLinear` and a `QuantizeLinear` into a
//! 256-entry lookup table, and takes an operator for element-wise when
//! each of its axes maps to itself, which is true of a softmax too: the
//! table it computes is the softmax of the 256 levels, and every
//! probability comes out near 1. (The fold belongs in tract's
//! `DequantizeLinearF32::declutter`, which should also ask that the
//! operators be element-wise.)
//!
//! So the `DequantizeLinear` in front of a `Softmax` or `LogSoftmax` is
//! written here as what it computes, `(Cast(x) − Cast(zero_point)) ×
//! scale`, which tract does not fold. Only a scalar (per-tensor) one needs
//! it, and its scale is an initializer, as quantizers write it: tract
//! lowers a per-axis one to that arithmetic itself.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, tensor_proto::DataType};

use crate::proto::{self, int_attr, node};

/// Rewrites, in every graph of the model (nested ones included), each
/// per-tensor `DequantizeLinear` whose result a softmax reads.
pub(crate) fn rewrite(proto: &mut ModelProto) {
    if let Some(graph) = proto.graph.as_mut() {
        rewrite_graph(graph);
    }
}

fn is_standard(node: &NodeProto, op_type: &str) -> bool {
    proto::is_standard(node) && node.op_type == op_type
}

fn rewrite_graph(graph: &mut GraphProto) {
    for nested in proto::subgraphs_mut(graph) {
        rewrite_graph(nested);
    }
    let read_by_softmax: HashSet<&str> = graph
        .node
        .iter()
        .filter(|n| is_standard(n, "Softmax") || is_standard(n, "LogSoftmax"))
        .filter_map(|n| n.input.first().map(String::as_str))
        .collect();
    let sizes: HashMap<&str, usize> = graph
        .initializer
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.dims.iter().product::<i64>().max(0) as usize,
            )
        })
        .collect();
    let rewritten: Vec<usize> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            is_standard(n, "DequantizeLinear")
                && n.output
                    .first()
                    .is_some_and(|o| read_by_softmax.contains(o.as_str()))
                // Per tensor: a scale that is one number.
                && n.input.get(1).and_then(|s| sizes.get(s.as_str())) == Some(&1)
        })
        .map(|(k, _)| k)
        .collect();
    for &k in rewritten.iter().rev() {
        let dequantize = graph.node.remove(k);
        let nodes = arithmetic(&dequantize);
        graph.node.splice(k..k, nodes);
    }
}

/// `(Cast(x) − Cast(zero_point)) × scale`, into the `DequantizeLinear`'s
/// output.
fn arithmetic(dequantize: &NodeProto) -> Vec<NodeProto> {
    let output = &dequantize.output[0];
    let (x, scale) = (&dequantize.input[0], &dequantize.input[1]);
    let to_float = || vec![int_attr("to", DataType::Float as i64)];
    let name = |step: &str| format!("{output}/wasmodel.dequantize.{step}");
    let mut nodes = vec![node(name("x"), "Cast", &[x], &[&name("x")], to_float())];
    let mut value = name("x");
    if let Some(zero_point) = dequantize.input.get(2).filter(|z| !z.is_empty()) {
        nodes.push(node(
            name("zero_point"),
            "Cast",
            &[zero_point],
            &[&name("zero_point")],
            to_float(),
        ));
        nodes.push(node(
            name("centred"),
            "Sub",
            &[&value, &name("zero_point")],
            &[&name("centred")],
            Vec::new(),
        ));
        value = name("centred");
    }
    nodes.push(node(
        name("scaled"),
        "Mul",
        &[&value, scale],
        &[output],
        Vec::new(),
    ));
    nodes
}
