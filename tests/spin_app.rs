//! A user's own Spin app (`examples/spin-app`), which imports a model's
//! predictor: plugged with the iris component the way `wac plug` does (its
//! library) into one component that the real `wasmtime serve` runs; and,
//! where the Spin CLI is, run by `spin up` with the model wired in as a
//! component dependency by the example's spin.toml.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wac_graph::{CompositionGraph, EncodeOptions, types::Package};

use crate::serve::{TestServer, spawn_wasmtime_serve, wasmtime_cli};
use crate::support::{component, fixture, repo};

/// The app as cargo builds it for wasm32-wasip1 (`crates/test-guests`).
const APP_MODULE: &[u8] = wasmodel_test_guests::EXAMPLE_SPIN_APP;

const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// The app's module as a component, through the same WASI adapter Spin
/// and `wasmodel build --http` use.
fn app_component() -> Vec<u8> {
    wit_component::ComponentEncoder::default()
        .module(APP_MODULE)
        .and_then(|encoder| {
            encoder.adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
            )
        })
        .and_then(|mut encoder| encoder.encode())
        .expect("the app's module wraps as a component")
}

/// `wac plug --plug model.wasm app.wasm`.
fn plug(app: Vec<u8>, model: Vec<u8>) -> Vec<u8> {
    let mut graph = CompositionGraph::new();
    let app = Package::from_bytes("app", None, app, graph.types_mut()).unwrap();
    let app = graph.register_package(app).unwrap();
    let model = Package::from_bytes("model", None, model, graph.types_mut()).unwrap();
    let model = graph.register_package(model).unwrap();
    wac_graph::plug(&mut graph, vec![model], app).unwrap();
    graph.encode(EncodeOptions::default()).unwrap()
}

/// Each of onnxruntime's iris rows asked of the app, its species checked.
fn assert_app_answers_like_onnxruntime(server: &TestServer) {
    let f = fixture("iris");
    let (features, labels) = (&f.inputs[0], &f.outputs[0]);
    let wasmodel::TensorData::F32(x) = &features.data else {
        panic!("iris takes f32")
    };
    let wasmodel::TensorData::I64(labels) = &labels.data else {
        panic!("iris's label is i64")
    };
    for (row, label) in x.chunks(4).zip(labels) {
        let flower = json!({
            "sepal_length": row[0], "sepal_width": row[1], "petal_length": row[2], "petal_width": row[3],
        });
        let answer = server.post_json("/iris", &flower);
        assert_eq!(answer.status, 200, "{answer:?}");
        let body = answer.json();
        assert_eq!(
            body["species"], SPECIES[*label as usize],
            "{flower} -> {body}"
        );
        assert!(
            body["model"]
                .as_str()
                .unwrap()
                .starts_with("iris 1 sha256:"),
            "{body}"
        );
    }
    let bad = server.post_json("/iris", &json!({ "sepal_length": "long" }));
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[test]
fn the_users_app_plugged_with_a_model_runs_under_wasmtime_serve() {
    let composed = plug(app_component(), component("iris").to_vec());
    // One component, importing only what the proxy world gives.
    let interfaces = wasmodel::inspect::Interfaces::of(&composed).unwrap();
    assert!(
        interfaces.imports.iter().all(|i| i.starts_with("wasi:")),
        "{:?}",
        interfaces.imports
    );

    let Some(wasmtime) = wasmtime_cli() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("app.wasm");
    std::fs::write(&wasm, &composed).unwrap();
    let (mut child, addr) = spawn_wasmtime_serve(&wasmtime, &wasm);
    let server = TestServer::at(addr);
    assert_app_answers_like_onnxruntime(&server);
    let _ = child.kill();
    let _ = child.wait();
}

#[path = "../benches/common/spin_cli.rs"]
mod find_spin;

/// The Spin CLI (`benches/common/spin_cli.rs` says where it is looked
/// for).
pub(crate) fn spin_cli() -> Option<PathBuf> {
    find_spin::find(repo())
}

/// `spin up` of a manifest, killed when dropped with the `spin trigger
/// http` it starts: they are a process group of their own, and killing
/// `spin up` alone left its trigger serving (and holding 550 MB) after the
/// tests.
pub(crate) struct SpinUp(Child);

impl Drop for SpinUp {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `spin up --from manifest` on a free port and waits (Spin compiles
/// a new component first: minutes on 2 cores) until `probe` answers.
pub(crate) fn spin_up(spin: &Path, manifest: &Path, probe: &str) -> (SpinUp, TestServer) {
    spin_up_from(spin, manifest.as_os_str(), &[], probe)
}

/// [`spin_up`] of what `from` names (a manifest, or an app's reference in
/// a registry), with `args` added.
pub(crate) fn spin_up_from(
    spin: &Path,
    from: &std::ffi::OsStr,
    args: &[&str],
    probe: &str,
) -> (SpinUp, TestServer) {
    let addr = crate::support::free_local_addr();
    let mut child = Command::new(spin)
        .process_group(0)
        .arg("up")
        .arg("--from")
        .arg(from)
        .args(args)
        .args(["--listen", &addr.to_string()])
        .env("SPIN_DISABLE_TELEMETRY", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let server = TestServer::at(addr);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut said = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut said);
            panic!("spin up exited ({status}) before serving:\n{said}");
        }
        if std::net::TcpStream::connect(addr).is_ok() {
            // Listening means loaded: any answer will do.
            server.get(probe);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "spin up did not serve within 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    (SpinUp(child), server)
}

#[test]
fn spin_up_runs_the_users_app_with_the_model_as_a_dependency() {
    let Some(spin) = spin_cli() else {
        eprintln!(
            "SKIPPED: no Spin CLI (not on PATH, no ../shared/tools/spin): Spin is on no registry"
        );
        return;
    };
    // The example's manifest as it is, beside the files it names.
    let dir = tempfile::tempdir().unwrap();
    let manifest: Value = toml::from_str::<Value>(
        &std::fs::read_to_string(repo().join("examples/spin-app/spin.toml")).unwrap(),
    )
    .unwrap();
    let source = manifest["component"]["app"]["source"].as_str().unwrap();
    let model =
        manifest["component"]["app"]["dependencies"]["wasmodel:model/predictor@0.3.0"]["path"]
            .as_str()
            .unwrap();
    std::fs::copy(
        repo().join("examples/spin-app/spin.toml"),
        dir.path().join("spin.toml"),
    )
    .unwrap();
    for (path, bytes) in [
        (source, app_component()),
        (model, component("iris").to_vec()),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let (_spin, server) = spin_up(&spin, &dir.path().join("spin.toml"), "/iris");
    assert_app_answers_like_onnxruntime(&server);
}
