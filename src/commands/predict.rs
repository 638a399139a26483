//! `wasmodel predict`: run a model component on tensors from files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use wasmodel::Tensor;
use wasmodel::json::{tensors_from_json_object, tensors_to_json};
use wasmodel::tensor_io::read_tensor_file;

use super::{RuntimeArgs, load};

/// Run a model component on input tensors and print its outputs as JSON.
///
/// Each input comes from a file: JSON, as nested arrays (`[[5.1, 3.5, 1.4,
/// 0.2]]`) or as `{"shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}`, read as
/// the element type the model declares; or NumPy `.npy`, whose element type
/// must match the model's. Outputs are printed as one JSON object:
/// `{"name": {"dtype": ..., "shape": [...], "data": [...]}}`.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel predict iris.wasm --input features=tests/fixtures/iris_features.json
  wasmodel predict iris.wasm --input tests/fixtures/iris_features.npy
  wasmodel predict multi_io.wasm --inputs request.json --output result.json")]
pub struct PredictCommand {
    /// The model component (.wasm)
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
}

impl PredictCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        if self.inputs.is_empty() && self.inputs_file.is_none() {
            bail!("no inputs: pass --input NAME=FILE for each input, or --inputs FILE");
        }
        let runtime = self.runtime.runtime()?;
        let started = Instant::now();
        let model = load(&runtime, &self.component)?;
        let loaded = started.elapsed();
        let info = model.info();
        let element_type = |name: &str| {
            info.inputs
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.element_type)
        };

        let mut tensors: Vec<Tensor> = Vec::new();
        if let Some(path) = &self.inputs_file {
            let text =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            tensors.extend(
                tensors_from_json_object(&value, element_type)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("cannot read inputs from {}", path.display()))?,
            );
        }
        for spec in &self.inputs {
            let (name, file) = match spec.split_once('=') {
                Some((name, file)) => (name.to_owned(), file),
                None => match info.inputs.as_slice() {
                    [only] => (only.name.clone(), spec.as_str()),
                    _ => bail!(
                        "`--input {spec}` needs a name: the model has inputs {}",
                        info.inputs
                            .iter()
                            .map(|i| i.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            };
            // An unknown name is refused by the model, which lists the
            // names it knows; read the file as f32 until then.
            let element_type = element_type(&name).unwrap_or(wasmodel::ElementType::F32);
            tensors.push(read_tensor_file(&name, element_type, file.as_ref())?);
        }

        let started = Instant::now();
        let outputs = model.predict(tensors)?;
        let predicted = started.elapsed();
        let json = one_tensor_per_line(&tensors_to_json(&outputs));
        match &self.output {
            Some(path) => std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => println!("{json}"),
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
