//! Who the user is to a registry: `WASMODEL_REGISTRY_USERNAME` and
//! `WASMODEL_REGISTRY_PASSWORD`, else what `docker login` (or `podman
//! login --compat-auth-file`, `oras login`) stored in Docker's
//! `config.json` for that registry.

use std::path::{Path, PathBuf};

use super::OciError;

/// A user name and password (or token) for one registry.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// The `Basic` authorization of these credentials.
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            base64::encode(format!("{}:{}", self.username, self.password))
        )
    }

    /// The credentials for `registry`, if the user gave any.
    pub fn find(registry: &str) -> Result<Option<Credentials>, OciError> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (
            var("WASMODEL_REGISTRY_USERNAME"),
            var("WASMODEL_REGISTRY_PASSWORD"),
        ) {
            (Some(username), Some(password)) => {
                return Ok(Some(Credentials { username, password }));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(OciError::Credentials {
                    origin: "the environment".into(),
                    reason: "set both WASMODEL_REGISTRY_USERNAME and \
                             WASMODEL_REGISTRY_PASSWORD, or neither"
                        .into(),
                });
            }
            (None, None) => {}
        }
        let Some(file) = docker_config() else {
            return Ok(None);
        };
        match std::fs::read(&file) {
            Ok(bytes) => from_docker_config(&file, &bytes, registry),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(OciError::Credentials {
                origin: file.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The entry of `auths` for `registry`: its `auth` (base64 of
/// `user:password`), or its `username` and `password`. A registry whose
/// credentials live in a credential helper is refused, saying so.
fn from_docker_config(
    file: &Path,
    bytes: &[u8],
    registry: &str,
) -> Result<Option<Credentials>, OciError> {
    let bad = |reason: String| OciError::Credentials {
        origin: file.display().to_string(),
        reason,
    };
    let config: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    // Docker keys Docker Hub and some logins by URL.
    let entry = config["auths"].as_object().and_then(|auths| {
        auths.iter().find_map(|(key, value)| {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("");
            (host == registry).then_some(value)
        })
    });
    if let Some(entry) = entry {
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = base64::decode(auth)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| bad(format!("the auth of {registry} is not base64 of text")))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad(format!("the auth of {registry} is not user:password")))?;
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
        if let (Some(username), Some(password)) =
            (entry["username"].as_str(), entry["password"].as_str())
        {
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
    }
    // A helper for this registry, or the store for all where `docker
    // login` left an empty entry for it (where there is no entry, the
    // user never logged in there: anonymous).
    let helper = config["credHelpers"][registry]
        .as_str()
        .or_else(|| entry.and(config["credsStore"].as_str()));
    if let Some(helper) = helper {
        return Err(bad(format!(
            "its credentials are kept by docker-credential-{helper}, which wasmodel does not \
             call: set WASMODEL_REGISTRY_USERNAME and WASMODEL_REGISTRY_PASSWORD"
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(config: &str, registry: &str) -> Result<Option<Credentials>, String> {
        from_docker_config(Path::new("config.json"), config.as_bytes(), registry)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn docker_logins_are_read() {
        // base64("ci:s3cr:et")
        let config = r#"{"auths": {"registry.lan:5000": {"auth": "Y2k6czNjcjpldA=="},
            "https://ghcr.io": {"username": "me", "password": "tok"}}}"#;
        let found = find(config, "registry.lan:5000").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("ci", "s3cr:et")
        );
        assert_eq!(found.basic(), "Basic Y2k6czNjcjpldA==");
        let found = find(config, "ghcr.io").unwrap().unwrap();
        assert_eq!(found.username, "me");
        assert!(find(config, "quay.io").unwrap().is_none());
        assert!(!format!("{found:?}").contains("tok"));
    }

    #[test]
    fn helpers_and_damage_are_named() {
        let store = r#"{"credsStore": "desktop", "auths": {"ghcr.io": {}}}"#;
        let error = find(store, "ghcr.io").unwrap_err();
        assert!(error.contains("docker-credential-desktop"), "{error}");
        assert!(find(store, "localhost:5000").unwrap().is_none());
        let helpers = r#"{"credHelpers": {"123.dkr.ecr.aws": "ecr-login"}}"#;
        let error = find(helpers, "123.dkr.ecr.aws").unwrap_err();
        assert!(error.contains("docker-credential-ecr-login"), "{error}");
        let error = find(r#"{"auths": {"ghcr.io": {"auth": "%%"}}}"#, "ghcr.io").unwrap_err();
        assert!(error.contains("not base64"), "{error}");
        assert!(find("{", "ghcr.io").unwrap_err().contains("not JSON"));
    }
}
