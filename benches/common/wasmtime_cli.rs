//! Where the wasmtime CLI is, for the benchmarks and the tests that run
//! `wasmtime serve`. (`#[path]`-included by `benches/load` and by
//! `tests/serve.rs`.)

use std::path::{Path, PathBuf};

/// The wasmtime CLI: `$WASMODEL_WASMTIME`, else `wasmtime` on `PATH`, else
/// where `scripts/setup.sh --tests` installs it under `repo`.
pub fn find(repo: &Path) -> Option<PathBuf> {
    std::env::var_os("WASMODEL_WASMTIME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("wasmtime"))
                .find(|p| p.is_file())
        })
        .or_else(|| Some(repo.join(".tools/bin/wasmtime")).filter(|p| p.is_file()))
}
