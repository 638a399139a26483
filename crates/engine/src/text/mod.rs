//! The text operators of scikit-learn's text pipelines as skl2onnx exports
//! them (`TfidfVectorizer`, `CountVectorizer`): `StringNormalizer` (case
//! and stop words), onnxruntime's `com.microsoft:Tokenizer` and
//! `TfIdfVectorizer` (n-gram counts and weights), registered with tract's
//! ONNX parser from our side as the ONNX-ML operators are
//! ([`crate::onnx_ml`]). Each computes as onnxruntime's CPU kernel does;
//! what that kernel does with a regular expression or a locale we do not
//! reproduce exactly is refused when the model loads, naming the node and
//! the attribute.

mod case;
mod string_normalizer;
mod tfidf_vectorizer;
mod tokenizer;

use tract_onnx::Onnx;

/// The ONNX (`ai.onnx`) operators this module provides.
pub const OPERATORS: &[&str] = &["StringNormalizer", "TfIdfVectorizer"];

/// The `com.microsoft` operators this module provides.
pub const MICROSOFT_OPERATORS: &[&str] = &["Tokenizer"];

/// Adds the operators of this module to a tract ONNX parser.
pub fn register(onnx: &mut Onnx) {
    let ops = &mut onnx.op_register;
    ops.insert("StringNormalizer", string_normalizer::string_normalizer);
    ops.insert("Tokenizer", tokenizer::tokenizer);
    ops.insert("TfIdfVectorizer", tfidf_vectorizer::tfidf_vectorizer);
}
