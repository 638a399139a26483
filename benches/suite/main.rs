//! The benchmark suite: how fast a model component predicts and starts,
//! against native tract and the runtimes a user would otherwise pick, each
//! reported as a ratio against a baseline measured in the same run.
//!
//! ```text
//! cargo bench --bench suite [-- --runs 200 --cold 30 --seconds 5 --connections 4
//!                               --model squeezenet --engines --quick]
//! ```
//!
//! For every model (the default `iris`, the tabular MLP `wine_mlp` and
//! three CNNs: SqueezeNet 1.1, ResNet-18 and MobileNetV2, all in
//! `models/`), on the same seeded input:
//!
//! - **P1 sandbox overhead**: a warm instance's `predict` through the
//!   component ÷ native tract (the same tract version, the same optimized
//!   model, one thread), the two timed alternately, run by run, and in
//!   the same alternation the component `wasmodel build --relaxed-simd`
//!   makes and the component compiled by Winch (`--compiler winch`). With
//!   `--engines`, also the engine built without SIMD and optimized for
//!   size (built first: minutes).
//! - **P2 peers**: the component ÷ onnxruntime-web's wasm build in Node (SIMD,
//!   one thread) and ÷ native onnxruntime (one intra-op thread), each a
//!   script in `benches/peers/` run as its own process; their outputs are
//!   checked against tract's.
//! - **P3 cold start**: what a fresh instance's first prediction costs over a
//!   warm one, for the pre-initialized component and for one built with
//!   `--no-preinit` (which parses and optimizes the model in every fresh
//!   instance, as engines that load their model at start-up do); and a
//!   server process's start to its first answered infer, `wasmodel serve`
//!   against FastAPI + uvicorn + onnxruntime (`benches/peers/`).
//! - **P4 HTTP throughput**: `wasmodel serve` ÷ that FastAPI server with two
//!   workers, at a fixed number of keep-alive connections, zero errors
//!   allowed; a hello-world component served the same way is the floor.
//! - **P5 memory**: peak resident memory of `wasmodel serve` ÷ one FastAPI
//!   worker with the model loaded, and what each further concurrent
//!   instance adds, against the heap native tract needs for one prediction
//!   (its activations, counted by this program's allocator).
//! - **P6 size**: the component minus the model (the engine's overhead), raw
//!   and gzipped, each flavour's component ÷ (its engine + the ONNX file),
//!   and how long its first load (a compile) takes on a machine
//!   that compiled nothing, against one that compiled another model before
//!   (whose engine functions are reused from disk).
//!
//! - **P7 embedding hosts**: the same component's warm predict from Python,
//!   through the repository's package (`python/`) and through wasmtime-py's
//!   own component API, and from Node through jco (`js/`), ÷ the Rust
//!   host's (P1's component column).
//!
//! - **P8 real models**: a YOLO-class detector at 320 and 640 and an OCR
//!   recognizer from the corpus (`models/corpus/`), whose shapes are
//!   planned on the first call with them: P1 and P2 as above, and what
//!   that first call costs (`corpus.rs`).
//!
//! - **P9 text encoders**: the corpus's all-MiniLM-L6-v2 built with its
//!   tokenizer and mean pooling, float32 and int8, on texts of 8, 32 and
//!   128 tokens: P1 and P2 as above (the peers given token ids), a fresh
//!   instance's first call, and the first load's compile (`text.rs`).
//!
//! - **P10 first start per host**: a model's HTTP component started by
//!   `wasmodel serve` (Cranelift and Winch), `wasmtime serve`, `spin up`
//!   and workerd (its Cloudflare Worker, whose gzipped size is given
//!   against Workers' limits) with nothing compiled before, to its first
//!   answered infer; its
//!   predictor component loaded by wasmtime-py and by jco in Node, to its
//!   first predict (`first_start.rs`).
//!
//! Times are p50 and p99 over the runs; nothing here is asserted, only
//! reported. Each model's headline ratios are printed as soon as it is
//! measured (and P1 says how it is going every 10 s), so a long run leaves
//! results; the tables at the end give them all. `BENCHMARKS.md` holds a run and how to read it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use wasmodel::{
    CompileCache, Compiler, ComponentBuilder, ElementType, Flavour, LoadedModel, ModelInfo,
    Runtime, RuntimeOptions, Tensor, TensorData, TensorInfo,
};

mod corpus;
#[path = "../common/corpus_dir.rs"]
mod corpus_dir;
mod engines;
mod first_start;
mod heap;
mod http;
#[path = "../common/net.rs"]
mod net;
mod text;

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

/// `crates/hello-http`, built for wasm32-wasip1 by `crates/test-guests`: the floor of
/// the HTTP measurements.
const HELLO: &[u8] = wasmodel_test_guests::HELLO_HTTP;

/// The suite's models: file stem in `models/`, and what it stands for.
const MODELS: [(&str, &str); 5] = [
    ("iris", "default (forest)"),
    ("wine_mlp", "tabular MLP"),
    ("squeezenet", "CNN"),
    ("resnet18", "ResNet CNN"),
    ("mobilenet_v2", "MobileNet CNN"),
];

struct Settings {
    /// Timed warm runs per runtime.
    runs: usize,
    /// Fresh instances timed per build.
    cold: usize,
    /// Untimed runs before timing.
    warmup: usize,
    /// HTTP load per round.
    load: http::Load,
    /// Timed process starts per server.
    starts: usize,
    models: Vec<String>,
    /// Time the engine variants of `engines.rs` too.
    engines: bool,
}

