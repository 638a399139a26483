//! The real `wasmodel` binary: build, inspect and predict, as a user runs
//! them.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use wasmodel::json::tensors_from_json_object;

use crate::support::{
    assert_outputs_match, cache_dir, fixture, fixture_path, model_path, ok, sha256_hex,
};

pub(crate) fn wasmodel(args: &[&str], cache: &Path) -> Output {
    wasmodel_to(args, cache, Stdio::piped())
}

/// Runs the CLI with its standard output going to `stdout`.
fn wasmodel_to(args: &[&str], cache: &Path, stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .args(args)
        .env("WASMODEL_CACHE_DIR", cache)
        .stdout(stdout)
        .output()
        .expect("the wasmodel binary runs")
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
        stdout.contains("hosts     every wasm host with SIMD"),
        "{stdout}"
    );
    assert!(
        stdout.contains("wasmodel:model/predictor@0.3.0"),
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
fn a_reader_that_goes_costs_the_output_only() {
    // `wasmodel inspect x.wasm | head -1`: the reader has gone before the
    // rest is written. The command still does its work and succeeds, as
    // it would with its output read (a build writes its component).
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let wasm = build_iris(dir.path(), &cache);
    let gone = || {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        writer.into()
    };
    let input = format!("features={}", fixture_path("iris_features.json").display());
    let rebuilt = dir.path().join("again.wasm");
    let model = model_path("iris");
    for args in [
        vec!["inspect", &wasm],
        vec!["predict", &wasm, "--input", &input],
        vec![
            "build",
            model.to_str().unwrap(),
            "-o",
            rebuilt.to_str().unwrap(),
        ],
    ] {
        let output = wasmodel_to(&args, &cache, gone());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let (stdout, _) = ok(wasmodel(&["inspect", rebuilt.to_str().unwrap()], &cache));
    assert!(stdout.contains("model     iris (version 1)"), "{stdout}");

    // Any other failure to write is the command's error, not a panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let stderr = failure(wasmodel_to(&["inspect", &wasm], &cache, full.into()));
    assert!(stderr.contains("writing to standard output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--relaxed-simd` builds from the fused multiply-add engine, and both
/// `build` and `inspect` say that only hosts with relaxed SIMD run it.
#[test]
fn a_relaxed_simd_build_says_which_hosts_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let out = dir.path().join("iris-relaxed.wasm");
    let out = out.to_str().unwrap();
    let iris = model_path("iris");
    let build = ["build", iris.to_str().unwrap(), "-o", out, "--relaxed-simd"];
    let (stdout, _) = ok(wasmodel(&build, &cache));
    assert!(
        stdout.contains("hosts     those with relaxed SIMD") && stdout.contains("Node 20 only"),
        "{stdout}"
    );
    let (stdout, _) = ok(wasmodel(&["inspect", out, "--json"], &cache));
    let json: Value = serde_json::from_str(&stdout).expect("inspect --json prints JSON");
    assert_eq!(json["needs_relaxed_simd"], true, "{stdout}");
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

/// A compile cache that cannot be written costs a compile, never the
/// prediction; a truncated entry is compiled again and replaced, never
/// loaded.
#[test]
fn a_broken_compile_cache_costs_a_compile_not_the_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let wasm = build_iris(dir.path(), &cache);
    let input = fixture_path("iris_features.json");
    let args = ["predict", wasm.as_str(), "--input", input.to_str().unwrap()];
    let (expected, _) = ok(wasmodel(&args, &cache));

    // A cache "directory" under a regular file: nothing can be written.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let (stdout, stderr) = ok(wasmodel(&args, &file.join("cache")));
    assert_eq!(stdout, expected);
    assert!(
        stderr.contains("warning: compiled code is not kept")
            && stderr.contains("WASMODEL_CACHE_DIR"),
        "{stderr}"
    );

    // The shared cache's entry for this component, cut in half, then with
    // a byte changed, in a cache of this test's own (other tests map the
    // shared one).
    let name = format!("{}-", sha256_hex(&std::fs::read(&wasm).unwrap()));
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let file = p.file_name().unwrap().to_str().unwrap();
            file.starts_with(&name) && file.ends_with(".cwasm")
        })
        .expect("the first predict cached the component");
    let full = std::fs::read(&entry).unwrap();
    let own = dir.path().join("own-cache");
    std::fs::create_dir(&own).unwrap();
    let truncated = own.join(entry.file_name().unwrap());
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let compiled_again_then_kept = || {
        let (stdout, stderr) = ok(wasmodel(&args, &own));
        assert_eq!(stdout, expected);
        assert!(
            stderr.contains("Compiling"),
            "not compiled again:\n{stderr}"
        );
        let (stdout, stderr) = ok(wasmodel(&args, &own));
        assert_eq!(stdout, expected);
        assert!(
            !stderr.contains("Compiling"),
            "the damaged entry was not replaced:\n{stderr}"
        );
    };
    compiled_again_then_kept();

    // Whole, but one byte changed: it still parses, and would run.
    let mut damaged = full.clone();
    damaged[full.len() / 2] ^= 0x20;
    std::fs::write(&truncated, &damaged).unwrap();
    compiled_again_then_kept();
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
    let unsupported = fixture_path("unsupported/dict_vectorizer.onnx");
    let stderr = failure(wasmodel(
        &[
            "build",
            unsupported.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &cache_dir(),
    ));
    assert!(stderr.contains("DictVectorizer"), "{stderr}");
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
    for sub in ["build", "check", "inspect", "predict", "serve"] {
        let (stdout, _) = ok(wasmodel(&[sub, "--help"], &cache_dir()));
        assert!(stdout.contains("Examples:"), "{sub} --help:\n{stdout}");
    }
}

#[test]
fn check_lists_operators_and_matches_onnxruntime_on_made_up_inputs() {
    // A pipeline with text columns: the made-up inputs draw the categories
    // its encoders know, and onnxruntime runs from the tests' own Python.
    let model = crate::support::repo().join("models/zoo/columns_onehot_logreg.onnx");
    let python = crate::support::repo().join(".venv/bin/python");
    let (stdout, _) = ok(wasmodel(
        &[
            "check",
            model.to_str().unwrap(),
            "--python",
            python.to_str().unwrap(),
        ],
        &cache_dir(),
    ));
    assert!(stdout.contains("all supported"), "{stdout}");
    assert!(
        stdout.contains("ai.onnx.ml") && stdout.contains("OneHotEncoder"),
        "{stdout}"
    );
    assert!(stdout.contains("Reference: onnxruntime 1.31.1"), "{stdout}");
    assert!(stdout.contains("output_probability"), "{stdout}");
    assert!(
        stdout.contains("OK: the component gives onnxruntime"),
        "{stdout}"
    );
}

#[test]
fn check_without_onnxruntime_says_so_and_compares_with_native_tract() {
    let model = crate::support::repo().join("models/zoo/svc_rbf.onnx");
    let (stdout, _) = ok(wasmodel(
        &[
            "check",
            model.to_str().unwrap(),
            "--python",
            "/nonexistent/python3",
        ],
        &cache_dir(),
    ));
    assert!(stdout.contains("onnxruntime is not available"), "{stdout}");
    assert!(stdout.contains("tract (native)"), "{stdout}");
}

#[test]
fn check_lists_every_unsupported_operator_and_fails() {
    let model = fixture_path("unsupported/dict_vectorizer.onnx");
    let output = wasmodel(&["check", model.to_str().unwrap()], &cache_dir());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = failure(output);
    assert!(
        stdout.contains("DictVectorizer") && stdout.contains("NOT SUPPORTED"),
        "{stdout}"
    );
    assert!(stdout.contains("LinearClassifier"), "{stdout}");
    assert!(stderr.contains("ai.onnx.ml:DictVectorizer"), "{stderr}");
}

#[test]
fn predict_takes_text_inputs_and_shows_class_labels() {
    // The zoo's column pipeline, with its fixture's inputs as one JSON file.
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let out = dir.path().join("churn.wasm");
    let model = crate::support::repo().join("models/zoo/columns_onehot_logreg.onnx");
    ok(wasmodel(
        &[
            "build",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &cache,
    ));
    let f = fixture("zoo/columns_onehot_logreg");
    let inputs = dir.path().join("inputs.json");
    std::fs::write(
        &inputs,
        wasmodel::json::tensors_to_json(&f.inputs).to_string(),
    )
    .unwrap();
    let (stdout, _) = ok(wasmodel(
        &[
            "predict",
            out.to_str().unwrap(),
            "--inputs",
            inputs.to_str().unwrap(),
        ],
        &cache,
    ));
    assert_outputs_match(&outputs_of(&stdout), &f.outputs, f.rtol, f.atol);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json["output_probability"]["class_labels"],
        serde_json::json!([0, 1])
    );

    let (stdout, _) = ok(wasmodel(&["inspect", out.to_str().unwrap()], &cache));
    assert!(
        stdout.contains("plan") && stdout.contains("string[batch, 1]"),
        "{stdout}"
    );
    assert!(stdout.contains("classes 0, 1"), "{stdout}");
}

#[test]
fn a_precompiled_component_loads_only_when_allowed_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let wasm = build_iris(dir.path(), &cache);
    let cwasm = dir.path().join("iris.cwasm");
    let (stdout, _) = ok(wasmodel(
        &["compile", &wasm, "-o", cwasm.to_str().unwrap()],
        &cache,
    ));
    assert!(stdout.contains("--allow-precompiled"), "{stdout}");

    let input = format!("features={}", fixture_path("iris_features.json").display());
    let cwasm = cwasm.to_str().unwrap();
    let stderr = failure(wasmodel(&["predict", cwasm, "--input", &input], &cache));
    assert!(stderr.contains("--allow-precompiled"), "{stderr}");
    let (stdout, _) = ok(wasmodel(
        &["predict", cwasm, "--allow-precompiled", "--input", &input],
        &cache,
    ));
    let f = fixture("iris");
    assert_outputs_match(&outputs_of(&stdout), &f.outputs, f.rtol, f.atol);

    // A damaged file is refused, not run.
    let mut bytes = std::fs::read(cwasm).unwrap();
    bytes.truncate(bytes.len() / 2);
    let damaged = dir.path().join("damaged.cwasm");
    std::fs::write(&damaged, bytes).unwrap();
    let stderr = failure(wasmodel(
        &[
            "predict",
            damaged.to_str().unwrap(),
            "--allow-precompiled",
            "--input",
            &input,
        ],
        &cache,
    ));
    assert!(stderr.contains("cannot load"), "{stderr}");
}

/// A model that needs more than the build's limits to load ends
/// `wasmodel build` with an error saying which, soon, writing nothing: a
/// constant of 1 GiB folded at load time meets `--max-build-memory`, and
/// a chain of 100 000 nodes, which tract would take minutes to optimize
/// (its time grows with the square of the node count), meets
/// `--build-timeout`.
#[test]
fn a_model_over_the_build_limits_is_refused_at_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hostile.wasm");
    let build = |onnx: &Path, limit: &[&str]| {
        let started = std::time::Instant::now();
        let mut args = vec!["build", onnx.to_str().unwrap(), "-o", out.to_str().unwrap()];
        args.extend(limit);
        let stderr = failure(wasmodel(&args, &cache_dir()));
        assert!(!out.exists(), "a refused build wrote {}", out.display());
        (stderr, started.elapsed())
    };

    let gib = fixture_path("hostile/constant_of_a_gibibyte.onnx");
    let (stderr, _) = build(&gib, &["--max-build-memory", "256"]);
    assert!(
        stderr.contains("out of memory") && stderr.contains("heap limit of 256 MiB"),
        "{stderr}"
    );

    let chain = dir.path().join("chain.onnx");
    let generated = Command::new(crate::support::repo().join(".venv/bin/python"))
        .arg(fixture_path("hostile/generate.py"))
        .args(["--chain", "100000"])
        .arg(&chain)
        .status()
        .expect("the project's Python runs (scripts/setup.sh --tests)");
    assert!(generated.success());
    let (stderr, took) = build(&chain, &["--build-timeout", "2"]);
    assert!(stderr.contains("time limit of 2.0 s"), "{stderr}");
    // Decoding and translating 100 000 nodes come first; a hang would not
    // end at all.
    assert!(took.as_secs() < 120, "refused only after {took:?}");
}

/// `--compiler winch` (wasmtime's baseline compiler): the same answers as
/// Cranelift's code, its own entries in the compile cache, the time limit
/// still enforced, and a component it cannot compile (one built with
/// `--relaxed-simd`) refused with the reason.
#[test]
fn winch_predicts_as_cranelift_does_within_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let shared = cache_dir();
    let winch_cache = dir.path().join("winch-cache");
    let iris = build_iris(dir.path(), &shared);
    let input = fixture_path("iris_features.json");
    let predict = |component: &str, input: &str, more: &[&str], cache: &Path| {
        let mut args = vec!["predict", component, "--input", input];
        args.extend(more);
        wasmodel(&args, cache)
    };
    let input = input.to_str().unwrap();
    let (cranelift, _) = ok(predict(&iris, input, &[], &shared));
    let winch = ["--compiler", "winch"];
    let (first, stderr) = ok(predict(&iris, input, &winch, &winch_cache));
    assert!(stderr.contains("Compiling"), "{stderr}");
    assert_eq!(outputs_of(&first), outputs_of(&cranelift));
    let (second, stderr) = ok(predict(&iris, input, &winch, &winch_cache));
    assert!(!stderr.contains("Compiling"), "recompiled: {stderr}");
    assert_eq!(second, first);

    // 20 000 digits take seconds; the limit is 50 ms.
    let digits = dir.path().join("digits.wasm");
    let digits = digits.to_str().unwrap();
    let model = model_path("digits_cnn");
    ok(wasmodel(
        &["build", model.to_str().unwrap(), "-o", digits],
        &shared,
    ));
    let images = dir.path().join("images.json");
    let rows = 20_000;
    std::fs::write(
        &images,
        serde_json::json!({"dtype": "f32", "shape": [rows, 1, 8, 8], "data": vec![0.5; rows * 64]})
            .to_string(),
    )
    .unwrap();
    let images = format!("image={}", images.display());
    let limited = ["--compiler", "winch", "--timeout", "0.05"];
    let stderr = failure(predict(digits, &images, &limited, &winch_cache));
    assert!(stderr.contains("time limit of 0.1 s"), "{stderr}");

    let relaxed = dir.path().join("iris-relaxed.wasm");
    let relaxed = relaxed.to_str().unwrap();
    let iris_onnx = model_path("iris");
    let build = [
        "build",
        iris_onnx.to_str().unwrap(),
        "-o",
        relaxed,
        "--relaxed-simd",
    ];
    ok(wasmodel(&build, &shared));
    let stderr = failure(predict(relaxed, input, &winch, &winch_cache));
    assert!(
        stderr.contains("Winch cannot compile this component")
            && stderr.contains("built with --relaxed-simd"),
        "{stderr}"
    );
}
