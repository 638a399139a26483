//! The `wasmodel` library alone: this program depends on neither the CLI
//! nor the HTTP server, and answers what the library answers in-process.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasmodel::json::tensors_to_json;
use wasmodel::tensor_io::read_tensor_file;
use wasmodel::{CompileCache, ComponentBuilder, ElementType, Runtime, RuntimeOptions};

/// What only the CLI and its server need.
const NOT_IN_THE_LIBRARY: [&str; 7] = [
    "clap",
    "hyper",
    "tokio",
    "wasmtime-wasi",
    "wasmtime-wasi-http",
    "toml_edit",
    "wasmodel-cli",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Shared with the root package's tests (same target directory), so a
/// component they compiled is not compiled again.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

#[test]
fn its_dependency_tree_has_neither_the_cli_nor_the_server() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo())
        .args([
            "tree",
            "--offline",
            "--locked",
            "--package",
            env!("CARGO_PKG_NAME"),
        ])
        .args(["--edges", "normal", "--prefix", "none", "--format", "{p}"])
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"wasmodel"), "{tree}");
    assert!(crates.contains(&"wasmtime"), "{tree}");
    for name in NOT_IN_THE_LIBRARY {
        assert!(
            !crates.contains(&name),
            "{name} is in the embedder's dependency tree:\n{tree}"
        );
    }
}

#[test]
fn it_builds_and_predicts_what_the_library_does() {
    let onnx_path = repo().join("models/iris.onnx");
    let features = repo().join("tests/fixtures/iris_features.json");
    let embed = |model: &Path, input: &str| {
        Command::new(env!("CARGO_BIN_EXE_wasmodel-embed"))
            .arg(model)
            .arg(format!("{input}={}", features.display()))
            .env("WASMODEL_CACHE_DIR", cache_dir())
            .output()
            .unwrap()
    };

    // From the ONNX file: built, loaded and called by the program.
    let out = embed(&onnx_path, "features");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // The same model through the library in this process.
    let runtime = Runtime::new(RuntimeOptions {
        cache: Some(CompileCache::new(cache_dir())),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let onnx = wasmodel::read_model(&onnx_path).unwrap();
    let built = ComponentBuilder::new("iris")
        .build(&runtime, &onnx)
        .unwrap();
    let input = read_tensor_file("features", ElementType::F32, &features).unwrap();
    let outputs = runtime
        .load(&built.component)
        .unwrap()
        .predict(vec![input])
        .unwrap();
    assert_eq!(got, tensors_to_json(&outputs));

    // From a component file, and a wrong input name said with the model's
    // inputs.
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris.wasm");
    std::fs::write(&wasm, &built.component).unwrap();
    let out = embed(&wasm, "petals");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no input `petals`") && stderr.contains("features"),
        "{stderr}"
    );
}
