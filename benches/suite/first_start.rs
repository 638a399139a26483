//! P10 first start on each host: a model's HTTP component served by
//! `wasmodel serve`, by the wasmtime CLI's `wasmtime serve` and by `spin
//! up` (Spin 4.0.2, `../shared/tools/spin`), each with nothing compiled
//! before: every start gets a directory of its own as its home and cache
//! (`HOME`, `XDG_CACHE_HOME`, `wasmodel serve --cache-dir`), so each host
//! compiles the whole component. Timed from spawning the host to its first
//! answered infer. It is what a developer waits for after each `spin up`,
//! and what a platform that compiles on deploy or on a cold node pays
//! (issue 31). A host that is not installed is reported as such.

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
    Wasmtime,
    Spin,
}

const HOSTS: [Host; 3] = [Host::Wasmodel, Host::Wasmtime, Host::Spin];

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::Wasmodel => "wasmodel serve",
            Host::Wasmtime => "wasmtime serve",
            Host::Spin => "spin up",
        }
    }

    /// Its program, if installed.
    fn program(self, repo: &Path) -> Option<PathBuf> {
        match self {
            Host::Wasmodel => Some(PathBuf::from(env!("CARGO_BIN_EXE_wasmodel"))),
            Host::Wasmtime => wasmtime_cli::find(repo),
            Host::Spin => spin_cli::find(repo),
        }
    }
}

/// The hosts' names, in the order of [`Starts`].
pub fn host_names() -> [&'static str; 3] {
    HOSTS.map(Host::name)
}

/// Each host's starts, or why it was not measured.
pub type Starts = [Result<Samples, String>; 3];

/// Starts each host `starts` times on `component` (a model's HTTP
/// component), nothing cached, and times each to its first answer to
/// `target`.
pub fn measure(
    tokio: &tokio::runtime::Runtime,
    repo: &Path,
    scratch: &Path,
    component: &Path,
    target: &Target,
    starts: usize,
) -> Starts {
    HOSTS.map(|host| {
        let program = host
            .program(repo)
            .ok_or_else(|| format!("{}: not installed", host.name()))?;
        (0..starts)
            .map(|start| {
                let home = scratch.join(format!("first-start-{start}"));
                let _ = std::fs::remove_dir_all(&home);
                std::fs::create_dir_all(&home)?;
                let took = start_once(tokio, host, &program, component, &home, target);
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
    host: Host,
    program: &Path,
    component: &Path,
    home: &Path,
    target: &Target,
) -> anyhow::Result<std::time::Duration> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = Command::new(program);
    match host {
        Host::Wasmodel => {
            command
                .arg("serve")
                .arg(component)
                .args(["--addr", &addr.to_string(), "--quiet", "--cache-dir"])
                .arg(home.join("cache"));
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
    tokio.block_on(wait_ready(addr, target, &mut group.0, spawned))
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
