//! P8 real models: networks as people download them, from the corpus
//! (`models/corpus/`, fetched outside the clone by `scripts/setup.sh
//! --tests`): a YOLO-class detector at 320 and at 640, and an OCR text
//! recognizer. Their inputs' height and width are symbols tract cannot
//! plan with, so a component built with no flags plans each new input shape
//! on its first call with it; a build with `--input-shape` plans it ahead.
//!
//! For each row, on one seeded input of the row's shape:
//! - P1: a warm component's `predict` ÷ native tract (the same engine, the
//!   same per-shape plan, one thread), timed alternately, run by run;
//! - P2: ÷ onnxruntime-web (wasm, Node, 1 thread) and ÷ native onnxruntime
//!   (1 thread), the scripts of `benches/peers/`, whose outputs are
//!   checked against tract's;
//! - first call: a fresh instance's first `predict` when the shape was not
//!   seen at build (it is planned then, inside the sandbox), when it was
//!   planned at build (`--input-shape`), and native tract's first call on
//!   a freshly loaded model (planning natively), each against a warm
//!   `predict`.

use anyhow::{Context, bail};
use wasmodel::{ComponentBuilder, LoadOptions};

use super::{Bench, Peer, Samples, pair, peer_ratio, seeded_inputs_shaped, short};

/// One measured row: a corpus model at one input shape.
pub struct Row {
    /// The row's name (`--model NAME` picks it).
    pub name: &'static str,
    /// The corpus entry whose ONNX file it runs.
    id: &'static str,
    what: &'static str,
    input: &'static str,
    shape: [u32; 4],
}

pub const ROWS: [Row; 3] = [
    Row {
        name: "yolov8n-320",
        id: "nudenet_320n",
        what: "YOLOv8n detector (nudenet 3.4.2), 320×320",
        input: "images",
        shape: [1, 3, 320, 320],
    },
    Row {
        name: "yolov8n-640",
        id: "nudenet_320n",
        what: "the same detector at 640×640",
        input: "images",
        shape: [1, 3, 640, 640],
    },
    Row {
        name: "ppocr-rec",
        id: "ppocr_v4_rec",
        what: "PP-OCRv4 recognizer (rapidocr 1.4.4), 48×320 line",
        input: "x",
        shape: [1, 3, 48, 320],
    },
];

pub struct RowResult {
    name: &'static str,
    what: &'static str,
    native: Samples,
    warm: Samples,
    /// Largest difference of the component's outputs from native tract's.
    max_diff: f64,
    /// Native tract's first call on a freshly loaded model.
    native_first: Samples,
    /// A fresh instance's first call, the shape not seen at build.
    fresh_unplanned: Samples,
    /// A fresh instance's first call, the shape planned at build.
    fresh_planned: Samples,
    ort_native: Peer,
    ort_web: Peer,
}

