//! Precompiled components (`wasmodel compile`): a component compiled ahead
//! of time for a host's exact wasmtime version and configuration, which
//! that host loads without compiling.
//!
//! Loading precompiled code trusts it as machine code, so it is `unsafe`
//! here and needs `--allow-precompiled` on the command line, as in the
//! wasmtime CLI. A file compiled for another wasmtime version or
//! configuration is refused by wasmtime with a message saying so.

use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use crate::inspect::{Interfaces, check_http_exports};
use crate::{Error, LoadedModel, Runtime};

impl Runtime {
    /// Compiles a model component (predictor or HTTP) for this runtime's
    /// wasmtime version and configuration, as [`Runtime::load_precompiled`]
    /// (or, for an HTTP component, `wasmodel-cli`'s server through
    /// [`Runtime::deserialize_component`]) of a runtime with the same options
    /// loads it.
    pub fn precompile(&self, wasm: &[u8]) -> Result<Vec<u8>, Error> {
        if !wasmparser::Parser::is_component(wasm) {
            return Err(Error::NotAModelComponent(
                "the file is not a WebAssembly component (build one with `wasmodel build`)".into(),
            ));
        }
        let exports = Interfaces::of(wasm)?.exports;
        if check_http_exports(&exports).is_err() {
            crate::runtime::check_predictor_exports(&exports)?;
        }
        let compiled = self.engine().precompile_component(wasm);
        self.finish_compile(true);
        compiled.map_err(Error::Wasmtime)
    }

    /// Loads a precompiled model predictor.
    ///
    /// # Safety
    /// `cwasm` must come from [`Runtime::precompile`] (or `wasmodel
    /// compile`) of a component you trust: it is loaded as machine code.
    /// wasmtime checks that it was compiled by the same version with the
    /// same configuration, and refuses it otherwise.
    pub unsafe fn load_precompiled(&self, cwasm: &[u8]) -> Result<LoadedModel, Error> {
        // SAFETY: forwarded from the caller.
        let component = unsafe { self.deserialize_component(cwasm)? };
        let interfaces = Interfaces::of_compiled(&component, self.engine());
        crate::runtime::check_predictor_exports(&interfaces.exports)?;
        self.finish_load(component, interfaces)
    }

    /// A precompiled component of any world, for hosts of other worlds
    /// than the predictor's (the HTTP server of `wasmodel-cli`).
    ///
    /// # Safety
    /// As for [`Runtime::load_precompiled`].
    pub unsafe fn deserialize_component(&self, cwasm: &[u8]) -> Result<Component, Error> {
        if !is_precompiled(cwasm) {
            return Err(Error::NotAModelComponent(
                "the file is not a precompiled component (`wasmodel compile` makes them)".into(),
            ));
        }
        // SAFETY: forwarded from the caller; wasmtime checks the version and
        // configuration it was compiled for.
        unsafe { Component::deserialize(self.engine(), cwasm) }.map_err(|e| {
            Error::NotAModelComponent(format!(
                "it was precompiled for another wasmtime version, configuration or CPU, \
                 or is damaged (compile it again with `wasmodel compile` and the same \
                 options): {e:#}"
            ))
        })
    }
}

/// Whether the bytes are a precompiled component (as `wasmodel compile`
/// writes), rather than a component.
pub fn is_precompiled(bytes: &[u8]) -> bool {
    Engine::detect_precompiled(bytes) == Some(Precompiled::Component)
}