fn main() -> anyhow::Result<()> {
    // tract's tree ensembles build (and drop) an `anyhow` error for every
    // leaf they reach, and with RUST_BACKTRACE set each one captures a
    // backtrace: native iris ran 6x slower. A server would not run with
    // library backtraces on, and inside wasm there are none to capture, so
    // the native baseline is measured without them.
    // SAFETY: no other thread exists yet to read the environment.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    let settings = parse_args()?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir()?;
    let cache = CompileCache::default_dir().map(CompileCache::new);
    let runtime = Runtime::new(RuntimeOptions {
        cache: cache.clone(),
        ..RuntimeOptions::default()
    })?;
    // The same, with instance memory pooled (`wasmodel serve`'s set-up).
    let pooled = Runtime::new(RuntimeOptions {
        cache: cache.clone(),
        pooled_instances: Some(4),
        ..RuntimeOptions::default()
    })?;

    print_machine();
    // The same, compiling with Winch (`--compiler winch`).
    let winch = Runtime::new(RuntimeOptions {
        cache,
        compiler: Compiler::Winch,
        ..RuntimeOptions::default()
    })?;
    let mut variants = vec![engines::relaxed()?, engines::winch()?];
    if settings.engines {
        variants.extend(engines::build(repo)?);
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    eprintln!("== hello world (HTTP floor)");
    let hello_path = scratch.path().join("hello-http.wasm");
    std::fs::write(&hello_path, wasmodel::http_component_from_module(HELLO)?)?;
    let hello = http::measure(
        &tokio,
        http::Server::Wasmodel {
            component: &hello_path,
        },
        &http::Target {
            method: hyper::Method::GET,
            path: "/".into(),
            body: Bytes::new(),
            header_length: None,
        },
        None,
        settings.load,
        settings.starts,
    )?;
    // A machine that compiled a model before: the dtypes model, which the
    // suite does not otherwise measure.
    let used_cache = scratch.path().join("used-compile-cache");
    {
        eprintln!("P6: compiling another model's component, as a used machine has...");
        let used = Runtime::new(RuntimeOptions {
            cache: Some(CompileCache::new(&used_cache)),
            ..RuntimeOptions::default()
        })?;
        let onnx = std::fs::read(repo.join("models/dtypes.onnx"))?;
        used.load(
            &ComponentBuilder::new("dtypes")
                .build(&runtime, &onnx)?
                .component,
        )?;
    }
    let bench = Bench {
        repo,
        scratch: scratch.path(),
        used_cache: &used_cache,
        runtime: &runtime,
        pooled: &pooled,
        winch: &winch,
        variants: &variants,
        tokio: &tokio,
        settings: &settings,
    };
    let mut results = Vec::new();
    for (name, kind) in MODELS
        .iter()
        .filter(|(name, _)| settings.models.iter().any(|m| m == name))
    {
        eprintln!("== {name}");
        let result = measure(bench, name, kind).with_context(|| format!("benchmarking {name}"))?;
        print_summary(&result);
        results.push(result);
    }
    let mut corpus_results = Vec::new();
    for row in corpus::ROWS
        .iter()
        .filter(|row| settings.models.iter().any(|m| m == row.name))
    {
        eprintln!("== {} (corpus)", row.name);
        let result =
            corpus::measure(bench, row).with_context(|| format!("benchmarking {}", row.name))?;
        corpus_results.push(result);
    }
    let text_rows: Vec<&text::Row> = text::ROWS
        .iter()
        .filter(|row| settings.models.iter().any(|m| m == row.name))
        .collect();
    if !text_rows.is_empty() {
        eprintln!("== text encoders (corpus)");
    }
    let text_results = text::measure(bench, &text_rows).context("benchmarking text encoders")?;
    if !results.is_empty() {
        report(&results, &hello, &variants, &settings)?;
    }
    corpus::report(&corpus_results);
    text::report(&text_results);
    Ok(())
}

fn parse_args() -> anyhow::Result<Settings> {
    let mut settings = Settings {
        runs: 200,
        cold: 30,
        warmup: 10,
        load: http::Load {
            seconds: 5.0,
            connections: 4,
            max_requests: 100_000,
        },
        starts: 3,
        models: Vec::new(),
        engines: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => settings.runs = value()?.parse()?,
            "--cold" => settings.cold = value()?.parse()?,
            "--warmup" => settings.warmup = value()?.parse()?,
            "--seconds" => settings.load.seconds = value()?.parse()?,
            "--connections" => settings.load.connections = value()?.parse()?,
            "--starts" => settings.starts = value()?.parse()?,
            "--model" => settings.models.push(value()?),
            "--engines" => settings.engines = true,
            // A smoke run: every measurement, too few runs to mean much.
            "--quick" => {
                (settings.runs, settings.cold, settings.warmup) = (10, 3, 2);
                (settings.load.seconds, settings.starts) = (1.0, 1);
            }
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            other => bail!(
                "unknown argument {other}; use --runs N --cold N --warmup N --seconds S \
                 --connections N --starts N --model NAME --engines --quick"
            ),
        }
    }
    if settings.runs == 0 || settings.cold == 0 || settings.starts == 0 {
        bail!("--runs, --cold and --starts must be positive");
    }
    if settings.load.connections == 0 || settings.load.seconds <= 0.0 {
        bail!("--connections and --seconds must be positive");
    }
    let known: Vec<&str> = MODELS
        .iter()
        .map(|(name, _)| *name)
        .chain(corpus::ROWS.iter().map(|row| row.name))
        .chain(text::ROWS.iter().map(|row| row.name))
        .collect();
    if settings.models.is_empty() {
        settings.models = known.iter().map(|name| name.to_string()).collect();
    }
    if let Some(unknown) = settings
        .models
        .iter()
        .find(|m| !known.contains(&m.as_str()))
    {
        bail!(
            "unknown model {unknown}; the suite's models are {}",
            known.join(", ")
        );
    }
    Ok(settings)
}

/// The machine, for the record.
fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = command_output("uname", &["-srm"]).unwrap_or_default();
    let mut commit = command_output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
    if command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|changes| !changes.is_empty())
    {
        commit.push_str(" with uncommitted changes");
    }
    println!("machine: {cpu}, {cores} cores, {kernel}");
    println!("wasmodel {commit}, tract-onnx 0.23.9, wasmtime 48.0.8 (Cranelift)");
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Samples of one measured thing.
#[derive(Default, Clone)]
struct Samples(Vec<Duration>);

impl Samples {
    fn from_ms(ms: &[f64]) -> Samples {
        Samples(
            ms.iter()
                .map(|&m| Duration::from_secs_f64(m / 1e3))
                .collect(),
        )
    }

    fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = f();
        self.0.push(started.elapsed());
        result
    }

    /// The `p` quantile in milliseconds (nearest rank).
    fn ms(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        match sorted.len() {
            0 => f64::NAN,
            n => sorted[((n - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3,
        }
    }

    fn p50(&self) -> f64 {
        self.ms(0.50)
    }

    fn p99(&self) -> f64 {
        self.ms(0.99)
    }
}

/// Says how P1 is going every few seconds, so a slow run shows where it is
/// and whether the calls slow down as they go.
struct Progress {
    runs: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(runs: usize) -> Progress {
        let now = Instant::now();
        Progress {
            runs,
            started: now,
            last: now,
        }
    }

    fn report(&mut self, run: usize, native: &Samples, warm: &Samples) {
        if self.last.elapsed() < Self::EVERY || run == self.runs {
            return;
        }
        self.last = Instant::now();
        let last_ms = |s: &Samples| s.0.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        eprintln!(
            "  P1: {run}/{} runs in {:.0} s; p50 so far native {} ms, component {} ms; last run {} / {} ms",
            self.runs,
            self.started.elapsed().as_secs_f64(),
            short(native.p50()),
            short(warm.p50()),
            short(last_ms(native)),
            short(last_ms(warm)),
        );
    }
}

/// One model's headline ratios, printed as soon as it is measured, so a
/// long run leaves its results even if a later model never finishes (the
/// tables at the end repeat them with the details).
fn print_summary(r: &ModelResult) {
    let peer = |p: &Peer| match p {
        Peer::Ran { times, .. } => format!("{:.2}", r.warm.p50() / times.p50()),
        Peer::Failed(_) => "n/a".into(),
    };
    let embedded = |p: &Peer| match p {
        Peer::Ran { times, .. } => format!("{:.2}", times.p50() / r.warm.p50()),
        Peer::Failed(_) => "n/a".into(),
    };
    let fastapi = match &r.fastapi {
        Ok(f) => format!("{:.2}", r.served.round.rate / f.round.rate),
        Err(_) => "n/a".into(),
    };
    let relaxed = match (r.relaxed(), &r.ort_web) {
        (Some(v), Peer::Ran { times, .. }) => format!(
            "; --relaxed-simd P1 {:.2}, P2 ÷ ort-web {:.2}",
            v.warm.p50() / r.native.p50(),
            v.warm.p50() / times.p50()
        ),
        (Some(v), Peer::Failed(_)) => {
            format!("; --relaxed-simd P1 {:.2}", v.warm.p50() / r.native.p50())
        }
        (None, _) => String::new(),
    };
    println!(
        "{} measured: P1 component ÷ native {:.2} ({} / {} ms); P2 ÷ ort-web {}, ÷ ort {}; \
         P3 fresh {} ms; P4 {:.0} req/s, ÷ FastAPI {fastapi}; P7 Python {}, Node {}{relaxed}",
        r.name,
        r.warm.p50() / r.native.p50(),
        short(r.warm.p50()),
        short(r.native.p50()),
        peer(&r.ort_web),
        peer(&r.ort_native),
        short(r.cold_preinit.p50()),
        r.served.round.rate,
        embedded(&r.embedded[0]),
        embedded(&r.embedded[2]),
    );
    let _ = std::io::stdout().flush();
}

/// What a peer runtime measured, or why it could not.
enum Peer {
    Ran {
        runtime: String,
        times: Samples,
        /// Largest difference from tract's outputs.
        max_diff: f64,
    },
    Failed(String),
}

struct VariantResult {
    name: &'static str,
    warm: Samples,
    /// Largest difference from native tract's outputs.
    max_diff: f64,
}

struct ModelResult {
    name: String,
    kind: String,
    onnx_size: usize,
    native_load: Duration,
    /// The most heap native tract held during one prediction.
    native_heap: usize,
    /// A predictor instance's linear memory when fresh, and after the
    /// warm runs.
    memory: [usize; 2],
    native: Samples,
    warm: Samples,
    /// Each engine variant's warm predict: `--relaxed-simd`'s, and with
    /// `--engines` the built ones.
    variants: Vec<VariantResult>,
    cold_preinit: Samples,
    cold_pooled: Samples,
    /// Page faults per fresh pre-initialized instance, on demand and pooled.
    faults: [u64; 2],
    cold_lazy: Samples,
    /// The lazy build's warm calls (after its first one parsed the model).
    warm_lazy: Samples,
    component_size: usize,
    /// The HTTP component's (`--http`) size.
    http_component_size: usize,
    component_gzipped: usize,
    onnx_gzipped: usize,
    /// The component's first load (a full compile) on a machine that has
    /// compiled nothing, and on one that compiled another model before.
    compile: [Duration; 2],
    ort_native: Peer,
    ort_web: Peer,
    /// The component from other hosts: Python through the wasmodel package
    /// and through wasmtime-py's own component API, Node through jco.
    embedded: [Peer; 3],
    served: http::Measured,
    /// The infer request's body, in JSON and in binary, bytes.
    request_bytes: [usize; 2],
    fastapi: anyhow::Result<http::Measured>,
    /// P10: each host's first starts with nothing compiled.
    first_start: first_start::Starts,
    /// The Cloudflare Worker's files, whole and gzipped, and its
    /// instance's linear memory after an infer, in bytes; or why there is
    /// no Worker.
    worker_size: Result<[usize; 3], String>,
}

impl ModelResult {
    /// The `--relaxed-simd` component's measurements.
    fn relaxed(&self) -> Option<&VariantResult> {
        self.variants.iter().find(|v| v.name == "relaxed")
    }
}

/// What the measurements of every model share.
#[derive(Clone, Copy)]
struct Bench<'a> {
    repo: &'a Path,
    scratch: &'a Path,
    /// A compile cache that has compiled another model's component, as a
    /// machine that ran wasmodel before has (P6).
    used_cache: &'a Path,
    runtime: &'a Runtime,
    /// The same, with instance memory pooled (`wasmodel serve`'s set-up).
    pooled: &'a Runtime,
    /// The same, compiling with Winch, for the variants that ask for it.
    winch: &'a Runtime,
    /// Engine variants (and compilers) to time beside the embedded engine.
    variants: &'a [engines::Variant],
    tokio: &'a tokio::runtime::Runtime,
    settings: &'a Settings,
}

fn measure(bench: Bench<'_>, name: &str, kind: &str) -> anyhow::Result<ModelResult> {
    let Bench {
        repo,
        scratch,
        runtime,
        pooled,
        winch,
        variants,
        tokio,
        settings,
        ..
    } = bench;
    let path = repo.join("models").join(format!("{name}.onnx"));
    let onnx = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;

    // Native tract: the same engine crate the component holds.
    let started = Instant::now();
    let native_model = wasmodel_engine::Model::load(&onnx, name, "1")?;
    let native_load = started.elapsed();
    let inputs = seeded_inputs(native_model.info())?;
    let copy = inputs.clone();
    let (expected, native_heap) = heap::peak_during(|| native_model.predict(copy));
    let expected = expected?;

    eprintln!("building the components (pre-initialized and --no-preinit)...");
    let preinit = ComponentBuilder::new(name).build(runtime, &onnx)?.component;
    let lazy = ComponentBuilder::new(name)
        .preinit(false)
        .build(runtime, &onnx)?
        .component;
    let compiling = || eprintln!("compiling a component for this machine (cached afterwards)...");
    let model = runtime.load_reporting(&preinit, compiling)?;
    let lazy_model = pooled.load_reporting(&lazy, compiling)?;
    let pooled_model = pooled.load(&preinit)?;
    check_same(&expected, &model.predict(inputs.clone())?, "the component")?;
    check_same(
        &expected,
        &lazy_model.predict(inputs.clone())?,
        "--no-preinit",
    )?;

    let mut variant_models = Vec::new();
    for variant in variants {
        let built = ComponentBuilder::new(name)
            .engine(variant.engine.clone())
            .build(runtime, &onnx)?;
        let host = match variant.compiler {
            Compiler::Cranelift => runtime,
            Compiler::Winch => winch,
        };
        variant_models.push(host.load_reporting(&built.component, compiling)?);
    }

    eprintln!("P1: native tract and a warm component, alternately...");
    let (mut native, mut warm) = (Samples::default(), Samples::default());
    let mut instance = model.instance()?;
    let memory_image = instance.memory_size();
    let mut variant_instances = variant_models
        .iter()
        .map(LoadedModel::instance)
        .collect::<Result<Vec<_>, _>>()?;
    let mut variant_warm = vec![Samples::default(); variants.len()];
    let mut max_diffs = vec![0.0; variants.len()];
    for _ in 0..settings.warmup {
        native_model.predict(inputs.clone())?;
        instance.predict(inputs.clone())?;
        for (instance, max_diff) in variant_instances.iter_mut().zip(&mut max_diffs) {
            let got = instance.predict(inputs.clone())?;
            *max_diff = max_diff_of(&expected, &got, "an engine variant")?.max(*max_diff);
        }
    }
    let mut progress = Progress::new(settings.runs);
    for run in 1..=settings.runs {
        native.time(|| native_model.predict(inputs.clone()))?;
        warm.time(|| instance.predict(inputs.clone()))?;
        for (instance, samples) in variant_instances.iter_mut().zip(&mut variant_warm) {
            samples.time(|| instance.predict(inputs.clone()))?;
        }
        progress.report(run, &native, &warm);
    }
    let memory_warm = instance.memory_size();
    drop((instance, variant_instances));
    let variants = variants
        .iter()
        .zip(variant_warm)
        .zip(max_diffs)
        .map(|((variant, warm), max_diff)| VariantResult {
            name: variant.name,
            warm,
            max_diff,
        })
        .collect();

    eprintln!("P3: fresh instances, pre-initialized and --no-preinit, alternately...");
    let [
        (cold_preinit, faults_preinit),
        (cold_pooled, faults_pooled),
        (cold_lazy, _),
    ] = cold_starts([&model, &pooled_model, &lazy_model], &inputs, settings)?;
    let mut warm_lazy = Samples::default();
    let mut instance = lazy_model.instance()?;
    for _ in 0..settings.warmup.max(1) {
        instance.predict(inputs.clone())?;
    }
    for _ in 0..settings.runs {
        warm_lazy.time(|| instance.predict(inputs.clone()))?;
    }
    drop(instance);

    eprintln!("P2: onnxruntime (native, Python) and onnxruntime-web (wasm, Node)...");
    let inputs_json = scratch.join(format!("{name}-inputs.json"));
    std::fs::write(&inputs_json, oip_inputs(&inputs).to_string())?;
    let python = repo.join(".venv/bin/python").to_string_lossy().into_owned();
    let peer = |program: &str, script: &str, model: &Path, args: &[&str]| {
        run_peer(
            repo,
            (program, script, args),
            model,
            &inputs_json,
            settings,
            &expected,
        )
        .unwrap_or_else(|e| Peer::Failed(format!("{e:#}")))
    };
    let ort_native = peer(&python, "ort_native.py", &path, &[]);
    let ort_web = peer("node", "ort_web.mjs", &path, &[]);

    eprintln!("P7: the same component from Python (wasmtime-py) and Node (jco)...");
    let component_path = scratch.join(format!("{name}.wasm"));
    std::fs::write(&component_path, &preinit)?;
    let embedded = [
        peer(&python, "wasmodel_python.py", &component_path, &[]),
        peer(&python, "wasmodel_python.py", &component_path, &["--naive"]),
        peer("node", "wasmodel_node.mjs", &component_path, &[]),
    ];

    eprintln!("P6: a first load with nothing cached, and after another model's...");
    let compile = first_loads(bench, &preinit)?;

    eprintln!("P3-P5: wasmodel serve and FastAPI + onnxruntime (2 workers) over HTTP...");
    let http_component = scratch.join(format!("{name}-http.wasm"));
    let built = ComponentBuilder::new(name)
        .flavour(Flavour::Http)
        .build(runtime, &onnx)?;
    std::fs::write(&http_component, &built.component)?;
    let http_component_size = built.component.len();
    let target = http::Target {
        method: hyper::Method::POST,
        path: format!("/v2/models/{name}/infer"),
        body: Bytes::from(std::fs::read(&inputs_json)?),
        header_length: None,
    };
    // The same request in binary (the binary tensor data extension), the
    // outputs asked for in binary too: what tritonclient sends by default.
    let binary_target = binary_infer(name, &inputs);
    let request_bytes = [target.body.len(), binary_target.body.len()];
    let served = http::measure(
        tokio,
        http::Server::Wasmodel {
            component: &http_component,
        },
        &target,
        Some(&binary_target),
        settings.load,
        settings.starts,
    )?;
    let fastapi = http::measure(
        tokio,
        http::Server::FastApi {
            repo,
            model: &path,
            name,
        },
        &target,
        None,
        settings.load,
        settings.starts,
    );

    eprintln!(
        "P10: wasmodel serve (Cranelift, Winch), wasmtime serve, spin up, workerd, wasmtime-py and Node, nothing compiled before..."
    );
    let worker = write_worker(repo, scratch, name, &built.component, &inputs_json);
    let first_start = first_start::measure(
        tokio,
        repo,
        scratch,
        &first_start::Subject {
            http_component: &http_component,
            worker: worker
                .as_ref()
                .map(|(dir, ..)| dir.as_path())
                .map_err(String::as_str),
            target: &target,
            predictor: &component_path,
            inputs_json: &inputs_json,
        },
        settings.starts,
    );

    Ok(ModelResult {
        name: name.into(),
        kind: kind.into(),
        onnx_size: onnx.len(),
        native_load,
        native_heap,
        memory: [memory_image, memory_warm],
        native,
        warm,
        variants,
        cold_preinit,
        cold_pooled,
        faults: [faults_preinit, faults_pooled],
        cold_lazy,
        warm_lazy,
        component_size: preinit.len(),
        http_component_size,
        component_gzipped: gzipped_size(&preinit)?,
        onnx_gzipped: gzipped_size(&onnx)?,
        compile,
        ort_native,
        ort_web,
        embedded,
        served,
        request_bytes,
        fastapi,
        first_start,
        worker_size: worker.map(|(_, sizes)| sizes),
    })
}

/// The model's Cloudflare Worker (`wasmodel build --target cloudflare`,
/// with js/node_modules' jco) in `scratch`, with what Workers' limits
/// count: its files' size, whole and gzipped, and the linear memory its
/// instance holds after answering `request` (`benches/peers/
/// worker_memory.mjs`, in Node); or why there is none.
fn write_worker(
    repo: &Path,
    scratch: &Path,
    name: &str,
    http_component: &[u8],
    request: &Path,
) -> Result<(PathBuf, [usize; 3]), String> {
    let jco = repo.join("js/node_modules/.bin/jco");
    let (jco, _) = wasmodel_cli::cloudflare::Jco::at(&jco)
        .map_err(|_| "no jco in js/node_modules (scripts/setup.sh --tests)".to_string())?;
    let dir = scratch.join(format!("{name}-worker"));
    wasmodel_cli::cloudflare::write_worker(http_component, name, &dir, &jco)
        .map_err(|e| format!("the Worker: {e}"))?;
    let (mut size, mut gzipped) = (0, 0);
    for file in worker_files(&dir).map_err(|e| e.to_string())? {
        let bytes = std::fs::read(&file).map_err(|e| e.to_string())?;
        size += bytes.len();
        gzipped += gzipped_size(&bytes).map_err(|e| e.to_string())?;
    }
    let out = Command::new("node")
        .arg(repo.join("benches/peers/worker_memory.mjs"))
        .arg(&dir)
        .arg(name)
        .arg(request)
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "worker_memory.mjs: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let memory = report["memory_bytes"]
        .as_u64()
        .ok_or("worker_memory.mjs gave no memory_bytes")?;
    Ok((dir, [size, gzipped, memory as usize]))
}

/// The files under `dir`, recursively.
fn worker_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(worker_files(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// Times a fresh instance's first prediction for each model, taking turns;
/// with the page faults each took on average (the process's minor faults,
/// Linux only; 0 elsewhere).
fn cold_starts<const N: usize>(
    models: [&LoadedModel; N],
    inputs: &[Tensor],
    settings: &Settings,
) -> anyhow::Result<[(Samples, u64); N]> {
    let mut samples: [(Samples, u64); N] = std::array::from_fn(|_| Default::default());
    for _ in 0..settings.cold {
        for (model, (samples, faults)) in models.iter().zip(&mut samples) {
            let before = minor_faults();
            samples.time(|| model.instance()?.predict(inputs.to_vec()))?;
            *faults += minor_faults().saturating_sub(before);
        }
    }
    for (_, faults) in &mut samples {
        *faults /= settings.cold as u64;
    }
    Ok(samples)
}

/// This process's minor page faults so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A component's first load on a machine that has compiled nothing (every
/// function compiled), and on one that compiled another model before (the
/// engine's functions reused from disk): what a user waits for, first
/// ever, and after retraining a model.
fn first_loads(bench: Bench, component: &[u8]) -> anyhow::Result<[Duration; 2]> {
    let fresh = tempfile::tempdir()?;
    let mut times = [Duration::ZERO; 2];
    for (time, dir) in times.iter_mut().zip([fresh.path(), bench.used_cache]) {
        let runtime = Runtime::new(RuntimeOptions {
            cache: Some(CompileCache::new(dir)),
            ..RuntimeOptions::default()
        })?;
        let started = Instant::now();
        runtime.load(component)?;
        *time = started.elapsed();
    }
    Ok(times)
}

/// One seeded input per declared input, with every dynamic dimension 1.
fn seeded_inputs(info: &ModelInfo) -> anyhow::Result<Vec<Tensor>> {
    seeded_inputs_shaped(info, |input| input.shape_with_dynamic(1))
}

/// One seeded input per declared input, of the shape `shape_of` gives it.
fn seeded_inputs_shaped(
    info: &ModelInfo,
    shape_of: impl Fn(&TensorInfo) -> Vec<u32>,
) -> anyhow::Result<Vec<Tensor>> {
    // A fixed linear congruential generator: the same input on every run
    // and for every runtime.
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    info.inputs
        .iter()
        .map(|input| {
            let shape = shape_of(input);
            let len = shape.iter().map(|&d| d as usize).product();
            let data = match input.element_type {
                ElementType::F32 => TensorData::F32((0..len).map(|_| next() as f32).collect()),
                ElementType::F64 => TensorData::F64((0..len).map(|_| next()).collect()),
                other => bail!("input `{}` is {other}: the suite feeds f32/f64", input.name),
            };
            Ok(Tensor::new(&input.name, shape, data))
        })
        .collect()
}

/// An infer request of the binary tensor data extension: a JSON header,
/// then the inputs' raw bytes; every output asked for in binary.
fn binary_infer(name: &str, inputs: &[Tensor]) -> http::Target {
    let mut raw = Vec::new();
    let described: Vec<Value> = inputs
        .iter()
        .map(|t| {
            let bytes = wasmodel_oip::binary::write(&t.data);
            raw.extend_from_slice(&bytes);
            json!({
                "name": t.name,
                "datatype": wasmodel_oip::datatype::name(t.data.element_type()),
                "shape": t.shape,
                "parameters": {"binary_data_size": bytes.len()},
            })
        })
        .collect();
    let header = json!({ "inputs": described, "parameters": {"binary_data_output": true} });
    let mut body = header.to_string().into_bytes();
    let header_length = body.len();
    body.extend_from_slice(&raw);
    http::Target {
        method: hyper::Method::POST,
        path: format!("/v2/models/{name}/infer"),
        body: Bytes::from(body),
        header_length: Some(header_length),
    }
}

/// The inputs as an Open Inference Protocol request body, which is what
/// the peer scripts read.
fn oip_inputs(inputs: &[Tensor]) -> Value {
    let inputs: Vec<Value> = inputs
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "datatype": wasmodel_oip::datatype::name(t.data.element_type()),
                "shape": t.shape,
                "data": wasmodel::json::data_to_json(&t.data),
            })
        })
        .collect();
    json!({ "inputs": inputs })
}

