//! `wasmodel spin kube`: the SpinApp resource that deploys a Spin app
//! pushed to a registry onto Kubernetes with SpinKube (the
//! `core.spinkube.dev/v1alpha1` custom resource its operator reconciles
//! into a Deployment run by `containerd-shim-spin`).
//!
//! Scale-out is Kubernetes' (replicas, or a HorizontalPodAutoscaler), never
//! ours: the resource only says which image, how many and how much memory.

use std::fmt::Write as _;

use crate::oci::Reference;

/// The runtime SpinKube's default `SpinAppExecutor` names.
pub const DEFAULT_EXECUTOR: &str = "containerd-shim-spin";

/// What the resource says.
#[derive(Debug, Clone)]
pub struct SpinApp {
    /// The resource's name: a DNS-1123 label.
    pub name: String,
    /// The app's OCI reference, as `spin registry push` pushed it.
    pub image: Reference,
    pub replicas: u32,
    pub executor: String,
    /// `resources.limits.memory` of each replica, in MiB.
    pub memory_limit_mib: Option<u64>,
    /// `invocationLimits.memory`, in MiB: the linear memory one instance
    /// may grow to (the shim's `SPIN_MAX_INSTANCE_MEMORY`; SpinKube's
    /// operator 0.6 and shim 0.20 or later).
    pub instance_memory_mib: Option<u64>,
}

/// A name Kubernetes would refuse.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` cannot name a SpinApp: a name is at most 63 lowercase letters, digits and `-`, \
     starting with a letter and ending with a letter or digit (give one with --name)"
)]
pub struct BadName(pub String);

impl SpinApp {
    /// The resource for `image`, named after its repository's last segment
    /// unless `name` is given.
    pub fn new(image: Reference, name: Option<String>) -> Result<SpinApp, BadName> {
        let name = name.unwrap_or_else(|| image.name().replace(['_', '.'], "-"));
        if !is_dns_label(&name) {
            return Err(BadName(name));
        }
        Ok(SpinApp {
            name,
            image,
            replicas: 2,
            executor: DEFAULT_EXECUTOR.to_owned(),
            memory_limit_mib: None,
            instance_memory_mib: None,
        })
    }

    /// The resource as YAML for `kubectl apply -f`. Strings are written as
    /// JSON strings, which YAML reads as the same strings.
    pub fn to_yaml(&self) -> String {
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        let mut yaml = format!(
            "# A Spin app on Kubernetes with SpinKube: kubectl apply -f THIS_FILE\n\
             # (written by wasmodel {}; see https://www.spinkube.dev)\n\
             apiVersion: core.spinkube.dev/v1alpha1\n\
             kind: SpinApp\n\
             metadata:\n  name: {}\n\
             spec:\n  image: {}\n  executor: {}\n  replicas: {}\n",
            env!("CARGO_PKG_VERSION"),
            quote(&self.name),
            quote(&self.image.to_string()),
            quote(&self.executor),
            self.replicas,
        );
        if let Some(mib) = self.memory_limit_mib {
            let _ = write!(
                yaml,
                "  resources:\n    limits:\n      memory: {}\n",
                quote(&format!("{mib}Mi"))
            );
        }
        if let Some(mib) = self.instance_memory_mib {
            let _ = write!(
                yaml,
                "  invocationLimits:\n    memory: {}\n",
                quote(&format!("{mib}Mi"))
            );
        }
        yaml
    }
}

fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_names_the_image_and_its_limits() {
        let image: Reference = "registry.lan:5000/apps/wine_mlp:1".parse().unwrap();
        let mut app = SpinApp::new(image, None).unwrap();
        assert_eq!(app.name, "wine-mlp");
        app.memory_limit_mib = Some(256);
        app.instance_memory_mib = Some(64);
        app.replicas = 3;
        let yaml = app.to_yaml();
        for line in [
            "apiVersion: core.spinkube.dev/v1alpha1",
            "kind: SpinApp",
            "  name: \"wine-mlp\"",
            "  image: \"registry.lan:5000/apps/wine_mlp:1\"",
            "  executor: \"containerd-shim-spin\"",
            "  replicas: 3",
            "      memory: \"256Mi\"",
            "  invocationLimits:",
            "    memory: \"64Mi\"",
        ] {
            assert!(yaml.lines().any(|l| l == line), "no `{line}` in\n{yaml}");
        }
    }

    #[test]
    fn names_kubernetes_refuses_are_refused() {
        let image: Reference = "localhost:5000/apps/iris:1".parse().unwrap();
        for bad in ["Iris", "-iris", "iris-", "1iris", "", &"a".repeat(64)] {
            assert!(
                SpinApp::new(image.clone(), Some(bad.to_owned())).is_err(),
                "{bad}"
            );
        }
        assert_eq!(SpinApp::new(image, None).unwrap().name, "iris");
    }
}
