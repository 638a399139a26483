//! Times reading an inference request for a CNN (one 1×3×224×224 FP32
//! input as JSON, as tritonclient writes it) two ways in one process:
//!
//! - `tree`: what the server did before it read tensor data as it streams
//!   (and what `/predict` still does): the body parsed into a tree of JSON
//!   values, then flattened and converted by the engine's JSON reader;
//! - `streamed`: [`wasmodel_oip::InferRequest::parse`], which reads the
//!   data straight into a `Vec<f32>`; also with `datatype` written after
//!   `data`, where the elements wait as compact leaves for their type;
//! - `numbers alone`: serde_json reading the bare array of numbers into a
//!   `Vec<f32>`, the floor of any reader built on serde_json.
//!
//! Each line is the median over rounds (one parse of each per round, so a
//! machine that slows down slows them alike) and its ratio to `tree`.
//! `scripts/request-parse.sh` runs it natively and as wasm under the
//! wasmtime CLI, where the HTTP component parses (BENCHMARKS.md).

use std::process::ExitCode;
use std::time::Instant;

use serde_json::Value;
use wasmodel_engine::json::{elements, flatten};
use wasmodel_engine::{Dimension, ElementType, ModelInfo, TensorData, TensorInfo};
use wasmodel_oip::InferRequest;

const SHAPE: [u32; 4] = [1, 3, 224, 224];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut runs = 20usize;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|n| n.parse().ok())) {
            ("--runs", Some(n)) if n > 0 => runs = n,
            _ => {
                eprintln!("usage: request_parse [--runs N]  (N > 0; default 20)");
                return ExitCode::from(2);
            }
        }
    }
    let info = info();
    let values = pixels();
    let first = body(&values, true);
    let last = body(&values, false);
    let bare = numbers(&values).into_bytes();
    println!(
        "one FP32 input {SHAPE:?} as JSON: {:.1} MB; median of {runs} rounds",
        first.len() as f64 / 1e6
    );

    type Reader<'a> = Box<dyn Fn() -> Result<Vec<f32>, String> + 'a>;
    let readers: [(&str, Reader); 4] = [
        ("tree", Box::new(|| tree(&first))),
        ("streamed", Box::new(|| streamed(&first, &info))),
        (
            "streamed, datatype last",
            Box::new(|| streamed(&last, &info)),
        ),
        (
            "numbers alone",
            Box::new(|| serde_json::from_slice(&bare).map_err(|e| e.to_string())),
        ),
    ];
    let mut times = vec![Vec::with_capacity(runs); readers.len()];
    for _ in 0..runs {
        for ((name, read), times) in readers.iter().zip(&mut times) {
            let start = Instant::now();
            let read = read();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            match read {
                Ok(got) if got == values => {}
                Ok(_) => {
                    eprintln!("request_parse: {name} read other values than were written");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("request_parse: {name}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    for ((name, _), ms) in readers.iter().zip(&medians) {
        println!(
            "  {name:<24} {ms:>8.2} ms  {:>5.2}x of tree",
            ms / medians[0]
        );
    }
    ExitCode::SUCCESS
}

fn info() -> ModelInfo {
    ModelInfo {
        name: "cnn".into(),
        version: "1".into(),
        digest: String::new(),
        producer: String::new(),
        inputs: vec![TensorInfo {
            name: "data".into(),
            element_type: ElementType::F32,
            shape: SHAPE.iter().map(|&d| Dimension::Fixed(d)).collect(),
            class_labels: None,
        }],
        outputs: Vec::new(),
    }
}

/// Normalized pixel values, as a seeded generator makes them.
fn pixels() -> Vec<f32> {
    let count = SHAPE.iter().product::<u32>() as usize;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect()
}

/// The values as Python prints a list of them.
fn numbers(values: &[f32]) -> String {
    let data: Vec<String> = values.iter().map(|&x| format!("{:?}", x as f64)).collect();
    format!("[{}]", data.join(", "))
}

/// The request as tritonclient writes it (each f32 as Python prints the
/// double it widens to), with `datatype` before `data` or after it.
fn body(values: &[f32], datatype_first: bool) -> Vec<u8> {
    let data = numbers(values);
    let (before, after) = if datatype_first {
        (r#""datatype": "FP32", "#, "")
    } else {
        ("", r#", "datatype": "FP32""#)
    };
    format!(
        r#"{{"inputs": [{{"name": "data", "shape": {SHAPE:?}, {before}"data": {data}{after}}}]}}"#
    )
    .into_bytes()
}

fn tree(body: &[u8]) -> Result<Vec<f32>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let (_, leaves) = flatten(&body["inputs"][0]["data"])?;
    match elements(ElementType::F32, &leaves)? {
        TensorData::F32(v) => Ok(v),
        other => Err(format!("read as {:?}", other.element_type())),
    }
}

fn streamed(body: &[u8], info: &ModelInfo) -> Result<Vec<f32>, String> {
    let mut request = InferRequest::parse(body, &[], info)?;
    match request.inputs.pop().map(|t| t.data) {
        Some(TensorData::F32(v)) => Ok(v),
        other => Err(format!("read as {other:?}")),
    }
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
