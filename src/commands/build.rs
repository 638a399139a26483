//! `wasmodel build`: ONNX file in, model component out.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmodel::{ComponentBuilder, Flavour};
use wasmodel_cli::cloudflare::{Jco, write_worker};

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
/// With `--tokenizer tokenizer.json` (a Hugging Face tokenizer, as
/// transformer models ship beside their weights) the component takes text:
/// its one input is `text`, a string tensor [batch], which the tokenizer,
/// read at build time and part of the snapshot, turns into the model's
/// `input_ids`, `attention_mask` and `token_type_ids` (those it has) on
/// every call, padded to the call's longest text (or to a sequence length
/// the model fixes). The outputs are the model's own, unless `--pooling`
/// makes an encoder's token states (`last_hidden_state`) one
/// `sentence_embedding` per text, as sentence-transformers does: the mean
/// of the tokens' states (`mean`, padding left out) or the first token's
/// (`cls`), scaled to unit length with `--normalize`.
///
/// With `--quantize int8` the weights of matrix products (`MatMul`) and of
/// embedding tables (`Gather`) are stored as int8, one scale per column or
/// row, and the activations quantized on each call, as onnxruntime's
/// dynamic quantization does: about a quarter of the size, at some
/// accuracy (check it on your data).
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
///
/// With `--target cloudflare` the output is a directory holding a Cloudflare
/// Worker that answers the same protocol: the HTTP component transpiled by
/// jco (which must be installed: `npm install -g @bytecodealliance/jco`, or
/// WASMODEL_JCO naming it), a fetch handler, `wrangler.toml` (`npx wrangler
/// deploy`) and `workerd.capnp` (`workerd serve workerd.capnp`).
///
/// With `--target fastly` the output is a module for Fastly Compute, which
/// runs its own ABI rather than components: the same protocol and routes,
/// over Fastly's HTTP hostcalls. Run it locally with `viceroy serve
/// FILE` (or `fastly compute serve --file FILE`); deploy it with `fastly
/// compute pack --wasm-binary FILE` and `fastly compute deploy` beside a
/// `fastly.toml` (the README has one).
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel build models/iris.onnx -o iris.wasm
  wasmodel build models/iris.onnx --http -o iris-http.wasm
  wasmodel build models/iris.onnx --target cloudflare -o iris-worker/
  wasmodel build models/squeezenet.onnx --target fastly -o squeezenet-fastly.wasm
  wasmodel build models/squeezenet.onnx --relaxed-simd
  wasmodel build model.onnx --name churn --version 2024-06-01
  wasmodel build detector.onnx --input-shape images=1,3,640,640
  wasmodel build silero_vad.onnx --input-value sr=16000
  wasmodel build encoder.onnx --tokenizer tokenizer.json --pooling mean --normalize
  wasmodel build classifier.onnx --tokenizer tokenizer.json --config config.json")]
pub struct BuildCommand {
    /// The ONNX model file
    model: PathBuf,
    /// Where to write the component [default: the model's path with .wasm,
    /// or -http.wasm with --http, the directory -cloudflare/ with --target
    /// cloudflare, -fastly.wasm with --target fastly]
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
    /// Write the HTTP service for a platform that does not run components
    /// as they are: `cloudflare` makes a Cloudflare Worker directory,
    /// `fastly` a Fastly Compute module
    #[arg(long, value_enum, value_name = "PLATFORM")]
    target: Option<TargetArg>,
    /// Do not pre-initialize: every fresh instance parses and optimizes the
    /// model on its first call (for measuring cold starts)
    #[arg(long)]
    no_preinit: bool,
    /// Use relaxed SIMD's fused multiply-add in matrix products: faster
    /// CNNs, but only hosts with relaxed SIMD run the component (not Node 20
    /// without --experimental-wasm-relaxed-simd)
    #[arg(long)]
    relaxed_simd: bool,
    /// Take text: a Hugging Face tokenizer.json (WordPiece, BPE, byte-level
    /// BPE or Unigram) that turns the input `text` into the model's token
    /// ids; what it does that wasmodel does not implement is refused, named
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Pool an encoder's token states into one `sentence_embedding` [batch,
    /// hidden] in place of its outputs: the mean over the tokens (padding
    /// left out, with the model's `attention_mask`) or the first token's
    #[arg(long, value_name = "KIND", value_parser = ["mean", "cls"])]
    pooling: Option<String>,
    /// Scale the pooled embedding to unit length, so that a dot product of
    /// two is their cosine similarity
    #[arg(long, requires = "pooling")]
    normalize: bool,
    /// Store the weights of matrix products and embedding tables as int8
    /// (a quarter of their float size; outputs move by the quantization)
    #[arg(long, value_name = "TYPE", value_parser = ["int8"])]
    quantize: Option<String>,
    /// Name a classifier's classes: a Hugging Face config.json, whose
    /// id2label becomes the class labels of the output with one column per
    /// class (a sequence classifier's `logits`)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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
        let mut options = self.inputs.options()?;
        if let Some(path) = &self.tokenizer {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the tokenizer {}", path.display()))?;
            options.tokenizer = Some(json);
        }
        if let Some(path) = &self.config {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config {}", path.display()))?;
            let labels = wasmodel::id2label::labels_from_config(&json)
                .with_context(|| format!("no class names in {}", path.display()))?;
            options.labels = Some(labels);
        }
        options.quantize_int8 = self.quantize.is_some();
        if let Some(kind) = &self.pooling {
            let given = if self.normalize {
                format!("{kind} normalize")
            } else {
                kind.clone()
            };
            options.pooling = wasmodel::Pooling::parse(&given);
        }
        let onnx = wasmodel::read_model(&self.model)
            .with_context(|| format!("cannot read {}", self.model.display()))?;
        let name = model_name(self.name, &self.model)?;
        let flavour = match self.target {
            Some(TargetArg::Fastly) => Flavour::Fastly,
            Some(TargetArg::Cloudflare) => Flavour::Http,
            None if self.http => Flavour::Http,
            None => Flavour::Predictor,
        };
        if flavour == Flavour::Fastly && self.relaxed_simd {
            anyhow::bail!(
                "--relaxed-simd is not available with --target fastly: its engine is built \
                 with portable SIMD only"
            );
        }
        let suffix = match (self.target, flavour) {
            (Some(TargetArg::Cloudflare), _) => "-cloudflare",
            (Some(TargetArg::Fastly), _) => "-fastly.wasm",
            (None, Flavour::Http) => "-http.wasm",
            (None, _) => ".wasm",
        };
        let output = self.output.unwrap_or_else(|| {
            let mut file = self.model.file_stem().unwrap_or_default().to_owned();
            file.push(suffix);
            self.model.with_file_name(file)
        });
        // Before minutes of building: the tool a target needs is there.
        let jco = match self.target {
            Some(TargetArg::Cloudflare) => Some(Jco::find()?),
            Some(TargetArg::Fastly) | None => None,
        };
        let runtime = self.runtime.runtime()?;

