//! The model component: the `wasmodel:model/predictor` interface over
//! `wasmodel-engine`.
//!
//! This crate only converts between WIT types and engine types and holds the
//! one model of the component. It never panics across the boundary: every
//! failure becomes a `predict-error`.
//!
//! The model arrives once, at build time: `wasmodel build` instantiates this
//! module, copies the ONNX bytes into its memory, calls `wasmodel-init`, and
//! snapshots the memory (Wizer), so the parsed and optimized model is part of
//! the component and a fresh instance never parses anything. The
//! `wasmodel-init` export is removed from the snapshot.

mod bindings {
    //! Generated from the one WIT source of truth in `wit/`.
    wit_bindgen::generate!({ path: "../../wit", world: "model" });
}

use std::sync::OnceLock;

use bindings::exports::wasmodel::model::predictor::{self as wit, Guest};
use wasmodel_engine as engine;

/// The component's model, set once by `wasmodel-init`.
static MODEL: OnceLock<engine::Model> = OnceLock::new();

struct Component;

impl Guest for Component {
    fn metadata() -> wit::ModelInfo {
        match MODEL.get() {
            Some(model) => model_info(model.info()),
            // Only an engine that was never given a model gets here, and
            // `wasmodel build` never packages one.
            None => model_info(&engine::ModelInfo::default()),
        }
    }

    fn predict(inputs: Vec<wit::Tensor>) -> Result<Vec<wit::Tensor>, wit::PredictError> {
        let model = MODEL
            .get()
            .ok_or_else(|| wit::PredictError::Internal("this engine holds no model".into()))?;
        let inputs = inputs.into_iter().map(tensor_from_wit).collect();
        match model.predict(inputs) {
            Ok(outputs) => Ok(outputs.into_iter().map(tensor_to_wit).collect()),
            Err(e) => Err(predict_error(e)),
        }
    }
}

bindings::export!(Component with_types_in bindings);

/// Build-time entry point: parse and optimize the model whose ONNX bytes,
/// name and version the builder placed in memory (each allocated with
/// `cabi_realloc`, ownership passing to this function).
///
/// Returns 0 on success, or a pointer to a little-endian `u32` length
/// followed by that many bytes of UTF-8 error message.
///
/// # Safety
/// Each pointer must come from `cabi_realloc(0, 0, 1, len)` with its length.
#[unsafe(export_name = "wasmodel-init")]
pub unsafe extern "C" fn wasmodel_init(
    onnx_ptr: *mut u8,
    onnx_len: usize,
    name_ptr: *mut u8,
    name_len: usize,
    version_ptr: *mut u8,
    version_len: usize,
) -> *const u8 {
    // Run the static constructors first: tract registers its wasm SIMD
    // kernels through them (the `inventory` crate), and a reactor module
    // must call them itself. Calling them here also tells `wasm-ld` not to
    // wrap every export in another call; the snapshot keeps their effect.
    #[cfg(target_family = "wasm")]
    {
        unsafe extern "C" {
            fn __wasm_call_ctors();
        }
        // SAFETY: called once, before anything reads what they initialize.
        unsafe { __wasm_call_ctors() };
    }
    // SAFETY: the builder allocated each buffer with `cabi_realloc` at
    // alignment 1 and exactly this length, and hands it over.
    let (mut onnx, name, version) = unsafe {
        (
            Vec::from_raw_parts(onnx_ptr, onnx_len, onnx_len),
            Vec::from_raw_parts(name_ptr, name_len, name_len),
            Vec::from_raw_parts(version_ptr, version_len, version_len),
        )
    };
    let result = init(&onnx, &name, &version);
    // The ONNX bytes are not needed after parsing: zero them so the memory
    // snapshot does not carry a second copy of the weights.
    onnx.fill(0);
    drop(onnx);
    match result {
        Ok(()) => std::ptr::null(),
        Err(message) => {
            let mut out = (message.len() as u32).to_le_bytes().to_vec();
            out.extend_from_slice(message.as_bytes());
            out.leak().as_ptr()
        }
    }
}

fn init(onnx: &[u8], name: &[u8], version: &[u8]) -> Result<(), String> {
    let name = std::str::from_utf8(name).map_err(|e| format!("model name: {e}"))?;
    let version = std::str::from_utf8(version).map_err(|e| format!("model version: {e}"))?;
    let model = engine::Model::load(onnx, name, version).map_err(|e| e.to_string())?;
    MODEL
        .set(model)
        .map_err(|_| "this engine already holds a model".to_string())
}

fn element_type(t: engine::ElementType) -> wit::ElementType {
    match t {
        engine::ElementType::F32 => wit::ElementType::F32,
        engine::ElementType::F64 => wit::ElementType::F64,
        engine::ElementType::I32 => wit::ElementType::I32,
        engine::ElementType::I64 => wit::ElementType::I64,
        engine::ElementType::U8 => wit::ElementType::U8,
        engine::ElementType::Bool => wit::ElementType::Bool,
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
            },
            input: e.input,
            expected: e.expected,
            got: e.got,
        }),
        engine::PredictError::Unsupported(s) => wit::PredictError::Unsupported(s),
        engine::PredictError::Internal(s) => wit::PredictError::Internal(s),
    }
}
