//! The `wasmodel` command's library side: what the CLI (`src/main.rs`)
//! needs beyond the `wasmodel` library, kept here so the tests and
//! benchmarks can use it too.
//! - [`cloudflare`]: `wasmodel build --target cloudflare`'s Worker (the
//!   HTTP component transpiled by jco, and its `wasi:http` in JavaScript);
//! - [`serve`]: the HTTP server of `wasmodel serve` (wasmtime-wasi-http on
//!   hyper and tokio);
//! - [`check`]: `wasmodel check`'s steps (made-up inputs, onnxruntime's
//!   reference, the comparison);
//! - [`spin_manifest`]: `wasmodel spin add`'s edit of a `spin.toml`;
//! - [`oci`]: `wasmodel push` and `pull`, components as OCI artifacts;
//! - [`spinkube`]: `wasmodel spin kube`'s SpinApp resource.
//!
//! A program that only builds or runs components needs the `wasmodel`
//! library alone (see `examples/embed`).

pub mod check;
pub mod cloudflare;
pub mod oci;
pub mod serve;
pub mod spin_manifest;
pub mod spinkube;
