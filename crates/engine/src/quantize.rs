//! `wasmodel build --quantize int8`: a model's float weights stored as
//! int8 and its activations quantized on each call, as onnxruntime's
//! dynamic quantization does, rewritten in the ONNX graph before tract sees
//! it (tract runs the integer operators, and packs the int8 weights at a
//! quarter of the float ones' size).
//!
//! - A `MatMul` whose second input is a float matrix [K, N] among the
//!   initializers: the matrix becomes int8 with one scale per column
//!   (symmetric, so no zero point: `scale = max |column| / 127`). The
//!   activations become uint8 with a scale and zero point **per row**
//!   (per token, in a transformer), computed on each call
//!   ([`row_quantized_product`]); `MatMulInteger` multiplies the two, and
//!   the int32 sums are corrected for the zero points and scaled back.
//!   onnxruntime's `DynamicQuantizeLinear` has one scale for the whole
//!   tensor, so one token with large values coarsens every other: on
//!   all-MiniLM-L6-v2, per-tensor scales left short texts' embeddings at
//!   cosine 0.973 to the float model's, per-row ones at 0.992.
//! - A `Gemm` whose `B` is such a matrix (or its transpose, `transB`, as
//!   PyTorch writes `nn.Linear`), and whose `A` is not transposed: the same,
//!   the matrix stored [K, N], then `alpha` and `beta × C` as `Gemm` has them.
//! - A `Gather` from a float table [rows, width] among the initializers (an
//!   embedding): the table becomes int8 with one scale per row, and the
//!   gathered rows are multiplied by their scales.
//!
//! A weight is quantized only if every node that reads it is one of those,
//! so no float copy is left. Everything else (biases, layer norms, the
//! attention's products of two activations) stays float.

use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, tensor_proto::DataType,
};

use crate::error::LoadError;
use crate::graph::nested_graphs;
use crate::proto::{self, int_attr, int_attribute};

/// The first version of the default ONNX opset with `MatMulInteger` and
/// `DynamicQuantizeLinear`.
const INTEGER_OPSET: i64 = 11;

/// What a quantization changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantized {
    /// Weights made int8.
    pub weights: usize,
    /// Their size as float32, and as int8 with their scales (and a
    /// product's column sums), in bytes.
    pub float_bytes: usize,
    pub int8_bytes: usize,
}

/// How a weight is read: which of its axes gets one scale per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// The second input of a `MatMul`: a scale per column.
    MatMul,
    /// The `B` of a `Gemm` without `transA`: a scale per column of `B`, or
    /// per row if `transB` (the matrix is stored transposed, [K, N]).
    Gemm { trans_b: bool },
    /// The table of a `Gather` on axis 0: a scale per row.
    Gather,
}

