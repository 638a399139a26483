//! What a model declares: its inputs and outputs as the interface
//! describes them ([`TensorInfo`]), from the typed model when tract could
//! type it for every shape, else from the translated graph (inputs) and
//! the file (outputs), for a model planned per shape.

use tract_onnx::pb;
use tract_onnx::prelude::{DatumType, TDim, TypedModel};
use tract_onnx::tract_hir::infer::InferenceModel;
use tract_onnx::tract_hir::internal::Factoid as _;

use crate::error::LoadError;
use crate::model::error_chain;
use crate::types::{ClassLabels, Dimension, ElementType, TensorInfo};

/// Describes the inputs (or outputs) of a typed model.
pub(crate) fn describe(
    model: &TypedModel,
    role: &'static str,
) -> Result<Vec<TensorInfo>, LoadError> {
    let outlets = if role == "input" {
        &model.inputs
    } else {
        &model.outputs
    };
    outlets
        .iter()
        .map(|&outlet| {
            // An input is its source node, named as the file names it. Its
            // outlet may carry another label: tract moves the label of a
            // no-op it removes (skl2onnx's `Reshape(X, [-1])` of a [N] text
            // input) onto the value it passed on.
            let name = if role == "input" {
                model.node(outlet.node).name.clone()
            } else {
                model
                    .outlet_label(outlet)
                    .unwrap_or(&model.node(outlet.node).name)
                    .to_owned()
            };
            let fact = model
                .outlet_fact(outlet)
                .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;
            let element_type =
                element_type(fact.datum_type).ok_or_else(|| LoadError::UnsupportedElementType {
                    role,
                    name: name.clone(),
                    found: format!("{:?}", fact.datum_type),
                })?;
            let shape = fact
                .shape
                .iter()
                .map(|d| dimension(d, role, &name))
                .collect::<Result<_, _>>()?;
            Ok(TensorInfo {
                name,
                element_type,
                shape,
                class_labels: None,
            })
        })
        .collect()
}

/// Whether a `[rows, classes]` output has one column per label.
pub(crate) fn one_column_per_class(shape: &[Dimension], labels: &ClassLabels) -> bool {
    matches!(shape, [_, Dimension::Fixed(n)] if *n as usize == labels.len())
}

/// A declared dimension: a number a tensor can have (0 to `u32::MAX`), or
/// the caller's choice. A negative or larger number no input could match
/// (it used to be reported as a dynamic dimension named after the number).
pub(crate) fn dimension(dim: &TDim, role: &str, name: &str) -> Result<Dimension, LoadError> {
    match dim.as_i64() {
        Some(n) => u32::try_from(n).map(Dimension::Fixed).map_err(|_| {
            LoadError::Malformed(format!(
                "{role} `{name}` declares dimension {n}; a dimension is between 0 and {}",
                u32::MAX
            ))
        }),
        None => Ok(Dimension::Dynamic(dim.to_string())),
    }
}

pub(crate) fn element_type(dt: DatumType) -> Option<ElementType> {
    Some(match dt {
        DatumType::F32 => ElementType::F32,
        DatumType::F64 => ElementType::F64,
        DatumType::I32 => ElementType::I32,
        // tract computes some i64 values symbolically (as its `TDim`, for
        // shapes); they are i64 in the ONNX file and to the caller.
        DatumType::I64 | DatumType::TDim => ElementType::I64,
        DatumType::U8 => ElementType::U8,
        DatumType::Bool => ElementType::Bool,
        DatumType::String => ElementType::String,
        _ => return None,
    })
}

