//! What a user may say about a model's inputs when it is built: shapes to
//! plan ahead (`--input-shape NAME=1,3,640,640`) and inputs to freeze
//! (`--input-value NAME=16000`).
//!
//! - A planned shape is made into a plan while the model loads, so the
//!   first call with that shape does not plan (and a shape the model cannot
//!   take is refused at build time, not on a call). Other shapes are still
//!   accepted.
//! - A frozen input becomes a constant of the graph before tract sees it:
//!   it is no longer an input, and whatever depends on it alone is computed
//!   once, such as the branch an `If` on a sample rate takes.
//!
//! - A tokenizer (`--tokenizer tokenizer.json`) puts the text a model's
//!   users have in front of its token-id inputs (see
//!   [`text_input`](crate::text_input)).
//! - A pooling (`--pooling mean|cls`, `--normalize`) makes an encoder's
//!   token states one sentence embedding (see [`Pooling`]).
//! - `--quantize int8` stores the weights of matrix products and embedding
//!   tables as int8 (see [`quantize`](crate::quantize)).
//! - Class names (`--config config.json`'s `id2label`) label the columns
//!   of a classifier's scores (see [`id2label`](crate::id2label)).
//!
//! Options travel from the builder to the engine inside the component as
//! text, one per line, in the form the command line takes them, the
//! tokenizer's JSON last ([`LoadOptions::to_text`],
//! [`LoadOptions::from_text`]), so the native check and the component parse
//! the same thing with the same code.

use tract_onnx::pb::{self, ModelProto, TensorProto, tensor_proto::DataType};
use tract_onnx::prelude::Framework as _;

use crate::error::LoadError;
use crate::pooling::Pooling;
use crate::types::{Tensor, TensorData};

/// Shapes to plan and inputs to freeze when a model loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Input shapes planned while loading, each input's dimensions.
    pub input_shapes: Vec<(String, Vec<u32>)>,
    /// Inputs frozen to a value: the elements as written (`16000`,
    /// `1,2,3`), typed by the input's declared element type.
    pub input_values: Vec<(String, Vec<String>)>,
    /// A Hugging Face `tokenizer.json`: the model then takes text, which
    /// this tokenizer turns into its token-id inputs.
    pub tokenizer: Option<String>,
    /// Token states pooled into one sentence embedding per text.
    pub pooling: Option<Pooling>,
    /// Weights of matrix products and embeddings quantized to int8.
    pub quantize_int8: bool,
    /// The names of a classifier's classes, in column order: the class
    /// labels of its output with one column per class.
    pub labels: Option<Vec<String>>,
}

/// The line after which [`LoadOptions::to_text`] writes the tokenizer.
const TOKENIZER_LINE: &str = "tokenizer";

/// A malformed `NAME=...` option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}`: {reason}")]
pub struct OptionError {
    given: String,
    reason: String,
}

