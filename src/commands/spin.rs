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
    Kube(KubeCommand),
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
            SpinAction::Kube(kube) => kube.execute(),
        }
    }
}

/// Write the SpinApp resource that runs a pushed Spin app on Kubernetes
/// with SpinKube.
///
/// Push the app first (`spin registry push REF` in the directory of its
/// spin.toml, after `spin build`), then apply what this writes with
/// `kubectl apply -f`. SpinKube's operator turns it into a Deployment whose
/// pods run the app with containerd-shim-spin; Kubernetes scales it
/// (replicas here, or a HorizontalPodAutoscaler). Each pod runs a fresh
/// instance of a model's component per request, as Spin does.
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel spin add models/iris.onnx && spin build
  spin registry push registry.example.com/apps/iris:1
  wasmodel spin kube registry.example.com/apps/iris:1 --memory 512 --instance-memory 128 \\
    -o iris-spinapp.yaml
  kubectl apply -f iris-spinapp.yaml")]
struct KubeCommand {
    /// The app's OCI reference, as `spin registry push` pushed it (pinning
    /// its digest with @sha256:... keeps every replica on the same app)
    reference: String,
    /// The resource's name [default: the repository's last segment]
    #[arg(long)]
    name: Option<String>,
    /// How many pods run the app
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Memory limit of each pod, in MiB (resources.limits.memory): leave
    /// room for the largest model's instances in flight
    #[arg(long, value_name = "MIB")]
    memory: Option<u64>,
    /// Memory one instance of a component may use, in MiB
    /// (invocationLimits.memory; SpinKube's operator 0.6 or later): a model's
    /// instance holds its weights and activations (the README's deployment
    /// section gives it for the models tested); Spin's default is 4 GiB
    #[arg(long, value_name = "MIB")]
    instance_memory: Option<u64>,
    /// The SpinAppExecutor that runs it
    #[arg(long, default_value = wasmodel_cli::spinkube::DEFAULT_EXECUTOR)]
    executor: String,
    /// Where to write it [default: standard output]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl KubeCommand {
    fn execute(self) -> anyhow::Result<()> {
        let image: wasmodel_cli::oci::Reference = self.reference.parse()?;
        let mut app = wasmodel_cli::spinkube::SpinApp::new(image, self.name)?;
        app.replicas = self.replicas;
        if let (Some(instance), Some(pod)) = (self.instance_memory, self.memory)
            && instance > pod
        {
            anyhow::bail!(
                "--instance-memory {instance} is more than --memory {pod}: SpinKube refuses an \
                 invocation limit above the pod's"
            );
        }
        app.memory_limit_mib = self.memory;
        app.instance_memory_mib = self.instance_memory;
        app.executor = self.executor;
        let yaml = app.to_yaml();
        match &self.output {
            Some(path) => {
                std::fs::write(path, &yaml)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("Wrote {} (SpinApp {})", path.display(), app.name);
            }
            None => super::print_text(format_args!("{yaml}"))?,
        }
        if app.image.digest.is_none() {
            eprintln!(
                "note: {} names a tag, which may move; a reference pinned with @sha256:... \
                 (the digest `spin registry push` printed) keeps every pod on one app",
                app.image
            );
        }
        Ok(())
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
        outln!(
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
