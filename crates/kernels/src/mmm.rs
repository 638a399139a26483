//! f32 matrix-multiplication tiles for wasm `simd128`, and the dispatch tier
//! that picks one.
//!
//! A tile computes `MR` rows × `4·NV` columns of C in `MR·NV` `v128`
//! accumulators. Each k-step loads `NV` vectors of packed B and broadcasts
//! `MR` values of packed A with `v128.load32_splat`, so a tile needs
//! `MR·NV + NV + 1` live vectors. x86-64 has 16 vector registers: tract's
//! own 8×8 tile needs 19 and Cranelift spills it on every k-step; the tiles
//! here are the shapes that fit, so that the choice is measured rather
//! than guessed (`crates/engine/examples/kernel_tiles.rs`, BENCHMARKS.md).
//!
//! A tile also takes `U`, the k-steps per pass of its loop. wasmodel runs
//! components with epoch interruption (its time limit; Spin and `wasmtime
//! serve` with a timeout do the same), which compiles a check of the epoch
//! into every loop back-edge; in a loop of one k-step that check cost
//! SqueezeNet 1.6× its time.
//!
//! One generic body serves every tile (`tile`); the fused operations a
//! kernel must handle (`FusedKerSpec`) are the same for all of them.
//!
//! The tier answers with the first tile of `tiles!`, the one chosen by
//! measurement, for products whose width is known when the model is
//! optimized; a width still a symbol then (a transformer's tokens) gets
//! the second, 4×8, preferred over tract's kernels ([`PREFERRED`]). With
//! the `candidates` feature every tile measured against them is there too,
//! and [`choose`] picks the first among them (or tract's own for both).

use std::arch::wasm32::*;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tract_data::prelude::DatumType;
use tract_linalg::Scaler;
use tract_linalg::isa::{Arch, IsaSet};
use tract_linalg::mmm::{DynKernel, FusedKerSpec, OutputStoreKer, Query, Suitable};
use tract_linalg::mmm_routines::MmmRoutine;
use tract_linalg::mmm_tiers::MmmTier;
use tract_linalg::pack::Packing as _;

/// How a tile multiplies and adds: `acc + a·b`.
trait Madd {
    /// # Safety
    /// Needs the instructions the implementation uses.
    unsafe fn madd(acc: v128, a: v128, b: v128) -> v128;
}

/// A multiply then an add: two roundings, every wasm host.
#[cfg(any(feature = "candidates", not(feature = "relaxed-simd")))]
struct MulAdd;

#[cfg(any(feature = "candidates", not(feature = "relaxed-simd")))]
impl Madd for MulAdd {
    #[inline(always)]
    unsafe fn madd(acc: v128, a: v128, b: v128) -> v128 {
        f32x4_add(acc, f32x4_mul(a, b))
    }
}

/// `f32x4.relaxed_madd`: a fused multiply-add where the host CPU has one
/// (0.93x `MulAdd`'s time on the three CNNs, BENCHMARKS.md). A module with
/// it does not validate on a host without relaxed SIMD (Node 20): only the
/// `relaxed-simd` flavour and the candidates have it.
#[cfg(any(feature = "candidates", feature = "relaxed-simd"))]
struct Relaxed;

#[cfg(any(feature = "candidates", feature = "relaxed-simd"))]
impl Madd for Relaxed {
    #[inline(always)]
    unsafe fn madd(acc: v128, a: v128, b: v128) -> v128 {
        // Inlined into a kernel built with relaxed-simd (see `tiles!`).
        f32x4_relaxed_madd(a, b, acc)
    }
}

/// How a tile broadcasts a k-step's `MR` values of packed A to vectors.
trait Broadcast {
    /// Prepares the k-step whose A values start at `a`.
    ///
    /// # Safety
    /// `a` points to `MR` values (rounded up to a multiple of 4 for
    /// `Shuffle`: tract pads its packed panels).
    unsafe fn load<const MR: usize>(a: *const u32) -> [v128; 4];
    /// Row `r`'s value in every lane.
    ///
    /// # Safety
    /// As for `load`, with `loaded` what it returned.
    unsafe fn row(a: *const u32, loaded: &[v128; 4], r: usize) -> v128;
}

