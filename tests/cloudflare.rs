//! `wasmodel build --target cloudflare`: the Worker under workerd, the
//! runtime of Cloudflare Workers (pinned in js/package.json), answering the
//! Open Inference Protocol as `wasmodel serve` does, over a real socket.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wasmodel_cli::cloudflare::{Jco, write_worker};

use crate::serve::{
    TestServer, assert_infer_matches_onnxruntime, assert_iris_served_as_wasmodel_serve_does,
};
use crate::support::{ServerProcess, http_component, ok, repo};

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

/// workerd serving a Worker directory on a free port; stopped when dropped.
fn workerd_serve(workerd: &Path, dir: &Path) -> ServerProcess {
    let addr = crate::support::free_local_addr();
    ServerProcess::start(
        "workerd",
        Command::new(workerd)
            .arg("serve")
            .arg(dir.join("workerd.capnp"))
            .arg("--socket-addr")
            .arg(format!("http={addr}")),
        addr,
        Duration::from_secs(60),
    )
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
    let workerd_iris = workerd_serve(&workerd, &worker);
    assert_iris_served_as_wasmodel_serve_does(&TestServer::at(workerd_iris.addr));
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
    let workerd_squeezenet = workerd_serve(&workerd, &squeezenet);
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
