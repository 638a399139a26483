//! Host bindings for the `model` world, generated from `wit/`, and their
//! conversion to the engine's types that this library exposes.

use wasmodel_engine as engine;

mod generated {
    // `wit/` at the workspace root: the one source of the interfaces.
    wasmtime::component::bindgen!({ path: "../../wit", world: "model" });
}

use generated::exports::wasmodel::model::predictor as wit;
pub(crate) use generated::{Model as ModelBindings, ModelPre};

pub(crate) fn model_info(info: wit::ModelInfo) -> engine::ModelInfo {
    engine::ModelInfo {
        name: info.name,
        version: info.version,
        digest: info.digest,
        producer: info.producer,
        inputs: info.inputs.into_iter().map(tensor_info).collect(),
        outputs: info.outputs.into_iter().map(tensor_info).collect(),
    }
}

fn tensor_info(info: wit::TensorInfo) -> engine::TensorInfo {
    engine::TensorInfo {
        name: info.name,
        element_type: match info.element_type {
            wit::ElementType::F32 => engine::ElementType::F32,
            wit::ElementType::F64 => engine::ElementType::F64,
            wit::ElementType::I32 => engine::ElementType::I32,
            wit::ElementType::I64 => engine::ElementType::I64,
            wit::ElementType::U8 => engine::ElementType::U8,
            wit::ElementType::Bool => engine::ElementType::Bool,
            wit::ElementType::String => engine::ElementType::String,
        },
        shape: info
            .shape
            .into_iter()
            .map(|d| match d {
                wit::Dimension::Fixed(n) => engine::Dimension::Fixed(n),
                wit::Dimension::Dynamic(s) => engine::Dimension::Dynamic(s),
            })
            .collect(),
        class_labels: info.class_labels.map(|labels| match labels {
            wit::ClassLabels::I64(v) => engine::ClassLabels::I64(v),
            wit::ClassLabels::String(v) => engine::ClassLabels::String(v),
        }),
    }
}

pub(crate) fn tensor_to_wit(t: engine::Tensor) -> wit::Tensor {
    let data = match t.data {
        engine::TensorData::F32(v) => wit::TensorData::F32(v),
        engine::TensorData::F64(v) => wit::TensorData::F64(v),
        engine::TensorData::I32(v) => wit::TensorData::I32(v),
        engine::TensorData::I64(v) => wit::TensorData::I64(v),
        engine::TensorData::U8(v) => wit::TensorData::U8(v),
        engine::TensorData::Bool(v) => wit::TensorData::Bool(v),
        engine::TensorData::String(v) => wit::TensorData::String(v),
    };
    wit::Tensor {
        name: t.name,
        shape: t.shape,
        data,
    }
}

pub(crate) fn tensor_from_wit(t: wit::Tensor) -> engine::Tensor {
    let data = match t.data {
        wit::TensorData::F32(v) => engine::TensorData::F32(v),
        wit::TensorData::F64(v) => engine::TensorData::F64(v),
        wit::TensorData::I32(v) => engine::TensorData::I32(v),
        wit::TensorData::I64(v) => engine::TensorData::I64(v),
        wit::TensorData::U8(v) => engine::TensorData::U8(v),
        wit::TensorData::Bool(v) => engine::TensorData::Bool(v),
        wit::TensorData::String(v) => engine::TensorData::String(v),
    };
    engine::Tensor::new(t.name, t.shape, data)
}

pub(crate) fn predict_error(e: wit::PredictError) -> engine::PredictError {
    match e {
        wit::PredictError::InvalidInput(e) => {
            engine::PredictError::InvalidInput(engine::InputError {
                kind: match e.kind {
                    wit::InputErrorKind::Missing => engine::InputErrorKind::Missing,
                    wit::InputErrorKind::Unknown => engine::InputErrorKind::Unknown,
                    wit::InputErrorKind::Duplicate => engine::InputErrorKind::Duplicate,
                    wit::InputErrorKind::ElementType => engine::InputErrorKind::ElementType,
                    wit::InputErrorKind::Shape => engine::InputErrorKind::Shape,
                    wit::InputErrorKind::DataLength => engine::InputErrorKind::DataLength,
                    wit::InputErrorKind::Empty => engine::InputErrorKind::Empty,
                    wit::InputErrorKind::TooLarge => engine::InputErrorKind::TooLarge,
                    wit::InputErrorKind::OutOfRange => engine::InputErrorKind::OutOfRange,
                },
                input: e.input,
                expected: e.expected,
                got: e.got,
            })
        }
        wit::PredictError::Unsupported(s) => engine::PredictError::Unsupported(s),
        wit::PredictError::Internal(s) => engine::PredictError::Internal(s),
    }
}
