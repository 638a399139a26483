//! Two-dimensional f32 max-pooling on channel-first images, four outputs
//! at a time with wasm `simd128`'s `f32x4.pmax` (one `maxps` on x86).
//!
//! tract's own `OptMaxPool` folds taps one output at a time with a scalar
//! compare; in wasm that was 9 % of a batch-one SqueezeNet. [`patch`]
//! swaps it for [`MaxPool2d`] in an optimized model wherever the input is a
//! known f32 NCHW (or CHW) shape laid out contiguously and no index output
//! is asked for.
//!
//! Same answers as tract's, to the bit: each output starts at `f32::MIN`
//! and folds its taps in tract's order (kernel row, then column) with
//! tract's comparison, `if acc < v { v } else { acc }`, which is
//! `f32x4.pmax(acc, v)` lane by lane (so a NaN tap is skipped exactly as
//! tract skips it).
//!
//! The arithmetic goes through `lanes`, which is `simd128` in wasm and
//! plain arrays elsewhere, so the op runs (and is tested against tract's)
//! natively too; only wasm engines install it.

use tract_core::internal::*;
use tract_core::ops::cnn::OptMaxPool;
use tract_core::ops::nn::DataFormat;

/// One max-pool of `planes` channel planes of `h × w` into `oh × ow`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaxPool2d {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pad_before: [usize; 2],
    /// The output's full shape, as tract's op declared it.
    output_shape: TVec<usize>,
}

impl MaxPool2d {
    /// Ours in place of `op` on an input of `fact`, where it applies.
    pub fn from_tract(op: &OptMaxPool, fact: &TypedFact) -> Option<MaxPool2d> {
        if op.with_index_outputs.is_some()
            || fact.datum_type != f32::datum_type()
            || !matches!(op.pool_spec.data_format, DataFormat::NCHW | DataFormat::CHW)
        {
            return None;
        }
        let shape = fact.shape.as_concrete()?;
        let geo = op.geometry.to_concrete(shape).ok()?;
        let (input, patch) = (&geo.input_shape, &geo.patch);
        if patch.rank() != 2 {
            return None;
        }
        let (h, w, c) = (input.hw_dims()[0], input.hw_dims()[1], *input.c());
        let n = *input.n().unwrap_or(&1);
        let contiguous = *input.w_stride() == 1
            && *input.h_stride() == w
            && *input.c_stride() == h * w
            && input.n_stride().is_none_or(|s| *s == c * h * w);
        let pair = |v: &[usize]| -> Option<[usize; 2]> { v.try_into().ok() };
        let pool = MaxPool2d {
            planes: n * c,
            h,
            w,
            oh: patch.output_shape[0],
            ow: patch.output_shape[1],
            kernel: pair(&patch.spec.kernel_shape)?,
            strides: pair(&patch.spec.strides)?,
            dilations: pair(&patch.spec.dilations)?,
            pad_before: pair(&patch.pad_before)?,
            output_shape: geo.output_shape.shape.iter().copied().collect(),
        };
        let output_len: usize = pool.output_shape.iter().product();
        (contiguous && output_len == pool.planes * pool.oh * pool.ow).then_some(pool)
    }

