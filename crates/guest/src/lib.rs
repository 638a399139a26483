//! The guest side of a model component: the engine holding one model, in one
//! of three flavours chosen by cargo feature.
//!
//! - `predictor` (for `wasm32-unknown-unknown`): the `wasmodel:model/predictor`
//!   interface of `wit/wasmodel.wit`, a component that imports nothing.
//! - `http` (also for `wasm32-unknown-unknown`): a `wasi:http` handler that
//!   answers the Open Inference Protocol v2 (`wasmodel-oip`), for Spin and
//!   `wasmtime serve` (the `wasi:http/proxy` world).
//! - `fastly` (also for `wasm32-unknown-unknown`): the same protocol for
//!   Fastly Compute, a core module over Fastly's hostcalls (Fastly runs
//!   its own world, not `wasi:http/proxy`).
//!
//! Each only converts between its interface and the engine, and never panics
//! across the boundary: every failure becomes a typed error or an HTTP error
//! response.
//!
//! The model arrives once, at build time: `wasmodel build` instantiates the
//! module, copies the ONNX bytes into its memory, calls `wasmodel-init`
//! (see [`init`]), and snapshots the memory (Wizer), so the parsed and
//! optimized model is part of the component and a fresh instance never
//! parses anything (unless built with `--no-preinit`, to measure that).

mod alloc;
mod init;

pub use init::model;

#[cfg(feature = "fastly")]
mod fastly;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "predictor")]
mod predictor;
