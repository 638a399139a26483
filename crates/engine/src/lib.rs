//! The logic inside every wasmodel component, in plain Rust.
//!
//! Load an ONNX model with tract, describe its inputs and outputs, check a
//! caller's tensors against them and run it. Nothing here knows about wasm
//! or WIT: the guest component wraps this crate inside wasm, and
//! `wasmodel build` uses it natively to refuse a model before packaging it,
//! so the two never disagree about what a valid model or input is.

mod batch_one;
mod bind_symbols;
pub mod contrib;
mod control_flow;
mod dequantized_softmax;
mod describe;
mod error;
mod flatten;
pub mod graph;
pub mod id2label;
mod index_check;
#[cfg(feature = "json")]
pub mod json;
mod load_options;
mod model;
pub mod npy;
pub mod onnx_ml;
mod plans;
mod pooling;
mod proto;
mod quantize;
mod sequences;
mod shape_guard;
mod shared_constants;
pub mod text;
mod text_input;
mod types;
mod validate;
mod wiring;

pub use error::{InputError, InputErrorKind, LoadError, PredictError};
pub use load_options::{LoadOptions, OptionError};
pub use model::{Model, Planning, onnx};
pub use plans::KEPT as PLANS_KEPT;
pub use pooling::{Pooling, PoolingKind, SENTENCE_EMBEDDING};
pub use quantize::Quantized;
pub use text_input::TEXT_INPUT;
pub use types::{
    ClassLabels, Dimension, ElementType, ModelInfo, Tensor, TensorData, TensorInfo,
    format_declared_shape, format_shape,
};
