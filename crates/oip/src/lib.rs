//! The Open Inference Protocol v2 (KServe / Triton REST) over one model, in
//! plain Rust: a request (method, path, headers, body) in, a response
//! (status, headers, JSON body) out.
//!
//! Nothing here knows about HTTP servers, wasm or Spin: the HTTP component
//! (the `http` flavour of `crates/guest`) hands every request to [`Service::handle`], and
//! the tests call it natively. Every failure is a response with a status
//! and `{"error": "..."}` saying what was wrong; nothing a client sends can
//! make it panic.
//!
//! Routes (`{v}` is the model's version; `{name}` must be the model's name):
//!
//! | Method | Path | Answer |
//! |---|---|---|
//! | GET | `/v2/health/live`, `/v2/health/ready` | 200, empty |
//! | GET | `/v2` | server metadata |
//! | GET | `/v2/models/{name}[/versions/{v}]` | model metadata |
//! | GET | `/v2/models/{name}[/versions/{v}]/ready` | 200, empty |
//! | POST | `/v2/models/{name}[/versions/{v}]/infer` | inference |
//! | POST | `/predict` | convenience: `{"inputs": {name: tensor}}` as the CLI reads it |
//! | POST | `/v2/repository/index` | the model repository extension: `[{name, version, state}]` |
//!
//! Infer requests and responses may carry tensors as JSON or in binary
//! (the binary tensor data extension, tritonclient's default: [`binary`]).

pub mod binary;
mod input_data;
mod protocol;

use serde_json::{Value, json};
use wasmodel_engine::json::{add_class_labels, tensors_from_json_object, tensors_to_json};
use wasmodel_engine::{Model, PredictError};

pub use protocol::{InferRequest, RequestedOutput, datatype};

/// The name this server gives in its metadata.
pub const SERVER_NAME: &str = "wasmodel";
/// Largest request body accepted by default: 64 MiB.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// What a 413 says: the request's body is over `limit` bytes.
pub fn too_large_message(limit: usize) -> String {
    format!("the request body is larger than this server's limit of {limit} bytes")
}

/// An HTTP request, as much of it as the protocol needs.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, with or without a query string (which is ignored).
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// An HTTP response: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A 200 of the binary extension: the JSON header, then the raw
    /// tensors, its length in `Inference-Header-Content-Length`.
    fn with_binary(header: &Value, binary: Vec<u8>) -> Response {
        let mut body = header.to_string().into_bytes();
        let header_length = body.len();
        body.extend_from_slice(&binary);
        Response {
            status: 200,
            headers: vec![
                ("content-type", "application/octet-stream".into()),
                ("inference-header-content-length", header_length.to_string()),
            ],
            body,
        }
    }

    /// A status with a `{"error": message}` body, the protocol's error shape.
    pub fn error(status: u16, message: impl std::fmt::Display) -> Response {
        Response::json(status, &json!({ "error": message.to_string() }))
    }

    /// The 413 every wasmodel server answers a body over its `limit`
    /// with (`wasmodel serve`, the HTTP component, the Fastly module and
    /// the Worker's JavaScript say it in these words).
    pub fn too_large(limit: usize) -> Response {
        Response::error(413, too_large_message(limit))
    }

    fn method_not_allowed(allow: &'static str) -> Response {
        let mut response = Response::error(405, format!("method not allowed; use {allow}"));
        response.headers.push(("allow", allow.into()));
        response
    }
}

/// One model served over the Open Inference Protocol.
pub struct Service<'m> {
    model: &'m Model,
    max_body: usize,
}

