//! Hostile and broken ONNX files: each is refused with a `LoadError` that
//! says what is wrong, never a panic. The files under
//! `fuzz/regressions/onnx_load/` are inputs the `onnx_load` fuzz target
//! crashed the engine with before it was fixed, named for what they do.

use std::path::{Path, PathBuf};

use wasmodel_engine::{Dimension, LoadError, Model};

/// The fuzz target's crashing inputs.
const REGRESSIONS: &str = "fuzz/regressions/onnx_load";
/// Hostile files made by `generate.py` there.
const HOSTILE: &str = "tests/fixtures/hostile";

/// A directory of the repository.
fn dir(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The bytes of `name` in the repository directory `relative`.
fn read(relative: &str, name: &str) -> Vec<u8> {
    let path = dir(relative).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn refusal(onnx: &[u8]) -> LoadError {
    match Model::load(onnx, "hostile", "1") {
        Ok(_) => panic!("a hostile model was loaded"),
        Err(e) => e,
    }
}

#[test]
fn every_fuzz_regression_is_refused() {
    let dir = dir(REGRESSIONS);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let error = refusal(&std::fs::read(&path).unwrap());
        assert!(!error.to_string().is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(seen > 0, "no regressions in {}", dir.display());
}

#[test]
fn an_output_that_nothing_defines_is_named() {
    let error = refusal(&read(REGRESSIONS, "output-that-nothing-defines.onnx")).to_string();
    assert!(
        error.contains("output `Y` that no node, input or initializer defines"),
        "{error}"
    );
}

#[test]
fn a_panic_in_tract_is_a_refusal() {
    // A reduction over axis 65 of a rank-2 tensor: tract-hir `unwrap`s the
    // axis and panics while typing the graph.
    let error = refusal(&read(REGRESSIONS, "reduce-axis-out-of-range.onnx")).to_string();
    assert!(
        error.contains("tract failed on this file") && error.contains("axis"),
        "{error}"
    );
}

#[test]
fn an_initializer_larger_than_its_data_is_refused() {
    // 2^30 floats declared, 16 bytes given.
    let error = refusal(&read(HOSTILE, "initializer_larger_than_its_data.onnx")).to_string();
    assert!(error.contains("does not match shape"), "{error}");
}

#[test]
fn dimensions_no_tensor_can_have_are_refused() {
    // 2^40: it used to be reported as a dynamic dimension named
    // "1099511627776", which any input then matched.
    let error = refusal(&read(HOSTILE, "absurd_dimensions.onnx")).to_string();
    assert!(
        error.contains("input `x` declares dimension 1099511627776"),
        "{error}"
    );
}

#[test]
fn a_negative_dimension_is_the_callers_choice() {
    // ONNX has no negative dimensions; the engine reads -7 as unnamed,
    // as it does an absent one, and names it.
    let model = Model::load(&read(HOSTILE, "negative_dimension.onnx"), "negative", "1").unwrap();
    assert_eq!(
        model.info().inputs[0].shape,
        [Dimension::Dynamic("x_dim0".into()), Dimension::Fixed(3)]
    );
}

#[test]
fn a_cycle_is_refused() {
    let error = refusal(&read(HOSTILE, "cycle.onnx")).to_string();
    assert!(error.contains("Loop detected"), "{error}");
}

#[test]
fn a_constant_too_large_to_allocate_is_refused() {
    // ConstantOfShape of 2^40 floats, folded while loading: tract's
    // allocation fails, and it panics; the engine refuses the file.
    let error = refusal(&read(HOSTILE, "constant_of_enormous_shape.onnx")).to_string();
    assert!(error.contains("failed to allocate"), "{error}");
}

#[test]
fn nested_subgraphs_load() {
    // If inside If, 30 deep: within what protobuf decoders accept, and
    // loaded without trouble (no recursion to fear at this depth).
    let model = Model::load(&read(HOSTILE, "nested_ifs.onnx"), "nested", "1").unwrap();
    assert_eq!(model.info().outputs.len(), 1);
}

#[test]
fn a_graph_without_outputs_is_refused() {
    let error = refusal(&read(REGRESSIONS, "no-outputs.onnx")).to_string();
    assert!(error.contains("the graph has no outputs"), "{error}");
}
