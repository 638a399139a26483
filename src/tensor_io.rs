//! Tensors in files: JSON (nested arrays, or `{"shape", "data"}`) and NumPy
//! `.npy`, in; JSON out.
//!
//! JSON has no element types, so a JSON tensor is read as the element type
//! the model declares for that input (or as its own `"dtype"`, if it gives
//! one). Non-finite floats are written and read as the strings `"NaN"`,
//! `"Infinity"` and `"-Infinity"`, since JSON numbers cannot hold them.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::{ElementType, Error, Tensor, TensorData};

/// Reads the tensor `name` from a `.json` or `.npy` file; JSON elements are
/// read as `element_type`.
pub fn read_tensor_file(
    name: &str,
    element_type: ElementType,
    path: &Path,
) -> Result<Tensor, Error> {
    let bytes = std::fs::read(path).map_err(Error::file(path))?;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
        || bytes.starts_with(NPY_MAGIC);
    let result = if is_npy {
        tensor_from_npy(name, &bytes)
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|value| tensor_from_json(name, element_type, &value))
    };
    result.map_err(|reason| Error::InputFile {
        path: path.to_owned(),
        reason,
    })
}

/// Reads a tensor from JSON: nested arrays (`[[1, 2], [3, 4]]`), a scalar,
/// or an object `{"shape": [2, 2], "data": [1, 2, 3, 4], "dtype": "f32"}`
/// whose `data` may be flat or nested and whose `dtype` is optional.
pub fn tensor_from_json(
    name: &str,
    element_type: ElementType,
    value: &Value,
) -> Result<Tensor, String> {
    let (shape, leaves, element_type) = match value {
        Value::Object(object) => {
            let element_type = match object.get("dtype") {
                None => element_type,
                Some(Value::String(s)) => ElementType::from_name(s).ok_or_else(|| {
                    format!("unknown dtype `{s}`; expected one of f32, f64, i32, i64, u8, bool")
                })?,
                Some(other) => return Err(format!("`dtype` must be a string, got {other}")),
            };
            let data = object
                .get("data")
                .ok_or("a tensor object needs a `data` field (and a `shape`)")?;
            let (_, leaves) = flatten(data)?;
            let shape = match object.get("shape") {
                Some(Value::Array(dims)) => dims
                    .iter()
                    .map(|d| d.as_u64().and_then(|d| u32::try_from(d).ok()))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or("`shape` must be a list of non-negative integers")?,
                Some(_) => return Err("`shape` must be a list of non-negative integers".into()),
                None => return Err("a tensor object needs a `shape` field".into()),
            };
            (shape, leaves, element_type)
        }
        _ => {
            let (shape, leaves) = flatten(value)?;
            (shape, leaves, element_type)
        }
    };
    let data = elements(element_type, &leaves)?;
    Ok(Tensor::new(name, shape, data))
}

/// Reads every tensor of a JSON object `{"name": tensor, ...}`, each as
/// [`tensor_from_json`] does; `element_type` gives each name's type.
pub fn tensors_from_json_object(
    value: &Value,
    element_type: impl Fn(&str) -> Option<ElementType>,
) -> Result<Vec<Tensor>, String> {
    let Value::Object(object) = value else {
        return Err("expected a JSON object mapping input names to tensors".into());
    };
    object
        .iter()
        .map(|(name, tensor)| {
            // An unknown name is reported by the model, with the names it
            // knows; read its data as f32 until then.
            let element_type = element_type(name).unwrap_or(ElementType::F32);
            tensor_from_json(name, element_type, tensor).map_err(|e| format!("input `{name}`: {e}"))
        })
        .collect()
}

/// Writes tensors as one JSON object, in order:
/// `{"name": {"dtype": "f32", "shape": [..], "data": [..]}, ...}`.
pub fn tensors_to_json(tensors: &[Tensor]) -> Value {
    let mut object = Map::new();
    for t in tensors {
        let data: Vec<Value> = match &t.data {
            TensorData::F32(v) => v.iter().map(|&x| float(f64::from(x), json!(x))).collect(),
            TensorData::F64(v) => v.iter().map(|&x| float(x, json!(x))).collect(),
            TensorData::I32(v) => v.iter().map(|&x| json!(x)).collect(),
            TensorData::I64(v) => v.iter().map(|&x| json!(x)).collect(),
            TensorData::U8(v) => v.iter().map(|&x| json!(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| json!(x)).collect(),
        };
        object.insert(
            t.name.clone(),
            json!({ "dtype": t.data.element_type().name(), "shape": t.shape, "data": data }),
        );
    }
    Value::Object(object)
}

fn float(x: f64, finite: Value) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        finite
    }
}