/// `v128.load32_splat` per row (XNNPACK's choice on x86 hosts): measured
/// slower than `Shuffle` under Cranelift.
#[cfg(feature = "candidates")]
struct LoadSplat;

#[cfg(feature = "candidates")]
impl Broadcast for LoadSplat {
    #[inline(always)]
    unsafe fn load<const MR: usize>(_a: *const u32) -> [v128; 4] {
        [f32x4_splat(0.0); 4]
    }
    #[inline(always)]
    unsafe fn row(a: *const u32, _loaded: &[v128; 4], r: usize) -> v128 {
        // SAFETY: the caller's.
        unsafe { v128_load32_splat(a.add(r)) }
    }
}

/// One vector load per four rows, then a lane shuffle per row (tract's
/// own 8×8 does this).
struct Shuffle;

impl Broadcast for Shuffle {
    #[inline(always)]
    unsafe fn load<const MR: usize>(a: *const u32) -> [v128; 4] {
        let mut loaded = [f32x4_splat(0.0); 4];
        for (q, v) in loaded.iter_mut().enumerate().take(MR.div_ceil(4)) {
            // SAFETY: the caller's.
            *v = unsafe { v128_load(a.add(4 * q) as *const v128) };
        }
        loaded
    }
    #[inline(always)]
    unsafe fn row(_a: *const u32, loaded: &[v128; 4], r: usize) -> v128 {
        let v = loaded[r / 4];
        match r % 4 {
            0 => i32x4_shuffle::<0, 0, 0, 0>(v, v),
            1 => i32x4_shuffle::<1, 1, 1, 1>(v, v),
            2 => i32x4_shuffle::<2, 2, 2, 2>(v, v),
            _ => i32x4_shuffle::<3, 3, 3, 3>(v, v),
        }
    }
}

/// The accumulators of an `MR × 4·NV` tile, row by row.
type Acc<const MR: usize, const NV: usize> = [[v128; NV]; MR];

/// Applies `f(lane operand, accumulator)` to every accumulator.
#[inline(always)]
fn each<const MR: usize, const NV: usize>(acc: &mut Acc<MR, NV>, f: impl Fn(v128) -> v128) {
    for row in acc.iter_mut() {
        for v in row.iter_mut() {
            *v = f(*v);
        }
    }
}

