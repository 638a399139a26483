//! The protocol's JSON documents: metadata, inference request and response.

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use wasmodel_engine::json::{class_labels_to_json, data_to_json};
use wasmodel_engine::{Dimension, ModelInfo, Tensor, TensorInfo};

use crate::input_data::{DataSeed, InputData, Problem};

/// Datatype names of the protocol, and the element types they stand for.
pub mod datatype {
    use wasmodel_engine::ElementType;

    /// The protocol's name for an element type.
    pub fn name(t: ElementType) -> &'static str {
        match t {
            ElementType::Bool => "BOOL",
            ElementType::U8 => "UINT8",
            ElementType::I32 => "INT32",
            ElementType::I64 => "INT64",
            ElementType::F32 => "FP32",
            ElementType::F64 => "FP64",
            ElementType::String => "BYTES",
        }
    }

    /// The element type a protocol datatype names, or why there is none.
    pub fn parse(name: &str) -> Result<ElementType, String> {
        Ok(match name {
            "BOOL" => ElementType::Bool,
            "UINT8" => ElementType::U8,
            "INT32" => ElementType::I32,
            "INT64" => ElementType::I64,
            "FP32" => ElementType::F32,
            "FP64" => ElementType::F64,
            // In JSON, BYTES elements are strings (UTF-8 text here).
            "BYTES" => ElementType::String,
            "INT8" | "INT16" | "UINT16" | "UINT32" | "UINT64" | "FP16" | "BF16" => {
                return Err(format!(
                    "datatype {name} is not supported; this server takes {SUPPORTED}"
                ));
            }
            other => {
                return Err(format!(
                    "unknown datatype `{other}`; expected one of {SUPPORTED}"
                ));
            }
        })
    }

    const SUPPORTED: &str = "BOOL, UINT8, INT32, INT64, FP32, FP64, BYTES";
}

pub fn server_metadata(name: &str) -> Value {
    json!({
        "name": name,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "model_repository"],
    })
}

/// An output's class labels as the protocol's tensor `parameters`:
/// `{"class_labels": "[0, 1, 2]"}`, the list JSON-encoded in a string,
/// since a parameter's value must be a string, number or boolean.
fn class_label_parameters(t: &TensorInfo) -> Option<Value> {
    let labels = class_labels_to_json(t.class_labels.as_ref()?);
    Some(json!({ "class_labels": labels.to_string() }))
}

pub fn model_metadata(info: &ModelInfo) -> Value {
    let tensors = |list: &[TensorInfo]| -> Vec<Value> {
        list.iter()
            .map(|t| {
                let shape: Vec<i64> = t
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dimension::Fixed(n) => i64::from(*n),
                        Dimension::Dynamic(_) => -1,
                    })
                    .collect();
                let mut tensor = json!({ "name": t.name, "datatype": datatype::name(t.element_type), "shape": shape });
                if let Some(parameters) = class_label_parameters(t) {
                    tensor["parameters"] = parameters;
                }
                tensor
            })
            .collect()
    };
    json!({
        "name": info.name,
        "versions": [info.version],
        "platform": "onnx_onnxv1",
        "inputs": tensors(&info.inputs),
        "outputs": tensors(&info.outputs),
    })
}

/// Reads a request body as JSON. Bare `NaN`, `Infinity` and `-Infinity`
/// (which JSON has no words for, but tritonclient writes for non-finite
/// floats, missing values among them) are read as the strings `"NaN"`,
/// `"Infinity"` and `"-Infinity"`, which float tensors take.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    match serde_json::from_slice::<T>(body) {
        Ok(value) => Ok(value),
        Err(e) if e.is_syntax() => {
            match std::str::from_utf8(body).ok().and_then(quote_non_finite) {
                Some(quoted) => serde_json::from_str(&quoted).map_err(|_| e),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The text with every bare `NaN`, `Infinity` or `-Infinity` outside a
/// string quoted, or `None` if it has none.
fn quote_non_finite(text: &str) -> Option<String> {
    const WORDS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(word) = WORDS.iter().find(|w| {
            rest.starts_with(*w)
                && !rest[w.len()..].starts_with(|n: char| n.is_ascii_alphanumeric())
        }) {
            out.push('"');
            out.push_str(word);
            out.push('"');
            rest = &rest[word.len()..];
            changed = true;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed.then_some(out)
}

/// An inference request, as the protocol defines it. `parameters` other
/// than the binary extension's are accepted and ignored, like any other
/// field this server has no use for: none changes how it infers.
#[derive(Deserialize)]
struct WireRequest {
    id: Option<String>,
    inputs: Vec<WireInput>,
    outputs: Option<Vec<WireOutput>>,
    #[serde(default)]
    parameters: Parameters,
}

/// One input of a request. Its `data` is read straight into a typed
/// buffer when `datatype` comes first ([`crate::input_data`]), so it is
/// deserialized by hand rather than derived.
struct WireInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Option<InputData>,
    parameters: Parameters,
}

impl<'de> Deserialize<'de> for WireInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireInput, D::Error> {
        const FIELDS: &[&str] = &["name", "shape", "datatype", "data", "parameters"];
        deserializer.deserialize_struct("WireInput", FIELDS, WireInputVisitor)
    }
}

struct WireInputVisitor;

impl<'de> Visitor<'de> for WireInputVisitor {
    type Value = WireInput;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an input: {name, shape, datatype, data}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireInput, A::Error> {
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            field: &'static str,
            value: T,
        ) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(field)),
                None => Ok(()),
            }
        }
        let (mut name, mut shape, mut datatype, mut data, mut parameters) =
            (None, None, None::<String>, None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "name" => once(&mut name, "name", map.next_value()?)?,
                "shape" => once(&mut shape, "shape", map.next_value()?)?,
                "datatype" => once(&mut datatype, "datatype", map.next_value()?)?,
                "data" => {
                    let known = datatype.as_deref().and_then(|d| datatype::parse(d).ok());
                    once(&mut data, "data", map.next_value_seed(DataSeed(known))?)?
                }
                "parameters" => once(&mut parameters, "parameters", map.next_value()?)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(WireInput {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            shape: shape.ok_or_else(|| de::Error::missing_field("shape"))?,
            datatype: datatype.ok_or_else(|| de::Error::missing_field("datatype"))?,
            data,
            parameters: parameters.unwrap_or_default(),
        })
    }
}

