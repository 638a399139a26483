//! Model components as OCI artifacts: `wasmodel push` and `wasmodel pull`.
//!
//! A component travels in the layout the CNCF's TAG Runtime wrote down for
//! Wasm (the one `wkg`, wasmCloud and the `oci-wasm` crate read and write):
//! an OCI image manifest whose config has the media type
//! `application/vnd.wasm.config.v0+json` (architecture `wasm`, OS `wasip2`,
//! the component's imports and exports) and whose one layer is the
//! component itself, `application/wasm`. The manifest's annotations name
//! the model, its version and its ONNX digest (from the component's build
//! record), so a registry's listing says which model a tag serves.
//!
//! - [`reference`]: `registry/repository:tag@digest`, parsed and checked;
//! - [`artifact`]: the manifest and config, written and read;
//! - [`client`]: the registry's HTTP API (the OCI distribution spec's
//!   push and pull), over hyper and rustls, or plain HTTP with
//!   `--insecure`. Registries that need a login are refused with a message
//!   saying so.

pub mod artifact;
pub mod client;
pub mod credentials;
pub mod reference;

pub use artifact::{Artifact, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
pub use client::{Client, Pulled, Pushed};
pub use reference::Reference;

/// Why a push or a pull failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    #[error("`{reference}` is not an OCI reference: {reason}")]
    Reference { reference: String, reason: String },
    #[error(
        "{registry} sends the transfer to {url}, over plain HTTP: pass --insecure to allow \
         unencrypted transfers"
    )]
    PlainHttp { registry: String, url: String },
    #[error("cannot read the registry credentials in {origin}: {reason}")]
    Credentials { origin: String, reason: String },
    #[error("cannot trust the certificates in {path}: {reason}")]
    Certificates {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{registry} refused {what}: {reason}")]
    Unauthorized {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("cannot reach {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("{registry} did not answer {what} within {seconds} s")]
    TimedOut {
        registry: String,
        what: String,
        seconds: u64,
    },
    #[error("{registry} answered {what} with {status}{message}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        /// The registry's own error messages, after ": ", or nothing.
        message: String,
    },
    #[error("{reference} is not a Wasm artifact: {reason}")]
    NotWasm { reference: String, reason: String },
    #[error("{what} from {registry} is not what was asked for: {reason}")]
    Mismatch {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("{0} is not a component: {1}")]
    NotAComponent(String, String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// `sha256:` and the lowercase hex SHA-256 of `bytes`, as OCI writes digests.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// The file of the component `reference` names, pulled into `dir` (as
/// `sha256-HEX.wasm`, named by the component's digest) unless an earlier
/// pull put it there. The manifest is always asked for, since a tag may
/// have moved; the component is downloaded once per digest. `report`
/// hears what is done.
pub fn pulled_component(
    reference: &Reference,
    insecure: bool,
    dir: &std::path::Path,
    report: &mut dyn FnMut(String),
) -> Result<std::path::PathBuf, OciError> {
    let client = Client::new(&reference.registry, insecure)?;
    let (digest, _, layer) = client.manifest(reference)?;
    let hex = layer.digest.trim_start_matches("sha256:");
    let file = dir.join(format!("sha256-{hex}.wasm"));
    if file.is_file() {
        report(format!(
            "{reference}@{digest}: pulled before, {}",
            file.display()
        ));
        return Ok(file);
    }
    report(format!("pulling {reference}@{digest}"));
    let component = client.blob(reference, &layer, "the component")?;
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| OciError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Written beside its name and moved there: a file of that name is
    // always whole, and checked against its digest.
    let tmp = dir.join(format!("sha256-{hex}.wasm.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &component).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &file).map_err(io(&file))?;
    Ok(file)
}
