//! Loading an ONNX model with tract, and running it.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tract_onnx::prelude::{
    DatumType, Framework as _, InferenceModelExt as _, IntoRunnable as _, IntoTValue as _,
    IntoTensor as _, TDim, TValue, TVec, TractError, TypedModel, TypedRunnableModel, tract_ndarray,
};
use tract_onnx::tract_hir::internal::Factoid as _;

use crate::batch_one;
use crate::error::{LoadError, PredictError};
use crate::graph;
use crate::index_check::{self, IndexOutOfRange};
use crate::onnx_ml;
use crate::types::{
    ClassLabels, Dimension, ElementType, ModelInfo, Tensor, TensorData, TensorInfo,
};
use crate::validate;
use crate::wiring;

/// tract's ONNX parser, with wasmodel's ONNX-ML operators registered.
pub fn onnx() -> tract_onnx::Onnx {
    let mut framework = tract_onnx::onnx();
    onnx_ml::register(&mut framework);
    framework
}

/// An ONNX model, parsed, optimized and ready to run.
#[derive(Debug, Clone)]
pub struct Model {
    info: ModelInfo,
    plan: Arc<TypedRunnableModel>,
    /// The same model optimized for a batch of one (see `batch_one`).
    batch_one: Option<BatchOne>,
}

#[derive(Debug, Clone)]
struct BatchOne {
    plan: Arc<TypedRunnableModel>,
    /// Per declared input: whether its leading axis is the dynamic batch.
    dynamic_leading: Vec<bool>,
}

