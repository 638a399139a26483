//! The engine, natively, on every model in `models/`: it loads, and its
//! outputs equal onnxruntime's reference outputs in `tests/fixtures/`, for
//! the fixture's whole batch and for each of its items alone. The
//! same checks run on the Wasm components in the top-level tests; this one
//! tells an engine fault from a packaging fault.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmodel_engine::{
    ClassLabels, Dimension, LoadError, LoadOptions, Model, Pooling, SENTENCE_EMBEDDING, Tensor,
    TensorData, json,
};

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

/// Loads `models/<dir>/<stem>.onnx`, runs the inputs of its fixture and
/// compares with onnxruntime's outputs (and the fixture's class labels with
/// the model's); says what differs.
fn check(path: &Path, fixture: &Path) -> Result<(), String> {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture).map_err(|e| format!("{}: {e}", fixture.display()))?,
    )
    .map_err(|e| e.to_string())?;
    let (rtol, atol) = (
        fixture["tolerance"]["rtol"].as_f64().ok_or("no rtol")?,
        fixture["tolerance"]["atol"].as_f64().ok_or("no atol")?,
    );
    let model = Model::load(&std::fs::read(path).unwrap(), stem, "1").map_err(|e| e.to_string())?;
    let inputs = tensors(&fixture["inputs"]);
    let want = tensors(&fixture["outputs"]);
    let got = model.predict(inputs.clone()).map_err(|e| e.to_string())?;
    compare(&model, &fixture, &got, &want, rtol, atol)?;

    // Each item alone, where inputs and outputs all lead with the dynamic
    // batch: a batch of one runs the engine's second plan (optimized with
    // the batch fixed), which must give the same rows.
    let leads_with_batch = |infos: &[wasmodel_engine::TensorInfo]| {
        infos
            .iter()
            .all(|i| matches!(i.shape.first(), Some(Dimension::Dynamic(_))))
    };
    let batch = inputs.first().map_or(0, |t| t.shape[0]);
    if leads_with_batch(&model.info().inputs) && leads_with_batch(&model.info().outputs) {
        for item in 0..batch {
            let alone: Vec<Tensor> = inputs.iter().map(|t| row(t, item)).collect();
            let got = model
                .predict(alone)
                .map_err(|e| format!("item {item}: {e}"))?;
            let want: Vec<Tensor> = want.iter().map(|t| row(t, item)).collect();
            compare(&model, &fixture, &got, &want, rtol, atol)
                .map_err(|e| format!("item {item} alone: {e}"))?;
        }
    }
    Ok(())
}

/// Item `item` of a tensor's leading axis, as a batch of one.
fn row(tensor: &Tensor, item: u32) -> Tensor {
    fn slice<T: Clone>(data: &[T], batch: u32, item: u32) -> Vec<T> {
        let width = data.len() / batch as usize;
        data[item as usize * width..(item as usize + 1) * width].to_vec()
    }
    let batch = tensor.shape[0];
    let data = match &tensor.data {
        TensorData::F32(v) => TensorData::F32(slice(v, batch, item)),
        TensorData::F64(v) => TensorData::F64(slice(v, batch, item)),
        TensorData::I32(v) => TensorData::I32(slice(v, batch, item)),
        TensorData::I64(v) => TensorData::I64(slice(v, batch, item)),
        TensorData::U8(v) => TensorData::U8(slice(v, batch, item)),
        TensorData::Bool(v) => TensorData::Bool(slice(v, batch, item)),
        TensorData::String(v) => TensorData::String(slice(v, batch, item)),
    };
    let mut shape = tensor.shape.clone();
    shape[0] = 1;
    Tensor::new(tensor.name.clone(), shape, data)
}

