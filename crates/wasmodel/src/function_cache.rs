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
//!
//! The packs of a configuration are kept under [`MAX_PACK_BYTES`] in all.
//! Every wasmodel release brings engines whose functions are mostly new,
//! and the functions of an engine no longer in use are never asked for
//! again; yet each compile reads every pack into memory. Unbounded, a
//! development machine's packs had grown to 2.3 GB, all of it read by
//! every compile of a new model. Past the limit, a compile keeps only the
//! functions it used
//! (found or made): one pack, about one engine's worth; the engines of
//! other flavours are compiled whole on their next use.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
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
/// The size a directory's packs are kept under: room for the four engine
/// flavours' functions (about 60 MB each) and some of a release's.
const MAX_PACK_BYTES: u64 = 384 << 20;

#[derive(Debug)]
pub(crate) struct FunctionCache {
    /// Where packs go: set by [`FunctionCache::bind`] once the engine (and
    /// its configuration hash) exists; never, for a cache in memory only.
    dir: OnceLock<PathBuf>,
    base: Option<PathBuf>,
    /// Keep the functions in memory between compiles.
    keep: bool,
    /// The packs' size limit ([`MAX_PACK_BYTES`]).
    max_bytes: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Vec<u8>, Vec<u8>>,
    /// Whether the packs on disk have been read into `entries`.
    loaded: bool,
    /// The packs on disk, read or written, with their sizes: merged when
    /// there are too many, pruned when they are too big.
    packs: Vec<(PathBuf, u64)>,
    /// Keys inserted since the last pack was written.
    new: Vec<Vec<u8>>,
    /// Keys found since the last compile ended.
    used: HashSet<Vec<u8>>,
}

impl FunctionCache {
    /// A cache kept in `base` (a compile cache directory), in memory
    /// between compiles if `keep`; with neither, it does nothing useful.
    pub(crate) fn new(base: Option<PathBuf>, keep: bool) -> FunctionCache {
        FunctionCache {
            dir: OnceLock::new(),
            base,
            keep,
            max_bytes: MAX_PACK_BYTES,
            state: Mutex::default(),
        }
    }

    /// The same cache with its packs kept under `bytes`.
    #[cfg(test)]
    fn with_max_bytes(self, bytes: u64) -> FunctionCache {
        FunctionCache {
            max_bytes: bytes,
            ..self
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
    /// `persist`), merges or prunes the packs (see the module's
    /// documentation), and lets go of them all unless they are kept in
    /// memory. Never fails: this is a cache, and a write that fails costs
    /// only a later compile.
    pub(crate) fn finish_compile(&self, persist: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(dir) = self.dir.get()
            && persist
        {
            self.write_packs(dir, &mut state);
        }
        state.new.clear();
        state.used.clear();
        if !self.keep {
            *state = State::default();
        }
    }

    fn write_packs(&self, dir: &Path, state: &mut State) {
        // A compile that asked nothing (its code came whole from the
        // compile cache) says nothing about which functions are in use.
        if state.used.is_empty() && state.new.is_empty() {
            return;
        }
        let on_disk: u64 = state.packs.iter().map(|(_, size)| size).sum();
        let new_bytes: u64 = state
            .new
            .iter()
            .filter_map(|k| Some(pack_record_len(k, state.entries.get(k)?)))
            .sum();
        let (keys, replace): (Vec<&Vec<u8>>, bool) = if on_disk + new_bytes > self.max_bytes {
            // Too big: keep what this compile used, as one pack.
            let mut keys: Vec<&Vec<u8>> = state.used.iter().chain(&state.new).collect();
            keys.sort_unstable();
            keys.dedup();
            (keys, true)
        } else if state.new.is_empty() {
            return;
        } else if state.packs.len() >= MAX_PACKS {
            (state.entries.keys().collect(), true)
        } else {
            (state.new.iter().collect(), false)
        };
        let records: Vec<(&[u8], &[u8])> = keys
            .into_iter()
            .filter_map(|k| Some((k.as_slice(), state.entries.get(k)?.as_slice())))
            .collect();
        let Ok(written) = write_pack(dir, &records) else {
            return;
        };
        if replace {
            for (old, _) in &state.packs {
                if *old != written.0 {
                    let _ = std::fs::remove_file(old);
                }
            }
            state.packs.clear();
        }
        state.packs.retain(|(path, _)| *path != written.0);
        state.packs.push(written);
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
            let bytes = std::fs::read(&path).ok();
            let size = bytes.as_ref().map_or(0, |b| b.len() as u64);
            match bytes.and_then(|b| read_pack(&b)) {
                Some(records) => {
                    for (key, value) in records {
                        state.entries.entry(key).or_insert(value);
                    }
                    state.packs.push((path, size));
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
        let value = state.entries.get(key).map(|value| value.to_vec())?;
        state.used.insert(key.to_vec());
        Some(Cow::Owned(value))
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

/// What a record adds to a pack's size.
fn pack_record_len(key: &[u8], value: &[u8]) -> u64 {
    (8 + key.len() + value.len()) as u64
}

/// Writes records as a pack in `dir`, named by its contents' hash; returns
/// its path and size.
fn write_pack(dir: &Path, records: &[(&[u8], &[u8])]) -> std::io::Result<(PathBuf, u64)> {
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
    std::fs::rename(&tmp, &path)?;
    Ok((path, bytes.len() as u64))
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

    fn packs_in(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir.join("functions"))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn past_the_size_limit_only_the_functions_a_compile_used_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = |keep| {
            let cache = FunctionCache::new(Some(dir.path().to_owned()), keep).with_max_bytes(3300);
            cache.bind("c");
            cache
        };
        // Three compiles of other engines, 1000 bytes of functions each (a
        // pack of 1053 bytes): under the limit, each its own pack.
        for engine in 0..3u8 {
            let c = cache(false);
            for f in 0..4u8 {
                let key = [engine, f];
                assert!(c.get(&key).is_none());
                c.insert(&key, vec![engine; 240]);
            }
            c.finish_compile(true);
        }
        assert_eq!(packs_in(dir.path()).len(), 3);

        // A compile that uses two functions of engine 1 and makes one: the
        // packs would pass the limit (3159 + 250 bytes), so only those
        // three functions are kept.
        let c = cache(false);
        assert!(c.get(&[1, 0]).is_some());
        assert!(c.get(&[1, 3]).is_some());
        assert!(c.get(&[9, 9]).is_none());
        c.insert(&[9, 9], vec![9; 240]);
        c.finish_compile(true);
        assert_eq!(packs_in(dir.path()).len(), 1);

        let c = cache(true);
        for key in [[1, 0], [1, 3], [9, 9]] {
            assert!(c.get(&key).is_some(), "{key:?} was used, and kept");
        }
        for key in [[0, 0], [1, 1], [2, 3]] {
            assert!(c.get(&key).is_none(), "{key:?} was not used, and let go");
        }
        // A compile that asked for nothing keeps everything.
        c.finish_compile(true);
        let c = cache(false);
        c.finish_compile(true);
        assert_eq!(packs_in(dir.path()).len(), 1);
        assert!(cache(false).get(&[9, 9]).is_some());
    }
}
