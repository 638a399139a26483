//! `wasmodel serve`: an HTTP model component on a local socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use wasmodel::{Compiler, Runtime};
use wasmodel_cli::serve::{HttpModel, LogFormat, ServeOptions, Server};

use super::{PrecompiledArgs, RegistryArgs, RuntimeArgs, compiling_notice, read_component};

/// Serve HTTP model components (`wasmodel build --http`) over the Open
/// Inference Protocol v2, the way `wasmtime serve` runs them.
///
/// Give one component, several, or directories of them: each model answers
/// under /v2/models/ITS_NAME/ (two components of the same model name are
/// refused). Each component is compiled once (then cached) and
/// pre-instantiated; every request gets a fresh instance with its own
/// memory and time limits, so a request that fails or runs over its budget
/// costs only itself. Components get the wasi:http/proxy world and nothing
/// else: no files, no environment, and every outgoing request is refused.
///
/// Routes: GET /v2/models/NAME[/versions/V][/ready], POST
/// /v2/models/NAME[/versions/V]/infer (JSON or binary tensors), answered by
/// that model's component; GET /v2, /v2/health/live, /v2/health/ready;
/// POST /v2/repository/index, every model served; POST /predict, with one
/// model; GET /metrics, Prometheus text format (requests by model, route and
/// status; histograms of request, queueing and compute time and of instance
/// memory; instances in use; connections open; compile-cache hits). The
/// host answers 413 for a body over --max-body, 503 when the memory limit
/// is hit or no slot frees up in time, 504 when a request runs past
/// --timeout. A client has 30 s to send its request head (the connection is
/// closed after, as is a keep-alive connection idle that long) and 30 s for
/// its body (408); a request whose client hangs up first is cancelled and
/// logged as 499.
///
/// Prints `Listening on http://ADDR` once ready (with the real port when
/// --addr has port 0), one access-log line per request on stderr (text or
/// JSON), and stops on Ctrl-C after letting requests in flight finish.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel build models/iris.onnx --http -o iris-http.wasm
  wasmodel serve iris-http.wasm --addr 127.0.0.1:8080
  wasmodel serve iris-http.wasm churn-http.wasm --log-format json
  wasmodel serve components/          # every HTTP component in the directory
  curl -s localhost:8080/metrics
  curl -s localhost:8080/v2/models/iris
  curl -s localhost:8080/v2/models/iris/infer -H 'content-type: application/json' \\
    -d '{\"inputs\":[{\"name\":\"features\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}]}'")]
pub struct ServeCommand {
    /// HTTP components from `wasmodel build --http` (or precompiled by
    /// `wasmodel compile`), directories of them, or OCI references to pull
    /// them from
    #[arg(required = true, value_name = "COMPONENT")]
    components: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Largest request body accepted, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_body: usize,
    /// Most requests running at once (more wait for a slot) [default: twice
    /// the number of CPUs]
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Most connections open at once; more wait, unaccepted, until one
    /// closes (a connection idle for 30 s is closed)
    #[arg(long, value_name = "N", default_value_t = ServeOptions::default().max_connections)]
    max_connections: usize,
    /// Do not log each request on stderr
    #[arg(long)]
    quiet: bool,
    /// How each request is logged: text (`peer "METHOD path" status bytes
    /// ms`) or json (one object a line)
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormatArg,
    /// Answer at once on Winch's code when Cranelift's is not in the compile
    /// cache yet (Winch compiles a component several times as fast, and
    /// its code predicts up to half as fast), and move to Cranelift's code
    /// once it has been compiled in the background and cached. Components
    /// Winch cannot compile (off x86-64 with AVX2, or built with
    /// --relaxed-simd) and those already compiled start on Cranelift's code
    #[arg(long, conflicts_with = "compiler")]
    tier_up: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    precompiled: PrecompiledArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl ServeCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let defaults = ServeOptions::default();
        if self.concurrency == Some(0) {
            anyhow::bail!("--concurrency must be at least 1");
        }
        if self.max_connections == 0 {
            anyhow::bail!("--max-connections must be at least 1");
        }
        let options = ServeOptions {
            max_body: self.max_body.saturating_mul(1 << 20),
            max_concurrency: self.concurrency.unwrap_or(defaults.max_concurrency),
            max_connections: self.max_connections,
            access_log: !self.quiet,
            log_format: match self.log_format {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            },
            ..defaults
        };
        // One instance per request in flight, and one while loading.
        let instances = u32::try_from(options.max_concurrency)
            .ok()
            .and_then(|n| n.checked_add(1))
            .context("--concurrency is too large")?;
        let runtime = self.runtime.runtime_pooled(Some(instances))?;
        let given = self
            .components
            .iter()
            .map(|c| self.registry.component_file(c, &self.runtime))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let paths = component_files(&given)?;
        let mut models = Vec::with_capacity(paths.len());
        // With --tier-up: the runtime of Winch's code, made when a
        // component first needs it, and the models that start on it.
        let mut winch: Option<Runtime> = None;
        let mut tier_ups = Vec::new();
        for (path, from_directory) in &paths {
            let wasm = read_component(path)?;
            let model = if wasmodel::is_precompiled(&wasm) {
                self.precompiled.check(path)?;
                // SAFETY: the user vouched for the file with
                // --allow-precompiled; wasmtime checks its version and
                // configuration.
                unsafe { HttpModel::load_precompiled(&runtime, &wasm) }
            } else {
                // A directory from `wasmodel build` also holds predictors.
                if *from_directory && !is_http_component(&wasm) {
                    eprintln!("Skipping {}: not an HTTP component", path.display());
                    continue;
                }
                if self.tier_up && starts_on_winch(path, &runtime, &wasm) {
                    let winch_runtime = match winch.clone() {
                        Some(made) => made,
                        None => {
                            let made = self
                                .runtime
                                .runtime_pooled_with(Some(instances), Compiler::Winch)?;
                            winch = Some(made.clone());
                            made
                        }
                    };
                    HttpModel::load_reporting(&winch_runtime, &wasm, winch_notice(path, &wasm))
                        .inspect(|model| tier_ups.push((path.clone(), model.clone(), wasm.clone())))
                } else {
                    HttpModel::load_reporting(&runtime, &wasm, compiling_notice(path, &wasm))
                }
            }
            .with_context(|| format!("cannot serve {}", path.display()))?;
            models.push(model);
        }
        // Winch's runtime lives on in the models that use it, until they
        // have moved to Cranelift's code.
        drop(winch);
        if models.is_empty() {
            anyhow::bail!("no HTTP component to serve (build one with `wasmodel build --http`)");
        }
        release_freed_memory();

        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        tokio.block_on(async {
            let server = Server::bind_models(self.addr, models, options).await?;
            // Tests and scripts read this line to find the port.
            outln!("Listening on http://{}", server.local_addr()?);
            if !tier_ups.is_empty() {
                let runtime = runtime.clone();
                std::thread::Builder::new()
                    .name("wasmodel-tier-up".into())
                    .spawn(move || tier_up(&runtime, tier_ups))
                    .context("cannot start the thread that compiles with Cranelift")?;
            }
            let served: Vec<String> = server
                .models()
                .map(|(name, version)| match name {
                    // A component that does not say which model it serves.
                    "" => "the component (every route)".to_string(),
                    name => format!("{name} (version {version})"),
                })
                .collect();
            eprintln!(
                "Serving {} (at most {} requests at once; Ctrl-C stops)",
                served.join(", "),
                options.max_concurrency
            );
            server
                .run(async {
                    if tokio::signal::ctrl_c().await.is_err() {
                        // No signal handling here: serve until killed.
                        std::future::pending::<()>().await;
                    }
                    eprintln!("Shutting down: finishing requests in flight...");
                })
                .await?;
            Ok::<_, anyhow::Error>(())
        })
    }
}

