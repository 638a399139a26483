//! "Will my model work, and give the same numbers?": the logic of
//! `wasmodel check`, in three steps a program can also call on its own.
//!
//! - [`inputs`]: inputs for a model when the user has none, respecting its
//!   declared types and shapes (and, for text, the categories its encoders
//!   know);
//! - [`reference`]: what onnxruntime answers for the same inputs (through a
//!   Python that has it), or native tract when there is none;
//! - [`compare`]: each output of the component against the reference, with
//!   its largest absolute and relative error.
//!
//! The listing of operators is the engine's ([`wasmodel_engine::graph`]).

pub mod compare;
pub mod inputs;
pub mod reference;
