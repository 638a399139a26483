//! Builds the guests the tests and benchmarks use, with the library's
//! guest builder (`crates/wasmodel/build/guest.rs`) and into the same
//! target directory as the engines, after them (the library's build script
//! says where, through `links`): they share what both compile for the host
//! (wit-bindgen's and serde's macros), and the two cargo runs never wait
//! on each other's lock. They are, for `src/lib.rs` to embed:
//! - `hello-http.wasm` (`crates/hello-http`): a hello-world HTTP
//!   component, the baseline of `benches/suite`;
//! - `faulty-http.wasm` (`crates/faulty-http`): an HTTP component that
//!   traps, loops or exhausts its memory on request, for
//!   `tests/serve_faults.rs`;
//! - `example-spin-app.wasm` (`examples/spin-app`): a user's Spin app that
//!   imports a model's predictor, for `tests/spin_app.rs`.
//!
//! Only `cargo test` and `cargo bench` build them (this crate is a
//! dev-dependency), not `cargo build --bin wasmodel`.
//!
//! Each one's variable below (`WASMODEL_HELLO_HTTP_WASM`, ...) set to a
//! wasm file skips its build and uses the file instead.

use std::env;
use std::path::{Path, PathBuf};

#[path = "../wasmodel/build/guest.rs"]
mod guest;

/// (package, output file in `OUT_DIR`, variable naming a prebuilt file)
const GUESTS: [(&str, &str, &str); 3] = [
    (
        "wasmodel-hello-http",
        "hello-http.wasm",
        "WASMODEL_HELLO_HTTP_WASM",
    ),
    (
        "wasmodel-faulty-http",
        "faulty-http.wasm",
        "WASMODEL_FAULTY_HTTP_WASM",
    ),
    (
        "wasmodel-example-spin-app",
        "example-spin-app.wasm",
        "WASMODEL_EXAMPLE_SPIN_APP_WASM",
    ),
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The workspace's root: the guests are its members.
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| fail(&format!("cannot find the workspace's root: {e}")));
    for input in [
        "crates/hello-http",
        "crates/faulty-http",
        "examples/spin-app",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    let target_dir = PathBuf::from(
        env::var_os("DEP_WASMODEL_ENGINES_GUEST_TARGET_DIR")
            .expect("the wasmodel library's build script says where the guests are built"),
    );
    for (package, output, prebuilt_var) in GUESTS {
        println!("cargo:rerun-if-env-changed={prebuilt_var}");
        let wasm = match env::var_os(prebuilt_var) {
            Some(prebuilt) => {
                println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
                PathBuf::from(prebuilt)
            }
            None => guest::build(&guest::Spec {
                root: &root,
                package,
                feature: "",
                target: "wasm32-wasip1",
                rustflags: "-C target-feature=+simd128",
                config: &[],
                target_dir: &target_dir,
            })
            .unwrap_or_else(|why| fail(&why)),
        };
        if let Err(e) = std::fs::copy(&wasm, out_dir.join(output)) {
            fail(&format!("cannot copy {} into OUT_DIR: {e}", wasm.display()));
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
