//! The HTTP flavour: every request goes to the Open Inference Protocol
//! service (`wasmodel-oip`) over the component's model.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

/// Answers one request. Never fails: every problem is an HTTP error response
/// with a `{"error": ...}` body (spin-sdk would turn an `Err` into a bare
/// 500).
#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let answer = match crate::init::model() {
        Ok(model) => {
            let method = request.method().to_string();
            // Header values that are not text cannot matter to the protocol
            // (it reads `content-type` and `inference-header-content-length`),
            // so they are left out.
            let headers: Vec<(&str, &str)> = request
                .headers()
                .filter_map(|(name, value)| Some((name, value.as_str()?)))
                .collect();
            wasmodel_oip::Service::new(model).handle(&wasmodel_oip::Request {
                method: &method,
                path: request.path(),
                headers: &headers,
                body: request.body(),
            })
        }
        Err(message) => wasmodel_oip::Response::error(500, message),
    };
    let mut response = Response::builder();
    response.status(answer.status);
    for (name, value) in &answer.headers {
        response.header(*name, value.as_str());
    }
    Ok(response.body(answer.body).build())
}