/// Quantizes the graph's `MatMul`, `Gemm` and `Gather` weights to int8.
pub(crate) fn int8(proto: &mut ModelProto) -> Result<Quantized, LoadError> {
    let opset = proto::default_opset(proto);
    if opset < INTEGER_OPSET {
        return Err(LoadError::Options(format!(
            "--quantize int8: the model is opset {opset}; its integer operators need opset \
             {INTEGER_OPSET} or later (re-export it with a newer opset)"
        )));
    }
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(Quantized::default());
    };
    if graph
        .node
        .iter()
        .flat_map(|n| &n.attribute)
        .any(|a| nested_graphs(a).next().is_some())
    {
        return Err(LoadError::Options(
            "--quantize int8: the model has subgraphs (`If`, `Loop`, `Scan`), which \
             quantization does not reach yet"
                .into(),
        ));
    }
    let mut quantized = Quantized::default();
    let mut count = 0;
    let names: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    for name in names {
        let Some(kind) = only_use(graph, &name) else {
            continue;
        };
        let Some(index) = graph.initializer.iter().position(|t| t.name == name) else {
            continue;
        };
        let Some((dims, values)) = float_matrix(&graph.initializer[index]) else {
            continue;
        };
        let (values, rows, columns) = match kind {
            Use::Gemm { trans_b: true } => (transpose(&values, dims[0], dims[1]), dims[1], dims[0]),
            _ => (values, dims[0], dims[1]),
        };
        let (weights, scales) = match kind {
            Use::MatMul | Use::Gemm { .. } => per_column(&values, rows, columns),
            Use::Gather => per_row(&values, rows, columns),
        };
        quantized.weights += 1;
        quantized.float_bytes += values.len() * 4;
        // Levels, scales, and a product's column sums (below).
        quantized.int8_bytes += weights.len() + scales.len() * 4;
        if kind != Use::Gather {
            quantized.int8_bytes += columns * 4;
        }
        // Files of IR version 3 list initializers among the inputs too; the
        // engine never takes those from the caller, and the float one is
        // gone.
        graph.input.retain(|i| i.name != name);
        let int8_name = format!("{name}_wasmodel_int8");
        let scale_name = format!("{name}_wasmodel_scale");
        graph.initializer[index] = TensorProto {
            name: int8_name.clone(),
            dims: vec![rows as i64, columns as i64],
            data_type: DataType::Int8 as i32,
            raw_data: weights.iter().map(|&w| w as u8).collect(),
            ..TensorProto::default()
        };
        let scale_dims = match kind {
            Use::MatMul | Use::Gemm { .. } => vec![columns as i64],
            Use::Gather => vec![rows as i64, 1],
        };
        graph
            .initializer
            .push(proto::floats(&scale_name, &scale_dims, &scales));
        // A product's correction for the activations' zero points: each
        // column's sum of levels (exact in f32: |sum| <= 127 K < 2^24).
        let sums_name = format!("{name}_wasmodel_column_sums");
        if kind != Use::Gather {
            let mut sums = vec![0f32; columns];
            for row in weights.chunks_exact(columns) {
                for (s, &w) in sums.iter_mut().zip(row) {
                    *s += f32::from(w);
                }
            }
            graph
                .initializer
                .push(proto::floats(&sums_name, &[columns as i64], &sums));
        }
        let mut nodes = Vec::with_capacity(graph.node.len() + 24);
        for node in std::mem::take(&mut graph.node) {
            let reads = match kind {
                Use::MatMul | Use::Gemm { .. } => node.input.get(1) == Some(&name),
                Use::Gather => node.input.first() == Some(&name),
            };
            if !reads {
                nodes.push(node);
                continue;
            }
            count += 1;
            let fresh = |what: &str| format!("wasmodel_int8_{count}_{what}");
            let output = node.output[0].clone();
            match kind {
                Use::MatMul | Use::Gemm { .. } => {
                    // A Gemm's product is `alpha × A × B + beta × C`: the
                    // product goes on through those.
                    let (product, gemm_rest) = match kind {
                        Use::Gemm { .. } => (fresh("product"), Some(gemm_tail(&node))),
                        _ => (output.clone(), None),
                    };
                    let weight = Weight {
                        int8: &int8_name,
                        scales: &scale_name,
                        column_sums: &sums_name,
                    };
                    nodes.extend(row_quantized_product(
                        &node.input[0],
                        weight,
                        &product,
                        &fresh,
                        opset,
                    ));
                    if let Some((alpha, beta, c)) = gemm_rest {
                        let mut value = product;
                        let mut constant = |what: &str, v: f32| {
                            let name = fresh(what);
                            graph.initializer.push(proto::floats(&name, &[], &[v]));
                            name
                        };
                        if alpha != 1.0 {
                            let (alpha_name, scaled) = (constant("alpha", alpha), fresh("scaled"));
                            nodes.push(op("Mul", &[&value, &alpha_name], &[&scaled], vec![]));
                            value = scaled;
                        }
                        let last = match c {
                            Some(c) if beta != 0.0 => {
                                let c = if beta != 1.0 {
                                    let (beta_name, c_scaled) =
                                        (constant("beta", beta), fresh("c_scaled"));
                                    nodes.push(op("Mul", &[&c, &beta_name], &[&c_scaled], vec![]));
                                    c_scaled
                                } else {
                                    c
                                };
                                op("Add", &[&value, &c], &[&output], vec![])
                            }
                            _ => op("Identity", &[&value], &[&output], vec![]),
                        };
                        nodes.push(last);
                    }
                }
                Use::Gather => {
                    let ids = &node.input[1];
                    let (rows_q, rows_f, row_scales) =
                        (fresh("rows"), fresh("rows_float"), fresh("row_scales"));
                    nodes.push(op("Gather", &[&int8_name, ids], &[&rows_q], vec![]));
                    nodes.push(op("Cast", &[&rows_q], &[&rows_f], vec![to_float()]));
                    nodes.push(op("Gather", &[&scale_name, ids], &[&row_scales], vec![]));
                    nodes.push(op("Mul", &[&rows_f, &row_scales], &[&output], vec![]));
                }
            }
        }
        graph.node = nodes;
    }
    if count > 0 {
        graph.initializer.extend(constants(opset));
    }
    Ok(quantized)
}

/// The constants every quantized product reads.
const ZERO: &str = "wasmodel_int8_zero";
const LEVELS: &str = "wasmodel_int8_levels";
const TINY: &str = "wasmodel_int8_tiny";
const LAST_AXIS: &str = "wasmodel_int8_last_axis";

