//! wasm `simd128` kernels for tract, added from outside through
//! tract-linalg's public registries (no fork):
//!
//! - [`mmm`]: an f32 matrix-multiplication tile (an `MmmRoutine` entry)
//!   and a dispatch tier (`MmmTier`) above tract's own wasm tier that picks
//!   it for every f32 matrix product of known width above one column. The
//!   tile was chosen by measuring whole networks (`scripts/kernel-tiles.sh`,
//!   BENCHMARKS.md "Matrix tiles"); the `candidates` feature adds the
//!   tiles it was measured against.
//!
//! Everything here exists only when building for `wasm32` with `simd128`;
//! natively the crate is empty and tract's own native kernels run.
//!
//! wasm-ld drops an object that nothing references, registry entries
//! included: the engine calls [`link`] on the way to optimizing a model so
//! that the entries stay in the module.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod mmm;

/// Keeps this crate's registry entries in a wasm module (see the crate's
/// documentation). Does nothing natively.
pub fn link() {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    mmm::link();
}
