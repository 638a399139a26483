//! Every route and status of the protocol, natively, on real models: the
//! HTTP component runs this same code inside wasm.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde_json::{Value, json};
use wasmodel_engine::Model;
use wasmodel_oip::{Request, Response, Service};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(stem: &str) -> Model {
    let onnx = std::fs::read(repo().join("models").join(format!("{stem}.onnx"))).unwrap();
    Model::load(&onnx, stem, "1").unwrap()
}

static IRIS: LazyLock<Model> = LazyLock::new(|| load("iris"));
static MULTI_IO: LazyLock<Model> = LazyLock::new(|| load("multi_io"));

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

fn call(
    model: &Model,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    Service::new(model).handle(&Request {
        method,
        path,
        headers,
        body,
    })
}

fn get(path: &str) -> Response {
    call(&IRIS, "GET", path, &[], b"")
}

fn post(model: &Model, path: &str, body: &Value) -> Response {
    call(model, "POST", path, JSON, body.to_string().as_bytes())
}

fn body(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "status {}: body is not JSON ({e}): {:?}",
            response.status, response.body
        )
    })
}

/// Asserts the status and that the error message contains every `needle`.
#[track_caller]
fn assert_error(response: &Response, status: u16, needles: &[&str]) {
    let message = body(response)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(response.status, status, "{message}");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
}

fn iris_request(shape: Value, data: Value) -> Value {
    json!({"inputs": [{"name": "features", "shape": shape, "datatype": "FP32", "data": data}]})
}

#[test]
fn health_and_metadata() {
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/iris/ready",
        "/v2/models/iris/versions/1/ready",
    ] {
        let response = get(path);
        assert_eq!((response.status, response.body.len()), (200, 0), "{path}");
    }
    let server = body(&get("/v2"));
    assert_eq!(server["name"], "wasmodel");
    assert!(server["version"].is_string() && server["extensions"].is_array());

    let expected = json!({
        "name": "iris",
        "versions": ["1"],
        "platform": "onnx_onnxv1",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3],
             "parameters": {"class_labels": "[0,1,2]"}},
        ],
    });
    assert_eq!(body(&get("/v2/models/iris")), expected);
    assert_eq!(body(&get("/v2/models/iris/versions/1")), expected);
    assert_eq!(
        get("/v2/models/iris").headers,
        [("content-type", "application/json".to_string())]
    );
}

#[test]
fn infer_matches_onnxruntime_and_echoes_the_id() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/iris.json")).unwrap(),
    )
    .unwrap();
    let input = &fixture["inputs"]["features"];
    let mut request = iris_request(input["shape"].clone(), input["data"].clone());
    request["id"] = json!("req-7");
    request["parameters"] = json!({"priority": 1});
    for path in ["/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"] {
        let response = post(&IRIS, path, &request);
        assert_eq!(response.status, 200, "{:?}", body(&response));
        let answer = body(&response);
        assert_eq!(
            (answer["id"].as_str(), answer["model_name"].as_str()),
            (Some("req-7"), Some("iris"))
        );
        assert_eq!(answer["model_version"], "1");
        let outputs = answer["outputs"].as_array().unwrap();
        assert_eq!(outputs[0]["name"], "label");
        assert_eq!(outputs[0]["datatype"], "INT64");
        assert_eq!(outputs[0]["data"], fixture["outputs"]["label"]["data"]);
        assert_eq!(
            outputs[1]["shape"],
            fixture["outputs"]["probabilities"]["shape"]
        );
        let want = fixture["outputs"]["probabilities"]["data"]
            .as_array()
            .unwrap();
        let got = outputs[1]["data"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!(
                (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
                "{g} vs onnxruntime {w}"
            );
        }
    }
}

#[test]
fn nested_data_and_output_selection() {
    let request = json!({
        "inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                    "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}],
        "outputs": [{"name": "probabilities"}],
    });
    let answer = body(&post(&IRIS, "/v2/models/iris/infer", &request));
    let outputs = answer["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(
        (&outputs[0]["name"], &outputs[0]["shape"]),
        (&json!("probabilities"), &json!([2, 3]))
    );
    assert!(answer.get("id").is_none());
}

#[test]
fn multiple_inputs_of_two_types() {
    let request = json!({"inputs": [
        {"name": "category", "shape": [2], "datatype": "INT64", "data": [0, 3]},
        {"name": "numeric", "shape": [2, 5], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4, 0.5, 1, 2, 3, 4, 5]},
    ]});
    let answer = body(&post(&MULTI_IO, "/v2/models/multi_io/infer", &request));
    let names: Vec<&str> = answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["score", "class_logits"]);
}

