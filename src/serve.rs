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

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::metrics::{Metrics, Route};
use crate::runtime::{CallState, Shared, classify};
use crate::tokio_timer::TokioTimer;
use crate::vector_state;
use crate::{Error, Limits, Runtime};

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

/// An HTTP model component, compiled and pre-instantiated against the
/// `wasi:http/proxy` world.
#[derive(Clone)]
pub struct HttpModel {
    pre: ProxyPre<RequestState>,
    shared: Arc<Shared>,
    /// Whether loading it compiled it (it was not in the compile cache).
    compiled: bool,
}

impl Runtime {
    /// Loads an HTTP component (`wasmodel build --http`): compiles it (or
    /// takes it from the cache) and pre-instantiates it with exactly the
    /// interfaces of the `wasi:http/proxy` world, which is what Spin and
    /// `wasmtime serve` offer. A component that needs anything else is
    /// refused here.
    pub fn load_http(&self, wasm: &[u8]) -> Result<HttpModel, Error> {
        self.load_http_reporting(wasm, || {})
    }

    /// [`load_http`](Self::load_http), calling `compiling` first if the
    /// component is not in the compile cache.
    pub fn load_http_reporting(
        &self,
        wasm: &[u8],
        compiling: impl FnOnce(),
    ) -> Result<HttpModel, Error> {
        if !wasmparser::Parser::is_component(wasm) {
            return Err(Error::NotAModelComponent(
                "the file is not a WebAssembly component (build one with `wasmodel build --http`)"
                    .into(),
            ));
        }
        // Refuse the wrong kind of component before compiling it (seconds).
        check_http_exports(&crate::inspect::Interfaces::of(wasm)?.exports)?;
        let mut compiled = false;
        let component: Component = self.compile(wasm, || {
            compiled = true;
            compiling();
        })?;
        self.finish_load_http(component, compiled)
    }

    /// Pre-instantiates a compiled HTTP component in the proxy world.
    pub(crate) fn finish_load_http(
        &self,
        component: Component,
        compiled: bool,
    ) -> Result<HttpModel, Error> {
        let mut linker = Linker::<RequestState>::new(self.engine());
        wasmtime_wasi_http::p2::add_to_linker_async(&mut linker).map_err(Error::Wasmtime)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            Error::NotAModelComponent(format!(
                "it imports something outside the wasi:http/proxy world: {e:#}"
            ))
        })?;
        let pre = ProxyPre::new(instance_pre).map_err(|e| {
            Error::NotAModelComponent(format!(
                "it is not an HTTP component (build one with `wasmodel build --http`): {e:#}"
            ))
        })?;
        Ok(HttpModel {
            pre,
            shared: Arc::clone(&self.shared),
            compiled,
        })
    }
}

impl HttpModel {
    /// Answers one request in a fresh instance, within the runtime's
    /// memory and time limits. Failures of the component become error
    /// responses; this never fails.
    pub async fn handle(&self, request: Request<Full<Bytes>>) -> Response<HyperOutgoingBody> {
        self.handle_observed(request, |_| {}).await
    }

    /// The model's name and version, as its component answers the model
    /// repository extension (`POST /v2/repository/index`).
    pub async fn identify(&self) -> Result<(String, String), Error> {
        let request = Request::post("/v2/repository/index")
            .header(hyper::header::HOST, "localhost")
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Trap(format!("cannot make a request: {e}")))?;
        let response = self.handle(request).await;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Trap(format!("reading the component's model list: {e}")))?
            .to_bytes();
        let listed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        match (&listed[0]["name"], &listed[0]["version"]) {
            (serde_json::Value::String(name), serde_json::Value::String(version))
                if status.is_success() =>
            {
                Ok((name.clone(), version.clone()))
            }
            _ => Err(Error::NotAModelComponent(format!(
                "it does not say which model it serves (POST /v2/repository/index answered \
                 {status}: {}); rebuild it with this wasmodel's `build --http`",
                String::from_utf8_lossy(&body)
            ))),
        }
    }

    /// Whether loading it compiled it (it was not in the compile cache).
    pub fn was_compiled(&self) -> bool {
        self.compiled
    }

    /// [`handle`](Self::handle), calling `memory` with the linear memory the
    /// request's instance ended with, once it has finished (which may be
    /// after the response's head is returned).
    pub(crate) async fn handle_observed(
        &self,
        request: Request<Full<Bytes>>,
        memory: impl FnOnce(usize) + Send + 'static,
    ) -> Response<HyperOutgoingBody> {
        let limits = self.shared.limits;
        match tokio::time::timeout(limits.timeout, self.run(request, memory)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => error_response(status_of(&e), &e.to_string()),
            // The guest is interrupted by the epoch; this only catches a
            // request stuck outside wasm, waiting on the host.
            Err(_) => {
                let e = Error::Timeout {
                    seconds: limits.timeout.as_secs_f64(),
                };
                error_response(StatusCode::GATEWAY_TIMEOUT, &e.to_string())
            }
        }
    }

    async fn run(
        &self,
        request: Request<Full<Bytes>>,
        memory: impl FnOnce(usize) + Send + 'static,
    ) -> Result<Response<HyperOutgoingBody>, Error> {
        let limits = self.shared.limits;
        let mut store = new_store(&self.pre, limits);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let state = store.data_mut();
        let request = state
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(Error::Wasmtime)?;
        let out = state
            .http()
            .new_response_outparam(sender)
            .map_err(Error::Wasmtime)?;

        // The guest runs in its own task, so it can keep writing the body
        // after the response head has been sent.
        let pre = self.pre.clone();
        let task = tokio::task::spawn(async move {
            vector_state::clear_upper_state();
            let result = match pre.instantiate_async(&mut store).await {
                Ok(proxy) => {
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, request, out)
                        .await
                }
                Err(e) => Err(e),
            };
            let result = result.map_err(|e| classify(e, &store.data().limits, limits));
            memory(store.data().limits.memory());
            result
        });

        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(Error::Trap(format!(
                "the component answered with an error: {code:?}"
            ))),
            // The component dropped its response: it failed before
            // answering, and the task says how.
            Err(_) => Err(match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => Error::Trap("the component returned without answering".into()),
                Err(e) => Error::Trap(format!("the request task failed: {e}")),
            }),
        }
    }
}

