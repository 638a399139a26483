//! What a build was told about the model's inputs, recorded in the
//! component: a custom section named `wasmodel-build` holding the load
//! options as text (`input-shape NAME=DIMS`, `input-value NAME=VALUES`, one
//! per line), which `wasmodel inspect` shows. Hosts ignore custom sections.

use wasm_encoder::{ComponentSection as _, CustomSection, Encode as _};
use wasmodel_engine::LoadOptions;

/// The custom section's name.
pub const SECTION: &str = "wasmodel-build";

/// Appends the record of `options` to a component: not a tokenizer's
/// JSON, which the snapshot holds parsed already (the model's input `text`
/// says there is one).
pub fn append(component: &mut Vec<u8>, options: &LoadOptions) {
    let recorded = LoadOptions {
        tokenizer: None,
        ..options.clone()
    };
    let text = recorded.to_text();
    let section = CustomSection {
        name: SECTION.into(),
        data: text.as_bytes().into(),
    };
    component.push(section.id());
    section.encode(component);
}

/// The load options a component was built with, if any were given.
pub fn read(component: &[u8]) -> Option<LoadOptions> {
    wasmparser::Parser::new(0)
        .parse_all(component)
        .filter_map(Result::ok)
        .find_map(|payload| match payload {
            wasmparser::Payload::CustomSection(reader) if reader.name() == SECTION => {
                std::str::from_utf8(reader.data())
                    .ok()
                    .and_then(|text| LoadOptions::from_text(text).ok())
            }
            _ => None,
        })
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
}