/// Splits nested arrays into a shape and row-major leaves, refusing ragged
/// arrays.
fn flatten(value: &Value) -> Result<(Vec<u32>, Vec<&Value>), String> {
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(u32::try_from(items.len()).map_err(|_| "an array is too long")?);
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut leaves = Vec::new();
    collect(value, &shape, 0, &mut Vec::new(), &mut leaves)?;
    Ok((shape, leaves))
}

fn collect<'a>(
    value: &'a Value,
    shape: &[u32],
    depth: usize,
    at: &mut Vec<usize>,
    leaves: &mut Vec<&'a Value>,
) -> Result<(), String> {
    let position = || {
        format!(
            "[{}]",
            at.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("][")
        )
    };
    match (value, shape.get(depth)) {
        (Value::Array(items), Some(&len)) => {
            if items.len() != len as usize {
                return Err(format!(
                    "ragged array: {} has {} elements where {len} were expected",
                    if at.is_empty() {
                        "the top level".into()
                    } else {
                        position()
                    },
                    items.len()
                ));
            }
            for (i, item) in items.iter().enumerate() {
                at.push(i);
                collect(item, shape, depth + 1, at, leaves)?;
                at.pop();
            }
            Ok(())
        }
        (Value::Array(_), None) => Err(format!(
            "ragged array: {} nests deeper than the others",
            position()
        )),
        (_, Some(_)) => Err(format!("ragged array: {} is not an array", position())),
        (leaf, None) => {
            leaves.push(leaf);
            Ok(())
        }
    }
}

