//! The one model of a component, and the build-time entry point that sets
//! it. The `wasmodel-init` export is removed from the snapshot.

use std::sync::OnceLock;

use wasmodel_engine as engine;

/// The component's model, set once by `wasmodel-init`.
static MODEL: OnceLock<engine::Model> = OnceLock::new();

/// The model, or `None` in an engine that was never given one (which
/// `wasmodel build` never packages).
pub(crate) fn model() -> Option<&'static engine::Model> {
    MODEL.get()
}

/// Build-time entry point: parse and optimize the model whose ONNX bytes,
/// name and version the builder placed in memory (each allocated with
/// `cabi_realloc`, ownership passing to this function).
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
    let (mut onnx, name, version) = unsafe {
        (
            Vec::from_raw_parts(onnx_ptr, onnx_len, onnx_len),
            Vec::from_raw_parts(name_ptr, name_len, name_len),
            Vec::from_raw_parts(version_ptr, version_len, version_len),
        )
    };
    let result = init(&onnx, &name, &version);
    // The ONNX bytes are not needed after parsing: zero them so the memory
    // snapshot does not carry a second copy of the weights.
    onnx.fill(0);
    drop(onnx);
    match result {
        Ok(()) => std::ptr::null(),
        Err(message) => {
            let mut out = (message.len() as u32).to_le_bytes().to_vec();
            out.extend_from_slice(message.as_bytes());
            out.leak().as_ptr()
        }
    }
}

fn init(onnx: &[u8], name: &[u8], version: &[u8]) -> Result<(), String> {
    let name = std::str::from_utf8(name).map_err(|e| format!("model name: {e}"))?;
    let version = std::str::from_utf8(version).map_err(|e| format!("model version: {e}"))?;
    let model = engine::Model::load(onnx, name, version).map_err(|e| e.to_string())?;
    MODEL
        .set(model)
        .map_err(|_| "this engine already holds a model".to_string())
}

/// Debian's 2022 wasi-libc has no `realpath`, which std's
/// `fs::canonicalize` links to (reachable from tract's file-loading API,
/// which a component never calls). build.rs sets this cfg only when it links
/// against that libc; other wasi-libcs have the real one.
#[cfg(wasmodel_realpath_shim)]
#[unsafe(no_mangle)]
pub extern "C" fn realpath(_path: *const u8, _resolved: *mut u8) -> *mut u8 {
    std::ptr::null_mut()
}
