//! `wasmodel predict`: run a model component on tensors from files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use wasmodel::json::{add_class_labels, tensors_to_json};

use super::{PrecompiledArgs, RegistryArgs, RuntimeArgs, load, read_inputs};

/// Run a model component on input tensors and print its outputs as JSON.
///
/// Each input comes from a file: JSON, as nested arrays (`[[5.1, 3.5, 1.4,
/// 0.2]]`) or as `{"shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}`, read as
/// the element type the model declares; or NumPy `.npy`, whose element type
/// must match the model's (text: `np.array([...]).astype(str)`). Outputs are
/// printed as one JSON object: `{"name": {"dtype": ..., "shape": [...],
/// "data": [...]}}`; a classifier's probabilities also carry
/// `"class_labels"`, the class of each column.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel predict iris.wasm --input features=tests/fixtures/iris_features.json
  wasmodel predict iris.wasm --input tests/fixtures/iris_features.npy
  wasmodel predict multi_io.wasm --inputs request.json --output result.json")]
pub struct PredictCommand {
    /// The model component (.wasm), or an OCI reference to pull it from
    component: PathBuf,
    /// An input tensor as NAME=FILE (.json or .npy); NAME may be left out
    /// when the model has one input. Repeat for each input.
    #[arg(short, long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// A JSON file holding every input: {"NAME": tensor, ...}
    #[arg(long = "inputs", value_name = "FILE")]
    inputs_file: Option<PathBuf>,
    /// Write the outputs to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print load and prediction times to standard error
    #[arg(long)]
    timings: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    precompiled: PrecompiledArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl PredictCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        if self.inputs.is_empty() && self.inputs_file.is_none() {
            bail!("no inputs: pass --input NAME=FILE for each input, or --inputs FILE");
        }
        let runtime = self.runtime.runtime()?;
        let component = self
            .registry
            .component_file(&self.component, &self.runtime)?;
        let started = Instant::now();
        let model = load(&runtime, &self.precompiled, &component)?;
        let loaded = started.elapsed();
        let info = model.info();
        let tensors = read_inputs(info, &self.inputs, self.inputs_file.as_deref())?;

        let started = Instant::now();
        let outputs = model.predict(tensors)?;
        let predicted = started.elapsed();
        let mut json = tensors_to_json(&outputs);
        add_class_labels(&mut json, &info.outputs);
        let json = one_tensor_per_line(&json);
        match &self.output {
            Some(path) => std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => outln!("{json}"),
        }
        if self.timings {
            eprintln!(
                "loaded in {:.3} s, predicted in {:.3} ms",
                loaded.as_secs_f64(),
                predicted.as_secs_f64() * 1e3
            );
        }
        Ok(())
    }
}

/// `{"name": tensor, ...}` with one tensor per line: readable for a few
/// outputs, and each line is a complete JSON value for line-based tools.
fn one_tensor_per_line(tensors: &serde_json::Value) -> String {
    let Some(object) = tensors.as_object() else {
        return tensors.to_string();
    };
    let lines: Vec<String> = object
        .iter()
        .map(|(name, tensor)| format!("  {}: {tensor}", serde_json::Value::from(name.as_str())))
        .collect();
    format!("{{\n{}\n}}", lines.join(",\n"))
}