/// Converts JSON leaves to elements of `element_type`, exactly: no rounding
/// of fractional numbers into integers, no out-of-range values.
fn elements(element_type: ElementType, leaves: &[&Value]) -> Result<TensorData, String> {
    fn each<T>(
        leaves: &[&Value],
        what: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        leaves
            .iter()
            .enumerate()
            .map(|(i, v)| f(v).ok_or_else(|| format!("element {i} is {v}, which is not {what}")))
            .collect()
    }
    fn real(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" | "nan" => Some(f64::NAN),
                "Infinity" | "inf" => Some(f64::INFINITY),
                "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }
    let integer = |v: &Value| v.as_i64();
    Ok(match element_type {
        ElementType::F32 => {
            TensorData::F32(each(leaves, "a number", |v| real(v).map(|x| x as f32))?)
        }
        ElementType::F64 => TensorData::F64(each(leaves, "a number", real)?),
        ElementType::I32 => TensorData::I32(each(leaves, "an i32 integer", |v| {
            integer(v).and_then(|x| i32::try_from(x).ok())
        })?),
        ElementType::I64 => TensorData::I64(each(leaves, "an i64 integer", integer)?),
        ElementType::U8 => TensorData::U8(each(leaves, "an integer from 0 to 255", |v| {
            integer(v).and_then(|x| u8::try_from(x).ok())
        })?),
        ElementType::Bool => TensorData::Bool(each(leaves, "true or false", Value::as_bool)?),
    })
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a NumPy `.npy` file (format versions 1 to 3, C order, little
/// endian, one of the supported element types).
pub fn tensor_from_npy(name: &str, bytes: &[u8]) -> Result<Tensor, String> {
    let rest = bytes
        .strip_prefix(NPY_MAGIC)
        .ok_or("not a .npy file (no \\x93NUMPY magic)")?;
    let (header_len, rest) = match rest {
        [1, _, a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) as usize, rest),
        [2 | 3, _, a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, rest),
        [major, ..] => return Err(format!(".npy format version {major} is not supported")),
        [] => return Err("truncated .npy header".into()),
    };
    let header = rest.get(..header_len).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let body = &rest[header_len..];

    let descr = dict_value(header, "descr").ok_or("the .npy header has no 'descr'")?;
    // A quoted string such as '<f4': up to its closing quote.
    let descr = descr
        .strip_prefix(['\'', '"'])
        .and_then(|d| d.split(['\'', '"']).next())
        .ok_or("the .npy header's 'descr' is not a string")?;
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-order arrays are not supported; save np.ascontiguousarray(a)".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("the .npy header has no 'shape'")?;
    let shape = shape_text
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| format!("cannot read the .npy shape {shape_text}"))?;

    let element_type = match descr {
        "<f4" => ElementType::F32,
        "<f8" => ElementType::F64,
        "<i4" => ElementType::I32,
        "<i8" => ElementType::I64,
        "|u1" | "<u1" => ElementType::U8,
        "|b1" => ElementType::Bool,
        other => {
            return Err(format!(
                "element type '{other}' is not supported; use float32, float64, int32, int64, uint8 or bool (little endian)"
            ));
        }
    };
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
    let expected = count
        .and_then(|n| n.checked_mul(element_type.size_of()))
        .ok_or("the .npy shape is too large")?;
    if body.len() != expected {
        return Err(format!(
            "the .npy data is {} bytes, but shape {:?} of {element_type} needs {expected}",
            body.len(),
            shape
        ));
    }
    fn le<const N: usize, T>(body: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        body.chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunks are N bytes")))
            .collect()
    }
    let data = match element_type {
        ElementType::F32 => TensorData::F32(le(body, f32::from_le_bytes)),
        ElementType::F64 => TensorData::F64(le(body, f64::from_le_bytes)),
        ElementType::I32 => TensorData::I32(le(body, i32::from_le_bytes)),
        ElementType::I64 => TensorData::I64(le(body, i64::from_le_bytes)),
        ElementType::U8 => TensorData::U8(body.to_vec()),
        ElementType::Bool => TensorData::Bool(body.iter().map(|&b| b != 0).collect()),
    };
    Ok(Tensor::new(name, shape, data))
}

/// The text after `'key':` in a Python dict literal.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let after = &header[at + key.len() + 2..];
    Some(after.trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_object_json_read_the_same() {
        let nested = tensor_from_json("x", ElementType::F32, &json!([[1, 2.5], [3, 4]])).unwrap();
        let object = json!({"shape": [2, 2], "data": [1, 2.5, 3, 4]});
        let object = tensor_from_json("x", ElementType::F32, &object).unwrap();
        assert_eq!(nested, object);
        assert_eq!(nested.shape, [2, 2]);
        assert_eq!(nested.data, TensorData::F32(vec![1.0, 2.5, 3.0, 4.0]));
    }

    #[test]
    fn json_elements_are_checked_exactly() {
        let e = tensor_from_json("x", ElementType::I64, &json!([1, 2.5])).unwrap_err();
        assert!(e.contains("element 1 is 2.5"), "{e}");
        let e = tensor_from_json("x", ElementType::U8, &json!([256])).unwrap_err();
        assert!(e.contains("0 to 255"), "{e}");
        let e = tensor_from_json("x", ElementType::F32, &json!([[1, 2], [3]])).unwrap_err();
        assert!(e.contains("ragged") && e.contains("[1]"), "{e}");
    }

    #[test]
    fn non_finite_floats_round_trip_as_strings() {
        let t = Tensor::new(
            "y",
            vec![3],
            TensorData::F64(vec![f64::NAN, f64::INFINITY, 1.5]),
        );
        let written = tensors_to_json(&[t]);
        assert_eq!(written["y"]["data"], json!(["NaN", "Infinity", 1.5]));
        let back = tensor_from_json("y", ElementType::F64, &written["y"]).unwrap();
        let TensorData::F64(v) = back.data else {
            panic!("read back as {back:?}")
        };
        assert!(v[0].is_nan() && v[1] == f64::INFINITY && v[2] == 1.5);
    }

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = NPY_MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_npy() {
        let body: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let t = tensor_from_npy("x", &npy("<f4", "(1, 3)", &body)).unwrap();
        assert_eq!(
            (t.shape, t.data),
            (vec![1, 3], TensorData::F32(vec![1.0, 2.0, 3.0]))
        );
        let t = tensor_from_npy("b", &npy("|b1", "(2,)", &[0, 1])).unwrap();
        assert_eq!(t.data, TensorData::Bool(vec![false, true]));
    }

    #[test]
    fn refuses_bad_npy() {
        let e = tensor_from_npy("x", &npy("<f2", "(1,)", &[0, 0])).unwrap_err();
        assert!(e.contains("'<f2' is not supported"), "{e}");
        let e = tensor_from_npy("x", &npy("<f4", "(2,)", &[0; 4])).unwrap_err();
        assert!(e.contains("4 bytes") && e.contains("needs 8"), "{e}");
        assert!(tensor_from_npy("x", b"PK\x03\x04").is_err());
    }
}
