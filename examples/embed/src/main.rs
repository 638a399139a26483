//! Runs a model with the `wasmodel` library alone, as a Rust program that
//! embeds models would:
//!
//! ```sh
//! wasmodel-embed MODEL.wasm|MODEL.onnx NAME=FILE...
//! ```
//!
//! An `.onnx` file is built into a predictor component first (seconds).
//! Each input is read from a `.json` or `.npy` file as the model declares
//! it; the outputs are printed as JSON, one object of tensors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wasmodel::json::tensors_to_json;
use wasmodel::tensor_io::read_tensor_file;
use wasmodel::{CompileCache, ComponentBuilder, Runtime, RuntimeOptions};

const USAGE: &str = "usage: wasmodel-embed MODEL.wasm|MODEL.onnx NAME=FILE...";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((model, inputs)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(Path::new(model), inputs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(model: &Path, inputs: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    // Compiled components are cached where `wasmodel` keeps them, so a
    // second run starts in milliseconds.
    let runtime = Runtime::new(RuntimeOptions {
        cache: CompileCache::default_dir().map(CompileCache::new),
        ..RuntimeOptions::default()
    })?;
    let wasm = if model.extension().is_some_and(|e| e == "onnx") {
        let onnx = wasmodel::read_model(model)?;
        let name = model
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        ComponentBuilder::new(name)
            .build(&runtime, &onnx)?
            .component
    } else {
        std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?
    };
    let loaded = runtime.load(&wasm)?;

    let mut tensors = Vec::new();
    for input in inputs {
        let (name, file) = input
            .split_once('=')
            .ok_or_else(|| format!("`{input}` is not NAME=FILE ({USAGE})"))?;
        let info = loaded
            .info()
            .inputs
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = loaded.info().inputs.iter().map(|i| &i.name).collect();
                format!("the model has no input `{name}` (its inputs: {names:?})")
            })?;
        tensors.push(read_tensor_file(
            name,
            info.element_type,
            &PathBuf::from(file),
        )?);
    }
    let outputs = loaded.predict(tensors)?;
    println!("{}", tensors_to_json(&outputs));
    Ok(())
}
