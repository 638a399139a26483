//! `ZipMap`: a classifier's probabilities as a sequence of maps from class
//! label to probability (`[{0: 0.9, 1: 0.1}, ...]`), which skl2onnx puts at
//! the end of every classifier by default.
//!
//! A component's interface carries tensors, not sequences of maps, and a
//! map adds nothing but its keys, which are the same for every row. So
//! wasmodel presents a ZipMap's output as what it holds: the probability
//! tensor `[rows, classes]`, unchanged, with the class labels (the maps'
//! keys, in column order) in the output's metadata
//! ([`crate::TensorInfo::class_labels`]).

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{DimLike as _, bail, ensure};

use super::attributes::build;
use super::kernel::{Kernel, Parsed};

pub(crate) const ATTRIBUTES: &[&str] = &["classlabels_int64s", "classlabels_strings"];

pub(crate) fn zipmap(_ctx: &tract_onnx::model::ParsingContext, node: &NodeProto) -> Parsed {
    build(node, ATTRIBUTES, |a| {
        Ok(ZipMap {
            classes: a
                .class_labels("classlabels_int64s", "classlabels_strings")?
                .len(),
        })
    })
}

#[derive(Debug)]
struct ZipMap {
    classes: usize,
}

impl Kernel for ZipMap {
    fn name(&self) -> &'static str {
        "ZipMap"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [input] = inputs else {
            bail!("ZipMap takes one input, got {}", inputs.len());
        };
        ensure!(
            input.datum_type == DatumType::F32,
            "ZipMap takes float probabilities, got {:?}",
            input.datum_type
        );
        ensure!(
            input.rank() == 2,
            "ZipMap takes [rows, classes] probabilities, got {:?}",
            input.shape
        );
        if let Ok(columns) = input.shape[1].to_usize() {
            ensure!(
                columns == self.classes,
                "ZipMap has {} class labels for {columns} columns of probabilities",
                self.classes
            );
        }
        Ok(tvec!((*input).clone()))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(inputs)
    }
}