/// Every element of every output as f64, in order.
fn flat(tensors: &[Tensor]) -> Vec<f64> {
    tensors
        .iter()
        .flat_map(|t| -> Vec<f64> {
            match &t.data {
                TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
                TensorData::F64(v) => v.clone(),
                TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
                TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
                TensorData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
                TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
                // The suite's models give no text; compare its length.
                TensorData::String(v) => v.iter().map(|x| x.len() as f64).collect(),
            }
        })
        .collect()
}

/// Largest absolute difference between two flat outputs, or an error if
/// they differ in length.
fn max_diff(expected: &[f64], got: &[f64], who: &str) -> anyhow::Result<f64> {
    if expected.len() != got.len() {
        bail!(
            "{who} gave {} output elements, tract {}",
            got.len(),
            expected.len()
        );
    }
    Ok(expected
        .iter()
        .zip(got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max))
}

/// The component must compute what native tract computes: the same engine,
/// so only float noise between wasm and native kernels may differ.
fn check_same(expected: &[Tensor], got: &[Tensor], who: &str) -> anyhow::Result<()> {
    let diff = max_diff_of(expected, got, who)?;
    if diff > 1e-3 {
        bail!("{who} differs from native tract by up to {diff}");
    }
    Ok(())
}

/// Largest difference between two predictions.
fn max_diff_of(expected: &[Tensor], got: &[Tensor], who: &str) -> anyhow::Result<f64> {
    max_diff(&flat(expected), &flat(got), who)
}

