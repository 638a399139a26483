//! `wasmodel build --target cloudflare`: a Cloudflare Worker that serves a
//! model over the Open Inference Protocol v2.
//!
//! Workers run JavaScript and core WebAssembly, not components, so the
//! model's HTTP component (the very one `wasmodel serve` and Spin run) is
//! transpiled by jco into an ES module and its core modules, and a small
//! Worker binds its `wasi:http` imports to the Fetch API request and
//! response (`cloudflare/wasi-http.mjs`). Every route, error and class
//! label is the component's own, so the Worker answers exactly as the
//! component does everywhere else.
//!
//! The directory holds:
//! - `worker.mjs`, the fetch handler, and `wasi-http.mjs`, its imports;
//! - `component/`, jco's output (`model.js`, `model*.core*.wasm`) and
//!   `modules.mjs`, which imports each core module as a compiled `wasm`
//!   module, as Workers load them;
//! - `wrangler.toml`, for `wrangler dev` and `wrangler deploy`;
//! - `workerd.capnp`, for `workerd serve` (the runtime under Workers,
//!   which the tests run), its socket named `http`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The jco release the Worker's transpiled component is tested with.
pub const TESTED_JCO: &str = "1.35.0";

/// The Workers compatibility date the Worker is written for: it uses
/// nothing newer.
const COMPATIBILITY_DATE: &str = "2025-06-01";

const WORKER: &str = include_str!("cloudflare/worker.mjs");
const WASI_HTTP: &str = include_str!("cloudflare/wasi-http.mjs");

