//! Cranelift's compiled functions, reused across components (wasmtime's
//! incremental compilation cache), in memory and on disk.
//!
//! Every model component carries the same engine code; only the snapshot
//! of its memory (the model) differs. So when a component has to be
//! compiled, nearly every function in it has been compiled before, for
//! another model: this store hands wasmtime the machine code it made then,
//! and a retrained model's first run costs a fraction of a full compile.
//!
//! On disk, beside the compile cache's `.cwasm` files, under
//! `functions/<wasmtime's configuration hash>/`, as packs: each compile
//! that made new functions writes one pack of them (to a temporary name,
//! renamed when complete), ending in the SHA-256 of its contents, so a
//! truncated or damaged pack is recognised, removed and its functions
//! compiled again. When a directory holds more than [`MAX_PACKS`] packs,
//! the next compile merges them into one. The packs are read when a
//! compile starts and let go when it ends, unless the runtime keeps them
//! in memory ([`crate::RuntimeOptions::reuse_compiled_functions`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest as _, Sha256};
use wasmtime::CacheStore;

/// The first bytes of a pack.
const MAGIC: &[u8] = b"wasmodel functions 1\n";
/// More packs than this in a directory are merged into one.
const MAX_PACKS: usize = 8;

#[derive(Debug)]
pub(crate) struct FunctionCache {
    /// Where packs go: set by [`FunctionCache::bind`] once the engine (and
    /// its configuration hash) exists; never, for a cache in memory only.
    dir: OnceLock<PathBuf>,
    base: Option<PathBuf>,
    /// Keep the functions in memory between compiles.
    keep: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Vec<u8>, Vec<u8>>,
    /// Whether the packs on disk have been read into `entries`.
    loaded: bool,
    /// The packs read, to merge when there are too many.
    packs: Vec<PathBuf>,
    /// Keys inserted since the last pack was written.
    new: Vec<Vec<u8>>,
}

impl FunctionCache {
    /// A cache kept in `base` (a compile cache directory), in memory
    /// between compiles if `keep`; with neither, it does nothing useful.
    pub(crate) fn new(base: Option<PathBuf>, keep: bool) -> FunctionCache {
        FunctionCache {
            dir: OnceLock::new(),
            base,
            keep,
            state: Mutex::default(),
        }
    }

    /// Chooses the directory for the engine's configuration, so functions
    /// compiled for one configuration (or wasmtime version) are never
    /// handed to another.
    pub(crate) fn bind(&self, configuration: impl Hash) {
        if let Some(base) = &self.base {
            let hash = crate::cache::stable_hash(configuration);
            let _ = self.dir.set(base.join("functions").join(hash));
        }
    }

    /// Ends a compile: writes the functions it made to a new pack (if
    /// `persist`), and lets go of them all unless they are kept in memory.
    /// Never fails: this is a cache, and a write that fails costs only a
    /// later compile.
    pub(crate) fn finish_compile(&self, persist: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(dir) = self.dir.get()
            && persist
            && !state.new.is_empty()
        {
            let merge = state.packs.len() >= MAX_PACKS;
            let keys: Vec<&Vec<u8>> = if merge {
                state.entries.keys().collect()
            } else {
                state.new.iter().collect()
            };
            let records: Vec<(&[u8], &[u8])> = keys
                .into_iter()
                .filter_map(|k| Some((k.as_slice(), state.entries.get(k)?.as_slice())))
                .collect();
            if write_pack(dir, &records).is_ok() && merge {
                for old in &state.packs {
                    let _ = std::fs::remove_file(old);
                }
            }
        }
        state.new.clear();
        if !self.keep {
            *state = State::default();
        }
    }

    fn load(&self, state: &mut State) {
        state.loaded = true;
        let Some(dir) = self.dir.get() else {
            return;
        };
        let Ok(listing) = std::fs::read_dir(dir) else {
            return;
        };
        for path in listing.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|e| e != "pack") {
                continue;
            }
            match std::fs::read(&path).ok().and_then(|b| read_pack(&b)) {
                Some(records) => {
                    for (key, value) in records {
                        state.entries.entry(key).or_insert(value);
                    }
                    state.packs.push(path);
                }
                // Truncated or damaged: its functions will be compiled
                // again and written to a new pack.
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut state = self.state.lock().ok()?;
        if !state.loaded {
            self.load(&mut state);
        }
        state
            .entries
            .get(key)
            .map(|value| Cow::Owned(value.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if state.entries.insert(key.to_vec(), value).is_none() {
            state.new.push(key.to_vec());
        }
        true
    }
}

/// Writes records as a pack in `dir`, named by its contents' hash.
fn write_pack(dir: &Path, records: &[(&[u8], &[u8])]) -> std::io::Result<()> {
    let mut bytes = MAGIC.to_vec();
    for (key, value) in records {
        for part in [*key, *value] {
            let len = u32::try_from(part.len()).map_err(std::io::Error::other)?;
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(part);
        }
    }
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    std::fs::create_dir_all(dir)?;
    let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{name}.pack"));
    // Unique per process and per call, as two threads may write at once.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let unique = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.tmp{}-{unique}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &path)
}

/// The records of a pack, or `None` if it is not a whole, intact pack.
fn read_pack(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let (body, digest) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != digest {
        return None;
    }
    fn take(rest: &mut &[u8]) -> Option<Vec<u8>> {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (part, tail) = tail.split_at_checked(len)?;
        *rest = tail;
        Some(part.to_vec())
    }
    let mut rest = body.strip_prefix(MAGIC)?;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let key = take(&mut rest)?;
        let value = take(&mut rest)?;
        records.push((key, value));
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_persist_across_caches_and_damage_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = FunctionCache::new(Some(dir.path().to_owned()), false);
        first.bind("configuration");
        assert!(first.get(b"f").is_none());
        assert!(first.insert(b"f", b"machine code".to_vec()));
        first.finish_compile(true);

        // Another process, the same configuration: the function is there.
        let second = FunctionCache::new(Some(dir.path().to_owned()), false);
        second.bind("configuration");
        assert_eq!(second.get(b"f").as_deref(), Some(&b"machine code"[..]));
        // Another configuration: it is not.
        let other = FunctionCache::new(Some(dir.path().to_owned()), false);
        other.bind("another configuration");
        assert!(other.get(b"f").is_none());

        // A truncated pack is removed, not read.
        let packs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("functions"))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(packs.len(), 1);
        let bytes = std::fs::read(&packs[0]).unwrap();
        std::fs::write(&packs[0], &bytes[..bytes.len() - 3]).unwrap();
        let third = FunctionCache::new(Some(dir.path().to_owned()), false);
        third.bind("configuration");
        assert!(third.get(b"f").is_none());
        assert!(!packs[0].exists());
    }

    #[test]
    fn many_packs_are_merged_into_one() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=MAX_PACKS {
            let cache = FunctionCache::new(Some(dir.path().to_owned()), false);
            cache.bind("c");
            let key = format!("f{i}").into_bytes();
            assert!(cache.get(&key).is_none());
            cache.insert(&key, vec![i as u8]);
            cache.finish_compile(true);
        }
        let cache = FunctionCache::new(Some(dir.path().to_owned()), true);
        cache.bind("c");
        for i in 0..=MAX_PACKS {
            assert_eq!(
                cache.get(format!("f{i}").as_bytes()).as_deref(),
                Some(&[i as u8][..])
            );
        }
        let packs = std::fs::read_dir(dir.path().join("functions"))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .count();
        assert_eq!(packs, 1, "{MAX_PACKS} packs and one more merge into one");
    }
}
