//! The one model of a component, and the build-time entry point that sets
//! it. The `wasmodel-init` export is removed from the snapshot.
//!
//! Two ways to build, chosen by the builder:
//! - pre-initialized (the default): `wasmodel-init` parses and optimizes the
//!   model, and the snapshot holds the ready model, so a fresh instance
//!   predicts at once;
//! - parse per instance (`wasmodel build --no-preinit`, to measure what
//!   pre-initialization saves): `wasmodel-init` only keeps the ONNX bytes,
//!   and every fresh instance parses and optimizes them on first use, as an
//!   engine that loads its model at start-up does.

use std::sync::OnceLock;

use wasmodel_engine as engine;

/// The component's model (or why it could not be loaded), set once.
static MODEL: OnceLock<Result<engine::Model, String>> = OnceLock::new();

/// What a parse-per-instance build keeps for the first call to load.
struct Pending {
    onnx: Vec<u8>,
    name: Vec<u8>,
    version: Vec<u8>,
    options: Vec<u8>,
}

static PENDING: OnceLock<Pending> = OnceLock::new();

/// The model, loaded from the kept ONNX bytes on first use in a
/// parse-per-instance build. The error says why there is none: an engine
/// never given a model (which `wasmodel build` never packages), or one the
/// engine refused (which the build's native check makes unlikely).
pub fn model() -> Result<&'static engine::Model, &'static str> {
    MODEL
        .get_or_init(|| match PENDING.get() {
            Some(p) => load(&p.onnx, &p.name, &p.version, &p.options),
            None => Err("this engine holds no model".into()),
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Build-time entry point: takes the ONNX bytes, name, version and load
/// options (as text: input shapes to plan, inputs to freeze) the builder
/// placed in memory (each allocated with `cabi_realloc`, ownership
/// passing to this function), and either parses and optimizes the model
/// now (`preinit` non-zero) or keeps the bytes for each instance to parse.
///
/// Returns 0 on success, or a pointer to a little-endian `u32` length
/// followed by that many bytes of UTF-8 error message.
///
/// # Safety
/// Each pointer must come from `cabi_realloc(0, 0, 1, len)` with its length.
#[unsafe(export_name = "wasmodel-init")]
pub unsafe extern "C" fn wasmodel_init(
    onnx_ptr: *mut u8,
    onnx_len: usize,
    name_ptr: *mut u8,
    name_len: usize,
    version_ptr: *mut u8,
    version_len: usize,
    options_ptr: *mut u8,
    options_len: usize,
    preinit: u32,
) -> *const u8 {
    // Run the static constructors first: tract registers its wasm SIMD
    // kernels through them (the `inventory` crate), and a reactor module
    // must call them itself. Calling them here also tells `wasm-ld` not to
    // wrap every export in another call; the snapshot keeps their effect.
    #[cfg(target_family = "wasm")]
    {
        unsafe extern "C" {
            fn __wasm_call_ctors();
        }
        // SAFETY: called once, before anything reads what they initialize.
        unsafe { __wasm_call_ctors() };
    }
    // SAFETY: the builder allocated each buffer with `cabi_realloc` at
    // alignment 1 and exactly this length, and hands it over.
    let (onnx, name, version, options) = unsafe {
        (
            Vec::from_raw_parts(onnx_ptr, onnx_len, onnx_len),
            Vec::from_raw_parts(name_ptr, name_len, name_len),
            Vec::from_raw_parts(version_ptr, version_len, version_len),
            Vec::from_raw_parts(options_ptr, options_len, options_len),
        )
    };
    // Whatever the engine frees from here on is zeroed, so that the
    // snapshot does not carry the parser's leftovers (see `alloc`).
    let _zeroing = crate::alloc::zero_freed_memory();
    let result = if preinit != 0 {
        let result = load(&onnx, &name, &version, &options);
        // The ONNX bytes are not needed after parsing (freed, and so zeroed).
        drop(onnx);
        set(result)
    } else {
        let pending = Pending {
            onnx,
            name,
            version,
            options,
        };
        PENDING
            .set(pending)
            .map_err(|_| "this engine already holds a model".to_string())
    };
    // Set here, after the build's own work (whose imports trap), so the
    // snapshot holds it and no request pays for it.
    #[cfg(feature = "http")]
    crate::http::report_panics_to_stderr();
    match result {
        Ok(()) => std::ptr::null(),
        Err(message) => {
            let mut out = (message.len() as u32).to_le_bytes().to_vec();
            out.extend_from_slice(message.as_bytes());
            out.leak().as_ptr()
        }
    }
}

fn set(model: Result<engine::Model, String>) -> Result<(), String> {
    let model = model?;
    MODEL
        .set(Ok(model))
        .map_err(|_| "this engine already holds a model".to_string())
}

fn load(onnx: &[u8], name: &[u8], version: &[u8], options: &[u8]) -> Result<engine::Model, String> {
    let name = std::str::from_utf8(name).map_err(|e| format!("model name: {e}"))?;
    let version = std::str::from_utf8(version).map_err(|e| format!("model version: {e}"))?;
    let options = std::str::from_utf8(options)
        .map_err(|e| e.to_string())
        .and_then(|text| engine::LoadOptions::from_text(text).map_err(|e| e.to_string()))
        .map_err(|e| format!("load options: {e}"))?;
    engine::Model::load_with(onnx, name, version, &options).map_err(|e| e.to_string())
}