fn constants(opset: i64) -> Vec<TensorProto> {
    let mut constants = vec![
        proto::floats(ZERO, &[], &[0.0]),
        proto::floats(LEVELS, &[], &[255.0]),
        proto::floats(TINY, &[], &[f32::MIN_POSITIVE]),
    ];
    if opset >= REDUCE_AXES_INPUT_OPSET {
        constants.push(proto::int64s(LAST_AXIS, &[1], &[-1]));
    }
    constants
}

/// From this version of the default opset on, `ReduceMin` and `ReduceMax`
/// take their axes as an input, not an attribute.
const REDUCE_AXES_INPUT_OPSET: i64 = 18;

/// An int8 weight as [`int8`] stores it: its levels [K, N], each column's
/// scale [N], and each column's sum of levels [N].
#[derive(Clone, Copy)]
struct Weight<'a> {
    int8: &'a str,
    scales: &'a str,
    column_sums: &'a str,
}

/// The nodes of `output = activations × weight`, the activations quantized
/// on each call to uint8 with a scale and zero point per row (each token's
/// own, where onnxruntime's `DynamicQuantizeLinear` has one for the whole
/// tensor: a token with large values no longer coarsens the others'):
///
/// ```text
/// lo, hi = min(min(row), 0), max(max(row), 0)    (0 stays exact)
/// scale  = max((hi - lo) / 255, tiny);  zero = round(-lo / scale)
/// q      = clip(round(a / scale) + zero, 0, 255) as uint8
/// output = (MatMulInteger(q, levels) - zero × column sums) × scale × column scales
/// ```
fn row_quantized_product(
    activations: &str,
    weight: Weight,
    output: &str,
    fresh: &dyn Fn(&str) -> String,
    opset: i64,
) -> Vec<NodeProto> {
    let reduce = |op_type: &str, into: &str| {
        if opset >= REDUCE_AXES_INPUT_OPSET {
            op(
                op_type,
                &[activations, LAST_AXIS],
                &[into],
                vec![int_attr("keepdims", 1)],
            )
        } else {
            op(
                op_type,
                &[activations],
                &[into],
                vec![proto::ints_attr("axes", &[-1]), int_attr("keepdims", 1)],
            )
        }
    };
    let n = |what: &str| fresh(what);
    let (row_min, row_max, lo, hi) = (n("row_min"), n("row_max"), n("lo"), n("hi"));
    let (range, step, scale, neg_lo) = (n("range"), n("step"), n("row_scale"), n("neg_lo"));
    let (zero_f, zero) = (n("zero_float"), n("zero"));
    let (scaled, rounded, shifted, clipped, q) = (
        n("scaled"),
        n("rounded"),
        n("shifted"),
        n("clipped"),
        n("q"),
    );
    let (sums, floats, correction, corrected, scales) = (
        n("sums"),
        n("sums_float"),
        n("correction"),
        n("corrected"),
        n("scales"),
    );
    vec![
        reduce("ReduceMin", &row_min),
        reduce("ReduceMax", &row_max),
        op("Min", &[&row_min, ZERO], &[&lo], vec![]),
        op("Max", &[&row_max, ZERO], &[&hi], vec![]),
        op("Sub", &[&hi, &lo], &[&range], vec![]),
        op("Div", &[&range, LEVELS], &[&step], vec![]),
        op("Max", &[&step, TINY], &[&scale], vec![]),
        op("Neg", &[&lo], &[&neg_lo], vec![]),
        op("Div", &[&neg_lo, &scale], &[&zero_f], vec![]),
        op("Round", &[&zero_f], &[&zero], vec![]),
        op("Div", &[activations, &scale], &[&scaled], vec![]),
        op("Round", &[&scaled], &[&rounded], vec![]),
        op("Add", &[&rounded, &zero], &[&shifted], vec![]),
        op("Clip", &[&shifted, ZERO, LEVELS], &[&clipped], vec![]),
        op(
            "Cast",
            &[&clipped],
            &[&q],
            vec![int_attr("to", DataType::Uint8 as i64)],
        ),
        op("MatMulInteger", &[&q, weight.int8], &[&sums], vec![]),
        op("Cast", &[&sums], &[&floats], vec![to_float()]),
        op("Mul", &[&zero, weight.column_sums], &[&correction], vec![]),
        op("Sub", &[&floats, &correction], &[&corrected], vec![]),
        op("Mul", &[&scale, weight.scales], &[&scales], vec![]),
        op("Mul", &[&corrected, &scales], &[output], vec![]),
    ]
}

/// A `Gemm`'s `alpha`, `beta` and `C` (if it has one).
fn gemm_tail(node: &NodeProto) -> (f32, f32, Option<String>) {
    (
        proto::float_attribute(node, "alpha").unwrap_or(1.0),
        proto::float_attribute(node, "beta").unwrap_or(1.0),
        node.input.get(2).filter(|c| !c.is_empty()).cloned(),
    )
}

