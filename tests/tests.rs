//! The integration tests: one binary, one module per concern.
//!
//! Every model in `models/` is built into a component and run under
//! wasmtime; outputs are compared with onnxruntime's, stored in
//! `tests/fixtures/*.json` by `models/reference.py` (and re-checked against
//! onnxruntime by `scripts/test.sh`).

mod support;

// Outputs and metadata of every model's component match onnxruntime and the
// ONNX file.
mod fixtures;
// The model zoo: scikit-learn, LightGBM and XGBoost exports against
// onnxruntime.
mod zoo;
// Real models as their packages ship them, against onnxruntime.
mod corpus;
// Encoders built with their tokenizer take text: library, CLI, HTTP.
mod text_encoder;
// wasmodel's own wasm kernels against onnxruntime, shape class by shape
// class.
mod kernels;
// Statically quantized models (onnxruntime's QOperator and QDQ forms).
mod quantized;
// Bad inputs, limits and traps: typed errors, and the host keeps serving.
mod errors;
// `wasmodel build` refuses models it cannot run, naming the reason.
mod build;
// The `wasmodel` binary itself.
mod cli;
// `wasmodel serve` and the HTTP component, over a real socket.
mod serve;
// `wasmodel serve` against slow, idle and vanishing clients, and Ctrl-C
// under load.
mod serve_faults;
// `wasmodel build --target cloudflare`: the Worker under workerd.
mod cloudflare;
// `wasmodel build --target fastly`: the module under Viceroy.
mod fastly;
// `wasmodel push` and `pull` against a registry on loopback.
mod oci;
// spin.toml builds and routes the default model.
mod spin;
// A user's own Spin app importing a model: composed, and under `spin up`.
mod spin_app;
