//! The `wasmodel:model/predictor` interface over the engine.

mod bindings {
    //! Generated from the one WIT source of truth in `wit/`.
    wit_bindgen::generate!({ path: "../../wit", world: "model" });
}

use bindings::exports::wasmodel::model::predictor::{self as wit, Guest};
use wasmodel_engine as engine;

struct Component;

impl Guest for Component {
    fn metadata() -> wit::ModelInfo {
        match crate::init::model() {
            Ok(model) => model_info(model.info()),
            // An engine that holds no usable model has no metadata to give
            // (and says why on `predict`); `wasmodel build` packages neither.
            Err(_) => model_info(&engine::ModelInfo::default()),
        }
    }

    fn predict(inputs: Vec<wit::Tensor>) -> Result<Vec<wit::Tensor>, wit::PredictError> {
        let model = crate::init::model().map_err(|e| wit::PredictError::Internal(e.into()))?;
        let inputs = inputs.into_iter().map(tensor_from_wit).collect();
        match model.predict(inputs) {
            Ok(outputs) => Ok(outputs.into_iter().map(tensor_to_wit).collect()),
            Err(e) => Err(predict_error(e)),
        }
    }
}

bindings::export!(Component with_types_in bindings);

fn element_type(t: engine::ElementType) -> wit::ElementType {
    match t {
        engine::ElementType::F32 => wit::ElementType::F32,
        engine::ElementType::F64 => wit::ElementType::F64,
        engine::ElementType::I32 => wit::ElementType::I32,
        engine::ElementType::I64 => wit::ElementType::I64,
        engine::ElementType::U8 => wit::ElementType::U8,
        engine::ElementType::Bool => wit::ElementType::Bool,
        engine::ElementType::String => wit::ElementType::String,
    }
}

fn tensor_info(info: &engine::TensorInfo) -> wit::TensorInfo {
    wit::TensorInfo {
        name: info.name.clone(),
        element_type: element_type(info.element_type),
        shape: info
            .shape
            .iter()
            .map(|d| match d {
                engine::Dimension::Fixed(n) => wit::Dimension::Fixed(*n),
                engine::Dimension::Dynamic(s) => wit::Dimension::Dynamic(s.clone()),
            })
            .collect(),
        class_labels: info.class_labels.as_ref().map(|labels| match labels {
            engine::ClassLabels::I64(v) => wit::ClassLabels::I64(v.clone()),
            engine::ClassLabels::String(v) => wit::ClassLabels::String(v.clone()),
        }),
    }
}

fn model_info(info: &engine::ModelInfo) -> wit::ModelInfo {
    wit::ModelInfo {
        name: info.name.clone(),
        version: info.version.clone(),
        digest: info.digest.clone(),
        producer: info.producer.clone(),
        inputs: info.inputs.iter().map(tensor_info).collect(),
        outputs: info.outputs.iter().map(tensor_info).collect(),
    }
}

fn tensor_from_wit(t: wit::Tensor) -> engine::Tensor {
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

fn tensor_to_wit(t: engine::Tensor) -> wit::Tensor {
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

fn predict_error(e: engine::PredictError) -> wit::PredictError {
    match e {
        engine::PredictError::InvalidInput(e) => wit::PredictError::InvalidInput(wit::InputError {
            kind: match e.kind {
                engine::InputErrorKind::Missing => wit::InputErrorKind::Missing,
                engine::InputErrorKind::Unknown => wit::InputErrorKind::Unknown,
                engine::InputErrorKind::Duplicate => wit::InputErrorKind::Duplicate,
                engine::InputErrorKind::ElementType => wit::InputErrorKind::ElementType,
                engine::InputErrorKind::Shape => wit::InputErrorKind::Shape,
                engine::InputErrorKind::DataLength => wit::InputErrorKind::DataLength,
                engine::InputErrorKind::Empty => wit::InputErrorKind::Empty,
                engine::InputErrorKind::TooLarge => wit::InputErrorKind::TooLarge,
                engine::InputErrorKind::OutOfRange => wit::InputErrorKind::OutOfRange,
            },
            input: e.input,
            expected: e.expected,
            got: e.got,
        }),
        engine::PredictError::Unsupported(s) => wit::PredictError::Unsupported(s),
        engine::PredictError::Internal(s) => wit::PredictError::Internal(s),
    }
}