/// Runs the fused operations of one tile (see tract-linalg's
/// `FusedKerSpec`).
///
/// # Safety
/// `ops` must come from tract's matmul driver for a kernel of this
/// `MR × 4·NV` shape, with its pointers valid as that driver promises.
#[inline(always)]
unsafe fn tile<const MR: usize, const NV: usize, const U: usize, M: Madd, B: Broadcast>(
    ops: &[FusedKerSpec<f32>],
) -> isize {
    let zero = f32x4_splat(0.0);
    let mut acc: Acc<MR, NV> = [[zero; NV]; MR];
    // SAFETY (whole loop): every pointer below is one the driver made for a
    // tile of this shape: MR values per row operand, 4·NV per column
    // operand, MR·4·NV for a tile, k panels of MR and 4·NV values for the
    // packed A and B.
    unsafe {
        for op in ops {
            match *op {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => acc = [[zero; NV]; MR],
                FusedKerSpec::LoadTile(_col_major, row_major) => {
                    let p = row_major as *const v128;
                    for (r, row) in acc.iter_mut().enumerate() {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v = v128_load(p.add(r * NV + j));
                        }
                    }
                }
                FusedKerSpec::ScalarMin(s) => each(&mut acc, |v| f32x4_min(f32x4_splat(s), v)),
                FusedKerSpec::ScalarMax(s) => each(&mut acc, |v| f32x4_max(f32x4_splat(s), v)),
                FusedKerSpec::ScalarAdd(s) => each(&mut acc, |v| f32x4_add(f32x4_splat(s), v)),
                FusedKerSpec::ScalarMul(s) => each(&mut acc, |v| f32x4_mul(f32x4_splat(s), v)),
                FusedKerSpec::ScalarSub(s) => each(&mut acc, |v| f32x4_sub(f32x4_splat(s), v)),
                FusedKerSpec::ScalarSubF(s) => each(&mut acc, |v| f32x4_sub(v, f32x4_splat(s))),
                FusedKerSpec::LeakyRelu(alpha) => {
                    let alpha = f32x4_splat(alpha);
                    each(&mut acc, |v| {
                        v128_bitselect(v, f32x4_mul(alpha, v), f32x4_gt(v, zero))
                    })
                }
                FusedKerSpec::PerRowMin(p) => per_row(&mut acc, p, |r, v| f32x4_min(r, v)),
                FusedKerSpec::PerRowMax(p) => per_row(&mut acc, p, |r, v| f32x4_max(r, v)),
                FusedKerSpec::PerRowAdd(p) => per_row(&mut acc, p, |r, v| f32x4_add(r, v)),
                FusedKerSpec::PerRowMul(p) => per_row(&mut acc, p, |r, v| f32x4_mul(r, v)),
                FusedKerSpec::PerRowSub(p) => per_row(&mut acc, p, |r, v| f32x4_sub(r, v)),
                FusedKerSpec::PerRowSubF(p) => per_row(&mut acc, p, |r, v| f32x4_sub(v, r)),
                FusedKerSpec::PerColMin(p) => per_col(&mut acc, p, |c, v| f32x4_min(c, v)),
                FusedKerSpec::PerColMax(p) => per_col(&mut acc, p, |c, v| f32x4_max(c, v)),
                FusedKerSpec::PerColAdd(p) => per_col(&mut acc, p, |c, v| f32x4_add(c, v)),
                FusedKerSpec::PerColMul(p) => per_col(&mut acc, p, |c, v| f32x4_mul(c, v)),
                FusedKerSpec::PerColSub(p) => per_col(&mut acc, p, |c, v| f32x4_sub(c, v)),
                FusedKerSpec::PerColSubF(p) => per_col(&mut acc, p, |c, v| f32x4_sub(v, c)),
                // An f32 accumulator is never requantized; the integer
                // scalings become the multiplications they stand for, as
                // in tract's own f32 kernels.
                FusedKerSpec::QScale(shift, policy, mult) => {
                    let s = f32x4_splat(Scaler::from_fuse_params(shift, policy, mult).scale);
                    each(&mut acc, |v| f32x4_mul(s, v))
                }
                FusedKerSpec::RoundingShiftRight(shift, _) => {
                    let s = f32x4_splat(2f32.powi(-(shift as i32)));
                    each(&mut acc, |v| f32x4_mul(s, v))
                }
                FusedKerSpec::ShiftLeft(shift) => {
                    let s = f32x4_splat(2f32.powi(shift as i32));
                    each(&mut acc, |v| f32x4_mul(s, v))
                }
                FusedKerSpec::AddUnicast(tile) => {
                    for (r, row) in acc.iter_mut().enumerate() {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v = f32x4_add(*v, gather(&tile, r, j));
                        }
                    }
                }
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let cols = cols as *const v128;
                    for (r, row) in acc.iter_mut().enumerate() {
                        let a = v128_load32_splat(rows.add(r) as *const u32);
                        for (j, v) in row.iter_mut().enumerate() {
                            *v = M::madd(*v, a, v128_load(cols.add(j)));
                        }
                    }
                }
                FusedKerSpec::Store(tile) => store(&acc, &tile),
                FusedKerSpec::AddMatMul { k, pa, pb, .. } => {
                    let mut a = pa as *const u32;
                    let mut b = pb as *const v128;
                    // U k-steps per pass of the loop: wasmodel runs
                    // components with epoch interruption, which checks the
                    // epoch on every loop back-edge.
                    for _ in 0..k / U {
                        for _ in 0..U {
                            k_step::<MR, NV, M, B>(&mut acc, &mut a, &mut b);
                        }
                    }
                    for _ in 0..k % U {
                        k_step::<MR, NV, M, B>(&mut acc, &mut a, &mut b);
                    }
                }
            }
        }
    }
    0
}

