//! `--engines`: the predictor engine of `wasmodel build --relaxed-simd`,
//! and the engine built other ways (without SIMD, optimized for size in
//! whole or in part), timed against the one wasmodel embeds by default
//! (wasm `simd128`, `opt-level = 3`), so that what each choice gains or
//! costs is measured rather than assumed.
//!
//! The relaxed-SIMD engine is embedded in wasmodel and timed in every run,
//! as is the embedded engine's code compiled by Winch, wasmtime's baseline
//! compiler (`--compiler winch`), in place of Cranelift; the others are
//! built here, from `crates/guest`, the way `crates/wasmodel/build.rs`
//! builds the embedded engines (`crates/wasmodel/build/guest.rs`): minutes each the first
//! time, then cargo keeps them in `target/engine-variants/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use wasmodel::Compiler;

#[path = "../../crates/wasmodel/build/guest.rs"]
mod guest;

/// An engine module built another way, or compiled by another compiler.
pub struct Variant {
    pub name: &'static str,
    pub engine: Arc<[u8]>,
    /// The compiler that makes machine code of the component.
    pub compiler: Compiler,
}

/// A way to build the engine: name, target features, cargo settings.
type Recipe = (&'static str, &'static str, &'static [&'static str]);

/// The variants built here. The rest of the flags are the embedded
/// predictor's (see `crates/wasmodel/build.rs`): no source of randomness.
const BUILT: [Recipe; 3] = [
    // tract's generic Rust kernels, as LLVM compiles them without vectors.
    ("scalar", "", &[]),
    // The same code as the embedded engine, optimized for size.
    (
        "size",
        "-C target-feature=+simd128",
        &[
            "profile.engine.opt-level=\"s\"",
            "profile.engine.codegen-units=1",
        ],
    ),
    // Optimized for size but for the crates that hold the hot loops:
    // tract's kernels (`tract-linalg`) and operators (`tract-core`).
    (
        "mixed",
        "-C target-feature=+simd128",
        &[
            "profile.engine.opt-level=\"s\"",
            "profile.engine.codegen-units=1",
            "profile.engine.package.tract-linalg.opt-level=3",
            "profile.engine.package.tract-core.opt-level=3",
        ],
    ),
];

/// `wasmodel build --relaxed-simd`'s engine, embedded in wasmodel: our
/// matrix tile with `f32x4.relaxed_madd`, which wasmtime turns into a fused
/// multiply-add where the CPU has one. Timed in every run.
pub fn relaxed() -> anyhow::Result<Variant> {
    Ok(Variant {
        name: "relaxed",
        engine: wasmodel::engine_wasm(wasmodel::Flavour::Predictor, true)?.into(),
        compiler: Compiler::Cranelift,
    })
}

/// The embedded engine, compiled by Winch.
pub fn winch() -> anyhow::Result<Variant> {
    Ok(Variant {
        name: "winch",
        engine: wasmodel::engine_wasm(wasmodel::Flavour::Predictor, false)?.into(),
        compiler: Compiler::Winch,
    })
}

/// The variants built here (or found up to date), for `--engines`.
pub fn build(repo: &Path) -> anyhow::Result<Vec<Variant>> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
        .join("engine-variants");
    BUILT
        .iter()
        .map(|&(name, features, config)| {
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
                config,
                target_dir: &target_dir.join(name),
            })
            .map_err(anyhow::Error::msg)?;
            let engine = std::fs::read(&built)
                .with_context(|| format!("cannot read {}", built.display()))?;
            Ok(Variant {
                name,
                engine: engine.into(),
                compiler: Compiler::Cranelift,
            })
        })
        .collect()
}
