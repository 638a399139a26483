//! One module per subcommand, each a `clap` struct with an `execute`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use wasmodel::json::tensors_from_json_object;
use wasmodel::tensor_io::read_tensor_file;
use wasmodel::{
    CompileCache, DEFAULT_CACHE_SIZE, Limits, LoadedModel, ModelInfo, Runtime, RuntimeOptions,
    Tensor, TensorInfo, format_declared_shape,
};
use wasmodel_cli::oci::Reference;

/// `println!` for what a command reports on standard output, in a function
/// that returns `anyhow::Result` (see [`print_line`]).
macro_rules! outln {
    () => {
        $crate::commands::print_line(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::commands::print_line(format_args!($($arg)*))?
    };
}

pub mod build;
pub mod check;
pub mod compile;
pub mod inspect;
pub mod predict;
pub mod pull;
pub mod push;
pub mod serve;
pub mod spin;

pub const EXAMPLES: &str = "\
Examples:
  wasmodel build models/iris.onnx -o iris.wasm
  wasmodel inspect iris.wasm
  wasmodel predict iris.wasm --input features=tests/fixtures/iris_features.json
  wasmodel check my_model.onnx
  wasmodel compile iris.wasm -o iris.cwasm
  wasmodel build models/iris.onnx --http -o iris-http.wasm
  wasmodel serve iris-http.wasm --addr 127.0.0.1:8080
  wasmodel spin add models/iris.onnx && spin build && spin up
  wasmodel push iris-http.wasm localhost:5000/models/iris:1 --insecure

Exit status: 0 on success, 1 on any error (the message says which), 2 on a usage error.";

/// Set once standard output's reader has gone: what is left to print is
/// dropped.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes one line of a command's report to standard output. A reader that
/// has gone (`wasmodel inspect model.wasm | head -1`) costs the rest of the
/// output, not the command: a build still writes its component, a server
/// keeps serving. Any other write error (a full disk behind `>`) is the
/// command's error, where `println!` would panic.
pub fn print_line(line: std::fmt::Arguments) -> anyhow::Result<()> {
    print_text(format_args!("{line}\n"))
}

/// [`print_line`] without the line's end.
pub fn print_text(text: std::fmt::Arguments) -> anyhow::Result<()> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(e).context("writing to standard output"),
    }
}

/// Options shared by every command that runs a component.
#[derive(clap::Args)]
pub struct RuntimeArgs {
    /// Directory for compiled components [default: $WASMODEL_CACHE_DIR,
    /// else $XDG_CACHE_HOME/wasmodel, else ~/.cache/wasmodel]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time instead of using the cache
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Size the compile cache is kept under, in MiB: past it, each new
    /// entry removes those used least recently
    #[arg(long, value_name = "MIB", env = "WASMODEL_CACHE_SIZE",
          default_value_t = DEFAULT_CACHE_SIZE >> 20)]
    cache_size: u64,
    /// Largest memory one instance of the model may use, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    max_memory: usize,
    /// Longest one call may run, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    timeout: f64,
    /// Largest input tensor accepted, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_input: usize,
    /// The compiler that makes machine code of the component: `cranelift`
    /// (optimizing: the fastest predictions, seconds to compile a model
    /// the first time) or `winch` (wasmtime's baseline compiler: several
    /// times faster to compile, slower to predict; x86-64 with AVX only, not
    /// for components built with --relaxed-simd). Each compiler's code is
    /// cached apart
    #[arg(long, value_enum, value_name = "COMPILER", default_value_t = CompilerArg::Cranelift)]
    compiler: CompilerArg,
}

/// `--compiler`: [`wasmodel::Compiler`] for the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CompilerArg {
    Cranelift,
    Winch,
}

impl From<CompilerArg> for wasmodel::Compiler {
    fn from(arg: CompilerArg) -> Self {
        match arg {
            CompilerArg::Cranelift => wasmodel::Compiler::Cranelift,
            CompilerArg::Winch => wasmodel::Compiler::Winch,
        }
    }
}

