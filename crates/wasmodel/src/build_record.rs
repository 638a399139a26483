//! What a build records in the component, in custom sections (which hosts
//! ignore):
//! - `wasmodel-build`: what the build was told about the model's inputs,
//!   the load options as text (`input-shape NAME=DIMS`, `input-value
//!   NAME=VALUES`, one per line), which `wasmodel inspect` shows;
//! - `wasmodel-model`: the model's name, version and ONNX digest as JSON,
//!   which `wasmodel push` writes into the artifact's annotations without
//!   compiling the component.

use wasm_encoder::{ComponentSection as _, CustomSection, Encode as _};
use wasmodel_engine::{LoadOptions, ModelInfo};

/// The build options' section.
pub const SECTION: &str = "wasmodel-build";
/// The model's section.
pub const MODEL_SECTION: &str = "wasmodel-model";

/// Which model a component serves, as its build recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRecord {
    pub name: String,
    pub version: String,
    /// `sha256:` and the hex SHA-256 of the ONNX bytes.
    pub digest: String,
}

/// Appends the record of `options` to a component: not a tokenizer's
/// JSON, which the snapshot holds parsed already (the model's input `text`
/// says there is one).
pub fn append(component: &mut Vec<u8>, options: &LoadOptions) {
    let recorded = LoadOptions {
        tokenizer: None,
        ..options.clone()
    };
    append_section(component, SECTION, recorded.to_text().as_bytes());
}

/// The load options a component was built with, if any were given.
pub fn read(component: &[u8]) -> Option<LoadOptions> {
    let data = read_section(component, SECTION)?;
    LoadOptions::from_text(std::str::from_utf8(&data).ok()?).ok()
}

/// Appends the record of the model `info` describes to a component.
pub fn append_model(component: &mut Vec<u8>, info: &ModelInfo) {
    let json = serde_json::json!({
        "name": info.name, "version": info.version, "digest": info.digest,
    });
    append_section(component, MODEL_SECTION, json.to_string().as_bytes());
}

/// The model a component serves, if its build recorded it (builds before
/// wasmodel 0.1's `push` did not).
pub fn read_model(component: &[u8]) -> Option<ModelRecord> {
    let data = read_section(component, MODEL_SECTION)?;
    let json: serde_json::Value = serde_json::from_slice(&data).ok()?;
    let field = |key: &str| json.get(key)?.as_str().map(str::to_owned);
    Some(ModelRecord {
        name: field("name")?,
        version: field("version")?,
        digest: field("digest")?,
    })
}

fn append_section(component: &mut Vec<u8>, name: &str, data: &[u8]) {
    let section = CustomSection {
        name: name.into(),
        data: data.into(),
    };
    component.push(section.id());
    section.encode(component);
}

/// The data of the component's own (outermost) custom section `name`.
fn read_section(component: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.ok()? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(reader) if depth == 0 && reader.name() == name => {
                return Some(reader.data().to_vec());
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_survive_in_a_component() {
        // The smallest component: its preamble.
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        assert_eq!(read(&component), None);
        let mut options = LoadOptions::default();
        options.add_input_shape("x=1,3,640,640").unwrap();
        options.add_input_value("sr=16000").unwrap();
        append(&mut component, &options);
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&component)
            .unwrap();
        assert_eq!(read(&component), Some(options));
    }

    #[test]
    fn the_model_survives_beside_the_options() {
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        assert_eq!(read_model(&component), None);
        let info = ModelInfo {
            name: "iris \"v2\"\n".into(),
            version: "3".into(),
            digest: "sha256:00ff".into(),
            producer: String::new(),
            inputs: vec![],
            outputs: vec![],
        };
        append_model(&mut component, &info);
        let mut options = LoadOptions::default();
        options.add_input_shape("x=1,4").unwrap();
        append(&mut component, &options);
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&component)
            .unwrap();
        let record = read_model(&component).unwrap();
        assert_eq!(
            (
                record.name.as_str(),
                record.version.as_str(),
                record.digest.as_str()
            ),
            ("iris \"v2\"\n", "3", "sha256:00ff")
        );
        assert_eq!(read(&component), Some(options));
    }
}