    /// Pools `input` (`planes × h × w`) into `output` (`planes × oh × ow`),
    /// or says which of them has another size.
    pub fn run(&self, input: &[f32], output: &mut [f32]) -> TractResult<()> {
        let (want_in, want_out) = (
            self.planes * self.h * self.w,
            self.planes * self.oh * self.ow,
        );
        ensure!(
            input.len() == want_in && output.len() == want_out,
            "max-pool of {} planes {}x{} -> {}x{} given {} input and {} output values",
            self.planes,
            self.h,
            self.w,
            self.oh,
            self.ow,
            input.len(),
            output.len()
        );
        let (lo, hi) = self.vector_columns();
        for (plane, out) in input
            .chunks_exact(self.h * self.w)
            .zip(output.chunks_exact_mut(self.oh * self.ow))
        {
            for (oy, out) in out.chunks_exact_mut(self.ow).enumerate() {
                let rows = self.rows(plane, oy);
                let mut ox = 0;
                while ox < self.ow {
                    if ox >= lo && ox + 4 <= hi {
                        lanes::store(&mut out[ox..ox + 4], self.four(&rows, ox));
                        ox += 4;
                    } else {
                        out[ox] = self.one(&rows, ox);
                        ox += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// The input rows that output row `oy` reads, in kernel order.
    fn rows<'a>(&self, plane: &'a [f32], oy: usize) -> TVec<&'a [f32]> {
        (0..self.kernel[0])
            .filter_map(|ky| {
                let iy = (oy * self.strides[0] + ky * self.dilations[0])
                    .checked_sub(self.pad_before[0])?;
                (iy < self.h).then(|| &plane[iy * self.w..(iy + 1) * self.w])
            })
            .collect()
    }

    /// The output columns `lo..hi` whose every tap is inside the row, and
    /// for stride 2 also the element after its last tap (read by the second
    /// vector load): where four at a time need no bounds check.
    fn vector_columns(&self) -> (usize, usize) {
        let [_, kw] = self.kernel;
        let (sw, dw, pl) = (self.strides[1], self.dilations[1], self.pad_before[1]);
        let lo = pl.div_ceil(sw);
        let overread = usize::from(sw == 2);
        // Last input column read for output `ox`: ox·sw − pl + (kw−1)·dw
        // (+1), which must stay below w.
        let reach = (kw - 1) * dw + overread;
        let hi = match (self.w + pl).checked_sub(reach + 1) {
            Some(limit) => (limit / sw + 1).min(self.ow),
            None => 0,
        };
        (lo, hi.max(lo))
    }

    /// Outputs `ox..ox + 4`, all of whose taps are in their rows.
    #[inline]
    fn four(&self, rows: &[&[f32]], ox: usize) -> lanes::F4 {
        let (sw, dw, pl) = (self.strides[1], self.dilations[1], self.pad_before[1]);
        let mut acc = lanes::splat(f32::MIN);
        for row in rows {
            for kx in 0..self.kernel[1] {
                let start = ox * sw + kx * dw - pl;
                let taps = match sw {
                    1 => lanes::load(&row[start..start + 4]),
                    2 => lanes::evens(&row[start..start + 8]),
                    _ => lanes::gather(row, start, sw),
                };
                acc = lanes::pmax(acc, taps);
            }
        }
        acc
    }

    /// Output `ox`, skipping the taps that fall outside the row.
    fn one(&self, rows: &[&[f32]], ox: usize) -> f32 {
        let (sw, dw, pl) = (self.strides[1], self.dilations[1], self.pad_before[1]);
        let mut acc = f32::MIN;
        for row in rows {
            for kx in 0..self.kernel[1] {
                let Some(ix) = (ox * sw + kx * dw).checked_sub(pl) else {
                    continue;
                };
                if let Some(&v) = row.get(ix) {
                    acc = if acc < v { v } else { acc };
                }
            }
        }
        acc
    }
}

impl Op for MaxPool2d {
    fn name(&self) -> StaticName {
        "WasmodelMaxPool2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} planes {}x{} -> {}x{}, kernel {:?}, strides {:?}, dilations {:?}, pads {:?}",
            self.planes,
            self.h,
            self.w,
            self.oh,
            self.ow,
            self.kernel,
            self.strides,
            self.dilations,
            self.pad_before
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.try_as_plain_ram()?;
        let mut output = Tensor::zero::<f32>(&self.output_shape)?;
        {
            let mut plain = output.try_as_plain_ram_mut()?;
            self.run(input.as_slice::<f32>()?, plain.as_slice_mut::<f32>()?)?;
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for MaxPool2d {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.output_shape)))
    }

    as_op!();
}

/// Replaces every `OptMaxPool` of an optimized model that [`MaxPool2d`]
/// can take; returns how many.
pub fn patch(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = node.op_as::<OptMaxPool>() else {
            continue;
        };
        let Some(ours) = MaxPool2d::from_tract(op, model.outlet_fact(node.inputs[0])?) else {
            continue;
        };
        TypedModelPatch::replace_single_op(model, node, &node.inputs, ours)?.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        model.compact()?;
    }
    Ok(replaced)
}

/// Four f32 lanes: `simd128` in wasm, arrays elsewhere.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use std::arch::wasm32::*;

    pub type F4 = v128;

    #[inline(always)]
    pub fn splat(x: f32) -> F4 {
        f32x4_splat(x)
    }

    #[inline(always)]
    pub fn load(four: &[f32]) -> F4 {
        assert!(four.len() >= 4);
        // SAFETY: four values, checked above; wasm loads need no alignment.
        unsafe { v128_load(four.as_ptr() as *const v128) }
    }

    /// Elements 0, 2, 4 and 6 of eight.
    #[inline(always)]
    pub fn evens(eight: &[f32]) -> F4 {
        let (lo, hi) = (load(&eight[..4]), load(&eight[4..]));
        i32x4_shuffle::<0, 2, 4, 6>(lo, hi)
    }

    #[inline(always)]
    pub fn gather(row: &[f32], start: usize, stride: usize) -> F4 {
        f32x4(
            row[start],
            row[start + stride],
            row[start + 2 * stride],
            row[start + 3 * stride],
        )
    }

    /// `if a < b { b } else { a }`, lane by lane.
    #[inline(always)]
    pub fn pmax(a: F4, b: F4) -> F4 {
        f32x4_pmax(a, b)
    }

    #[inline(always)]
    pub fn store(out: &mut [f32], v: F4) {
        assert!(out.len() >= 4);
        // SAFETY: four values, checked above.
        unsafe { v128_store(out.as_mut_ptr() as *mut v128, v) }
    }
}

/// Four f32 lanes: `simd128` in wasm, arrays elsewhere.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    pub type F4 = [f32; 4];

    pub fn splat(x: f32) -> F4 {
        [x; 4]
    }

    pub fn load(four: &[f32]) -> F4 {
        [four[0], four[1], four[2], four[3]]
    }

    /// Elements 0, 2, 4 and 6 of eight.
    pub fn evens(eight: &[f32]) -> F4 {
        assert!(eight.len() >= 8);
        [eight[0], eight[2], eight[4], eight[6]]
    }

    pub fn gather(row: &[f32], start: usize, stride: usize) -> F4 {
        std::array::from_fn(|i| row[start + i * stride])
    }

    /// `if a < b { b } else { a }`, lane by lane.
    pub fn pmax(a: F4, b: F4) -> F4 {
        std::array::from_fn(|i| if a[i] < b[i] { b[i] } else { a[i] })
    }

    pub fn store(out: &mut [f32], v: F4) {
        out[..4].copy_from_slice(&v);
    }
}
