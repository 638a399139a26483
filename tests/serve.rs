//! `wasmodel serve` over a real socket on 127.0.0.1: every route and status
//! of the Open Inference Protocol, the host's limits, concurrency, and the
//! binary itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use wasmodel::json::tensors_from_json_object;
use wasmodel::{ElementType, Error, Limits, Tensor};
use wasmodel_cli::serve::{HttpModel, ServeError, ServeOptions, Server};

use crate::support::{
    assert_outputs_match, cache_dir, fixture, fixture_path, http_component, runtime, runtime_with,
};

/// A server on a free port, in its own thread; stopped when dropped.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// A server this test did not start (another process's), at `addr`.
    pub(crate) fn at(addr: SocketAddr) -> TestServer {
        TestServer {
            addr,
            stop: None,
            thread: None,
        }
    }

    pub(crate) fn start(stem: &str, limits: Limits, options: ServeOptions) -> TestServer {
        TestServer::start_many(&[stem], limits, options)
    }

    /// A server of several models, one component each.
    fn start_many(stems: &[&str], limits: Limits, options: ServeOptions) -> TestServer {
        let components: Vec<_> = stems.iter().map(|stem| http_component(stem)).collect();
        TestServer::start_components(
            components.iter().map(|built| built.component.as_slice()),
            limits,
            options,
        )
    }

    /// A server of these HTTP components.
    pub(crate) fn start_components<'a>(
        components: impl IntoIterator<Item = &'a [u8]>,
        limits: Limits,
        options: ServeOptions,
    ) -> TestServer {
        let runtime = runtime_with(limits);
        let models = components
            .into_iter()
            .enumerate()
            .map(|(i, component)| {
                HttpModel::load(&runtime, component)
                    .unwrap_or_else(|e| panic!("loading component {i}: {e}"))
            })
            .collect();
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = tokio
            .block_on(Server::bind_models(
                ([127, 0, 0, 1], 0).into(),
                models,
                options,
            ))
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            tokio
                .block_on(server.run(async {
                    let _ = stopped.await;
                }))
                .unwrap()
        });
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn iris() -> TestServer {
        TestServer::start("iris", Limits::default(), quiet())
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        send(self.addr, method, path, headers, body)
    }

    pub(crate) fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], b"")
    }

    pub(crate) fn post_json(&self, path: &str, body: &Value) -> Answer {
        let body = body.to_string();
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn quiet() -> ServeOptions {
    ServeOptions {
        access_log: false,
        ..ServeOptions::default()
    }
}

/// One HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}, body not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {self:?}"))
            .to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on a fresh connection and reads the whole answer:
/// a deliberately small client, so the test sees the bytes on the wire.
pub(crate) fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && *v == "chunked");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !chunked {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before reading it all, so
    // writing the body may fail; the answer is what counts.
    let _ = if chunked {
        body.chunks(1000)
            .try_for_each(|chunk| {
                write!(stream, "{:x}\r\n", chunk.len())?;
                stream.write_all(chunk)?;
                stream.write_all(b"\r\n")
            })
            .and_then(|()| stream.write_all(b"0\r\n\r\n"))
    } else {
        stream.write_all(body)
    };
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

pub(crate) fn parse_response(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let mut rest = &raw[end + 4..];
    let body = if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        let mut body = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break body;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        rest.to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The OIP datatype of a fixture's `dtype` (`f32` → `FP32`).
fn datatype(dtype: &str) -> &'static str {
    let t = ElementType::from_name(dtype).unwrap_or_else(|| panic!("no element type {dtype}"));
    wasmodel_oip::datatype::name(t)
}

/// An OIP infer request with a fixture's inputs.
pub(crate) fn infer_request(stem: &str) -> Value {
    let path = fixture_path(&format!("{stem}.json"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let inputs: Vec<Value> = json["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, t)| {
            json!({
                "name": name,
                "shape": t["shape"],
                "datatype": datatype(t["dtype"].as_str().unwrap()),
                "data": t["data"],
            })
        })
        .collect();
    json!({ "id": format!("{stem}-1"), "inputs": inputs })
}

/// The outputs of an OIP infer response, as tensors.
pub(crate) fn outputs(response: &Value) -> Vec<Tensor> {
    let mut by_name = serde_json::Map::new();
    for output in response["outputs"].as_array().expect("outputs") {
        let dtype = wasmodel_oip::datatype::parse(output["datatype"].as_str().unwrap())
            .unwrap()
            .name();
        by_name.insert(
            output["name"].as_str().unwrap().to_owned(),
            json!({ "dtype": dtype, "shape": output["shape"], "data": output["data"] }),
        );
    }
    tensors_from_json_object(&Value::Object(by_name), |_| None).unwrap()
}

/// What every host of the iris HTTP service must answer as `wasmodel
/// serve` does (the Cloudflare Worker under workerd, the Fastly module
/// under Viceroy): metadata with class labels, health, infers equal to
/// onnxruntime's, an unmodified `tritonclient` (binary tensors), the
/// protocol's 400, 404 and 405, 413 for a body over 64 MiB declared or
/// chunked, and serving on after it.
pub(crate) fn assert_iris_served_as_wasmodel_serve_does(server: &TestServer) {
    let meta = server.get("/v2/models/iris");
    assert_eq!(meta.status, 200, "{meta:?}");
    assert_eq!(
        meta.json()["outputs"][1]["parameters"]["class_labels"],
        "[0,1,2]"
    );
    assert_eq!(server.get("/v2/health/ready").status, 200);
    assert_eq!(server.get("/v2").json()["name"], "wasmodel");
    assert_infer_matches_onnxruntime(server, "iris", "/v2/models/iris/infer");
    // With the version in the path, and a query string, as clients send.
    assert_infer_matches_onnxruntime(server, "iris", "/v2/models/iris/versions/1/infer?x=1");
    triton_client(server.addr, "iris");

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
    let big = vec![b' '; (64 << 20) + 1];
    let json = ("content-type", "application/json");
    for headers in [&[json][..], &[json, ("transfer-encoding", "chunked")][..]] {
        let huge = send(server.addr, "POST", "/v2/models/iris/infer", headers, &big);
        assert_eq!(huge.status, 413, "{headers:?}: {huge:?}");
        assert!(huge.error().contains("limit"), "{huge:?}");
    }
    assert_infer_matches_onnxruntime(server, "iris", "/v2/models/iris/infer");
}

pub(crate) fn assert_infer_matches_onnxruntime(server: &TestServer, stem: &str, path: &str) {
    let f = fixture(stem);
    let answer = server.post_json(path, &infer_request(stem));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let response = answer.json();
    assert_eq!(response["id"], format!("{stem}-1"));
    assert_eq!(response["model_name"], stem);
    assert_eq!(response["model_version"], "1");
    assert_outputs_match(&outputs(&response), &f.outputs, f.rtol, f.atol);
}

#[test]
fn an_http_component_with_relaxed_simd_answers_like_onnxruntime() {
    // `wasmodel build --http --relaxed-simd`: the fused multiply-add tile
    // in the HTTP engine, on a CNN whose convolutions and dense layer use it.
    let stem = "digits_cnn";
    let onnx = std::fs::read(crate::support::repo().join(format!("models/{stem}.onnx"))).unwrap();
    let built = wasmodel::ComponentBuilder::new(stem)
        .flavour(wasmodel::Flavour::Http)
        .relaxed_simd(true)
        .build(runtime(), &onnx)
        .unwrap();
    assert!(wasmodel::inspect::needs_relaxed_simd(&built.component).unwrap());
    assert!(!wasmodel::inspect::needs_relaxed_simd(&http_component(stem).component).unwrap());
    let server =
        TestServer::start_components([built.component.as_slice()], Limits::default(), quiet());
    assert_infer_matches_onnxruntime(&server, stem, &format!("/v2/models/{stem}/infer"));
}

#[test]
fn every_route_answers_over_the_protocol() {
    let server = TestServer::iris();

    let meta = server.get("/v2");
    assert_eq!(meta.status, 200);
    assert_eq!(meta.header("content-type"), Some("application/json"));
    let meta = meta.json();
    assert_eq!(meta["name"], "wasmodel");
    assert!(
        meta["version"].is_string() && meta["extensions"].is_array(),
        "{meta}"
    );

    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/iris/ready",
        "/v2/models/iris/versions/1/ready",
    ] {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
    for path in ["/v2/models/iris", "/v2/models/iris/versions/1"] {
        let answer = server.get(path);
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(
            answer.json(),
            json!({
                "name": "iris",
                "versions": ["1"],
                "platform": "onnx_onnxv1",
                "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
                "outputs": [
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3],
                     "parameters": {"class_labels": "[0,1,2]"}},
                ],
            }),
            "{path}"
        );
    }
    for path in ["/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"] {
        assert_infer_matches_onnxruntime(&server, "iris", path);
    }

    // Output selection, and the convenience route.
    let mut request = infer_request("iris");
    request["outputs"] = json!([{ "name": "label" }]);
    let answer = server.post_json("/v2/models/iris/infer", &request).json();
    assert_eq!(answer["outputs"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(answer["outputs"][0]["name"], "label");
    let f = fixture("iris");
    let features = &f.inputs[0];
    let wasmodel::TensorData::F32(data) = &features.data else {
        panic!("iris features are f32")
    };
    let answer = server.post_json(
        "/predict",
        &json!({ "inputs": { "features": { "shape": features.shape, "data": data } } }),
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}

#[test]
fn text_columns_go_in_as_bytes_and_class_labels_come_out() {
    // skl2onnx's ColumnTransformer pipeline: one input per column, three of
    // them text (BYTES), and a ZipMap at the end.
    let stem = "zoo/columns_onehot_logreg";
    let server = TestServer::start(stem, Limits::default(), quiet());
    let path = "/v2/models/columns_onehot_logreg";
    let meta = server.get(path).json();
    let input = |name: &str| {
        meta["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no input {name} in {meta}"))
    };
    assert_eq!(input("plan")["datatype"], "BYTES");
    assert_eq!(input("age")["datatype"], "FP32");
    assert_eq!(
        meta["outputs"][1],
        json!({"name": "output_probability", "datatype": "FP32", "shape": [-1, 2],
               "parameters": {"class_labels": "[0,1]"}})
    );

    let f = fixture(stem);
    let answer = server.post_json(&format!("{path}/infer"), &infer_request(stem));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let response = answer.json();
    assert_outputs_match(&outputs(&response), &f.outputs, f.rtol, f.atol);
    assert_eq!(
        response["outputs"][1]["parameters"]["class_labels"],
        "[0,1]"
    );

    // A number where text is expected is named, with the protocol's types.
    let mut request = infer_request(stem);
    for input in request["inputs"].as_array_mut().unwrap() {
        if input["name"] == "plan" {
            input["datatype"] = json!("FP32");
        }
    }
    let answer = server.post_json(&format!("{path}/infer"), &request);
    assert_eq!(answer.status, 400);
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("`plan`") && error.contains("BYTES"),
        "{error}"
    );
}

#[test]
fn several_models_answer_under_their_names() {
    let server = TestServer::start_many(&["iris", "zoo/svc_rbf"], Limits::default(), quiet());
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    let f = fixture("zoo/svc_rbf");
    let answer = server.post_json("/v2/models/svc_rbf/infer", &infer_request("zoo/svc_rbf"));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_outputs_match(&outputs(&answer.json()), &f.outputs, f.rtol, f.atol);
    assert_eq!(server.get("/v2/models/svc_rbf").json()["name"], "svc_rbf");
    assert_eq!(server.get("/v2/models/iris/ready").status, 200);
    assert_eq!(server.get("/v2/health/ready").status, 200);
    assert_eq!(server.get("/v2").json()["name"], "wasmodel");

    let listed = server.post_json("/v2/repository/index", &json!({}));
    assert_eq!(
        listed.json(),
        json!([{"name": "iris", "version": "1", "state": "READY"},
               {"name": "svc_rbf", "version": "1", "state": "READY"}])
    );
    let unknown = server.get("/v2/models/churn");
    assert_eq!(unknown.status, 404);
    let message = unknown.json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.contains("`churn`") && message.contains("`iris`, `svc_rbf`"),
        "{message}"
    );
    let predict = server.post_json("/predict", &json!({"inputs": {}}));
    assert_eq!(predict.status, 404);
}

