//! `wasmodel build --target cloudflare`: the Worker under workerd, the
//! runtime of Cloudflare Workers (pinned in js/package.json), answering the
//! Open Inference Protocol as `wasmodel serve` does, over a real socket.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wasmodel_cli::cloudflare::{Jco, write_worker};

use crate::serve::{TestServer, assert_infer_matches_onnxruntime, send, triton_client};
use crate::support::{http_component, ok, repo};

/// A tool js/package.json pins (`npm ci` in js/, by scripts/setup.sh
/// --tests). `None` (the caller skips) only outside CI.
fn node_tool(name: &str) -> Option<PathBuf> {
    let path = repo().join("js/node_modules/.bin").join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no {} in CI: scripts/setup.sh --tests should have installed it",
        path.display()
    );
    eprintln!(
        "SKIPPED: no {} (run scripts/setup.sh --tests)",
        path.display()
    );
    None
}

/// workerd serving a Worker directory on a free port; killed when dropped.
struct Workerd {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Workerd {
    fn serve(workerd: &Path, dir: &Path) -> Workerd {
        let addr = crate::support::free_local_addr();
        let mut child = Command::new(workerd)
            .arg("serve")
            .arg(dir.join("workerd.capnp"))
            .arg("--socket-addr")
            .arg(format!("http={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", workerd.display()));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("workerd exited ({status}):\n{}", log.lock().unwrap());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "workerd did not listen within a minute:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Workerd { child, addr, log }
    }
}

impl Drop for Workerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("workerd said:\n{}", self.log.lock().unwrap());
        }
    }
}

#[test]
fn the_worker_answers_like_wasmodel_serve_under_workerd() {
    let (Some(workerd), Some(jco_path)) = (node_tool("workerd"), node_tool("jco")) else {
        return;
    };
    // The command line, end to end, for iris.
    let dir = tempfile::tempdir().unwrap();
    let worker = dir.path().join("iris-worker");
    let (stdout, _) = ok(Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .arg("build")
        .arg(repo().join("models/iris.onnx"))
        .args(["--target", "cloudflare", "-o"])
        .arg(&worker)
        .arg("--cache-dir")
        .arg(crate::support::cache_dir())
        .env("WASMODEL_JCO", &jco_path)
        .output()
        .unwrap());
    assert!(stdout.contains("Built the Cloudflare Worker"), "{stdout}");
    for file in [
        "worker.mjs",
        "wasi-http.mjs",
        "wrangler.toml",
        "workerd.capnp",
    ] {
        assert!(worker.join(file).is_file(), "no {file}:\n{stdout}");
    }
    let workerd_iris = Workerd::serve(&workerd, &worker);
    let server = TestServer::at(workerd_iris.addr);

    let meta = server.get("/v2/models/iris");
    assert_eq!(meta.status, 200, "{meta:?}");
    assert_eq!(
        meta.json()["outputs"][1]["parameters"]["class_labels"],
        "[0,1,2]"
    );
    assert_eq!(server.get("/v2/health/ready").status, 200);
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    // tritonclient with its default options (binary tensors), unmodified.
    triton_client(server.addr, "iris");

    // The component's own errors, as `wasmodel serve` gives them.
    let wrong = server.post_json(
        "/v2/models/iris/infer",
        &json!({"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32",
                            "data": [1.0, 2.0, 3.0]}]}),
    );
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert!(wrong.error().contains("features"), "{wrong:?}");
    let unknown = server.get("/v2/models/no-such-model");
    assert_eq!(unknown.status, 404, "{unknown:?}");
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
    // The host's own: the body limit (64 MiB, as `wasmodel serve`'s
    // default), declared or chunked, before the component runs.
    let big = vec![b' '; (64 << 20) + 1];
    let json = ("content-type", "application/json");
    for headers in [&[json][..], &[json, ("transfer-encoding", "chunked")][..]] {
        let huge = send(server.addr, "POST", "/v2/models/iris/infer", headers, &big);
        assert_eq!(huge.status, 413, "{headers:?}: {huge:?}");
        assert!(huge.error().contains("limit"), "{huge:?}");
    }
    // And the Worker goes on serving.
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    drop(workerd_iris);

    // A CNN, from the library: SqueezeNet's numbers are onnxruntime's.
    let (jco, _) = find_jco(&jco_path);
    let squeezenet = dir.path().join("squeezenet-worker");
    let built = write_worker(
        &http_component("squeezenet").component,
        "squeezenet",
        &squeezenet,
        &jco,
    )
    .unwrap();
    assert!(built.core_modules.len() >= 2, "{built:?}");
    let workerd_squeezenet = Workerd::serve(&workerd, &squeezenet);
    let server = TestServer::at(workerd_squeezenet.addr);
    assert_infer_matches_onnxruntime(&server, "squeezenet", "/v2/models/squeezenet/infer");
}

fn find_jco(path: &Path) -> (Jco, String) {
    Jco::at(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_directory_that_is_not_a_worker_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let jco = Jco::at(Path::new("/nonexistent/jco"));
    assert!(
        jco.as_ref().is_err_and(|e| e
            .to_string()
            .contains("npm install -g @bytecodealliance/jco")),
        "{jco:?}"
    );
    let Some(jco_path) = node_tool("jco") else {
        return;
    };
    let (jco, _) = find_jco(&jco_path);
    let error = write_worker(&http_component("iris").component, "iris", dir.path(), &jco)
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not a Worker"), "{error}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}