/// Limits on loading a model natively and building its component, for the
/// commands that do (`build`, `check`, `spin add`).
#[derive(clap::Args)]
pub struct BuildLimitArgs {
    /// Longest loading the model may take, in seconds: natively, where it is
    /// checked, and again in the engine, where it is pre-initialized
    #[arg(long, value_name = "SECONDS",
          default_value_t = wasmodel::DEFAULT_BUILD_TIME_LIMIT.as_secs_f64())]
    build_timeout: f64,
    /// Largest heap this command may use, in MiB: a model that asks for more
    /// while it is loaded ends the command with an error
    #[arg(long, value_name = "MIB", default_value_t = 8192)]
    max_build_memory: usize,
}

impl BuildLimitArgs {
    /// Caps this process's heap, and returns the time limit.
    pub fn apply(&self) -> anyhow::Result<Duration> {
        let limit = Duration::try_from_secs_f64(self.build_timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .context("--build-timeout must be a positive number of seconds")?;
        crate::heap_limit::set(self.max_build_memory.saturating_mul(1 << 20));
        Ok(limit)
    }
}

/// What the user says about the model's inputs, for `build` and `check`.
#[derive(clap::Args)]
pub struct InputArgs {
    /// Plan this input shape while building, as NAME=DIMS (`images=1,3,640,640`;
    /// repeat for each input, and again for another shape). The component
    /// still takes other shapes; a model tract cannot plan for every shape
    /// at once is planned per shape on the first call with it, and this
    /// saves that first call the time. Recorded in the component
    /// (`wasmodel inspect`)
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Freeze an input to a value, as NAME=VALUES (`sr=16000`, `k=1,2,3`): it
    /// is no longer an input, and what depends on it alone (the branch an
    /// `If` on it takes) is computed while building. Recorded in the
    /// component (`wasmodel inspect`)
    #[arg(long = "input-value", value_name = "NAME=VALUES")]
    input_values: Vec<String>,
}

impl InputArgs {
    pub fn options(&self) -> anyhow::Result<wasmodel::LoadOptions> {
        let mut options = wasmodel::LoadOptions::default();
        for given in &self.input_shapes {
            options
                .add_input_shape(given)
                .context("--input-shape is NAME=DIMS, such as images=1,3,640,640")?;
        }
        for given in &self.input_values {
            options
                .add_input_value(given)
                .context("--input-value is NAME=VALUES, such as sr=16000")?;
        }
        Ok(options)
    }
}

/// Prints how a built model is planned, when that is worth saying: per
/// input shape (with the `--input-shape` that plans what the caller sends),
/// or with shapes planned ahead.
pub fn print_planning(info: &ModelInfo, planning: &wasmodel::Planning) -> anyhow::Result<()> {
    for shapes in &planning.planned_ahead {
        let shapes: Vec<String> = info
            .inputs
            .iter()
            .zip(shapes)
            .map(|(input, shape)| format!("{} {shape:?}", input.name))
            .collect();
        outln!("  planned   {}", shapes.join(", "));
    }
    let Some(reason) = &planning.per_shape_reason else {
        return Ok(());
    };
    outln!(
        "  shapes    planned per input shape, on the first call with each in an instance (the last {} kept): tract cannot plan every shape at once",
        wasmodel::PLANS_KEPT
    );
    outln!("            ({reason})");
    if !planning.planned_ahead.is_empty() {
        return Ok(());
    }
    // Each input with a dynamic dimension, its symbols to replace.
    let mut flags = Vec::new();
    let mut symbols = Vec::new();
    for input in &info.inputs {
        let dims: Vec<String> = input
            .shape
            .iter()
            .map(|d| match d {
                wasmodel::Dimension::Fixed(n) => n.to_string(),
                wasmodel::Dimension::Dynamic(s) => {
                    if !symbols.contains(s) {
                        symbols.push(s.clone());
                    }
                    s.clone()
                }
            })
            .collect();
        if input
            .shape
            .iter()
            .any(|d| matches!(d, wasmodel::Dimension::Dynamic(_)))
        {
            flags.push(format!("--input-shape {}={}", input.name, dims.join(",")));
        }
    }
    if !flags.is_empty() {
        outln!(
            "            To plan the shapes you send at build (each fresh instance plans the others on its first call): {}, with numbers for {}",
            flags.join(" "),
            symbols.join(", ")
        );
    }
    Ok(())
}

/// Whether the commands that load components may load precompiled ones.
#[derive(clap::Args)]
pub struct PrecompiledArgs {
    /// Load precompiled components (`wasmodel compile`): they are trusted as
    /// machine code, so only load files you compiled yourself
    #[arg(long)]
    allow_precompiled: bool,
}

impl PrecompiledArgs {
    /// Refuses to load the precompiled file at `path` unless
    /// `--allow-precompiled` was given.
    pub fn check(&self, path: &std::path::Path) -> anyhow::Result<()> {
        if self.allow_precompiled {
            return Ok(());
        }
        anyhow::bail!(
            "{} is a precompiled component (`wasmodel compile`), which is loaded as machine \
             code: pass --allow-precompiled to load it, if you compiled it yourself",
            path.display()
        )
    }
}

impl RuntimeArgs {
    pub fn runtime(&self) -> anyhow::Result<Runtime> {
        self.runtime_pooled(None)
    }

