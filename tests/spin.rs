//! `spin.toml` is a Spin manifest (version 2) whose build command makes the
//! component it serves, and whose routes reach the protocol.

use std::collections::BTreeMap;
use std::process::Command;

use serde::Deserialize;

use crate::support::{cache_dir, http_component, ok, repo, runtime};

// The parts of Spin's manifest v2 schema this manifest uses, refusing
// anything else, so a misspelt key fails here rather than in `spin up`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    spin_manifest_version: u32,
    application: Application,
    trigger: Triggers,
    component: BTreeMap<String, Component>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Application {
    name: String,
    version: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Triggers {
    http: Vec<HttpTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTrigger {
    route: String,
    component: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Component {
    source: String,
    allowed_outbound_hosts: Vec<String>,
    build: Build,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Build {
    command: String,
    watch: Vec<String>,
}

#[test]
fn spin_toml_builds_and_routes_the_default_model() {
    let text = std::fs::read_to_string(repo().join("spin.toml")).unwrap();
    let manifest = check_manifest(&text, repo());
    let routes: Vec<&str> = manifest
        .trigger
        .http
        .iter()
        .map(|t| t.route.as_str())
        .collect();
    assert!(routes.contains(&"/v2/..."), "{routes:?}");
}

#[test]
fn spin_add_writes_a_manifest_of_several_models() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    for model in ["iris", "wine_mlp"] {
        ok(Command::new(env!("CARGO_BIN_EXE_wasmodel"))
            .args(["spin", "add"])
            .arg(repo().join("models").join(format!("{model}.onnx")))
            .arg("--manifest")
            .arg(&manifest)
            .args(["--wasmodel", "cargo run --release --quiet --"])
            .output()
            .unwrap());
    }
    let text = std::fs::read_to_string(&manifest).unwrap();
    let parsed = check_manifest(&text, dir.path());
    let routes: Vec<(&str, &str)> = parsed
        .trigger
        .http
        .iter()
        .map(|t| (t.route.as_str(), t.component.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("/v2/models/iris/...", "iris"),
            ("/v2/...", "iris"),
            ("/v2/models/wine-mlp/...", "wine-mlp"),
        ]
    );
    // A model wasmodel cannot run is refused, and the manifest kept.
    let run = Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .args(["spin", "add"])
        .arg(repo().join("tests/fixtures/unsupported/dict_vectorizer.onnx"))
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("DictVectorizer"));
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
}

/// Checks a manifest against the schema, that its routes name components,
/// and that each component's build command (`cargo run ... -- <wasmodel
/// arguments>`, run from `base`) makes an HTTP component that serves.
fn check_manifest(text: &str, base: &std::path::Path) -> Manifest {
    let manifest: Manifest = toml::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(manifest.spin_manifest_version, 2);
    assert!(!manifest.application.name.is_empty() && !manifest.application.version.is_empty());
    assert!(!manifest.application.description.is_empty());
    for trigger in &manifest.trigger.http {
        assert!(
            manifest.component.contains_key(&trigger.component),
            "route {} names no component",
            trigger.route
        );
    }

    for (id, component) in &manifest.component {
        assert_eq!(
            component.allowed_outbound_hosts,
            Vec::<String>::new(),
            "{id}"
        );
        for path in &component.build.watch {
            assert!(base.join(path).exists(), "{id} watches missing {path}");
        }
        // The build command is `cargo run ... -- <wasmodel arguments>`,
        // writing the component's `source`.
        let command = &component.build.command;
        let (cargo, args) = command
            .split_once(" -- ")
            .unwrap_or_else(|| panic!("{id}: not a `cargo run -- ...` command: {command}"));
        assert!(cargo.starts_with("cargo run --release"), "{command}");
        let mut args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
        let output = args
            .iter()
            .position(|a| a == "-o")
            .unwrap_or_else(|| panic!("{id}: the build names no output: {command}"));
        assert_eq!(
            args[output + 1],
            component.source,
            "{id}: builds another file"
        );

        // Run those arguments (writing elsewhere), and serve the result.
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("component.wasm");
        args[output + 1] = built.display().to_string();
        ok(Command::new(env!("CARGO_BIN_EXE_wasmodel"))
            .args(&args)
            .current_dir(base)
            .env("WASMODEL_CACHE_DIR", cache_dir())
            .output()
            .unwrap());
        let wasm = std::fs::read(&built).unwrap();
        wasmodel_cli::serve::HttpModel::load(runtime(), &wasm)
            .unwrap_or_else(|e| panic!("{id}: the built component does not serve: {e}"));
    }
    manifest
}

#[test]
fn spin_up_serves_the_repositorys_manifest() {
    let Some(spin) = crate::spin_app::spin_cli() else {
        eprintln!(
            "SKIPPED: no Spin CLI (not on PATH, no ../shared/tools/spin): Spin is on no registry"
        );
        return;
    };
    // spin.toml as it is, beside the component its build command makes.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("spin.toml")).unwrap();
    std::fs::write(dir.path().join("spin.toml"), &text).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let source = manifest["component"]["iris"]["source"].as_str().unwrap();
    let source = dir.path().join(source);
    std::fs::create_dir_all(source.parent().unwrap()).unwrap();
    std::fs::write(&source, &http_component("iris").component).unwrap();
    let (_spin, server) =
        crate::spin_app::spin_up(&spin, &dir.path().join("spin.toml"), "/v2/health/ready");
    assert_eq!(server.get("/v2/models/iris").status, 200);
    crate::serve::assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
}
