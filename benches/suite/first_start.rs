//! P10 first start on each host, each with nothing compiled before: every
//! start gets a directory of its own as its home and cache (`HOME`,
//! `XDG_CACHE_HOME`, `wasmodel serve --cache-dir`), so each host compiles
//! the whole component.
//! - HTTP hosts: a model's HTTP component served by `wasmodel serve` (with
//!   Cranelift, its default, and with `--compiler winch`, wasmtime's
//!   baseline compiler), by the wasmtime CLI's `wasmtime serve` and by
//!   `spin up` (Spin 4.0.2,
//!   `../shared/tools/spin`), and as a Cloudflare Worker by workerd (the
//!   Workers runtime, js/node_modules; `wasmodel build --target
//!   cloudflare`), timed from spawning the host to its first answered
//!   infer;
//! - embedding hosts: the model's predictor component loaded by the Python
//!   package on wasmtime-py and by jco in Node (its transpile, then V8's
//!   compile), through the P7 peers (`benches/peers/wasmodel_python.py`,
//!   `wasmodel_node.mjs`) asked for one predict: timed from spawning the
//!   interpreter to its exit, the first answer printed.
//!
//! It is what a developer waits for after each `spin up`, and what a
//! platform that compiles on deploy or on a cold node pays (issue 31). A
//! host that is not installed is reported as such.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;

use super::Samples;
use super::http::{Target, wait_ready};
use crate::net::free_port;

#[path = "../common/spin_cli.rs"]
mod spin_cli;
#[path = "../common/wasmtime_cli.rs"]
mod wasmtime_cli;

/// The hosts, in the order of the table.
#[derive(Clone, Copy)]
enum Host {
    Wasmodel,
    WasmodelWinch,
    Wasmtime,
    Spin,
    Workerd,
    WasmtimePy,
    Node,
}

const HOSTS: [Host; 7] = [
    Host::Wasmodel,
    Host::WasmodelWinch,
    Host::Wasmtime,
    Host::Spin,
    Host::Workerd,
    Host::WasmtimePy,
    Host::Node,
];

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::Wasmodel => "wasmodel serve",
            Host::WasmodelWinch => "... --compiler winch",
            Host::Wasmtime => "wasmtime serve",
            Host::Spin => "spin up",
            Host::Workerd => "workerd (Worker)",
            Host::WasmtimePy => "wasmtime-py",
            Host::Node => "Node (jco)",
        }
    }

    /// Its program, if installed.
    fn program(self, repo: &Path) -> Option<PathBuf> {
        match self {
            Host::Wasmodel | Host::WasmodelWinch => {
                Some(PathBuf::from(env!("CARGO_BIN_EXE_wasmodel")))
            }
            Host::Wasmtime => wasmtime_cli::find(repo),
            Host::Spin => spin_cli::find(repo),
            Host::Workerd => Some(repo.join("js/node_modules/.bin/workerd")).filter(|p| p.exists()),
            Host::WasmtimePy => Some(repo.join(".venv/bin/python")).filter(|p| p.exists()),
            Host::Node => Some(PathBuf::from("node")),
        }
    }
}

/// The hosts' names, in the order of [`Starts`].
pub fn host_names() -> [&'static str; 7] {
    HOSTS.map(Host::name)
}

/// Each host's starts, or why it was not measured.
pub type Starts = [Result<Samples, String>; 7];

/// What a model's first starts run.
pub struct Subject<'a> {
    /// Its HTTP component, for the HTTP hosts.
    pub http_component: &'a Path,
    /// Its Cloudflare Worker's directory, for workerd, or why there is none.
    pub worker: Result<&'a Path, &'a str>,
    /// The infer the HTTP hosts must answer.
    pub target: &'a Target,
    /// Its predictor component, for the embedding hosts.
    pub predictor: &'a Path,
    /// The same inputs as an Open Inference Protocol request body, for the
    /// embedding hosts' peers.
    pub inputs_json: &'a Path,
}