/// A [rows, columns] matrix's transpose, [columns, rows].
fn transpose(values: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    (0..columns * rows)
        .map(|i| values[(i % rows) * columns + i / rows])
        .collect()
}

/// How `name` is read, if every node that reads it reads it the same one
/// of the ways quantized here (and it is not a graph output).
fn only_use(graph: &GraphProto, name: &str) -> Option<Use> {
    if graph.output.iter().any(|o| o.name == name) {
        return None;
    }
    let mut kind = None;
    for node in &graph.node {
        for (ix, input) in node.input.iter().enumerate() {
            if input != name {
                continue;
            }
            // MatMul and Gather have two inputs, Gemm two or three, and
            // each one output (a malformed node is left for the loader to
            // refuse).
            let inputs = if node.op_type == "Gemm" { 2..=3 } else { 2..=2 };
            if !inputs.contains(&node.input.len()) || node.output.len() != 1 {
                return None;
            }
            let this = match (node.domain.as_str(), node.op_type.as_str(), ix) {
                ("" | "ai.onnx", "MatMul", 1) => Use::MatMul,
                ("" | "ai.onnx", "Gemm", 1) if int_attribute(node, "transA").unwrap_or(0) == 0 => {
                    Use::Gemm {
                        trans_b: int_attribute(node, "transB").unwrap_or(0) != 0,
                    }
                }
                ("" | "ai.onnx", "Gather", 0) if int_attribute(node, "axis").unwrap_or(0) == 0 => {
                    Use::Gather
                }
                _ => return None,
            };
            if kind.is_some_and(|k| k != this) {
                return None;
            }
            kind = Some(this);
        }
    }
    kind
}

/// A float32 initializer of two dimensions: its dimensions and values.
fn float_matrix(tensor: &TensorProto) -> Option<([usize; 2], Vec<f32>)> {
    if tensor.data_type != DataType::Float as i32 || tensor.dims.len() != 2 {
        return None;
    }
    let dims = [
        usize::try_from(tensor.dims[0]).ok()?,
        usize::try_from(tensor.dims[1]).ok()?,
    ];
    let count = dims[0].checked_mul(dims[1])?;
    let values: Vec<f32> = if !tensor.raw_data.is_empty() {
        tensor
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        tensor.float_data.clone()
    };
    // Tiny weights are not worth the integer path; external data is read
    // into the initializer before this runs, or left as float.
    (values.len() == count && count >= 256).then_some((dims, values))
}

/// Symmetric int8 with a scale per column of a [rows, columns] matrix.
fn per_column(values: &[f32], rows: usize, columns: usize) -> (Vec<i8>, Vec<f32>) {
    let mut scales = vec![0f32; columns];
    for row in values.chunks_exact(columns).take(rows) {
        for (s, &v) in scales.iter_mut().zip(row) {
            *s = s.max(v.abs());
        }
    }
    let scales: Vec<f32> = scales.iter().map(|&m| scale_of(m)).collect();
    let weights = values
        .iter()
        .enumerate()
        .map(|(i, &v)| level(v, scales[i % columns]))
        .collect();
    (weights, scales)
}

/// Symmetric int8 with a scale per row of a [rows, columns] matrix.
fn per_row(values: &[f32], rows: usize, columns: usize) -> (Vec<i8>, Vec<f32>) {
    let mut weights = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks_exact(columns).take(rows) {
        let scale = scale_of(row.iter().fold(0f32, |m, v| m.max(v.abs())));
        weights.extend(row.iter().map(|&v| level(v, scale)));
        scales.push(scale);
    }
    (weights, scales)
}

/// The scale that maps the largest magnitude to 127 (1 for all zeros, or
/// for a weight that is not finite, which then stays as it quantizes).
fn scale_of(largest: f32) -> f32 {
    if largest > 0.0 && largest.is_finite() {
        largest / 127.0
    } else {
        1.0
    }
}

fn level(value: f32, scale: f32) -> i8 {
    (value / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

fn to_float() -> AttributeProto {
    int_attr("to", DataType::Float as i64)
}

/// A node named after its first output.
fn op(
    op_type: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    proto::node(outputs[0].to_owned(), op_type, inputs, outputs, attribute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_symmetric_and_scaled_per_column_and_row() {
        let values = [1.0, -0.5, 0.25, -2.0, 0.0, 0.0];
        let (weights, scales) = per_column(&values, 3, 2);
        assert_eq!(scales, [1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(weights, [127, -32, 32, -127, 0, 0]);
        let (weights, scales) = per_row(&values, 3, 2);
        assert_eq!(scales, [1.0 / 127.0, 2.0 / 127.0, 1.0]);
        assert_eq!(weights, [127, -64, 16, -127, 0, 0]);
    }

    #[test]
    fn a_transpose_swaps_rows_and_columns() {
        // [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]]
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
