//! Indices that come from the caller (`index_check`): in range, negative
//! ones included, they give onnxruntime's outputs; out of range, they are a
//! typed error about the input, never a panic or another row's values.
//! Models and onnxruntime's answers: `tests/fixtures/indices/generate.py`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmodel_engine::{InputErrorKind, Model, PredictError, Tensor, TensorData};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/indices")
}

fn load(path: &Path) -> Model {
    let name = path.file_stem().unwrap().to_str().unwrap();
    Model::load(&std::fs::read(path).unwrap(), name, "1").unwrap()
}

/// An int64 tensor of nested JSON arrays.
fn indices(json: &Value) -> Tensor {
    let mut shape = Vec::new();
    let mut level = json;
    while let Some(items) = level.as_array() {
        shape.push(u32::try_from(items.len()).unwrap());
        level = &items[0];
    }
    fn flatten(json: &Value, out: &mut Vec<i64>) {
        match json {
            Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
            value => out.push(value.as_i64().unwrap()),
        }
    }
    let mut data = Vec::new();
    flatten(json, &mut data);
    Tensor::new("indices", shape, TensorData::I64(data))
}

#[test]
fn indices_from_the_caller_give_onnxruntimes_outputs_or_a_typed_error() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let (mut answered, mut refused) = (0, 0);
    for case in cases["cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let model = load(&fixtures().join(format!("{name}.onnx")));
        let what = format!("{name} with indices {}", case["indices"]);
        let result = model.predict(vec![indices(&case["indices"])]);
        if let Some(want) = case.get("y") {
            let got = result.unwrap_or_else(|e| panic!("{what}: {e}"));
            let TensorData::F32(data) = &got[0].data else {
                panic!("{what}: not f32")
            };
            let want_data: Vec<f32> = want["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let want_shape: Vec<u32> = serde_json::from_value(want["shape"].clone()).unwrap();
            assert_eq!((&got[0].shape, data), (&want_shape, &want_data), "{what}");
            answered += 1;
        } else {
            // onnxruntime refused these: so must we, naming the input.
            match result {
                Err(PredictError::InvalidInput(e)) => {
                    assert_eq!(
                        (e.kind, e.input.as_str()),
                        (InputErrorKind::OutOfRange, "indices")
                    );
                    assert!(e.expected.contains(name_of_op(name)), "{what}: {e}");
                }
                other => panic!("{what}: expected an out-of-range input error, got {other:?}"),
            }
            refused += 1;
        }
    }
    assert!(
        answered >= 5 && refused >= 10,
        "{answered} answered, {refused} refused"
    );
}

/// The ONNX operator each fixture model is made of.
fn name_of_op(model: &str) -> &'static str {
    match model {
        "gather_axis1" => "Gather",
        "gather_elements" => "GatherElements",
        "gather_nd" => "GatherND",
        "scatter_elements" => "ScatterElements",
        "scatter_nd" => "ScatterND",
        "if_gather" | "scan_gather" => "Gather",
        other => panic!("no operator known for {other}"),
    }
}

/// The fuzzer's finding (`fuzz/regressions/engine_inputs/`): a category id
/// far past the embedding table of `models/multi_io.onnx` made tract panic.
#[test]
fn a_category_past_the_embedding_table_is_an_input_error() {
    let model = load(&fixtures().join("../../../models/multi_io.onnx"));
    let numeric = Tensor::new("numeric", vec![1, 5], TensorData::F32(vec![0.0; 5]));
    for id in [4, -5, 5_023_693_216_855_313_706, i64::MIN] {
        let category = Tensor::new("category", vec![1], TensorData::I64(vec![id]));
        match model.predict(vec![numeric.clone(), category]) {
            Err(PredictError::InvalidInput(e)) => {
                assert_eq!(
                    (e.kind, e.input.as_str()),
                    (InputErrorKind::OutOfRange, "category")
                );
                assert_eq!(e.got, format!("index {id}"));
                assert!(e.expected.contains("[-4, 4)"), "{e}");
            }
            other => panic!("category {id}: expected an input error, got {other:?}"),
        }
    }
    // The last row counted from the end is the last row.
    let row = |id| {
        let category = Tensor::new("category", vec![1], TensorData::I64(vec![id]));
        model.predict(vec![numeric.clone(), category]).unwrap()
    };
    assert_eq!(row(-1), row(3));
}