/// `got` against onnxruntime's `want` (and the fixture's class labels
/// against the model's); says what differs.
fn compare(
    model: &Model,
    fixture: &Value,
    got: &[Tensor],
    want: &[Tensor],
    rtol: f64,
    atol: f64,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs, onnxruntime {}", got.len(), want.len()));
    }
    for ((g, w), info) in got.iter().zip(want).zip(&model.info().outputs) {
        if (&g.name, &g.shape) != (&w.name, &w.shape) {
            return Err(format!(
                "output {} {:?}, onnxruntime {} {:?}",
                g.name, g.shape, w.name, w.shape
            ));
        }
        let labels = info.class_labels.as_ref().map(|l| match l {
            ClassLabels::I64(v) => serde_json::json!(v),
            ClassLabels::String(v) => serde_json::json!(v),
        });
        let stored = fixture["outputs"][&w.name].get("class_labels").cloned();
        if labels.is_some() && stored.is_some() && labels != stored {
            return Err(format!(
                "{}: class labels {labels:?}, ZipMap's {stored:?}",
                w.name
            ));
        }
        if stored.is_some() && labels.is_none() {
            return Err(format!(
                "{}: no class labels; the ZipMap has {stored:?}",
                w.name
            ));
        }
        match (as_f64(&g.data), as_f64(&w.data)) {
            (Some(g64), Some(w64)) => {
                if g.data.element_type() != w.data.element_type() {
                    return Err(format!(
                        "{}: element type {}",
                        w.name,
                        g.data.element_type()
                    ));
                }
                for (i, (a, b)) in g64.iter().zip(&w64).enumerate() {
                    if (a - b).abs() > atol + rtol * b.abs() && !(a.is_nan() && b.is_nan()) {
                        return Err(format!("{}[{i}] = {a}, onnxruntime {b}", w.name));
                    }
                }
            }
            _ if g.data != w.data => {
                return Err(format!(
                    "{}: {:?}, onnxruntime {:?}",
                    w.name, g.data, w.data
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks every model of a directory against its fixture, reporting all
/// that differ; returns how many were checked.
fn check_all(models: &str, fixtures: &str) -> usize {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join(models))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    paths.sort();
    for path in paths {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let fixture = repo().join(fixtures).join(format!("{stem}.json"));
        if let Err(e) = check(&path, &fixture) {
            failures.push(format!("{stem}: {e}"));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} models differ from onnxruntime:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn every_model_matches_onnxruntime_natively() {
    let checked = check_all("models", "tests/fixtures");
    assert!(
        checked >= 5,
        "expected the models in models/, checked {checked}"
    );
}

#[test]
fn every_zoo_model_matches_onnxruntime_natively() {
    let checked = check_all("models/zoo", "tests/fixtures/zoo");
    assert!(
        checked >= 25,
        "expected the zoo's models in models/zoo/, checked {checked}"
    );
}

#[test]
fn every_onnx_ml_case_matches_onnxruntime_natively() {
    // One operator at a time, on the attributes and inputs where
    // onnxruntime's behaviour is easy to get wrong (models/onnx_ml_cases.py).
    let checked = check_all("tests/fixtures/onnx_ml", "tests/fixtures/onnx_ml");
    assert!(
        checked >= 40,
        "expected the cases of tests/fixtures/onnx_ml/, checked {checked}"
    );
}

#[test]
fn the_kernels_shape_classes_match_onnxruntime_natively() {
    // What tests/kernels.rs runs through components, where wasmodel's own
    // wasm kernels run; here tract's native ones (models/kernel_cases.py).
    let checked = check_all("tests/fixtures/kernels", "tests/fixtures/kernels");
    assert_eq!(
        checked, 2,
        "expected the two models of tests/fixtures/kernels/"
    );
}

#[test]
fn onnxruntimes_own_operators_match_it_natively() {
    // com.microsoft operators as onnxruntime's quantizer writes them
    // (models/contrib_cases.py): DynamicQuantizeLSTM forward, backwards
    // and both ways, with sequence lengths, peepholes, clip and input_forget;
    // a CNN and a BERT as its static quantization writes them (QLinearAdd,
    // QGemm, ... per tensor and per channel), and both in QDQ form; the
    // BERT as its transformer optimizer fuses it (EmbedLayerNormalization;
    // Attention with each row's end, the raw mask, no mask, and causal;
    // SkipLayerNormalization, BiasGelu, FastGelu, Gelu).
    let checked = check_all("tests/fixtures/contrib", "tests/fixtures/contrib");
    assert_eq!(
        checked, 12,
        "expected the twelve cases of tests/fixtures/contrib/"
    );
}

#[test]
fn the_text_operators_match_onnxruntime_natively() {
    // One node at a time (models/text_cases.py): StringNormalizer's stop
    // words and case (every cased code point below U+30000), Tokenizer's
    // separators and marks, TfIdfVectorizer's skips and weights.
    let checked = check_all("tests/fixtures/text", "tests/fixtures/text");
    assert_eq!(checked, 6, "expected the six cases of tests/fixtures/text/");
}

/// The tiny encoders of `models/text_encoder_cases.py` (one as
/// onnxruntime's dynamic quantization writes it), loaded with their
/// tokenizer in front: given texts, they answer what onnxruntime answers
/// for the token ids the `tokenizers` package makes of them, and with each
/// `--pooling`, the embeddings sentence-transformers makes of that.
#[test]
fn encoders_with_a_tokenizer_take_text_natively() {
    let mut checked = 0;
    let mut pooled = 0;
    for stem in ["bert", "roberta", "bert_int8"] {
        let path = repo().join(format!("tests/fixtures/text_encoder/{stem}.json"));
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let read = |key: &str| std::fs::read(repo().join(fixture[key].as_str().unwrap())).unwrap();
        let options = LoadOptions {
            tokenizer: Some(String::from_utf8(read("tokenizer")).unwrap()),
            ..LoadOptions::default()
        };
        let onnx = read("model");
        let model = Model::load_with(&onnx, stem, "1", &options).unwrap();
        let text = &model.info().inputs;
        assert_eq!(text.len(), 1, "{stem}: {text:?}");
        assert_eq!(text[0].name, wasmodel_engine::TEXT_INPUT);
        let (rtol, atol) = (
            fixture["tolerance"]["rtol"].as_f64().unwrap(),
            fixture["tolerance"]["atol"].as_f64().unwrap(),
        );
        for (k, call) in fixture["calls"].as_array().unwrap().iter().enumerate() {
            let got = model.predict(tensors(&call["inputs"])).unwrap();
            compare(&model, call, &got, &tensors(&call["outputs"]), rtol, atol)
                .unwrap_or_else(|e| panic!("{stem}, call {k}: {e}"));
            checked += 1;
        }
        for pooling in ["mean", "mean normalize", "cls", "cls normalize"] {
            let options = LoadOptions {
                pooling: Pooling::parse(pooling),
                ..options.clone()
            };
            let model = Model::load_with(&onnx, stem, "1", &options).unwrap();
            let outputs = &model.info().outputs;
            assert_eq!(outputs.len(), 1, "{stem}, {pooling}: {outputs:?}");
            for (k, call) in fixture["calls"].as_array().unwrap().iter().enumerate() {
                let got = model.predict(tensors(&call["inputs"])).unwrap();
                let want = serde_json::json!({ SENTENCE_EMBEDDING: call["pooled"][pooling] });
                compare(&model, call, &got, &tensors(&want), rtol, atol)
                    .unwrap_or_else(|e| panic!("{stem}, {pooling}, call {k}: {e}"));
                pooled += 1;
            }
        }
    }
    assert_eq!(checked, 6, "expected two calls of each encoder");
    assert_eq!(
        pooled, 24,
        "expected two calls of each encoder in each pooling"
    );
}

/// `--quantize int8` on the tiny BERT: its twelve matrix weights and its
/// word and position tables become int8 (the two-row type table is too
/// small to bother), and its mean-pooled embeddings stay near the float
/// model's (sentence-transformers' pooling of onnxruntime's outputs).
#[test]
fn int8_quantization_stays_near_the_float_model() {
    let path = repo().join("tests/fixtures/text_encoder/bert.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let read = |key: &str| std::fs::read(repo().join(fixture[key].as_str().unwrap())).unwrap();
    let options = LoadOptions {
        tokenizer: Some(String::from_utf8(read("tokenizer")).unwrap()),
        pooling: Pooling::parse("mean normalize"),
        quantize_int8: true,
        ..LoadOptions::default()
    };
    let model = Model::load_with(&read("model"), "bert", "1", &options).unwrap();
    let quantized = model.quantized().unwrap();
    assert_eq!(quantized.weights, 14, "{quantized:?}");
    assert!(
        quantized.int8_bytes * 3 < quantized.float_bytes,
        "{quantized:?}"
    );
    let mut lowest = f64::MAX;
    for call in fixture["calls"].as_array().unwrap() {
        let got = model.predict(tensors(&call["inputs"])).unwrap();
        let want =
            tensors(&serde_json::json!({ SENTENCE_EMBEDDING: call["pooled"]["mean normalize"] }));
        let (got, want) = (
            as_f64(&got[0].data).unwrap(),
            as_f64(&want[0].data).unwrap(),
        );
        let width = 16;
        for (g, w) in got.chunks(width).zip(want.chunks(width)) {
            // Both are unit vectors: the dot product is the cosine.
            let cosine: f64 = g.iter().zip(w).map(|(a, b)| a * b).sum();
            lowest = lowest.min(cosine);
        }
    }
    assert!(lowest >= 0.99, "lowest cosine to the float model: {lowest}");
    eprintln!("int8: lowest cosine to the float model {lowest:.5}, {quantized:?}");
}

#[test]
fn what_the_onnx_ml_operators_do_not_implement_is_refused_by_name() {
    let checked = check_refused("tests/fixtures/onnx_ml/refused");
    assert!(checked >= 4, "checked {checked}");
}

#[test]
fn what_the_text_operators_do_not_implement_is_refused_by_name() {
    // A custom token pattern, a Turkish locale, an output too wide
    // (models/text_cases.py).
    let checked = check_refused("tests/fixtures/text/refused");
    assert_eq!(
        checked, 3,
        "expected the three cases of tests/fixtures/text/refused/"
    );
}

/// Loads every model in `dir` (relative to the repository), each of which
/// must be refused with the words its JSON file gives; how many it loaded.
fn check_refused(dir: &str) -> usize {
    let dir = repo().join(dir);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        let expected = expected["message"].as_str().unwrap();
        match Model::load(&std::fs::read(&path).unwrap(), "m", "1") {
            Err(e) => assert!(e.to_string().contains(expected), "{}: {e}", path.display()),
            Ok(_) => panic!("{} loaded", path.display()),
        }
        checked += 1;
    }
    checked
}

#[test]
fn unsupported_operators_are_refused_by_name() {
    // skl2onnx's DictVectorizer pipeline: a map input, and an operator
    // the engine does not have.
    let onnx =
        std::fs::read(repo().join("tests/fixtures/unsupported/dict_vectorizer.onnx")).unwrap();
    match Model::load(&onnx, "dict", "1") {
        Err(LoadError::UnsupportedOperators(ops)) => {
            assert_eq!(ops, ["ai.onnx.ml:DictVectorizer"]);
        }
        Err(other) => panic!("expected UnsupportedOperators, got {other}"),
        Ok(_) => panic!("a DictVectorizer model loaded"),
    }
}

#[test]
fn a_zipmap_output_is_the_probability_tensor_with_its_labels() {
    // The same forest exported with skl2onnx's default ZipMap and without.
    let zipped = std::fs::read(repo().join("tests/fixtures/iris_zipmap.onnx")).unwrap();
    let zipped = Model::load(&zipped, "iris", "1").unwrap();
    let plain = Model::load(
        &std::fs::read(repo().join("models/iris.onnx")).unwrap(),
        "iris",
        "1",
    )
    .unwrap();
    let output = &zipped.info().outputs[1];
    assert_eq!(output.element_type, wasmodel_engine::ElementType::F32);
    assert_eq!(output.class_labels, Some(ClassLabels::I64(vec![0, 1, 2])));
    let rows = Tensor::new(
        "features",
        vec![2, 4],
        TensorData::F32(vec![5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]),
    );
    let a = zipped.predict(vec![rows.clone()]).unwrap();
    let b = plain.predict(vec![rows]).unwrap();
    assert_eq!(a[1].shape, [2, 3]);
    assert_eq!((&a[0].data, &a[1].data), (&b[0].data, &b[1].data));
}

/// A sequence classifier's head as PyTorch writes `nn.Linear` (a `Gemm` of
/// the transposed weight, with its bias as `C`): `--quantize int8` makes
/// the pooler's weight int8 too (the classifier's 3 × 16 is too small to
/// bother), `--config`'s labels name the logits' columns, and the logits
/// stay near onnxruntime's float ones.
#[test]
fn a_classifier_head_quantizes_and_names_its_classes() {
    let path = repo().join("tests/fixtures/text_encoder/bert_classifier.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let read = |key: &str| std::fs::read(repo().join(fixture[key].as_str().unwrap())).unwrap();
    let config = std::fs::read_to_string(
        repo().join("tests/fixtures/text_encoder/bert_classifier_config.json"),
    )
    .unwrap();
    let labels = wasmodel_engine::id2label::labels_from_config(&config).unwrap();
    let mut options = LoadOptions {
        tokenizer: Some(String::from_utf8(read("tokenizer")).unwrap()),
        labels: Some(labels.clone()),
        ..LoadOptions::default()
    };
    let float = Model::load_with(&read("model"), "classifier", "1", &options).unwrap();
    options.quantize_int8 = true;
    let int8 = Model::load_with(&read("model"), "classifier", "1", &options).unwrap();
    assert_eq!(
        int8.quantized().unwrap().weights,
        15,
        "{:?}",
        int8.quantized()
    );
    for model in [&float, &int8] {
        let logits = &model.info().outputs[0];
        assert_eq!(
            logits.class_labels,
            Some(ClassLabels::String(labels.clone())),
            "{logits:?}"
        );
    }
    let (mut float_diff, mut int8_diff, mut largest) = (0f64, 0f64, 0f64);
    for call in fixture["calls"].as_array().unwrap() {
        let want = as_f64(&tensors(&call["outputs"])[0].data).unwrap();
        let inputs = tensors(&call["inputs"]);
        for (model, diff) in [(&float, &mut float_diff), (&int8, &mut int8_diff)] {
            let got = as_f64(&model.predict(inputs.clone()).unwrap()[0].data).unwrap();
            for (g, w) in got.iter().zip(&want) {
                *diff = diff.max((g - w).abs());
                largest = largest.max(w.abs());
            }
        }
    }
    assert!(float_diff <= 1e-4, "float logits off by {float_diff}");
    // Quantized: within 5% of the largest logit.
    assert!(
        int8_diff <= 0.05 * largest,
        "int8 logits off by {int8_diff} (largest {largest})"
    );
    eprintln!(
        "classifier logits: float within {float_diff:.1e}, int8 within {int8_diff:.1e} (largest {largest:.3})"
    );
}