    /// A runtime whose instances' memory is pooled for `instances` alive at
    /// once (see [`RuntimeOptions::pooled_instances`]).
    pub fn runtime_pooled(&self, instances: Option<u32>) -> anyhow::Result<Runtime> {
        self.runtime_pooled_with(instances, self.compiler.into())
    }

    /// [`runtime_pooled`](Self::runtime_pooled), with `compiler` whatever
    /// --compiler says.
    pub fn runtime_pooled_with(
        &self,
        instances: Option<u32>,
        compiler: wasmodel::Compiler,
    ) -> anyhow::Result<Runtime> {
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .context("--timeout must be a positive number of seconds")?;
        let cache = if self.no_cache {
            None
        } else {
            self.cache_dir
                .clone()
                .or_else(CompileCache::default_dir)
                .map(|dir| {
                    CompileCache::new(dir).with_max_size(self.cache_size.saturating_mul(1 << 20))
                })
        };
        let limits = Limits {
            max_memory: self.max_memory.saturating_mul(1 << 20),
            max_input_bytes: self.max_input.saturating_mul(1 << 20),
            timeout,
        };
        Ok(Runtime::new(RuntimeOptions {
            limits,
            cache,
            pooled_instances: instances,
            compiler,
            ..RuntimeOptions::default()
        })?)
    }
}

impl RuntimeArgs {
    /// Where components pulled from registries are kept: `pulled/` in the
    /// cache directory (whose compile cache never trims it).
    fn pulled_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .or_else(CompileCache::default_dir)
            .unwrap_or_else(std::env::temp_dir)
            .join("pulled")
    }
}

/// A component named by an OCI reference, for the commands that run one.
#[derive(clap::Args)]
pub struct RegistryArgs {
    /// Pull a component given as an OCI reference
    /// (REGISTRY/REPOSITORY[:TAG][@DIGEST]) over plain HTTP, unencrypted,
    /// instead of HTTPS
    #[arg(long)]
    insecure: bool,
}

impl RegistryArgs {
    /// The file of `component`: the path itself, or, where no such file
    /// exists and it names a registry, the component pulled from there
    /// into the cache (once per digest; see `wasmodel pull`).
    pub fn component_file(
        &self,
        component: &Path,
        runtime: &RuntimeArgs,
    ) -> anyhow::Result<PathBuf> {
        let reference = component
            .to_str()
            .filter(|text| !component.exists() && Reference::names_a_registry(text));
        let Some(reference) = reference else {
            return Ok(component.to_owned());
        };
        let reference: Reference = reference.parse()?;
        wasmodel_cli::oci::pulled_component(
            &reference,
            self.insecure,
            &runtime.pulled_dir(),
            &mut |step| eprintln!("{step}"),
        )
        .with_context(|| {
            format!("there is no file {reference}, and it cannot be pulled as an OCI reference")
        })
    }
}

/// Writes `bytes` to `path` whole or not at all: beside it first (as
/// `PATH.partial`), then renamed, in a directory made if needed (a Spin
/// manifest's `target/...`).
pub fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a component file.
pub fn read_component(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The notice printed when loading the component at `path` has to compile
/// it first (which takes a while for a model component; the result is
/// cached): for [`Runtime::load_reporting`] and
/// `HttpModel::load_reporting`.
pub fn compiling_notice<'a>(path: &'a std::path::Path, wasm: &[u8]) -> impl FnOnce() + 'a {
    let size = wasm.len();
    move || {
        eprintln!(
            "Compiling {} for this machine ({:.1} MB; once, then cached)...",
            path.display(),
            mb(size)
        );
    }
}

