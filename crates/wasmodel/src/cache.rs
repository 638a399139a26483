//! An on-disk cache of compiled code, so a component is compiled by
//! Cranelift once per machine rather than on every run.
//!
//! Entries are keyed by the SHA-256 of the wasm bytes and by wasmtime's
//! compatibility hash of the engine's configuration, so a wasmtime upgrade
//! or a different configuration never loads stale code. Files are written
//! to a temporary name and renamed, so a reader never sees half a file.
//! Each ends in the CRC-32 of what comes before it, checked before the
//! file is loaded: wasmtime loads compiled code as it finds it, so a
//! damaged byte would otherwise run (a flipped bit in an instruction, or
//! in the model's weights). An entry that fails the check or fails to load
//! (truncated, damaged, foreign) is compiled again and replaced. A cache
//! that cannot be written costs later runs a compile, with a warning, and
//! never the load at hand.
//!
//! The cache has a size limit ([`DEFAULT_CACHE_SIZE`] unless set): each
//! store removes the entries used least recently (by modification time,
//! which a load refreshes) until the `.cwasm` files fit, and temporary
//! files a writer left behind more than an hour ago. Every wasmodel
//! release or retrained model makes new entries, and an entry is tens to
//! hundreds of MB: without a limit the cache grows until the disk is full.

use std::hash::Hasher;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::Error;

/// The size the compile cache's entries are kept under unless told
/// otherwise: 4 GiB, some sixty small models' components or twenty-five
/// of ResNet-18's.
pub const DEFAULT_CACHE_SIZE: u64 = 4 << 30;

/// A temporary file older than this was left by a writer that stopped.
const ABANDONED_WRITE: Duration = Duration::from_secs(3600);

/// Where compiled components (`.cwasm`) are kept.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    max_size: u64,
}

impl CompileCache {
    /// A cache in `dir`, created when first written, kept under
    /// [`DEFAULT_CACHE_SIZE`].
    pub fn new(dir: impl Into<PathBuf>) -> CompileCache {
        CompileCache {
            dir: dir.into(),
            max_size: DEFAULT_CACHE_SIZE,
        }
    }

    /// The same cache, its entries kept under `bytes` in all: past it, a
    /// store removes those used least recently (never the one it stored).
    pub fn with_max_size(self, bytes: u64) -> CompileCache {
        CompileCache {
            max_size: bytes,
            ..self
        }
    }

    /// `$WASMODEL_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmodel`, else
    /// `$HOME/.cache/wasmodel`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("WASMODEL_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("wasmodel")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("wasmodel")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the compiled `wasm` (a component or a core module), compiling
    /// and storing it first if the cache does not hold it yet; `compiling`
    /// is called just before that compilation.
    pub(crate) fn load<T: Compiled>(
        &self,
        engine: &Engine,
        wasm: &[u8],
        compiling: impl FnOnce(),
    ) -> Result<T, Error> {
        let entry = self.entry(engine, wasm);
        if entry.is_file() && checksum_holds(&entry) {
            // SAFETY: the file was written by `serialize` below, under a name
            // that binds it to these exact wasm bytes and to this engine's
            // configuration, in the user's own cache directory, and it is
            // whole. A foreign entry fails to load and is replaced.
            // (wasmtime reads the compiled code's ELF by its headers, so the
            // checksum after it is not in its way.)
            if let Ok(compiled) = unsafe { T::deserialize_file(engine, &entry) } {
                touch(&entry);
                return Ok(compiled);
            }
        }
        compiling();
        let compiled = T::compile(engine, wasm).map_err(Error::Wasmtime)?;
        // A cache that cannot be written (read-only, full, not a
        // directory) costs the next run a compile, not this one its model.
        let stored = compiled
            .serialize()
            .map_err(Error::Wasmtime)
            .and_then(|bytes| self.store(&entry, &bytes));
        match stored {
            Ok(()) => self.trim(&entry),
            Err(e) => warn_once(&self.dir, &e),
        }
        Ok(compiled)
    }

