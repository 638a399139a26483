//! Serving HTTP model components (`wasmodel build --http`) the way
//! `wasmtime serve` does: wasmtime-wasi-http behind hyper, each component
//! pre-instantiated once ([`HttpModel`]), a fresh instance in a fresh store
//! for every request; one or several models in one server, each under
//! `/v2/models/{its name}/`, with `GET /metrics` (see `metrics`).
//!
//! Around each request the host enforces what the component cannot:
//! a maximum body size (413, before the guest runs), a concurrency limit
//! (requests wait for a slot; 503 if none frees up in time), the per-call
//! memory limit (503) and time limit (504; the epoch interrupts the guest,
//! and yields to other requests every tick meanwhile). The component gets
//! only the `wasi:http/proxy` world; outgoing requests are refused.
//!
//! By concern: `http_model` (one component, and one request in it),
//! `server` (the listener, connections and their limits, shutdown),
//! `routes` (where a request goes, the concurrency slots, the access log),
//! `responses`, `metrics` (`GET /metrics`), and `tokio_timer` (hyper's
//! timer on tokio).

use std::time::Duration;

mod http_model;
mod metrics;
mod responses;
mod routes;
mod server;
mod tokio_timer;

pub use http_model::HttpModel;
pub use server::{ServeError, Server};

/// How a [`Server`] treats requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Largest request body accepted, in bytes (413 above).
    pub max_body: usize,
    /// Most requests running in the component at once; more wait.
    pub max_concurrency: usize,
    /// Most connections open at once; more wait unaccepted, in the
    /// listener's queue, until one closes.
    pub max_connections: usize,
    /// One line per request on stderr.
    pub access_log: bool,
    /// How those lines look.
    pub log_format: LogFormat,
    /// Longest wait for a request's head (the connection is closed after
    /// it, and so is a keep-alive connection idle that long between
    /// requests), then for its body (408 after).
    pub read_timeout: Duration,
    /// Longest wait for a free slot (503 after).
    pub queue_timeout: Duration,
    /// How long Ctrl-C waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body: 64 << 20,
            max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            max_connections: 1024,
            access_log: true,
            log_format: LogFormat::Text,
            read_timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// How `wasmodel serve` writes its access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `peer "METHOD path" status bodyB ms`
    #[default]
    Text,
    /// One JSON object a line: `time`, `peer`, `method`, `path`, `model`,
    /// `status`, `body_bytes`, `ms`.
    Json,
}
