//! A cap on the command line's heap, for the commands that load models
//! natively (`build`, `check`, `spin add`).
//!
//! A model can ask tract for any amount of memory while it is loaded: a
//! `ConstantOfShape` of a few billion elements is folded into a constant
//! of that size at load time, and an allocator that overcommits grants it.
//! In the engine such a request meets the instance's memory limit; natively
//! it would meet only the machine's. With a limit set, an allocation that
//! would take the live heap past it ends the process with a message that
//! says so and exit status 1, before the memory is taken. (Rust's own
//! answer to a failed allocation is an abort, which a user would read as a
//! crash.)
//!
//! The count covers the heap only: wasmtime maps instances' linear memory
//! directly, and an instance's memory limit covers that. Until a limit is
//! set, allocations are not counted at all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// The process's allocator.
#[global_allocator]
static HEAP: HeapLimit = HeapLimit::new();

/// Caps the heap at `bytes` from now on.
pub fn set(bytes: usize) {
    HEAP.set(bytes);
}

/// The system allocator, counting live bytes once a limit is set.
pub struct HeapLimit {
    /// Bytes allocated since the limit was set, less those freed (freeing
    /// memory allocated before then can take it below zero).
    live: AtomicIsize,
    limit: AtomicIsize,
    counting: AtomicBool,
    /// Set when the limit is hit: the way out (message, exit) may allocate.
    exceeded: AtomicBool,
}

impl HeapLimit {
    pub const fn new() -> HeapLimit {
        HeapLimit {
            live: AtomicIsize::new(0),
            limit: AtomicIsize::new(isize::MAX),
            counting: AtomicBool::new(false),
            exceeded: AtomicBool::new(false),
        }
    }

    fn set(&self, bytes: usize) {
        self.limit
            .store(isize::try_from(bytes).unwrap_or(isize::MAX), Relaxed);
        self.counting.store(true, Relaxed);
    }

    /// Counts `size` more bytes, or ends the process if that passes the
    /// limit.
    fn take(&self, size: usize) {
        let size = size as isize; // a Layout's size is at most isize::MAX
        let live = self.live.fetch_add(size, Relaxed).saturating_add(size);
        let limit = self.limit.load(Relaxed);
        if live > limit && !self.exceeded.swap(true, Relaxed) {
            exit_over_limit(size, limit);
        }
    }

    fn give_back(&self, size: usize) {
        self.live.fetch_sub(size as isize, Relaxed);
    }

    /// Passes `allocated` on, giving back the `size` bytes counted for it if
    /// the allocation failed (the caller may handle that and go on).
    fn counted(&self, allocated: *mut u8, size: usize) -> *mut u8 {
        if allocated.is_null() && self.counting.load(Relaxed) {
            self.give_back(size);
        }
        allocated
    }
}

/// Says what happened without allocating, and exits.
#[cold]
fn exit_over_limit(size: isize, limit: isize) -> ! {
    let mut message = [0u8; 400];
    let left = {
        let mut cursor = &mut message[..];
        let _ = writeln!(
            cursor,
            "error: out of memory: taking {} MiB more would pass this command's heap limit of \
             {} MiB (--max-build-memory); the model asks for more memory than it may use",
            (size as usize).div_ceil(1 << 20),
            limit >> 20
        );
        cursor.len()
    };
    let _ = std::io::stderr().write_all(&message[..message.len() - left]);
    std::process::exit(1)
}

// SAFETY: every call is passed on to `System` unchanged; only the counting
// is added.
unsafe impl GlobalAlloc for HeapLimit {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.counting.load(Relaxed) {
            self.take(layout.size());
        }
        // SAFETY: the caller's contract is `System`'s.
        self.counted(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.counting.load(Relaxed) {
            self.take(layout.size());
        }
        // SAFETY: as above.
        self.counted(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.counting.load(Relaxed) {
            self.give_back(layout.size());
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above. Counted once it succeeded (a failed one keeps
        // the old block); memory not yet touched costs nothing.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() && self.counting.load(Relaxed) {
            if new_size > layout.size() {
                self.take(new_size - layout.size());
            } else {
                self.give_back(layout.size() - new_size);
            }
        }
        moved
    }
}
