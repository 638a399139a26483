//! onnxruntime's quantized operators: what its static quantization
//! (`quantize_static` with `QuantFormat.QOperator`) writes for the float
//! operators ONNX itself has no quantized form of, rewritten before tract
//! sees the graph into what they mean in standard ONNX.
//!
//! Each of them reads quantized tensors with a scale and zero point per
//! input, computes the float operator on the real values, and quantizes
//! the result with the output's scale and zero point, so each becomes a
//! `DequantizeLinear` per quantized input, the float operator, and a
//! `QuantizeLinear` (tract runs all three):
//!
//! | operator | inputs after the quantized ones | float operator |
//! |---|---|---|
//! | `QLinearAdd`, `QLinearMul` | A, B | `Add`, `Mul` |
//! | `QLinearSigmoid`, `QLinearLeakyRelu` (`alpha`) | X | `Sigmoid`, `LeakyRelu` |
//! | `QLinearSoftmax` (`axis`, `opset`) | X | `Softmax` |
//! | `QLinearGlobalAveragePool`, `QLinearAveragePool` | X | the pooling, its attributes kept |
//! | `QLinearConcat` (`axis`) | Y's scale and zero point first, then each X | `Concat` |
//! | `QGemm` (`alpha`, `transA`, `transB`) | A, B, an int32 bias, Y's (optional) | `Gemm` |
//!
//! onnxruntime's kernels compute the same real-valued function in float
//! with the scales' ratios folded (`a_scale / c_scale`), or in exact int32
//! sums for `QGemm`; a result that lands within a rounding of the boundary
//! between two levels can land on the other one here (one level of the
//! output's scale). `QGemm`'s bias is int32 at scale `a_scale × b_scale`
//! and, as in onnxruntime, is scaled by `alpha` with the product.
//!
//! Refused, naming the node: NHWC pooling (`channels_last`), a
//! `QLinearSoftmax` whose softmax is of the other opset family than the
//! model's (before 13 it flattens the axes after `axis`), and an output
//! zero point left out where no input's tells the element type.

use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, TensorProto, tensor_proto::DataType};

use super::refused;
use crate::error::LoadError;
use crate::proto::{self, float_attr, float_attribute, input, int_attr, int_attribute};

/// The operators rewritten here (domain `com.microsoft`).
pub(crate) const OPERATORS: &[&str] = &[
    "QLinearAdd",
    "QLinearMul",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
    "QLinearSoftmax",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
    "QLinearConcat",
    "QGemm",
];

/// Rewrites every operator of [`OPERATORS`] in the model's graphs (nested
/// ones included) into standard ONNX.
pub(crate) fn expand(proto: &mut ModelProto) -> Result<(), LoadError> {
    super::rewrite(
        proto,
        &|op| OPERATORS.contains(&op),
        &|_| (),
        &|node, (), target| {
            Rewriter {
                opset: target.opset,
                initializers: target.initializers,
                nodes: target.nodes,
            }
            .expand(node)
        },
    )
}

/// One quantized tensor: its name, scale and zero point (if given).
struct Quantized<'a> {
    value: &'a str,
    scale: &'a str,
    zero_point: Option<&'a str>,
}

struct Rewriter<'a> {
    opset: i64,
    initializers: &'a mut Vec<TensorProto>,
    nodes: &'a mut Vec<NodeProto>,
}

