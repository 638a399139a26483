//! wasm `simd128` kernels for tract, added from outside through
//! tract-linalg's public registries (no fork):
//!
//! - [`mmm`]: f32 matrix-multiplication tiles (`MmmRoutine` entries) and a
//!   dispatch tier (`MmmTier`) above tract's own wasm tier that picks one
//!   for every f32 matrix product of known width above one column; a
//!   product whose width is a symbol (a transformer's tokens) gets another,
//!   preferred over tract's kernels. The tiles were chosen by measuring
//!   whole networks (`scripts/kernel-tiles.sh`, BENCHMARKS.md "Matrix
//!   tiles", and suite P9); the `candidates` feature adds the tiles they
//!   were measured against.
//!
//! - [`maxpool`]: a two-dimensional f32 max-pool, four outputs at a time,
//!   that [`optimize`] puts in place of tract's in an optimized model.
//!
//! The tiles exist only when building for `wasm32` with `simd128`, and
//! [`optimize`] changes nothing natively, where tract's own native kernels
//! run; the max-pool is portable so that its tests can hold it to tract's
//! natively.
//!
//! wasm-ld drops an object that nothing references, registry entries
//! included: the engine calls [`link`] on the way to optimizing a model so
//! that the entries stay in the module.

pub mod maxpool;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod mmm;

use tract_core::internal::{TractResult, TypedModel};

/// Keeps this crate's registry entries in a wasm module (see the crate's
/// documentation). Does nothing natively.
pub fn link() {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    mmm::link();
}

/// What this crate changes in an optimized model before it is made
/// runnable: in wasm, tract's max-pools become [`maxpool::MaxPool2d`].
/// Does nothing natively.
pub fn optimize(model: &mut TypedModel) -> TractResult<()> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if measuring::our_maxpool() {
        maxpool::patch(model)?;
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let _ = model;
    Ok(())
}

/// Switches for measuring this crate's kernels against tract's own in one
/// process (`wasmodel-engine`'s `kernel_tiles` example); without the
/// `candidates` feature everything here is always on.
pub mod measuring {
    #[cfg(feature = "candidates")]
    static OUR_MAXPOOL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    /// Whether [`crate::optimize`] puts our max-pool in, for models
    /// optimized from now on.
    #[cfg(feature = "candidates")]
    pub fn use_our_maxpool(on: bool) {
        OUR_MAXPOOL.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    #[cfg(feature = "candidates")]
    static SHARED_GEMV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    /// Whether big matrix × vector products get the 4-row GEMV
    /// (`mmm::SHARED_GEMV_MIN_WEIGHTS`) or tract's own, for models
    /// optimized from now on.
    #[cfg(feature = "candidates")]
    pub fn use_shared_gemv(on: bool) {
        SHARED_GEMV.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    #[allow(dead_code)]
    pub(crate) fn shared_gemv() -> bool {
        #[cfg(feature = "candidates")]
        return SHARED_GEMV.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "candidates"))]
        true
    }

    #[allow(dead_code)]
    pub(crate) fn our_maxpool() -> bool {
        #[cfg(feature = "candidates")]
        return OUR_MAXPOOL.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "candidates"))]
        true
    }
}
