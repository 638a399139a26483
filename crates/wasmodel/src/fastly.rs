//! What a Fastly Compute module built by [`Flavour::Fastly`] must be, checked
//! before it is handed out.
//!
//! Fastly Compute does not run `wasi:http/proxy` components: it runs a core
//! module per request, calling its `_start`, which speaks to the host only
//! through the `fastly_*` hostcall modules. The engine's Fastly flavour
//! (`crates/guest`, feature `fastly`) is such a module; after the model is
//! snapshotted into it, this checks that the result validates, exports what
//! Fastly calls and imports nothing Fastly does not provide.
//!
//! [`Flavour::Fastly`]: crate::Flavour::Fastly

use wasmparser::{ExternalKind, Parser, Payload, TypeRef, Validator, WasmFeatures};

use crate::Error;
use crate::inspect::Interfaces;

/// The hostcall modules the engine may import: Fastly's HTTP request,
/// body and response calls.
pub const HOSTCALL_MODULES: [&str; 3] = ["fastly_http_req", "fastly_http_body", "fastly_http_resp"];

/// The linear memory Fastly Compute gives an instance: 128 MiB (Fastly's
/// "Compute resource limits"; Viceroy holds an instance to the same).
pub const MEMORY_LIMIT: u64 = 128 << 20;

/// The bytes of linear memory `module` starts with (its memory's minimum),
/// which hold the snapshot of the model: an instance needs at least that,
/// and a module whose start is over [`MEMORY_LIMIT`] never runs on Fastly.
/// `None` for bytes that are not a module with a memory.
pub fn initial_memory(module: &[u8]) -> Option<u64> {
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::MemorySection(reader) = payload.ok()? {
            let memory = reader.into_iter().next()?.ok()?;
            let page = 1u64 << memory.page_size_log2.unwrap_or(16);
            return memory.initial.checked_mul(page);
        }
    }
    None
}

/// Validates `module` and lists its imports (`module#name`) and exports, or
/// says why Fastly could not run it.
pub(crate) fn check_module(module: &[u8]) -> Result<Interfaces, Error> {
    let refuse = |why: String| Error::Build(format!("the Fastly module is not valid: {why}"));
    // What Fastly's wasmtime enables: the default features, SIMD among them.
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(module)
        .map_err(|e| refuse(e.to_string()))?;
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut start_is_func = false;
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(|e| refuse(e.to_string()))? {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => return Err(refuse("it is a component, not a core module".into())),
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| refuse(e.to_string()))?;
                    if !HOSTCALL_MODULES.contains(&import.module) {
                        return Err(refuse(format!(
                            "it imports {}#{}, which is not one of Fastly's HTTP hostcalls ({})",
                            import.module,
                            import.name,
                            HOSTCALL_MODULES.join(", ")
                        )));
                    }
                    if !matches!(import.ty, TypeRef::Func(_)) {
                        return Err(refuse(format!(
                            "{}#{} is imported as something other than a function",
                            import.module, import.name
                        )));
                    }
                    imports.push(format!("{}#{}", import.module, import.name));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| refuse(e.to_string()))?;
                    if export.name == "_start" {
                        start_is_func = export.kind == ExternalKind::Func;
                    }
                    exports.push(export.name.to_string());
                }
            }
            _ => {}
        }
    }
    for needed in ["_start", "memory"] {
        if !exports.iter().any(|e| e == needed) {
            return Err(refuse(format!("it does not export `{needed}`")));
        }
    }
    if !start_is_func {
        return Err(refuse("its `_start` export is not a function".into()));
    }
    Ok(Interfaces { imports, exports })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ConstExpr, EntityType, ExportKind, ExportSection, Function, FunctionSection,
        GlobalSection, GlobalType, ImportSection, Instruction, MemorySection, MemoryType, Module,
        TypeSection, ValType,
    };

    /// A module importing `import` (module, name; a function of no
    /// parameters), exporting a memory and, as `_start`, a function
    /// (`start_is_func`) or a global.
    fn module(import: Option<(&str, &str)>, start: Option<bool>) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        if let Some((from, name)) = import {
            let mut imports = ImportSection::new();
            imports.import(from, name, EntityType::Function(0));
            module.section(&imports);
        }
        let imported = u32::from(import.is_some());
        let mut functions = FunctionSection::new();
        functions.function(0);
        module.section(&functions);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut globals = GlobalSection::new();
        let global = GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        };
        globals.global(global, &ConstExpr::i32_const(0));
        module.section(&globals);
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        match start {
            Some(true) => exports.export("_start", ExportKind::Func, imported),
            Some(false) => exports.export("_start", ExportKind::Global, 0),
            None => &mut exports,
        };
        module.section(&exports);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instruction(&Instruction::End);
        code.function(&body);
        module.section(&code);
        module.finish()
    }

    #[test]
    fn a_module_fastly_runs_is_accepted() {
        let interfaces = check_module(&module(
            Some(("fastly_http_req", "body_downstream_get")),
            Some(true),
        ))
        .unwrap();
        assert_eq!(interfaces.imports, ["fastly_http_req#body_downstream_get"]);
        assert_eq!(interfaces.exports, ["memory", "_start"]);
        assert_eq!(initial_memory(&module(None, Some(true))), Some(64 << 10));
        assert_eq!(initial_memory(b"\0asm\x01\0\0\0"), None);
    }

    #[test]
    fn other_imports_and_missing_exports_are_refused() {
        let refusal = |bytes: Vec<u8>| check_module(&bytes).unwrap_err().to_string();
        let wasi = refusal(module(
            Some(("wasi_snapshot_preview1", "fd_write")),
            Some(true),
        ));
        assert!(wasi.contains("wasi_snapshot_preview1#fd_write"), "{wasi}");
        let no_start = refusal(module(None, None));
        assert!(no_start.contains("does not export `_start`"), "{no_start}");
        let not_a_func = refusal(module(None, Some(false)));
        assert!(not_a_func.contains("not a function"), "{not_a_func}");
        let garbage = refusal(b"\0asm\x01\0\0\0\x01".to_vec());
        assert!(garbage.contains("not valid"), "{garbage}");
    }
}
