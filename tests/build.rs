//! `wasmodel build` refuses what it cannot run, and says why.

use wasmodel::wit::{HTTP_WORLD, MODEL_WORLD, check_targets};
use wasmodel::{ComponentBuilder, Error, Flavour, LoadError};

use crate::support::{
    assert_outputs_match, component, fixture, fixture_path, http_component, model_path, runtime,
};

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
    // skl2onnx's DictVectorizer pipeline takes a map (a dictionary per
    // row), and the engine has no DictVectorizer.
    let onnx = std::fs::read(fixture_path("unsupported/dict_vectorizer.onnx")).unwrap();
    match build(&onnx) {
        Err(Error::Model(LoadError::UnsupportedOperators(ops))) => {
            assert_eq!(ops, ["ai.onnx.ml:DictVectorizer"])
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
    assert_eq!(interfaces.exports, ["wasmodel:model/predictor@0.3.0"]);
}

#[test]
fn an_http_component_stays_inside_the_proxy_world() {
    let built = http_component("iris");
    assert_eq!(built.exports, ["wasi:http/incoming-handler@0.2.6"]);
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

#[test]
fn an_engine_given_explicitly_is_used_and_checked() {
    let onnx = std::fs::read(model_path("iris")).unwrap();
    // The embedded engine, given by hand, makes the very same component.
    let given = ComponentBuilder::new("m")
        .engine(
            wasmodel::engine_wasm(Flavour::Predictor, false)
                .unwrap()
                .to_vec(),
        )
        .build(runtime(), &onnx)
        .unwrap();
    assert!(given.component == build(&onnx).unwrap().component);
    // An engine of the other flavour cannot make a predictor: it imports
    // `wasi:http`.
    match ComponentBuilder::new("m")
        .engine(
            wasmodel::engine_wasm(Flavour::Http, false)
                .unwrap()
                .to_vec(),
        )
        .build(runtime(), &onnx)
    {
        Err(Error::Build(why)) => assert!(why.contains("missing import named `wasi:"), "{why}"),
        other => panic!("expected a build error, got {:?}", other.map(|_| ())),
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn without_preinit_the_component_keeps_the_onnx_bytes_and_predicts_the_same() {
    let stem = "digits_cnn";
    let onnx = std::fs::read(model_path(stem)).unwrap();
    let lazy = ComponentBuilder::new(stem)
        .preinit(false)
        .build(runtime(), &onnx)
        .unwrap();
    // A pre-initialized component holds the parsed model, not the file:
    // the init step zeroes the ONNX bytes before the snapshot.
    assert!(contains(&lazy.component, &onnx));
    assert!(!contains(&component(stem), &onnx));

    // Every fresh instance parses the model on its first call.
    let model = runtime().load(&lazy.component).unwrap();
    assert_eq!(model.info(), crate::support::model(stem).info());
    let fixture = fixture(stem);
    for _ in 0..2 {
        let outputs = model.predict(fixture.inputs.clone()).unwrap();
        assert_outputs_match(&outputs, &fixture.outputs, fixture.rtol, fixture.atol);
    }
}

#[test]
fn the_http_component_carries_no_more_copies_of_the_weights_than_the_predictor() {
    // The HTTP engine, when it was built for wasm32-wasip1, freed with
    // libc's `free`, which LLVM knows: it dropped the zeroing of freed
    // blocks as dead stores, and the HTTP component carried the ONNX bytes
    // and the parsed graphs' weights, three more copies than the predictor.
    // Both engines now share a target and an allocator. Each 64-byte window of
    // the ONNX file (weights, mostly) occurs no more often in the HTTP
    // component than in the predictor.
    let stem = "digits_cnn";
    let onnx = std::fs::read(model_path(stem)).unwrap();
    let (predictor, http) = (component(stem), http_component(stem));
    let count = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    };
    let mut checked = 0;
    for window in onnx.chunks_exact(64).step_by(8) {
        // Runs of one byte (zeros, padding) are everywhere.
        if window.iter().all(|&b| b == window[0]) {
            continue;
        }
        let (in_predictor, in_http) = (count(&predictor, window), count(&http.component, window));
        assert!(
            in_http <= in_predictor,
            "{in_http} copies in the HTTP component, {in_predictor} in the predictor"
        );
        checked += 1;
    }
    assert!(checked > 10, "only {checked} windows checked");
}

#[test]
fn a_component_of_an_older_interface_is_refused_with_a_hint_to_rebuild() {
    // The iris component with its export renamed to the 0.1.0 interface
    // (same length, so the binary stays valid): what an older wasmodel
    // built.
    let current = wasmodel::wit::PREDICTOR_INTERFACE.as_bytes();
    let older = b"wasmodel:model/predictor@0.1.0";
    assert_eq!(current.len(), older.len());
    let mut wasm = component("iris").to_vec();
    let mut renamed = 0;
    let mut at = 0;
    while let Some(i) = wasm[at..].windows(current.len()).position(|w| w == current) {
        wasm[at + i..at + i + older.len()].copy_from_slice(older);
        at += i + older.len();
        renamed += 1;
    }
    assert!(renamed > 0);
    let e = runtime().load(&wasm).map(|_| ()).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("predictor@0.1.0") && message.contains("rebuild it"),
        "{message}"
    );
}

/// Pre-initializing runs the model's load in the engine under the memory
/// limit its instances will have: a model that cannot fit is refused when
/// built, not on its first call.
#[test]
fn a_model_over_the_instance_memory_limit_is_refused_when_built() {
    let onnx = std::fs::read(fixture_path("hostile/constant_of_a_gibibyte.onnx")).unwrap();
    let runtime = crate::support::runtime_with(wasmodel::Limits {
        max_memory: 256 << 20,
        ..wasmodel::Limits::default()
    });
    match ComponentBuilder::new("m").build(&runtime, &onnx) {
        Err(Error::MemoryLimit { limit }) => assert_eq!(limit, 256 << 20),
        other => panic!("expected the memory limit, got {:?}", other.map(|_| ())),
    }
}

/// A model whose weights live in `linear.onnx.data` beside it: the
/// component carries them (it imports nothing), so it answers as
/// onnxruntime does with the file alone.
#[test]
fn external_data_is_read_into_the_component() {
    let path = fixture_path("external/linear.onnx");
    let (_, model) = crate::support::build_and_load(&path, |b| b);
    let mut instance = model.instance().unwrap();
    let x = wasmodel::Tensor::new(
        "x",
        vec![2, 4],
        wasmodel::TensorData::F32(vec![1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 2.0]),
    );
    let y = instance.predict(vec![x]).unwrap();
    // W = arange(12).reshape(4, 3) / 10, b = [1, 2, 3].
    let w = |i: usize, j: usize| (3 * i + j) as f32 / 10.0;
    let expected: Vec<f32> = [[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 2.0]]
        .iter()
        .flat_map(|row| {
            (0..3).map(move |j| (0..4).map(|i| row[i] * w(i, j)).sum::<f32>() + (j + 1) as f32)
        })
        .collect();
    let wasmodel::TensorData::F32(got) = &y[0].data else {
        panic!("{:?}", y[0].data)
    };
    assert!(
        got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-5),
        "{got:?} != {expected:?}"
    );

    // Without the data file beside it, the error names the file.
    let alone = std::env::temp_dir().join(format!("wasmodel-external-{}", std::process::id()));
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(&path, alone.join("linear.onnx")).unwrap();
    let e = wasmodel::read_model(&alone.join("linear.onnx")).unwrap_err();
    std::fs::remove_dir_all(&alone).unwrap();
    assert!(e.to_string().contains("linear.onnx.data"), "{e}");
}
