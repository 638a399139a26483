//! `wasmodel build --target fastly`: the module under Viceroy, Fastly's own
//! local Compute server (built from crates.io by scripts/setup.sh --tests),
//! answering the Open Inference Protocol as `wasmodel serve` does, over a
//! real socket.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wasmodel::{ComponentBuilder, Flavour};

use crate::serve::{TestServer, assert_infer_matches_onnxruntime, send, triton_client};
use crate::support::{cache_dir, model_path, ok, repo, runtime};

/// Viceroy: setup's build in `.tools/bin`, else one on PATH. `None` (the
/// caller skips) only outside CI.
fn viceroy() -> Option<PathBuf> {
    let built = repo().join(".tools/bin/viceroy");
    if built.exists() {
        return Some(built);
    }
    if let Ok(found) = Command::new("viceroy").arg("--version").output()
        && found.status.success()
    {
        return Some(PathBuf::from("viceroy"));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no viceroy in CI: scripts/setup.sh --tests should have built it"
    );
    eprintln!("SKIPPED: no viceroy (run scripts/setup.sh --tests)");
    None
}

/// Viceroy serving a module on a free port; killed when dropped.
struct Viceroy {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Viceroy {
    fn serve(viceroy: &Path, module: &Path) -> Viceroy {
        let addr = crate::support::free_local_addr();
        let mut child = Command::new(viceroy)
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg(module)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", viceroy.display()));
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        // Viceroy compiles the module before it listens: the engine's
        // ~19 MB of code takes tens of seconds on 2 cores.
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("viceroy exited ({status}):\n{}", log.lock().unwrap());
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "viceroy did not listen within 5 minutes:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "viceroy listened on {addr} after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Viceroy { child, addr, log }
    }
}

impl Drop for Viceroy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("viceroy said:\n{}", self.log.lock().unwrap());
        }
    }
}

#[test]
fn the_module_answers_like_wasmodel_serve_under_viceroy() {
    let Some(viceroy) = viceroy() else {
        return;
    };
    // The command line, end to end, for iris.
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("iris-fastly.wasm");
    let (stdout, _) = ok(Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .arg("build")
        .arg(repo().join("models/iris.onnx"))
        .args(["--target", "fastly", "-o"])
        .arg(&module)
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .unwrap());
    assert!(
        stdout.contains("Built the Fastly Compute module"),
        "{stdout}"
    );
    assert!(stdout.contains("fastly_http_req#"), "{stdout}");
    let bytes = std::fs::read(&module).unwrap();
    // A core module (version 1), not a component.
    assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0");
    let record = wasmodel::read_model_record(&bytes).unwrap();
    assert_eq!(record.name, "iris");
    // The commands that run components say what it is instead.
    let inspect = Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .arg("inspect")
        .arg(&module)
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&inspect.stderr);
    assert_eq!(inspect.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("it is a Fastly Compute module (model iris version 1)"),
        "{stderr}"
    );

    let viceroy_iris = Viceroy::serve(&viceroy, &module);
    let server = TestServer::at(viceroy_iris.addr);
    let meta = server.get("/v2/models/iris");
    assert_eq!(meta.status, 200, "{meta:?}");
    assert_eq!(
        meta.json()["outputs"][1]["parameters"]["class_labels"],
        "[0,1,2]"
    );
    assert_eq!(server.get("/v2/health/ready").status, 200);
    assert_eq!(server.get("/v2").json()["name"], "wasmodel");
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    // With the version in the path, and a query string, as clients send.
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/versions/1/infer?x=1");
    // tritonclient with its default options (binary tensors), unmodified.
    triton_client(server.addr, "iris");

    // The protocol's errors, as `wasmodel serve` gives them.
    let wrong = server.post_json(
        "/v2/models/iris/infer",
        &json!({"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32",
                            "data": [1.0, 2.0, 3.0]}]}),
    );
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert!(wrong.error().contains("features"), "{wrong:?}");
    assert_eq!(server.get("/v2/models/no-such-model").status, 404);
    let malformed = send(
        server.addr,
        "POST",
        "/v2/models/iris/infer",
        &[("content-type", "application/json")],
        b"{\"inputs\": [",
    );
    assert_eq!(malformed.status, 400, "{malformed:?}");
    let wrong_method = server.get("/v2/models/iris/infer");
    assert_eq!(wrong_method.status, 405, "{wrong_method:?}");
    // The body limit (64 MiB, as `wasmodel serve`'s default), declared or
    // chunked: the module stops reading one byte past it, within Fastly's
    // 128 MB of memory.
    let big = vec![b' '; (64 << 20) + 1];
    let json = ("content-type", "application/json");
    for headers in [&[json][..], &[json, ("transfer-encoding", "chunked")][..]] {
        let huge = send(server.addr, "POST", "/v2/models/iris/infer", headers, &big);
        assert_eq!(huge.status, 413, "{headers:?}: {huge:?}");
        assert!(huge.error().contains("limit"), "{huge:?}");
    }
    // And it goes on serving.
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    drop(viceroy_iris);

    // A CNN, from the library: SqueezeNet's numbers are onnxruntime's.
    let onnx = std::fs::read(model_path("squeezenet")).unwrap();
    let built = ComponentBuilder::new("squeezenet")
        .flavour(Flavour::Fastly)
        .build(runtime(), &onnx)
        .unwrap();
    assert!(
        built
            .imports
            .iter()
            .all(|import| import.starts_with("fastly_http_")),
        "{:?}",
        built.imports
    );
    let module = dir.path().join("squeezenet-fastly.wasm");
    std::fs::write(&module, &built.component).unwrap();
    let viceroy_squeezenet = Viceroy::serve(&viceroy, &module);
    let server = TestServer::at(viceroy_squeezenet.addr);
    assert_infer_matches_onnxruntime(&server, "squeezenet", "/v2/models/squeezenet/infer");
    triton_client(server.addr, "squeezenet");
}

#[test]
fn fastly_builds_refuse_what_they_cannot_do() {
    let output = Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .arg("build")
        .arg(repo().join("models/iris.onnx"))
        .args(["--target", "fastly", "--relaxed-simd", "-o", "/dev/null"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--relaxed-simd is not available with --target fastly"),
        "{stderr}"
    );
}
