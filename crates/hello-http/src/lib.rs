//! The smallest spin-sdk HTTP component: answers every request with 200
//! and `hello`. `benches/suite` serves it beside a model's HTTP
//! component to show what the model itself costs per request.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_request: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("hello")
        .build())
}
