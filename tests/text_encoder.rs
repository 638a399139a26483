//! Transformer encoders built with their tokenizer (`wasmodel build
//! --tokenizer`, `--pooling`, `--normalize`): the tiny BERT and RoBERTa-like
//! encoders of `models/text_encoder_cases.py` as components take text, as a
//! `text` string tensor, through the library, the CLI (a JSON list of
//! texts, a NumPy unicode array) and the Open Inference Protocol
//! (`BYTES`), and answer what
//! onnxruntime answers for the token ids the `tokenizers` package makes of
//! it, and sentence-transformers' pooling of that. A classifier built with
//! its `config.json` names its classes, and the BERT as onnxruntime's
//! transformer optimizer fuses it answers as the BERT before.

use serde_json::{Value, json};
use wasmodel::json::tensors_from_json_object;
use wasmodel::{
    BuiltComponent, ComponentBuilder, Dimension, ElementType, Flavour, Limits, LoadOptions,
    Pooling, Tensor,
};

use crate::cli::wasmodel;
use crate::serve::{TestServer, outputs, quiet};
use crate::support::{assert_outputs_match, cache_dir, ok, repo, runtime};

fn case(stem: &str) -> Value {
    let path = repo().join(format!("tests/fixtures/text_encoder/{stem}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn tolerance(case: &Value) -> (f64, f64) {
    (
        case["tolerance"]["rtol"].as_f64().unwrap(),
        case["tolerance"]["atol"].as_f64().unwrap(),
    )
}

fn tensors(json: &Value) -> Vec<Tensor> {
    tensors_from_json_object(json, |_| None).unwrap()
}

/// A call's pooled embeddings, as the output a pooled component names.
fn pooled(call: &Value, pooling: &str) -> Vec<Tensor> {
    tensors(&json!({ wasmodel::SENTENCE_EMBEDDING: call["pooled"][pooling] }))
}

fn texts(call: &Value) -> Vec<String> {
    let text = &call["inputs"]["text"]["data"];
    serde_json::from_value(text.clone()).unwrap()
}

/// `wasmodel predict COMPONENT --input sentences.json` of a JSON list of
/// texts, and the JSON it prints.
fn predict_texts(component: &std::path::Path, texts: &[String], dir: &std::path::Path) -> Value {
    let sentences = dir.join("sentences.json");
    std::fs::write(&sentences, serde_json::to_string(texts).unwrap()).unwrap();
    let (stdout, _) = ok(wasmodel(
        &[
            "predict",
            component.to_str().unwrap(),
            "--input",
            sentences.to_str().unwrap(),
        ],
        &cache_dir(),
    ));
    serde_json::from_str(&stdout).unwrap()
}

/// A NumPy file of `texts` as `np.array(texts)` writes it: version 1.0,
/// `<U{n}` (n the longest text's characters, each as UTF-32, padded with
/// NULs), one dimension.
fn unicode_npy(texts: &[String]) -> Vec<u8> {
    let width = texts
        .iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut header = format!(
        "{{'descr': '<U{width}', 'fortran_order': False, 'shape': ({},), }}",
        texts.len()
    );
    // Magic (6), version (2), header length (2), header and newline: a
    // multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for text in texts {
        let chars: Vec<char> = text.chars().collect();
        for k in 0..width {
            let c = chars.get(k).map_or(0, |&c| c as u32);
            bytes.extend(c.to_le_bytes());
        }
    }
    bytes
}

fn build(stem: &str, pooling: Option<&str>, flavour: Flavour) -> BuiltComponent {
    let model = case(stem)["model"].as_str().unwrap().to_owned();
    build_model(stem, &model, pooling, flavour)
}

/// The component of the model file `model` (from the repository's root)
/// with case `stem`'s tokenizer, named `model`'s stem.
fn build_model(stem: &str, model: &str, pooling: Option<&str>, flavour: Flavour) -> BuiltComponent {
    let case = case(stem);
    let read = |path: &str| std::fs::read(repo().join(path)).unwrap();
    let options = LoadOptions {
        tokenizer: Some(String::from_utf8(read(case["tokenizer"].as_str().unwrap())).unwrap()),
        pooling: pooling.and_then(Pooling::parse),
        ..LoadOptions::default()
    };
    let name = std::path::Path::new(model)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap();
    ComponentBuilder::new(name)
        .flavour(flavour)
        .load_options(options)
        .build(runtime(), &read(model))
        .unwrap_or_else(|e| panic!("building {model}: {e}"))
}

/// Each of `case`'s calls, each to a fresh instance of `built` (the
/// tokenizer is in the snapshot), answers the call's outputs.
fn answers_each_call(built: &BuiltComponent, case: &Value) {
    let model = runtime().load(&built.component).unwrap();
    let (rtol, atol) = tolerance(case);
    for (k, call) in case["calls"].as_array().unwrap().iter().enumerate() {
        let got = model
            .instance()
            .unwrap()
            .predict(tensors(&call["inputs"]))
            .unwrap_or_else(|e| panic!("{}, call {k}: {e}", built.info.name));
        assert_outputs_match(&got, &tensors(&call["outputs"]), rtol, atol);
    }
}

#[test]
fn a_component_built_with_its_tokenizer_takes_text() {
    for stem in ["bert", "roberta"] {
        let case = case(stem);
        let built = build(stem, None, Flavour::Predictor);
        let text = &built.info.inputs;
        assert_eq!(text.len(), 1, "{stem}: {text:?}");
        assert_eq!(
            (
                text[0].name.as_str(),
                text[0].element_type,
                &text[0].shape[..]
            ),
            (
                wasmodel::TEXT_INPUT,
                ElementType::String,
                &[Dimension::Dynamic("batch_size".into())][..]
            ),
            "{stem}"
        );
        answers_each_call(&built, &case);
    }
}

/// The tiny BERT as onnxruntime's transformer optimizer fuses it
/// (`EmbedLayerNormalization`, `Attention`, `SkipLayerNormalization`,
/// `BiasGelu`: optimum's
/// `--optimize` exports; `tests/fixtures/contrib/fused_bert.onnx`), built
/// with the unfused model's tokenizer, answers the texts as onnxruntime
/// answers for the model before that fusion.
#[test]
fn a_model_onnxruntime_fused_takes_text_and_answers_as_before() {
    let fused = "tests/fixtures/contrib/fused_bert.onnx";
    let built = build_model("bert", fused, None, Flavour::Predictor);
    answers_each_call(&built, &case("bert"));
}

#[test]
fn the_cli_builds_an_embedder_that_takes_a_json_list_of_texts() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let case = case("bert");
    let out = dir.path().join("embedder.wasm");
    let model = repo().join(case["model"].as_str().unwrap());
    let tokenizer = repo().join(case["tokenizer"].as_str().unwrap());
    let (stdout, _) = ok(wasmodel(
        &[
            "build",
            model.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--pooling",
            "mean",
            "--normalize",
            "-o",
            out.to_str().unwrap(),
        ],
        &cache,
    ));
    assert!(
        stdout.contains("text") && stdout.contains("string[batch_size]"),
        "{stdout}"
    );
    assert!(stdout.contains("sentence_embedding"), "{stdout}");
    let call = &case["calls"][0];
    let got = tensors(&predict_texts(&out, &texts(call), dir.path()));
    let (rtol, atol) = tolerance(&case);
    assert_outputs_match(&got, &pooled(call, "mean normalize"), rtol, atol);

    // The same texts as NumPy writes them (`np.array(texts)`, `<U{n}`).
    let npy = dir.path().join("texts.npy");
    std::fs::write(&npy, unicode_npy(&texts(call))).unwrap();
    let (stdout, _) = ok(wasmodel(
        &[
            "predict",
            out.to_str().unwrap(),
            "--input",
            &format!("text={}", npy.display()),
        ],
        &cache,
    ));
    let got = tensors(&serde_json::from_str(&stdout).unwrap());
    assert_outputs_match(&got, &pooled(call, "mean normalize"), rtol, atol);

    // `--normalize` alone has nothing to scale; a tokenizer the engine
    // cannot follow is refused naming its stage.
    let refused = wasmodel(&["build", model.to_str().unwrap(), "--normalize"], &cache);
    assert!(!refused.status.success(), "{refused:?}");
    let refused_file = repo().join("tests/fixtures/tokenizers/refused_first_in_sequence.json");
    let refused = wasmodel(
        &[
            "build",
            model.to_str().unwrap(),
            "--tokenizer",
            refused_file.to_str().unwrap(),
            "-o",
            dir.path().join("refused.wasm").to_str().unwrap(),
        ],
        &cache,
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("--tokenizer")
            && stderr.contains("Metaspace with prepend_scheme first inside a Sequence"),
        "{stderr}"
    );
}

