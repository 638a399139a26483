//! Times one model's warm predict with each f32 matrix tile of
//! `wasmodel-kernels` and with tract's own wasm kernels, in one wasm
//! process, and checks that they all give the same outputs.
//!
//! `scripts/kernel-tiles.sh` builds it for `wasm32-wasip1` and runs it under
//! the wasmtime CLI, after a native run of the same program (tract's native
//! kernels, the floor): BENCHMARKS.md, "Matrix tiles".
//!
//! The candidates are timed in rounds, one predict of each per round, so
//! that a machine that slows down slows them all down alike; each line is
//! the median over the rounds.
//!
//! A candidate may end in `@KNOB=VALUE` settings (repeatable): tract's
//! knobs, such as `TRACT_LAZY_IM2COL_MIN_KERNEL`, set for that model's
//! optimization only (tract-data's `KnobScope`), to measure tract's own
//! choices of convolution strategy beside the kernels.

use std::process::ExitCode;
use std::time::Instant;

use wasmodel_engine::{ElementType, Model, Tensor, TensorData};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut runs = 20usize;
    let mut only: Option<Vec<String>> = None;
    let mut models = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => runs = n,
                _ => return usage("--runs takes a positive count"),
            },
            "--kernels" => match args.next() {
                Some(list) => only = Some(list.split(',').map(str::to_owned).collect()),
                None => return usage("--kernels takes a comma-separated list"),
            },
            "-h" | "--help" => return usage(""),
            _ => models.push(arg),
        }
    }
    if models.is_empty() {
        return usage("name at least one ONNX model");
    }
    for path in &models {
        if let Err(why) = measure(path, runs, only.as_deref()) {
            eprintln!("kernel_tiles: {path}: {why}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("kernel_tiles: {problem}");
    }
    eprintln!(
        "usage: kernel_tiles [--runs N] [--kernels tract,NAME[/tract-maxpool][/tract-gemv][@KNOB=VALUE...],...] MODEL.onnx..."
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The kernels to try here, natively only tract's own. In wasm: `tract`
/// (tract's matrix kernels and max-pool), each tile of `wasmodel-kernels`
/// with its max-pool, and the chosen tile with tract's max-pool
/// (`TILE/tract-maxpool`) or with tract's GEMV for big matrix × vector
/// products (`TILE/tract-gemv`).
fn candidates() -> Vec<String> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let tiles = wasmodel_kernels::mmm::tiles();
        let mut all = vec![
            "tract".to_owned(),
            format!("{}/tract-maxpool", tiles[0]),
            format!("{}/tract-gemv", tiles[0]),
        ];
        all.extend(tiles.iter().map(|t| t.to_string()));
        all
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    vec!["native".to_owned()]
}

/// Loads the model with the kernels and knobs `candidate` names.
fn load(bytes: &[u8], name: &str, candidate: &str) -> Result<Model, String> {
    let mut parts = candidate.split('@');
    let kernels = parts.next().unwrap_or_default();
    let knobs = parts
        .map(|knob| {
            knob.split_once('=')
                .ok_or_else(|| format!("{knob}: a knob is NAME=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scope = tract_onnx::tract_core::knobs::KnobScope::new(knobs).map_err(|e| e.to_string())?;
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let mut parts = kernels.split('/');
        let tile = parts.next().unwrap_or_default();
        let tract_own: Vec<&str> = parts.collect();
        if !wasmodel_kernels::mmm::choose(tile) {
            return Err(format!("no kernel called {tile}"));
        }
        wasmodel_kernels::measuring::use_our_maxpool(
            tile != "tract" && !tract_own.contains(&"tract-maxpool"),
        );
        wasmodel_kernels::measuring::use_shared_gemv(!tract_own.contains(&"tract-gemv"));
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let _ = kernels;
    scope.enter(|| Model::load(bytes, name, "1").map_err(|e| e.to_string()))
}

fn measure(path: &str, runs: usize, only: Option<&[String]>) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let name = std::path::Path::new(path)
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let mut kernels = candidates();
    if let Some(only) = only {
        // Each named candidate, in the order named; one with knobs is its
        // kernels' candidate with them set.
        let known = kernels;
        kernels = only
            .iter()
            .filter(|k| {
                known
                    .iter()
                    .any(|c| c == k.split('@').next().unwrap_or_default())
            })
            .cloned()
            .collect();
        if kernels.is_empty() {
            return Err(format!("none of {only:?} is a kernel here"));
        }
    }
    let models = kernels
        .iter()
        .map(|k| load(&bytes, &name, k))
        .collect::<Result<Vec<_>, _>>()?;
    let inputs = made_up_inputs(&models[0])?;

    let mut outputs = Vec::new();
    for model in &models {
        // The first call also warms the model up.
        outputs.push(model.predict(inputs.clone()).map_err(|e| e.to_string())?);
    }
    let mut times = vec![Vec::with_capacity(runs); models.len()];
    for _ in 0..runs {
        for (model, samples) in models.iter().zip(&mut times) {
            let start = Instant::now();
            model.predict(inputs.clone()).map_err(|e| e.to_string())?;
            samples.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }

    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!("{name}: median of {runs} rounds");
    for ((kernel, ms), out) in kernels.iter().zip(&medians).zip(&outputs) {
        println!(
            "  {kernel:<32} {ms:>9.3} ms  {:>5.2}x of {}  max |diff| {:.1e}",
            ms / medians[0],
            kernels[0],
            max_diff(&outputs[0], out)
        );
    }
    Ok(())
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Deterministic inputs in [0, 1) for every f32 input (dynamic dimensions
/// set to 1).
fn made_up_inputs(model: &Model) -> Result<Vec<Tensor>, String> {
    let mut state = 0x2545_f491_u32;
    model
        .info()
        .inputs
        .iter()
        .map(|input| {
            if input.element_type != ElementType::F32 {
                return Err(format!("input `{}` is not f32", input.name));
            }
            let shape = input.shape_with_dynamic(1);
            let len = shape.iter().product::<u32>() as usize;
            let data = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state >> 8) as f32 / (1 << 24) as f32
                })
                .collect();
            Ok(Tensor::new(
                input.name.clone(),
                shape,
                TensorData::F32(data),
            ))
        })
        .collect()
}

/// The largest absolute difference between two runs' f32 outputs.
fn max_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| match (&a.data, &b.data) {
            (TensorData::F32(a), TensorData::F32(b)) => a
                .iter()
                .zip(b)
                .map(|(x, y)| f64::from((x - y).abs()))
                .fold(0.0, f64::max),
            _ => 0.0,
        })
        .fold(0.0, f64::max)
}
