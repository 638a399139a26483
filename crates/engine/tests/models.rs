//! The engine, natively, on every model in `models/`: it loads, and its
//! outputs equal onnxruntime's reference outputs in `tests/fixtures/`. The
//! same checks run on the Wasm components in the top-level tests; this one
//! tells an engine fault from a packaging fault.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmodel_engine::{LoadError, Model, Tensor, TensorData, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tensors(json: &Value) -> Vec<Tensor> {
    // Each fixture tensor carries its own "dtype".
    json::tensors_from_json_object(json, |_| None).unwrap()
}

fn as_f64(data: &TensorData) -> Option<Vec<f64>> {
    match data {
        TensorData::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        TensorData::F64(v) => Some(v.clone()),
        _ => None,
    }
}

#[test]
fn every_model_matches_onnxruntime_natively() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let fixture = repo().join("tests/fixtures").join(format!("{stem}.json"));
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        let (rtol, atol) = (
            fixture["tolerance"]["rtol"].as_f64().unwrap(),
            fixture["tolerance"]["atol"].as_f64().unwrap(),
        );

        let model = Model::load(&std::fs::read(&path).unwrap(), stem, "1")
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let got = model
            .predict(tensors(&fixture["inputs"]))
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let want = tensors(&fixture["outputs"]);
        assert_eq!(got.len(), want.len(), "{stem}: number of outputs");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((&g.name, &g.shape), (&w.name, &w.shape), "{stem}");
            match (as_f64(&g.data), as_f64(&w.data)) {
                (Some(g64), Some(w64)) => {
                    assert_eq!(
                        g.data.element_type(),
                        w.data.element_type(),
                        "{stem}: {}",
                        w.name
                    );
                    for (i, (a, b)) in g64.iter().zip(&w64).enumerate() {
                        assert!(
                            (a - b).abs() <= atol + rtol * b.abs(),
                            "{stem}: {}[{i}] = {a}, onnxruntime {b}",
                            w.name
                        );
                    }
                }
                _ => assert_eq!(g.data, w.data, "{stem}: {}", w.name),
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected the five models in models/, checked {checked}"
    );
}

#[test]
fn zipmap_is_refused_by_name() {
    let onnx = std::fs::read(repo().join("tests/fixtures/iris_zipmap.onnx")).unwrap();
    match Model::load(&onnx, "iris", "1") {
        Err(LoadError::UnsupportedOperators(ops)) => {
            assert!(ops.iter().any(|op| op.contains("ZipMap")), "{ops:?}")
        }
        Err(other) => panic!("expected UnsupportedOperators, got {other}"),
        Ok(_) => panic!("a ZipMap model loaded"),
    }
}
