//! The manifest and config of a component pushed as an OCI artifact, in
//! the CNCF's Wasm OCI layout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OciError, digest};

/// An OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Wasm artifact's config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// A Wasm artifact's layer: the component.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// An OCI image index (several manifests, one per platform).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// A blob as a manifest points at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: digest(bytes),
            size: bytes.len() as u64,
            annotations: None,
        }
    }
}

/// An OCI image manifest (only what a Wasm artifact uses).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The config of a Wasm artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339.
    pub created: String,
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The layers' digests, in the manifest's order.
    pub layer_digests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentConfig>,
}

/// What the component imports and exports, by interface name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentConfig {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    /// The world the component targets, if one is named (never, here).
    pub target: Option<String>,
}

/// A component made ready to push: its config and manifest, serialized
/// once so their digests are those of the bytes sent.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub component: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Manifest,
    /// The manifest as sent, whose digest names the artifact.
    pub manifest_bytes: Vec<u8>,
}

impl Artifact {
    /// The artifact of `component`, created at `created` (RFC 3339), its
    /// manifest annotated with the model the component records and with
    /// `annotations` (which win over those).
    pub fn new(
        component: Vec<u8>,
        file: &str,
        created: String,
        annotations: BTreeMap<String, String>,
    ) -> Result<Artifact, OciError> {
        if wasmodel::is_precompiled(&component) {
            return Err(OciError::NotAComponent(
                file.to_owned(),
                "it is compiled for one machine (`wasmodel compile`); push the .wasm".into(),
            ));
        }
        let interfaces = wasmodel::inspect::Interfaces::of(&component)
            .map_err(|e| OciError::NotAComponent(file.to_owned(), e.to_string()))?;
        let layer = Descriptor::of(LAYER_MEDIA_TYPE, &component);
        let config = WasmConfig {
            created: created.clone(),
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![layer.digest.clone()],
            component: Some(ComponentConfig {
                exports: interfaces.exports,
                imports: interfaces.imports,
                target: None,
            }),
        };
        let config = serde_json::to_vec(&config).expect("a config serializes");

        let mut all = BTreeMap::from([("org.opencontainers.image.created".to_owned(), created)]);
        if let Some(model) = wasmodel::read_model_record(&component) {
            all.insert("org.opencontainers.image.title".into(), model.name.clone());
            all.insert("dev.wasmodel.model.name".into(), model.name);
            all.insert("dev.wasmodel.model.digest".into(), model.digest);
            if !model.version.is_empty() {
                all.insert(
                    "org.opencontainers.image.version".into(),
                    model.version.clone(),
                );
                all.insert("dev.wasmodel.model.version".into(), model.version);
            }
        }
        all.extend(annotations);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            config: Descriptor::of(CONFIG_MEDIA_TYPE, &config),
            layers: vec![layer],
            annotations: all,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        Ok(Artifact {
            component,
            config,
            manifest,
            manifest_bytes,
        })
    }

    /// The manifest's digest, which names this artifact in the registry.
    pub fn digest(&self) -> String {
        digest(&self.manifest_bytes)
    }
}

/// Reads a manifest a registry sent for `reference`, and checks it is a
/// Wasm artifact's: its config a Wasm config, one `application/wasm` layer.
/// Returns the manifest and its layer.
pub fn read_manifest(reference: &str, bytes: &[u8]) -> Result<(Manifest, Descriptor), OciError> {
    let not_wasm = |reason: String| OciError::NotWasm {
        reference: reference.to_owned(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| not_wasm(format!("its manifest is not an OCI image manifest ({e})")))?;
    match manifest.media_type.as_deref() {
        None | Some(MANIFEST_MEDIA_TYPE) => {}
        Some(INDEX_MEDIA_TYPE) => {
            return Err(not_wasm(
                "it is an image index (one manifest per platform); name one manifest by its \
                 digest"
                    .into(),
            ));
        }
        Some(other) => return Err(not_wasm(format!("its manifest is {other}"))),
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "its config is {}, where a Wasm artifact's is {CONFIG_MEDIA_TYPE}{}",
            manifest.config.media_type,
            if manifest.config.media_type.contains("image.config") {
                " (it looks like a container image)"
            } else {
                ""
            }
        )));
    }
    let wasm: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|layer| layer.media_type == LAYER_MEDIA_TYPE)
        .collect();
    match wasm.as_slice() {
        [layer] => {
            let layer = (*layer).clone();
            Ok((manifest, layer))
        }
        [] => Err(not_wasm(format!("it has no {LAYER_MEDIA_TYPE} layer"))),
        more => Err(not_wasm(format!(
            "it has {} {LAYER_MEDIA_TYPE} layers, where a component is one",
            more.len()
        ))),
    }
}

/// Now, or `SOURCE_DATE_EPOCH` where it is set (reproducible builds), as
/// RFC 3339 in UTC.
pub fn created_now() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    rfc3339(seconds)
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (the days-to-civil
/// conversion of the proleptic Gregorian calendar).
fn rfc3339(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_603_037), "2026-12-07T00:23:57Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn manifests_that_are_not_wasm_are_refused() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":2},
            "layers":[]}"#;
        let error = read_manifest("r", image).unwrap_err().to_string();
        assert!(error.contains("container image"), "{error}");
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "config":{"mediaType":"x","digest":"sha256:00","size":2}}"#;
        let error = read_manifest("r", index).unwrap_err().to_string();
        assert!(error.contains("image index"), "{error}");
        let two = br#"{"schemaVersion":2,
            "config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"sha256:00","size":2},
            "layers":[{"mediaType":"application/wasm","digest":"sha256:01","size":1},
                      {"mediaType":"application/wasm","digest":"sha256:02","size":1}]}"#;
        let error = read_manifest("r", two).unwrap_err().to_string();
        assert!(error.contains("2 application/wasm layers"), "{error}");
        let error = read_manifest("r", b"<html>").unwrap_err().to_string();
        assert!(error.contains("not an OCI image manifest"), "{error}");
    }
}
