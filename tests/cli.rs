//! The real `wasmodel` binary: build, inspect and predict, as a user runs
//! them.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use wasmodel::json::tensors_from_json_object;

use crate::support::{assert_outputs_match, cache_dir, fixture, fixture_path, model_path};

fn wasmodel(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .args(args)
        .env("WASMODEL_CACHE_DIR", cache)
        .output()
        .expect("the wasmodel binary runs")
}

fn ok(output: Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "wasmodel failed:\n{stderr}\n{stdout}"
    );
    (stdout, stderr)
}

fn failure(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected exit status 1: {output:?}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Builds the iris component into `dir` with the CLI and returns its path.
fn build_iris(dir: &Path, cache: &Path) -> String {
    let out = dir.join("iris.wasm");
    let (stdout, _) = ok(wasmodel(
        &[
            "build",
            model_path("iris").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        cache,
    ));
    assert!(stdout.contains("Built"), "{stdout}");
    assert!(
        stdout.contains("features") && stdout.contains("f32[batch, 4]"),
        "{stdout}"
    );
    assert!(stdout.contains("imports   none"), "{stdout}");
    out.to_str().unwrap().to_owned()
}

fn outputs_of(stdout: &str) -> Vec<wasmodel::Tensor> {
    let json: Value = serde_json::from_str(stdout).expect("predict prints JSON");
    // Outputs carry their "dtype".
    tensors_from_json_object(&json, |_| None).unwrap()
}

#[test]
fn build_inspect_predict_json_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let wasm = build_iris(dir.path(), &cache);

    let (stdout, _) = ok(wasmodel(&["inspect", &wasm], &cache));
    assert!(stdout.contains("imports   none"), "{stdout}");
    assert!(
        stdout.contains("wasmodel:model/predictor@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("model     iris (version 1)"), "{stdout}");

    let expected = fixture("iris");
    let json_input = format!("features={}", fixture_path("iris_features.json").display());
    // A single-input model needs no input name; .npy carries its own type.
    let npy_input = fixture_path("iris_features.npy").display().to_string();
    for input in [json_input, npy_input] {
        let (stdout, _) = ok(wasmodel(&["predict", &wasm, "--input", &input], &cache));
        assert_outputs_match(
            &outputs_of(&stdout),
            &expected.outputs,
            expected.rtol,
            expected.atol,
        );
    }
}

#[test]
fn second_predict_uses_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("fresh-cache");
    let wasm = build_iris(dir.path(), &cache);
    let input = fixture_path("iris_features.json");
    let args = [
        "predict",
        wasm.as_str(),
        "--input",
        input.to_str().unwrap(),
        "--timings",
    ];

    let (first_out, first_err) = ok(wasmodel(&args, &cache));
    assert!(
        first_err.contains("Compiling"),
        "first run should compile:\n{first_err}"
    );
    let (second_out, second_err) = ok(wasmodel(&args, &cache));
    assert!(
        !second_err.contains("Compiling"),
        "second run recompiled:\n{second_err}"
    );
    assert_eq!(first_out, second_out);
}

#[test]
fn predict_reports_bad_input_without_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let wasm = build_iris(dir.path(), &cache);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[[1.0, 2.0, 3.0]]").unwrap();
    let input = format!("features={}", bad.display());
    let stderr = failure(wasmodel(&["predict", &wasm, "--input", &input], &cache));
    assert!(
        stderr.contains("wrong shape for input `features`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[batch, 4]") && stderr.contains("[1, 3]"),
        "{stderr}"
    );

    std::fs::write(&bad, "[[1.0, 2.0], [3.0]]").unwrap();
    let stderr = failure(wasmodel(&["predict", &wasm, "--input", &input], &cache));
    assert!(stderr.contains("ragged"), "{stderr}");
}

#[test]
fn build_refuses_unsupported_and_malformed_models() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.wasm");
    let zipmap = fixture_path("iris_zipmap.onnx");
    let stderr = failure(wasmodel(
        &[
            "build",
            zipmap.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &cache_dir(),
    ));
    assert!(stderr.contains("ZipMap"), "{stderr}");
    assert!(!out.exists(), "a refused build must not write a component");

    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\x08\x07\x12\x00garbage").unwrap();
    let stderr = failure(wasmodel(
        &["build", junk.to_str().unwrap(), "-o", out.to_str().unwrap()],
        &cache_dir(),
    ));
    assert!(stderr.contains("not a valid ONNX model"), "{stderr}");
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in ["build", "inspect", "predict"] {
        let (stdout, _) = ok(wasmodel(&[sub, "--help"], &cache_dir()));
        assert!(stdout.contains("Examples:"), "{sub} --help:\n{stdout}");
    }
}
