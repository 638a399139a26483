//! Shared test helpers: one runtime, one compile cache, each model's
//! component built once per test run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use serde_json::Value;
use wasmodel::json::tensors_from_json_object;
use wasmodel::{
    BuiltComponent, CompileCache, ComponentBuilder, Flavour, LoadedModel, Runtime, RuntimeOptions,
    Tensor, TensorData,
};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn model_path(stem: &str) -> PathBuf {
    repo().join("models").join(format!("{stem}.onnx"))
}

pub fn fixture_path(name: &str) -> PathBuf {
    repo().join("tests").join("fixtures").join(name)
}

/// Compiled code is cached under the target directory, so a second test run
/// does not compile again; tests that check caching use their own.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

pub fn runtime_with(limits: wasmodel::Limits) -> Runtime {
    Runtime::new(RuntimeOptions {
        limits,
        cache: Some(CompileCache::new(cache_dir())),
        // Every test model's component carries the same engine: compile its
        // functions once per test run, not once per model.
        reuse_compiled_functions: true,
        ..RuntimeOptions::default()
    })
    .expect("a runtime")
}

pub fn runtime() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| runtime_with(Default::default()));
    &RUNTIME
}

/// One value per model stem, made once per test run however many tests ask.
type PerModel<T> = LazyLock<Mutex<HashMap<String, Arc<OnceLock<Arc<T>>>>>>;

fn once_per_model<T>(cells: &PerModel<T>, stem: &str, make: impl FnOnce() -> T) -> Arc<T> {
    // The map lock is held only to find the cell, so models build in parallel.
    let cell = Arc::clone(cells.lock().unwrap().entry(stem.to_owned()).or_default());
    Arc::clone(cell.get_or_init(|| Arc::new(make())))
}

/// The component of `models/<stem>.onnx`, named after the file (a stem
/// may name a subdirectory: `zoo/svc_rbf`).
fn build(stem: &str, flavour: Flavour) -> BuiltComponent {
    let onnx = std::fs::read(model_path(stem)).expect("model file");
    let name = stem.rsplit('/').next().unwrap_or(stem);
    ComponentBuilder::new(name)
        .flavour(flavour)
        .build(runtime(), &onnx)
        .unwrap_or_else(|e| panic!("building {stem} ({flavour:?}): {e}"))
}

/// The component of the ONNX file at `path`, built and loaded for the
/// caller alone.
pub fn load_onnx(path: &Path) -> LoadedModel {
    build_and_load(path, |builder| builder).1
}

/// The ONNX file at `path` built by a builder named after it and set up by
/// `configure`, and the component loaded, for the caller alone.
pub fn build_and_load(
    path: &Path,
    configure: impl FnOnce(ComponentBuilder) -> ComponentBuilder,
) -> (BuiltComponent, LoadedModel) {
    // As `wasmodel build` reads it: with any external data inside.
    let onnx = wasmodel::read_model(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a file name");
    let built = configure(ComponentBuilder::new(name))
        .build(runtime(), &onnx)
        .unwrap_or_else(|e| panic!("building {name}: {e}"));
    let model = runtime()
        .load(&built.component)
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    (built, model)
}

/// The component built from `models/<stem>.onnx`, once per run.
pub fn component(stem: &str) -> Arc<Vec<u8>> {
    static BUILT: PerModel<Vec<u8>> = LazyLock::new(Default::default);
    once_per_model(&BUILT, stem, || build(stem, Flavour::Predictor).component)
}

/// The HTTP component (`--http`) built from `models/<stem>.onnx`, once per
/// run.
pub fn http_component(stem: &str) -> Arc<BuiltComponent> {
    static BUILT: PerModel<BuiltComponent> = LazyLock::new(Default::default);
    once_per_model(&BUILT, stem, || build(stem, Flavour::Http))
}

/// The loaded component of `models/<stem>.onnx`, once per run.
pub fn model(stem: &str) -> Arc<LoadedModel> {
    static LOADED: PerModel<LoadedModel> = LazyLock::new(Default::default);
    once_per_model(&LOADED, stem, || {
        runtime()
            .load(&component(stem))
            .unwrap_or_else(|e| panic!("loading {stem}: {e}"))
    })
}

/// A reference case: inputs, and the outputs onnxruntime gave for them.
pub struct Fixture {
    pub model: String,
    pub rtol: f64,
    pub atol: f64,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

pub fn fixture(stem: &str) -> Fixture {
    let path = fixture_path(&format!("{stem}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("fixture JSON");
    // Every fixture tensor carries its own "dtype".
    let tensors = |key: &str| -> Vec<Tensor> {
        tensors_from_json_object(&json[key], |_| None)
            .unwrap_or_else(|e| panic!("fixture {stem}, `{key}`: {e}"))
    };
    Fixture {
        model: json["model"].as_str().expect("model").to_owned(),
        rtol: json["tolerance"]["rtol"].as_f64().expect("rtol"),
        atol: json["tolerance"]["atol"].as_f64().expect("atol"),
        inputs: tensors("inputs"),
        outputs: tensors("outputs"),
    }
}

/// Asserts `got` equals `expected`: same names, order, shapes and element
/// types; floats within `atol + rtol * |expected|`, everything else exact.
pub fn assert_outputs_match(got: &[Tensor], expected: &[Tensor], rtol: f64, atol: f64) {
    let names = |ts: &[Tensor]| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(got), names(expected), "output names");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g.shape, e.shape, "shape of `{}`", e.name);
        let close =
            |a: f64, b: f64| (a - b).abs() <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan());
        let mismatch = match (&g.data, &e.data) {
            (TensorData::F32(a), TensorData::F32(b)) => a
                .iter()
                .zip(b)
                .position(|(&a, &b)| !close(f64::from(a), f64::from(b))),
            (TensorData::F64(a), TensorData::F64(b)) => {
                a.iter().zip(b).position(|(&a, &b)| !close(a, b))
            }
            (a, b) => {
                assert_eq!(a, b, "output `{}`", e.name);
                None
            }
        };
        if let Some(i) = mismatch {
            panic!(
                "output `{}` differs from onnxruntime at element {i} (rtol {rtol}, atol {atol}):\n got {:?}\nwant {:?}",
                e.name, g.data, e.data
            );
        }
    }
}

/// The stdout and stderr of a `wasmodel` run that must have succeeded.
pub fn ok(output: std::process::Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "wasmodel failed:\n{stderr}\n{stdout}"
    );
    (stdout, stderr)
}

/// The SHA-256 of `bytes` in lowercase hex, as model digests and compile
/// cache entries are named.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// A loopback address whose port was free a moment ago, for a server the
/// test starts in another process.
pub fn free_local_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A server the test runs in another process (workerd, Viceroy), on a
/// free loopback port: its stdout and stderr are collected, and printed
/// if the test fails; killed when dropped.
pub struct ServerProcess {
    name: String,
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `command` with `addr` (from [`free_local_addr`], which the
    /// caller put in its arguments) and waits until it accepts
    /// connections, for up to `patience`.
    pub fn start(
        name: &str,
        command: &mut std::process::Command,
        addr: std::net::SocketAddr,
        patience: std::time::Duration,
    ) -> ServerProcess {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
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
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}):\n{}", log.lock().unwrap());
            }
            assert!(
                started.elapsed() < patience,
                "{name} did not listen within {patience:?}:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        eprintln!(
            "{name} listened on {addr} after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        ServerProcess {
            name: name.to_owned(),
            child,
            addr,
            log,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{} said:\n{}", self.name, self.log.lock().unwrap());
        }
    }
}