#[test]
fn two_components_of_one_model_are_refused() {
    let runtime = runtime_with(Limits::default());
    let model = HttpModel::load(&runtime, &http_component("iris").component).unwrap();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let bound = tokio.block_on(Server::bind_models(
        ([127, 0, 0, 1], 0).into(),
        vec![model.clone(), model],
        quiet(),
    ));
    let e = bound.map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("`iris`") && e.contains("--name"), "{e}");
}

#[test]
fn an_address_in_use_is_refused_naming_it() {
    let runtime = runtime_with(Limits::default());
    let model = HttpModel::load(&runtime, &http_component("iris").component).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    match tokio.block_on(Server::bind(addr, model, quiet())) {
        Err(e @ ServeError::Bind { addr: refused, .. }) => {
            assert_eq!(refused, addr);
            assert!(e.to_string().contains(&addr.to_string()), "{e}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("bound {addr}, which was taken"),
    }
}

#[test]
fn metrics_count_requests_and_parse_as_prometheus_text() {
    let server = TestServer::start_many(&["iris", "multi_io"], Limits::default(), quiet());
    for _ in 0..3 {
        assert_eq!(
            server
                .post_json("/v2/models/iris/infer", &infer_request("iris"))
                .status,
            200
        );
    }
    let bad = server.post_json("/v2/models/iris/infer", &json!({"inputs": []}));
    assert_eq!(bad.status, 400);
    assert_eq!(server.get("/v2/models/multi_io").status, 200);
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4")
    );

    // Parsed by the reference parser, prometheus_client's.
    let python = crate::support::repo().join(".venv/bin/python");
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
        samples[key] = s.value
print(json.dumps(samples))
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&metrics.body)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sample = |key: &str| {
        samples[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no sample {key} in {samples:#}"))
    };
    assert_eq!(
        sample("wasmodel_requests_total{model=iris,route=infer,status=200,version=1}"),
        3.0
    );
    assert_eq!(
        sample("wasmodel_requests_total{model=iris,route=infer,status=400,version=1}"),
        1.0
    );
    assert_eq!(
        sample("wasmodel_inference_request_success_total{model=iris,version=1}"),
        3.0
    );
    assert_eq!(
        sample("wasmodel_inference_request_failure_total{model=iris,version=1}"),
        1.0
    );
    assert_eq!(
        sample("wasmodel_requests_total{model=multi_io,route=model_metadata,status=200,version=1}"),
        1.0
    );
    assert_eq!(
        sample("wasmodel_request_duration_seconds_count{model=iris,version=1}"),
        4.0
    );
    assert_eq!(
        sample("wasmodel_compute_duration_seconds_count{model=iris,version=1}"),
        4.0
    );
    assert_eq!(
        sample("wasmodel_queue_duration_seconds_count{model=iris,version=1}"),
        4.0
    );
    assert!(sample("wasmodel_instance_memory_bytes_count{model=iris,version=1}") >= 1.0);
    assert!(sample("wasmodel_instance_memory_bytes_sum{model=iris,version=1}") > 1e6);
    assert_eq!(sample("wasmodel_instances_in_use{}"), 0.0);
    let cache = sample("wasmodel_compile_cache_hits_total{}")
        + sample("wasmodel_compile_cache_misses_total{}");
    assert_eq!(cache, 2.0, "two components loaded");
}

#[test]
fn a_model_with_several_inputs_and_types_matches_onnxruntime() {
    let server = TestServer::start("multi_io", Limits::default(), quiet());
    assert_infer_matches_onnxruntime(&server, "multi_io", "/v2/models/multi_io/infer");
}

#[test]
fn every_error_has_its_status_and_says_what_was_wrong() {
    let server = TestServer::iris();
    let json = [("content-type", "application/json")];
    let infer = "/v2/models/iris/infer";
    let features = |shape: Value, datatype: &str, data: Value| {
        json!({ "inputs": [{ "name": "features", "shape": shape, "datatype": datatype, "data": data }] })
            .to_string()
    };
    let row = json!([5.1, 3.5, 1.4, 0.2]);
    // (method, path, headers, body, status, words the error must contain)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        String,
        u16,
        &'a [&'a str],
    );
    let cases: Vec<Case> = vec![
        ("GET", "/v2/models/nope", &[], String::new(), 404, &["nope"]),
        (
            "GET",
            "/v2/models/iris/versions/7",
            &[],
            String::new(),
            404,
            &["7"],
        ),
        ("GET", "/nowhere", &[], String::new(), 404, &["/nowhere"]),
        (
            "POST",
            "/v2/models/iris",
            &json,
            String::new(),
            405,
            &["GET"],
        ),
        ("GET", infer, &[], String::new(), 405, &["POST"]),
        (
            "POST",
            infer,
            &[("content-type", "text/csv")],
            "1,2".into(),
            415,
            &["application/json"],
        ),
        ("POST", infer, &json, "{not json".into(), 400, &["JSON"]),
        ("POST", infer, &json, "[]".into(), 400, &["inputs"]),
        (
            "POST",
            infer,
            &json,
            r#"{"inputs": []}"#.into(),
            400,
            &["features"],
        ),
        (
            "POST",
            infer,
            &json,
            features(json!([1, 3]), "FP32", json!([1, 2, 3])),
            400,
            &["features", "4", "3"],
        ),
        (
            "POST",
            infer,
            &json,
            features(json!([1, 4]), "INT64", json!([1, 2, 3, 4])),
            400,
            &["features", "FP32", "INT64"],
        ),
        (
            "POST",
            infer,
            &json,
            features(json!([2, 4]), "FP32", row.clone()),
            400,
            &["features", "8", "4"],
        ),
        (
            "POST",
            infer,
            &json,
            features(json!([1, 4]), "FP32", json!(["a", "b", "c", "d"])),
            400,
            &["features"],
        ),
        (
            "POST",
            infer,
            &json,
            features(json!([1, 4]), "FP9", row.clone()),
            400,
            &["FP9"],
        ),
        (
            "POST",
            infer,
            &json,
            json!({ "inputs": [
                { "name": "features", "shape": [1, 4], "datatype": "FP32", "data": row },
                { "name": "extra", "shape": [1], "datatype": "FP32", "data": [1] },
            ] })
            .to_string(),
            400,
            &["extra"],
        ),
    ];
    for (method, path, headers, body, status, words) in cases {
        let answer = server.send(method, path, headers, body.as_bytes());
        let context = format!("{method} {path} {body}");
        assert_eq!(answer.status, status, "{context}: {answer:?}");
        let error = answer.error();
        for word in words {
            assert!(error.contains(word), "{context}: `{word}` not in {error:?}");
        }
        if status == 405 {
            assert!(
                answer.header("allow").is_some(),
                "{context}: no Allow header"
            );
        }
    }
    // HTTP/1.0 allows leaving out Host; wasi:http needs an authority.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"GET /v2 HTTP/1.0\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let no_host = parse_response(&raw);
    assert_eq!(no_host.status, 400, "{no_host:?}");
    assert!(no_host.error().contains("Host"), "{no_host:?}");
    // None of that hurt the server.
    assert_infer_matches_onnxruntime(&server, "iris", infer);
}