#[test]
fn convenience_predict_route() {
    let request = json!({"inputs": {"features": [[5.1, 3.5, 1.4, 0.2]]}});
    let answer = body(&post(&IRIS, "/predict", &request));
    assert_eq!(
        answer["outputs"]["label"],
        json!({"dtype": "i64", "shape": [1], "data": [0]})
    );
    assert_error(
        &post(&IRIS, "/predict", &json!({"features": []})),
        400,
        &["inputs"],
    );
    assert_error(
        &post(
            &IRIS,
            "/predict",
            &json!({"inputs": {"features": [[1, 2], [3]]}}),
        ),
        400,
        &["ragged"],
    );
}

#[test]
fn the_repository_index_lists_the_model() {
    let response = call(&IRIS, "POST", "/v2/repository/index", &[], b"");
    assert_eq!(
        body(&response),
        json!([{"name": "iris", "version": "1", "state": "READY"}])
    );
    let response = call(
        &IRIS,
        "POST",
        "/v2/repository/index",
        JSON,
        b"{\"ready\": true}",
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        call(&IRIS, "GET", "/v2/repository/index", &[], b"").status,
        405
    );
}

#[test]
fn unknown_models_versions_and_routes_are_404() {
    assert_error(
        &get("/v2/models/resnet"),
        404,
        &["unknown model `resnet`", "`iris`"],
    );
    assert_error(
        &get("/v2/models/iris/versions/2"),
        404,
        &["unknown version `2`"],
    );
    assert_error(
        &post(&IRIS, "/v2/models/resnet/infer", &json!({})),
        404,
        &["resnet"],
    );
    assert_error(&get("/v2/models/iris/explain"), 404, &["no route"]);
    assert_error(&get("/"), 404, &["no route"]);
    assert_error(&get("/v3"), 404, &["no route"]);
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let response = call(&IRIS, "GET", "/v2/models/iris/infer", &[], b"");
    assert_error(&response, 405, &["POST"]);
    assert!(response.headers.contains(&("allow", "POST".into())));
    let response = call(&IRIS, "DELETE", "/v2/models/iris", &[], b"");
    assert_error(&response, 405, &["GET"]);
    assert_error(
        &call(&IRIS, "POST", "/v2/health/live", JSON, b"{}"),
        405,
        &["GET"],
    );
    assert_error(&call(&IRIS, "PUT", "/predict", JSON, b"{}"), 405, &["POST"]);
}

#[test]
fn bodies_over_the_limit_are_413() {
    let request = iris_request(json!([1, 4]), json!([1, 2, 3, 4])).to_string();
    let limit = request.len() - 1;
    let service = Service::new(&IRIS).max_body(limit);
    let response = service.handle(&Request {
        method: "POST",
        path: "/v2/models/iris/infer",
        headers: JSON,
        body: request.as_bytes(),
    });
    // In the words of every wasmodel server's 413 (`wasmodel serve`'s, the
    // Fastly module's, the Worker's).
    assert_eq!(response, Response::too_large(limit));
    assert_error(&response, 413, &[&wasmodel_oip::too_large_message(limit)]);
}

#[test]
fn content_types() {
    let request = iris_request(json!([1, 4]), json!([1, 2, 3, 4])).to_string();
    let infer = |headers: &[(&str, &str)]| {
        call(
            &IRIS,
            "POST",
            "/v2/models/iris/infer",
            headers,
            request.as_bytes(),
        )
    };
    assert_eq!(infer(&[]).status, 200, "no content type is read as JSON");
    assert_eq!(
        infer(&[("Content-Type", "application/json; charset=utf-8")]).status,
        200
    );
    assert_error(
        &infer(&[("content-type", "text/plain")]),
        415,
        &["text/plain", "application/json"],
    );
    assert_error(
        &infer(&[("inference-header-content-length", "100000")]),
        400,
        &["Inference-Header-Content-Length is 100000", "body is only"],
    );
}

/// A request of the binary extension: the JSON header, then the raw bytes.
fn binary_request(header: &Value, binary: &[u8]) -> (Vec<u8>, String) {
    let mut body = header.to_string().into_bytes();
    let length = body.len().to_string();
    body.extend_from_slice(binary);
    (body, length)
}

/// Splits a binary-extension response into its JSON header and raw bytes.
fn binary_response(response: &Response) -> (Value, Vec<u8>) {
    let length: usize = response
        .headers
        .iter()
        .find(|(n, _)| *n == "inference-header-content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or_else(|| {
            panic!(
                "no Inference-Header-Content-Length in {:?}",
                response.headers
            )
        });
    let (header, binary) = response.body.split_at(length);
    (serde_json::from_slice(header).unwrap(), binary.to_vec())
}

