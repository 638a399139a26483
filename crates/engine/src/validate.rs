//! Checking a caller's inputs against what the model declares.
//!
//! Every check here names the input and says what was expected and what was
//! received, so a caller can fix the request without reading the model.

use std::collections::HashMap;

use crate::error::{InputError, InputErrorKind};
use crate::types::{Dimension, Tensor, TensorInfo, format_declared_shape, format_shape};

/// Checks `inputs` against the declared ones and returns them in declared
/// order: every declared input given exactly once, with its element type,
/// shape and element count, dynamic dimensions that share a symbol agreeing.
pub fn order_inputs(
    declared: &[TensorInfo],
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, InputError> {
    let mut given: HashMap<String, Tensor> = HashMap::with_capacity(inputs.len());
    for tensor in inputs {
        if !declared.iter().any(|d| d.name == tensor.name) {
            return Err(InputError::new(
                InputErrorKind::Unknown,
                &tensor.name,
                format!("one of {}", names(declared)),
                format!("`{}`", tensor.name),
            ));
        }
        if given.contains_key(&tensor.name) {
            return Err(InputError::new(
                InputErrorKind::Duplicate,
                &tensor.name,
                "one tensor",
                "two tensors with that name",
            ));
        }
        given.insert(tensor.name.clone(), tensor);
    }

    // Symbol -> (size, the input that fixed it).
    let mut bound: HashMap<&str, (u32, &str)> = HashMap::new();
    let mut ordered = Vec::with_capacity(declared.len());
    for info in declared {
        let Some(tensor) = given.remove(&info.name) else {
            return Err(InputError::new(
                InputErrorKind::Missing,
                &info.name,
                format!(
                    "a {} tensor of shape {}",
                    info.element_type,
                    format_declared_shape(&info.shape)
                ),
                "nothing",
            ));
        };
        check_tensor(info, &tensor, &mut bound)?;
        ordered.push(tensor);
    }
    Ok(ordered)
}

fn check_tensor<'a>(
    info: &'a TensorInfo,
    tensor: &Tensor,
    bound: &mut HashMap<&'a str, (u32, &'a str)>,
) -> Result<(), InputError> {
    let error =
        |kind, expected: String, got: String| InputError::new(kind, &info.name, expected, got);

    let element_type = tensor.data.element_type();
    if element_type != info.element_type {
        return Err(error(
            InputErrorKind::ElementType,
            info.element_type.to_string(),
            element_type.to_string(),
        ));
    }

    let expected_shape = || format_declared_shape(&info.shape);
    if tensor.shape.len() != info.shape.len() {
        return Err(error(
            InputErrorKind::Shape,
            format!("{} dimensions {}", info.shape.len(), expected_shape()),
            format!(
                "{} dimensions {}",
                tensor.shape.len(),
                format_shape(&tensor.shape)
            ),
        ));
    }
    for (axis, (declared, &size)) in info.shape.iter().zip(&tensor.shape).enumerate() {
        match declared {
            Dimension::Fixed(n) if *n != size => {
                return Err(error(
                    InputErrorKind::Shape,
                    format!("shape {} (dimension {axis} is {n})", expected_shape()),
                    format_shape(&tensor.shape),
                ));
            }
            Dimension::Fixed(_) => {}
            Dimension::Dynamic(symbol) => match bound.get(symbol.as_str()) {
                Some(&(n, by)) if n != size => {
                    return Err(error(
                        InputErrorKind::Shape,
                        format!("dimension {axis} (`{symbol}`) of {n}, as input `{by}` has it"),
                        format!("{size} in shape {}", format_shape(&tensor.shape)),
                    ));
                }
                Some(_) => {}
                None => {
                    bound.insert(symbol, (size, &info.name));
                }
            },
        }
    }

    let elements = tensor
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
    if elements == Some(0) || tensor.data.is_empty() {
        return Err(error(
            InputErrorKind::Empty,
            "at least one element".into(),
            format!("shape {} with no elements", format_shape(&tensor.shape)),
        ));
    }
    if elements != Some(tensor.data.len()) {
        let expected = match elements {
            Some(n) => format!("{n} elements for shape {}", format_shape(&tensor.shape)),
            None => format!(
                "a shape whose size fits in memory, not {}",
                format_shape(&tensor.shape)
            ),
        };
        return Err(error(
            InputErrorKind::DataLength,
            expected,
            format!("{} elements", tensor.data.len()),
        ));
    }
    Ok(())
}

