//! `wasmodel build` refuses what it cannot run, and says why.

use wasmodel::wit::{HTTP_WORLD, MODEL_WORLD, check_targets};
use wasmodel::{ComponentBuilder, Error, LoadError};

use crate::support::{fixture_path, http_component, model_path, runtime};

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

#[test]
fn an_http_component_stays_inside_the_proxy_world() {
    let built = http_component("iris");
    assert_eq!(built.exports, ["wasi:http/incoming-handler@0.2.0"]);
    assert!(
        built.imports.contains(&"wasi:http/types@0.2.6".to_string()),
        "{:?}",
        built.imports
    );
    // Nothing outside wasi:http/proxy: no files, sockets, environment.
    for import in &built.imports {
        assert!(
            [
                "wasi:io/",
                "wasi:clocks/",
                "wasi:random/",
                "wasi:cli/std",
                "wasi:http/"
            ]
            .iter()
            .any(|allowed| import.starts_with(allowed)),
            "{import}"
        );
    }
}

#[test]
fn world_checks_refuse_the_other_flavour() {
    let predictor = crate::support::component("iris");
    let e = check_targets(&predictor, HTTP_WORLD)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not export wasi:http/incoming-handler@0.2.6"),
        "{e}"
    );
    let http = http_component("iris");
    let e = check_targets(&http.component, MODEL_WORLD)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("imports more than the model world offers"),
        "{e}"
    );
}
