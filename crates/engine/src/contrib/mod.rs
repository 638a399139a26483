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

mod dynamic_quantize_lstm;
pub(crate) mod qlinear;

use tract_onnx::Onnx;

/// Whether this module provides the `com.microsoft` operator `op_type`.
pub fn supports(op_type: &str) -> bool {
    op_type == "DynamicQuantizeLSTM" || qlinear::OPERATORS.contains(&op_type)
}

/// The `com.microsoft` operators onnxruntime's transformer optimizer fuses
/// a transformer's layers into (optimum's `--optimize` exports,
/// `model_O2.onnx` and the like, files saved by an onnxruntime session's
/// graph optimizations). None is provided: the graph before that fusion
/// runs, so a refusal of one of them says where to get it.
pub const FUSED_BY_ONNXRUNTIME: &[&str] = &[
    "Attention",
    "MultiHeadAttention",
    "GroupQueryAttention",
    "RotaryEmbedding",
    "EmbedLayerNormalization",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "SimplifiedLayerNormalization",
    "LayerNormalization",
    "BiasGelu",
    "FastGelu",
    "Gelu",
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
        let fused = refusal_hint(&["Erf".into(), "com.microsoft:SkipLayerNormalization".into()]);
        assert!(fused.is_some_and(|hint| hint.contains("before that optimization")));
        let refused = crate::LoadError::UnsupportedOperators(vec!["com.microsoft:FastGelu".into()]);
        assert!(
            refused
                .to_string()
                .contains("optimum: export without --optimize"),
            "{refused}"
        );
        // Another vendor's operator of the same name, or a plain one, is no
        // sign of onnxruntime's optimizer.
        assert_eq!(refusal_hint(&["LayerNormalization".into()]), None);
        assert_eq!(refusal_hint(&["ai.onnx:Attention".into()]), None);
        assert_eq!(refusal_hint(&["com.microsoft:Tokenizer2".into()]), None);
    }
}
