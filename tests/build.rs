//! `wasmodel build` refuses what it cannot run, and says why.

use wasmodel::{ComponentBuilder, Error, LoadError};

use crate::support::{fixture_path, model_path, runtime};

fn build(onnx: &[u8]) -> Result<wasmodel::BuiltComponent, Error> {
    ComponentBuilder::new("m").build(runtime(), onnx)
}

#[test]
fn refuses_a_truncated_file() {
    let onnx = std::fs::read(model_path("wine_mlp")).unwrap();
    match build(&onnx[..onnx.len() / 2]) {
        Err(Error::Model(LoadError::Malformed(reason))) => assert!(!reason.is_empty()),
        other => panic!(
            "expected a malformed-model error, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn refuses_a_file_that_is_not_onnx() {
    let e = build(b"name,age\nada,36\n").map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::Model(LoadError::Malformed(_))), "{e}");
    assert!(e.to_string().starts_with("not a valid ONNX model"), "{e}");
}

#[test]
fn refuses_an_unsupported_operator_by_name() {
    // skl2onnx's default export ends in a ZipMap (a sequence of maps),
    // which tract does not implement.
    let onnx = std::fs::read(fixture_path("iris_zipmap.onnx")).unwrap();
    match build(&onnx) {
        Err(Error::Model(LoadError::UnsupportedOperators(ops))) => {
            assert!(ops.iter().any(|op| op.starts_with("ZipMap")), "{ops:?}")
        }
        other => panic!(
            "expected an unsupported-operator error, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn a_built_component_imports_nothing() {
    let onnx = std::fs::read(model_path("iris")).unwrap();
    let built = build(&onnx).unwrap();
    assert_eq!(built.imports, Vec::<String>::new());
    let interfaces = wasmodel::inspect::Interfaces::of(&built.component).unwrap();
    assert_eq!(interfaces.exports, ["wasmodel:model/predictor@0.1.0"]);
}
