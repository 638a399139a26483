//! The engine, natively, on every model in `models/`: it loads, and its
//! outputs equal onnxruntime's reference outputs in `tests/fixtures/`. The
//! same checks run on the Wasm components in the top-level tests; this one
//! tells an engine fault from a packaging fault.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmodel_engine::{ElementType, LoadError, Model, Tensor, TensorData};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tensor(name: &str, json: &Value) -> Tensor {
    let shape = json["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as u32)
        .collect();
    let data = json["data"].as_array().unwrap();
    let float = |v: &Value| match v {
        // "NaN", "Infinity", "-Infinity": Rust's float syntax takes them.
        Value::String(s) => s.parse::<f64>().unwrap(),
        v => v.as_f64().unwrap(),
    };
    let data = match ElementType::from_name(json["dtype"].as_str().unwrap()).unwrap() {
        ElementType::F32 => TensorData::F32(data.iter().map(|v| float(v) as f32).collect()),
        ElementType::F64 => TensorData::F64(data.iter().map(float).collect()),
        ElementType::I32 => {
            TensorData::I32(data.iter().map(|v| v.as_i64().unwrap() as i32).collect())
        }
        ElementType::I64 => TensorData::I64(data.iter().map(|v| v.as_i64().unwrap()).collect()),
        ElementType::U8 => TensorData::U8(data.iter().map(|v| v.as_u64().unwrap() as u8).collect()),
        ElementType::Bool => TensorData::Bool(data.iter().map(|v| v.as_bool().unwrap()).collect()),
    };
    Tensor::new(name, shape, data)
}

fn tensors(json: &Value) -> Vec<Tensor> {
    json.as_object()
        .unwrap()
        .iter()
        .map(|(name, t)| tensor(name, t))
        .collect()
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
