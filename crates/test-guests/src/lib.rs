//! The wasm guests the tests and benchmarks use, as bytes; `build.rs`
//! builds them for `wasm32-wasip1`.

/// `crates/hello-http`: a hello-world spin-sdk HTTP component, the floor of
/// the suite's HTTP measurements.
pub const HELLO_HTTP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hello-http.wasm"));

/// `crates/faulty-http`: an HTTP component that traps, loops or exhausts its
/// memory on request (`tests/serve_faults.rs`).
pub const FAULTY_HTTP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/faulty-http.wasm"));

/// `examples/spin-app`: a user's Spin app that imports a model's predictor,
/// as a core module (`tests/spin_app.rs`).
pub const EXAMPLE_SPIN_APP: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/example-spin-app.wasm"));
