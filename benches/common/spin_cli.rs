//! Where the Spin CLI is, for the benchmarks and the tests that run `spin
//! up`. (`#[path]`-included by `benches/suite` and by `tests/spin_app.rs`.)

use std::path::{Path, PathBuf};

/// The Spin CLI: `spin` on `PATH`, else `../shared/tools/spin` beside the
/// repository `repo` (see that directory's README); it is on no registry.
pub fn find(repo: &Path) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("spin"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let shared = repo.join("../shared/tools/spin");
        shared.is_file().then_some(shared)
    })
}
