//! The logic inside every wasmodel component, in plain Rust.
//!
//! Load an ONNX model with tract, describe its inputs and outputs, check a
//! caller's tensors against them and run it. Nothing here knows about wasm
//! or WIT: the guest component wraps this crate inside wasm, and
//! `wasmodel build` uses it natively to refuse a model before packaging it,
//! so the two never disagree about what a valid model or input is.

mod batch_one;
mod error;
pub mod graph;
mod index_check;
#[cfg(feature = "json")]
pub mod json;
mod model;
pub mod npy;
pub mod onnx_ml;
mod types;
mod validate;
mod wiring;

pub use error::{InputError, InputErrorKind, LoadError, PredictError};
pub use model::{Model, onnx};
pub use types::{
    ClassLabels, Dimension, ElementType, ModelInfo, Tensor, TensorData, TensorInfo,
    format_declared_shape, format_shape,
};
