//! The Fastly Compute flavour: the same Open Inference Protocol service
//! (`wasmodel-oip`) as the HTTP component, behind Fastly's own ABI.
//!
//! Fastly Compute (and Viceroy, its local server) runs a core module per
//! request: it calls `_start`, which reads the downstream request through
//! the `fastly_http_req` and `fastly_http_body` hostcalls and sends one
//! response through `fastly_http_resp` ([`abi`]). The module imports
//! nothing else: no WASI (there is no stderr to report a panic to; the
//! handler does not panic, and a trap is the host's 500).
//!
//! `wasmodel build --target fastly` pre-initializes it like the other two
//! flavours: `wasmodel-init` (which calls no hostcall) holds the model in
//! the snapshot, so each request's fresh instance starts with it.

mod abi;

use wasmodel_oip::{DEFAULT_MAX_BODY, Response, Service};

/// The entry point Fastly calls for each request.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "_start"))]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
pub extern "C" fn start() {
    // Exports wit-bindgen's `cabi_realloc`, which `wasmodel build` places
    // the model's bytes with (the other flavours' bindings do the same).
    wit_bindgen::rt::maybe_link_cabi_realloc();
    // Without a request there is nobody to answer; a failed send has no one
    // left to tell. Either way the host answers the client (502 or 500).
    let Ok((request, body)) = abi::downstream() else {
        return;
    };
    let answer = answer(&request, &body);
    let _ = respond(&answer);
}

/// The protocol's answer to the downstream request.
fn answer(request: &abi::Request, body: &abi::Body) -> Response {
    let model = match crate::init::model() {
        Ok(model) => model,
        Err(message) => return Response::error(500, message),
    };
    let read = || -> Result<_, abi::Status> {
        Ok((request.method()?, request.uri()?, request.headers()?))
    };
    let (method, uri, headers) = match read() {
        Ok(parts) => parts,
        Err(status) => {
            return Response::error(400, format!("reading the request failed: {status}"));
        }
    };
    // Header values that are not text cannot matter to the protocol (it
    // reads `content-length`, `content-type` and
    // `inference-header-content-length`).
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                std::str::from_utf8(name).ok()?,
                std::str::from_utf8(value).ok()?,
            ))
        })
        .collect();
    // A body over the limit is refused before it is held (declared), or as
    // soon as it proves too long (chunked), as `wasmodel serve` does.
    let declared = headers.iter().find_map(|(name, value)| {
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<u64>().ok())?
    });
    if declared.is_some_and(|length| length > DEFAULT_MAX_BODY as u64) {
        return Response::too_large(DEFAULT_MAX_BODY);
    }
    let body = match body.read_within(DEFAULT_MAX_BODY) {
        Ok(Some(body)) => body,
        Ok(None) => return Response::too_large(DEFAULT_MAX_BODY),
        Err(status) => {
            return Response::error(400, format!("reading the request's body failed: {status}"));
        }
    };
    Service::new(model).handle(&wasmodel_oip::Request {
        method: &method,
        path: path_of(&uri),
        headers: &headers,
        body: &body,
    })
}

/// The path and query of a URI that may be absolute (Fastly gives
/// `http://host/path?query`).
fn path_of(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => uri,
    }
}

fn respond(answer: &Response) -> Result<(), abi::Status> {
    let response = abi::Response::new(answer.status)?;
    for (name, value) in &answer.headers {
        response.append_header(name, value)?;
    }
    let body = abi::Body::new()?;
    body.write_all(&answer.body)?;
    response.send(body)
}
