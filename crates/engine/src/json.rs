//! Tensors as JSON: nested arrays (`[[1, 2], [3, 4]]`) or
//! `{"shape": [..], "data": [..]}` in, `{"dtype", "shape", "data"}` out. The
//! one codec behind the CLI's tensor files and the HTTP component's request
//! and response bodies.
//!
//! JSON has no element types, so a JSON tensor is read as the element type
//! the caller names (the model's declared type for that input) unless it
//! carries its own `"dtype"`. Elements are converted exactly: no rounding of
//! fractional numbers into integers, no out-of-range values. Non-finite
//! floats are written and read as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"`, since JSON numbers cannot hold them.

use serde_json::{Map, Value, json};

use crate::{ElementType, Tensor, TensorData};

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
                    format!(
                        "unknown dtype `{s}`; expected one of {}",
                        ElementType::names()
                    )
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
            // Found by fuzzing (fuzz/regressions/tensor_files/): a shape
            // that disagrees with the data was read as given.
            let count = shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(u64::from(d)));
            if count != Some(leaves.len() as u64) {
                return Err(format!(
                    "`shape` {shape:?} holds {} elements, `data` has {}",
                    count.map_or_else(|| "too many".into(), |n| n.to_string()),
                    leaves.len()
                ));
            }
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
        object.insert(
            t.name.clone(),
            json!({ "dtype": t.data.element_type().name(), "shape": t.shape, "data": data_to_json(&t.data) }),
        );
    }
    Value::Object(object)
}

/// Adds each output's class labels to its tensor in `tensors` (as written
/// by [`tensors_to_json`]): `"class_labels": [0, 1, 2]`.
pub fn add_class_labels(tensors: &mut Value, outputs: &[crate::TensorInfo]) {
    for info in outputs {
        if let (Some(labels), Some(Value::Object(tensor))) =
            (&info.class_labels, tensors.get_mut(&info.name))
        {
            tensor.insert("class_labels".into(), class_labels_to_json(labels));
        }
    }
}

/// Class labels as a JSON array of integers or strings.
pub fn class_labels_to_json(labels: &crate::ClassLabels) -> Value {
    match labels {
        crate::ClassLabels::I64(v) => json!(v),
        crate::ClassLabels::String(v) => json!(v),
    }
}

/// A tensor's elements as a flat JSON array, non-finite floats as strings.
pub fn data_to_json(data: &TensorData) -> Value {
    Value::Array(match data {
        // An f32 is written with the fewest digits that read back as the
        // same f32 (0.8, not its f64 widening 0.800000011920929).
        TensorData::F32(v) => v
            .iter()
            .map(|&x| {
                let shortest = x.to_string().parse::<f64>().unwrap_or(f64::from(x));
                float(f64::from(x), json!(shortest))
            })
            .collect(),
        TensorData::F64(v) => v.iter().map(|&x| float(x, json!(x))).collect(),
        TensorData::I32(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::I64(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::String(v) => v.iter().map(|x| json!(x)).collect(),
    })
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
pub fn flatten(value: &Value) -> Result<(Vec<u32>, Vec<&Value>), String> {
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

/// The number a JSON string stands for where JSON has none (`"NaN"`,
/// `"Infinity"`, `"-Infinity"`, as [`tensors_to_json`] writes them, and
/// numpy's `"nan"`, `"inf"`, `"-inf"`).
pub fn non_finite(word: &str) -> Option<f64> {
    match word {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// What an element of `element_type` must be in JSON, for the message
/// that refuses one: "element 3 is \"x\", which is not a number".
pub fn expected(element_type: ElementType) -> &'static str {
    match element_type {
        ElementType::F32 | ElementType::F64 => "a number",
        ElementType::I32 => "an i32 integer",
        ElementType::I64 => "an i64 integer",
        ElementType::U8 => "an integer from 0 to 255",
        ElementType::Bool => "true or false",
        ElementType::String => "a string",
    }
}

/// Converts JSON leaves to elements of `element_type`, exactly: no rounding
/// of fractional numbers into integers, no out-of-range values.
pub fn elements(element_type: ElementType, leaves: &[&Value]) -> Result<TensorData, String> {
    fn each<T>(
        leaves: &[&Value],
        element_type: ElementType,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        leaves
            .iter()
            .enumerate()
            .map(|(i, v)| {
                f(v).ok_or_else(|| {
                    format!(
                        "element {i} is {v}, which is not {}",
                        expected(element_type)
                    )
                })
            })
            .collect()
    }
    fn real(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => non_finite(s),
            _ => None,
        }
    }
    let integer = |v: &Value| v.as_i64();
    let t = element_type;
    Ok(match element_type {
        ElementType::F32 => TensorData::F32(each(leaves, t, |v| real(v).map(|x| x as f32))?),
        ElementType::F64 => TensorData::F64(each(leaves, t, real)?),
        ElementType::I32 => TensorData::I32(each(leaves, t, |v| {
            integer(v).and_then(|x| i32::try_from(x).ok())
        })?),
        ElementType::I64 => TensorData::I64(each(leaves, t, integer)?),
        ElementType::U8 => TensorData::U8(each(leaves, t, |v| {
            integer(v).and_then(|x| u8::try_from(x).ok())
        })?),
        ElementType::Bool => TensorData::Bool(each(leaves, t, Value::as_bool)?),
        ElementType::String => {
            TensorData::String(each(leaves, t, |v| v.as_str().map(str::to_owned))?)
        }
    })
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
    fn an_object_whose_shape_disagrees_with_its_data_is_refused() {
        let read = |text: &str| {
            tensor_from_json("x", ElementType::F32, &serde_json::from_str(text).unwrap())
        };
        assert_eq!(
            read(r#"{"shape": [2, 2], "data": [1, 2, 3]}"#).unwrap_err(),
            "`shape` [2, 2] holds 4 elements, `data` has 3"
        );
        assert_eq!(
            read(r#"{"shape": [4294967295, 4294967295, 4294967295], "data": []}"#).unwrap_err(),
            "`shape` [4294967295, 4294967295, 4294967295] holds too many elements, `data` has 0"
        );
        assert_eq!(
            read(r#"{"shape": [0, 3], "data": []}"#).unwrap().shape,
            [0, 3]
        );
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

    #[test]
    fn strings_are_read_and_written_as_json_strings() {
        let t = tensor_from_json("city", ElementType::String, &json!([["north"], ["é"]])).unwrap();
        assert_eq!(t.shape, [2, 1]);
        assert_eq!(t.data, TensorData::String(vec!["north".into(), "é".into()]));
        assert_eq!(tensors_to_json(&[t])["city"]["data"], json!(["north", "é"]));
        let e = tensor_from_json("city", ElementType::String, &json!([1])).unwrap_err();
        assert!(e.contains("element 0 is 1, which is not a string"), "{e}");
    }

    #[test]
    fn f32_is_written_short_and_reads_back_exactly() {
        let values = vec![0.1f32, 0.8000001, 1e-10, 3.4e38, -2.5];
        let written = data_to_json(&TensorData::F32(values.clone()));
        assert_eq!(written[0], json!(0.1));
        let back = tensor_from_json("x", ElementType::F32, &written).unwrap();
        assert_eq!(back.data, TensorData::F32(values));
    }
}