/// Under a table of peers: what each peer ran and how close its outputs
/// were, or why it did not run.
fn print_peer_notes<'a>(model: &str, peers: impl IntoIterator<Item = &'a Peer>) {
    for p in peers {
        match p {
            Peer::Ran {
                runtime, max_diff, ..
            } => println!("  {model}: {runtime}, outputs within {max_diff:.1e} of tract's"),
            Peer::Failed(why) => println!("  {model}: n/a: {why}"),
        }
    }
}

/// onnxruntime, native (Python) and onnxruntime-web (wasm, Node), each
/// running `model` on `inputs` as a script of `benches/peers/`, their
/// outputs checked against `expected`; a peer that cannot run says why.
fn ort_peers(
    bench: Bench<'_>,
    row: &str,
    model: &Path,
    inputs: &[Tensor],
    expected: &[Tensor],
) -> anyhow::Result<(Peer, Peer)> {
    let inputs_json = bench.scratch.join(format!("{row}-inputs.json"));
    std::fs::write(&inputs_json, oip_inputs(inputs).to_string())?;
    let python = bench.repo.join(".venv/bin/python");
    let python = python.to_string_lossy();
    let peer = |program: &str, script: &str| {
        run_peer(
            bench.repo,
            (program, script, &[]),
            model,
            &inputs_json,
            bench.settings,
            expected,
        )
        .unwrap_or_else(|e| Peer::Failed(format!("{e:#}")))
    };
    let peers = (peer(&python, "ort_native.py"), peer("node", "ort_web.mjs"));
    std::fs::remove_file(&inputs_json)?;
    Ok(peers)
}

/// The component's p50 over a peer's.
fn peer_ratio(component: &Samples, peer: &Peer) -> String {
    match peer {
        Peer::Ran { times, .. } => format!("{:.2}", component.p50() / times.p50()),
        Peer::Failed(_) => "n/a".into(),
    }
}

/// A file of the corpus (`models/corpus/fetch.py` puts it in
/// `$WASMODEL_CORPUS`, else the user's cache), which must be there.
fn corpus_file(path: &[&str]) -> anyhow::Result<PathBuf> {
    let mut file = corpus_dir::corpus_dir().context("HOME is not set: set WASMODEL_CORPUS")?;
    file.extend(path);
    if !file.exists() {
        bail!(
            "{} is missing: the corpus is fetched by scripts/setup.sh --bench (or --tests)",
            file.display()
        );
    }
    Ok(file)
}

