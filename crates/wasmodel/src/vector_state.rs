//! Clean vector registers before wasm code runs.
//!
//! Native code that uses 256- or 512-bit AVX instructions and returns
//! without `vzeroupper` leaves the upper parts of the vector registers
//! "dirty"; tract-linalg's x86_64 matrix kernels do (its `fma` and `avx512`
//! assembly has no `vzeroupper`). On Intel CPUs every legacy-SSE instruction
//! then pays a transition penalty, and Cranelift compiles wasm SIMD partly
//! to legacy SSE. On an Intel Xeon (AVX-512) SqueezeNet's component took
//! 60–100 ms per call until native tract predicted once in the same thread,
//! and 15 s per call after it; a `vzeroupper` in between restored 62 ms.
//! AMD CPUs do not pay this penalty.
//!
//! A process that embeds wasmodel may run such code (native tract as a
//! reference, as `cargo bench --bench suite` and `wasmodel check` do, or
//! any AVX library), so every entry into guest code clears the state first:
//! one instruction, where the CPU has AVX.

/// Zeroes the upper bits of the vector registers, where the CPU has AVX.
pub fn clear_upper_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` needs AVX, which the CPU has (checked
        // above); it changes no state Rust code relies on across a call.
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}
