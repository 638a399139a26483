//! onnxruntime's own operators (the `com.microsoft` domain) that models
//! arrive with, registered with tract's ONNX parser from our side as the
//! ONNX-ML ones are ([`crate::onnx_ml`]): each computes as onnxruntime's
//! CPU kernel does.
//!
//! - [`dynamic_quantize_lstm`]: `DynamicQuantizeLSTM`, the LSTM of
//!   onnxruntime's dynamic quantization.
//! - [`qlinear`]: the quantized operators of its static quantization
//!   (`QLinearAdd`, `QGemm`, ...), rewritten into standard ONNX before
//!   tract sees the graph rather than registered.
//! - [`attention`]: the `Attention` its transformer optimizer fuses a
//!   BERT-like layer's self-attention into, and [`embed_layer_norm`]: the
//!   `EmbedLayerNormalization` it fuses the embeddings into, each
//!   rewritten the same way.
//!
//! and, of that optimizer's other fused operators, those tract's ONNX
//! parser already computes as onnxruntime does ([`FROM_TRACT`]).

pub(crate) mod attention;
mod dynamic_quantize_lstm;
pub(crate) mod embed_layer_norm;
pub(crate) mod qlinear;

use tract_onnx::Onnx;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

use crate::error::LoadError;
use crate::proto;

/// The `com.microsoft` operators of onnxruntime's transformer optimizer
/// that tract's ONNX parser registers by the same name and computes as
/// onnxruntime's CPU kernels do, checked against onnxruntime on models
/// that optimizer wrote (models/contrib_cases.py): `SkipLayerNormalization`
/// (with and without its bias), `BiasGelu`, `FastGelu` and `Gelu`.
pub const FROM_TRACT: &[&str] = &["SkipLayerNormalization", "BiasGelu", "FastGelu", "Gelu"];

/// Whether this module provides the `com.microsoft` operator `op_type`.
pub fn supports(op_type: &str) -> bool {
    op_type == "DynamicQuantizeLSTM"
        || op_type == attention::OPERATOR
        || op_type == embed_layer_norm::OPERATOR
        || qlinear::OPERATORS.contains(&op_type)
        || FROM_TRACT.contains(&op_type)
}

/// The `com.microsoft` operators onnxruntime's transformer optimizer fuses
/// a transformer's layers into (optimum's `--optimize` exports,
/// `model_O2.onnx` and the like, files saved by an onnxruntime session's
/// graph optimizations) that are not provided: the graph before that
/// fusion runs, so a refusal of one of them says where to get it.
pub const FUSED_BY_ONNXRUNTIME: &[&str] = &[
    "MultiHeadAttention",
    "GroupQueryAttention",
    "RotaryEmbedding",
    "SkipSimplifiedLayerNormalization",
    "SimplifiedLayerNormalization",
    "LayerNormalization",
    "QuickGelu",
    "BiasSplitGelu",
    "BiasAdd",
    "BiasSoftmax",
    "FusedMatMul",
    "FusedConv",
    "NhwcConv",
    "QAttention",
    "QEmbedLayerNormalization",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
];

/// What to do about a model refused for `operators` (each `domain:name`,
/// or a bare name for the default domain), when they say it: operators
/// that onnxruntime's graph optimizations write.
pub fn refusal_hint(operators: &[String]) -> Option<&'static str> {
    operators
        .iter()
        .filter_map(|op| op.strip_prefix("com.microsoft:"))
        .any(|op| FUSED_BY_ONNXRUNTIME.contains(&op))
        .then_some(
            "these are operators onnxruntime's graph optimizations fuse a model's layers into; \
             build the model as exported, before that optimization (optimum: export without \
             --optimize, the model.onnx beside model_O*.onnx; onnxruntime: the file given to the \
             session, not its optimized_model_filepath)",
        )
}

/// Where a rewrite writes one node's replacement: after the nodes before
/// it, with the graph's constants, in a model of this opset.
pub(crate) struct Target<'g> {
    pub(crate) opset: i64,
    pub(crate) nodes: &'g mut Vec<NodeProto>,
    pub(crate) initializers: &'g mut Vec<TensorProto>,
}

/// What rewrites one node: given it, what `survey` read of its graph, and
/// where to write.
type Rewrite<'r, S> = dyn Fn(&NodeProto, &S, Target<'_>) -> Result<(), LoadError> + 'r;

/// Rewrites every `com.microsoft` node whose operator `ours` names, in the
/// model's graphs (nested ones first), into standard ONNX in its place:
/// `survey` reads each graph whole before its nodes are taken apart, and
/// `rewrite` writes each node's replacement.
fn rewrite<S>(
    model: &mut ModelProto,
    ours: &dyn Fn(&str) -> bool,
    survey: &dyn Fn(&GraphProto) -> S,
    rewrite: &Rewrite<S>,
) -> Result<(), LoadError> {
    let opset = proto::default_opset(model);
    match model.graph.as_mut() {
        Some(graph) => rewrite_graph(graph, opset, ours, survey, rewrite),
        None => Ok(()),
    }
}

fn rewrite_graph<S>(
    graph: &mut GraphProto,
    opset: i64,
    ours: &dyn Fn(&str) -> bool,
    survey: &dyn Fn(&GraphProto) -> S,
    rewrite: &Rewrite<S>,
) -> Result<(), LoadError> {
    for nested in proto::subgraphs_mut(graph) {
        rewrite_graph(nested, opset, ours, survey, rewrite)?;
    }
    let is_ours = |node: &NodeProto| node.domain == "com.microsoft" && ours(&node.op_type);
    if !graph.node.iter().any(is_ours) {
        return Ok(());
    }
    let surveyed = survey(graph);
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        if is_ours(&node) {
            let target = Target {
                opset,
                nodes: &mut nodes,
                initializers: &mut graph.initializer,
            };
            rewrite(&node, &surveyed, target)?;
        } else {
            nodes.push(node);
        }
    }
    graph.node = nodes;
    Ok(())
}

/// The error for a `com.microsoft` node this module cannot rewrite, and why.
fn refused(node: &NodeProto, why: &str) -> LoadError {
    LoadError::Unsupported(format!(
        "com.microsoft:{} node `{}` {why}",
        node.op_type, node.name
    ))
}

/// Adds the operators of this module to a tract ONNX parser.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(
        "DynamicQuantizeLSTM",
        dynamic_quantize_lstm::dynamic_quantize_lstm,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_for_fused_operators_says_where_the_unfused_model_is() {
        let fused = refusal_hint(&["Erf".into(), "com.microsoft:QAttention".into()]);
        assert!(fused.is_some_and(|hint| hint.contains("before that optimization")));
        let refused =
            crate::LoadError::UnsupportedOperators(vec!["com.microsoft:MultiHeadAttention".into()]);
        assert!(
            refused
                .to_string()
                .contains("optimum: export without --optimize"),
            "{refused}"
        );
        // Another vendor's operator of the same name, or a plain one, is no
        // sign of onnxruntime's optimizer.
        assert_eq!(refusal_hint(&["LayerNormalization".into()]), None);
        assert_eq!(refusal_hint(&["ai.onnx:MultiHeadAttention".into()]), None);
        // What is provided is not in the hint's list.
        assert!(!FUSED_BY_ONNXRUNTIME.iter().any(|&op| supports(op)));
        assert_eq!(refusal_hint(&["com.microsoft:Tokenizer2".into()]), None);
    }
}
