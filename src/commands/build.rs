//! `wasmodel build`: ONNX file in, model component out.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmodel::{ComponentBuilder, Flavour};

use super::{
    BuildLimitArgs, InputArgs, RuntimeArgs, build_progress, mb, model_name, print_list,
    print_model_info, print_planning,
};

/// Compile an ONNX model into a sandboxed WebAssembly component.
///
/// The model is first loaded and checked natively: a model tract cannot run
/// is refused here, naming the operator or the reason. Then it is injected
/// into wasmodel's embedded inference engine, parsed and optimized there,
/// and the ready state is snapshotted into the component, so a fresh
/// instance predicts without parsing anything. No Rust or wasm toolchain is
/// needed.
///
/// With `--no-preinit` the component instead holds the ONNX bytes and every
/// fresh instance parses and optimizes them on its first call, the way
/// engines that load their model at start-up work: slower to start (for a
/// SqueezeNet-class CNN, over 100 ms more on every fresh instance, which
/// serverless hosts create per request). It exists to measure what
/// pre-initialization saves.
///
/// With `--relaxed-simd` its matrix products use relaxed SIMD's fused
/// multiply-add: 3–8 % faster on CNNs where the CPU has FMA, but the
/// component runs only on hosts with relaxed SIMD (wasmtime and `wasmodel`,
/// Spin, wasmtime-py, Chrome 114+, Node 22+; Node 20 only with
/// `--experimental-wasm-relaxed-simd`).
///
/// By default the component exports the `wasmodel:model/predictor` WIT
/// interface and imports nothing (run it with `wasmodel predict`, or embed
/// it with the wasmodel library). With `--http` it is instead an HTTP
/// component in the `wasi:http/proxy` world that answers the Open Inference
/// Protocol v2 (KServe/Triton REST): run it with `wasmodel serve`, `spin up`
/// or `wasmtime serve`.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel build models/iris.onnx -o iris.wasm
  wasmodel build models/iris.onnx --http -o iris-http.wasm
  wasmodel build models/squeezenet.onnx --relaxed-simd
  wasmodel build model.onnx --name churn --version 2024-06-01
  wasmodel build detector.onnx --input-shape images=1,3,640,640
  wasmodel build silero_vad.onnx --input-value sr=16000")]
pub struct BuildCommand {
    /// The ONNX model file
    model: PathBuf,
    /// Where to write the component [default: the model's path with .wasm,
    /// or -http.wasm with --http]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The model's name, as the component reports it [default: the file's stem]
    #[arg(long)]
    name: Option<String>,
    /// The model's version, as the component reports it
    #[arg(long, default_value = "1")]
    version: String,
    /// Build an HTTP component (Open Inference Protocol v2, wasi:http/proxy)
    /// instead of a predictor
    #[arg(long)]
    http: bool,
    /// Do not pre-initialize: every fresh instance parses and optimizes the
    /// model on its first call (for measuring cold starts)
    #[arg(long)]
    no_preinit: bool,
    /// Use relaxed SIMD's fused multiply-add in matrix products: faster
    /// CNNs, but only hosts with relaxed SIMD run the component (not Node 20
    /// without --experimental-wasm-relaxed-simd)
    #[arg(long)]
    relaxed_simd: bool,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    limits: BuildLimitArgs,
}

impl BuildCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let time_limit = self.limits.apply()?;
        let options = self.inputs.options()?;
        let onnx = wasmodel::read_model(&self.model)
            .with_context(|| format!("cannot read {}", self.model.display()))?;
        let name = model_name(self.name, &self.model)?;
        let flavour = if self.http {
            Flavour::Http
        } else {
            Flavour::Predictor
        };
        let output = self.output.unwrap_or_else(|| match flavour {
            Flavour::Predictor => self.model.with_extension("wasm"),
            Flavour::Http => {
                let mut file = self.model.file_stem().unwrap_or_default().to_owned();
                file.push("-http.wasm");
                self.model.with_file_name(file)
            }
        });
        let runtime = self.runtime.runtime()?;

        eprintln!(
            "Building {} from {}...",
            output.display(),
            self.model.display()
        );
        let built = ComponentBuilder::new(name)
            .version(self.version)
            .flavour(flavour)
            .preinit(!self.no_preinit)
            .relaxed_simd(self.relaxed_simd)
            .time_limit(time_limit)
            .load_options(options)
            .build_reporting(&runtime, &onnx, build_progress)
            .with_context(|| format!("cannot build {}", self.model.display()))?;

        // Write beside the target and rename, so a failure never leaves half
        // a component behind (in a directory made if needed: a Spin
        // manifest's `target/...`).
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = output.with_extension("wasm.partial");
        std::fs::write(&tmp, &built.component)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &output)
            .with_context(|| format!("cannot write {}", output.display()))?;

        println!(
            "Built {} in {:.2} s (checked natively in {:.0} ms)",
            output.display(),
            (built.check_time + built.build_time).as_secs_f64(),
            built.check_time.as_secs_f64() * 1e3
        );
        print_model_info(&built.info);
        print_planning(&built.info, &built.planning);
        println!(
            "  size      {:.1} MB component for a {:.3} MB model",
            mb(built.component.len()),
            mb(built.onnx_size)
        );
        println!(
            "  start     {}",
            if self.no_preinit {
                "parses the model in every fresh instance (--no-preinit)"
            } else {
                "pre-initialized: the model is parsed and optimized in the component"
            }
        );
        // The embedded engine of that flavour: tests/kernels.rs checks that
        // its bytes need relaxed SIMD exactly when asked for.
        println!("  hosts     {}", super::hosts(self.relaxed_simd));
        print_list("imports", &built.imports);
        print_list("exports", &built.exports);
        Ok(())
    }
}
