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

use std::hash::Hasher;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::Error;

/// Where compiled components (`.cwasm`) are kept.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir`, created when first written.
    pub fn new(dir: impl Into<PathBuf>) -> CompileCache {
        CompileCache { dir: dir.into() }
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
        if let Err(e) = stored {
            warn_once(&self.dir, &e);
        }
        Ok(compiled)
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

    fn entry(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let config = stable_hash(engine.precompile_compatibility_hash());
        let name = format!("{:x}-{config}.cwasm", Sha256::digest(wasm));
        self.dir.join(name)
    }
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