#[test]
fn a_classifier_names_its_classes_from_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let case = case("bert_classifier");
    let out = dir.path().join("classifier.wasm");
    let model = repo().join(case["model"].as_str().unwrap());
    let tokenizer = repo().join(case["tokenizer"].as_str().unwrap());
    let config = repo().join("tests/fixtures/text_encoder/bert_classifier_config.json");
    let build = |config: &std::path::Path| {
        wasmodel(
            &[
                "build",
                model.to_str().unwrap(),
                "--tokenizer",
                tokenizer.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            &cache,
        )
    };
    ok(build(&config));
    let call = &case["calls"][0];
    // The logits, each column named by the config's id2label.
    let answer = predict_texts(&out, &texts(call), dir.path());
    assert_eq!(
        answer["logits"]["class_labels"],
        json!(["negative", "neutral", "positive"]),
        "{answer}"
    );
    let (rtol, atol) = tolerance(&case);
    assert_outputs_match(&tensors(&answer), &tensors(&call["outputs"]), rtol, atol);

    // Labels for a number of columns no output has are refused, naming the
    // outputs.
    let four = dir.path().join("config.json");
    std::fs::write(
        &four,
        r#"{"id2label": {"0": "a", "1": "b", "2": "c", "3": "d"}}"#,
    )
    .unwrap();
    let refused = build(&four);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("no output has one column per class"),
        "{stderr}"
    );
    assert!(stderr.contains("`logits` [batch_size, 3]"), "{stderr}");
}

#[test]
fn an_http_embedder_takes_bytes_over_the_open_inference_protocol() {
    let case = case("roberta");
    let built = build("roberta", Some("cls normalize"), Flavour::Http);
    let server =
        TestServer::start_components([built.component.as_slice()], Limits::default(), quiet());
    let (rtol, atol) = tolerance(&case);
    for call in case["calls"].as_array().unwrap() {
        let texts = texts(call);
        let request = json!({ "inputs": [{
            "name": "text", "shape": [texts.len()], "datatype": "BYTES", "data": texts,
        }]});
        let answer = server.post_json("/v2/models/roberta/infer", &request);
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let response: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_outputs_match(
            &outputs(&response),
            &pooled(call, "cls normalize"),
            rtol,
            atol,
        );
    }
    // Numbers where texts belong: a 400 naming the input.
    let answer = server.post_json(
        "/v2/models/roberta/infer",
        &json!({ "inputs": [{ "name": "text", "shape": [1], "datatype": "INT64", "data": [7] }]}),
    );
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        answer.status == 400 && body.contains("text"),
        "{} {body}",
        answer.status
    );
}