#[derive(Deserialize)]
struct WireOutput {
    name: String,
    #[serde(default)]
    parameters: Parameters,
}

/// The `parameters` the binary extension defines.
#[derive(Deserialize, Default)]
struct Parameters {
    /// An input's raw size in the body's binary part.
    binary_data_size: Option<u64>,
    /// An output asked for in binary (or not).
    binary_data: Option<bool>,
    /// The request's default for outputs that do not say.
    binary_data_output: Option<bool>,
}

/// One output to return, and whether in binary.
pub struct RequestedOutput {
    pub name: String,
    pub binary: bool,
}

/// A checked inference request: the inputs as tensors, and which outputs
/// to return (all when `None`, in binary if `binary_outputs`).
pub struct InferRequest {
    pub id: Option<String>,
    pub inputs: Vec<Tensor>,
    pub outputs: Option<Vec<RequestedOutput>>,
    pub binary_outputs: bool,
}

impl InferRequest {
    /// Reads a request: its JSON header and, with the binary extension, the
    /// raw tensors that follow it (`binary`, empty without). Datatypes are
    /// checked against the model's declarations here, so the message names
    /// the protocol's datatypes; everything else about the inputs is checked
    /// by the engine.
    pub fn parse(header: &[u8], binary: &[u8], info: &ModelInfo) -> Result<InferRequest, String> {
        let wire: WireRequest = parse_body(header).map_err(|e| {
            if !e.is_data() {
                format!("the request body is not valid JSON: {e}")
            } else if !header.trim_ascii_start().starts_with(b"{") {
                "not an inference request: expected a JSON object with `inputs`, \
                 a list of {name, shape, datatype, data}"
                    .into()
            } else {
                format!("not an inference request: {e}")
            }
        })?;
        let mut rest = binary;
        let inputs = wire
            .inputs
            .into_iter()
            .map(|input| input_tensor(input, &mut rest, info))
            .collect::<Result<Vec<_>, _>>()?;
        if !rest.is_empty() {
            return Err(format!(
                "the body has {} bytes of binary data after the inputs' binary_data_size",
                rest.len()
            ));
        }
        let binary_outputs = wire.parameters.binary_data_output.unwrap_or(false);
        let outputs = match wire.outputs {
            None => None,
            Some(requested) => {
                if let Some(unknown) = requested
                    .iter()
                    .find(|o| !info.outputs.iter().any(|t| t.name == o.name))
                {
                    return Err(format!(
                        "unknown output `{}` requested; the model's outputs are {}",
                        unknown.name,
                        list(&info.outputs)
                    ));
                }
                Some(
                    requested
                        .into_iter()
                        .map(|o| RequestedOutput {
                            binary: o.parameters.binary_data.unwrap_or(binary_outputs),
                            name: o.name,
                        })
                        .collect(),
                )
            }
        };
        Ok(InferRequest {
            id: wire.id,
            inputs,
            outputs,
            binary_outputs,
        })
    }
}