/// The inputs of a translated (untyped) model, as declared, with the
/// symbols of [`name_dimensions`].
pub(crate) fn describe_inferred_inputs(
    model: &InferenceModel,
) -> Result<Vec<TensorInfo>, LoadError> {
    (0..model.inputs.len())
        .map(|ix| {
            let outlet = model.inputs[ix];
            let name = model
                .outlet_label(outlet)
                .unwrap_or(&model.node(outlet.node).name)
                .to_owned();
            let fact = model
                .input_fact(ix)
                .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;
            let datum_type = fact.datum_type.concretize().ok_or_else(|| {
                LoadError::Unsupported(format!("input `{name}` declares no element type"))
            })?;
            let element_type =
                element_type(datum_type).ok_or_else(|| LoadError::UnsupportedElementType {
                    role: "input",
                    name: name.clone(),
                    found: format!("{datum_type:?}"),
                })?;
            let shape = fact
                .shape
                .dims()
                .map(|d| match d.concretize() {
                    Some(d) => dimension(&d, "input", &name),
                    None => Ok(Dimension::Dynamic("?".into())),
                })
                .collect::<Result<_, _>>()?;
            Ok(TensorInfo {
                name,
                element_type,
                shape,
                class_labels: None,
            })
        })
        .collect()
}

/// The outputs as the file declares them (for a model planned per shape,
/// whose outputs tract knows only once it has a shape). An output a
/// `ZipMap` makes (`zipmaps`: its name and classes), declared as a sequence
/// of maps, is what the ZipMap holds and wasmodel answers: a float tensor
/// of one column per class.
pub(crate) fn describe_declared_outputs(
    proto: &tract_onnx::pb::ModelProto,
    zipmaps: &[(String, ClassLabels)],
) -> Result<Vec<TensorInfo>, LoadError> {
    use tract_onnx::pb::tensor_proto::DataType;
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    let Some(graph) = &proto.graph else {
        return Ok(Vec::new());
    };
    graph
        .output
        .iter()
        .map(|output| {
            let name = output.name.clone();
            if let Some((_, classes)) = zipmaps.iter().find(|(zipped, _)| *zipped == name) {
                let columns = dimension(&TDim::Val(classes.len() as i64), "output", &name)?;
                return Ok(TensorInfo {
                    name,
                    element_type: ElementType::F32,
                    shape: vec![Dimension::Dynamic("?".into()), columns],
                    class_labels: None,
                });
            }
            let Some(tract_onnx::pb::type_proto::Value::TensorType(tensor)) =
                output.r#type.as_ref().and_then(|t| t.value.as_ref())
            else {
                return Err(LoadError::Unsupported(format!(
                    "output `{name}` is not a tensor"
                )));
            };
            let element_type = match DataType::try_from(tensor.elem_type) {
                Ok(DataType::Float) => ElementType::F32,
                Ok(DataType::Double) => ElementType::F64,
                Ok(DataType::Int32) => ElementType::I32,
                Ok(DataType::Int64) => ElementType::I64,
                Ok(DataType::Uint8) => ElementType::U8,
                Ok(DataType::Bool) => ElementType::Bool,
                Ok(DataType::String) => ElementType::String,
                other => {
                    return Err(LoadError::UnsupportedElementType {
                        role: "output",
                        name,
                        found: format!("{other:?}"),
                    });
                }
            };
            let shape = tensor
                .shape
                .iter()
                .flat_map(|s| &s.dim)
                .map(|d| match &d.value {
                    // Paddle's exports declare -1 for a dynamic dimension.
                    Some(Value::DimValue(n)) if *n >= 0 => {
                        dimension(&TDim::Val(*n), "output", &name)
                    }
                    Some(Value::DimParam(p)) if !p.is_empty() => Ok(Dimension::Dynamic(p.clone())),
                    _ => Ok(Dimension::Dynamic("?".into())),
                })
                .collect::<Result<_, _>>()?;
            Ok(TensorInfo {
                name,
                element_type,
                shape,
                class_labels: None,
            })
        })
        .collect()
}

/// The dimensions a value declares, `None` for one that is not a number
/// (a symbol, or Paddle's -1); `None` for a value that is not a tensor or
/// declares no shape.
pub(crate) fn declared_dims(value: &pb::ValueInfoProto) -> Option<Vec<Option<i64>>> {
    let pb::type_proto::Value::TensorType(tensor) = value.r#type.as_ref()?.value.as_ref()?;
    let dims = tensor.shape.as_ref()?.dim.iter();
    Some(
        dims.map(|d| match d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) if n >= 0 => Some(n),
            _ => None,
        })
        .collect(),
    )
}