impl<'m> Service<'m> {
    pub fn new(model: &'m Model) -> Service<'m> {
        Service {
            model,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Refuse bodies over `bytes` with 413.
    pub fn max_body(mut self, bytes: usize) -> Service<'m> {
        self.max_body = bytes;
        self
    }

    /// Answers one request.
    pub fn handle(&self, request: &Request<'_>) -> Response {
        let path = request.path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let info = self.model.info();
        match segments.as_slice() {
            ["v2"] => get(request, || {
                Response::json(200, &protocol::server_metadata(SERVER_NAME))
            }),
            ["v2", "health", "live" | "ready"] => get(request, || Response::empty(200)),
            ["v2", "models", name, rest @ ..] => {
                let rest = match rest {
                    ["versions", version, rest @ ..] => {
                        if *version != info.version {
                            return Response::error(
                                404,
                                format!(
                                    "unknown version `{version}` of model `{name}`; this server has version `{}`",
                                    info.version
                                ),
                            );
                        }
                        rest
                    }
                    rest => rest,
                };
                if *name != info.name {
                    return Response::error(
                        404,
                        format!("unknown model `{name}`; this server serves `{}`", info.name),
                    );
                }
                match rest {
                    [] => get(request, || {
                        Response::json(200, &protocol::model_metadata(info))
                    }),
                    ["ready"] => get(request, || Response::empty(200)),
                    ["infer"] => self.post(request, |header, binary| self.infer(header, binary)),
                    _ => not_found(path),
                }
            }
            ["v2", "repository", "index"] => match request.method {
                // The model repository extension: the models this server
                // has (this one), whatever the body asks.
                "POST" => Response::json(
                    200,
                    &json!([{ "name": info.name, "version": info.version, "state": "READY" }]),
                ),
                _ => Response::method_not_allowed("POST"),
            },
            ["predict"] => self.post(request, |header, binary| {
                match protocol::parse_body::<Value>(header) {
                    Ok(body) => self.predict(body, binary),
                    Err(e) => {
                        Response::error(400, format!("the request body is not valid JSON: {e}"))
                    }
                }
            }),
            _ => not_found(path),
        }
    }

    /// Checks method, size and content type of a POST, then hands `answer`
    /// its JSON body (or, with the binary extension, its JSON header) and
    /// the binary data that follows it (empty without).
    fn post(
        &self,
        request: &Request<'_>,
        answer: impl FnOnce(&[u8], &[u8]) -> Response,
    ) -> Response {
        if request.method != "POST" {
            return Response::method_not_allowed("POST");
        }
        if request.body.len() > self.max_body {
            return Response::too_large(self.max_body);
        }
        let (header, binary) = match request.header("inference-header-content-length") {
            // The binary extension: a JSON header, then raw tensors; the
            // body as a whole is not JSON, whatever its content type says.
            Some(length) => match binary::split(request.body, length) {
                Ok(parts) => parts,
                Err(message) => return Response::error(400, message),
            },
            None => {
                if let Some(content_type) = request.header("content-type") {
                    let essence = content_type.split(';').next().unwrap_or_default().trim();
                    if !essence.eq_ignore_ascii_case("application/json") {
                        return Response::error(
                            415,
                            format!(
                                "content type `{content_type}` is not supported; send \
                                 application/json, or binary tensors with an \
                                 Inference-Header-Content-Length header"
                            ),
                        );
                    }
                }
                (request.body, &[][..])
            }
        };
        answer(header, binary)
    }

    fn infer(&self, header: &[u8], binary: &[u8]) -> Response {
        let info = self.model.info();
        let mut request = match protocol::InferRequest::parse(header, binary, info) {
            Ok(request) => request,
            Err(message) => return Response::error(400, message),
        };
        let inputs = std::mem::take(&mut request.inputs);
        match self.model.predict(inputs) {
            Ok(outputs) => match protocol::infer_response(info, &request, outputs) {
                Ok((header, binary)) if binary.is_empty() => Response::json(200, &header),
                Ok((header, binary)) => Response::with_binary(&header, binary),
                Err(message) => Response::error(400, message),
            },
            Err(e) => predict_failure(e),
        }
    }

    fn predict(&self, body: Value, binary: &[u8]) -> Response {
        if !binary.is_empty() {
            return Response::error(
                400,
                "/predict takes JSON only; send binary tensors to /v2/models/{name}/infer",
            );
        }
        let Some(inputs) = body.get("inputs") else {
            return Response::error(
                400,
                "expected {\"inputs\": {\"<input name>\": <tensor>, ...}}",
            );
        };
        let info = self.model.info();
        let declared = |name: &str| {
            info.inputs
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.element_type)
        };
        let inputs = match tensors_from_json_object(inputs, declared) {
            Ok(inputs) => inputs,
            Err(message) => return Response::error(400, message),
        };
        match self.model.predict(inputs) {
            Ok(outputs) => {
                let mut outputs = tensors_to_json(&outputs);
                add_class_labels(&mut outputs, &info.outputs);
                Response::json(200, &json!({ "outputs": outputs }))
            }
            Err(e) => predict_failure(e),
        }
    }
}

/// Answers a GET route, or 405 for any other method.
fn get(request: &Request<'_>, answer: impl FnOnce() -> Response) -> Response {
    match request.method {
        "GET" => answer(),
        "HEAD" => Response {
            body: Vec::new(),
            ..answer()
        },
        _ => Response::method_not_allowed("GET"),
    }
}

fn not_found(path: &str) -> Response {
    Response::error(
        404,
        format!("no route for `{path}`; see /v2, /v2/models/<name>, /v2/models/<name>/infer"),
    )
}

/// The caller's mistakes are 400; the engine's are 500.
fn predict_failure(e: PredictError) -> Response {
    match e {
        PredictError::InvalidInput(input) => Response::error(400, input),
        other => Response::error(500, other),
    }
}
