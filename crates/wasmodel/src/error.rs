//! The host library's errors.

use std::path::PathBuf;

use wasmodel_engine::{LoadError, PredictError};

/// Everything that can go wrong building, loading or calling a model
/// component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ONNX model was refused when checked natively, before packaging.
    #[error(transparent)]
    Model(#[from] LoadError),
    /// The component answered a prediction with an error: the caller's
    /// input, an unsupported feature, or a fault of the engine.
    #[error(transparent)]
    Predict(#[from] PredictError),
    /// A tensor file could not be read.
    #[error("{}: {reason}", path.display())]
    InputFile { path: PathBuf, reason: String },
    /// The guest tried to grow its memory past the limit.
    #[error("the model needed more than its memory limit of {limit} bytes")]
    MemoryLimit { limit: usize },
    /// The call ran past its time limit and was interrupted.
    #[error("the model did not answer within the time limit of {seconds:.1} s")]
    Timeout { seconds: f64 },
    /// Loading the model while building (natively, or in the engine when
    /// pre-initializing) ran past the build's time limit.
    #[error(
        "loading the model took longer than the time limit of {seconds:.1} s (graphs of many \
         thousands of nodes can: tract's optimizer slows down with the square of the node count)"
    )]
    LoadTimeout { seconds: f64 },
    /// The guest trapped (for example `unreachable`, after a panic inside
    /// the engine). The host is unaffected; the instance is discarded.
    #[error("the model component trapped: {0}")]
    Trap(String),
    /// The bytes are not a model component this host can run.
    #[error("not a wasmodel component: {0}")]
    NotAModelComponent(String),
    /// Building the component from the engine failed.
    #[error("building the component failed: {0}")]
    Build(String),
    /// The compiler the runtime was set up with cannot compile this
    /// component (another can).
    #[error("{compiler} cannot compile this component: {reason}")]
    CompilerCannot {
        compiler: &'static str,
        reason: String,
    },
    /// wasmtime refused to compile or instantiate.
    #[error("wasmtime: {0:#}")]
    Wasmtime(wasmtime::Error),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }
}
