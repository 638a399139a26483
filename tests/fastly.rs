//! `wasmodel build --target fastly`: the module under Viceroy, Fastly's own
//! local Compute server (built from crates.io by scripts/setup.sh --tests),
//! answering the Open Inference Protocol as `wasmodel serve` does, over a
//! real socket.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wasmodel::{ComponentBuilder, Flavour};

use crate::serve::{
    TestServer, assert_infer_matches_onnxruntime, assert_iris_served_as_wasmodel_serve_does,
    triton_client,
};
use crate::support::{ServerProcess, cache_dir, model_path, ok, repo, runtime};

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

/// Viceroy serving a module on a free port; stopped when dropped. It
/// compiles the module before it listens: the engine's ~22 MB of code
/// takes tens of seconds on 2 cores.
fn viceroy_serve(viceroy: &Path, module: &Path) -> ServerProcess {
    let addr = crate::support::free_local_addr();
    ServerProcess::start(
        "viceroy",
        Command::new(viceroy)
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg(module),
        addr,
        Duration::from_secs(300),
    )
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

    let viceroy_iris = viceroy_serve(&viceroy, &module);
    assert_iris_served_as_wasmodel_serve_does(&TestServer::at(viceroy_iris.addr));
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
    let viceroy_squeezenet = viceroy_serve(&viceroy, &module);
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
