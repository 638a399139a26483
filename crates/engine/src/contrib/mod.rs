//! onnxruntime's own operators (the `com.microsoft` domain) that models
//! arrive with, registered with tract's ONNX parser from our side as the
//! ONNX-ML ones are ([`crate::onnx_ml`]): each computes as onnxruntime's
//! CPU kernel does.
//!
//! - [`dynamic_quantize_lstm`]: `DynamicQuantizeLSTM`, the LSTM of
//!   onnxruntime's dynamic quantization.

mod dynamic_quantize_lstm;

use tract_onnx::Onnx;

/// The `com.microsoft` operators this module provides.
pub const OPERATORS: &[&str] = &["DynamicQuantizeLSTM"];

/// Adds the operators of this module to a tract ONNX parser.
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert(
        "DynamicQuantizeLSTM",
        dynamic_quantize_lstm::dynamic_quantize_lstm,
    );
}