/// Whether a component starts on Winch's code under --tier-up: when
/// Cranelift's is not cached and Winch can compile it (else it says why
/// not).
fn starts_on_winch(path: &Path, runtime: &Runtime, wasm: &[u8]) -> bool {
    if runtime.holds_compiled(wasm) {
        return false;
    }
    match Compiler::Winch.cannot_compile(wasm) {
        Some(why) => {
            eprintln!(
                "{}: starting on Cranelift's code, not Winch's: {why}",
                path.display()
            );
            false
        }
        None => true,
    }
}

/// The notice printed when --tier-up compiles a component with Winch.
fn winch_notice<'a>(path: &'a Path, wasm: &[u8]) -> impl FnOnce() + 'a {
    let size = wasm.len();
    move || {
        eprintln!(
            "Compiling {} with Winch for a quick start ({:.1} MB; Cranelift's faster code \
             follows in the background)...",
            path.display(),
            size as f64 / 1e6
        );
    }
}

/// Compiles each model's component with Cranelift (into the compile
/// cache) and moves the model to that code, one after the other. A model
/// Cranelift fails on stays on Winch's code, saying why.
fn tier_up(runtime: &Runtime, models: Vec<(PathBuf, HttpModel, Vec<u8>)>) {
    for (path, model, wasm) in models {
        let started = Instant::now();
        match HttpModel::load(runtime, &wasm) {
            Ok(faster) => {
                model.switch_to(&faster);
                eprintln!(
                    "Serving {} on Cranelift's code from now on (compiled in {:.1} s)",
                    path.display(),
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => eprintln!(
                "Cannot compile {} with Cranelift, so it stays on Winch's code: {e}",
                path.display()
            ),
        }
    }
    release_freed_memory();
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

/// Whether the bytes are a component exporting `wasi:http/incoming-handler`.
fn is_http_component(wasm: &[u8]) -> bool {
    wasmodel::inspect::Interfaces::of(wasm).is_ok_and(|i| {
        i.exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@"))
    })
}

/// The component files to serve: each file given, and the `.wasm` files
/// of each directory given (sorted), with whether it came from a directory.
fn component_files(given: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, bool)>> {
    let mut files = Vec::new();
    for path in given {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect();
            if found.is_empty() {
                anyhow::bail!("{} holds no .wasm component", path.display());
            }
            found.sort();
            files.extend(found.into_iter().map(|p| (p, true)));
        } else {
            files.push((path.clone(), false));
        }
    }
    Ok(files)
}

/// Hands the memory freed since the start back to the system. Compiling a
/// component (one not in the compile cache) takes hundreds of MB of heap,
/// spread over the compiler's threads, and glibc's allocator keeps what
/// was freed: a server that compiled its model at start-up held about
/// 560 MB for as long as it ran, against 30 MB when the model came from
/// the cache.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory of glibc's arenas to
    // the system; it may be called at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
