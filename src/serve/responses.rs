//! The responses the host itself gives (not its components').

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use wasmodel::Error;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The HTTP status for a failure of the component.
pub(super) fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        Error::MemoryLimit { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A response of a status and a whole body.
pub(super) fn full_response(status: StatusCode, body: String) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

/// A `{"error": message}` response, as the component itself gives them.
pub(super) fn error_response(status: StatusCode, message: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = full_response(status, body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// 405, with the method the route takes.
pub(super) fn method_not_allowed(allow: &'static str) -> Response<HyperOutgoingBody> {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed; use {allow}"),
    );
    response.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    response
}
