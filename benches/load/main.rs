//! `cargo bench --bench load`: `wasmodel serve` under load, every answer
//! checked against onnxruntime (issue 14, item 4; BENCHMARKS.md,
//! "Reliability").
//!
//! For the default model (iris) and a CNN (SqueezeNet), `wasmodel serve`,
//! the real `wasmtime serve` (the wasmtime CLI, where installed) and the
//! model's Cloudflare Worker under workerd (`wasmodel build --target
//! cloudflare`; with jco and workerd from js/node_modules) answer
//! a fixed number of Open Inference Protocol requests from 1, 8 and 64
//! keep-alive connections over 127.0.0.1. The requests carry seeded inputs
//! whose answers onnxruntime computed beforehand (`reference.py`); every
//! answer is compared with its own input's, and a request is *lost* when it
//! gets no answer (a transport error, or none within a minute) and *wrong*
//! when it gets another status than 200 or other outputs. Then a soak round
//! of `--soak` requests at 8 connections samples `wasmodel serve`'s resident
//! memory and reports its slope. `--wasmtime-timeout` adds `wasmtime serve
//! -W timeout=60s`: a request time limit costs compiled code an epoch check
//! on every loop back-edge, and `wasmodel serve` always has one.
//!
//! Exits non-zero if any request was lost or wrong. Usage:
//!
//! ```text
//! cargo bench --bench load -- [--quick] [--model NAME]... [--requests N]
//!                             [--connections 1,8,64] [--soak N] [--wasmtime-timeout]
//! ```

#[path = "../common/net.rs"]
mod net;
#[path = "../common/wasmtime_cli.rs"]
mod wasmtime_cli;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use wasmodel::{CompileCache, ComponentBuilder, Flavour, Runtime, RuntimeOptions};
use wasmodel_cli::cloudflare::{Jco, write_worker};

use net::{Process, connect, free_port, proc_kb};

/// The models, and how many requests each connection count gets.
const MODELS: [(&str, usize); 2] = [("iris", 3000), ("squeezenet", 300)];
/// `--quick` (CI): this many times fewer.
const QUICK_DIVISOR: usize = 10;
/// Distinct inputs per model (requests cycle through them).
const CASES: usize = 16;
/// No round runs longer than this; requests not sent by then are reported.
const ROUND_LIMIT: Duration = Duration::from_secs(300);
/// How many times a soak round reads the server's resident memory.
const MEMORY_SAMPLES: usize = 100;
/// A request without an answer after this long is lost.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);

struct Settings {
    models: Vec<String>,
    requests: Option<usize>,
    connections: Vec<usize>,
    soak: usize,
    quick: bool,
    /// Also run `wasmtime serve` with a request time limit.
    wasmtime_timeout: bool,
}