fn option_error(given: &str, reason: impl Into<String>) -> OptionError {
    OptionError {
        given: given.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `NAME=REST` at its last `=` (input names may hold one).
fn name_and_rest(given: &str) -> Result<(&str, &str), OptionError> {
    match given.rsplit_once('=') {
        Some((name, rest)) if !name.is_empty() => Ok((name, rest)),
        _ => Err(option_error(given, "expected NAME=VALUES")),
    }
}

impl LoadOptions {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.input_shapes.is_empty()
            && self.input_values.is_empty()
            && self.tokenizer.is_none()
            && self.pooling.is_none()
            && !self.quantize_int8
            && self.labels.is_none()
    }

    /// Adds a shape to plan, written `NAME=1,3,640,640` (`NAME=` for a
    /// scalar).
    pub fn add_input_shape(&mut self, given: &str) -> Result<(), OptionError> {
        let (name, dims) = name_and_rest(given)?;
        let dims = if dims.trim().is_empty() {
            Vec::new()
        } else {
            dims.split(',')
                .map(|d| {
                    d.trim().parse::<u32>().map_err(|_| {
                        option_error(given, format!("`{d}` is not a dimension (0 to 4294967295)"))
                    })
                })
                .collect::<Result<Vec<u32>, _>>()?
        };
        if name.contains('\n') {
            return Err(option_error(given, "an input name holds no line break"));
        }
        self.input_shapes.push((name.to_owned(), dims));
        Ok(())
    }

    /// Adds an input to freeze, written `NAME=16000` or `NAME=1,2,3`.
    pub fn add_input_value(&mut self, given: &str) -> Result<(), OptionError> {
        let (name, values) = name_and_rest(given)?;
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
        if values.iter().any(String::is_empty) {
            return Err(option_error(given, "a value is empty"));
        }
        if name.contains('\n') {
            return Err(option_error(given, "an input name holds no line break"));
        }
        self.input_values.push((name.to_owned(), values));
        Ok(())
    }

    /// The options as text, one per line: `input-shape NAME=DIMS`,
    /// `input-value NAME=VALUES`, `pooling KIND [normalize]`, `quantize
    /// int8`, `labels ["NAME", ...]` (a JSON list); then, if there is a
    /// tokenizer, a line `tokenizer` and its JSON to the end.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (name, dims) in &self.input_shapes {
            let dims: Vec<String> = dims.iter().map(u32::to_string).collect();
            text += &format!("input-shape {name}={}\n", dims.join(","));
        }
        for (name, values) in &self.input_values {
            text += &format!("input-value {name}={}\n", values.join(","));
        }
        if let Some(pooling) = self.pooling {
            text += &format!("pooling {}\n", pooling.to_text());
        }
        if self.quantize_int8 {
            text += "quantize int8\n";
        }
        if let Some(labels) = &self.labels {
            // JSON escapes line breaks: the list stays one line.
            text += &format!("labels {}\n", serde_json::Value::from(labels.clone()));
        }
        if let Some(json) = &self.tokenizer {
            text += TOKENIZER_LINE;
            text.push('\n');
            text += json;
        }
        text
    }

    /// Reads what [`to_text`](Self::to_text) wrote.
    pub fn from_text(text: &str) -> Result<LoadOptions, OptionError> {
        let mut options = LoadOptions::default();
        let (lines, tokenizer) = split_tokenizer(text);
        for line in lines.lines().filter(|l| !l.is_empty()) {
            match line.split_once(' ') {
                Some(("input-shape", given)) => options.add_input_shape(given)?,
                Some(("input-value", given)) => options.add_input_value(given)?,
                Some(("quantize", "int8")) => options.quantize_int8 = true,
                Some(("labels", given)) => {
                    options.labels =
                        Some(serde_json::from_str(given).map_err(|_| {
                            option_error(given, "labels are a JSON list of strings")
                        })?);
                }
                Some(("pooling", given)) => {
                    options.pooling = Some(Pooling::parse(given).ok_or_else(|| {
                        option_error(
                            given,
                            "a pooling is `mean` or `cls`, then maybe `normalize`",
                        )
                    })?);
                }
                _ => {
                    return Err(option_error(
                        line,
                        "not an input-shape, input-value, pooling, quantize or labels",
                    ));
                }
            }
        }
        options.tokenizer = tokenizer.map(str::to_owned);
        Ok(options)
    }

    /// Makes every frozen input a constant (an initializer) of the graph.
    pub(crate) fn freeze_inputs(&self, proto: &mut ModelProto) -> Result<(), LoadError> {
        for tensor in self.frozen_tensors_of(proto)? {
            let Some(graph) = proto.graph.as_mut() else {
                break;
            };
            graph.input.retain(|i| i.name != tensor.name);
            graph.initializer.push(initializer(&tensor));
        }
        Ok(())
    }

    /// The frozen inputs as tensors, typed and shaped as the model in
    /// `onnx` declares them: what to give a runtime that runs the model as
    /// shipped (the reference of `wasmodel check`).
    pub fn frozen_tensors(&self, onnx: &[u8]) -> Result<Vec<Tensor>, LoadError> {
        let proto = crate::onnx()
            .proto_model_for_read(&mut &onnx[..])
            .map_err(|e| LoadError::Malformed(e.to_string()))?;
        self.frozen_tensors_of(&proto)
    }

    fn frozen_tensors_of(&self, proto: &ModelProto) -> Result<Vec<Tensor>, LoadError> {
        let Some(graph) = proto.graph.as_ref() else {
            return Ok(Vec::new());
        };
        self.input_values
            .iter()
            .map(|(name, values)| {
                let input = graph
                    .input
                    .iter()
                    .find(|i| &i.name == name && !graph.initializer.iter().any(|t| &t.name == name))
                    .ok_or_else(|| {
                        LoadError::Options(format!(
                            "--input-value {name}: the model has no input `{name}` (its inputs: {})",
                            input_names(graph)
                        ))
                    })?;
                constant(input, values)
                    .map_err(|why| LoadError::Options(format!("--input-value {name}: {why}")))
            })
            .collect()
    }
}

/// The option lines of [`LoadOptions::to_text`]'s text, and the
/// tokenizer's JSON after them if there is one.
fn split_tokenizer(text: &str) -> (&str, Option<&str>) {
    let marker = format!("{TOKENIZER_LINE}\n");
    if let Some(json) = text.strip_prefix(&marker) {
        return ("", Some(json));
    }
    match text.find(&format!("\n{marker}")) {
        Some(at) => (&text[..at], Some(&text[at + 1 + marker.len()..])),
        None => (text, None),
    }
}

fn input_names(graph: &pb::GraphProto) -> String {
    let names: Vec<String> = graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
        .map(|i| format!("`{}`", i.name))
        .collect();
    names.join(", ")
}

