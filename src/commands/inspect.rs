//! `wasmodel inspect`: what a model component is, needs and offers.

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::{
    PrecompiledArgs, RegistryArgs, RuntimeArgs, load, mb, print_list, print_model_info,
    read_component,
};

/// Show a model component's metadata, imports, exports, size and digest.
///
/// Imports and exports are read from the component's type information; the
/// model's metadata comes from calling the component itself, which compiles
/// it on first use (cached afterwards).
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel inspect iris.wasm
  wasmodel inspect iris.wasm --json | jq .imports")]
pub struct InspectCommand {
    /// The model component (.wasm), or an OCI reference to pull it from
    component: PathBuf,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    precompiled: PrecompiledArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl InspectCommand {
    pub fn execute(mut self) -> anyhow::Result<()> {
        let runtime = self.runtime.runtime()?;
        self.component = self
            .registry
            .component_file(&self.component, &self.runtime)?;
        let wasm = read_component(&self.component)?;
        let digest = format!("sha256:{:x}", Sha256::digest(&wasm));
        let model = load(&runtime, &self.precompiled, &self.component)?;
        let (info, interfaces) = (model.info(), model.interfaces());
        let relaxed_simd = wasmodel::inspect::needs_relaxed_simd(&wasm)?;
        let built_with = wasmodel::read_build_options(&wasm).unwrap_or_default();

        if self.json {
            let tensors = |ts: &[wasmodel::TensorInfo]| -> Vec<serde_json::Value> {
                ts.iter()
                    .map(|t| {
                        let shape: Vec<serde_json::Value> = t
                            .shape
                            .iter()
                            .map(|d| match d {
                                wasmodel::Dimension::Fixed(n) => serde_json::json!(n),
                                wasmodel::Dimension::Dynamic(s) => serde_json::json!(s),
                            })
                            .collect();
                        let mut tensor = serde_json::json!({ "name": t.name, "dtype": t.element_type.name(), "shape": shape });
                        if let Some(labels) = &t.class_labels {
                            tensor["class_labels"] = wasmodel::json::class_labels_to_json(labels);
                        }
                        tensor
                    })
                    .collect()
            };
            let out = serde_json::json!({
                "component": { "path": self.component, "size": wasm.len(), "digest": digest },
                "model": {
                    "name": info.name, "version": info.version, "digest": info.digest,
                    "producer": info.producer,
                    "inputs": tensors(&info.inputs), "outputs": tensors(&info.outputs),
                },
                "imports": interfaces.imports,
                "exports": interfaces.exports,
                "needs_relaxed_simd": relaxed_simd,
                "built_with": {
                    "input_shapes": built_with.input_shapes.iter()
                        .map(|(name, dims)| serde_json::json!({ "name": name, "shape": dims }))
                        .collect::<Vec<_>>(),
                    "input_values": built_with.input_values.iter()
                        .map(|(name, values)| serde_json::json!({ "name": name, "values": values }))
                        .collect::<Vec<_>>(),
                },
            });
            outln!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(());
        }

        outln!("{}", self.component.display());
        outln!(
            "  size      {:.1} MB ({} bytes)",
            mb(wasm.len()),
            wasm.len()
        );
        outln!("  sha256    {}", digest.trim_start_matches("sha256:"));
        outln!("  hosts     {}", super::hosts(relaxed_simd));
        print_list("imports", &interfaces.imports)?;
        print_list("exports", &interfaces.exports)?;
        print_model_info(info)?;
        for line in built_with.to_text().lines() {
            outln!("  built     --{line}");
        }
        Ok(())
    }
}