        eprintln!(
            "Building {} from {}...",
            output.display(),
            self.model.display()
        );
        let built = ComponentBuilder::new(name.clone())
            .version(self.version)
            .flavour(flavour)
            .preinit(!self.no_preinit)
            .relaxed_simd(self.relaxed_simd)
            .time_limit(time_limit)
            .load_options(options)
            .build_reporting(&runtime, &onnx, build_progress)
            .with_context(|| format!("cannot build {}", self.model.display()))?;

        if let Some((jco, version)) = &jco {
            eprintln!("Transpiling it for Cloudflare Workers with jco {version}...");
            let worker = write_worker(&built.component, &name, &output, jco)
                .with_context(|| format!("cannot write the Worker {}", output.display()))?;
            outln!(
                "Built the Cloudflare Worker {} ({:.1} MB; core modules {})",
                output.display(),
                mb(worker.total_bytes as usize),
                worker
                    .core_modules
                    .iter()
                    .map(|(file, size)| format!("{file} {:.1} MB", mb(*size as usize)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            print_model_info(&built.info)?;
            outln!(
                "  run       workerd serve {}/workerd.capnp --socket-addr http=127.0.0.1:8080",
                output.display()
            );
            outln!("  deploy    cd {} && npx wrangler deploy", output.display());
            return Ok(());
        }

        // Never half a component behind, whatever fails.
        super::write_whole(&output, &built.component)?;

        if flavour == Flavour::Fastly {
            outln!(
                "Built the Fastly Compute module {} in {:.2} s ({:.1} MB for a {:.3} MB model)",
                output.display(),
                (built.check_time + built.build_time).as_secs_f64(),
                mb(built.component.len()),
                mb(built.onnx_size)
            );
            print_model_info(&built.info)?;
            print_planning(&built.info, &built.planning)?;
            outln!(
                "  run       viceroy serve --addr 127.0.0.1:7676 {}",
                output.display()
            );
            outln!(
                "  deploy    fastly compute pack --wasm-binary {} && fastly compute deploy \
                 (beside a fastly.toml: see the README)",
                output.display()
            );
            print_list("imports", &built.imports)?;
            let start = wasmodel::fastly::initial_memory(&built.component).unwrap_or(0);
            if start > wasmodel::fastly::MEMORY_LIMIT {
                eprintln!(
                    "warning: the module starts with {:.0} MiB of memory (the model's snapshot), \
                     over the {} MiB Fastly Compute gives an instance: it will not run there \
                     (Viceroy refuses it too)",
                    start as f64 / f64::from(1 << 20),
                    wasmodel::fastly::MEMORY_LIMIT >> 20
                );
            }
            return Ok(());
        }

        outln!(
            "Built {} in {:.2} s (checked natively in {:.0} ms)",
            output.display(),
            (built.check_time + built.build_time).as_secs_f64(),
            built.check_time.as_secs_f64() * 1e3
        );
        print_model_info(&built.info)?;
        print_planning(&built.info, &built.planning)?;
        if let Some(q) = built.quantized {
            outln!(
                "  int8      {} weight{}: {:.1} MB of float32 stored in {:.1} MB",
                q.weights,
                if q.weights == 1 { "" } else { "s" },
                mb(q.float_bytes),
                mb(q.int8_bytes)
            );
        }
        outln!(
            "  size      {:.1} MB component for a {:.3} MB model",
            mb(built.component.len()),
            mb(built.onnx_size)
        );
        outln!(
            "  start     {}",
            if self.no_preinit {
                "parses the model in every fresh instance (--no-preinit)"
            } else {
                "pre-initialized: the model is parsed and optimized in the component"
            }
        );
        // The embedded engine of that flavour: tests/kernels.rs checks that
        // its bytes need relaxed SIMD exactly when asked for.
        outln!("  hosts     {}", super::hosts(self.relaxed_simd));
        print_list("imports", &built.imports)?;
        print_list("exports", &built.exports)?;
        Ok(())
    }
}

/// `--target`: the platforms whose artifact is not a component as it is.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TargetArg {
    /// A Cloudflare Worker directory (the HTTP component, transpiled by jco)
    Cloudflare,
    /// A Fastly Compute module (the same protocol over Fastly's hostcalls)
    Fastly,
}