/// Measures one row (see the module's documentation).
pub fn measure(bench: Bench<'_>, row: &Row) -> anyhow::Result<RowResult> {
    let Bench {
        runtime, settings, ..
    } = bench;
    let path = super::corpus_file(&["models", &format!("{}.onnx", row.id)])?;
    let onnx = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let load_native = || wasmodel_engine::Model::load(&onnx, row.name, "1");
    let native_model = load_native()?;
    let inputs = seeded_inputs_shaped(native_model.info(), |input| {
        if input.name == row.input {
            row.shape.to_vec()
        } else {
            input.shape_with_dynamic(1)
        }
    })?;
    let expected = native_model.predict(inputs.clone())?;

    eprintln!("building the components (shapes planned per call, and --input-shape)...");
    let unplanned = ComponentBuilder::new(row.name)
        .build(runtime, &onnx)?
        .component;
    let mut options = LoadOptions::default();
    let shape = row.shape.map(|d| d.to_string()).join(",");
    options.add_input_shape(&format!("{}={shape}", row.input))?;
    let planned = ComponentBuilder::new(row.name)
        .load_options(options)
        .build(runtime, &onnx)?
        .component;
    let compiling = || eprintln!("compiling a component for this machine (cached afterwards)...");
    let unplanned = runtime.load_reporting(&unplanned, compiling)?;
    let planned = runtime.load_reporting(&planned, compiling)?;

    eprintln!("first calls: fresh instances and freshly loaded native models, alternately...");
    let (mut native_first, mut fresh_unplanned, mut fresh_planned) =
        (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..settings.cold {
        let model = load_native()?;
        native_first.time(|| model.predict(inputs.clone()))?;
        fresh_unplanned.time(|| unplanned.instance()?.predict(inputs.clone()))?;
        fresh_planned.time(|| planned.instance()?.predict(inputs.clone()))?;
    }

    eprintln!("P1: native tract and a warm component, alternately...");
    let mut instance = unplanned.instance()?;
    let got = instance.predict(inputs.clone())?;
    let max_diff = super::max_diff_of(&expected, &got, "the component")?;
    // Box coordinates are in pixels: float noise between wasm and native
    // kernels is relative to the outputs' size.
    let scale = super::flat(&expected)
        .iter()
        .fold(1.0_f64, |m, x| m.max(x.abs()));
    if max_diff > 1e-3 * scale {
        bail!(
            "the component differs from native tract by up to {max_diff} (outputs up to {scale})"
        );
    }
    for _ in 0..settings.warmup {
        native_model.predict(inputs.clone())?;
        instance.predict(inputs.clone())?;
    }
    let (mut native, mut warm) = (Samples::default(), Samples::default());
    for _ in 0..settings.runs {
        native.time(|| native_model.predict(inputs.clone()))?;
        warm.time(|| instance.predict(inputs.clone()))?;
    }
    drop(instance);

    eprintln!("P2: onnxruntime (native, Python) and onnxruntime-web (wasm, Node)...");
    let (ort_native, ort_web) = super::ort_peers(bench, row.name, &path, &inputs, &expected)?;

    let result = RowResult {
        name: row.name,
        what: row.what,
        native,
        warm,
        max_diff,
        native_first,
        fresh_unplanned,
        fresh_planned,
        ort_native,
        ort_web,
    };
    println!(
        "{} measured: P1 component ÷ native {:.2} ({} / {} ms); P2 ÷ ort-web {}, ÷ ort {}; \
         first call {} ms unplanned, {} ms planned at build",
        row.name,
        result.warm.p50() / result.native.p50(),
        short(result.warm.p50()),
        short(result.native.p50()),
        peer_ratio(&result.warm, &result.ort_web),
        peer_ratio(&result.warm, &result.ort_native),
        short(result.fresh_unplanned.p50()),
        short(result.fresh_planned.p50()),
    );
    Ok(result)
}

pub fn report(results: &[RowResult]) {
    if results.is_empty() {
        return;
    }
    println!(
        "\nP8 real models (the corpus): warm predict, component ÷ native tract (P1), ÷ onnxruntime-web and ÷ native onnxruntime (P2)"
    );
    println!(
        "{:<12} {:>17} {:>17} {:>6} {:>17} {:>9} {:>17} {:>6}",
        "model", "native tract", "component", "P1 ÷", "ort-web", "÷ ort-web", "ort native", "÷ ort"
    );
    let cell = |p: &Peer| match p {
        Peer::Ran { times, .. } => pair(times),
        Peer::Failed(_) => "n/a".into(),
    };
    for r in results {
        println!(
            "{:<12} {:>17} {:>17} {:>6.2} {:>17} {:>9} {:>17} {:>6}",
            r.name,
            pair(&r.native),
            pair(&r.warm),
            r.warm.p50() / r.native.p50(),
            cell(&r.ort_web),
            peer_ratio(&r.warm, &r.ort_web),
            cell(&r.ort_native),
            peer_ratio(&r.warm, &r.ort_native),
        );
    }
    println!(
        "\nP8 first call with a shape: a fresh instance's first predict when the shape was not seen at build (planned then),\n\
         when it was planned at build (--input-shape), and native tract's on a freshly loaded model; ÷: p50 over a warm predict's"
    );
    println!(
        "{:<12} {:>17} {:>17} {:>6} {:>17} {:>6} {:>17} {:>6}",
        "model", "warm component", "not planned", "÷", "planned at build", "÷", "native first", "÷"
    );
    for r in results {
        println!(
            "{:<12} {:>17} {:>17} {:>6.1} {:>17} {:>6.1} {:>17} {:>6.1}",
            r.name,
            pair(&r.warm),
            pair(&r.fresh_unplanned),
            r.fresh_unplanned.p50() / r.warm.p50(),
            pair(&r.fresh_planned),
            r.fresh_planned.p50() / r.warm.p50(),
            pair(&r.native_first),
            r.native_first.p50() / r.native.p50(),
        );
    }
    for r in results {
        println!(
            "  {}: {}; the component within {:.1e} of native tract's outputs",
            r.name, r.what, r.max_diff
        );
        super::print_peer_notes(r.name, [&r.ort_web, &r.ort_native]);
    }
}
