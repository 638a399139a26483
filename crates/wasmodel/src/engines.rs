//! The engines `build.rs` built, embedded zlib-compressed: each is about
//! 22 MB of wasm and 5 MB compressed, and wasmodel embeds five (predictor
//! and HTTP, portable and relaxed SIMD; Fastly, portable). One is inflated
//! the first time a build asks for it (tens of milliseconds), then kept
//! for the process.

use std::sync::OnceLock;

use crate::{Error, Flavour};

/// One embedded engine: its compressed bytes and, once asked for, its
/// inflated ones.
struct Embedded {
    name: &'static str,
    compressed: &'static [u8],
    inflated: OnceLock<Result<Vec<u8>, String>>,
}

impl Embedded {
    const fn new(name: &'static str, compressed: &'static [u8]) -> Embedded {
        Embedded {
            name,
            compressed,
            inflated: OnceLock::new(),
        }
    }

    fn get(&'static self) -> Result<&'static [u8], Error> {
        self.inflated
            .get_or_init(|| {
                miniz_oxide::inflate::decompress_to_vec_zlib(self.compressed)
                    .map_err(|e| format!("the embedded {} is corrupt: {e}", self.name))
            })
            .as_deref()
            .map_err(|why| Error::Build(why.clone()))
    }
}

macro_rules! embedded {
    ($file:literal) => {
        Embedded::new(
            $file,
            include_bytes!(concat!(env!("OUT_DIR"), "/", $file, ".zlib")),
        )
    };
}

static PREDICTOR: Embedded = embedded!("engine.wasm");
static HTTP: Embedded = embedded!("engine-http.wasm");
static FASTLY: Embedded = embedded!("engine-fastly.wasm");
static RELAXED_PREDICTOR: Embedded = embedded!("engine-relaxed.wasm");
static RELAXED_HTTP: Embedded = embedded!("engine-http-relaxed.wasm");

/// The engine core module that [`ComponentBuilder`](crate::ComponentBuilder)
/// builds a `flavour` component from, before any model is injected into
/// it: `crates/guest` built for `wasm32-unknown-unknown` by `build.rs`.
/// The predictor imports nothing, the HTTP engine only `wasi:http/proxy`'s
/// interfaces, the Fastly engine only Fastly's hostcalls. With `relaxed_simd` its matrix products use relaxed
/// SIMD's fused multiply-add: faster where the CPU has FMA, but it
/// validates only on hosts with relaxed SIMD
/// ([`ComponentBuilder::relaxed_simd`](crate::ComponentBuilder::relaxed_simd)).
///
/// # Errors
/// [`Error::Build`] if the embedded bytes do not inflate (a damaged binary),
/// or for a relaxed-SIMD Fastly engine, which is not built.
pub fn engine_wasm(flavour: Flavour, relaxed_simd: bool) -> Result<&'static [u8], Error> {
    match (flavour, relaxed_simd) {
        (Flavour::Predictor, false) => PREDICTOR.get(),
        (Flavour::Http, false) => HTTP.get(),
        (Flavour::Fastly, false) => FASTLY.get(),
        (Flavour::Predictor, true) => RELAXED_PREDICTOR.get(),
        (Flavour::Http, true) => RELAXED_HTTP.get(),
        (Flavour::Fastly, true) => Err(Error::Build(
            "there is no relaxed-SIMD engine for Fastly Compute: build without --relaxed-simd"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_inflates_to_a_wasm_module() {
        for flavour in [Flavour::Predictor, Flavour::Http, Flavour::Fastly] {
            for relaxed in [false, true] {
                if flavour == Flavour::Fastly && relaxed {
                    assert!(engine_wasm(flavour, relaxed).is_err());
                    continue;
                }
                let wasm = engine_wasm(flavour, relaxed).unwrap();
                assert_eq!(
                    &wasm[..8],
                    b"\0asm\x01\0\0\0",
                    "{flavour:?}, relaxed {relaxed}"
                );
            }
        }
    }
}