/// Runs a peer script from `benches/peers/` (`program script model inputs
/// --runs N --warmup W args...`) and reads its one JSON line.
fn run_peer(
    repo: &Path,
    (program, script, args): (&str, &str, &[&str]),
    model: &Path,
    inputs: &Path,
    settings: &Settings,
    expected: &[Tensor],
) -> anyhow::Result<Peer> {
    let script: PathBuf = repo.join("benches/peers").join(script);
    let out = Command::new(program)
        .arg(&script)
        .arg(model)
        .arg(inputs)
        .args(["--runs", &settings.runs.to_string()])
        .args(["--warmup", &settings.warmup.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program} (run scripts/setup.sh --bench)"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        return Ok(Peer::Failed(last.trim().to_string()));
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} printed no JSON", script.display()))?;
    let times: Vec<f64> = serde_json::from_value(report["times_ms"].clone())?;
    let mut got = Vec::new();
    for output in report["outputs"].as_array().context("no outputs")? {
        for x in output["data"].as_array().context("output without data")? {
            got.push(
                x.as_f64()
                    .or_else(|| x.as_bool().map(|b| f64::from(u8::from(b))))
                    .context("non-numeric output")?,
            );
        }
    }
    Ok(Peer::Ran {
        runtime: report["runtime"].as_str().unwrap_or(program).to_string(),
        times: Samples::from_ms(&times),
        max_diff: max_diff(&flat(expected), &got, script.to_string_lossy().as_ref())?,
    })
}

fn gzipped_size(bytes: &[u8]) -> anyhow::Result<usize> {
    let mut gzip = Command::new("gzip")
        .arg("-9c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run gzip")?;
    let mut stdin = gzip.stdin.take().context("no stdin")?;
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = gzip.wait_with_output()?;
    writer.join().expect("the writer does not panic")?;
    Ok(out.stdout.len())
}

