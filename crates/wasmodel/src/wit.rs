//! The WIT of `wit/`, embedded, to check built components against their
//! worlds: the one source of truth at build time is the one used here.

use wit_parser::{Resolve, SourceMap, UnresolvedPackageGroup};

use crate::Error;

/// Every `.wit` file under `wit/`: (path relative to `wit/`, contents).
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/wit_files.rs"));

/// The interface a predictor component exports, at the version of `wit/`
/// (checked against the embedded WIT by a test). Components built by a
/// wasmodel with another version of it are refused, with a hint to rebuild.
pub const PREDICTOR_INTERFACE: &str = "wasmodel:model/predictor@0.3.0";

/// The world of a predictor component (`wasmodel:model/model`).
pub const MODEL_WORLD: &str = "model";
/// The world of an HTTP component: `wasi:http/proxy`
/// (`wasmodel:model/http-model`).
pub const HTTP_WORLD: &str = "http-model";

/// Checks that `component` fits `world` of `wasmodel:model`.
///
/// Its imports are checked by `wit-component`'s `targets` (what
/// `wasm-tools component targets` does): the component imports nothing the
/// world does not offer, with matching types. Its exports are checked by
/// name, allowing semver-compatible versions as hosts do: a spin-sdk 5.2
/// handler (a user's Spin app, the suite's hello-world baseline) exports
/// `wasi:http/incoming-handler@0.2.0` while importing WASI 0.2.6,
/// and Spin and `wasmtime serve` find that export as the 0.2.6 world's.
pub fn check_targets(component: &[u8], world: &str) -> Result<(), Error> {
    let exports = crate::inspect::Interfaces::of(component)?.exports;
    check_world(component, &exports, world)
}

/// [`check_targets`], given the component's exports already read.
pub(crate) fn check_world(component: &[u8], exports: &[String], world: &str) -> Result<(), Error> {
    let (mut resolve, package) = resolve()?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| Error::Build(format!("no world {world} in wit/: {e:#}")))?;

    let mut imports_only = resolve.worlds[world_id].clone();
    imports_only.exports.clear();
    let imports_only = resolve.worlds.alloc(imports_only);
    wit_component::targets(&resolve, imports_only, component).map_err(|e| {
        Error::Build(format!(
            "the component imports more than the {world} world offers: {e:#}"
        ))
    })?;

    for key in resolve.worlds[world_id].exports.keys() {
        let wanted = resolve.name_world_key(key);
        if !exports.iter().any(|e| semver_compatible(e, &wanted)) {
            return Err(Error::Build(format!(
                "the component does not export {wanted}, which the {world} world requires \
                 (it exports: {})",
                exports.join(", ")
            )));
        }
    }
    Ok(())
}

/// Whether two names like `wasi:http/incoming-handler@0.2.6` name the same
/// interface at semver-compatible versions (for 0.x, the same minor).
fn semver_compatible(a: &str, b: &str) -> bool {
    fn split(name: &str) -> (&str, Option<semver::Version>) {
        match name.rsplit_once('@') {
            Some((name, version)) => (name, semver::Version::parse(version).ok()),
            None => (name, None),
        }
    }
    let ((name_a, version_a), (name_b, version_b)) = (split(a), split(b));
    name_a == name_b
        && match (version_a, version_b) {
            (Some(a), Some(b)) => a.major == b.major && (a.major != 0 || a.minor == b.minor),
            (a, b) => a == b,
        }
}

/// Parses the embedded `wit/`: `wasmodel.wit` and its `deps/`.
fn resolve() -> Result<(Resolve, wit_parser::PackageId), Error> {
    let parse = |prefix: &str| -> Result<UnresolvedPackageGroup, Error> {
        let mut map = SourceMap::new();
        for (path, contents) in FILES {
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            if dir == prefix {
                map.push_str(path, *contents);
            }
        }
        map.parse()
            .map_err(|(_, e)| Error::Build(format!("embedded WIT in wit/{prefix}: {e}")))
    };
    let mut dep_dirs: Vec<&str> = FILES
        .iter()
        .filter_map(|(path, _)| path.rsplit_once('/').map(|(dir, _)| dir))
        .collect();
    dep_dirs.dedup();
    let deps = dep_dirs
        .into_iter()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;
    let mut resolve = Resolve::new();
    let package = resolve
        .push_groups(parse("")?, deps)
        .map_err(|e| Error::Build(format!("embedded WIT: {e}")))?;
    Ok((resolve, package))
}

#[cfg(test)]
mod tests {
    use super::semver_compatible;

    #[test]
    fn semver_compatibility_of_interface_names() {
        let handler = "wasi:http/incoming-handler@0.2.6";
        assert!(semver_compatible(
            "wasi:http/incoming-handler@0.2.0",
            handler
        ));
        assert!(semver_compatible(
            "wasi:http/incoming-handler@0.2.12",
            handler
        ));
        assert!(!semver_compatible(
            "wasi:http/incoming-handler@0.3.0",
            handler
        ));
        assert!(!semver_compatible(
            "wasi:http/outgoing-handler@0.2.6",
            handler
        ));
        assert!(semver_compatible("a:b/c", "a:b/c"));
        assert!(!semver_compatible("a:b/c@1.0.0", "a:b/c"));
        assert!(semver_compatible("a:b/c@1.2.0", "a:b/c@1.0.0"));
    }

    #[test]
    fn the_predictor_interface_is_the_one_in_wit() {
        let (resolve, package) = super::resolve().unwrap();
        let world = resolve
            .select_world(&[package], Some(super::MODEL_WORLD))
            .unwrap();
        let names: Vec<String> = resolve.worlds[world]
            .exports
            .keys()
            .map(|k| resolve.name_world_key(k))
            .collect();
        assert_eq!(names, [super::PREDICTOR_INTERFACE]);
    }

    #[test]
    fn embedded_wit_resolves_with_both_worlds() {
        let (resolve, package) = super::resolve().unwrap();
        for world in [super::MODEL_WORLD, super::HTTP_WORLD] {
            resolve.select_world(&[package], Some(world)).unwrap();
        }
    }
}
