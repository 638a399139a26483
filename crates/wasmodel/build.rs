//! Builds the two flavours of the engine guest (`crates/guest`) and hands
//! them to `src/` to embed, so `wasmodel build` needs no Rust or wasm
//! toolchain on the user's machine:
//! - `engine.wasm`: the predictor, for `wasm32-unknown-unknown` (imports
//!   nothing);
//! - `engine-http.wasm`: the HTTP component (`wasi:http/proxy`), for the
//!   same target, so the two share every dependency's build (tract is
//!   compiled for wasm once);
//! - `engine-fastly.wasm`: the same protocol for Fastly Compute (a core
//!   module over Fastly's hostcalls), for the same target again: only the
//!   guest crate itself is built once more;
//! - `engine-relaxed.wasm`, `engine-http-relaxed.wasm`: the first two with
//!   relaxed SIMD's fused multiply-add in the matrix products, for
//!   `wasmodel build --relaxed-simd` (they share every dependency's build
//!   with the two above: only the engine's own crates are built again).
//!
//! The tests' own guests are built by `crates/test-guests/build.rs`, with
//! the same `build/guest.rs` and target directory.
//!
//! `build/guest.rs` runs cargo for them with whichever wasm toolchain this
//! machine has (rustup's targets, or Debian's `rustc-web`). The five
//! engines are written zlib-compressed (`engine.wasm.zlib`, ...), which
//! takes the `wasmodel` binary's share of them from about 111 MB to 26 MB;
//! `src/engines.rs` inflates one when a build first needs it.
//!
//! Each guest's `prebuilt_var` below (`WASMODEL_ENGINE_WASM`,
//! `WASMODEL_HTTP_ENGINE_WASM`, `WASMODEL_FASTLY_ENGINE_WASM`,
//! `WASMODEL_RELAXED_ENGINE_WASM`,
//! `WASMODEL_RELAXED_HTTP_ENGINE_WASM`, ...) set to a wasm file skips that
//! build and embeds the file instead (for packagers who build the engines
//! separately).
//!
//! It also lists the WIT files under `wit/` for `src/wit.rs` to embed.

use std::env;
use std::path::{Path, PathBuf};

#[path = "build/guest.rs"]
mod guest;

/// One wasm guest to build.
struct Guest {
    package: &'static str,
    /// Cargo features that select the flavour, comma-separated, if any.
    feature: &'static str,
    target: &'static str,
    /// Guest-only flags: wasm SIMD for tract's kernels, plus the target's.
    rustflags: &'static str,
    /// File name in `OUT_DIR`, embedded by `src/engines.rs`.
    output: &'static str,
    /// Whether `output` is written zlib-compressed, with `.zlib` appended.
    compressed: bool,
    /// Environment variable naming a prebuilt file to use instead.
    prebuilt_var: &'static str,
}

const GUESTS: [Guest; 5] = [
    Guest {
        package: "wasmodel-guest",
        feature: "predictor",
        target: "wasm32-unknown-unknown",
        // No source of randomness: the component imports nothing, so there
        // is none to have.
        rustflags: "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"",
        output: "engine.wasm",
        compressed: true,
        prebuilt_var: "WASMODEL_ENGINE_WASM",
    },
    Guest {
        package: "wasmodel-guest",
        feature: "http",
        target: "wasm32-unknown-unknown",
        rustflags: "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"",
        output: "engine-http.wasm",
        compressed: true,
        prebuilt_var: "WASMODEL_HTTP_ENGINE_WASM",
    },
    Guest {
        package: "wasmodel-guest",
        feature: "fastly",
        target: "wasm32-unknown-unknown",
        rustflags: "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"",
        output: "engine-fastly.wasm",
        compressed: true,
        prebuilt_var: "WASMODEL_FASTLY_ENGINE_WASM",
    },
    Guest {
        package: "wasmodel-guest",
        feature: "predictor,relaxed-simd",
        target: "wasm32-unknown-unknown",
        rustflags: "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"",
        output: "engine-relaxed.wasm",
        compressed: true,
        prebuilt_var: "WASMODEL_RELAXED_ENGINE_WASM",
    },
    Guest {
        package: "wasmodel-guest",
        feature: "http,relaxed-simd",
        target: "wasm32-unknown-unknown",
        rustflags: "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"",
        output: "engine-http-relaxed.wasm",
        compressed: true,
        prebuilt_var: "WASMODEL_RELAXED_HTTP_ENGINE_WASM",
    },
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The workspace's root: the guests are its members, and `wit/` (the
    // one source of the interfaces) is there.
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| fail(&format!("cannot find the workspace's root: {e}")));
    embed_wit(&root, &out_dir);
    // What the guests are built from.
    for input in [
        "crates/engine",
        "crates/kernels",
        "crates/oip",
        "crates/guest",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("engine");
    for guest in &GUESTS {
        build_guest(guest, &root, &target_dir, &out_dir);
    }
    // For `crates/test-guests`' build script (see `links` in Cargo.toml).
    println!("cargo:guest_target_dir={}", target_dir.display());
}

fn build_guest(guest: &Guest, root: &Path, target_dir: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-env-changed={}", guest.prebuilt_var);
    if let Some(prebuilt) = env::var_os(guest.prebuilt_var) {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        return embed(guest, Path::new(&prebuilt), out_dir);
    }

    let built = guest::build(&guest::Spec {
        root,
        package: guest.package,
        feature: guest.feature,
        target: guest.target,
        rustflags: guest.rustflags,
        config: &[],
        target_dir,
    })
    .unwrap_or_else(|why| fail(&why));
    embed(guest, &built, out_dir);
}

/// Puts `wasm` into `OUT_DIR` as `guest.output`, compressed if asked.
fn embed(guest: &Guest, wasm: &Path, out_dir: &Path) {
    let bytes = std::fs::read(wasm)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", wasm.display())));
    let (out, bytes) = if guest.compressed {
        (
            out_dir.join(format!("{}.zlib", guest.output)),
            miniz_oxide::deflate::compress_to_vec_zlib(&bytes, 6),
        )
    } else {
        (out_dir.join(guest.output), bytes)
    };
    if let Err(e) = std::fs::write(&out, bytes) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
}

/// Writes `wit_files.rs`: every `.wit` file under `wit/` as
/// `(path relative to wit/, contents)`, sorted, for `src/wit.rs`.
fn embed_wit(root: &Path, out_dir: &Path) {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| fail(&format!("cannot list {}: {e}", dir.display())));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "wit") {
                files.push(path);
            }
        }
    }
    let wit = root.join("wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut files = Vec::new();
    walk(&wit, &mut files);
    files.sort();
    let mut code = String::from("&[\n");
    for file in &files {
        let relative = file.strip_prefix(&wit).expect("walked from wit/");
        println!("cargo:rerun-if-changed={}", file.display());
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.display().to_string(),
            file.display().to_string()
        ));
    }
    code.push(']');
    let out = out_dir.join("wit_files.rs");
    if let Err(e) = std::fs::write(&out, code) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
