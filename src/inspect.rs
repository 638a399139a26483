//! What a component imports and exports, read from its type information
//! without compiling it.

use wit_component::DecodedWasm;

use crate::Error;

/// The interfaces (or functions) a component imports and exports, by their
/// full names, such as `wasmodel:model/predictor@0.3.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interfaces {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Interfaces {
    /// Reads the world a component's type section describes.
    pub fn of(component: &[u8]) -> Result<Interfaces, Error> {
        match wit_component::decode(component) {
            Ok(DecodedWasm::Component(resolve, world)) => {
                let world = &resolve.worlds[world];
                let names = |items: &mut dyn Iterator<Item = &_>| -> Vec<String> {
                    items.map(|key| resolve.name_world_key(key)).collect()
                };
                Ok(Interfaces {
                    imports: names(&mut world.imports.keys()),
                    exports: names(&mut world.exports.keys()),
                })
            }
            Ok(DecodedWasm::WitPackage(..)) => Err(Error::NotAModelComponent(
                "it is a WIT package, not a component".into(),
            )),
            Err(e) => Err(Error::NotAModelComponent(format!("{e:#}"))),
        }
    }
}