fn new_store(pre: &ProxyPre<RequestState>, limits: Limits) -> Store<RequestState> {
    let mut store = Store::new(
        pre.engine(),
        RequestState {
            table: ResourceTable::new(),
            // The component sees no environment, arguments or files; its
            // stderr (where spin-sdk reports failures) is the server's.
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            hooks: NoOutgoingRequests,
            limits: CallState::new(limits.max_memory),
        },
    );
    store.limiter(|state| &mut state.limits);
    // Every tick, check the time limit and otherwise yield, so a long
    // prediction does not hold a worker thread other requests need.
    let started = Instant::now();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if started.elapsed() >= limits.timeout {
            Err(Trap::Interrupt.into())
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

/// The HTTP status for a failure of the component.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        Error::MemoryLimit { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A response of a status and a whole body.
fn full_response(status: StatusCode, body: String) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

/// A `{"error": message}` response, as the component itself gives them.
fn error_response(status: StatusCode, message: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = full_response(status, body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// 405, with the method the route takes.
fn method_not_allowed(allow: &'static str) -> Response<HyperOutgoingBody> {
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

/// Per-request store data.
struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutgoingRequests,
    limits: CallState,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Refuses a component that is not an HTTP component.
pub(crate) fn check_http_exports(exports: &[String]) -> Result<(), Error> {
    if exports
        .iter()
        .any(|e| e.starts_with("wasi:http/incoming-handler@"))
    {
        return Ok(());
    }
    Err(Error::NotAModelComponent(format!(
        "it is not an HTTP component (it exports: {}); build one with `wasmodel build --http`",
        exports.join(", ")
    )))
}

/// A model has no business calling out: every outgoing request is denied
/// (`allowed_outbound_hosts = []` in Spin's terms).
struct NoOutgoingRequests;

impl WasiHttpHooks for NoOutgoingRequests {
    fn send_request(
        &mut self,
        _request: hyper::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _io: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        hyper::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
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

/// An HTTP server for one or several [`HttpModel`]s, each answering under
/// `/v2/models/{its name}/`.
pub struct Server {
    listener: TcpListener,
    models: Vec<ServedModel>,
    options: ServeOptions,
}

/// A model a server serves: its component, and the name and version it
/// answers to.
struct ServedModel {
    name: String,
    version: String,
    model: HttpModel,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`])
    /// for one model.
    pub async fn bind(
        addr: SocketAddr,
        model: HttpModel,
        options: ServeOptions,
    ) -> Result<Server, Error> {
        Server::bind_models(addr, vec![model], options).await
    }

    /// Binds `addr` for several models: each is asked which model it serves
    /// (two of the same name are refused; a component alone that does not
    /// say gets every request but `/metrics`), and requests to
    /// `/v2/models/{name}/...` go to that model's component. The server's
    /// own routes (`/v2`, `/v2/health/...`) are answered by the first,
    /// `/v2/repository/index` lists them all, and `/predict` is answered
    /// only when there is one model.
    pub async fn bind_models(
        addr: SocketAddr,
        models: Vec<HttpModel>,
        options: ServeOptions,
    ) -> Result<Server, Error> {
        if models.is_empty() {
            return Err(Error::NotAModelComponent("no model to serve".into()));
        }
        let single = models.len() == 1;
        let mut served: Vec<ServedModel> = Vec::with_capacity(models.len());
        for model in models {
            let (name, version) = match model.identify().await {
                Ok(identity) => identity,
                // Alone, a component that does not say which model it
                // serves (a plain wasi:http component, or one built by an
                // older wasmodel) gets every request, as `wasmtime serve`
                // would give it.
                Err(_) if single => (String::new(), String::new()),
                Err(e) => return Err(e),
            };
            if served.iter().any(|m| m.name == name) {
                return Err(Error::NotAModelComponent(format!(
                    "two components serve a model named `{name}`; rebuild one with `--name`"
                )));
            }
            served.push(ServedModel {
                name,
                version,
                model,
            });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(Server {
            listener,
            models: served,
            options,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// The name and version of every model served, in order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &str)> {
        self.models
            .iter()
            .map(|m| (m.name.as_str(), m.version.as_str()))
    }

    /// Serves until `shutdown` completes, then stops accepting, lets the
    /// requests in flight finish (up to the grace period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            listener,
            models,
            options,
        } = self;
        let compiled = models.iter().filter(|m| m.model.compiled).count() as u64;
        let metrics = Metrics::new(
            models.iter().map(|m| (m.name.as_str(), m.version.as_str())),
            [models.len() as u64 - compiled, compiled],
        );
        let handler = Arc::new(Handler {
            models,
            options,
            slots: Semaphore::new(options.max_concurrency.max(1)),
            metrics: Arc::new(metrics),
        });
        let (stop, stopping) = watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        // Accepts that failed in a row: said once when it starts and once
        // when it ends, not 20 times a second.
        let mut failed_accepts = 0u64;
        // A connection holds one of these until it closes: past the cap,
        // new connections wait in the listener's queue (the kernel's
        // backlog) rather than each take a descriptor and buffers.
        let max_connections = options.max_connections.max(1);
        let open = Arc::new(Semaphore::new(max_connections));
        // Said at most once a minute: under steady load at the cap, every
        // close would otherwise end and start a stretch.
        let mut cap_said: Option<Instant> = None;
        loop {
            if open.available_permits() == 0
                && cap_said.is_none_or(|said| said.elapsed() >= Duration::from_secs(60))
            {
                eprintln!(
                    "wasmodel serve: {max_connections} connections open (--max-connections); \
                     new ones wait until one closes"
                );
                cap_said = Some(Instant::now());
            }
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = Arc::clone(&open).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    // Never closed: nothing calls `close` on it.
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: the listener
                    // is fine and the connection waits in its queue; try
                    // again once connections had time to close.
                    Err(e) => {
                        if failed_accepts == 0 {
                            eprintln!("wasmodel serve: accept failed: {e}; retrying every 50 ms");
                        }
                        failed_accepts += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            if failed_accepts > 0 {
                eprintln!(
                    "wasmodel serve: accepting again, after {failed_accepts} failed attempts"
                );
                failed_accepts = 0;
            }
            // Responses are small and written in parts (head, body chunks):
            // don't let Nagle's algorithm hold them back.
            let _ = stream.set_nodelay(true);
            let (handler, mut stopping) = (Arc::clone(&handler), stopping.clone());
            let open = OpenConnection::new(permit, Arc::clone(&handler.metrics));
            connections.spawn(async move {
                let _open = open;
                let service = hyper::service::service_fn(move |request| {
                    let handler = Arc::clone(&handler);
                    async move { Ok::<_, Infallible>(handler.handle(peer, request).await) }
                });
                // A client that dribbles its request head in (or sends
                // nothing) holds a connection for `read_timeout` at most.
                let connection = http1::Builder::new()
                    .timer(TokioTimer)
                    .header_read_timeout(options.read_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = stopping.changed() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
            // Reap finished connections so the set does not grow.
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(options.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            eprintln!(
                "wasmodel serve: {} connection(s) still open after {:.0} s; closing them",
                connections.len(),
                options.shutdown_grace.as_secs_f64()
            );
            connections.abort_all();
        }
        Ok(())
    }
}

/// What every connection shares.
struct Handler {
    models: Vec<ServedModel>,
    options: ServeOptions,
    slots: Semaphore,
    metrics: Arc<Metrics>,
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

/// A client connection, holding its place under `--max-connections` and
/// in the `connections_open` gauge until dropped, however it ends.
struct OpenConnection {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl OpenConnection {
    fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
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
    async fn handle(
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
                &format!("the request body is larger than this server's limit of {max} bytes"),
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
