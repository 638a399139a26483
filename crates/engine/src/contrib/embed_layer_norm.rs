//! `com.microsoft:EmbedLayerNormalization`: a BERT's embedding layer as
//! onnxruntime's transformer optimizer fuses it, rewritten before tract
//! sees the graph into the standard ONNX it stands for:
//!
//! ```text
//! sum    = word_embedding[input_ids] + position_embedding[positions] (+ segment_embedding[segment_ids])
//! output = LayerNormalization(sum, gamma, beta, last axis, epsilon)
//! ```
//!
//! as onnxruntime's CPU kernel computes it: the positions are
//! `position_ids` if given ([batch, sequence] or [1, sequence]), else
//! 0..sequence; its second output, the `mask_index` the optimizer feeds
//! each `Attention`, counts each row's ones in `mask` (zeros without a
//! mask); its third is `sum`. Ids out of their table's range are an
//! input error, as in onnxruntime (the engine checks a caller's indices
//! into every `Gather`).

use tract_onnx::pb::{ModelProto, NodeProto, tensor_proto::DataType};

use super::{Target, refused};
use crate::error::LoadError;
use crate::proto::{self, Builder, float_attribute, input, int_attr, ints_attr};

/// The operator rewritten here (domain `com.microsoft`).
pub(crate) const OPERATOR: &str = "EmbedLayerNormalization";

/// Rewrites every `com.microsoft:EmbedLayerNormalization` of the model's
/// graphs (nested ones included) into standard ONNX.
pub(crate) fn expand(proto: &mut ModelProto) -> Result<(), LoadError> {
    super::rewrite(proto, &|op| op == OPERATOR, &|_| (), &|node, (), target| {
        expand_node(node, target)
    })
}

fn expand_node(node: &NodeProto, target: Target) -> Result<(), LoadError> {
    let Target {
        opset,
        nodes,
        initializers,
    } = target;
    let required = |k: usize, what: &str| {
        input(node, k).ok_or_else(|| refused(node, &format!("lacks its {what}")))
    };
    let ids = required(0, "input_ids")?;
    let words = required(2, "word_embedding")?;
    let position_table = required(3, "position_embedding")?;
    let gamma = required(5, "gamma")?;
    let segments = match (input(node, 1), input(node, 4)) {
        (Some(ids), Some(table)) => Some((ids, table)),
        (None, None) => None,
        _ => {
            return Err(refused(
                node,
                "has segment ids without their table or a table without ids",
            ));
        }
    };
    let output = |k: usize| node.output.get(k).filter(|o| !o.is_empty());
    let normalized = output(0).ok_or_else(|| refused(node, "has no output"))?;
    let epsilon = float_attribute(node, "epsilon").unwrap_or(1e-12);

    let mut b = Builder::new(
        nodes,
        initializers,
        format!("{normalized}/wasmodel.embed_layer_norm."),
    );
    let positions = match input(node, 8) {
        Some(position_ids) => position_ids.to_owned(),
        None => {
            let sequence = b.axis_length(ids, 1);
            b.positions(&sequence)
        }
    };
    let word = b.op("Gather", &[words, ids], vec![int_attr("axis", 0)]);
    let position = b.op(
        "Gather",
        &[position_table, &positions],
        vec![int_attr("axis", 0)],
    );
    let mut sum = b.op("Add", &[&word, &position], vec![]);
    if let Some((segment_ids, table)) = segments {
        let segment = b.op("Gather", &[table, segment_ids], vec![int_attr("axis", 0)]);
        sum = b.op("Add", &[&sum, &segment], vec![]);
    }
    let mut norm_inputs = vec![sum.as_str(), gamma];
    norm_inputs.extend(input(node, 6));
    b.op_into(
        "LayerNormalization",
        &norm_inputs,
        normalized,
        vec![int_attr("axis", -1), proto::float_attr("epsilon", epsilon)],
    );
    if let Some(embedding_sum) = output(2) {
        b.op_into("Identity", &[&sum], embedding_sum, vec![]);
    }
    if let Some(mask_index) = output(1) {
        // Each row's ones in the mask; without one, nothing (zeros).
        let ones = match input(node, 7) {
            Some(mask) => {
                let mask = b.op(
                    "Cast",
                    &[mask],
                    vec![int_attr("to", DataType::Int64 as i64)],
                );
                let one = b.index("one", 1);
                b.op("Equal", &[&mask, &one], vec![])
            }
            None => b.op("Less", &[ids, ids], vec![]),
        };
        let counts = b.op(
            "Cast",
            &[&ones],
            vec![int_attr("to", DataType::Int32 as i64)],
        );
        let keepdims = int_attr("keepdims", 0);
        if opset < 13 {
            let axes = ints_attr("axes", &[1]);
            b.op_into("ReduceSum", &[&counts], mask_index, vec![axes, keepdims]);
        } else {
            let axes = b.constant("axes", &[1]);
            b.op_into("ReduceSum", &[&counts, &axes], mask_index, vec![keepdims]);
        }
    }
    Ok(())
}
