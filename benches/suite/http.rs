//! The suite's HTTP measurements: `wasmodel serve` with a model's HTTP
//! component against the FastAPI + uvicorn + onnxruntime server of
//! `benches/peers/fastapi_server.py` (two workers), same model, same
//! request body.
//!
//! - P3 (process start): from spawning the server to its first answered
//!   infer, polled every few milliseconds;
//! - P4: the request rate at a fixed number of keep-alive connections,
//!   bounded in time and count, from this process over 127.0.0.1; every
//!   answer must be a 200;
//! - P5: peak resident memory: `wasmodel serve` (one process) against one
//!   FastAPI worker with the model loaded; and what each further concurrent
//!   instance adds to `wasmodel serve`'s peak (a round at one connection,
//!   then one at N).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use super::Samples;
use crate::net::{Process, connect, free_port, proc_kb};

/// How long and how hard to load each server.
#[derive(Clone, Copy)]
pub struct Load {
    pub seconds: f64,
    pub connections: usize,
    /// At most this many requests per round.
    pub max_requests: usize,
}

/// What one server is asked, over and over.
pub struct Target {
    pub method: hyper::Method,
    pub path: String,
    pub body: Bytes,
    /// The binary tensor data extension: the length of the JSON header
    /// that starts `body` (sent as `Inference-Header-Content-Length`).
    pub header_length: Option<usize>,
}

/// One round of load.
pub struct Round {
    pub rate: f64,
    pub latencies: Samples,
    pub errors: usize,
}

/// What was measured of one server.
pub struct Measured {
    /// Spawn to first 200, per start.
    pub start: Samples,
    /// At `Load::connections`.
    pub round: Round,
    /// The same, with the other target (the same inputs in binary), if any.
    pub other_round: Option<Round>,
    /// Peak resident set, bytes: the whole `wasmodel serve`, or the largest
    /// FastAPI worker.
    pub peak_rss: u64,
    /// `wasmodel serve` only: peak after one connection, then after N.
    pub rss_one: u64,
    /// Proportional set size right after the load, bytes (each page shared
    /// by several mappings or processes split among them), of the same
    /// process as `peak_rss`.
    pub pss: u64,
    /// `wasmodel serve` only: its resident memory right after the load, by
    /// kind of mapping, largest first.
    pub rss_by_kind: Vec<(&'static str, u64)>,
}

/// Which server to start.
pub enum Server<'a> {
    Wasmodel {
        component: &'a Path,
    },
    FastApi {
        repo: &'a Path,
        model: &'a Path,
        name: &'a str,
    },
}

/// Starts the server `starts + 1` times (the first, untimed, compiles and
/// caches what it needs), timing each later start to its first answer; then
/// loads the last one, with `target` and then with `other`, if any.
pub fn measure(
    tokio: &tokio::runtime::Runtime,
    server: Server<'_>,
    target: &Target,
    other: Option<&Target>,
    load: Load,
    starts: usize,
) -> anyhow::Result<Measured> {
    let mut start = Samples::default();
    let mut spawns = 0..=starts;
    let (addr, mut process) = loop {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let spawned = Instant::now();
        let mut process = Process(server.spawn(port)?);
        let took = tokio.block_on(wait_ready(addr, target, &mut process.0, spawned))?;
        let first = spawns.next() == Some(0);
        if !first {
            start.0.push(took);
        }
        if start.0.len() == starts {
            break (addr, process);
        }
        process.stop(server.stop_signal())?;
    };
    let is_wasmodel = matches!(server, Server::Wasmodel { .. });

    // One connection first, so the peak after it is what one instance
    // costs (`wasmodel serve` only), then the measured round.
    let mut rss_one = 0;
    if is_wasmodel && load.connections > 1 {
        tokio.block_on(run(
            addr,
            target,
            Load {
                connections: 1,
                seconds: load.seconds.min(1.0),
                ..load
            },
        ))?;
        rss_one = peak_rss(process.0.id())?;
    }
    let round = tokio.block_on(run(addr, target, load))?;
    let other_round = other
        .map(|other| tokio.block_on(run(addr, other, load)))
        .transpose()?;
    // The whole `wasmodel serve`, or the FastAPI worker that grew most.
    let mut rss_by_kind = Vec::new();
    let (peak_rss, pss) = if is_wasmodel {
        let pid = process.0.id();
        rss_by_kind = resident_by_kind(pid)?;
        (peak_rss(pid)?, pss(pid)?)
    } else {
        let mut largest = (0, 0);
        for worker in workers(process.0.id())? {
            largest = largest.max((peak_rss(worker)?, pss(worker)?));
        }
        if largest.0 == 0 {
            bail!("the FastAPI server has no workers");
        }
        largest
    };
    process.stop(server.stop_signal())?;
    Ok(Measured {
        start,
        round,
        other_round,
        peak_rss,
        rss_one,
        pss,
        rss_by_kind,
    })
}