impl Rewriter<'_> {
    fn expand(&mut self, node: &NodeProto) -> Result<(), LoadError> {
        let output = node
            .output
            .first()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| refused(node, "has no output"))?;
        let at = |k: usize| input(node, k);
        let quantized = |k: usize| -> Result<Quantized<'_>, LoadError> {
            Ok(Quantized {
                value: at(k).ok_or_else(|| refused(node, &format!("lacks input {k}")))?,
                scale: at(k + 1).ok_or_else(|| refused(node, &format!("lacks input {}", k + 1)))?,
                zero_point: at(k + 2),
            })
        };
        // The output's scale and zero point, at `k` and `k + 1`.
        let output_params = |k: usize| -> Result<Quantized<'_>, LoadError> {
            Ok(Quantized {
                value: "",
                scale: at(k).ok_or_else(|| refused(node, "lacks its output's scale"))?,
                zero_point: at(k + 1),
            })
        };
        match node.op_type.as_str() {
            "QLinearAdd" | "QLinearMul" => {
                let (a, b, y) = (quantized(0)?, quantized(3)?, output_params(6)?);
                let float = &node.op_type["QLinear".len()..];
                let a = self.dequantize(output, "a", &a, None);
                let b = self.dequantize(output, "b", &b, None);
                let result = self.float_op(output, float, &[&a, &b], Vec::new());
                self.quantize(node, &result, &y, output, &[0, 3])
            }
            "QLinearSigmoid" | "QLinearLeakyRelu" => {
                let (x, y) = (quantized(0)?, output_params(3)?);
                let float = &node.op_type["QLinear".len()..];
                let attributes = match float {
                    "LeakyRelu" => vec![float_attr(
                        "alpha",
                        float_attribute(node, "alpha").unwrap_or(0.01),
                    )],
                    _ => Vec::new(),
                };
                let x = self.dequantize(output, "x", &x, None);
                let result = self.float_op(output, float, &[&x], attributes);
                self.quantize(node, &result, &y, output, &[0])
            }
            "QLinearSoftmax" => {
                let (x, y) = (quantized(0)?, output_params(3)?);
                let softmax_opset = int_attribute(node, "opset").unwrap_or(self.opset);
                if (softmax_opset < 13) != (self.opset < 13) {
                    return Err(refused(
                        node,
                        &format!(
                            "computes the softmax of opset {softmax_opset} in a model of opset {} \
                             (the two differ on axes after `axis`)",
                            self.opset
                        ),
                    ));
                }
                let axis = int_attribute(node, "axis").unwrap_or(-1);
                let x = self.dequantize(output, "x", &x, None);
                let result = self.float_op(output, "Softmax", &[&x], vec![int_attr("axis", axis)]);
                self.quantize(node, &result, &y, output, &[0])
            }
            "QLinearGlobalAveragePool" | "QLinearAveragePool" => {
                if int_attribute(node, "channels_last").unwrap_or(0) != 0 {
                    return Err(refused(
                        node,
                        "pools channels-last (NHWC) tensors; only NCHW (channels_last = 0) is supported",
                    ));
                }
                let (x, y) = (quantized(0)?, output_params(3)?);
                let float = &node.op_type["QLinear".len()..];
                let attributes = node
                    .attribute
                    .iter()
                    .filter(|a| a.name != "channels_last")
                    .cloned()
                    .collect();
                let x = self.dequantize(output, "x", &x, None);
                let result = self.float_op(output, float, &[&x], attributes);
                self.quantize(node, &result, &y, output, &[0])
            }
            "QLinearConcat" => {
                let y = output_params(0)?;
                let count = node.input.len().saturating_sub(2) / 3;
                if count == 0 || node.input.len() != 2 + 3 * count {
                    return Err(refused(
                        node,
                        "does not have its inputs in threes (value, scale, zero point) after the output's scale and zero point",
                    ));
                }
                let mut values = Vec::with_capacity(count);
                for k in 0..count {
                    let x = quantized(2 + 3 * k)?;
                    values.push(self.dequantize(output, &format!("x{k}"), &x, None));
                }
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                let axis = int_attribute(node, "axis").unwrap_or(0);
                let result = self.float_op(output, "Concat", &values, vec![int_attr("axis", axis)]);
                let inputs: Vec<usize> = (0..count).map(|k| 2 + 3 * k).collect();
                self.quantize(node, &result, &y, output, &inputs)
            }
            "QGemm" => self.gemm(node, output),
            _ => Err(refused(node, "is not one of the operators rewritten here")),
        }
    }

    /// `QGemm`: `alpha × a_scale × b_scale × (Σ (a − a_zero)(b − b_zero) +
    /// C)`, quantized with Y's scale and zero point if it has them.
    fn gemm(&mut self, node: &NodeProto, output: &str) -> Result<(), LoadError> {
        let at = |k: usize| input(node, k);
        let required =
            |k: usize, what: &str| at(k).ok_or_else(|| refused(node, &format!("lacks {what}")));
        let a = Quantized {
            value: required(0, "A")?,
            scale: required(1, "A's scale")?,
            zero_point: at(2),
        };
        let b = Quantized {
            value: required(3, "B")?,
            scale: required(4, "B's scale")?,
            zero_point: at(5),
        };
        let trans_a = int_attribute(node, "transA").unwrap_or(0);
        let trans_b = int_attribute(node, "transB").unwrap_or(0);
        let alpha = float_attribute(node, "alpha").unwrap_or(1.0);
        // B's scale and zero point are per column of the product, which is
        // B's axis 1, or 0 when B is given transposed.
        let b_axis = if trans_b != 0 { 0 } else { 1 };
        let a_float = self.dequantize(output, "a", &a, None);
        let b_float = self.dequantize(output, "b", &b, Some(b_axis));
        let mut inputs = vec![a_float, b_float];
        if let Some(bias) = at(6) {
            let bias_float = self.float_op(
                output,
                "Cast",
                &[bias],
                vec![int_attr("to", DataType::Float as i64)],
            );
            let scale = self.float_op(output, "Mul", &[a.scale, b.scale], Vec::new());
            inputs.push(self.float_op(output, "Mul", &[&bias_float, &scale], Vec::new()));
        }
        let attributes = vec![
            float_attr("alpha", alpha),
            float_attr("beta", alpha),
            int_attr("transA", trans_a),
            int_attr("transB", trans_b),
        ];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        match at(7) {
            Some(y_scale) => {
                let result = self.float_op(output, "Gemm", &inputs, attributes);
                let y = Quantized {
                    value: "",
                    scale: y_scale,
                    zero_point: at(8),
                };
                self.quantize(node, &result, &y, output, &[0])
            }
            None => {
                self.nodes.push(proto::node(
                    format!("{output}/wasmodel.qlinear.Gemm"),
                    "Gemm",
                    &inputs,
                    &[output],
                    attributes,
                ));
                Ok(())
            }
        }
    }

    /// `DequantizeLinear` of `x` (along `axis` if given), named after the
    /// rewritten node's output and `role`.
    fn dequantize(&mut self, output: &str, role: &str, x: &Quantized, axis: Option<i64>) -> String {
        let name = format!("{output}/wasmodel.qlinear.{role}");
        let mut inputs = vec![x.value, x.scale];
        inputs.extend(x.zero_point);
        let attributes = axis
            .map(|axis| int_attr("axis", axis))
            .into_iter()
            .collect();
        self.nodes.push(proto::node(
            name.clone(),
            "DequantizeLinear",
            &inputs,
            &[&name],
            attributes,
        ));
        name
    }

    /// A float operator's node; returns its output's name.
    fn float_op(
        &mut self,
        output: &str,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> String {
        let name = format!("{output}/wasmodel.qlinear.{op_type}{}", self.nodes.len());
        self.nodes.push(proto::node(
            name.clone(),
            op_type,
            inputs,
            &[&name],
            attributes,
        ));
        name
    }

    /// `QuantizeLinear` of `value` into `output` with `y`'s scale and zero
    /// point. Without a zero point, onnxruntime's output has the element
    /// type of the node's quantized inputs (at `inputs`), and zero as its
    /// zero point; `QuantizeLinear` would make uint8, so a zero of the
    /// inputs' type is written, read from their zero points' initializers.
    fn quantize(
        &mut self,
        node: &NodeProto,
        value: &str,
        y: &Quantized,
        output: &str,
        inputs: &[usize],
    ) -> Result<(), LoadError> {
        let zero_point = match y.zero_point {
            Some(zero_point) => zero_point.to_owned(),
            None => {
                let data_type = inputs
                    .iter()
                    .filter_map(|&k| input(node, k + 2))
                    .find_map(|name| self.initializers.iter().find(|t| t.name == name))
                    .map(|t| t.data_type)
                    .filter(|&t| t == DataType::Uint8 as i32 || t == DataType::Int8 as i32)
                    .ok_or_else(|| {
                        refused(
                            node,
                            "gives no zero point for its output, and none of its inputs' tells \
                             whether the output is int8 or uint8",
                        )
                    })?;
                let name = format!("{output}/wasmodel.qlinear.zero_point");
                self.initializers.push(TensorProto {
                    name: name.clone(),
                    data_type,
                    raw_data: vec![0],
                    ..TensorProto::default()
                });
                name
            }
        };
        self.nodes.push(proto::node(
            format!("{output}/wasmodel.qlinear.QuantizeLinear"),
            "QuantizeLinear",
            &[value, y.scale, &zero_point],
            &[output],
            Vec::new(),
        ));
        Ok(())
    }
}