    /// Removes the entries used least recently until the `.cwasm` files
    /// fit in the size limit, never `keep` (the entry just stored), and
    /// abandoned temporary files. Best effort: another process may be
    /// trimming too, and a file already gone is as good as removed. (An
    /// entry a running process has mapped stays readable to it on Unix.)
    fn trim(&self, keep: &Path) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut total = 0u64;
        let mut candidates = Vec::new();
        for item in listing.flatten() {
            let path = item.path();
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            match path.extension().and_then(|e| e.to_str()) {
                Some("cwasm") => {
                    total += meta.len();
                    if path != keep {
                        candidates.push((modified, meta.len(), path));
                    }
                }
                Some(extension)
                    if extension.starts_with("tmp")
                        && modified.elapsed().is_ok_and(|age| age > ABANDONED_WRITE) =>
                {
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
        candidates.sort();
        for (_, len, path) in candidates {
            if total <= self.max_size {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    fn store(&self, entry: &Path, bytes: &[u8]) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(Error::file(&self.dir))?;
        // Unique per process and per call: threads of one process may store
        // the same entry at once, and each rename must find its own file.
        static STORES: AtomicU64 = AtomicU64::new(0);
        let unique = STORES.fetch_add(1, Ordering::Relaxed);
        let tmp = entry.with_extension(format!("tmp{}-{unique}", std::process::id()));
        let checksum = crc32fast::hash(bytes).to_le_bytes();
        let written = std::fs::File::create(&tmp)
            .and_then(|mut file| {
                file.write_all(bytes)?;
                file.write_all(&checksum)
            })
            .map_err(Error::file(&tmp))
            .and_then(|()| std::fs::rename(&tmp, entry).map_err(Error::file(entry)));
        if written.is_err() {
            // No half-written file left behind (a full disk).
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Whether the cache has an entry for `wasm` compiled by `engine`
    /// (not checked: a damaged one is compiled again when loaded).
    pub(crate) fn holds(&self, engine: &Engine, wasm: &[u8]) -> bool {
        self.entry(engine, wasm).is_file()
    }

    fn entry(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let config = stable_hash(engine.precompile_compatibility_hash());
        let name = format!("{:x}-{config}.cwasm", Sha256::digest(wasm));
        self.dir.join(name)
    }
}

/// Marks an entry as just used, for [`CompileCache::trim`]'s order. A cache
/// that cannot be written keeps the old time, which costs at most an
/// earlier removal.
fn touch(entry: &Path) {
    let _ = std::fs::File::options()
        .write(true)
        .open(entry)
        .and_then(|file| file.set_modified(SystemTime::now()));
}

/// Whether the file ends in the CRC-32 of what comes before it. Read in
/// pieces: entries are tens to hundreds of MB.
fn checksum_holds(entry: &Path) -> bool {
    let check = || -> std::io::Result<bool> {
        let mut file = std::fs::File::open(entry)?;
        let Some(content) = file.metadata()?.len().checked_sub(4) else {
            return Ok(false);
        };
        let mut hasher = crc32fast::Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut reader = (&mut file).take(content);
        loop {
            match reader.read(&mut buffer)? {
                0 => break,
                read => hasher.update(&buffer[..read]),
            }
        }
        let mut stored = [0u8; 4];
        file.read_exact(&mut stored)?;
        Ok(u32::from_le_bytes(stored) == hasher.finalize())
    };
    check().unwrap_or(false)
}

/// Says on standard error, once per process, that compiled code is not
/// being kept: each later run compiles again (seconds to tens of seconds).
fn warn_once(dir: &Path, error: &Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: compiled code is not kept, so the next run compiles again: \
             cannot write the compile cache in {} ({error}); set WASMODEL_CACHE_DIR \
             to a writable directory",
            dir.display()
        );
    }
}

/// A value's hash as 16 hex digits that stay the same across Rust releases
/// (for names of cache entries).
pub(crate) fn stable_hash(value: impl std::hash::Hash) -> String {
    let mut hasher = StableHasher(Sha256::new());
    value.hash(&mut hasher);
    hasher.0.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Code wasmtime compiles and can save: a component or a core module.
pub(crate) trait Compiled: Sized {
    /// A component (as opposed to a core module).
    const IS_COMPONENT: bool;
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self>;
    /// # Safety
    /// `path` must hold the output of `serialize` for the same engine.
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
}

impl Compiled for Component {
    const IS_COMPONENT: bool = true;
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        Component::new(engine, wasm)
    }
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe { Component::deserialize_file(engine, path) }
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }
}

impl Compiled for Module {
    const IS_COMPONENT: bool = false;
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        Module::new(engine, wasm)
    }
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe { Module::deserialize_file(engine, path) }
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }
}

/// A `Hasher` whose output does not change between Rust releases, unlike
/// `DefaultHasher`, so cache names stay valid across host rebuilds.
struct StableHasher(Sha256);

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty core module whose bytes (and so its entry) differ by `tag`.
    fn module(tag: u8) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // A custom section: id 0, 5 bytes: a name of 3 bytes, one of data.
        wasm.extend_from_slice(&[0, 5, 3, b't', b'a', b'g', tag]);
        wasm
    }

    fn set_age(path: &Path, seconds: u64) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
            .unwrap();
    }

    /// Loads `tag`'s module; returns whether it was compiled.
    fn load(cache: &CompileCache, engine: &Engine, tag: u8) -> bool {
        let mut compiled = false;
        let _: Module = cache
            .load(engine, &module(tag), || compiled = true)
            .unwrap();
        compiled
    }

    #[test]
    fn a_full_cache_loses_the_entries_used_least_recently() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let unlimited = CompileCache::new(dir.path()).with_max_size(u64::MAX);
        assert!(load(&unlimited, &engine, 1) && load(&unlimited, &engine, 2));
        let (a, b) = (
            unlimited.entry(&engine, &module(1)),
            unlimited.entry(&engine, &module(2)),
        );
        set_age(&a, 300);
        set_age(&b, 200);
        // Entries of the same size: room for two of them.
        let size = std::fs::metadata(&a).unwrap().len();
        assert_eq!(size, std::fs::metadata(&b).unwrap().len());
        let cache = CompileCache::new(dir.path()).with_max_size(2 * size + size / 2);

        let abandoned = dir.path().join("x.cwasm.tmp1-0");
        let writing = dir.path().join("y.cwasm.tmp2-0");
        std::fs::write(&abandoned, "left by a writer that stopped").unwrap();
        std::fs::write(&writing, "being written").unwrap();
        set_age(&abandoned, 2 * 3600);
        std::fs::create_dir(dir.path().join("functions")).unwrap();

        // A, the older, is used again, so B is now the one used least
        // recently, and the third entry takes its place.
        assert!(!load(&cache, &engine, 1), "a hit");
        assert!(load(&cache, &engine, 3));
        assert!(a.is_file(), "the entry used again was removed");
        assert!(!b.exists(), "the entry used least recently was kept");
        assert!(cache.entry(&engine, &module(3)).is_file());
        assert!(!abandoned.exists() && writing.exists());
        assert!(dir.path().join("functions").is_dir());
        assert!(load(&cache, &engine, 2), "B was compiled again");

        // An entry larger than the limit is still kept, alone.
        let tiny = CompileCache::new(dir.path()).with_max_size(1);
        assert!(load(&tiny, &engine, 4));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect();
        assert_eq!(left, [cache.entry(&engine, &module(4))]);
    }
}
