//! `wasmodel build`'s first step: an ONNX file parsed, checked (our
//! ONNX-ML operators among them) and optimized by the engine. Any bytes
//! must give a model or a `LoadError`, never a panic out of `Model::load`.
//!
//! No single allocation of over 512 MiB succeeds here. A model may ask for
//! any amount (a `ConstantOfShape` of 2 GiB is folded while loading: the
//! fuzzer wrote one, which `wasmodel build` refuses with its heap limit or
//! in the engine); tract's tensors check for a failed allocation, so such a
//! model must be refused, not take the fuzzer past its 2 GiB of memory.
//! Code that does not check (a `Vec` sized from the input) aborts, which
//! the fuzzer reports.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};

use libfuzzer_sys::fuzz_target;
use wasmodel_engine::Model;

const LARGEST_ALLOCATION: usize = 512 << 20;

struct Capped;

// SAFETY: `System`'s, or a null pointer (a failed allocation) above the cap.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGEST_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGEST_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LARGEST_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic, even one that
        // `Model::load` contains (tract panics on some malformed files,
        // and the engine turns that into a `LoadError`). A panic that
        // escapes `Model::load` still aborts: libfuzzer-sys catches it.
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
        if let Ok(model) = Model::load(data, "fuzzed", "1") {
            // What it reports can be described.
            let info = model.info();
            assert!(!info.outputs.is_empty());
        }
    }
);
