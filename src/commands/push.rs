//! `wasmodel push`: a component to an OCI registry.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use wasmodel_cli::oci::{Artifact, Client, Reference, artifact::created_now};

use super::{mb, read_component};

/// Push a model component to an OCI registry, as a Wasm artifact.
///
/// The artifact has the layout the CNCF's Wasm OCI artifact spec gives
/// (read by `wkg`, wasmCloud and SpinKube's tooling): its config
/// (`application/vnd.wasm.config.v0+json`) lists the component's imports and
/// exports, its one layer (`application/wasm`) is the component, byte for
/// byte. The manifest's annotations name the model, its version and its
/// ONNX digest, as the build recorded them. Blobs the registry already has
/// are not sent again. Prints the reference pinned to the manifest's
/// digest, for `wasmodel pull` or a deployment.
///
/// Registries are reached over HTTPS, trusting Mozilla's root
/// certificates and those in the PEM file SSL_CERT_FILE names (a private
/// registry's authority); --insecure reaches one over plain HTTP. A
/// registry that asks for a login (Basic, or Docker's token protocol) gets
/// WASMODEL_REGISTRY_USERNAME and WASMODEL_REGISTRY_PASSWORD, else what
/// `docker login` stored in Docker's config.json (not credential helpers).
#[derive(clap::Parser)]
#[command(after_help = "\
Examples:
  wasmodel push iris-http.wasm registry.example.com/models/iris:1
  wasmodel push iris.wasm localhost:5000/iris:2 --insecure --annotation team=risk
  SSL_CERT_FILE=our-ca.pem wasmodel push iris.wasm registry.lan/iris:2
  wasmodel pull registry.example.com/models/iris:1 -o iris-http.wasm")]
pub struct PushCommand {
    /// The component (.wasm), predictor or HTTP
    component: PathBuf,
    /// Where to push it: REGISTRY/REPOSITORY[:TAG] (the tag defaults to
    /// `latest`)
    reference: String,
    /// Reach the registry over plain HTTP, unencrypted, instead of HTTPS
    #[arg(long)]
    insecure: bool,
    /// An annotation for the manifest, KEY=VALUE (repeat for more); it
    /// replaces one wasmodel writes of the same key
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
}

impl PushCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let reference: Reference = self.reference.parse()?;
        if reference.digest.is_some() {
            bail!(
                "{reference}: a push names a tag, not a digest (the registry names the \
                 content by its digest, which the push prints)"
            );
        }
        let mut annotations = BTreeMap::new();
        for annotation in &self.annotations {
            let (key, value) = annotation
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .with_context(|| format!("--annotation {annotation}: write it as KEY=VALUE"))?;
            annotations.insert(key.to_owned(), value.to_owned());
        }
        let client = Client::new(&reference.registry, self.insecure)?;
        let wasm = read_component(&self.component)?;
        let file = self.component.display().to_string();
        let artifact = Artifact::new(wasm, &file, created_now(), annotations)?;
        eprintln!(
            "Pushing {file} ({:.1} MB) to {reference}...",
            mb(artifact.component.len())
        );
        let pushed = client
            .push(&reference, &artifact, &mut |step| eprintln!("  {step}"))
            .with_context(|| format!("cannot push {file} to {reference}"))?;
        outln!("{}", pushed.reference);
        Ok(())
    }
}
