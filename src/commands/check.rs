//! `wasmodel check`: will my model work, and give the same numbers?

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use wasmodel::graph::{decode_model, operators, shape_giving_inputs};
use wasmodel::{ComponentBuilder, Tensor, format_shape};
use wasmodel_cli::check::compare::{OutputComparison, compare};
use wasmodel_cli::check::inputs::sample_inputs;
use wasmodel_cli::check::reference::{self, Reference, Unavailable};

use super::{
    BuildLimitArgs, InputArgs, RuntimeArgs, build_progress, compiling_notice, model_name,
    print_model_info, print_planning, read_inputs,
};

/// Check that an ONNX model works in a wasmodel component, and gives the
/// answers onnxruntime gives.
///
/// 1. Lists every operator the model uses, with whether wasmodel's engine
///    supports it: all problems at once, not the first.
/// 2. Builds the component (as `wasmodel build` would, without writing it).
/// 3. Runs it on your inputs (`--input`/`--inputs`, as `predict` reads them)
///    or on made-up ones that respect the declared types and shapes (numbers
///    drawn from a standard normal distribution, text from the categories
///    the model's encoders know; `--rows` rows, `--seed`).
/// 4. Runs onnxruntime on the same inputs, through a Python that has it
///    (`--python`, else $WASMODEL_PYTHON, else python3). Without one it says
///    so and compares with tract run natively instead, which catches
///    packaging faults but not differences between tract and onnxruntime.
/// 5. Prints each output's largest absolute and relative error; integers,
///    labels and text must be equal.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel check model.onnx
  wasmodel check model.onnx --input X=sample.npy --rtol 1e-3
  wasmodel check model.onnx --python ~/venvs/train/bin/python --rows 100
  wasmodel check detector.onnx --input-shape images=1,3,640,640

Exit status: 0 if every output matches within the tolerance, 1 if an
operator is not supported, the model does not build, or an output differs.")]
pub struct CheckCommand {
    /// The ONNX model file
    model: PathBuf,
    /// An input tensor as NAME=FILE (.json or .npy), as `predict` takes it;
    /// without inputs, made-up ones are used
    #[arg(short, long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// A JSON file holding every input: {"NAME": tensor, ...}
    #[arg(long = "inputs", value_name = "FILE")]
    inputs_file: Option<PathBuf>,
    /// Rows of made-up inputs (every dynamic dimension has this size)
    #[arg(long, default_value_t = 8, value_name = "N")]
    rows: u32,
    /// Seed of the made-up inputs
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The Python whose onnxruntime gives the reference answers
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Relative tolerance for float outputs
    #[arg(long, default_value_t = 1e-4)]
    rtol: f64,
    /// Absolute tolerance for float outputs
    #[arg(long, default_value_t = 1e-5)]
    atol: f64,
    /// Check the component `wasmodel build --relaxed-simd` makes (fused
    /// multiply-add in matrix products)
    #[arg(long)]
    relaxed_simd: bool,
    #[command(flatten)]
    input_args: InputArgs,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    limits: BuildLimitArgs,
}