/// Starts each host `starts` times on `subject`, nothing cached, and times
/// each to its first answer.
pub fn measure(
    tokio: &tokio::runtime::Runtime,
    repo: &Path,
    scratch: &Path,
    subject: &Subject<'_>,
    starts: usize,
) -> Starts {
    HOSTS.map(|host| {
        let program = host
            .program(repo)
            .ok_or_else(|| format!("{}: not installed", host.name()))?;
        if let (Host::Workerd, Err(why)) = (host, subject.worker) {
            return Err(format!("{}: {why}", host.name()));
        }
        (0..starts)
            .map(|start| {
                let home = scratch.join(format!("first-start-{start}"));
                let _ = std::fs::remove_dir_all(&home);
                std::fs::create_dir_all(&home)?;
                let took = start_once(tokio, repo, host, &program, subject, &home);
                let _ = std::fs::remove_dir_all(&home);
                took
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Samples)
            .map_err(|e| format!("{}: {e:#}", host.name()))
    })
}

/// One start of `host` with `home` as its home and cache.
fn start_once(
    tokio: &tokio::runtime::Runtime,
    repo: &Path,
    host: Host,
    program: &Path,
    subject: &Subject<'_>,
    home: &Path,
) -> anyhow::Result<std::time::Duration> {
    let component = subject.http_component;
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = Command::new(program);
    match host {
        Host::Wasmodel | Host::WasmodelWinch => {
            command
                .arg("serve")
                .arg(component)
                .args(["--addr", &addr.to_string(), "--quiet", "--cache-dir"])
                .arg(home.join("cache"));
            if matches!(host, Host::WasmodelWinch) {
                command.args(["--compiler", "winch"]);
            }
        }
        Host::Wasmtime => {
            command
                .args(["serve", "--addr", &addr.to_string()])
                .arg(component);
        }
        Host::Spin => {
            let manifest = home.join("spin.toml");
            std::fs::write(&manifest, spin_manifest(component))?;
            command
                .args(["up", "--from"])
                .arg(&manifest)
                .args(["--listen", &addr.to_string()])
                .env("SPIN_DISABLE_TELEMETRY", "1");
        }
        Host::Workerd => {
            let dir = subject.worker.map_err(|why| anyhow::anyhow!("{why}"))?;
            command
                .arg("serve")
                .arg(dir.join("workerd.capnp"))
                .arg("--socket-addr")
                .arg(format!("http={addr}"));
        }
        Host::WasmtimePy => {
            return start_embedded(repo, program, "wasmodel_python.py", subject, home);
        }
        Host::Node => return start_embedded(repo, program, "wasmodel_node.mjs", subject, home),
    }
    // Its own process group: `spin up` starts `spin trigger http`, which
    // must stop with it.
    let child = command
        .process_group(0)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let mut group = Group(child);
    let spawned = Instant::now();
    tokio.block_on(wait_ready(addr, subject.target, &mut group.0, spawned))
}

/// One start of an embedding host: its P7 peer, asked for one predict of
/// the predictor component, with `home` as its home and cache (the Python
/// package caches compiled components under `XDG_CACHE_HOME`).
fn start_embedded(
    repo: &Path,
    program: &Path,
    peer: &str,
    subject: &Subject<'_>,
    home: &Path,
) -> anyhow::Result<std::time::Duration> {
    let spawned = Instant::now();
    let out = Command::new(program)
        .arg(repo.join("benches/peers").join(peer))
        .arg(subject.predictor)
        .arg(subject.inputs_json)
        .args(["--runs", "1", "--warmup", "0"])
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("TMPDIR", home)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let took = spawned.elapsed();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!(
            "{peer}: {}",
            stderr.lines().last().unwrap_or("no message").trim()
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).with_context(|| format!("{peer} printed no JSON"))?;
    anyhow::ensure!(
        report["outputs"].as_array().is_some_and(|o| !o.is_empty()),
        "{peer} printed no outputs"
    );
    Ok(took)
}

/// A Spin app of one component, every route to it. Not `wasmodel spin
/// add`'s manifest (`spin_manifest::add_model`): that one names the
/// component after the model, and a Spin component id cannot have the
/// underscore of `wine_mlp` or `mobilenet_v2`.
fn spin_manifest(component: &Path) -> String {
    format!(
        "spin_manifest_version = 2\n\n[application]\nname = \"first-start\"\n\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"model\"\n\n\
         [component.model]\nsource = {:?}\nallowed_outbound_hosts = []\n",
        component.display().to_string()
    )
}

/// A host's process group, killed when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}
