//! The global allocator: the system's, except that while `wasmodel-init`
//! runs, freed memory is zeroed.
//!
//! Parsing and optimizing a model makes several short-lived copies of its
//! weights (the protobuf, the inference graph, the typed graph) before the
//! optimized plan keeps its own. Freed, their bytes would stay in linear
//! memory and be snapshotted into the component: a SqueezeNet component
//! would carry its weights several times over. Zeroed, they cost nothing:
//! the snapshot keeps only non-zero data. After initialization the
//! allocator is the system's, unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

static ZERO_ON_FREE: AtomicBool = AtomicBool::new(false);

/// Zeroes freed memory until the returned guard is dropped.
pub(crate) fn zero_freed_memory() -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            ZERO_ON_FREE.store(false, Ordering::Relaxed);
        }
    }
    ZERO_ON_FREE.store(true, Ordering::Relaxed);
    Guard
}

struct Allocator;

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

// SAFETY: every call is forwarded to `System` with the caller's arguments;
// zeroing writes only within the block being freed, before it is freed.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ZERO_ON_FREE.load(Ordering::Relaxed) {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes.
            unsafe { ptr.write_bytes(0, layout.size()) };
            // Where the system allocator is libc's `free` (wasm32-wasip1,
            // the HTTP engine's target once), LLVM knows it and drops
            // stores to a block about to be freed as dead: the zeroing
            // vanished, and components carried the freed copies of the
            // weights (three for SqueezeNet). An opaque use of the block
            // keeps the stores, whatever the allocator.
            std::hint::black_box(ptr);
        }
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !ZERO_ON_FREE.load(Ordering::Relaxed) {
            // SAFETY: forwarded from the caller.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Move by hand, so that the old block is zeroed if it is freed.
        // SAFETY: the caller guarantees `new_size` is valid for the layout's
        // alignment; the copy stays within both blocks.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}