#[test]
fn binary_tensors_in_and_out_match_the_json_answer() {
    // What tritonclient sends by default: inputs as raw little-endian bytes
    // after the JSON header, outputs asked for in binary.
    let features: Vec<f32> = vec![5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
    let raw: Vec<u8> = features.iter().flat_map(|x| x.to_le_bytes()).collect();
    let header = json!({
        "id": "b-1",
        "inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": raw.len()}}],
        "parameters": {"binary_data_output": true},
    });
    let (body, length) = binary_request(&header, &raw);
    let headers = [
        ("content-type", "application/octet-stream"),
        ("inference-header-content-length", length.as_str()),
    ];
    let response = call(&IRIS, "POST", "/v2/models/iris/infer", &headers, &body);
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    let (answer, binary) = binary_response(&response);
    assert_eq!(answer["id"], "b-1");

    let json = self::body(&post(
        &IRIS,
        "/v2/models/iris/infer",
        &iris_request(json!([2, 4]), json!(features)),
    ));
    let mut offset = 0;
    for (output, expected) in answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(json["outputs"].as_array().unwrap())
    {
        assert!(output.get("data").is_none(), "{output}");
        let size = output["parameters"]["binary_data_size"].as_u64().unwrap() as usize;
        let bytes = &binary[offset..offset + size];
        offset += size;
        let decoded: Vec<f64> = match output["datatype"].as_str().unwrap() {
            "INT64" => bytes
                .chunks(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            "FP32" => bytes
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("datatype {other}"),
        };
        // JSON writes an f32 with the fewest digits that read back as it.
        let want: Vec<f64> = expected["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| f64::from(v.as_f64().unwrap() as f32))
            .collect();
        assert_eq!(decoded, want, "{}", output["name"]);
        assert_eq!(output["shape"], expected["shape"]);
    }
    assert_eq!(offset, binary.len());

    // Per output: binary for one, JSON for the other.
    let header = json!({
        "inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": raw.len()}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": true}},
                    {"name": "probabilities", "parameters": {"binary_data": false}}],
    });
    let (body, length) = binary_request(&header, &raw);
    let response = call(
        &IRIS,
        "POST",
        "/v2/models/iris/infer",
        &[("inference-header-content-length", length.as_str())],
        &body,
    );
    let (answer, binary) = binary_response(&response);
    assert_eq!(binary.len(), 2 * 8, "two int64 labels");
    assert!(answer["outputs"][1]["data"].is_array(), "{answer}");
}

#[test]
fn bad_binary_data_is_400_naming_the_input() {
    let send = |header: Value, binary: &[u8]| {
        let (body, length) = binary_request(&header, binary);
        call(
            &IRIS,
            "POST",
            "/v2/models/iris/infer",
            &[("inference-header-content-length", length.as_str())],
            &body,
        )
    };
    let input = |size: usize| {
        json!({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                           "parameters": {"binary_data_size": size}}]})
    };
    assert_error(
        &send(input(12), &[0; 12]),
        400,
        &["`features`", "12 bytes", "4 FP32 elements take 16"],
    );
    assert_error(
        &send(input(32), &[0; 16]),
        400,
        &["`features`", "binary_data_size is 32", "16 bytes"],
    );
    assert_error(
        &send(input(16), &[0; 20]),
        400,
        &["4 bytes of binary data after"],
    );
    let both = json!({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                  "data": [1, 2, 3, 4], "parameters": {"binary_data_size": 16}}]});
    assert_error(
        &send(both, &[0; 16]),
        400,
        &["`features`", "both `data` and a binary_data_size"],
    );
    let neither = json!({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32"}]});
    assert_error(&send(neither, &[]), 400, &["`features`", "no `data`"]);
}

#[test]
fn malformed_requests_are_400_and_say_what_is_wrong() {
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "not JSON",
            b"{\"inputs\": [".to_vec(),
            vec!["not valid JSON"],
        ),
        (
            "not an object",
            b"[1, 2]".to_vec(),
            vec!["not an inference request"],
        ),
        ("no inputs", b"{}".to_vec(), vec!["missing field `inputs`"]),
        (
            "no datatype",
            br#"{"inputs": [{"name": "features", "shape": [1, 4], "data": [1, 2, 3, 4]}]}"#
                .to_vec(),
            vec!["missing field `datatype`"],
        ),
        (
            "negative shape",
            iris_request(json!([-1, 4]), json!([1, 2, 3, 4]))
                .to_string()
                .into_bytes(),
            vec!["features", "negative"],
        ),
        (
            "string data",
            iris_request(json!([1, 4]), json!(["a", 2, 3, 4]))
                .to_string()
                .into_bytes(),
            vec!["features", "element 0", "not a number"],
        ),
    ];
    for (what, request, needles) in cases {
        let response = call(&IRIS, "POST", "/v2/models/iris/infer", JSON, &request);
        assert_eq!(response.status, 400, "{what}");
        assert_error(&response, 400, &needles);
    }
}