impl Model {
    /// Parses, checks and optimizes an ONNX model.
    ///
    /// `name` and `version` are what [`Model::info`] reports; the digest is
    /// computed from `onnx`.
    pub fn load(onnx: &[u8], name: &str, version: &str) -> Result<Model, LoadError> {
        let digest = format!("sha256:{:x}", Sha256::digest(onnx));

        // 1. Decode the protobuf.
        let framework = self::onnx();
        let proto = framework
            .proto_model_for_read(&mut &onnx[..])
            .map_err(|e| LoadError::Malformed(error_chain(&e)))?;
        let producer = [
            proto.producer_name.as_str(),
            proto.producer_version.as_str(),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");

        let Some(graph) = &proto.graph else {
            return Err(LoadError::Malformed("the file holds no graph".into()));
        };
        let class_labels = onnx_ml::output_class_labels(graph);

        // 1b. Every operator the engine lacks, all at once (nested graphs
        // included), before anything else can fail on one of them.
        let mut unsupported: Vec<String> = graph::operators_of(graph, &framework)
            .into_iter()
            .filter(|op| !op.supported)
            .map(|op| match op.domain.as_str() {
                "ai.onnx" => op.op_type,
                domain => format!("{domain}:{}", op.op_type),
            })
            .collect();
        if !unsupported.is_empty() {
            unsupported.sort();
            return Err(LoadError::UnsupportedOperators(unsupported));
        }
        // A component passes tensors: maps and sequences cannot come in.
        if let Some(input) = graph.input.iter().find(|i| {
            i.r#type.as_ref().and_then(|t| t.value.as_ref()).is_none()
                && !graph.initializer.iter().any(|init| init.name == i.name)
        }) {
            return Err(LoadError::Unsupported(format!(
                "input `{}` is not a tensor (an ONNX map or sequence); a component's inputs are tensors",
                input.name
            )));
        }

        // 1c. Names the graph's outputs use must be defined (tract would
        // panic on one that is not).
        wiring::check(graph)?;

        // 2-4. tract's part. It panics on some malformed files (an
        // `unwrap` on an axis out of range, found by fuzzing: see
        // `fuzz/regressions/onnx_load/`); natively, where panics unwind,
        // that is a refusal of the file, not a crash of `wasmodel build`,
        // which loads every model natively before packaging it. (In wasm a
        // panic aborts.)
        let info = ModelInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            digest,
            producer,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        contain_panics(|| Model::translate(&framework, &proto, class_labels, info))
    }

    /// Translates, types, describes and optimizes a decoded model.
    fn translate(
        framework: &tract_onnx::Onnx,
        proto: &tract_onnx::pb::ModelProto,
        class_labels: Vec<(String, ClassLabels)>,
        info: ModelInfo,
    ) -> Result<Model, LoadError> {
        // 2. Translate the graph.
        let model = framework
            .model_for_proto_model(proto)
            .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;

        // 3. Give every input dimension the file leaves unnamed a symbol of
        //    its own, so the typed model knows it is the caller's choice, and
        //    type the graph. If that fails, the unnamed leading dimensions
        //    are likely one batch (skl2onnx gives every column of a table
        //    an input of its own, [?, 1]): try again with one symbol for all.
        let mut typed = match name_dimensions(model.clone(), false) {
            Ok(typed) => typed,
            Err(first) => name_dimensions(model, true).map_err(|_| first)?,
        };
        // 3b. Indices that come from the caller are checked before tract
        //     uses them (`index_check`).
        index_check::guard(&mut typed).map_err(|e| LoadError::Unsupported(error_chain(&e)))?;

        // 4. Describe it, then optimize it for running.
        let inputs = describe(&typed, "input")?;
        let mut outputs = describe(&typed, "output")?;
        for output in &mut outputs {
            output.class_labels = class_labels
                .iter()
                .find(|(name, labels)| {
                    *name == output.name && one_column_per_class(&output.shape, labels)
                })
                .map(|(_, labels)| labels.clone());
        }
        // Kernels are chosen while optimizing: ours must be in tract's
        // registries by then.
        wasmodel_kernels::link();
        let batch_one = batch_one::plan(&typed).map(|plan| BatchOne {
            plan,
            dynamic_leading: inputs
                .iter()
                .map(|i| matches!(i.shape.first(), Some(Dimension::Dynamic(_))))
                .collect(),
        });
        let plan = typed
            .into_optimized()
            .and_then(|mut m| {
                wasmodel_kernels::optimize(&mut m)?;
                m.into_runnable()
            })
            .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;

        Ok(Model {
            info: ModelInfo {
                inputs,
                outputs,
                ..info
            },
            plan,
            batch_one,
        })
    }

    /// The model's name, version, digest and declared inputs and outputs.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Runs the model on named inputs, checked against the declared ones
    /// first, and returns the outputs in declared order.
    pub fn predict(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        let ordered = validate::order_inputs(&self.info.inputs, inputs)?;
        let values = ordered
            .into_iter()
            .map(to_tract)
            .collect::<Result<TVec<TValue>, PredictError>>()?;
        let plan = match &self.batch_one {
            Some(one) if batch_one::applies(&one.dynamic_leading, &values) => &one.plan,
            _ => &self.plan,
        };
        let results = plan
            .run(values)
            .map_err(|e| match e.downcast_ref::<IndexOutOfRange>() {
                Some(out_of_range) => PredictError::InvalidInput(out_of_range.input_error()),
                None => PredictError::Internal(format!("tract: {}", error_chain(&e))),
            })?;
        self.info
            .outputs
            .iter()
            .zip(results)
            .map(|(info, value)| from_tract(info, &value))
            .collect()
    }
}

/// Gives every input dimension the file leaves unnamed a symbol, then types
/// the graph. With `shared_batch`, every unnamed leading dimension gets the
/// same symbol, `batch`.
fn name_dimensions(
    mut model: tract_onnx::prelude::InferenceModel,
    shared_batch: bool,
) -> Result<TypedModel, LoadError> {
    let batch = shared_batch.then(|| model.symbols.sym("batch"));
    for ix in 0..model.inputs.len() {
        let input_name = model.node(model.inputs[ix].node).name.clone();
        let fact = model
            .input_fact(ix)
            .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;
        if fact.shape.is_open() {
            return Err(LoadError::Unsupported(format!(
                "input `{input_name}` declares no shape; re-export the model with input shapes"
            )));
        }
        let unknown: Vec<usize> = fact
            .shape
            .dims()
            .enumerate()
            .filter(|(_, d)| d.concretize().is_none())
            .map(|(i, _)| i)
            .collect();
        for axis in unknown {
            let symbol = if let (Some(batch), 0) = (&batch, axis) {
                batch.clone()
            } else {
                model
                    .symbols
                    .new_with_prefix(&format!("{input_name}_dim{axis}"))
            };
            model
                .input_fact_mut(ix)
                .map_err(|e| LoadError::Unsupported(error_chain(&e)))?
                .shape
                .set_dim(axis, TDim::Sym(symbol));
        }
    }
    model
        .into_typed()
        .map_err(|e| LoadError::Unsupported(error_chain(&e)))
}

/// Describes the inputs (or outputs) of a typed model.
fn describe(model: &TypedModel, role: &'static str) -> Result<Vec<TensorInfo>, LoadError> {
    let outlets = if role == "input" {
        &model.inputs
    } else {
        &model.outputs
    };
    outlets
        .iter()
        .map(|&outlet| {
            let name = model
                .outlet_label(outlet)
                .unwrap_or(&model.node(outlet.node).name)
                .to_owned();
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
fn one_column_per_class(shape: &[Dimension], labels: &ClassLabels) -> bool {
    matches!(shape, [_, Dimension::Fixed(n)] if *n as usize == labels.len())
}

/// A declared dimension: a number a tensor can have (0 to `u32::MAX`), or
/// the caller's choice. A negative or larger number no input could match
/// (it used to be reported as a dynamic dimension named after the number).
fn dimension(dim: &TDim, role: &str, name: &str) -> Result<Dimension, LoadError> {
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

fn element_type(dt: DatumType) -> Option<ElementType> {
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

fn datum_type(element_type: ElementType) -> DatumType {
    match element_type {
        ElementType::F32 => DatumType::F32,
        ElementType::F64 => DatumType::F64,
        ElementType::I32 => DatumType::I32,
        ElementType::I64 => DatumType::I64,
        ElementType::U8 => DatumType::U8,
        ElementType::Bool => DatumType::Bool,
        ElementType::String => DatumType::String,
    }
}

/// Moves a checked input into a tract value, without copying its elements.
fn to_tract(tensor: Tensor) -> Result<TValue, PredictError> {
    let shape: Vec<usize> = tensor.shape.iter().map(|&d| d as usize).collect();
    fn array<T: tract_onnx::prelude::Datum>(
        shape: Vec<usize>,
        data: Vec<T>,
    ) -> Result<TValue, PredictError> {
        tract_ndarray::ArrayD::from_shape_vec(shape, data)
            .map(|a| a.into_tensor().into_tvalue())
            .map_err(|e| PredictError::Internal(format!("building an input tensor: {e}")))
    }
    match tensor.data {
        TensorData::F32(v) => array(shape, v),
        TensorData::F64(v) => array(shape, v),
        TensorData::I32(v) => array(shape, v),
        TensorData::I64(v) => array(shape, v),
        TensorData::U8(v) => array(shape, v),
        TensorData::Bool(v) => array(shape, v),
        TensorData::String(v) => array(shape, v),
    }
}

/// Copies a tract output into a named tensor of its declared element type.
///
/// tract may compute an integer output in another type than declared (an
/// `i64` sum of a cast can come out as its symbolic `TDim`); such values
/// are cast to what the model declares.
fn from_tract(info: &TensorInfo, value: &TValue) -> Result<Tensor, PredictError> {
    let name = info.name.as_str();
    let shape = value
        .shape()
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            PredictError::Internal(format!("output `{name}` has a dimension over 2^32"))
        })?;
    let declared = datum_type(info.element_type);
    let value = value.cast_to_dt(declared).map_err(|e| {
        PredictError::Internal(format!(
            "output `{name}` is {:?}, declared {}: {}",
            value.datum_type(),
            info.element_type,
            error_chain(&e)
        ))
    })?;
    let data = match info.element_type {
        ElementType::F32 => TensorData::F32(slice(name, &value)?),
        ElementType::F64 => TensorData::F64(slice(name, &value)?),
        ElementType::I32 => TensorData::I32(slice(name, &value)?),
        ElementType::I64 => TensorData::I64(slice(name, &value)?),
        ElementType::U8 => TensorData::U8(slice(name, &value)?),
        ElementType::Bool => TensorData::Bool(slice(name, &value)?),
        ElementType::String => TensorData::String(slice(name, &value)?),
    };
    Ok(Tensor::new(name, shape, data))
}

fn slice<T: tract_onnx::prelude::Datum + Clone>(
    name: &str,
    value: &tract_onnx::prelude::Tensor,
) -> Result<Vec<T>, PredictError> {
    value
        .try_as_plain_ram()
        .and_then(|view| view.as_slice::<T>().map(<[T]>::to_vec))
        .map_err(|e| PredictError::Internal(format!("reading output `{name}`: {e}")))
}

/// Runs `f`, turning a panic in it into a refusal of the model.
fn contain_panics(f: impl FnOnce() -> Result<Model, LoadError>) -> Result<Model, LoadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Err(LoadError::Unsupported(format!(
            "tract failed on this file ({message}); the file is likely malformed"
        )))
    })
}

/// tract's errors carry their cause chain; show all of it on one line.
fn error_chain(e: &TractError) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
