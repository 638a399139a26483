//! Request rate of `wasmodel serve`: the default model's HTTP component
//! answering one-row Open Inference Protocol infers, against a hello-world
//! spin-sdk component (`crates/hello-http`) served the same way, side by
//! side in the same run, so the ratio holds on a noisy machine.
//!
//! ```text
//! cargo bench --bench serve [-- --seconds 5 --connections 4 --rounds 3]
//! ```
//!
//! Each server is the real `wasmodel serve` binary in its own process; the
//! load comes from this process over keep-alive connections on 127.0.0.1,
//! bounded in time. Rounds alternate the two servers.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmodel::{CompileCache, ComponentBuilder, Flavour, Runtime, RuntimeOptions};
use wasmtime_wasi_http::io::TokioIo;

/// `crates/hello-http`, built for wasm32-wasip1 by build.rs.
const HELLO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hello-http.wasm"));

/// Run-time settings, from the command line.
#[derive(Clone, Copy)]
struct Settings {
    seconds: f64,
    connections: usize,
    rounds: usize,
}

/// What one server is asked, over and over.
struct Target {
    label: &'static str,
    component: PathBuf,
    method: hyper::Method,
    path: &'static str,
    body: &'static str,
}

#[derive(Default)]
struct Measured {
    rates: Vec<f64>,
    latencies: Vec<Duration>,
    errors: usize,
}

fn main() -> anyhow::Result<()> {
    let settings = parse_args()?;
    let dir = tempfile::tempdir()?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));

    eprintln!("Building the components...");
    let runtime = Runtime::new(RuntimeOptions {
        cache: CompileCache::default_dir().map(CompileCache::new),
        ..RuntimeOptions::default()
    })?;
    let onnx = std::fs::read(repo.join("models/iris.onnx"))?;
    let iris = ComponentBuilder::new("iris")
        .flavour(Flavour::Http)
        .build(&runtime, &onnx)?;
    let targets = [
        Target {
            label: "hello world (GET /)",
            component: write(
                dir.path(),
                "hello-http.wasm",
                &wasmodel::http_component_from_module(HELLO)?,
            )?,
            method: hyper::Method::GET,
            path: "/",
            body: "",
        },
        Target {
            label: "iris, 1-row OIP infer",
            component: write(dir.path(), "iris-http.wasm", &iris.component)?,
            method: hyper::Method::POST,
            path: "/v2/models/iris/infer",
            body: r#"{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}"#,
        },
    ];

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut measured: Vec<Measured> = targets.iter().map(|_| Measured::default()).collect();
    for round in 1..=settings.rounds {
        for (target, measured) in targets.iter().zip(&mut measured) {
            eprintln!("round {round}/{}: {}", settings.rounds, target.label);
            let mut server = Server::start(&target.component)?;
            let result = tokio.block_on(load(server.addr, target, settings));
            server.stop()?;
            let (count, mut latencies, errors, elapsed) = result?;
            measured.rates.push(count as f64 / elapsed.as_secs_f64());
            measured.latencies.append(&mut latencies);
            measured.errors += errors;
        }
    }

    println!(
        "\nwasmodel serve, {} keep-alive connections, {} round(s) of {:.0} s per server:\n",
        settings.connections, settings.rounds, settings.seconds
    );
    println!(
        "{:<24} {:>10} {:>9} {:>9} {:>7}",
        "component", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (target, m) in targets.iter().zip(&mut measured) {
        m.latencies.sort();
        println!(
            "{:<24} {:>10.0} {:>9.2} {:>9.2} {:>7}",
            target.label,
            median(&m.rates),
            percentile(&m.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&m.latencies, 0.99).as_secs_f64() * 1e3,
            m.errors
        );
    }
    let ratios: Vec<f64> = measured[1]
        .rates
        .iter()
        .zip(&measured[0].rates)
        .map(|(model, hello)| model / hello)
        .collect();
    println!(
        "\nrequest rate, iris ÷ hello world: {:.2} (median of {} rounds: {})",
        median(&ratios),
        ratios.len(),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if measured.iter().any(|m| m.errors > 0) {
        bail!("some requests failed (see the errors column)");
    }
    Ok(())
}

fn parse_args() -> anyhow::Result<Settings> {
    let mut settings = Settings {
        seconds: 5.0,
        connections: 4,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => settings.seconds = value()?.parse()?,
            "--connections" => settings.connections = value()?.parse()?,
            "--rounds" => settings.rounds = value()?.parse()?,
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            other => bail!("unknown argument {other}; use --seconds S --connections N --rounds R"),
        }
    }
    if settings.seconds <= 0.0 || settings.connections == 0 || settings.rounds == 0 {
        bail!("--seconds, --connections and --rounds must be positive");
    }
    Ok(settings)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// A `wasmodel serve` process on a free port.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(component: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmodel"))
            .arg("serve")
            .arg(component)
            .args(["--addr", "127.0.0.1:0", "--quiet"])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start wasmodel serve")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("Listening on http://")
            .with_context(|| format!("wasmodel serve said {line:?}"))?
            .parse()?;
        Ok(Server { child, addr })
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("wasmodel serve exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drives `target` from `connections` keep-alive connections for the set
/// time, after a short warm-up. Returns (successes, their latencies,
/// failures, elapsed).
async fn load(
    addr: SocketAddr,
    target: &Target,
    settings: Settings,
) -> anyhow::Result<(usize, Vec<Duration>, usize, Duration)> {
    let (method, path, body) = (target.method.clone(), target.path, target.body);
    let request = move || {
        hyper::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("a valid request")
    };
    // Warm-up: the first requests of a process touch code for the first time.
    {
        let mut sender = connect(addr).await?;
        for _ in 0..100 {
            sender.ready().await?;
            let response = sender.send_request(request()).await?;
            response.into_body().collect().await?;
        }
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(settings.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..settings.connections {
        let mut sender = connect(addr).await?;
        let request = request.clone();
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                if sender.ready().await.is_err() {
                    errors += 1;
                    break;
                }
                let sent = Instant::now();
                match sender.send_request(request()).await {
                    Ok(response) if response.status() == 200 => {
                        if response.into_body().collect().await.is_ok() {
                            latencies.push(sent.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (mut l, e) = done?;
        latencies.append(&mut l);
        errors += e;
    }
    Ok((latencies.len(), latencies, errors, started.elapsed()))
}

async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
