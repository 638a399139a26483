//! One HTTP component, pre-instantiated in the `wasi:http/proxy` world,
//! and one request in a fresh instance of it, within the runtime's limits.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use wasmodel::inspect::{Interfaces, check_http_exports};
use wasmodel::vector_state;
use wasmodel::{CallState, Error, Limits, Runtime};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::responses::{error_response, status_of};

/// An HTTP model component, compiled and pre-instantiated against the
/// `wasi:http/proxy` world.
///
/// Clones share the code they run: [`HttpModel::switch_to`] moves them all
/// to another compiler's code for the same component (a server that starts
/// on Winch's code moves to Cranelift's once it is compiled).
#[derive(Clone)]
pub struct HttpModel {
    code: Arc<RwLock<Code>>,
    /// Whether loading it compiled it (it was not in the compile cache).
    compiled: bool,
}

/// The component's code, pre-instantiated on one runtime.
#[derive(Clone)]
struct Code {
    pre: ProxyPre<RequestState>,
    /// Its engine, limits and epoch ticker (which must outlive it).
    runtime: Runtime,
}

impl HttpModel {
    /// Loads an HTTP component (`wasmodel build --http`) on `runtime`:
    /// compiles it (or takes it from the cache) and pre-instantiates it
    /// with exactly the interfaces of the `wasi:http/proxy` world, which is
    /// what Spin and `wasmtime serve` offer. A component that needs
    /// anything else is refused here.
    pub fn load(runtime: &Runtime, wasm: &[u8]) -> Result<HttpModel, Error> {
        HttpModel::load_reporting(runtime, wasm, || {})
    }

    /// [`load`](Self::load), calling `compiling` first if the component is
    /// not in the compile cache.
    pub fn load_reporting(
        runtime: &Runtime,
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
        check_http_exports(&Interfaces::of(wasm)?.exports)?;
        let mut compiled = false;
        let component = runtime.compile_component(wasm, || {
            compiled = true;
            compiling();
        })?;
        HttpModel::pre_instantiate(runtime, component, compiled)
    }

    /// Loads a precompiled HTTP component (`wasmodel compile`).
    ///
    /// # Safety
    /// As for [`Runtime::load_precompiled`]: `cwasm` is loaded as machine
    /// code, so it must come from a `wasmodel compile` you trust.
    pub unsafe fn load_precompiled(runtime: &Runtime, cwasm: &[u8]) -> Result<HttpModel, Error> {
        // SAFETY: forwarded from the caller.
        let component = unsafe { runtime.deserialize_component(cwasm)? };
        check_http_exports(&Interfaces::of_compiled(&component, runtime.engine()).exports)?;
        HttpModel::pre_instantiate(runtime, component, false)
    }

    /// Pre-instantiates a compiled HTTP component in the proxy world.
    fn pre_instantiate(
        runtime: &Runtime,
        component: Component,
        compiled: bool,
    ) -> Result<HttpModel, Error> {
        let mut linker = Linker::<RequestState>::new(runtime.engine());
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
            code: Arc::new(RwLock::new(Code {
                pre,
                runtime: runtime.clone(),
            })),
            compiled,
        })
    }

    /// The code requests run now.
    fn code(&self) -> Code {
        // A writer never panics while holding the lock (it only assigns).
        self.code.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Answers requests from now on with `other`'s code, which must be the
    /// same component loaded on another runtime (with another compiler).
    /// Requests already running finish on the code they started with; the
    /// old code is dropped after the last of them.
    pub fn switch_to(&self, other: &HttpModel) {
        let code = other.code();
        *self.code.write().unwrap_or_else(|e| e.into_inner()) = code;
    }
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
    pub(super) async fn handle_observed(
        &self,
        request: Request<Full<Bytes>>,
        memory: impl FnOnce(usize) + Send + 'static,
    ) -> Response<HyperOutgoingBody> {
        let code = self.code();
        let limits = code.runtime.limits();
        match tokio::time::timeout(limits.timeout, code.run(request, memory)).await {
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
}

impl Code {
    async fn run(
        &self,
        request: Request<Full<Bytes>>,
        memory: impl FnOnce(usize) + Send + 'static,
    ) -> Result<Response<HyperOutgoingBody>, Error> {
        let limits = self.runtime.limits();
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
            let result = result.map_err(|e| store.data().limits.error(e, limits));
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
