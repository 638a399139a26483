//! Where a request goes (a model's routes, the server's own, `/metrics`),
//! the concurrency slots it waits for, and its line in the metrics and the
//! access log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::metrics::{Metrics, Route};
use super::responses::{error_response, full_response, method_not_allowed};
use super::{HttpModel, LogFormat, ServeOptions};

/// A model a server serves: its component, and the name and version it
/// answers to.
pub(super) struct ServedModel {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) model: HttpModel,
}

/// What every connection shares.
pub(super) struct Handler {
    pub(super) models: Vec<ServedModel>,
    pub(super) options: ServeOptions,
    pub(super) slots: Semaphore,
    pub(super) metrics: Arc<Metrics>,
}

/// One request's line in the metrics and the access log, written when it
/// is answered, or when hyper drops it unanswered because its client hung
/// up: then as 499, nginx's "client closed request".
struct Record<'a> {
    handler: &'a Handler,
    peer: SocketAddr,
    method: hyper::Method,
    path: String,
    started: Instant,
    model: Option<usize>,
    route: Route,
    done: bool,
}

/// The status a request is counted and logged with when its client hung
/// up before the answer.
const CLIENT_CLOSED_REQUEST: u16 = 499;

impl Record<'_> {
    fn finish(&mut self, status: u16, body_len: usize) {
        self.done = true;
        self.handler.log(self, status, body_len);
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(CLIENT_CLOSED_REQUEST, 0);
        }
    }
}

/// A component instance running a request, in the `instances_in_use`
/// gauge until dropped, however the request ends.
struct InUse<'a>(&'a Metrics);

impl<'a> InUse<'a> {
    fn new(metrics: &'a Metrics) -> Self {
        metrics.instances_in_use.fetch_add(1, Ordering::Relaxed);
        InUse(metrics)
    }
}

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.instances_in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a request goes.
enum Destination {
    /// A model's component (its index), for a kind of route.
    Model(usize, Route),
    /// `GET /metrics`.
    Metrics,
    /// `/v2/repository/index`.
    Repository,
    /// `/v2/models/{name}/...` of a model this server does not serve.
    UnknownModel(String),
    /// `/predict` with several models.
    AmbiguousPredict,
}

