//! OCI references: `registry[:port]/repository[:tag][@sha256:digest]`.

use std::fmt;
use std::str::FromStr;

use super::OciError;

/// Where an artifact lives in a registry. The registry is always named
/// (there is no default registry), and a reference with neither a tag nor
/// a digest means the tag `latest`, as docker and oras read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host` or `host:port`.
    pub registry: String,
    /// `name` or `path/to/name`, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:` and 64 hex digits.
    pub digest: Option<String>,
}

impl Reference {
    /// The tag or digest the manifest is asked for by: the digest if there
    /// is one (it pins the content), else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The tag a push writes.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The repository's last segment: a name for a pulled file.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// Whether `text` names a registry, as a reference must: its first
    /// segment has a `.` or a `:` (a domain or a port) or is `localhost`.
    /// Tells a reference from a path that does not exist.
    pub fn names_a_registry(text: &str) -> bool {
        match text.split_once('/') {
            Some((host, rest)) => {
                !rest.is_empty()
                    && (host == "localhost" || host.contains('.') || host.contains(':'))
                    && valid_registry(host)
            }
            None => false,
        }
    }
}

impl FromStr for Reference {
    type Err = OciError;

    fn from_str(text: &str) -> Result<Reference, OciError> {
        let err = |reason: &str| OciError::Reference {
            reference: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        if let Some(digest) = digest {
            let hex = digest
                .strip_prefix("sha256:")
                .ok_or_else(|| err("a digest is `sha256:` and 64 hex digits"))?;
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(err("a digest is `sha256:` and 64 lowercase hex digits"));
            }
        }
        let (registry, path) = rest.split_once('/').ok_or_else(|| {
            err("name the registry first, as in localhost:5000/iris:1 or ghcr.io/ORG/iris:1")
        })?;
        if !Reference::names_a_registry(rest) {
            return Err(err(
                "its first segment is not a registry (a host with a `.` or a port, or \
                 localhost): name the registry first, as in localhost:5000/iris:1",
            ));
        }
        // A tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(err(
                "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ));
        }
        if !repository.split('/').all(valid_path_component) {
            return Err(err(
                "a repository is lowercase letters and digits, separated by `.`, `_`, `-` \
                 or `/`",
            ));
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn valid_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    name_ok && port_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, the distribution spec's path
/// component.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &component[start..i] {
            "." | "_" | "__" => {}
            run if run.bytes().all(|b| b == b'-') => {}
            _ => return false,
        }
    }
    true
}

fn valid_tag(tag: &str) -> bool {
    tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Reference, String> {
        text.parse::<Reference>().map_err(|e| e.to_string())
    }

    #[test]
    fn references_parse_as_docker_reads_them() {
        let r = parse("localhost:5000/models/iris:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "models/iris", Some("1.0"))
        );
        assert_eq!(r.manifest_reference(), "1.0");
        assert_eq!(r.name(), "iris");
        assert_eq!(r.to_string(), "localhost:5000/models/iris:1.0");

        let digest = format!("sha256:{}", "ab".repeat(32));
        let r = parse(&format!("ghcr.io/org/iris@{digest}")).unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.manifest_reference()),
            (None, digest.as_str())
        );
        let r = parse(&format!("ghcr.io/org/iris:v2@{digest}")).unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.manifest_reference()),
            (Some("v2"), digest.as_str())
        );
        let r = parse("localhost/iris").unwrap();
        assert_eq!(
            (r.tag_or_latest(), r.manifest_reference()),
            ("latest", "latest")
        );
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (text, says) in [
            ("iris:1", "name the registry"),
            ("models/iris.wasm", "first segment is not a registry"),
            ("localhost:5000/Iris:1", "lowercase"),
            ("localhost:5000/iris:-1", "a tag is"),
            ("localhost:5000/iris@sha256:12", "64"),
            ("localhost:5000/iris@md5:12", "sha256"),
            ("localhost:99999/iris", "first segment is not a registry"),
            ("localhost:5000/a..b", "lowercase"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn paths_are_not_taken_for_references() {
        for path in [
            "iris.wasm",
            "models/iris.wasm",
            "./iris.wasm",
            "/tmp/iris.wasm",
            "../a/b",
        ] {
            assert!(!Reference::names_a_registry(path), "{path}");
        }
        for reference in [
            "localhost:5000/iris",
            "ghcr.io/org/iris:1",
            "localhost/iris",
        ] {
            assert!(Reference::names_a_registry(reference), "{reference}");
        }
    }
}
