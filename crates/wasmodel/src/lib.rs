//! wasmodel: compile ONNX models into sandboxed WebAssembly components, and
//! run them on wasmtime.
//!
//! This is the library alone: building components ([`ComponentBuilder`]),
//! loading and calling predictors ([`Runtime`]), reading what a component
//! is ([`inspect`]), and the compile caches. The `wasmodel` command and its
//! HTTP server are the `wasmodel-cli` package, which serves HTTP components
//! with [`Runtime::compile_component`] and a [`CallState`] per request.
//!
//! ```no_run
//! use wasmodel::{ComponentBuilder, Runtime, RuntimeOptions, Tensor, TensorData};
//!
//! # fn main() -> Result<(), wasmodel::Error> {
//! // Build once: check the model natively, inject it into the engine,
//! // pre-initialize, and wrap the result as a component.
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let onnx = std::fs::read("models/iris.onnx")?;
//! let built = ComponentBuilder::new("iris").build(&runtime, &onnx)?;
//!
//! // Load the component (compiled once, then cached) and predict.
//! let model = runtime.load(&built.component)?;
//! let features = Tensor::new("features", vec![1, 4], TensorData::F32(vec![5.1, 3.5, 1.4, 0.2]));
//! let outputs = model.predict(vec![features])?;
//! println!("{outputs:?}");
//! # Ok(())
//! # }
//! ```

mod bindings;
mod build_record;
mod builder;
mod cache;
mod engines;
mod error;
pub mod external_data;
pub mod fastly;
mod function_cache;
pub mod inspect;
mod native_load;
mod precompiled;
mod runtime;
pub mod tensor_io;
pub mod vector_state;
pub mod wit;

pub use build_record::{ModelRecord, read as read_build_options, read_model as read_model_record};
pub use builder::{
    BuildStep, BuiltComponent, ComponentBuilder, DEFAULT_BUILD_TIME_LIMIT, Flavour,
    http_component_from_module,
};
pub use cache::{CompileCache, DEFAULT_CACHE_SIZE};
pub use engines::engine_wasm;
pub use error::Error;
pub use external_data::read_model;
pub use native_load::load_model;
pub use precompiled::is_precompiled;
pub use runtime::{
    CallState, Compiler, Limits, LoadedModel, ModelInstance, Runtime, RuntimeOptions,
};
pub use wasmodel_engine::PLANS_KEPT;
pub use wasmodel_engine::id2label;
pub use wasmodel_engine::json;
pub use wasmodel_engine::{
    ClassLabels, Dimension, ElementType, InputError, InputErrorKind, LoadError, LoadOptions,
    ModelInfo, OptionError, Planning, PredictError, Tensor, TensorData, TensorInfo,
    format_declared_shape, format_shape, graph,
};
pub use wasmodel_engine::{Pooling, PoolingKind, Quantized, SENTENCE_EMBEDDING, TEXT_INPUT};