impl Handler {
    pub(super) async fn handle(
        &self,
        peer: SocketAddr,
        request: Request<Incoming>,
    ) -> Response<HyperOutgoingBody> {
        let mut record = Record {
            handler: self,
            peer,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            started: Instant::now(),
            model: None,
            route: Route::Other,
            done: false,
        };
        let (response, body_len) = match self.destination(&record.path) {
            Destination::Model(index, route) => {
                (record.model, record.route) = (Some(index), route);
                self.answer(request, index).await
            }
            Destination::Metrics => {
                record.route = Route::Metrics;
                (self.metrics_response(&record.method), 0)
            }
            Destination::Repository => {
                record.route = Route::Server;
                (self.repository(&record.method), 0)
            }
            Destination::UnknownModel(name) => {
                let response = error_response(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "unknown model `{name}`; this server serves {}",
                        self.names()
                    ),
                );
                (response, 0)
            }
            Destination::AmbiguousPredict => {
                let response = error_response(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "/predict answers for a server of one model; this one serves {}: \
                         use /v2/models/NAME/infer",
                        self.names()
                    ),
                );
                (response, 0)
            }
        };
        record.finish(response.status().as_u16(), body_len);
        response
    }

    /// Counts a request in the metrics and writes its access-log line.
    fn log(&self, r: &Record<'_>, status: u16, body_len: usize) {
        let took = r.started.elapsed();
        let series = r
            .model
            .map_or(&self.metrics.server, |i| &self.metrics.models[i]);
        series.answered(r.route, status, took);
        if !self.options.access_log {
            return;
        }
        let (peer, method, path) = (r.peer, &r.method, &r.path);
        match self.options.log_format {
            LogFormat::Text => eprintln!(
                "{peer} \"{method} {path}\" {status} {body_len}B {:.1}ms",
                took.as_secs_f64() * 1e3
            ),
            LogFormat::Json => eprintln!(
                "{}",
                serde_json::json!({
                    "time": std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64()),
                    "peer": peer.to_string(),
                    "method": method.as_str(),
                    "path": path,
                    "model": r.model.map_or("", |i| self.models[i].name.as_str()),
                    "status": status,
                    "body_bytes": body_len,
                    "ms": took.as_secs_f64() * 1e3,
                })
            ),
        }
    }

    /// Which component (or which of the server's own answers) a path is for.
    fn destination(&self, path: &str) -> Destination {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let opaque = self.models.len() == 1 && self.models[0].name.is_empty();
        match segments.as_slice() {
            ["metrics"] => Destination::Metrics,
            _ if opaque => Destination::Model(0, Route::Other),
            ["v2", "repository", "index"] => Destination::Repository,
            ["v2", "models", name, rest @ ..] => {
                let Some(index) = self.models.iter().position(|m| m.name == *name) else {
                    return Destination::UnknownModel((*name).to_owned());
                };
                let rest = match rest {
                    ["versions", _, rest @ ..] => rest,
                    rest => rest,
                };
                let route = match rest {
                    [] => Route::ModelMetadata,
                    ["ready"] => Route::ModelReady,
                    ["infer"] => Route::Infer,
                    _ => Route::Other,
                };
                Destination::Model(index, route)
            }
            ["predict"] if self.models.len() > 1 => Destination::AmbiguousPredict,
            ["predict"] => Destination::Model(0, Route::Infer),
            ["v2", ..] => Destination::Model(0, Route::Server),
            _ => Destination::Model(0, Route::Other),
        }
    }

    fn names(&self) -> String {
        self.models
            .iter()
            .map(|m| format!("`{}`", m.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn metrics_response(&self, method: &hyper::Method) -> Response<HyperOutgoingBody> {
        if method != hyper::Method::GET {
            return method_not_allowed("GET");
        }
        let mut response = full_response(StatusCode::OK, self.metrics.render());
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        response
    }

    /// The model repository extension: every model served.
    fn repository(&self, method: &hyper::Method) -> Response<HyperOutgoingBody> {
        if method != hyper::Method::POST {
            return method_not_allowed("POST");
        }
        let listed: Vec<serde_json::Value> = self
            .models
            .iter()
            .map(|m| serde_json::json!({ "name": m.name, "version": m.version, "state": "READY" }))
            .collect();
        let mut response =
            full_response(StatusCode::OK, serde_json::Value::from(listed).to_string());
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        response
    }
    /// The response, and how many body bytes were read.
    async fn answer(
        &self,
        request: Request<Incoming>,
        index: usize,
    ) -> (Response<HyperOutgoingBody>, usize) {
        let max = self.options.max_body;
        let too_large = || {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &wasmodel_oip::too_large_message(max),
            )
        };
        // wasi:http gives the component the request's authority.
        if request.uri().authority().is_none()
            && !request.headers().contains_key(hyper::header::HOST)
        {
            let response =
                error_response(StatusCode::BAD_REQUEST, "the request has no Host header");
            return (response, 0);
        }
        let declared = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            return (too_large(), 0);
        }
        // The component reads the whole body anyway; reading it here first
        // bounds it whatever the framing, and a slow client holds no slot.
        let (parts, body) = request.into_parts();
        let (read_timeout, queue_timeout) = (self.options.read_timeout, self.options.queue_timeout);
        let body = match tokio::time::timeout(read_timeout, Limited::new(body, max).collect()).await
        {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return (too_large(), 0),
            Ok(Err(e)) => {
                let response = error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the request body: {e}"),
                );
                return (response, 0);
            }
            Err(_) => {
                let response = error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request body did not arrive within {:.0} s",
                        read_timeout.as_secs_f64()
                    ),
                );
                return (response, 0);
            }
        };
        let body_len = body.len();
        let series = &self.metrics.models[index];
        let queued = Instant::now();
        let slot = tokio::time::timeout(queue_timeout, self.slots.acquire()).await;
        series.queued(queued.elapsed());
        let Ok(Ok(_slot)) = slot else {
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "the server is busy: no request slot freed up within {:.0} s",
                    queue_timeout.as_secs_f64()
                ),
            );
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return (response, body_len);
        };
        let computing = Instant::now();
        let _in_use = InUse::new(&self.metrics);
        let metrics = Arc::clone(&self.metrics);
        let response = self.models[index]
            .model
            .handle_observed(Request::from_parts(parts, Full::new(body)), move |bytes| {
                metrics.models[index].used_memory(bytes);
            })
            .await;
        series.computed(computing.elapsed());
        (response, body_len)
    }
}
