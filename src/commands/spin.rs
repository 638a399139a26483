//! `wasmodel spin`: Spin manifests that serve models.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasmodel_cli::spin_manifest::{ModelEntry, add_model};

/// Write or extend a Spin manifest that serves models, one component each.
#[derive(clap::Parser)]
pub struct SpinCommand {
    #[command(subcommand)]
    action: SpinAction,
}

#[derive(clap::Subcommand)]
enum SpinAction {
    Add(AddCommand),
}

/// Add a model to a Spin manifest (spin.toml, created if missing).
///
/// The model gets a component of its own, built by `wasmodel build --http`
/// (Spin runs the command on `spin build`), routed at
/// /v2/models/NAME/...; the protocol's server routes (/v2/..., metadata and
/// health) go to the manifest's first model. Comments, other components and
/// other routes are kept; adding a model of a name already there replaces
/// its component. The model is checked natively first, so a model wasmodel
/// cannot run is refused here, not at `spin build`.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel spin add models/iris.onnx
  wasmodel spin add churn.onnx --name churn --manifest deploy/spin.toml
  spin build && spin up")]
struct AddCommand {
    /// The ONNX model file
    model: PathBuf,
    /// The manifest to write or extend
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// The model's name, its component and route [default: the file's
    /// stem, lowercase, `_` as `-`]
    #[arg(long)]
    name: Option<String>,
    /// Where the build writes the component, relative to the manifest
    /// [default: target/NAME-http.wasm]
    #[arg(long)]
    source: Option<String>,
    /// How the build command runs wasmodel
    #[arg(long, default_value = "wasmodel")]
    wasmodel: String,
    #[command(flatten)]
    limits: super::BuildLimitArgs,
}

impl SpinCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        match self.action {
            SpinAction::Add(add) => add.execute(),
        }
    }
}

impl AddCommand {
    fn execute(self) -> anyhow::Result<()> {
        let time_limit = self.limits.apply()?;
        let onnx = wasmodel::read_model(&self.model)
            .with_context(|| format!("cannot read {}", self.model.display()))?;
        // Spin's component ids are lower-case kebab: `wine_mlp` → `wine-mlp`.
        let name = match self.name {
            Some(name) => name,
            None => super::model_name(None, &self.model)?
                .to_lowercase()
                .replace('_', "-"),
        };
        wasmodel::load_model(&onnx, &name, "1", &Default::default(), time_limit)
            .with_context(|| format!("{} cannot be served", self.model.display()))?;
        let base = self
            .manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let onnx_path = relative_to(&self.model, base);
        let source = self
            .source
            .unwrap_or_else(|| format!("target/{name}-http.wasm"));
        let existing = match std::fs::read_to_string(&self.manifest) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.manifest.display()));
            }
        };
        let written = add_model(
            existing.as_deref(),
            &ModelEntry {
                name: &name,
                onnx: &onnx_path,
                source: &source,
                wasmodel: &self.wasmodel,
            },
        )
        .with_context(|| format!("cannot add to {}", self.manifest.display()))?;
        std::fs::write(&self.manifest, written)
            .with_context(|| format!("cannot write {}", self.manifest.display()))?;
        println!(
            "{} {}: model `{name}` at /v2/models/{name}/, component {source}",
            if existing.is_some() {
                "Updated"
            } else {
                "Wrote"
            },
            self.manifest.display()
        );
        Ok(())
    }
}

/// `path` as the manifest in `base` should name it: relative to `base` when
/// both resolve and one is inside the other's tree, else absolute.
fn relative_to(path: &Path, base: &Path) -> String {
    let (Ok(path_abs), Ok(base_abs)) = (path.canonicalize(), base.canonicalize()) else {
        return path.display().to_string();
    };
    match path_abs.strip_prefix(&base_abs) {
        Ok(inside) => inside.display().to_string(),
        Err(_) => path_abs.display().to_string(),
    }
}