/// Why a Worker could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    #[error(
        "the cloudflare target transpiles the component with jco, and `{tried}` does \
         not run: install it with `npm install -g @bytecodealliance/jco@{TESTED_JCO}`, \
         or set WASMODEL_JCO to its path"
    )]
    JcoNotFound { tried: String },
    #[error("jco could not transpile the component ({status}): {stderr}")]
    JcoFailed { status: String, stderr: String },
    #[error(
        "{0} exists and is not a Worker wasmodel wrote (no worker.mjs and wrangler.toml): \
         give another directory with -o"
    )]
    NotAWorkerDirectory(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkerError + '_ {
    move |source| WorkerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// jco, the Bytecode Alliance's component-to-JavaScript transpiler.
#[derive(Debug, Clone)]
pub struct Jco {
    program: OsString,
}

impl Jco {
    /// `$WASMODEL_JCO` if set, else `jco` on the `PATH`: see [`Jco::at`].
    pub fn find() -> Result<(Jco, String), WorkerError> {
        match std::env::var_os("WASMODEL_JCO").filter(|v| !v.is_empty()) {
            Some(path) => Jco::at(Path::new(&path)),
            None => Jco::at(Path::new("jco")),
        }
    }

    /// The jco at `program` (a path, or a name looked up on the `PATH`),
    /// checked by asking its version, with that version.
    pub fn at(program: &Path) -> Result<(Jco, String), WorkerError> {
        let jco = Jco {
            program: program.as_os_str().to_owned(),
        };
        let version = Command::new(&jco.program)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .ok_or_else(|| WorkerError::JcoNotFound {
                tried: program.display().to_string(),
            })?;
        Ok((jco, version))
    }

    /// Transpiles `component` into `out`: `model.js`, which exports
    /// `instantiate(getCoreModule, imports)`, and its core modules, none
    /// inlined.
    fn transpile(&self, component: &Path, out: &Path) -> Result<(), WorkerError> {
        let output = Command::new(&self.program)
            .arg("transpile")
            .arg(component)
            .args(["--name", "model", "--instantiation", "async"])
            .args(["--no-wasi-shim", "--no-nodejs-compat", "--no-typescript"])
            .args(["--base64-cutoff", "0", "--quiet", "-o"])
            .arg(out)
            .output()
            .map_err(|e| WorkerError::JcoFailed {
                status: "it did not start".into(),
                stderr: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(WorkerError::JcoFailed {
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}

/// What [`write_worker`] wrote.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The core modules (`component/...wasm`) and their sizes, in bytes.
    pub core_modules: Vec<(String, u64)>,
    /// The whole directory's size, in bytes.
    pub total_bytes: u64,
}

/// Writes a Worker serving the HTTP component `component` (from
/// `wasmodel build --http`) of the model `name` into `dir`, with `jco`.
///
/// The Worker is put together beside `dir` and moved into place at the
/// end, so a failure leaves nothing half-written; a `dir` that exists is
/// replaced only if it is a Worker (it has `worker.mjs` and
/// `wrangler.toml`).
pub fn write_worker(
    component: &[u8],
    name: &str,
    dir: &Path,
    jco: &Jco,
) -> Result<Worker, WorkerError> {
    if dir.exists() && !is_worker_dir(dir) {
        return Err(WorkerError::NotAWorkerDirectory(dir.to_owned()));
    }
    let mut partial = dir.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    let written = write_into(component, name, &partial, jco);
    let worker = match written {
        Ok(worker) => worker,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&partial, dir).map_err(io(dir))?;
    Ok(worker)
}

fn is_worker_dir(dir: &Path) -> bool {
    dir.join("worker.mjs").is_file() && dir.join("wrangler.toml").is_file()
}

fn write_into(component: &[u8], name: &str, dir: &Path, jco: &Jco) -> Result<Worker, WorkerError> {
    let write = |file: &str, contents: &[u8]| {
        let path = dir.join(file);
        std::fs::write(&path, contents).map_err(io(&path))
    };
    let component_dir = dir.join("component");
    std::fs::create_dir_all(&component_dir).map_err(io(&component_dir))?;
    let wasm = dir.join("model-http.wasm");
    std::fs::write(&wasm, component).map_err(io(&wasm))?;
    jco.transpile(&wasm, &component_dir)?;
    std::fs::remove_file(&wasm).map_err(io(&wasm))?;

    let mut core_modules = Vec::new();
    for entry in std::fs::read_dir(&component_dir).map_err(io(&component_dir))? {
        let entry = entry.map_err(io(&component_dir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".wasm") {
            let size = entry.metadata().map_err(io(&entry.path()))?.len();
            core_modules.push((file, size));
        }
    }
    core_modules.sort();

    write(
        "component/modules.mjs",
        modules_mjs(&core_modules).as_bytes(),
    )?;
    write("worker.mjs", WORKER.as_bytes())?;
    write("wasi-http.mjs", WASI_HTTP.as_bytes())?;
    write("wrangler.toml", wrangler_toml(name).as_bytes())?;
    write("workerd.capnp", workerd_capnp(&core_modules).as_bytes())?;
    Ok(Worker {
        core_modules,
        total_bytes: directory_size(dir),
    })
}

/// `component/modules.mjs`: each core module, imported as a compiled
/// module (a `wasm` module to workerd, `CompiledWasm` to wrangler), by
/// the name jco's `instantiate` asks for it.
fn modules_mjs(core_modules: &[(String, u64)]) -> String {
    let mut out = String::from(
        "// The component's core modules, compiled by the Workers runtime when\n\
         // the Worker loads (written by `wasmodel build --target cloudflare`).\n",
    );
    for (i, (file, _)) in core_modules.iter().enumerate() {
        out.push_str(&format!("import core{i} from './{file}';\n"));
    }
    out.push_str("\nexport const coreModules = {\n");
    for (i, (file, _)) in core_modules.iter().enumerate() {
        out.push_str(&format!("  '{file}': core{i},\n"));
    }
    out.push_str("};\n");
    out
}

/// `wrangler.toml`: wrangler's default rules already load `.wasm` imports
/// as compiled modules.
fn wrangler_toml(name: &str) -> String {
    // Worker names are lowercase letters, digits and dashes.
    let worker_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "# A Worker serving the model `{name}` over the Open Inference Protocol v2\n\
         # (written by `wasmodel build --target cloudflare`): `npx wrangler dev`\n\
         # runs it locally, `npx wrangler deploy` deploys it.\n\
         name = \"{worker_name}\"\n\
         main = \"worker.mjs\"\n\
         compatibility_date = \"{COMPATIBILITY_DATE}\"\n"
    )
}

/// `workerd.capnp`: the same Worker for `workerd serve workerd.capnp`,
/// listening on the socket `http` (`--socket-addr http=HOST:PORT` moves
/// it).
fn workerd_capnp(core_modules: &[(String, u64)]) -> String {
    let mut modules = String::from(
        "    (name = \"worker.mjs\", esModule = embed \"worker.mjs\"),\n\
         \x20   (name = \"wasi-http.mjs\", esModule = embed \"wasi-http.mjs\"),\n\
         \x20   (name = \"component/model.js\", esModule = embed \"component/model.js\"),\n\
         \x20   (name = \"component/modules.mjs\", esModule = embed \"component/modules.mjs\"),\n",
    );
    for (file, _) in core_modules {
        modules.push_str(&format!(
            "    (name = \"component/{file}\", wasm = embed \"component/{file}\"),\n"
        ));
    }
    format!(
        "# The Worker for workerd, the runtime under Cloudflare Workers (written by\n\
         # `wasmodel build --target cloudflare`):\n\
         #   workerd serve workerd.capnp --socket-addr http=127.0.0.1:8080\n\
         using Workerd = import \"/workerd/workerd.capnp\";\n\
         \n\
         const config :Workerd.Config = (\n\
         \x20 services = [(name = \"model\", worker = .worker)],\n\
         \x20 sockets = [(name = \"http\", address = \"*:8080\", http = (), service = \"model\")],\n\
         );\n\
         \n\
         const worker :Workerd.Worker = (\n\
         \x20 modules = [\n\
         {modules}\
         \x20 ],\n\
         \x20 compatibilityDate = \"{COMPATIBILITY_DATE}\",\n\
         );\n"
    )
}

/// Bytes of the files under `dir`.
fn directory_size(dir: &Path) -> u64 {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return 0;
    };
    listing
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => directory_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_are_lowercase_and_dashes() {
        assert!(wrangler_toml("My_Model.v2").contains("name = \"my-model-v2\""));
    }

    #[test]
    fn every_core_module_is_imported_and_embedded() {
        let modules = vec![
            ("model.core.wasm".to_string(), 1),
            ("model.core2.wasm".to_string(), 2),
        ];
        let mjs = modules_mjs(&modules);
        assert!(mjs.contains("import core1 from './model.core2.wasm';"));
        assert!(mjs.contains("'model.core2.wasm': core1,"));
        let capnp = workerd_capnp(&modules);
        assert!(capnp.contains(
            "(name = \"component/model.core2.wasm\", wasm = embed \"component/model.core2.wasm\")"
        ));
    }
}
