//! `--simd`: the predictor engine built without SIMD and with relaxed SIMD,
//! timed against the one wasmodel embeds (wasm `simd128`), so the gain of
//! each is measured rather than assumed.
//!
//! The variants are built here, from `crates/guest` with other target
//! features, the way `build.rs` builds the embedded engine (minutes each
//! the first time; cargo keeps them in `target/engine-variants/`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

#[path = "../../build/guest.rs"]
mod guest;

/// An engine module built with other target features.
pub struct Variant {
    pub name: &'static str,
    pub engine: Arc<[u8]>,
}

/// Name and target features of each variant, in the order the report
/// shows them. The rest of the flags are the embedded predictor's (see
/// `build.rs`): it has no source of randomness.
const VARIANTS: [(&str, &str); 2] = [
    // tract's generic Rust kernels, as LLVM compiles them without vectors.
    ("scalar", ""),
    // tract's wasm kernels with `f32x4.relaxed_madd`, which wasmtime turns
    // into a fused multiply-add where the CPU has one.
    ("relaxed", "-C target-feature=+simd128,+relaxed-simd"),
];

/// Builds (or finds up to date) every variant.
pub fn build(repo: &Path) -> anyhow::Result<Vec<Variant>> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
        .join("engine-variants");
    VARIANTS
        .iter()
        .map(|&(name, features)| {
            eprintln!(
                "building the {name} engine (minutes the first time, then cached in {})...",
                target_dir.display()
            );
            let rustflags = format!("{features} --cfg getrandom_backend=\"unsupported\"");
            let built = guest::build(&guest::Spec {
                root: repo,
                package: "wasmodel-guest",
                feature: "predictor",
                target: "wasm32-unknown-unknown",
                rustflags: &rustflags,
                target_dir: &target_dir.join(name),
            })
            .map_err(anyhow::Error::msg)?;
            let engine = std::fs::read(&built)
                .with_context(|| format!("cannot read {}", built.display()))?;
            Ok(Variant {
                name,
                engine: engine.into(),
            })
        })
        .collect()
}
