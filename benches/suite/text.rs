//! P9 text encoders: the corpus's all-MiniLM-L6-v2 (a 6-layer BERT, 22.7 M
//! parameters, as sentence-transformers ships it) built with its own
//! tokenizer.json and mean pooling, so that a call takes text and answers
//! a sentence embedding; built as it is (float32) and with `--quantize
//! int8`. Each row is one text of 8, 32 or 128 tokens ([CLS] and [SEP]
//! included).
//!
//! - P1: a warm component's `predict` ÷ native tract: the same engine with
//!   the same tokenizer and pooling, text in, one thread; timed alternately,
//!   run by run.
//! - P2: ÷ onnxruntime-web (wasm, Node, 1 thread) and ÷ native onnxruntime
//!   (1 thread), the scripts of `benches/peers/`, given the token ids (as
//!   transformers.js gives them to onnxruntime-web after its own
//!   tokenizer) and answering the float model's `last_hidden_state`, which
//!   is checked against tract's. The component's time includes its
//!   tokenizer and pooling; the peers' does not.
//! - fresh instance: a fresh instance's first `predict` ÷ a warm one's.
//! - first load: the component's first load (a full compile) on a machine
//!   that compiled nothing, and on one that compiled another model (the
//!   engine's functions reused from disk), and its size.

use anyhow::{Context, bail};
use wasmodel::{ComponentBuilder, LoadOptions, LoadedModel, Pooling, Tensor, TensorData};
use wasmodel_engine::Model;

use super::{Bench, Peer, Samples, pair, peer_ratio, short};

/// The corpus entry measured, and its tokenizer's.
const MODEL_ID: &str = "all_minilm_l6_v2";

/// One row: a text of this many tokens (`--model NAME` picks it).
pub struct Row {
    pub name: &'static str,
    tokens: usize,
}

pub const ROWS: [Row; 3] = [
    Row {
        name: "minilm-8",
        tokens: 8,
    },
    Row {
        name: "minilm-32",
        tokens: 32,
    },
    Row {
        name: "minilm-128",
        tokens: 128,
    },
];

/// The two builds measured.
const PRECISIONS: [&str; 2] = ["fp32", "int8"];

/// One build (float32 or int8): its component and native model, and what
/// loading it costs.
struct Build {
    native: Model,
    component: LoadedModel,
    size: usize,
    /// First load with nothing compiled, and with another model compiled.
    first_load: [std::time::Duration; 2],
}

/// One row's measurements of one build.
struct Timed {
    native: Samples,
    warm: Samples,
    fresh: Samples,
    /// The largest difference of the component's embedding from native
    /// tract's.
    max_diff: f64,
}

pub struct RowResult {
    name: &'static str,
    tokens: usize,
    timed: Vec<Timed>,
    ort_native: Peer,
    ort_web: Peer,
}

pub struct Results {
    rows: Vec<RowResult>,
    /// Per build: size in bytes, and the two first loads.
    builds: Vec<(usize, [std::time::Duration; 2])>,
}