#[test]
fn wrong_inputs_are_400_naming_the_input_expected_and_got() {
    let infer = |request: Value| post(&MULTI_IO, "/v2/models/multi_io/infer", &request);
    let numeric = |shape: Value, n: usize| json!({"name": "numeric", "shape": shape, "datatype": "FP32", "data": vec![0.5; n]});
    let category = |n: usize| json!({"name": "category", "shape": [n], "datatype": "INT64", "data": vec![1; n]});

    // Wrong shape: 4 columns where the model declares 5.
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 4]), 8), category(2)]})),
        400,
        &["numeric", "expected", "got"],
    );
    // Batch sizes that disagree.
    assert_error(
        &infer(json!({"inputs": [numeric(json!([3, 5]), 15), category(2)]})),
        400,
        &["category", "batch"],
    );
    // Data that does not fill the shape.
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 5]), 9), category(2)]})),
        400,
        &["numeric", "10", "9"],
    );
    // Wrong datatype, in the protocol's names.
    let as_fp32 = json!({"name": "category", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]});
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 5]), 10), as_fp32]})),
        400,
        &["category", "expected INT64, got FP32"],
    );
    // Unsupported and unknown datatypes.
    let as_fp16 = json!({"name": "category", "shape": [2], "datatype": "FP16", "data": [1, 2]});
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 5]), 10), as_fp16]})),
        400,
        &["category", "FP16 is not supported"],
    );
    // Fractional numbers for an integer input.
    let fractional =
        json!({"name": "category", "shape": [2], "datatype": "INT64", "data": [1.5, 2]});
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 5]), 10), fractional]})),
        400,
        &["category", "1.5"],
    );
    // Missing, unknown and empty inputs.
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 5]), 10)]})),
        400,
        &["missing", "category"],
    );
    let stray = json!({"name": "colour", "shape": [1], "datatype": "UINT8", "data": [1]});
    assert_error(
        &infer(json!({"inputs": [numeric(json!([2, 5]), 10), category(2), stray]})),
        400,
        &["unknown", "colour"],
    );
    assert_error(
        &infer(json!({"inputs": [numeric(json!([0, 5]), 0), category(0)]})),
        400,
        &["empty"],
    );
    // An output the model does not have.
    let request = json!({"inputs": [numeric(json!([2, 5]), 10), category(2)], "outputs": [{"name": "logits"}]});
    assert_error(
        &infer(request),
        400,
        &["unknown output `logits`", "`score`"],
    );

    // And the service keeps answering.
    assert_eq!(
        infer(json!({"inputs": [numeric(json!([2, 5]), 10), category(2)]})).status,
        200
    );
}

/// Requests as tritonclient writes them, `datatype` before `data` (the
/// order in which the data is read straight into a typed buffer; `json!`
/// sorts keys, so the requests above have it after), are read alike.
#[test]
fn datatype_before_data_is_read_the_same() {
    let request = |data: &str| {
        format!(
            r#"{{"inputs": [{{"name": "features", "shape": [2, 4], "datatype": "FP32", "data": {data}}}]}}"#
        )
    };
    let infer = |body: String| {
        call(
            &IRIS,
            "POST",
            "/v2/models/iris/infer",
            JSON,
            body.as_bytes(),
        )
    };
    let rows = "[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]";
    let sorted = post(
        &IRIS,
        "/v2/models/iris/infer",
        &iris_request(json!([2, 4]), serde_json::from_str(rows).unwrap()),
    );
    assert_eq!(sorted.status, 200);
    assert_eq!(body(&infer(request(rows))), body(&sorted));
    assert_eq!(
        body(&infer(request("[5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]"))),
        body(&sorted)
    );
    assert_error(
        &infer(request("[[1, 2, \"x\", 4], [5, 6, 7, 8]]")),
        400,
        &[
            "`features` (FP32)",
            "element 2 is \"x\", which is not a number",
        ],
    );
    // The arrays' shape is reported before a bad element, as the engine
    // checks it first.
    assert_error(
        &infer(request("[[1, 2, \"x\", 4], [5, 6, 7]]")),
        400,
        &[
            "`features`",
            "ragged array: [1] has 3 elements where 4 were expected",
        ],
    );
    assert_error(
        &infer(request("[[1, 2, 3, 4], [5, 6, 7, 8]")),
        400,
        &["not valid JSON"],
    );
}
