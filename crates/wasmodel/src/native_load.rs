//! Loading a model natively (outside wasm) within a time limit.
//!
//! `wasmodel build` loads every model natively before packaging it, for
//! errors that name what is wrong. tract's optimizer takes time that grows
//! with the square of a graph's node count (a chain of 16 000 nodes takes
//! 5 s here, so one of a million would take hours), and it cannot be
//! interrupted, so the load runs on a thread of its own and the caller
//! stops waiting for it at the limit. The thread is then left to finish on
//! its own, which in a command-line process ends when the process exits.

use std::sync::mpsc;
use std::time::Duration;

use wasmodel_engine::{LoadOptions, Model};

use crate::Error;

/// A loading thread's stack: the main thread's 8 MiB, as deeply nested
/// graphs recurse (a spawned thread would get 2 MiB).
const STACK_SIZE: usize = 8 << 20;

/// Parses, checks and optimizes `onnx` natively, as
/// [`Model::load_with`](wasmodel_engine::Model::load_with) does, giving up
/// with [`Error::LoadTimeout`] after `limit`.
pub fn load_model(
    onnx: &[u8],
    name: &str,
    version: &str,
    options: &LoadOptions,
    limit: Duration,
) -> Result<Model, Error> {
    let (onnx, name, version) = (onnx.to_vec(), name.to_owned(), version.to_owned());
    let options = options.clone();
    let (sender, receiver) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("wasmodel-load".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            // The receiver is gone if the caller stopped waiting.
            let _ = sender.send(Model::load_with(&onnx, &name, &version, &options));
        })?;
    match receiver.recv_timeout(limit) {
        Ok(loaded) => Ok(loaded?),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::LoadTimeout {
            seconds: limit.as_secs_f64(),
        }),
        // `Model::load` contains tract's panics; this is any other.
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Build(
            "loading the model natively failed unexpectedly (the loader panicked)".into(),
        )),
    }
}