impl Server<'_> {
    /// `wasmodel serve` stops on Ctrl-C; uvicorn's supervisor on SIGTERM
    /// (and stops its workers).
    fn stop_signal(&self) -> &'static str {
        match self {
            Server::Wasmodel { .. } => "-INT",
            Server::FastApi { .. } => "-TERM",
        }
    }

    fn spawn(&self, port: u16) -> anyhow::Result<Child> {
        let addr = format!("127.0.0.1:{port}");
        let mut command = match self {
            Server::Wasmodel { component } => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_wasmodel"));
                c.arg("serve")
                    .arg(component)
                    .args(["--addr", &addr, "--quiet"]);
                c
            }
            Server::FastApi { repo, model, name } => {
                let mut c = Command::new(repo.join(".venv/bin/python"));
                c.args(["-m", "uvicorn", "fastapi_server:app", "--app-dir"])
                    .arg(repo.join("benches/peers"))
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args([
                        "--workers",
                        "2",
                        "--no-access-log",
                        "--log-level",
                        "warning",
                    ])
                    .env("WASMODEL_PEER_MODEL", model)
                    .env("WASMODEL_PEER_NAME", name);
                c
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the server (run scripts/setup.sh --bench)")
    }
}

/// Asks `target` every 2 ms until it answers 200; the time since `spawned`.
pub(crate) async fn wait_ready(
    addr: SocketAddr,
    target: &Target,
    child: &mut Child,
    spawned: Instant,
) -> anyhow::Result<Duration> {
    let deadline = spawned + Duration::from_secs(120);
    loop {
        if let Ok(mut sender) = connect(addr).await
            && let Ok(response) = sender.send_request(request(addr, target)).await
        {
            let status = response.status();
            response.into_body().collect().await?;
            if status == 200 {
                return Ok(spawned.elapsed());
            }
            bail!("the server answered {status} to its first request");
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited ({status}) before answering");
        }
        if Instant::now() > deadline {
            bail!("the server did not answer within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn request(addr: SocketAddr, target: &Target) -> hyper::Request<Full<Bytes>> {
    let builder = hyper::Request::builder()
        .method(target.method.clone())
        .uri(&target.path)
        .header(hyper::header::HOST, addr.to_string());
    let builder = match target.header_length {
        None => builder.header(hyper::header::CONTENT_TYPE, "application/json"),
        Some(length) => builder
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
            .header("inference-header-content-length", length.to_string()),
    };
    builder
        .body(Full::new(target.body.clone()))
        .expect("a valid request")
}

/// Drives `target` from `load.connections` keep-alive connections for the
/// set time or count, after a short warm-up.
async fn run(addr: SocketAddr, target: &Target, load: Load) -> anyhow::Result<Round> {
    // Warm-up: the first requests of a process touch code for the first
    // time. At most 50 requests or a second.
    {
        let mut sender = connect(addr).await?;
        let until = Instant::now() + Duration::from_secs(1);
        for _ in 0..50 {
            if Instant::now() > until {
                break;
            }
            sender.ready().await?;
            let response = sender.send_request(request(addr, target)).await?;
            response.into_body().collect().await?;
        }
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(load.seconds);
    let budget = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(load.max_requests));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..load.connections {
        let mut sender = connect(addr).await?;
        let budget = budget.clone();
        let template = request(addr, target);
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline
                && budget
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
            {
                if sender.ready().await.is_err() {
                    errors += 1;
                    break;
                }
                let sent = Instant::now();
                match sender.send_request(clone_request(&template)).await {
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
    let elapsed = started.elapsed();
    Ok(Round {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies: Samples(latencies),
        errors,
    })
}

fn clone_request(request: &hyper::Request<Full<Bytes>>) -> hyper::Request<Full<Bytes>> {
    let mut clone = hyper::Request::new(request.body().clone());
    *clone.method_mut() = request.method().clone();
    *clone.uri_mut() = request.uri().clone();
    *clone.headers_mut() = request.headers().clone();
    clone
}

/// A process's peak resident set (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    proc_kb(pid, "status", "VmHWM:")
}

/// A process's proportional set size now (`Pss` of `smaps_rollup`), in
/// bytes.
fn pss(pid: u32) -> anyhow::Result<u64> {
    proc_kb(pid, "smaps_rollup", "Pss:")
}

/// A process's resident memory now, by kind of mapping (`/proc/PID/smaps`):
/// the `wasmodel` executable itself, compiled components (`.cwasm` files of
/// the compile cache), memory images of components, and anonymous memory
/// (instances' linear memories, heaps, stacks).
fn resident_by_kind(pid: u32) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .with_context(|| format!("cannot read /proc/{pid}/smaps (Linux only)"))?;
    let mut kinds: Vec<(&'static str, u64)> = Vec::new();
    let mut kind = "other";
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range, perms, offset, dev, inode, path.
            let path = fields.nth(4).unwrap_or("");
            kind = if path.is_empty() || path.starts_with("[heap]") || path.starts_with("[stack") {
                "anonymous (instances, heaps, stacks)"
            } else if path.ends_with(".cwasm") {
                "compiled components"
            } else if path.contains("memfd:") {
                "memory images"
            } else if path.ends_with("/wasmodel") {
                "the wasmodel executable"
            } else {
                "libraries and other"
            };
        } else if first == "Rss:" {
            let kb: u64 = fields.next().unwrap_or("0").parse().unwrap_or(0);
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, bytes)) => *bytes += kb * 1024,
                None => kinds.push((kind, kb * 1024)),
            }
        }
    }
    kinds.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    Ok(kinds)
}

/// The uvicorn supervisor's worker processes (Python's multiprocessing
/// spawns them with `spawn_main` on their command line; its resource
/// tracker is not one).
fn workers(supervisor: u32) -> anyhow::Result<Vec<u32>> {
    let mut workers = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the command's `)`.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if parent == Some(supervisor) && String::from_utf8_lossy(&cmdline).contains("spawn_main") {
            workers.push(pid);
        }
    }
    Ok(workers)
}
