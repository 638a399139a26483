//! `wasmodel compile`: a component compiled ahead of time.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{RuntimeArgs, mb, read_component};

/// Compile a model component ahead of time, for a host that loads
/// precompiled code.
///
/// The file holds machine code for this machine's CPU features and this
/// wasmodel's wasmtime version (48.0.8) and configuration, which `predict`,
/// `inspect` and `serve` share (and the library's runtimes). Load it with
/// `--allow-precompiled`; a file compiled by another wasmodel or for
/// another CPU is refused with a message saying so. The compile cache does
/// the same per machine without asking; this is for images and machines
/// that should never compile.
///
/// Other hosts (the wasmtime CLI, Spin) compile with their own
/// configurations: use `wasmtime compile` of the same wasmtime version for
/// `wasmtime serve --allow-precompiled`; Spin caches its own compiles.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel compile iris.wasm -o iris.cwasm
  wasmodel predict iris.cwasm --allow-precompiled --input features=rows.json
  wasmodel compile iris-http.wasm -o iris-http.cwasm
  wasmodel serve iris-http.cwasm --allow-precompiled")]
pub struct CompileCommand {
    /// The component (.wasm), predictor or HTTP
    component: PathBuf,
    /// Where to write it [default: the component's path with .cwasm]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

impl CompileCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let wasm = read_component(&self.component)?;
        let runtime = self.runtime.runtime()?;
        let output = self
            .output
            .unwrap_or_else(|| self.component.with_extension("cwasm"));
        eprintln!("Compiling {}...", self.component.display());
        let compiled = runtime
            .precompile(&wasm)
            .with_context(|| format!("cannot compile {}", self.component.display()))?;
        super::write_whole(&output, &compiled)?;
        outln!(
            "Compiled {} ({:.1} MB) for this wasmodel on this machine; load it with --allow-precompiled",
            output.display(),
            mb(compiled.len()),
        );
        Ok(())
    }
}
