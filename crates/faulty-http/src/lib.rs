//! An HTTP component that misbehaves when asked: the faults that
//! `tests/serve_faults.rs` injects under `wasmodel serve`. It passes for a
//! model component called `faulty` (it answers the model repository index
//! as wasmodel's components do), and on any other request:
//! - `?fault=trap`: traps (`unreachable`, as a panic in a guest does);
//! - `?fault=loop`: never returns (the host's time limit ends it);
//! - `?fault=grow`: allocates until its memory runs out (the host's memory
//!   limit ends it);
//! - otherwise: answers 200 `{"ok":true}`.
//!
//! The engine's own guest is built never to trap (`crates/guest`); this
//! one exists to show what the host does when a component does.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let body = match (request.path(), request.query()) {
        ("/v2/repository/index", _) => r#"[{"name":"faulty","version":"1","state":"READY"}]"#,
        (_, "fault=trap") => std::process::abort(),
        (_, "fault=loop") => loop {
            std::hint::black_box(());
        },
        (_, "fault=grow") => grow(),
        _ => r#"{"ok":true}"#,
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body)
        .build())
}

/// Takes 16 MiB after 16 MiB, touching every page, until allocation fails.
fn grow() -> ! {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(vec![1; 16 << 20]);
        std::hint::black_box(&held);
    }
}