/// One k-step: `acc += a[..MR] ⊗ b[..4·NV]`, then both panels advance.
///
/// # Safety
/// `a` and `b` point to a k-step of packed A and B (see `tile`).
#[inline(always)]
unsafe fn k_step<const MR: usize, const NV: usize, M: Madd, B: Broadcast>(
    acc: &mut Acc<MR, NV>,
    a: &mut *const u32,
    b: &mut *const v128,
) {
    // SAFETY: the caller's.
    unsafe {
        let mut bs = [f32x4_splat(0.0); NV];
        for (j, bv) in bs.iter_mut().enumerate() {
            *bv = v128_load(b.add(j));
        }
        let loaded = B::load::<MR>(*a);
        for (r, row) in acc.iter_mut().enumerate() {
            let av = B::row(*a, &loaded, r);
            for (v, bv) in row.iter_mut().zip(bs) {
                *v = M::madd(*v, av, bv);
            }
        }
        *a = a.add(MR);
        *b = b.add(NV);
    }
}

/// `acc[r][..] = f(splat(p[r]), acc[r][..])`.
///
/// # Safety
/// `p` points to `MR` values.
#[inline(always)]
unsafe fn per_row<const MR: usize, const NV: usize>(
    acc: &mut Acc<MR, NV>,
    p: *const f32,
    f: impl Fn(v128, v128) -> v128,
) {
    for (r, row) in acc.iter_mut().enumerate() {
        // SAFETY: the caller's.
        let s = unsafe { v128_load32_splat(p.add(r) as *const u32) };
        for v in row.iter_mut() {
            *v = f(s, *v);
        }
    }
}

/// `acc[..][j] = f(p[4j..4j+4], acc[..][j])`.
///
/// # Safety
/// `p` points to `4·NV` values.
#[inline(always)]
unsafe fn per_col<const MR: usize, const NV: usize>(
    acc: &mut Acc<MR, NV>,
    p: *const f32,
    f: impl Fn(v128, v128) -> v128,
) {
    let p = p as *const v128;
    for j in 0..NV {
        // SAFETY: the caller's.
        let c = unsafe { v128_load(p.add(j)) };
        for row in acc.iter_mut() {
            row[j] = f(c, row[j]);
        }
    }
}

/// Columns `4j..4j+4` of row `r` of an f32 tile in memory.
///
/// # Safety
/// `tile` describes an f32 tile of at least `r + 1` rows and `4j + 4`
/// columns.
#[inline(always)]
unsafe fn gather(tile: &OutputStoreKer, r: usize, j: usize) -> v128 {
    // SAFETY: the caller's.
    unsafe {
        let row = tile.ptr.offset(r as isize * tile.row_byte_stride);
        if tile.col_byte_stride == 4 {
            return v128_load(row.add(16 * j) as *const v128);
        }
        let at =
            |c: usize| *(row.offset((4 * j + c) as isize * tile.col_byte_stride) as *const f32);
        f32x4(at(0), at(1), at(2), at(3))
    }
}

/// Writes the tile: whole vectors where a row's columns are contiguous (the
/// usual case: a convolution's output channel, row by row), lane by lane
/// otherwise.
///
/// # Safety
/// `tile` describes a writable f32 tile of `MR × 4·NV`.
#[inline(always)]
unsafe fn store<const MR: usize, const NV: usize>(acc: &Acc<MR, NV>, tile: &OutputStoreKer) {
    // SAFETY: the caller's.
    unsafe {
        for (r, row) in acc.iter().enumerate() {
            let out = tile.ptr.offset(r as isize * tile.row_byte_stride);
            if tile.col_byte_stride == 4 {
                for (j, v) in row.iter().enumerate() {
                    v128_store(out.add(16 * j) as *mut v128, *v);
                }
                continue;
            }
            for (j, v) in row.iter().enumerate() {
                let lanes: [f32; 4] = std::mem::transmute(*v);
                for (c, lane) in lanes.into_iter().enumerate() {
                    *(out.offset((4 * j + c) as isize * tile.col_byte_stride) as *mut f32) = lane;
                }
            }
        }
    }
}

