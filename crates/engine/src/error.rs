//! Errors of loading a model and of running it.

use std::fmt;

/// Why an ONNX file cannot become a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not an ONNX model (truncated, another format, ...).
    #[error("not a valid ONNX model: {0}")]
    Malformed(String),
    /// The model uses operators the engine does not implement.
    #[error(
        "the model uses operators that wasmodel's engine does not support: {}{}",
        .0.join(", "),
        crate::contrib::refusal_hint(.0).map(|hint| format!(" ({hint})")).unwrap_or_default()
    )]
    UnsupportedOperators(Vec<String>),
    /// An input or output has an element type the interface cannot carry.
    #[error(
        "{role} `{name}` has element type {found}; supported types are {}",
        crate::ElementType::names()
    )]
    UnsupportedElementType {
        role: &'static str,
        name: String,
        found: String,
    },
    /// Anything else tract refused, with its explanation.
    #[error("tract cannot run this model: {0}")]
    Unsupported(String),
    /// An input shape or value given when loading does not fit the model
    /// (see [`LoadOptions`](crate::LoadOptions)).
    #[error("{0}")]
    Options(String),
    /// The tokenizer given to take text with cannot be used, or does not
    /// fit the model's inputs (see `LoadOptions::tokenizer`).
    #[error("--tokenizer: {0}")]
    Tokenizer(String),
}

/// What was wrong with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputErrorKind {
    Missing,
    Unknown,
    Duplicate,
    ElementType,
    Shape,
    DataLength,
    Empty,
    TooLarge,
    OutOfRange,
}

/// A caller's mistake in one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub kind: InputErrorKind,
    /// The input the problem is about.
    pub input: String,
    pub expected: String,
    pub got: String,
}

impl InputError {
    pub fn new(
        kind: InputErrorKind,
        input: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> InputError {
        InputError {
            kind,
            input: input.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            InputErrorKind::Missing => "missing input",
            InputErrorKind::Unknown => "unknown input",
            InputErrorKind::Duplicate => "input given twice",
            InputErrorKind::ElementType => "wrong element type for input",
            InputErrorKind::Shape => "wrong shape for input",
            InputErrorKind::DataLength => "wrong number of elements for input",
            InputErrorKind::Empty => "empty tensor for input",
            InputErrorKind::TooLarge => "tensor too large for input",
            InputErrorKind::OutOfRange => "value out of range in input",
        };
        write!(
            f,
            "{what} `{}`: expected {}, got {}",
            self.input, self.expected, self.got
        )
    }
}

/// Why a prediction gave no outputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    /// The caller's inputs do not match the model.
    #[error("invalid input: {0}")]
    InvalidInput(InputError),
    /// The model needs something the engine does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A fault of the engine itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<InputError> for PredictError {
    fn from(e: InputError) -> Self {
        PredictError::InvalidInput(e)
    }
}