fn names(declared: &[TensorInfo]) -> String {
    let names: Vec<String> = declared.iter().map(|d| format!("`{}`", d.name)).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ElementType, TensorData};

    fn declared() -> Vec<TensorInfo> {
        vec![
            TensorInfo {
                name: "numeric".into(),
                element_type: ElementType::F32,
                shape: vec![Dimension::Dynamic("batch".into()), Dimension::Fixed(2)],
                class_labels: None,
            },
            TensorInfo {
                name: "category".into(),
                element_type: ElementType::I64,
                shape: vec![Dimension::Dynamic("batch".into())],
                class_labels: None,
            },
        ]
    }

    fn numeric(rows: u32) -> Tensor {
        Tensor::new(
            "numeric",
            vec![rows, 2],
            TensorData::F32(vec![0.5; rows as usize * 2]),
        )
    }

    fn category(rows: u32) -> Tensor {
        Tensor::new(
            "category",
            vec![rows],
            TensorData::I64(vec![1; rows as usize]),
        )
    }

    fn kind(result: Result<Vec<Tensor>, InputError>) -> (InputErrorKind, String) {
        let e = result.expect_err("inputs should be refused");
        (e.kind, e.input)
    }

    #[test]
    fn accepts_and_orders_inputs() {
        let ordered = order_inputs(&declared(), vec![category(3), numeric(3)]).unwrap();
        let names: Vec<&str> = ordered.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["numeric", "category"]);
    }

    #[test]
    fn refuses_missing_unknown_and_duplicate() {
        let d = declared();
        assert_eq!(
            kind(order_inputs(&d, vec![numeric(1)])),
            (InputErrorKind::Missing, "category".into())
        );
        let stray = Tensor::new("extra", vec![1], TensorData::U8(vec![1]));
        assert_eq!(
            kind(order_inputs(&d, vec![numeric(1), category(1), stray])),
            (InputErrorKind::Unknown, "extra".into())
        );
        assert_eq!(
            kind(order_inputs(&d, vec![numeric(1), numeric(1), category(1)])),
            (InputErrorKind::Duplicate, "numeric".into())
        );
    }

    #[test]
    fn refuses_wrong_type_shape_and_length() {
        let d = declared();
        let wrong_type = Tensor::new("category", vec![1], TensorData::I32(vec![1]));
        let e = order_inputs(&d, vec![numeric(1), wrong_type]).unwrap_err();
        assert_eq!(
            (e.kind, e.expected.as_str(), e.got.as_str()),
            (InputErrorKind::ElementType, "i64", "i32")
        );

        let wrong_rank = Tensor::new("numeric", vec![2], TensorData::F32(vec![0.0; 2]));
        assert_eq!(
            kind(order_inputs(&d, vec![wrong_rank, category(1)])).0,
            InputErrorKind::Shape
        );

        let wrong_fixed = Tensor::new("numeric", vec![1, 3], TensorData::F32(vec![0.0; 3]));
        let e = order_inputs(&d, vec![wrong_fixed, category(1)]).unwrap_err();
        assert_eq!(e.kind, InputErrorKind::Shape);
        assert!(e.expected.contains("[batch, 2]"), "{e}");

        let short = Tensor::new("numeric", vec![2, 2], TensorData::F32(vec![0.0; 3]));
        let e = order_inputs(&d, vec![short, category(2)]).unwrap_err();
        assert_eq!(
            (e.kind, e.got.as_str()),
            (InputErrorKind::DataLength, "3 elements")
        );
    }

    #[test]
    fn shared_dynamic_dimensions_must_agree() {
        let e = order_inputs(&declared(), vec![numeric(3), category(2)]).unwrap_err();
        assert_eq!(
            (e.kind, e.input.as_str()),
            (InputErrorKind::Shape, "category")
        );
        assert!(
            e.expected.contains("`batch`") && e.expected.contains("numeric"),
            "{e}"
        );
    }

    #[test]
    fn refuses_empty_tensors() {
        let empty = Tensor::new("numeric", vec![0, 2], TensorData::F32(vec![]));
        assert_eq!(
            kind(order_inputs(&declared(), vec![empty, category(0)])).0,
            InputErrorKind::Empty
        );
    }
}