/// Measures the rows picked (none: nothing is built).
pub fn measure(bench: Bench<'_>, rows: &[&Row]) -> anyhow::Result<Results> {
    let mut results = Results {
        rows: Vec::new(),
        builds: Vec::new(),
    };
    if rows.is_empty() {
        return Ok(results);
    }
    let Bench {
        runtime, settings, ..
    } = bench;
    let path = super::corpus_file(&["models", &format!("{MODEL_ID}.onnx")])?;
    let tokenizer_path = super::corpus_file(&["tokenizers", MODEL_ID, "tokenizer.json"])?;
    let onnx = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let tokenizer_json = std::fs::read_to_string(&tokenizer_path)?;
    let tokenizer = wasmodel_tokenizer::Tokenizer::from_json(tokenizer_json.as_bytes())?;

    let mut builds = Vec::new();
    for precision in PRECISIONS {
        let options = LoadOptions {
            tokenizer: Some(tokenizer_json.clone()),
            pooling: Pooling::parse("mean"),
            quantize_int8: precision == "int8",
            ..LoadOptions::default()
        };
        eprintln!("building the {precision} component (tokenizer, mean pooling)...");
        let built = ComponentBuilder::new(MODEL_ID)
            .load_options(options.clone())
            .build(runtime, &onnx)?;
        let first_load = super::first_loads(bench, &built.component)?;
        builds.push(Build {
            native: Model::load_with(&onnx, MODEL_ID, "1", &options)?,
            component: runtime.load(&built.component)?,
            size: built.component.len(),
            first_load,
        });
    }
    // The float model as shipped, for the peers' outputs.
    let raw = Model::load(&onnx, MODEL_ID, "1")?;

    for row in rows {
        let text = text_of(&tokenizer, row.tokens)?;
        let inputs = vec![Tensor::new(
            wasmodel::TEXT_INPUT,
            vec![1],
            TensorData::String(vec![text.clone()]),
        )];
        let mut timed = Vec::new();
        for (precision, build) in PRECISIONS.iter().zip(&builds) {
            eprintln!("{} {precision}: fresh instances, then P1...", row.name);
            let expected = build.native.predict(inputs.clone())?;
            let mut fresh = Samples::default();
            for _ in 0..settings.cold {
                fresh.time(|| build.component.instance()?.predict(inputs.clone()))?;
            }
            let mut instance = build.component.instance()?;
            let got = instance.predict(inputs.clone())?;
            let max_diff = super::max_diff_of(&expected, &got, "the component")?;
            // The int8 build quantizes its activations on each call: a
            // value a float rounding apart from native tract's may land on
            // the next level, and move what follows. Its embedding is held
            // to the same direction instead.
            let cosine = cosine(&super::flat(&expected), &super::flat(&got));
            if (*precision == "fp32" && max_diff > 1e-3) || cosine < 0.999 {
                bail!(
                    "{precision}: the component's embedding differs from native tract's by up \
                     to {max_diff} (cosine {cosine})"
                );
            }
            for _ in 0..settings.warmup {
                build.native.predict(inputs.clone())?;
                instance.predict(inputs.clone())?;
            }
            let (mut native, mut warm) = (Samples::default(), Samples::default());
            for _ in 0..settings.runs {
                native.time(|| build.native.predict(inputs.clone()))?;
                warm.time(|| instance.predict(inputs.clone()))?;
            }
            timed.push(Timed {
                native,
                warm,
                fresh,
                max_diff,
            });
        }

        eprintln!(
            "{}: onnxruntime (native, Python) and onnxruntime-web (wasm, Node), token ids in...",
            row.name
        );
        let ids = token_ids(&tokenizer, &text);
        let expected = raw.predict(ids.clone())?;
        let (ort_native, ort_web) = super::ort_peers(bench, row.name, &path, &ids, &expected)?;
        let result = RowResult {
            name: row.name,
            tokens: row.tokens,
            timed,
            ort_native,
            ort_web,
        };
        println!(
            "{} measured: P1 component ÷ native fp32 {:.2}, int8 {:.2} ({} / {} ms); \
             P2 fp32 ÷ ort-web {}, int8 ÷ ort-web {}",
            row.name,
            result.timed[0].warm.p50() / result.timed[0].native.p50(),
            result.timed[1].warm.p50() / result.timed[1].native.p50(),
            short(result.timed[0].warm.p50()),
            short(result.timed[1].warm.p50()),
            peer_ratio(&result.timed[0].warm, &result.ort_web),
            peer_ratio(&result.timed[1].warm, &result.ort_web),
        );
        results.rows.push(result);
    }
    results.builds = builds.iter().map(|b| (b.size, b.first_load)).collect();
    Ok(results)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// A text the tokenizer makes exactly `tokens` ids of: [CLS], one id per
/// word, [SEP].
fn text_of(tokenizer: &wasmodel_tokenizer::Tokenizer, tokens: usize) -> anyhow::Result<String> {
    const WORDS: [&str; 8] = [
        "the", "model", "answers", "a", "question", "about", "its", "text",
    ];
    let words: Vec<&str> = (0..tokens.saturating_sub(2))
        .map(|i| WORDS[i % WORDS.len()])
        .collect();
    let text = words.join(" ");
    let got = tokenizer.encode(&text).ids.len();
    if got != tokens {
        bail!("a text meant to be {tokens} tokens is {got}");
    }
    Ok(text)
}

/// The token ids the model as shipped takes, as the component's tokenizer
/// makes them.
fn token_ids(tokenizer: &wasmodel_tokenizer::Tokenizer, text: &str) -> Vec<Tensor> {
    let encoding = tokenizer.encode(text);
    let n = encoding.ids.len() as u32;
    let tensor = |name: &str, values: &[u32]| {
        Tensor::new(
            name,
            vec![1, n],
            TensorData::I64(values.iter().map(|&v| i64::from(v)).collect()),
        )
    };
    vec![
        tensor("input_ids", &encoding.ids),
        tensor("attention_mask", &encoding.attention_mask),
        tensor("token_type_ids", &encoding.type_ids),
    ]
}

pub fn report(results: &Results) {
    if results.rows.is_empty() {
        return;
    }
    println!(
        "\nP9 text encoders (all-MiniLM-L6-v2, text in, mean pooling): warm predict, component ÷ native tract (P1; the same tokenizer and pooling),\n\
         ÷ onnxruntime-web and ÷ native onnxruntime (P2; token ids in, float model, no pooling)"
    );
    println!(
        "{:<11} {:>5} {:>17} {:>17} {:>6} {:>17} {:>9} {:>17} {:>6}",
        "model",
        "build",
        "native tract",
        "component",
        "P1 ÷",
        "ort-web",
        "÷ ort-web",
        "ort native",
        "÷ ort"
    );
    let cell = |p: &Peer| match p {
        Peer::Ran { times, .. } => pair(times),
        Peer::Failed(_) => "n/a".into(),
    };
    for r in &results.rows {
        for (precision, t) in PRECISIONS.iter().zip(&r.timed) {
            println!(
                "{:<11} {:>5} {:>17} {:>17} {:>6.2} {:>17} {:>9} {:>17} {:>6}",
                r.name,
                precision,
                pair(&t.native),
                pair(&t.warm),
                t.warm.p50() / t.native.p50(),
                cell(&r.ort_web),
                peer_ratio(&t.warm, &r.ort_web),
                cell(&r.ort_native),
                peer_ratio(&t.warm, &r.ort_native),
            );
        }
    }
    println!("\nP9 fresh instance: a fresh instance's first predict; ÷: p50 over a warm predict's");
    println!(
        "{:<11} {:>5} {:>17} {:>17} {:>6}",
        "model", "build", "warm component", "fresh instance", "÷"
    );
    for r in &results.rows {
        for (precision, t) in PRECISIONS.iter().zip(&r.timed) {
            println!(
                "{:<11} {:>5} {:>17} {:>17} {:>6.2}",
                r.name,
                precision,
                pair(&t.warm),
                pair(&t.fresh),
                t.fresh.p50() / t.warm.p50(),
            );
        }
    }
    println!(
        "\nP9 builds: component size, and its first load (a compile) with nothing compiled before, and with another model compiled"
    );
    println!(
        "{:<5} {:>10} {:>15} {:>15}",
        "build", "size (MB)", "nothing before", "another before"
    );
    for (precision, (size, [fresh, used])) in PRECISIONS.iter().zip(&results.builds) {
        println!(
            "{:<5} {:>10.1} {:>13.2} s {:>13.2} s",
            precision,
            super::mb(*size),
            fresh.as_secs_f64(),
            used.as_secs_f64()
        );
    }
    for r in &results.rows {
        for (precision, t) in PRECISIONS.iter().zip(&r.timed) {
            println!(
                "  {} {precision} ({} tokens): the component within {:.1e} of native tract's embedding",
                r.name, r.tokens, t.max_diff
            );
        }
        super::print_peer_notes(r.name, [&r.ort_web, &r.ort_native]);
    }
}
