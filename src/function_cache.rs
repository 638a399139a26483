//! Cranelift's compiled functions, kept for the life of a [`crate::Runtime`]
//! and reused across components (wasmtime's incremental compilation cache).
//!
//! Every model component carries the same engine code; only the snapshot of
//! its memory (the model) differs. With this store, compiling a second model
//! in the same process reuses the first one's machine code for every
//! function whose body is unchanged, which is all of them: what costs
//! seconds for the first component costs a fraction of that for the next.
//! (Across processes, the on-disk compile cache keeps whole components.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::CacheStore;

/// An in-memory [`CacheStore`], keyed by wasmtime's function keys.
#[derive(Debug, Default)]
pub(crate) struct FunctionCache {
    entries: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).map(|value| Cow::Owned(value.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        match self.entries.lock() {
            Ok(mut entries) => {
                entries.insert(key.to_vec(), value);
                true
            }
            Err(_) => false,
        }
    }
}