/// The tensor an input is frozen to: its declared element type, and its
/// declared shape (one dimension left open is the number of values).
fn constant(input: &pb::ValueInfoProto, values: &[String]) -> Result<Tensor, String> {
    let Some(pb::type_proto::Value::TensorType(tensor_type)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err("the input is not a tensor".into());
    };
    let declared = crate::describe::declared_dims(input).ok_or("the input declares no shape")?;
    let count = values.len() as i64;
    let open = declared.iter().filter(|d| d.is_none()).count();
    let fixed: i64 = declared.iter().flatten().product();
    let shape: Vec<u32> = match open {
        0 if fixed == count => declared.iter().flatten().map(|&d| d as u32).collect(),
        1 if fixed > 0 && count % fixed == 0 => declared
            .iter()
            .map(|d| d.unwrap_or(count / fixed) as u32)
            .collect(),
        _ => {
            return Err(format!(
                "{count} value{} cannot fill its declared shape {}",
                if count == 1 { "" } else { "s" },
                describe_dims(&declared)
            ));
        }
    };
    fn parse<T: std::str::FromStr>(values: &[String], what: &str) -> Result<Vec<T>, String> {
        values
            .iter()
            .map(|v| v.parse().map_err(|_| format!("`{v}` is not {what}")))
            .collect()
    }
    let data = match DataType::try_from(tensor_type.elem_type) {
        Ok(DataType::Float) => TensorData::F32(parse(values, "a number")?),
        Ok(DataType::Double) => TensorData::F64(parse(values, "a number")?),
        Ok(DataType::Int32) => TensorData::I32(parse(values, "a 32-bit integer")?),
        Ok(DataType::Int64) => TensorData::I64(parse(values, "a 64-bit integer")?),
        Ok(DataType::Uint8) => TensorData::U8(parse(values, "an integer from 0 to 255")?),
        Ok(DataType::Bool) => TensorData::Bool(
            values
                .iter()
                .map(|v| match v.as_str() {
                    "true" | "1" => Ok(true),
                    "false" | "0" => Ok(false),
                    _ => Err(format!("`{v}` is not true, false, 1 or 0")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Ok(DataType::String) => TensorData::String(values.to_vec()),
        other => return Err(format!("its element type {other:?} cannot be frozen")),
    };
    Ok(Tensor::new(input.name.clone(), shape, data))
}

/// A tensor as an ONNX initializer (little-endian raw data, as ONNX
/// stores it).
fn initializer(tensor: &Tensor) -> TensorProto {
    let mut proto = TensorProto {
        name: tensor.name.clone(),
        dims: tensor.shape.iter().map(|&d| i64::from(d)).collect(),
        ..TensorProto::default()
    };
    let (data_type, raw): (DataType, Vec<u8>) = match &tensor.data {
        TensorData::F32(v) => (
            DataType::Float,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        TensorData::F64(v) => (
            DataType::Double,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        TensorData::I32(v) => (
            DataType::Int32,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        TensorData::I64(v) => (
            DataType::Int64,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        TensorData::U8(v) => (DataType::Uint8, v.clone()),
        TensorData::Bool(v) => (DataType::Bool, v.iter().map(|&b| u8::from(b)).collect()),
        TensorData::String(v) => {
            proto.string_data = v.iter().map(|s| s.as_bytes().to_vec()).collect();
            (DataType::String, Vec::new())
        }
    };
    proto.data_type = data_type as i32;
    proto.raw_data = raw;
    proto
}

fn describe_dims(dims: &[Option<i64>]) -> String {
    let dims: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".to_owned(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_text() {
        let mut options = LoadOptions::default();
        options.add_input_shape("images=1,3,640,640").unwrap();
        options.add_input_shape("scalar=").unwrap();
        options.add_input_value("a=b=16000").unwrap();
        options.add_input_value("k=1, 2,3").unwrap();
        assert_eq!(options.input_shapes[1], ("scalar".into(), vec![]));
        assert_eq!(options.input_values[0].0, "a=b");
        assert_eq!(options.input_values[1].1, vec!["1", "2", "3"]);
        assert_eq!(LoadOptions::from_text(&options.to_text()).unwrap(), options);
        // The tokenizer's JSON (lines of its own) comes back whole, with
        // and without other options before it.
        options.pooling = Pooling::parse("mean normalize");
        options.quantize_int8 = true;
        options.labels = Some(vec!["a\nb".into(), "ü \"c\"".into()]);
        options.tokenizer = Some("{\n  \"model\": {}\n}\ninput-shape x=1\n".into());
        assert_eq!(LoadOptions::from_text(&options.to_text()).unwrap(), options);
        let alone = LoadOptions {
            tokenizer: options.tokenizer.clone(),
            ..LoadOptions::default()
        };
        assert_eq!(LoadOptions::from_text(&alone.to_text()).unwrap(), alone);
    }

    #[test]
    fn malformed_options_say_what_is_wrong() {
        let mut options = LoadOptions::default();
        for (given, reason) in [
            ("images", "expected NAME=VALUES"),
            ("=1,2", "expected NAME=VALUES"),
            ("x=1,-3", "`-3` is not a dimension"),
            ("x=1,,3", "`` is not a dimension"),
        ] {
            let e = options.add_input_shape(given).unwrap_err().to_string();
            assert!(e.contains(reason), "{given}: {e}");
        }
        let e = options.add_input_value("x=1,").unwrap_err().to_string();
        assert!(e.contains("a value is empty"), "{e}");
        assert!(LoadOptions::from_text("shape x=1").is_err());
    }
}
