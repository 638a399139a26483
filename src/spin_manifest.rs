//! Spin manifests (`spin.toml`, manifest version 2) that serve models: one
//! component per model, each routed at `/v2/models/{its name}/...`, and the
//! protocol's server routes (`/v2/...`: metadata, health) at the first.
//!
//! [`add_model`] writes such a manifest or extends one, keeping what is
//! already there (comments, other components, other routes), so a user adds
//! a model with one command instead of editing routes by hand.

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use wasmodel::Error;

/// One model to add to a manifest.
#[derive(Debug, Clone)]
pub struct ModelEntry<'a> {
    /// The model's name: its component's id and its route.
    pub name: &'a str,
    /// The ONNX file, as the build command and `watch` name it.
    pub onnx: &'a str,
    /// The component file the build writes and Spin runs.
    pub source: &'a str,
    /// The command that runs wasmodel (`wasmodel`, or `cargo run
    /// --release --quiet --` in this repository).
    pub wasmodel: &'a str,
}

/// The manifest `existing` (or a new one if `None`) with `model` added, or
/// replaced if a component of that name is there.
pub fn add_model(existing: Option<&str>, model: &ModelEntry) -> Result<String, Error> {
    check_name(model.name)?;
    let mut doc: DocumentMut = match existing {
        Some(text) => text
            .parse()
            .map_err(|e| Error::Build(format!("the manifest is not valid TOML: {e}")))?,
        None => new_manifest(model.name),
    };
    match doc.get("spin_manifest_version").and_then(Item::as_integer) {
        Some(2) => {}
        other => {
            return Err(Error::Build(format!(
                "only Spin manifests of version 2 are supported, this one has {}",
                other.map_or("none".to_string(), |v| v.to_string())
            )));
        }
    }

    // The component.
    let components = implicit_table(&mut doc, "component")?;
    let mut component = Table::new();
    component.insert("source", value(model.source));
    component.insert("allowed_outbound_hosts", value(Array::new()));
    let mut build = Table::new();
    build.insert(
        "command",
        value(format!(
            "{} build {} --http --name {} -o {}",
            model.wasmodel, model.onnx, model.name, model.source
        )),
    );
    let mut watch = Array::new();
    watch.push(model.onnx);
    build.insert("watch", value(watch));
    component.insert("build", Item::Table(build));
    components.insert(model.name, Item::Table(component));

    // Its route, and the server routes if no component has them yet.
    let triggers = implicit_table(&mut doc, "trigger")?
        .entry("http")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| Error::Build("`trigger.http` is not an array of tables".into()))?;
    let route = format!("/v2/models/{}/...", model.name);
    let has_route = |triggers: &ArrayOfTables, route: &str| {
        triggers
            .iter()
            .any(|t| t.get("route").and_then(Item::as_str) == Some(route))
    };
    if !has_route(triggers, &route) {
        triggers.push(trigger(&route, model.name));
    }
    if !has_route(triggers, "/v2/...") {
        triggers.push(trigger("/v2/...", model.name));
    }
    Ok(doc.to_string())
}

fn trigger(route: &str, component: &str) -> Table {
    let mut t = Table::new();
    t.insert("route", value(route));
    t.insert("component", value(component));
    t
}

fn new_manifest(name: &str) -> DocumentMut {
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(
        "# Models served over the Open Inference Protocol v2 by Spin, one\n\
         # component each at /v2/models/NAME/..., written by `wasmodel spin add`:\n\
         #\n\
         #   spin build     # runs each model's `wasmodel build --http`\n\
         #   spin up        # http://127.0.0.1:3000/v2/models/NAME\n\
         #\n\
         # Add a model with `wasmodel spin add MODEL.onnx`.\n",
    );
    doc.insert("spin_manifest_version", value(2));
    let mut application = Table::new();
    application.insert("name", value(name));
    application.insert("version", value("0.1.0"));
    application.insert(
        "description",
        value("Models served over the Open Inference Protocol v2, built by wasmodel"),
    );
    doc.insert("application", Item::Table(application));
    doc
}

/// A model name must be a Spin component id and a URL path segment:
/// lowercase letters, digits and `-`, starting with a letter.
fn check_name(name: &str) -> Result<(), Error> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Build(format!(
            "`{name}` cannot name a Spin component: use lowercase letters, digits and `-`, \
             starting with a letter (pass --name)"
        )))
    }
}

/// The top-level table `key` (`[component]`, `[trigger]`), created as an
/// implicit table (no header of its own) if the manifest has none.
fn implicit_table<'a>(doc: &'a mut DocumentMut, key: &str) -> Result<&'a mut Table, Error> {
    doc.entry(key)
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| Error::Build(format!("`{key}` is not a table")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(name: &'a str, onnx: &'a str, source: &'a str) -> ModelEntry<'a> {
        ModelEntry {
            name,
            onnx,
            source,
            wasmodel: "wasmodel",
        }
    }

    #[test]
    fn a_new_manifest_then_a_second_model_keeps_what_is_there() {
        let one = add_model(None, &entry("iris", "iris.onnx", "iris-http.wasm")).unwrap();
        assert!(one.contains("route = \"/v2/models/iris/...\""), "{one}");
        assert!(one.contains("route = \"/v2/...\""), "{one}");
        let edited = one.replace("[application]", "# mine\n[application]");
        let two = add_model(
            Some(&edited),
            &entry("churn", "churn.onnx", "churn-http.wasm"),
        )
        .unwrap();
        assert!(two.contains("# mine"), "{two}");
        assert!(
            two.contains("[component.iris]") && two.contains("[component.churn]"),
            "{two}"
        );
        assert!(two.contains("route = \"/v2/models/churn/...\""), "{two}");
        assert_eq!(two.matches("route = \"/v2/...\"").count(), 1, "{two}");
        assert!(
            two.contains(
                "command = \"wasmodel build churn.onnx --http --name churn -o churn-http.wasm\""
            ),
            "{two}"
        );
        // Adding again replaces, without another route.
        let again = add_model(
            Some(&two),
            &entry("churn", "churn2.onnx", "churn-http.wasm"),
        )
        .unwrap();
        assert_eq!(again.matches("/v2/models/churn/...").count(), 1, "{again}");
        assert!(again.contains("churn2.onnx"), "{again}");
    }

    #[test]
    fn bad_names_and_manifests_are_refused() {
        assert!(add_model(None, &entry("Iris_1", "a.onnx", "a.wasm")).is_err());
        let e = add_model(
            Some("spin_manifest_version = 1\n"),
            &entry("a", "a.onnx", "a.wasm"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        assert!(add_model(Some("not toml ["), &entry("a", "a.onnx", "a.wasm")).is_err());
    }
}