impl CheckCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let time_limit = self.limits.apply()?;
        let options = self.input_args.options()?;
        let onnx = wasmodel::read_model(&self.model)
            .with_context(|| format!("cannot read {}", self.model.display()))?;
        outln!("Checking {}", self.model.display());

        // 1. Operators, all of them.
        let ops =
            operators(&onnx).with_context(|| format!("cannot read {}", self.model.display()))?;
        let missing: Vec<String> = ops
            .iter()
            .filter(|o| !o.supported)
            .map(|o| format!("{}:{}", o.domain, o.op_type))
            .collect();
        outln!(
            "\nOperators ({} kinds, {})",
            ops.len(),
            if missing.is_empty() {
                "all supported".to_string()
            } else {
                format!("{} not supported", missing.len())
            }
        );
        for op in &ops {
            outln!(
                "  {:<12} {:<26} {:>4} node{}  {}",
                op.domain,
                op.op_type,
                op.nodes,
                if op.nodes == 1 { " " } else { "s" },
                if op.supported {
                    "supported"
                } else {
                    "NOT SUPPORTED"
                }
            );
        }
        if !missing.is_empty() {
            bail!(
                "{} cannot run in wasmodel: it uses {} that the engine does not support: {}{}",
                self.model.display(),
                if missing.len() == 1 {
                    "an operator"
                } else {
                    "operators"
                },
                missing.join(", "),
                wasmodel_engine::contrib::refusal_hint(&missing)
                    .map(|hint| format!("\n  hint: {hint}"))
                    .unwrap_or_default()
            );
        }

        // 2. The component.
        let name = model_name(None, &self.model)?;
        let runtime = self.runtime.runtime()?;
        eprintln!("\nBuilding the component...");
        let built = ComponentBuilder::new(name)
            .relaxed_simd(self.relaxed_simd)
            .time_limit(time_limit)
            .load_options(options.clone())
            .build_reporting(&runtime, &onnx, build_progress)
            .with_context(|| format!("{} does not build", self.model.display()))?;
        outln!();
        print_model_info(&built.info)?;
        print_planning(&built.info, &built.planning)?;
        let model = runtime
            .load_reporting(
                &built.component,
                compiling_notice(&self.model, &built.component),
            )
            .context("cannot load the component")?;

        // 3. Inputs, and the component's answers.
        let inputs: Vec<Tensor> = if self.inputs.is_empty() && self.inputs_file.is_none() {
            outln!(
                "\nInputs: made up, {} row{} (seed {}): normal numbers, text from the model's categories",
                self.rows,
                if self.rows == 1 { "" } else { "s" },
                self.seed
            );
            let graph = decode_model(&onnx)?.graph.unwrap_or_default();
            let shape_giving: Vec<String> = shape_giving_inputs(&graph)
                .into_iter()
                .filter(|name| model.info().inputs.iter().any(|i| i.name == *name))
                .collect();
            if !shape_giving.is_empty() {
                outln!(
                    "  taken as shapes, so all ones: {} (give other values with --input NAME=FILE)",
                    shape_giving
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            sample_inputs(
                model.info(),
                &graph,
                self.rows,
                self.seed,
                &options.input_shapes,
            )?
        } else {
            outln!("\nInputs: from the files given");
            read_inputs(model.info(), &self.inputs, self.inputs_file.as_deref())?
        };
        // One instance, two calls: a shape not planned at build is planned
        // on the first call in each fresh instance, and kept for the next.
        let mut instance = model
            .instance()
            .context("cannot instantiate the component")?;
        let started = std::time::Instant::now();
        let got = instance
            .predict(inputs.clone())
            .context("the component refused the inputs")?;
        let first = started.elapsed();
        if built.planning.per_shape_reason.is_some() {
            let started = std::time::Instant::now();
            instance
                .predict(inputs.clone())
                .context("the component refused the inputs the second time")?;
            let shapes: Vec<Vec<usize>> = inputs
                .iter()
                .map(|t| t.shape.iter().map(|&d| d as usize).collect())
                .collect();
            let planned = built.planning.planned_ahead.contains(&shapes);
            outln!(
                "First call in a fresh instance: {:.0} ms ({}); the next call: {:.0} ms",
                first.as_secs_f64() * 1e3,
                if planned {
                    "these shapes were planned at build"
                } else {
                    "planning these shapes included: --input-shape plans them at build"
                },
                started.elapsed().as_secs_f64() * 1e3
            );
        }
        // The model as shipped takes the frozen inputs too.
        let mut inputs = inputs;
        inputs.extend(
            options
                .frozen_tensors(&onnx)
                .context("cannot make the frozen inputs")?,
        );

        // 4. The reference.
        let python = reference::python(self.python);
        eprintln!("Running onnxruntime ({})...", python.display());
        let (reference, expected) = match reference::onnxruntime(&python, &self.model, &inputs) {
            Ok(answer) => answer,
            Err(Unavailable::Missing(why)) => {
                outln!("Reference: onnxruntime is not available ({why});");
                outln!(
                    "  comparing with tract run natively instead (pass --python, or pip install onnxruntime)"
                );
                reference::native_tract(&onnx, inputs)?
            }
            Err(Unavailable::Failed(why)) => {
                bail!("onnxruntime could not run {}: {why}", self.model.display())
            }
        };
        if let Reference::Onnxruntime(version) = &reference {
            outln!("Reference: {version} ({})", python.display());
        }

        // 5. The comparison.
        let comparisons = compare(&got, &expected, self.rtol, self.atol);
        outln!(
            "\nOutputs (tolerance: atol {} + rtol {} × |expected|)",
            self.atol,
            self.rtol
        );
        for c in &comparisons {
            outln!("  {}", describe(c));
        }
        let failed: Vec<&str> = comparisons
            .iter()
            .filter(|c| !c.passed())
            .map(|c| c.name.as_str())
            .collect();
        if !failed.is_empty() {
            bail!(
                "{} output{} differ{} from {reference}: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                if failed.len() == 1 { "s" } else { "" },
                failed.join(", ")
            );
        }
        outln!("\nOK: the component gives {reference}'s answers.");
        Ok(())
    }
}

fn describe(c: &OutputComparison) -> String {
    let head = format!(
        "{:<20} {}{}",
        c.name,
        c.element_type,
        format_shape(&c.shape)
    );
    if let Some(problem) = &c.problem {
        return format!("{head:<36} DIFFERS: {problem}");
    }
    let errors = match (c.max_abs, c.max_rel) {
        (Some(abs), Some(rel)) => format!("max abs error {abs:.2e}, max rel error {rel:.2e}"),
        _ => format!("{} of {} equal", c.elements - c.mismatches, c.elements),
    };
    let verdict = if c.passed() {
        "ok".to_string()
    } else {
        format!("DIFFERS in {} of {} elements", c.mismatches, c.elements)
    };
    format!("{head:<36} {errors:<48} {verdict}")
}
