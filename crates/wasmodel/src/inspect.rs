//! What a component imports and exports, read from its type information
//! without compiling it.

use wasmtime::Engine;
use wasmtime::component::Component;
use wit_component::DecodedWasm;

use crate::Error;

/// The interfaces (or functions) a component imports and exports, by their
/// full names, such as `wasmodel:model/predictor@0.3.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interfaces {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Interfaces {
    /// Reads the world a component's type section describes.
    pub fn of(component: &[u8]) -> Result<Interfaces, Error> {
        match wit_component::decode(component) {
            Ok(DecodedWasm::Component(resolve, world)) => {
                let world = &resolve.worlds[world];
                let names = |items: &mut dyn Iterator<Item = &_>| -> Vec<String> {
                    items.map(|key| resolve.name_world_key(key)).collect()
                };
                Ok(Interfaces {
                    imports: names(&mut world.imports.keys()),
                    exports: names(&mut world.exports.keys()),
                })
            }
            Ok(DecodedWasm::WitPackage(..)) => Err(Error::NotAModelComponent(
                "it is a WIT package, not a component".into(),
            )),
            Err(e) => Err(Error::NotAModelComponent(format!("{e:#}"))),
        }
    }

    /// What a compiled (or precompiled) component imports and exports.
    pub fn of_compiled(component: &Component, engine: &Engine) -> Interfaces {
        let ty = component.component_type();
        Interfaces {
            imports: ty
                .imports(engine)
                .map(|(name, _)| name.to_owned())
                .collect(),
            exports: ty
                .exports(engine)
                .map(|(name, _)| name.to_owned())
                .collect(),
        }
    }
}

/// Refuses a component that is not an HTTP component (one that exports
/// `wasi:http/incoming-handler`).
pub fn check_http_exports(exports: &[String]) -> Result<(), Error> {
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

/// The hosts that run a component built with relaxed SIMD
/// (`wasmodel build --relaxed-simd`): checked by the tests or by hand, or
/// documented by the host (README, "Using it").
pub const RELAXED_SIMD_HOSTS: &str = "wasmtime and wasmodel (with Cranelift, their default compiler), Spin, wasmtime-py, Chrome 114+, \
     Node 22+; Node 20 only with --experimental-wasm-relaxed-simd";

/// Whether a component needs a host with relaxed SIMD
/// (`wasmodel build --relaxed-simd`): read by validating it with and without
/// that proposal, so the answer is about the bytes, not about how they were
/// built. An invalid component is an error.
pub fn needs_relaxed_simd(component: &[u8]) -> Result<bool, Error> {
    use wasmparser::{Validator, WasmFeatures};
    let invalid = |e: wasmparser::BinaryReaderError| Error::NotAModelComponent(format!("{e}"));
    let mut without = WasmFeatures::default();
    without.remove(WasmFeatures::RELAXED_SIMD);
    if Validator::new_with_features(without)
        .validate_all(component)
        .is_ok()
    {
        return Ok(false);
    }
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(component)
        .map_err(invalid)?;
    Ok(true)
}