/// Says what `ComponentBuilder::build_reporting` is doing when it takes a
/// while.
pub fn build_progress(step: wasmodel::BuildStep) {
    if step == wasmodel::BuildStep::CompilingEngine {
        eprintln!("Compiling the inference engine for this machine (first build only; cached)...");
    }
}

/// A model's name: `--name` if given, else its file's stem
/// (`models/iris.onnx` → `iris`).
pub fn model_name(name: Option<String>, model: &std::path::Path) -> anyhow::Result<String> {
    match name {
        Some(name) => Ok(name),
        None => model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .context("the model path has no file name; pass --name"),
    }
}

/// Loads a predictor component, saying so first if it has to be compiled;
/// or a precompiled one, if allowed.
pub fn load(
    runtime: &Runtime,
    precompiled: &PrecompiledArgs,
    path: &std::path::Path,
) -> anyhow::Result<LoadedModel> {
    let wasm = read_component(path)?;
    if wasmodel::is_precompiled(&wasm) {
        precompiled.check(path)?;
        // SAFETY: the user vouched for the file with --allow-precompiled;
        // wasmtime checks its version and configuration.
        return unsafe { runtime.load_precompiled(&wasm) }
            .with_context(|| format!("cannot load {}", path.display()));
    }
    runtime
        .load_reporting(&wasm, compiling_notice(path, &wasm))
        .with_context(|| format!("cannot load {}", path.display()))
}

/// Reads the inputs of `predict` and `check`: `--input NAME=FILE` (NAME may
/// be left out for a model of one input) and `--inputs FILE` (a JSON object
/// of every input), each read as the element type the model declares.
pub fn read_inputs(
    info: &ModelInfo,
    inputs: &[String],
    inputs_file: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Tensor>> {
    let element_type = |name: &str| {
        info.inputs
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.element_type)
    };
    let mut tensors: Vec<Tensor> = Vec::new();
    if let Some(path) = inputs_file {
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
    for spec in inputs {
        let (name, file) = match spec.split_once('=') {
            Some((name, file)) => (name.to_owned(), file),
            None => match info.inputs.as_slice() {
                [only] => (only.name.clone(), spec.as_str()),
                _ => anyhow::bail!(
                    "`--input {spec}` needs a name: the model has inputs {}",
                    info.inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        };
        // An unknown name is refused by the model, which lists the names
        // it knows; read the file as f32 until then.
        let element_type = element_type(&name).unwrap_or(wasmodel::ElementType::F32);
        tensors.push(read_tensor_file(&name, element_type, file.as_ref())?);
    }
    Ok(tensors)
}

pub fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn describe(t: &TensorInfo) -> String {
    let classes = match &t.class_labels {
        Some(labels) => format!("  classes {}", labels.to_strings().join(", ")),
        None => String::new(),
    };
    format!(
        "{:<16} {}{}{classes}",
        t.name,
        t.element_type,
        format_declared_shape(&t.shape)
    )
}

/// Prints a model's metadata as aligned `key  value` lines.
pub fn print_model_info(info: &ModelInfo) -> anyhow::Result<()> {
    outln!("  model     {} (version {})", info.name, info.version);
    outln!("  digest    {}", info.digest);
    if !info.producer.is_empty() {
        outln!("  producer  {}", info.producer);
    }
    for (label, tensors) in [("inputs", &info.inputs), ("outputs", &info.outputs)] {
        for (i, t) in tensors.iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            outln!("  {label:<9} {}", describe(t));
        }
    }
    Ok(())
}

/// Prints a list under a label, or `none`.
pub fn print_list(label: &str, items: &[String]) -> anyhow::Result<()> {
    if items.is_empty() {
        outln!("  {label:<9} none");
    }
    for (i, item) in items.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        outln!("  {label:<9} {item}");
    }
    Ok(())
}

/// Which hosts run a component, from whether it needs relaxed SIMD
/// (`wasmodel build --relaxed-simd`).
pub fn hosts(needs_relaxed_simd: bool) -> String {
    if needs_relaxed_simd {
        format!(
            "those with relaxed SIMD (built with --relaxed-simd): {}",
            wasmodel::inspect::RELAXED_SIMD_HOSTS
        )
    } else {
        "every wasm host with SIMD".into()
    }
}
