//! `wasmodel pull`: a component from an OCI registry.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmodel_cli::oci::{Client, Reference};

use super::mb;

/// Pull a model component from an OCI registry.
///
/// The reference must name a Wasm artifact (what `wasmodel push`, `wkg` or
/// `wash push` write: a `application/vnd.wasm.config.v0+json` config and
/// one `application/wasm` layer); a container image is refused. Every
/// digest is checked: the manifest's against the one the reference pins
/// (or the registry's `Docker-Content-Digest`), the component's against the
/// manifest's, so a file written is exactly what was pushed.
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
  wasmodel pull registry.example.com/models/iris:1 -o iris-http.wasm
  wasmodel pull localhost:5000/models/iris@sha256:9f86d0... --insecure
  wasmodel serve iris-http.wasm")]
pub struct PullCommand {
    /// What to pull: REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]
    reference: String,
    /// Where to write the component [default: the repository's last
    /// segment, with .wasm, in this directory]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Reach the registry over plain HTTP, unencrypted, instead of HTTPS
    #[arg(long)]
    insecure: bool,
}

impl PullCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let reference: Reference = self.reference.parse()?;
        let client = Client::new(&reference.registry, self.insecure)?;
        let output = self
            .output
            .unwrap_or_else(|| PathBuf::from(format!("{}.wasm", reference.name())));
        eprintln!("Pulling {reference}...");
        let pulled = client
            .pull(&reference, &mut |step| eprintln!("  {step}"))
            .with_context(|| format!("cannot pull {reference}"))?;
        super::write_whole(&output, &pulled.component)?;
        let model = match (
            pulled.manifest.annotations.get("dev.wasmodel.model.name"),
            pulled
                .manifest
                .annotations
                .get("dev.wasmodel.model.version"),
        ) {
            (Some(name), Some(version)) => format!(", model {name} version {version}"),
            (Some(name), None) => format!(", model {name}"),
            _ => String::new(),
        };
        let mut pinned = reference.clone();
        pinned.digest = Some(pulled.digest.clone());
        eprintln!(
            "Wrote {} ({:.1} MB{model}) from {pinned}",
            output.display(),
            mb(pulled.component.len()),
        );
        Ok(())
    }
}
