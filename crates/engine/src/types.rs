//! The values a model takes and gives, independent of tract and of WIT.
//!
//! They mirror `wit/wasmodel.wit` one to one, so the guest converts between
//! the two without any decision of its own.

use std::fmt;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    F32,
    F64,
    I32,
    I64,
    U8,
    Bool,
    /// UTF-8 text: the categories of categorical features, class labels.
    String,
}

impl ElementType {
    /// Every element type, in the order the WIT declares them.
    pub const ALL: [ElementType; 7] = [
        ElementType::F32,
        ElementType::F64,
        ElementType::I32,
        ElementType::I64,
        ElementType::U8,
        ElementType::Bool,
        ElementType::String,
    ];

    /// The short name used in WIT, JSON files and messages (`f32`, `bool`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
            ElementType::I32 => "i32",
            ElementType::I64 => "i64",
            ElementType::U8 => "u8",
            ElementType::Bool => "bool",
            ElementType::String => "string",
        }
    }

    /// Every short name, for messages: `f32, f64, i32, i64, u8, bool, string`.
    pub fn names() -> String {
        let names: Vec<&str> = ElementType::ALL.iter().map(|t| t.name()).collect();
        names.join(", ")
    }

    /// Parses a short name as written by [`ElementType::name`].
    pub fn from_name(name: &str) -> Option<ElementType> {
        ElementType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Size of one element in bytes, as stored in a tensor: for strings,
    /// the size of the reference to the text (see [`TensorData::byte_len`]).
    pub fn size_of(self) -> usize {
        match self {
            ElementType::F32 | ElementType::I32 => 4,
            ElementType::F64 | ElementType::I64 | ElementType::String => 8,
            ElementType::U8 | ElementType::Bool => 1,
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor's elements, flat and in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    String(Vec<String>),
}

impl TensorData {
    pub fn element_type(&self) -> ElementType {
        match self {
            TensorData::F32(_) => ElementType::F32,
            TensorData::F64(_) => ElementType::F64,
            TensorData::I32(_) => ElementType::I32,
            TensorData::I64(_) => ElementType::I64,
            TensorData::U8(_) => ElementType::U8,
            TensorData::Bool(_) => ElementType::Bool,
            TensorData::String(_) => ElementType::String,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the elements in bytes; a string counts its text and a
    /// reference to it (what it costs to pass across a component boundary).
    pub fn byte_len(&self) -> usize {
        let text = match self {
            TensorData::String(v) => v.iter().map(String::len).sum(),
            _ => 0,
        };
        self.len() * self.element_type().size_of() + text
    }
}

/// A named tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<u32>,
    pub data: TensorData,
}

impl Tensor {
    pub fn new(name: impl Into<String>, shape: Vec<u32>, data: TensorData) -> Tensor {
        Tensor {
            name: name.into(),
            shape,
            data,
        }
    }
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Always this size.
    Fixed(u32),
    /// Chosen by the caller; the string is the model's symbol for it.
    Dynamic(String),
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Fixed(n) => write!(f, "{n}"),
            Dimension::Dynamic(s) => f.write_str(s),
        }
    }
}

/// Formats a declared shape the way messages show it: `[batch, 4]`.
pub fn format_declared_shape(shape: &[Dimension]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Formats a concrete shape the way messages show it: `[3, 4]`.
pub fn format_shape(shape: &[u32]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The class each column of a classifier's probabilities stands for, in
/// column order: integers or strings, as the classifier's labels are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClassLabels {
    I64(Vec<i64>),
    String(Vec<String>),
}

impl ClassLabels {
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::I64(v) => v.len(),
            ClassLabels::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels as text, for messages and listings: `0, 1, 2`.
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            ClassLabels::I64(v) => v.iter().map(ToString::to_string).collect(),
            ClassLabels::String(v) => v.clone(),
        }
    }
}

/// What a model declares about one input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub element_type: ElementType,
    pub shape: Vec<Dimension>,
    /// For a classifier's probabilities (what skl2onnx's `ZipMap` makes a
    /// list of dictionaries of): the class of each column of the last
    /// dimension. `None` for every other tensor.
    pub class_labels: Option<ClassLabels>,
}

impl TensorInfo {
    /// The declared shape with every dynamic dimension `size`: what a
    /// caller sends for a batch of `size` rows.
    pub fn shape_with_dynamic(&self, size: u32) -> Vec<u32> {
        self.shape
            .iter()
            .map(|d| match d {
                Dimension::Fixed(n) => *n,
                Dimension::Dynamic(_) => size,
            })
            .collect()
    }
}

/// What a model is, and what it takes and gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    /// `sha256:` and the lowercase hex SHA-256 of the ONNX bytes.
    pub digest: String,
    /// The tool that wrote the ONNX file (`skl2onnx 1.20.0`), or empty.
    pub producer: String,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}
