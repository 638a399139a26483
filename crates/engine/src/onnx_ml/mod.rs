//! The ONNX-ML operators (`ai.onnx.ml`) that scikit-learn, LightGBM and
//! XGBoost exports use, registered with tract's ONNX parser from our side.
//!
//! tract 0.23 implements part of the domain, and some of it differently from
//! onnxruntime (the reference every exporter tests against); the operators
//! here replace or complete it, following onnxruntime's behaviour attribute
//! by attribute. Each is an op of our own with its own `eval`
//! ([`kernel::MlOp`]), so the native checks of `wasmodel build` and the engine
//! inside the component run the same code.
//!
//! One file per family: [`trees`], [`linear`], [`svm`], [`encoders`]
//! (categorical features, strings), [`preprocessing`] (numeric feature
//! transforms), [`zipmap`]; and two operators whose tract versions differ
//! from onnxruntime in ways scikit-learn exports hit:
//! [`array_feature_extractor`] and [`log_sum_exp`] (`ReduceLogSumExp`). Attributes an operator does not implement are
//! refused when the model loads, with a message naming the node and the
//! attribute ([`attributes::Attributes`]).

mod array_feature_extractor;
pub(crate) mod attributes;
mod class_labels;
mod encoders;
pub(crate) mod kernel;
mod linear;
mod log_sum_exp;
mod post_transform;
mod preprocessing;
mod svm;
mod trees;
mod zipmap;

use tract_onnx::Onnx;

pub use class_labels::output_class_labels;

/// The ONNX-ML operators this module provides, for listings and messages.
pub const OPERATORS: &[&str] = &[
    "ArrayFeatureExtractor",
    "Binarizer",
    "FeatureVectorizer",
    "Imputer",
    "LabelEncoder",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "OneHotEncoder",
    "ReduceLogSumExp",
    "SVMClassifier",
    "SVMRegressor",
    "Scaler",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "ZipMap",
];

/// Adds (or replaces) the operators of this module in a tract ONNX parser.
pub fn register(onnx: &mut Onnx) {
    let ops = &mut onnx.op_register;
    ops.insert(
        "ArrayFeatureExtractor",
        array_feature_extractor::array_feature_extractor,
    );
    ops.insert("ReduceLogSumExp", log_sum_exp::reduce_log_sum_exp);
    ops.insert("Binarizer", preprocessing::binarizer);
    ops.insert("FeatureVectorizer", preprocessing::feature_vectorizer);
    ops.insert("Imputer", preprocessing::imputer);
    ops.insert("Normalizer", preprocessing::normalizer);
    ops.insert("Scaler", preprocessing::scaler);
    ops.insert("LabelEncoder", encoders::label_encoder);
    ops.insert("OneHotEncoder", encoders::one_hot_encoder);
    ops.insert("LinearClassifier", linear::linear_classifier);
    ops.insert("LinearRegressor", linear::linear_regressor);
    ops.insert("SVMClassifier", svm::svm_classifier);
    ops.insert("SVMRegressor", svm::svm_regressor);
    ops.insert("TreeEnsembleClassifier", trees::tree_ensemble_classifier);
    ops.insert("TreeEnsembleRegressor", trees::tree_ensemble_regressor);
    ops.insert("ZipMap", zipmap::zipmap);
}
