//! Models as onnxruntime's static quantization (`quantize_static`) writes
//! them, run in components, where tract's wasm int8 kernels compute
//! (`models/contrib_cases.py`; natively, crates/engine/tests/models.rs
//! runs all eight cases): onnxruntime's own quantized operators
//! (`QLinearAdd`, `QGemm`, ... rewritten by
//! `crates/engine/src/contrib/qlinear.rs`) with one scale per channel, and
//! a BERT in QDQ form, whose softmax sits between a `DequantizeLinear` and
//! a `QuantizeLinear` (`crates/engine/src/dequantized_softmax.rs`). Each
//! within one level of its output's scale of onnxruntime's answer.

use crate::support::{assert_outputs_match, build_and_load, fixture, repo};

fn matches_onnxruntime(stem: &str) {
    let fixture = fixture(&format!("contrib/{stem}"));
    let (_, model) = build_and_load(&repo().join(&fixture.model), |builder| builder);
    let outputs = model
        .predict(fixture.inputs.clone())
        .unwrap_or_else(|e| panic!("predict {stem}: {e}"));
    assert_outputs_match(&outputs, &fixture.outputs, fixture.rtol, fixture.atol);
}

#[test]
fn a_cnn_quantized_per_channel_with_onnxruntimes_operators() {
    matches_onnxruntime("static_cnn_per_channel");
}

#[test]
fn a_bert_quantized_with_onnxruntimes_operators() {
    matches_onnxruntime("static_bert_qoperator");
}

#[test]
fn a_bert_quantized_in_qdq_form() {
    matches_onnxruntime("static_bert_qdq");
}