fn report(
    results: &[ModelResult],
    hello: &http::Measured,
    variants: &[engines::Variant],
    settings: &Settings,
) -> anyhow::Result<()> {
    println!(
        "\n{} timed runs per runtime ({} warm-up), {} fresh instances per build; times in ms, p50 / p99\n",
        settings.runs, settings.warmup, settings.cold
    );
    let label = |r: &ModelResult| format!("{} ({})", r.name, r.kind);

    println!("P1 sandbox overhead: warm component predict ÷ native tract, one thread");
    println!(
        "{:<30} {:>17} {:>17} {:>11} {:>11}",
        "model", "native tract", "component", "ratio p50", "ratio p99"
    );
    for r in results {
        println!(
            "{:<30} {:>17} {:>17} {:>11.2} {:>11.2}",
            label(r),
            pair(&r.native),
            pair(&r.warm),
            r.warm.p50() / r.native.p50(),
            r.warm.p99() / r.native.p99(),
        );
    }

    if results.iter().any(|r| !r.variants.is_empty()) {
        println!(
            "\nP1 engine builds and compilers: warm predict in the same alternation; ÷: p50 over the embedded engine's (simd128, opt-level 3, compiled by Cranelift)"
        );
        print!("{:<30} {:>17}", "model", "simd128");
        for name in variants.iter().map(|v| v.name) {
            print!(" {name:>17} {:>6}", "÷");
        }
        println!();
        for r in results {
            print!("{:<30} {:>17}", label(r), pair(&r.warm));
            for v in &r.variants {
                print!(
                    " {:>17} {:>6.2}",
                    pair(&v.warm),
                    v.warm.p50() / r.warm.p50()
                );
            }
            println!();
        }
        for name in variants.iter().map(|v| v.name) {
            let diffs: Vec<String> = results
                .iter()
                .filter_map(|r| r.variants.iter().find(|v| v.name == name))
                .map(|v| format!("{:.1e}", v.max_diff))
                .collect();
            println!(
                "  {name}: outputs within {} of native tract's",
                diffs.join(" / ")
            );
        }
    }

    println!(
        "\nP2 peers: component ÷ onnxruntime-web (wasm, Node, 1 thread) and ÷ native onnxruntime (1 thread)"
    );
    println!(
        "{:<30} {:>17} {:>17} {:>11} {:>17} {:>11} {:>15}",
        "model", "component", "ort-web", "÷ ort-web", "ort native", "÷ ort", "relaxed ÷ web"
    );
    for r in results {
        let peer = |p: &Peer| match p {
            Peer::Ran { times, .. } => (pair(times), format!("{:.2}", r.warm.p50() / times.p50())),
            Peer::Failed(_) => ("n/a".into(), "n/a".into()),
        };
        let (web, web_ratio) = peer(&r.ort_web);
        let (ort, ort_ratio) = peer(&r.ort_native);
        // The `--relaxed-simd` component (timed in P1's alternation).
        let relaxed_ratio = match (r.relaxed(), &r.ort_web) {
            (Some(v), Peer::Ran { times, .. }) => format!("{:.2}", v.warm.p50() / times.p50()),
            _ => "n/a".into(),
        };
        println!(
            "{:<30} {:>17} {:>17} {:>11} {:>17} {:>11} {:>15}",
            label(r),
            pair(&r.warm),
            web,
            web_ratio,
            ort,
            ort_ratio,
            relaxed_ratio
        );
    }
    for r in results {
        print_peer_notes(&r.name, [&r.ort_web, &r.ort_native]);
    }

    println!(
        "\nP3 cold start: a fresh instance's first predict, and its extra over a warm predict"
    );
    println!(
        "  (fresh: a new instance's first predict; extra: its p50 minus a warm p50; pooled: with the pooling allocator)"
    );
    println!(
        "{:<30} {:>17} {:>17} {:>9} {:>17} {:>9} {:>17} {:>9} {:>7}",
        "model",
        "warm",
        "fresh preinit",
        "extra",
        "fresh, pooled",
        "extra",
        "fresh no-preinit",
        "extra",
        "÷"
    );
    for r in results {
        let extra_preinit = (r.cold_preinit.p50() - r.warm.p50()).max(0.0);
        let extra_pooled = (r.cold_pooled.p50() - r.warm.p50()).max(0.0);
        let extra_lazy = (r.cold_lazy.p50() - r.warm_lazy.p50()).max(0.0);
        println!(
            "{:<30} {:>17} {:>17} {:>9.3} {:>17} {:>9.3} {:>17} {:>9.3} {:>7}",
            label(r),
            pair(&r.warm),
            pair(&r.cold_preinit),
            extra_preinit,
            pair(&r.cold_pooled),
            extra_pooled,
            pair(&r.cold_lazy),
            extra_lazy,
            if extra_pooled > 0.0 {
                format!("{:.0}×", extra_lazy / extra_pooled)
            } else {
                "∞".into()
            }
        );
    }
    println!(
        "  page faults per fresh instance (preinit / pooled): {}",
        results
            .iter()
            .map(|r| format!("{} {} / {}", r.name, r.faults[0], r.faults[1]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  (native tract's own parse and optimize, for comparison: {})",
        results
            .iter()
            .map(|r| format!("{} {:.1} ms", r.name, r.native_load.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!(
        "\nP3 process start: spawning a server to its first answered infer, median of {} start(s)",
        settings.starts
    );
    println!(
        "{:<30} {:>16} {:>16} {:>9}",
        "model", "wasmodel serve", "FastAPI (2 w.)", "÷"
    );
    println!(
        "{:<30} {:>16} {:>16} {:>9}",
        "hello world (GET /)",
        short(hello.start.p50()),
        "",
        ""
    );
    for r in results {
        let (fastapi, ratio) = match &r.fastapi {
            Ok(f) => (
                short(f.start.p50()),
                format!("{:.3}", r.served.start.p50() / f.start.p50()),
            ),
            Err(_) => ("n/a".into(), "n/a".into()),
        };
        println!(
            "{:<30} {:>16} {:>16} {:>9}",
            label(r),
            short(r.served.start.p50()),
            fastapi,
            ratio
        );
    }

    println!(
        "\nP10 first start with nothing compiled before (every start its own home and cache), median of {} start(s): HTTP hosts from spawning to the first answered infer (the HTTP component); embedding hosts from spawning the interpreter to its exit after one predict (the predictor component)",
        settings.starts
    );
    let [wasmodel, winch, wasmtime, spin, workerd, python, node] = first_start::host_names();
    println!(
        "{:<30} {:>16} {:>20} {:>16} {:>16} {:>16} {:>14} {:>14}",
        "model", wasmodel, winch, wasmtime, spin, workerd, python, node
    );
    for r in results {
        let cell = |start: &Result<Samples, String>| match start {
            Ok(samples) => short(samples.p50()),
            Err(_) => "n/a".into(),
        };
        println!(
            "{:<30} {:>16} {:>20} {:>16} {:>16} {:>16} {:>14} {:>14}",
            label(r),
            cell(&r.first_start[0]),
            cell(&r.first_start[1]),
            cell(&r.first_start[2]),
            cell(&r.first_start[3]),
            cell(&r.first_start[4]),
            cell(&r.first_start[5]),
            cell(&r.first_start[6])
        );
    }
    for r in results {
        for why in r.first_start.iter().filter_map(|s| s.as_ref().err()) {
            println!("  {}: {why}", r.name);
        }
    }
    // Workers take a Worker of at most 64 MiB uncompressed on every plan
    // (Cloudflare's limits page since 2026; before, 3 MB gzipped on the
    // free plan and 10 MB on the paid one), and give an isolate 128 MB.
    let within = |fits: bool| if fits { "within" } else { "over" };
    for r in results {
        match &r.worker_size {
            Ok([size, gzipped, memory]) => println!(
                "  {}: its Cloudflare Worker is {:.1} MB ({} Workers' 64 MiB), {:.1} MB gzipped; \
                 its instance holds {:.1} MB of linear memory after an infer ({} their 128 MB)",
                r.name,
                mb(*size),
                within(*size <= 64 << 20),
                mb(*gzipped),
                mb(*memory),
                within(*memory <= 128_000_000),
            ),
            Err(why) => println!("  {}: no Cloudflare Worker: {why}", r.name),
        }
    }

    println!(
        "\nP4 HTTP throughput: requests/s at {} keep-alive connections, {:.0} s per server, latency p50 / p99 ms",
        settings.load.connections, settings.load.seconds
    );
    println!(
        "{:<30} {:>10} {:>17} {:>10} {:>17} {:>9} {:>7}",
        "model", "wasmodel", "latency", "FastAPI", "latency", "÷", "errors"
    );
    let row = |label: String, served: &http::Measured, fastapi: Option<&http::Measured>| {
        let (rate, latency, ratio) = match fastapi {
            Some(f) => (
                format!("{:.0}", f.round.rate),
                pair(&f.round.latencies),
                format!("{:.2}", served.round.rate / f.round.rate),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        println!(
            "{:<30} {:>10.0} {:>17} {:>10} {:>17} {:>9} {:>7}",
            label,
            served.round.rate,
            pair(&served.round.latencies),
            rate,
            latency,
            ratio,
            served.round.errors + fastapi.map_or(0, |f| f.round.errors)
        );
    };
    row("hello world (GET /)".into(), hello, None);
    for r in results {
        row(label(r), &r.served, r.fastapi.as_ref().ok());
    }
    println!(
        "  the same infer in binary (the binary tensor data extension, tritonclient's default), wasmodel serve:"
    );
    println!(
        "  {:<28} {:>10} {:>10} {:>12} {:>12} {:>9}",
        "model", "JSON KB", "binary KB", "JSON req/s", "binary req/s", "÷"
    );
    for r in results {
        if let Some(binary) = &r.served.other_round {
            println!(
                "  {:<28} {:>10.1} {:>10.1} {:>12.0} {:>12.0} {:>9.2}",
                label(r),
                r.request_bytes[0] as f64 / 1e3,
                r.request_bytes[1] as f64 / 1e3,
                r.served.round.rate,
                binary.rate,
                binary.rate / r.served.round.rate
            );
        }
    }

    println!(
        "\nP5 memory: peak RSS of wasmodel serve ÷ one FastAPI worker with the model loaded; extra per concurrent instance"
    );
    println!(
        "{:<30} {:>15} {:>15} {:>9} {:>22} {:>18}",
        "model", "wasmodel MB", "FastAPI w. MB", "÷", "extra / instance MB", "native heap MB"
    );
    println!(
        "{:<30} {:>15.1}",
        "hello world (GET /)",
        mb(hello.peak_rss as usize)
    );
    for r in results {
        let (fastapi, ratio) = match &r.fastapi {
            Ok(f) => (
                format!("{:.1}", mb(f.peak_rss as usize)),
                format!("{:.2}", r.served.peak_rss as f64 / f.peak_rss as f64),
            ),
            Err(_) => ("n/a".into(), "n/a".into()),
        };
        let extra = r.served.peak_rss.saturating_sub(r.served.rss_one) as f64
            / settings.load.connections.saturating_sub(1).max(1) as f64;
        println!(
            "{:<30} {:>15.1} {:>15} {:>9} {:>22.2} {:>18.2}",
            label(r),
            mb(r.served.peak_rss as usize),
            fastapi,
            ratio,
            extra / 1e6,
            mb(r.native_heap)
        );
    }
    println!(
        "  (native heap: the most heap native tract held at once during one predict: activations, scratch, outputs)"
    );
    println!(
        "  proportional set size after the load (shared pages split among their mappings), MB, wasmodel ÷ FastAPI worker: {}",
        results
            .iter()
            .map(|r| match &r.fastapi {
                Ok(f) => format!(
                    "{} {:.1} ÷ {:.1} = {:.2}",
                    r.name,
                    mb(r.served.pss as usize),
                    mb(f.pss as usize),
                    r.served.pss as f64 / f.pss as f64
                ),
                Err(_) => format!("{} {:.1}", r.name, mb(r.served.pss as usize)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, served) in std::iter::once(("hello", hello))
        .chain(results.iter().map(|r| (r.name.as_str(), &r.served)))
    {
        println!(
            "  wasmodel serve's resident memory after the load, {name}, MB: {}",
            served
                .rss_by_kind
                .iter()
                .map(|(kind, bytes)| format!("{kind} {:.1}", mb(*bytes as usize)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "  a predictor instance's linear memory, fresh → after predicting, MB: {}",
        results
            .iter()
            .map(|r| format!("{} {:.1} → {:.1}", r.name, mb(r.memory[0]), mb(r.memory[1])))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for r in results {
        if let Err(e) = &r.fastapi {
            println!("  {}: FastAPI n/a: {e:#}", r.name);
        }
    }

    let engine = wasmodel::engine_wasm(wasmodel::Flavour::Predictor, false)?;
    println!(
        "\nP6 size: the engine before any model is put in it: {:.2} MB, {:.2} MB gzipped;",
        mb(engine.len()),
        mb(gzipped_size(engine)?)
    );
    let breakdown = code_by_crate(engine)?;
    let code: usize = breakdown.iter().map(|(_, size)| size).sum();
    println!(
        "  its code, {:.2} MB, by crate: {}",
        mb(code),
        breakdown
            .iter()
            .map(|(krate, size)| format!("{krate} {:.2}", mb(*size)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // A variant of the compiler only (Winch) has the embedded engine.
    for variant in variants
        .iter()
        .filter(|v| v.compiler == Compiler::Cranelift)
    {
        println!(
            "  the {} engine: {:.2} MB, {:.2} MB gzipped",
            variant.name,
            mb(variant.engine.len()),
            mb(gzipped_size(&variant.engine)?)
        );
    }
    // Issue 31's bound: a component no bigger than its engine plus 1.1 ×
    // the model's weights (the ONNX file's size), in either flavour.
    let http_engine = wasmodel::engine_wasm(wasmodel::Flavour::Http, false)?.len();
    println!(
        "each component ÷ (its flavour's engine + the ONNX file): the predictor's engine {:.2} MB, the HTTP one's {:.2} MB",
        mb(engine.len()),
        mb(http_engine)
    );
    println!(
        "{:<30} {:>10} {:>12} {:>8} {:>10} {:>8}",
        "model", "model MB", "predictor MB", "÷", "HTTP MB", "÷"
    );
    for r in results {
        println!(
            "{:<30} {:>10.2} {:>12.2} {:>8.3} {:>10.2} {:>8.3}",
            label(r),
            mb(r.onnx_size),
            mb(r.component_size),
            r.component_size as f64 / (engine.len() + r.onnx_size) as f64,
            mb(r.http_component_size),
            r.http_component_size as f64 / (http_engine + r.onnx_size) as f64
        );
    }
    println!(
        "and each component minus its ONNX file, raw and gzipped; its first load (compile) with nothing cached,\n\
         and after another model's compile (the engine's functions reused), and their ratio"
    );
    println!(
        "{:<30} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>8}",
        "model", "model MB", "comp. MB", "engine MB", "engine gz MB", "first s", "reused s", "÷"
    );
    for r in results {
        let engine = r.component_size.saturating_sub(r.onnx_size);
        let engine_gz = r.component_gzipped.saturating_sub(r.onnx_gzipped);
        let [first, reused] = r.compile.map(|t| t.as_secs_f64());
        println!(
            "{:<30} {:>10.2} {:>10.2} {:>10.2} {:>12.2} {:>12.1} {:>12.2} {:>8.3}",
            label(r),
            mb(r.onnx_size),
            mb(r.component_size),
            mb(engine),
            mb(engine_gz),
            first,
            reused,
            reused / first
        );
    }

    println!(
        "\nP7 embedding hosts: the same component's warm predict from Python (wasmtime-py) and Node (jco), ÷ from Rust (wasmodel's host)"
    );
    println!(
        "{:<30} {:>17} {:>17} {:>7} {:>17} {:>7} {:>17} {:>7}",
        "model", "Rust host", "Python package", "÷", "wasmtime-py API", "÷", "Node, jco", "÷"
    );
    for r in results {
        let cells = r.embedded.each_ref().map(|p| match p {
            Peer::Ran { times, .. } => (pair(times), format!("{:.2}", times.p50() / r.warm.p50())),
            Peer::Failed(_) => ("n/a".into(), "n/a".into()),
        });
        let [
            (package, package_ratio),
            (naive, naive_ratio),
            (node, node_ratio),
        ] = cells;
        println!(
            "{:<30} {:>17} {:>17} {:>7} {:>17} {:>7} {:>17} {:>7}",
            label(r),
            pair(&r.warm),
            package,
            package_ratio,
            naive,
            naive_ratio,
            node,
            node_ratio
        );
    }
    for r in results {
        print_peer_notes(&r.name, &r.embedded);
    }

    let errors = hello.round.errors
        + results
            .iter()
            .map(|r| {
                r.served.round.errors
                    + r.served.other_round.as_ref().map_or(0, |b| b.errors)
                    + r.fastapi.as_ref().map_or(0, |f| f.round.errors)
            })
            .sum::<usize>();
    if errors > 0 {
        bail!("{errors} HTTP request(s) failed: the P4 rates do not count");
    }
    Ok(())
}

/// The engine's function bodies, summed by the crate their (mangled) name
/// in the `name` section starts with: the ten largest, then the rest.
fn code_by_crate(module: &[u8]) -> anyhow::Result<Vec<(String, usize)>> {
    use std::collections::HashMap;
    use wasmparser::{KnownCustom, Name, Payload, TypeRef};

    let (mut imported, mut bodies, mut names) = (0u32, Vec::new(), HashMap::new());
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.range().len()),
            Payload::CustomSection(custom) => {
                if let KnownCustom::Name(reader) = custom.as_known() {
                    for name in reader {
                        if let Name::Function(map) = name? {
                            for naming in map {
                                let naming = naming?;
                                names.insert(naming.index, naming.name);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut by_crate: HashMap<String, usize> = HashMap::new();
    for (i, size) in bodies.into_iter().enumerate() {
        let name = names.get(&(imported + i as u32)).copied().unwrap_or("");
        *by_crate.entry(crate_of(name)).or_default() += size;
    }
    let mut sorted: Vec<(String, usize)> = by_crate.into_iter().collect();
    sorted.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    if sorted.len() > 10 {
        let rest = sorted.split_off(10).into_iter().map(|(_, s)| s).sum();
        sorted.push(("other".into(), rest));
    }
    Ok(sorted)
}

/// The crate a legacy-mangled Rust symbol (`_ZN` + length-prefixed path)
/// belongs to; for `<Type as Trait>` impls, the type's crate.
fn crate_of(symbol: &str) -> String {
    let Some(path) = symbol.strip_prefix("_ZN") else {
        return "(not Rust)".into();
    };
    let digits = path.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
    let len: usize = path[..digits].parse().unwrap_or(0);
    let first = path.get(digits..digits + len).unwrap_or("");
    let first = first.strip_prefix("_$LT$").unwrap_or(first);
    let first = first
        .trim_start_matches("$RF$")
        .trim_start_matches("mut$u20$");
    let end = first
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(first.len());
    match &first[..end] {
        "" => "(unnamed)".into(),
        krate => krate.to_string(),
    }
}

fn pair(s: &Samples) -> String {
    format!("{} / {}", short(s.p50()), short(s.p99()))
}

/// A time in ms with three significant digits or so.
fn short(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}
