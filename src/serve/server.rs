//! The listener and its connections: at most `max_connections` open, each
//! with a read timeout, all drained on shutdown within the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use wasmtime_wasi_http::io::TokioIo;

use super::metrics::Metrics;
use super::routes::{Handler, ServedModel};
use super::tokio_timer::TokioTimer;
use super::{HttpModel, ServeOptions};

/// Why a [`Server`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A component could not say which model it serves.
    #[error(transparent)]
    Model(#[from] wasmodel::Error),
    #[error("no model to serve")]
    NoModel,
    #[error("two components serve a model named `{0}`; rebuild one with `--name`")]
    SameName(String),
    /// The address could not be listened on (in use, not this machine's, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// An HTTP server for one or several [`HttpModel`]s, each answering under
/// `/v2/models/{its name}/`.
pub struct Server {
    listener: TcpListener,
    models: Vec<ServedModel>,
    options: ServeOptions,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`])
    /// for one model.
    pub async fn bind(
        addr: SocketAddr,
        model: HttpModel,
        options: ServeOptions,
    ) -> Result<Server, ServeError> {
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
    ) -> Result<Server, ServeError> {
        if models.is_empty() {
            return Err(ServeError::NoModel);
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
                Err(e) => return Err(e.into()),
            };
            if served.iter().any(|m| m.name == name) {
                return Err(ServeError::SameName(name));
            }
            served.push(ServedModel {
                name,
                version,
                model,
            });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Server {
            listener,
            models: served,
            options,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
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
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Server {
            listener,
            models,
            options,
        } = self;
        let compiled = models.iter().filter(|m| m.model.was_compiled()).count() as u64;
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