/// Reads one input, from its JSON `data` or, with `binary_data_size`, from
/// the next bytes of `binary`.
fn input_tensor(input: WireInput, binary: &mut &[u8], info: &ModelInfo) -> Result<Tensor, String> {
    let name = &input.name;
    let element_type =
        datatype::parse(&input.datatype).map_err(|e| format!("input `{name}`: {e}"))?;
    if let Some(declared) = info.inputs.iter().find(|t| &t.name == name)
        && declared.element_type != element_type
    {
        return Err(format!(
            "wrong datatype for input `{name}`: expected {}, got {}",
            datatype::name(declared.element_type),
            input.datatype
        ));
    }
    let shape = input
        .shape
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            format!(
                "input `{name}`: shape {:?} has a negative or too large dimension",
                input.shape
            )
        })?;
    let data = match (input.parameters.binary_data_size, input.data) {
        (Some(size), None) => {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            let Some((bytes, rest)) = binary.split_at_checked(size) else {
                return Err(format!(
                    "input `{name}`: binary_data_size is {size}, but only {} bytes of binary data are left",
                    binary.len()
                ));
            };
            *binary = rest;
            let count = shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d as usize))
                .ok_or_else(|| format!("input `{name}`: shape {:?} is too large", input.shape))?;
            crate::binary::read(element_type, &input.datatype, count, bytes)
                .map_err(|e| format!("input `{name}` ({}): {e}", input.datatype))?
        }
        // Data may be flat or nested; either way it is read in row-major
        // order and its length is checked against `shape` by the engine.
        (None, Some(data)) => data
            .into_data(element_type)
            .map_err(|problem| match problem {
                Problem::Shape(e) => format!("input `{name}`: {e}"),
                Problem::Element(e) => format!("input `{name}` ({}): {e}", input.datatype),
            })?,
        (Some(_), Some(_)) => {
            return Err(format!(
                "input `{name}` has both `data` and a binary_data_size; send one"
            ));
        }
        (None, None) => {
            return Err(format!(
                "input `{name}` has no `data` (nor binary_data_size)"
            ));
        }
    };
    Ok(Tensor::new(name.clone(), shape, data))
}

/// The response to an inference request: the requested outputs (all, in
/// the model's order, when none were named), as the JSON header and the
/// binary part that follows it (empty if no output is binary).
pub fn infer_response(
    info: &ModelInfo,
    request: &InferRequest,
    outputs: Vec<Tensor>,
) -> Result<(Value, Vec<u8>), String> {
    let selected: Vec<(&Tensor, bool)> = match &request.outputs {
        None => outputs
            .iter()
            .map(|t| (t, request.binary_outputs))
            .collect(),
        Some(requested) => requested
            .iter()
            .map(|r| {
                outputs
                    .iter()
                    .find(|t| t.name == r.name)
                    .map(|t| (t, r.binary))
                    .ok_or_else(|| format!("the model gave no output `{}`", r.name))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut binary = Vec::new();
    let outputs: Vec<Value> = selected
        .into_iter()
        .map(|(t, in_binary)| {
            let mut output = json!({
                "name": t.name,
                "datatype": datatype::name(t.data.element_type()),
                "shape": t.shape,
            });
            let mut parameters = info
                .outputs
                .iter()
                .find(|o| o.name == t.name)
                .and_then(class_label_parameters)
                .unwrap_or_else(|| json!({}));
            if in_binary {
                let bytes = crate::binary::write(&t.data);
                parameters["binary_data_size"] = json!(bytes.len());
                binary.extend_from_slice(&bytes);
            } else {
                output["data"] = data_to_json(&t.data);
            }
            if parameters.as_object().is_some_and(|p| !p.is_empty()) {
                output["parameters"] = parameters;
            }
            output
        })
        .collect();
    let mut response = json!({
        "model_name": info.name,
        "model_version": info.version,
        "outputs": outputs,
    });
    if let Some(id) = &request.id {
        response["id"] = Value::String(id.clone());
    }
    Ok((response, binary))
}

fn list(tensors: &[TensorInfo]) -> String {
    tensors
        .iter()
        .map(|t| format!("`{}`", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmodel_engine::ElementType;

    #[test]
    fn bare_non_finite_floats_are_read_as_their_strings() {
        let body = br#"{"data":[NaN,1.0,-Infinity,Infinity],"name":"NaN in a string \" NaN"}"#;
        let value: Value = parse_body(body).unwrap();
        assert_eq!(value["data"], json!(["NaN", 1.0, "-Infinity", "Infinity"]));
        assert_eq!(value["name"], "NaN in a string \" NaN");
        assert!(parse_body::<Value>(b"{\"a\": NaNx}").is_err());
        assert!(parse_body::<Value>(b"{\"a\": [1,").is_err());
    }

    #[test]
    fn datatypes_round_trip() {
        for t in [
            ElementType::Bool,
            ElementType::U8,
            ElementType::I32,
            ElementType::I64,
            ElementType::F32,
            ElementType::F64,
            ElementType::String,
        ] {
            assert_eq!(datatype::parse(datatype::name(t)), Ok(t));
        }
        assert!(
            datatype::parse("FP16")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            datatype::parse("fp32")
                .unwrap_err()
                .contains("unknown datatype")
        );
    }
}
