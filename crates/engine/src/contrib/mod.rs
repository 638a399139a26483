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

/// Adds the operators of this module to a tract ONNX parser.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(
        "DynamicQuantizeLSTM",
        dynamic_quantize_lstm::dynamic_quantize_lstm,
    );
}
