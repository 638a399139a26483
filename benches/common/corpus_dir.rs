//! Where `models/corpus/fetch.py` puts the corpus of real models, for the
//! corpus test (`tests/corpus.rs`) and the suite's P8 rows: the same rule
//! as fetch.py's. (`#[path]`-included by each.)

use std::path::PathBuf;

/// `$WASMODEL_CORPUS`, else `$XDG_CACHE_HOME/wasmodel/corpus`, else
/// `~/.cache/wasmodel/corpus`; `None` if none of those variables is set.
pub fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WASMODEL_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(cache.join("wasmodel").join("corpus"))
}
