//! `wasmodel serve`: an HTTP model component on a local socket.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use wasmodel::{ServeOptions, Server};

use super::{RuntimeArgs, compiling_notice, read_component};

/// Serve an HTTP model component (`wasmodel build --http`) over the Open
/// Inference Protocol v2, the way `wasmtime serve` runs it.
///
/// The component is compiled once (then cached) and pre-instantiated; every
/// request gets a fresh instance with its own memory and time limits, so a
/// request that fails or runs over its budget costs only itself. The
/// component gets the wasi:http/proxy world and nothing else: no files, no
/// environment, and every outgoing request is refused.
///
/// Routes (answered by the component): GET /v2, /v2/health/live,
/// /v2/health/ready, /v2/models/NAME[/versions/V][/ready]; POST
/// /v2/models/NAME[/versions/V]/infer; POST /predict. The host answers 413
/// for a body over --max-body, 503 when the memory limit is hit or no slot
/// frees up in time, 504 when a request runs past --timeout.
///
/// Prints `Listening on http://ADDR` once ready (with the real port when
/// --addr has port 0), one access-log line per request on stderr, and
/// stops on Ctrl-C after letting requests in flight finish.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel build models/iris.onnx --http -o iris-http.wasm
  wasmodel serve iris-http.wasm --addr 127.0.0.1:8080
  curl -s localhost:8080/v2/models/iris
  curl -s localhost:8080/v2/models/iris/infer -H 'content-type: application/json' \\
    -d '{\"inputs\":[{\"name\":\"features\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}]}'")]
pub struct ServeCommand {
    /// The HTTP component, from `wasmodel build --http`
    component: PathBuf,
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
    /// Do not log each request on stderr
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

impl ServeCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let defaults = ServeOptions::default();
        if self.concurrency == Some(0) {
            anyhow::bail!("--concurrency must be at least 1");
        }
        let options = ServeOptions {
            max_body: self.max_body.saturating_mul(1 << 20),
            max_concurrency: self.concurrency.unwrap_or(defaults.max_concurrency),
            access_log: !self.quiet,
            ..defaults
        };
        // One instance per request in flight, and one while loading.
        let instances = u32::try_from(options.max_concurrency)
            .ok()
            .and_then(|n| n.checked_add(1))
            .context("--concurrency is too large")?;
        let runtime = self.runtime.runtime_pooled(Some(instances))?;
        let path = &self.component;
        let wasm = read_component(path)?;
        let model = runtime
            .load_http_reporting(&wasm, compiling_notice(path, &wasm))
            .with_context(|| format!("cannot serve {}", path.display()))?;

        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        tokio.block_on(async {
            let server = Server::bind(self.addr, model, options).await?;
            // Tests and scripts read this line to find the port.
            println!("Listening on http://{}", server.local_addr()?);
            eprintln!(
                "Serving {} (at most {} requests at once; Ctrl-C stops)",
                path.display(),
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