/// Declares the tiles: for each, the kernel function, its `DynKernel` and
/// its registry entry; then `tiles()`, every tile's name.
macro_rules! tiles {
    ($($(#[$attr:meta])* $name:ident: $mr:literal x $nv:literal / $u:literal, $madd:ty, $bcast:ty $(, $feature:literal)?;)*) => {
        $(
            $(#[$attr])*
            #[allow(non_upper_case_globals)]
            static $name: LazyLock<DynKernel<$mr, { 4 * $nv }, f32>> = LazyLock::new(|| {
                $(#[$attr])*
                $(#[target_feature(enable = $feature)])?
                unsafe fn kernel(ops: &[FusedKerSpec<f32>]) -> isize {
                    // SAFETY: tract calls a kernel with a driver-made list.
                    unsafe { tile::<$mr, $nv, $u, $madd, $bcast>(ops) }
                }
                let mut k = DynKernel::new(
                    stringify!($name),
                    kernel,
                    f32::packing($mr),
                    f32::packing(4 * $nv),
                );
                k.arch = Some(Arch::Wasm32Simd128);
                k.boost = || boost(ours_chosen() && stringify!($name) == SYMBOLIC_WIDTH);
                k
            });

            $(#[$attr])*
            inventory::submit! {
                MmmRoutine { make: || $name.mmm() }
            }
        )*

        /// Every tile this build has, by kernel name.
        // One push per tile, each under its own `cfg`: no literal can hold that.
        #[allow(clippy::vec_init_then_push)]
        pub fn tiles() -> Vec<&'static str> {
            let mut names = Vec::new();
            $(
                $(#[$attr])*
                names.push(stringify!($name));
            )*
            names
        }

        fn touch() {
            $(
                $(#[$attr])*
                std::hint::black_box(&*$name);
            )*
            std::hint::black_box(&*GEMV_4X1);
        }
    };
}

tiles! {
    // The chosen tile, first: 4×12, two k-steps per loop pass; the fastest
    // on SqueezeNet, ResNet-18 and MobileNetV2 under epoch interruption, as
    // wasmodel runs components (BENCHMARKS.md, "Epoch interruption").
    #[cfg(not(feature = "relaxed-simd"))]
    wasmodel_f32_4x12_u2: 4 x 3 / 2, MulAdd, Shuffle;
    // The same tile with relaxed SIMD's fused multiply-add, chosen in the
    // `relaxed-simd` flavour (`wasmodel build --relaxed-simd`): with the
    // tile near what unfused 128-bit arithmetic allows on ResNet-18
    // (BENCHMARKS.md, "Run of 2026-12-03"), FMA is what is left.
    #[cfg(feature = "relaxed-simd")]
    wasmodel_f32_4x12_u2_fma: 4 x 3 / 2, Relaxed, Shuffle, "relaxed-simd";
    // The tile for products whose width is a symbol ([`SYMBOLIC_WIDTH`]):
    // 4×8, two k-steps, which wastes no column at 8 tokens.
    #[cfg(not(feature = "relaxed-simd"))]
    wasmodel_f32_4x8_u2: 4 x 2 / 2, MulAdd, Shuffle;
    #[cfg(feature = "relaxed-simd")]
    wasmodel_f32_4x8_u2_fma: 4 x 2 / 2, Relaxed, Shuffle, "relaxed-simd";
    // The others measured against them (`candidates`).
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x8: 4 x 2 / 1, MulAdd, Shuffle;
    #[cfg(all(feature = "candidates", feature = "relaxed-simd"))]
    wasmodel_f32_4x8_u2: 4 x 2 / 2, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_8x8: 8 x 2 / 1, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x12: 4 x 3 / 1, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x16: 4 x 4 / 1, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_12x4: 12 x 1 / 1, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x8_splat: 4 x 2 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_5x8_splat: 5 x 2 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_6x8_splat: 6 x 2 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_8x8_splat: 8 x 2 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_2x16_splat: 2 x 4 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_3x16_splat: 3 x 4 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x12_splat: 4 x 3 / 1, MulAdd, LoadSplat;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x8_fma: 4 x 2 / 1, Relaxed, Shuffle, "relaxed-simd";
    #[cfg(feature = "candidates")]
    wasmodel_f32_8x8_fma: 8 x 2 / 1, Relaxed, Shuffle, "relaxed-simd";
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x8_splat_fma: 4 x 2 / 1, Relaxed, LoadSplat, "relaxed-simd";
    #[cfg(feature = "candidates")]
    wasmodel_f32_2x16_splat_fma: 2 x 4 / 1, Relaxed, LoadSplat, "relaxed-simd";
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x8_u4: 4 x 2 / 4, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_8x8_u2: 8 x 2 / 2, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_8x8_u4: 8 x 2 / 4, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x12_u4: 4 x 3 / 4, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x16_u2: 4 x 4 / 2, MulAdd, Shuffle;
    #[cfg(feature = "candidates")]
    wasmodel_f32_4x16_u4: 4 x 4 / 4, MulAdd, Shuffle;
    // Each flavour's chosen tile, measured in the other's build too.
    #[cfg(all(feature = "candidates", not(feature = "relaxed-simd")))]
    wasmodel_f32_4x12_u2_fma: 4 x 3 / 2, Relaxed, Shuffle, "relaxed-simd";
    #[cfg(all(feature = "candidates", feature = "relaxed-simd"))]
    wasmodel_f32_4x12_u2: 4 x 3 / 2, MulAdd, Shuffle;
}

/// Which tile the tier answers with: an index into [`tiles`] (the first,
/// the chosen one, by default), or `usize::MAX` for none (tract's own wasm
/// tier decides).
static CHOSEN: AtomicUsize = AtomicUsize::new(0);

/// Makes the tier answer with the tile called `name`, or defer to tract's
/// own wasm kernels with `"tract"`, for models optimized from now on;
/// `false` for an unknown name. For measuring the tiles against each other
/// (the `candidates` feature has them all).
pub fn choose(name: &str) -> bool {
    let ix = if name == "tract" {
        usize::MAX
    } else if let Some(ix) = tiles().iter().position(|t| *t == name) {
        ix
    } else {
        return false;
    };
    CHOSEN.store(ix, Ordering::Relaxed);
    true
}

/// The kernel the tier answers with now, `None` when it defers to tract's.
pub fn chosen() -> Option<&'static str> {
    tiles().get(CHOSEN.load(Ordering::Relaxed)).copied()
}

/// A matrix product whose width `n` is not known when the model is
/// optimized (a transformer's batch × sequence length) is not put to the
/// tiers: tract's einsum keeps the runnable kernels of the highest
/// preference, groups them by how they pack the weights, and takes from one
/// group a matrix × vector kernel for `n = 1` and a tile for the rest,
/// preferring the group with the most rows. That was tract's 8×8 tile with
/// its 8×1 GEMV, over ours. So the [`SYMBOLIC_WIDTH`] tile, and tract's own
/// 4×1 GEMV kernel under a name of ours ([`GEMV_4X1`], which packs the
/// weights as a 4-row tile does), are preferred by this much over every
/// other kernel while one of ours is chosen: the two left make one group,
/// the tile for `n > 1` and the GEMV when `n` turns out 1.
const PREFERRED: isize = 1;

/// The tile for a symbolic width (see [`PREFERRED`]). It is not the chosen
/// one: a text of 8 tokens is a product 8 wide, where the 4×12 tile
/// computes 12 columns. all-MiniLM-L6-v2 (suite P9, 8 and 128 tokens)
/// predicted in 10.7 and 159 ms with the 4×8, 14.1 and 158 ms with the
/// 4×12, 12.3 and 188 ms with tract's 8×8. The relaxed-SIMD flavour takes
/// the same shape with its fused multiply-add (by analogy, not measured).
#[cfg(not(feature = "relaxed-simd"))]
const SYMBOLIC_WIDTH: &str = "wasmodel_f32_4x8_u2";
#[cfg(feature = "relaxed-simd")]
const SYMBOLIC_WIDTH: &str = "wasmodel_f32_4x8_u2_fma";

/// Whether the tier answers with a tile of ours (not `choose("tract")`),
/// asked for every kernel's preference on every product: no list of tiles
/// is made for it, as [`chosen`] makes one.
fn ours_chosen() -> bool {
    CHOSEN.load(Ordering::Relaxed) != usize::MAX
}

/// [`PREFERRED`] if `chosen`, else tract's default, nothing.
fn boost(chosen: bool) -> isize {
    if chosen { PREFERRED } else { 0 }
}

const GEMV_4X1_NAME: &str = "wasmodel_f32_4x1_gemv";

/// tract's 4-row matrix × vector kernel, registered again with the boost
/// of the tiles (see [`PREFERRED`]) while one of ours is chosen.
static GEMV_4X1: LazyLock<DynKernel<4, 1, f32>> = LazyLock::new(|| {
    let mut k = tract_linalg::wasm::wasm_f32_4x1.clone();
    k.name = GEMV_4X1_NAME.into();
    // Weights packed as the 4-row tiles pack them (aligned to a vector,
    // where tract's GEMV aligns to 4 bytes): a plan for a batch of one then
    // packs a classifier's weights to the same bytes as the plan for any
    // batch, which holds them once ([`SHARED_GEMV_MIN_WEIGHTS`]). The
    // kernel reads each panel where the packing says it starts.
    if let Some((weights, _)) = k.packings.first_mut() {
        *weights = Box::new(f32::packing(4));
    }
    k.boost = || boost(ours_chosen());
    k
});

inventory::submit! {
    MmmRoutine { make: || GEMV_4X1.mmm() }
}

/// Weights (`m × k`) from which a matrix × vector product of f32 is given
/// [`GEMV_4X1`] rather than tract's own GEMV (16 or 32 rows).
///
/// A model whose batch is dynamic has a plan for any batch, whose products
/// of a symbolic width pack their weights for 4-row kernels, and a plan for
/// a batch of one, where a classifier's product is a matrix × vector one.
/// Packed for tract's 16-row GEMV, its weights were a second copy in the
/// component (MobileNetV2's 1000 × 1280 classifier: 5.1 MB); packed for 4
/// rows they are the same bytes as the first plan's, which the engine then
/// holds once (`wasmodel-engine`'s `shared_constants`). Small products (a
/// tabular network's layers) keep tract's GEMV: their copies cost little.
/// The 4-row GEMV streams the same weights once, so the big products it
/// takes are bound by memory more than by its narrower accumulators
/// (`kernel_tiles`' `/tract-gemv` candidates, BENCHMARKS.md).
pub const SHARED_GEMV_MIN_WEIGHTS: usize = 1 << 18;

/// Matrix products (`n > 1`, or not known yet) of f32 get the chosen tile,
/// and matrix × vector ones with big weights the 4-row GEMV
/// ([`SHARED_GEMV_MIN_WEIGHTS`]); everything else (smaller matrix ×
/// vector, integers, f16) goes to the tiers below, tract's own.
fn preferred(
    _isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _suitable: &[Suitable],
) -> Option<&'static str> {
    if accumulator != DatumType::F32 {
        return None;
    }
    if query.n == Some(1) {
        let big = query
            .m
            .zip(query.k)
            .is_some_and(|(m, k)| m.saturating_mul(k) >= SHARED_GEMV_MIN_WEIGHTS);
        return (big && ours_chosen() && crate::measuring::shared_gemv()).then_some(GEMV_4X1_NAME);
    }
    chosen()
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        // tract's own wasm tier is 1.
        precedence: 2,
        name: "wasmodel-simd128",
        applies: |_| true,
        preferred,
    }
}

static LINKED: LazyLock<()> = LazyLock::new(|| {
    touch();
    std::hint::black_box(preferred as *const ());
});

/// See [`crate::link`].
pub(crate) fn link() {
    LazyLock::force(&LINKED);
}