#[test]
fn a_body_over_the_limit_is_refused_however_it_is_sent() {
    let server = TestServer::start(
        "iris",
        Limits::default(),
        ServeOptions {
            max_body: 1000,
            ..quiet()
        },
    );
    let big = vec![b' '; 5000];
    let json = ("content-type", "application/json");
    let declared = server.send("POST", "/v2/models/iris/infer", &[json], &big);
    assert_eq!(declared.status, 413, "{declared:?}");
    assert!(declared.error().contains("1000 bytes"), "{declared:?}");
    let chunked = server.send(
        "POST",
        "/v2/models/iris/infer",
        &[json, ("transfer-encoding", "chunked")],
        &big,
    );
    assert_eq!(chunked.status, 413, "{chunked:?}");
    // Under the limit, chunked or not, it answers.
    let request = infer_request("iris").to_string();
    assert!(
        request.len() < 1000,
        "the iris request grew: {}",
        request.len()
    );
    let answer = server.send(
        "POST",
        "/v2/models/iris/infer",
        &[json, ("transfer-encoding", "chunked")],
        request.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// An infer request for `rows` 8×8 images for the digits CNN.
pub(crate) fn digits_request(rows: usize) -> Value {
    json!({ "inputs": [{
        "name": "image",
        "shape": [rows, 1, 8, 8],
        "datatype": "FP32",
        "data": vec![0.5; rows * 64],
    }] })
}

#[test]
fn a_request_over_its_time_budget_gets_504_and_the_next_is_served() {
    let server = TestServer::start(
        "digits_cnn",
        Limits {
            timeout: Duration::from_millis(50),
            ..Limits::default()
        },
        quiet(),
    );
    let slow = server.post_json("/v2/models/digits_cnn/infer", &digits_request(20_000));
    assert_eq!(slow.status, 504, "{slow:?}");
    assert!(slow.error().contains("time limit"), "{slow:?}");
    let quick = server.post_json("/v2/models/digits_cnn/infer", &digits_request(1));
    assert_eq!(quick.status, 200, "{quick:?}");
    assert_eq!(quick.json()["outputs"][0]["shape"], json!([1, 10]));
}

#[test]
fn a_request_over_its_memory_budget_gets_503_and_the_next_is_served() {
    // Enough for the pre-initialized CNN and a small batch, not for the
    // activations of 20 000 images (over 100 MB).
    let server = TestServer::start(
        "digits_cnn",
        Limits {
            max_memory: 64 << 20,
            ..Limits::default()
        },
        quiet(),
    );
    let big = server.post_json("/v2/models/digits_cnn/infer", &digits_request(20_000));
    assert_eq!(big.status, 503, "{big:?}");
    assert!(big.error().contains("memory limit"), "{big:?}");
    let small = server.post_json("/v2/models/digits_cnn/infer", &digits_request(2));
    assert_eq!(small.status, 200, "{small:?}");
}

#[test]
fn concurrent_requests_beyond_the_limit_wait_and_all_succeed() {
    let server = TestServer::start(
        "iris",
        Limits::default(),
        ServeOptions {
            max_concurrency: 2,
            ..quiet()
        },
    );
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..5 {
                    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
                }
            });
        }
    });
}

