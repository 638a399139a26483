//! The HTTP flavour: `wasi:http/incoming-handler` over the Open Inference
//! Protocol service (`wasmodel-oip`) and the component's model.
//!
//! Bindings generated from `wit/` (the `http-model` world, which is
//! `wasi:http/proxy`), for `wasm32-unknown-unknown` like the predictor: so
//! the two flavours share every dependency's build, and the component
//! needs no WASI preview-1 adapter. It imports only what it calls: the
//! request and response types, their streams, and stderr for a panic's
//! message.

mod bindings {
    //! Generated from the one WIT source of truth in `wit/`.
    wit_bindgen::generate!({ path: "../../wit", world: "http-model", generate_all });
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use bindings::wasi::io::streams::{OutputStream, StreamError};

struct Component;

impl Guest for Component {
    /// Answers one request. Never fails: every problem is an HTTP error
    /// response with a `{"error": ...}` body.
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let answer = match read_body(&request) {
            Ok(body) => answer(&request, &body),
            Err(message) => wasmodel_oip::Response::error(400, message),
        };
        respond(response_out, answer);
    }
}

bindings::export!(Component with_types_in bindings);

/// Makes a panic's message go to `wasi:cli/stderr` (the host's log), as
/// std does on WASI targets; on this one it would go nowhere. Called at
/// the end of `wasmodel-init`, so every instance starts with it.
pub(crate) fn report_panics_to_stderr() {
    std::panic::set_hook(Box::new(|info| {
        write_all(
            &bindings::wasi::cli::stderr::get_stderr(),
            format!("wasmodel engine: {info}\n").as_bytes(),
        );
    }));
}

/// The protocol's answer to `request` with its `body`.
fn answer(request: &IncomingRequest, body: &[u8]) -> wasmodel_oip::Response {
    let model = match crate::init::model() {
        Ok(model) => model,
        Err(message) => return wasmodel_oip::Response::error(500, message),
    };
    let method = request.method();
    let path = request.path_with_query().unwrap_or_default();
    // Header values that are not text cannot matter to the protocol (it
    // reads `content-type` and `inference-header-content-length`), so they
    // are left out.
    let entries = request.headers().entries();
    let headers: Vec<(&str, &str)> = entries
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), std::str::from_utf8(value).ok()?)))
        .collect();
    wasmodel_oip::Service::new(model).handle(&wasmodel_oip::Request {
        method: method_name(&method),
        path: &path,
        headers: &headers,
        body,
    })
}

fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}

/// The request's whole body, or why it could not be read.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request
        .consume()
        .map_err(|()| "the request's body was already taken".to_string())?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| "the request's body has no stream".to_string())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!(
                        "reading the request's body failed: {}",
                        e.to_debug_string()
                    ));
                }
            }
        }
        // The stream is a child of the body: dropped before it is finished.
    }
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

/// Sends `answer`. A client that went away is nobody's error: what cannot
/// be sent is dropped.
fn respond(response_out: ResponseOutparam, answer: wasmodel_oip::Response) {
    let entries: Vec<(String, Vec<u8>)> = answer
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_string(), value.as_bytes().to_vec()))
        .collect();
    // The protocol's headers are all valid; should one not be, the answer
    // goes without its headers rather than not at all.
    let headers = Fields::from_list(&entries).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    // Every status the protocol gives is valid (100-599).
    let _ = response.set_status_code(answer.status);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = body.write() {
        write_all(&stream, &answer.body);
        // The stream is a child of the body: dropped before it is finished.
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Writes all of `bytes` to `stream` as fast as the host takes them, and
/// flushes; stops early if the stream fails (the other end went away).
fn write_all(stream: &OutputStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let permitted = match stream.check_write() {
            Ok(0) => {
                stream.subscribe().block();
                continue;
            }
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len()),
            Err(_) => return,
        };
        let (chunk, rest) = bytes.split_at(permitted);
        if stream.write(chunk).is_err() {
            return;
        }
        bytes = rest;
    }
    let _ = stream.blocking_flush();
}
