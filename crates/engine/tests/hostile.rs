//! Hostile and broken ONNX files: each is refused with a `LoadError` that
//! says what is wrong, never a panic. The files under
//! `fuzz/regressions/onnx_load/` are inputs the `onnx_load` fuzz target
//! crashed the engine with before it was fixed, named for what they do.

use std::path::Path;

use wasmodel_engine::{LoadError, Model};

fn regression(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/onnx_load")
        .join(name);
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/onnx_load");
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
    let error = refusal(&regression("output-that-nothing-defines.onnx")).to_string();
    assert!(
        error.contains("output `Y` that no node, input or initializer defines"),
        "{error}"
    );
}

#[test]
fn a_panic_in_tract_is_a_refusal() {
    // A reduction over axis 65 of a rank-2 tensor: tract-hir `unwrap`s the
    // axis and panics while typing the graph.
    let error = refusal(&regression("reduce-axis-out-of-range.onnx")).to_string();
    assert!(
        error.contains("tract failed on this file") && error.contains("axis"),
        "{error}"
    );
}