fn parse_args() -> anyhow::Result<Settings> {
    let mut settings = Settings {
        models: Vec::new(),
        requests: None,
        connections: vec![1, 8, 64],
        soak: 10_000,
        quick: false,
        wasmtime_timeout: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().with_context(|| format!("{arg} needs {what}"));
        match arg.as_str() {
            "--quick" => settings.quick = true,
            "--wasmtime-timeout" => settings.wasmtime_timeout = true,
            "--model" => settings.models.push(value("a model name")?),
            "--requests" => settings.requests = Some(value("a count")?.parse()?),
            "--soak" => settings.soak = value("a count")?.parse()?,
            "--connections" => {
                settings.connections = value("a list like 1,8,64")?
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?;
                if settings.connections.contains(&0) {
                    bail!("--connections: each count must be at least 1");
                }
            }
            // `cargo bench` passes this to every bench target.
            "--bench" => {}
            "-h" | "--help" => {
                println!(
                    "cargo bench --bench load -- [--quick] [--model NAME]... [--requests N] \
                     [--connections 1,8,64] [--soak N] [--wasmtime-timeout]\n\n\
                     Sends each model's server N requests (default: iris 3000, squeezenet \
                     300; a tenth with --quick) at each connection count, checks every \
                     answer against onnxruntime's, then a soak round of --soak requests \
                     (default 10000; a tenth with --quick) at 8 connections sampling \
                     `wasmodel serve`'s resident memory. Needs scripts/setup.sh --tests \
                     (onnxruntime in .venv); uses the wasmtime CLI if installed, and the \
                     model's Cloudflare Worker under workerd if js/node_modules has workerd \
                     and jco; with --wasmtime-timeout runs it a second time with a request time limit \
                     (`-W timeout`, epoch interruption, as wasmodel serve always has)."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (see --help)"),
        }
    }
    if settings.quick {
        settings.soak /= QUICK_DIVISOR;
    }
    if settings.models.is_empty() {
        settings.models = MODELS.iter().map(|(m, _)| m.to_string()).collect();
    }
    Ok(settings)
}

/// One request and onnxruntime's answer to it.
struct Case {
    body: Bytes,
    /// Output name → (shape, flattened values).
    outputs: Vec<(String, Vec<u64>, Vec<f64>)>,
}

/// The model's cases and its tolerance (from its test fixture).
struct Cases {
    cases: Vec<Case>,
    rtol: f64,
    atol: f64,
}

fn main() -> anyhow::Result<()> {
    let settings = parse_args()?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeOptions {
        cache: CompileCache::default_dir().map(CompileCache::new),
        ..RuntimeOptions::default()
    })?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let wasmtime = wasmtime_cli::find(repo);
    if wasmtime.is_none() {
        eprintln!("no wasmtime CLI (scripts/setup.sh --tests installs it): no wasmtime serve");
    }
    let workerd = workerd(repo);
    println!(
        "{:<11} {:<25} {:>5} {:>6} {:>7} {:>5} {:>5} {:>7} {:>8} {:>8} {:>8}",
        "model",
        "server",
        "conns",
        "sent",
        "correct",
        "wrong",
        "lost",
        "unsent",
        "p50 ms",
        "p99 ms",
        "req/s"
    );
    let mut failed = 0;
    for (index, model) in settings.models.iter().enumerate() {
        let Some(&(_, full)) = MODELS.iter().find(|(m, _)| m == model) else {
            bail!(
                "unknown model `{model}`: the load test knows {}",
                MODELS.map(|(m, _)| m).join(", ")
            );
        };
        let requests = settings.requests.unwrap_or(if settings.quick {
            full / QUICK_DIVISOR
        } else {
            full
        });
        let onnx_path = repo.join(format!("models/{model}.onnx"));
        let cases = Arc::new(references(repo, scratch.path(), model)?);
        let onnx = std::fs::read(&onnx_path)?;
        let component = scratch.path().join(format!("{model}-http.wasm"));
        let built = ComponentBuilder::new(model)
            .flavour(Flavour::Http)
            .build(&runtime, &onnx)
            .with_context(|| format!("building {model} --http"))?;
        std::fs::write(&component, &built.component)?;
        let path = format!("/v2/models/{model}/infer");

        let mut servers = vec![Server::Wasmodel];
        if let Some(cli) = &wasmtime {
            servers.push(Server::Wasmtime(cli.clone(), false));
            if settings.wasmtime_timeout {
                servers.push(Server::Wasmtime(cli.clone(), true));
            }
        }
        if let Some((workerd, jco)) = &workerd {
            let dir = scratch.path().join(format!("{model}-worker"));
            write_worker(&built.component, model, &dir, jco)
                .with_context(|| format!("writing {model}'s Worker"))?;
            servers.push(Server::Workerd(workerd.clone(), dir));
        }
        for server in servers {
            let (addr, mut process) = server.start(&component)?;
            tokio
                .block_on(wait_ready(addr, &path, &cases, &mut process))
                .with_context(|| format!("{} did not start serving {model}", server.name()))?;
            for &connections in &settings.connections {
                let round =
                    tokio.block_on(round(addr, &path, &cases, connections, requests, None))?;
                round.print(model, server.name(), connections);
                failed += round.lost + round.wrong;
            }
            // The soak: the default model, our server.
            if index == 0 && matches!(server, Server::Wasmodel) && settings.soak > 0 {
                let pid = process.0.id();
                let round =
                    tokio.block_on(round(addr, &path, &cases, 8, settings.soak, Some(pid)))?;
                round.print(model, "wasmodel serve (soak)", 8);
                failed += round.lost + round.wrong;
                round.print_memory();
            }
            process.stop("-INT")?;
        }
    }
    if failed > 0 {
        bail!("{failed} request(s) lost or answered wrongly (see the messages above)");
    }
    Ok(())
}

/// `reference.py`'s cases for `model`, with the repo's onnxruntime.
fn references(repo: &Path, scratch: &Path, model: &str) -> anyhow::Result<Cases> {
    let out = scratch.join(format!("{model}-cases.json"));
    let status = Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("benches/load/reference.py"))
        .arg(repo.join(format!("models/{model}.onnx")))
        .arg(repo.join(format!("tests/fixtures/{model}.json")))
        .arg(CASES.to_string())
        .arg("7")
        .arg(&out)
        .stdin(Stdio::null())
        .status()
        .context("cannot run .venv/bin/python (run scripts/setup.sh --tests)")?;
    if !status.success() {
        bail!("benches/load/reference.py failed for {model} ({status})");
    }
    let json: Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    let number = |v: &Value| v.as_f64().context("a number");
    let cases = json["cases"]
        .as_array()
        .context("no cases")?
        .iter()
        .map(|case| {
            let outputs = case["outputs"]
                .as_object()
                .context("no outputs")?
                .iter()
                .map(|(name, t)| {
                    let shape = t["shape"].as_array().context("shape")?;
                    let shape = shape.iter().map(|d| d.as_u64().context("a dimension"));
                    let data = t["data"].as_array().context("data")?;
                    Ok((
                        name.clone(),
                        shape.collect::<anyhow::Result<_>>()?,
                        data.iter().map(number).collect::<anyhow::Result<_>>()?,
                    ))
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(Case {
                body: Bytes::from(case["request"].to_string()),
                outputs,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Cases {
        cases,
        rtol: number(&json["tolerance"]["rtol"])?,
        atol: number(&json["tolerance"]["atol"])?,
    })
}

/// Whether an answer is onnxruntime's for the case: `Err` says how not.
fn check(cases: &Cases, case: &Case, status: hyper::StatusCode, body: &[u8]) -> Result<(), String> {
    if status != 200 {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    let answer: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let outputs = answer["outputs"].as_array().ok_or("no outputs")?;
    if outputs.len() != case.outputs.len() {
        return Err(format!(
            "{} outputs, onnxruntime gives {}",
            outputs.len(),
            case.outputs.len()
        ));
    }
    for (name, shape, expected) in &case.outputs {
        let got = outputs
            .iter()
            .find(|o| o["name"] == name.as_str())
            .ok_or_else(|| format!("no output `{name}`"))?;
        let got_shape: Vec<u64> = got["shape"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if &got_shape != shape {
            return Err(format!("`{name}` has shape {got_shape:?}, not {shape:?}"));
        }
        let data = got["data"].as_array().ok_or("no data")?;
        if data.len() != expected.len() {
            return Err(format!("`{name}` has {} elements", data.len()));
        }
        for (i, (g, e)) in data.iter().zip(expected).enumerate() {
            let g = g.as_f64().ok_or_else(|| format!("`{name}`[{i}] is {g}"))?;
            if (g - e).abs() > cases.atol + cases.rtol * e.abs() {
                return Err(format!("`{name}`[{i}] is {g}, onnxruntime {e}"));
            }
        }
    }
    Ok(())
}

enum Server {
    Wasmodel,
    /// The CLI, and whether with a request time limit.
    Wasmtime(PathBuf, bool),
    /// workerd, and the Worker's directory.
    Workerd(PathBuf, PathBuf),
}

/// workerd and jco as scripts/setup.sh --tests installs them (js/), if there.
fn workerd(repo: &Path) -> Option<(PathBuf, Jco)> {
    let bin = repo.join("js/node_modules/.bin");
    let found = bin
        .join("workerd")
        .exists()
        .then(|| Jco::at(&bin.join("jco")).ok())
        .flatten();
    match found {
        Some((jco, _)) => Some((bin.join("workerd"), jco)),
        None => {
            eprintln!(
                "no workerd and jco in js/node_modules (scripts/setup.sh --tests installs \
                 them): no Cloudflare Worker"
            );
            None
        }
    }
}

impl Server {
    fn name(&self) -> &'static str {
        match self {
            Server::Wasmodel => "wasmodel serve",
            Server::Wasmtime(_, false) => "wasmtime serve",
            Server::Wasmtime(_, true) => "wasmtime serve -W timeout",
            Server::Workerd(..) => "workerd (Worker)",
        }
    }

    fn start(&self, component: &Path) -> anyhow::Result<(SocketAddr, Process)> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut command = match self {
            Server::Wasmodel => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_wasmodel"));
                c.arg("serve").arg(component).arg("--quiet");
                c.args(["--addr", &addr.to_string()]);
                c
            }
            Server::Wasmtime(cli, timeout) => {
                let mut c = Command::new(cli);
                c.arg("serve");
                if *timeout {
                    // Epoch interruption, as wasmodel serve's --timeout.
                    c.args(["-W", "timeout=60s"]);
                }
                c.arg(component);
                c.args(["--addr", &addr.to_string()]);
                c
            }
            Server::Workerd(workerd, dir) => {
                let mut c = Command::new(workerd);
                c.arg("serve")
                    .arg(dir.join("workerd.capnp"))
                    .arg("--socket-addr")
                    .arg(format!("http={addr}"));
                c
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", self.name()))?;
        Ok((addr, Process(child)))
    }
}

/// Sends the first case until the server answers it correctly (it may be
/// compiling the component first).
async fn wait_ready(
    addr: SocketAddr,
    path: &str,
    cases: &Cases,
    process: &mut Process,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let case = &cases.cases[0];
    loop {
        if let Ok(mut sender) = connect(addr).await
            && let Ok(response) = sender.send_request(request(addr, path, case)).await
        {
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            return check(cases, case, status, &body)
                .map_err(|e| anyhow::anyhow!("its first answer is wrong: {e}"));
        }
        if let Some(status) = process.0.try_wait()? {
            bail!("it exited ({status})");
        }
        if Instant::now() > deadline {
            bail!("no answer within 180 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn request(addr: SocketAddr, path: &str, case: &Case) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(case.body.clone()))
        .expect("a valid request")
}

/// What one round of load came to.
#[derive(Default)]
struct Round {
    correct: usize,
    wrong: usize,
    lost: usize,
    unsent: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// The first few problems, to print.
    problems: Vec<String>,
    /// (requests sent before, resident bytes), when sampled.
    memory: Vec<(usize, u64)>,
}

impl Round {
    fn note(&mut self, problem: String) {
        if self.problems.len() < 5 {
            self.problems.push(problem);
        }
    }

    fn merge(&mut self, other: Round) {
        self.correct += other.correct;
        self.wrong += other.wrong;
        self.lost += other.lost;
        self.latencies.extend(other.latencies);
        self.memory.extend(other.memory);
        for p in other.problems {
            self.note(p);
        }
    }

    fn print(&self, model: &str, server: &str, connections: usize) {
        let at = |q: f64| {
            let n = self.latencies.len();
            if n == 0 {
                return f64::NAN;
            }
            let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
            self.latencies[i].as_secs_f64() * 1e3
        };
        println!(
            "{model:<11} {server:<25} {connections:>5} {:>6} {:>7} {:>5} {:>5} {:>7} {:>8.2} {:>8.2} {:>8.0}",
            self.correct + self.wrong + self.lost,
            self.correct,
            self.wrong,
            self.lost,
            self.unsent,
            at(0.50),
            at(0.99),
            self.correct as f64 / self.elapsed.as_secs_f64(),
        );
        for p in &self.problems {
            println!("    {p}");
        }
    }

    /// The resident memory's least-squares slope over the round (after its
    /// first tenth: the first requests fault pages in once), in KiB per
    /// 1000 requests, and its range.
    fn print_memory(&self) {
        let total = self.correct + self.wrong + self.lost;
        let points: Vec<(f64, f64)> = self
            .memory
            .iter()
            .filter(|&&(n, _)| n * 10 >= total)
            .map(|&(n, rss)| (n as f64, rss as f64 / 1024.0))
            .collect();
        if points.len() < 3 {
            println!("    resident memory: too few samples");
            return;
        }
        let count = points.len() as f64;
        let (mx, my) = points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / count, y + p.1 / count));
        let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(sxy, sxx), p| {
            (sxy + (p.0 - mx) * (p.1 - my), sxx + (p.0 - mx).powi(2))
        });
        let slope = if sxx > 0.0 { sxy / sxx * 1000.0 } else { 0.0 };
        let (low, high) = points
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), p| (l.min(p.1), h.max(p.1)));
        println!(
            "    wasmodel serve resident memory over {total} requests ({} samples after the \
             first tenth): {:.1} to {:.1} MiB, slope {slope:+.1} KiB per 1000 requests",
            points.len(),
            low / 1024.0,
            high / 1024.0,
        );
    }
}

/// Sends `requests` requests, cycling through the cases, from
/// `connections` keep-alive connections; if `pid` is given, reads its
/// resident memory before every hundredth of the requests.
async fn round(
    addr: SocketAddr,
    path: &str,
    cases: &Arc<Cases>,
    connections: usize,
    requests: usize,
    pid: Option<u32>,
) -> anyhow::Result<Round> {
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + ROUND_LIMIT;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (sent, cases, path) = (Arc::clone(&sent), Arc::clone(cases), path.to_owned());
        tasks.spawn(async move {
            let mut tally = Round::default();
            let mut sender = None;
            while Instant::now() < deadline {
                let i = sent.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let case = &cases.cases[i % cases.cases.len()];
                let exchange = async {
                    if sender.is_none() {
                        sender = Some(connect(addr).await?);
                    }
                    let s = sender.as_mut().expect("connected");
                    s.ready().await?;
                    let response = s.send_request(request(addr, &path, case)).await?;
                    let status = response.status();
                    let body = response.into_body().collect().await?.to_bytes();
                    anyhow::Ok((status, body))
                };
                if let Some(pid) = pid
                    && i % (requests / MEMORY_SAMPLES).max(1) == 0
                    && let Ok(rss) = proc_kb(pid, "status", "VmRSS:")
                {
                    tally.memory.push((i, rss));
                }
                let asked = Instant::now();
                match tokio::time::timeout(ANSWER_LIMIT, exchange).await {
                    Ok(Ok((status, body))) => match check(&cases, case, status, &body) {
                        Ok(()) => {
                            tally.correct += 1;
                            tally.latencies.push(asked.elapsed());
                        }
                        Err(e) => {
                            tally.wrong += 1;
                            tally.note(format!("request {i}: {e}"));
                        }
                    },
                    Ok(Err(e)) => {
                        tally.lost += 1;
                        tally.note(format!("request {i}: {e:#}"));
                        sender = None;
                    }
                    Err(_) => {
                        tally.lost += 1;
                        tally.note(format!("request {i}: no answer within {ANSWER_LIMIT:?}"));
                        sender = None;
                    }
                }
            }
            tally
        });
    }
    let mut total = Round::default();
    while let Some(tally) = tasks.join_next().await {
        total.merge(tally?);
    }
    total.elapsed = started.elapsed();
    total.latencies.sort();
    total.memory.sort();
    total.unsent = requests.saturating_sub(total.correct + total.wrong + total.lost);
    Ok(total)
}