#[test]
fn each_kind_of_component_is_refused_by_the_other_host() {
    let predictor = crate::support::component("iris");
    match HttpModel::load(runtime(), &predictor) {
        Err(Error::NotAModelComponent(why)) => {
            assert!(why.contains("wasmodel build --http"), "{why}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    // And the other way round: `predict` and `inspect` say what to do.
    match runtime().load(&http_component("iris").component) {
        Err(Error::NotAModelComponent(why)) => assert!(why.contains("wasmodel serve"), "{why}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_binary_serves_logs_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris-http.wasm");
    std::fs::write(&wasm, &http_component("iris").component).unwrap();
    let (child, addr) = spawn_wasmodel_serve(&[&wasm]);

    let answer = send(addr, "GET", "/v2/health/ready", &[], b"");
    assert_eq!(answer.status, 200);

    let stderr = stop_with_ctrl_c(child);
    assert!(
        stderr.contains("\"GET /v2/health/ready\" 200"),
        "no access-log line in {stderr}"
    );
    assert!(stderr.contains("Shutting down"), "{stderr}");
}

#[test]
fn the_binary_serves_a_component_precompiled_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris-http.wasm");
    let cwasm = dir.path().join("iris-http.cwasm");
    std::fs::write(&wasm, &http_component("iris").component).unwrap();
    crate::support::ok(
        Command::new(env!("CARGO_BIN_EXE_wasmodel"))
            .arg("compile")
            .arg(&wasm)
            .arg("-o")
            .arg(&cwasm)
            .env("WASMODEL_CACHE_DIR", cache_dir())
            .output()
            .unwrap(),
    );
    let (mut child, addr) = spawn_wasmodel_serve(&[
        cwasm.as_os_str(),
        "--allow-precompiled".as_ref(),
        "--concurrency".as_ref(),
        "3".as_ref(),
        "--quiet".as_ref(),
    ]);
    let server = TestServer::at(addr);
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn tier_up_answers_on_winch_then_moves_to_cranelift() {
    let component = &http_component("iris").component;
    if let Some(why) = wasmodel::Compiler::Winch.cannot_compile(component) {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris-http.wasm");
    std::fs::write(&wasm, component).unwrap();
    let cache = dir.path().join("cache");
    let args = [
        wasm.as_os_str(),
        "--tier-up".as_ref(),
        "--quiet".as_ref(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
    ];
    let (mut child, addr) = spawn_wasmodel_serve(&args);
    let server = TestServer::at(addr);
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("on Cranelift's code from now on") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the server stopped before moving to Cranelift's code:\n{said}");
        }
        said.push_str(&line);
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    assert!(said.contains("with Winch for a quick start"), "{said}");
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    let _ = child.kill();
    let _ = child.wait();

    // Cranelift's code is cached now: the next start uses it at once.
    let (child, addr) = spawn_wasmodel_serve(&args);
    assert_infer_matches_onnxruntime(&TestServer::at(addr), "iris", "/v2/models/iris/infer");
    let said = stop_with_ctrl_c(child);
    assert!(!said.contains("Winch"), "{said}");
}

#[test]
fn the_binary_serves_a_directory_of_models_with_json_logs() {
    // What `wasmodel build` leaves in a directory: predictors beside the
    // HTTP components; only the latter are served.
    let dir = tempfile::tempdir().unwrap();
    for stem in ["iris", "wine_mlp"] {
        std::fs::write(
            dir.path().join(format!("{stem}-http.wasm")),
            &http_component(stem).component,
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("iris.wasm"),
        &*crate::support::component("iris"),
    )
    .unwrap();
    let (child, addr) = spawn_wasmodel_serve(&[
        dir.path().as_os_str(),
        "--log-format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(
        send(addr, "GET", "/v2/models/wine_mlp", &[], b"").status,
        200
    );
    assert_eq!(
        send(addr, "GET", "/v2/models/iris/ready", &[], b"").status,
        200
    );

    let stderr = stop_with_ctrl_c(child);
    assert!(
        stderr.contains("Skipping") && stderr.contains("iris.wasm"),
        "{stderr}"
    );
    let logged: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(logged.len(), 2, "{stderr}");
    assert_eq!(
        (
            &logged[0]["path"],
            &logged[0]["model"],
            &logged[0]["status"]
        ),
        (
            &json!("/v2/models/wine_mlp"),
            &json!("wine_mlp"),
            &json!(200)
        )
    );
    assert!(
        logged[1]["ms"].is_number() && logged[1]["peer"].is_string(),
        "{}",
        logged[1]
    );
}

/// Runs tests/python/triton_client.py (an unmodified tritonclient, with its
/// default options and in JSON) against a server of `stem`'s component.
pub(crate) fn triton_client(addr: SocketAddr, stem: &str) {
    let python = crate::support::repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh --tests, which installs the pinned tritonclient",
        python.display()
    );
    let name = stem.rsplit('/').next().unwrap();
    let mut command = Command::new(&python);
    command
        .arg(crate::support::repo().join("tests/python/triton_client.py"))
        .args(["--url", &addr.to_string(), "--model", name, "--onnx"])
        .arg(crate::support::model_path(stem));
    if stem.starts_with("zoo/") {
        // Text columns: the fixture's rows, whose categories the model knows.
        command
            .arg("--inputs")
            .arg(fixture_path(&format!("{stem}.json")));
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "tritonclient against {stem}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_unmodified_kserve_client_gets_onnxruntime_outputs() {
    let python = crate::support::repo().join(".venv-kserve/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh --tests, which installs the pinned KServe client",
        python.display()
    );
    for stem in ["iris", "dtypes", "zoo/columns_onehot_logreg"] {
        let server = TestServer::start(stem, Limits::default(), quiet());
        let output = Command::new(&python)
            .arg(crate::support::repo().join("tests/python/kserve_client.py"))
            .args(["--url", &format!("http://{}", server.addr)])
            .args(["--model", stem.rsplit('/').next().unwrap(), "--inputs"])
            .arg(fixture_path(&format!("{stem}.json")))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the KServe client against {stem}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answers: Value = serde_json::from_slice(&output.stdout).unwrap();
        let f = fixture(stem);
        for how in ["default", "binary_outputs"] {
            let got = tensors_from_json_object(&answers[how], |_| None).unwrap();
            assert_outputs_match(&got, &f.outputs, f.rtol, f.atol);
        }
    }
}

#[test]
fn an_unmodified_triton_client_gets_onnxruntime_outputs() {
    for stem in [
        "iris",
        "multi_io",
        "dtypes",
        "zoo/columns_onehot_logreg",
        "zoo/logreg_string_labels",
    ] {
        let server = TestServer::start(stem, Limits::default(), quiet());
        triton_client(server.addr, stem);
    }
}

/// Starts `wasmodel serve ARGS... --addr 127.0.0.1:0` and waits for its
/// `Listening on` line: the child (stderr piped, for the caller to read;
/// stdout drained) and the address. Panics with the server's stderr if it does not start.
pub(crate) fn spawn_wasmodel_serve<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
) -> (std::process::Child, SocketAddr) {
    spawn_serve_with(Command::new(env!("CARGO_BIN_EXE_wasmodel")), args)
}

/// [`spawn_wasmodel_serve`] through `command`, which runs the binary (a
/// wrapper that sets limits, say).
pub(crate) fn spawn_serve_with<S: AsRef<std::ffi::OsStr>>(
    mut command: Command,
    args: &[S],
) -> (std::process::Child, SocketAddr) {
    let mut child = command
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .env("WASMODEL_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    match line.trim().strip_prefix("Listening on http://") {
        Some(addr) => {
            // Keep reading what it prints, so it never writes to a closed pipe.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            (child, addr.parse().unwrap())
        }
        None => {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("serve did not start: {line:?} {stderr}");
        }
    }
}

/// Sends the server Ctrl-C (SIGINT), checks that it exits cleanly, and
/// returns what it printed on stderr.
pub(crate) fn stop_with_ctrl_c(child: std::process::Child) -> String {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// Starts the wasmtime CLI's `serve` on `wasm` with its default flags (the
/// proxy world and nothing else) and waits until it serves: the child
/// (its log drained, so it never blocks) and the address.
pub(crate) fn spawn_wasmtime_serve(
    wasmtime: &std::path::Path,
    wasm: &std::path::Path,
) -> (std::process::Child, SocketAddr) {
    let mut child = Command::new(wasmtime)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(wasm)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", wasmtime.display()));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let addr: SocketAddr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("wasmtime serve exited before serving:\n{said}");
        }
        said.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("Serving HTTP on http://") {
            break rest.trim_end_matches('/').parse().unwrap();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr)
}

#[path = "../benches/common/wasmtime_cli.rs"]
mod find_wasmtime;

/// The wasmtime CLI (`benches/common/wasmtime_cli.rs` says where it is
/// looked for). `None` (the caller skips) only outside CI:
/// scripts/setup.sh installs it, so scripts/test.sh always runs the tests
/// that need it.
pub(crate) fn wasmtime_cli() -> Option<std::path::PathBuf> {
    let found = find_wasmtime::find(crate::support::repo());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no wasmtime CLI in CI: scripts/setup.sh should have installed it"
        );
        eprintln!("SKIPPED: no wasmtime CLI (run scripts/setup.sh, or set WASMODEL_WASMTIME)");
    }
    found
}

#[test]
fn the_wasmtime_cli_serves_the_component_unmodified() {
    let Some(wasmtime) = wasmtime_cli() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris-http.wasm");
    std::fs::write(&wasm, &http_component("iris").component).unwrap();
    let (mut child, addr) = spawn_wasmtime_serve(&wasmtime, &wasm);
    let server = TestServer::at(addr);
    let meta = server.get("/v2/models/iris");
    assert_eq!(meta.status, 200, "{meta:?}");
    assert_eq!(meta.json()["platform"], "onnx_onnxv1");
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
    let bad = server.post_json("/v2/models/iris/infer", &json!({ "inputs": [] }));
    assert_eq!(bad.status, 400, "{bad:?}");
    // tritonclient with its default options (binary tensors), unmodified.
    triton_client(server.addr, "iris");
    let _ = child.kill();
    let _ = child.wait();
}
