//! The registry's HTTP API, as the OCI distribution spec gives it: blobs
//! uploaded in one `PUT` after a `POST` opens the upload, the manifest
//! `PUT` under its tag; pulls check every digest and size they are given.
//!
//! One connection per request, HTTP/1.1 (hyper's client) over TLS
//! (rustls, trusting Mozilla's roots and the certificates `SSL_CERT_FILE`
//! names), or over plain HTTP where the user says `--insecure`. The calls
//! are blocking: each runs on a runtime of its own thread.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

use super::artifact::{Descriptor, Manifest, WasmConfig, read_manifest};
use super::credentials::Credentials;
use super::{Artifact, MANIFEST_MEDIA_TYPE, OciError, Reference, digest};

/// Largest manifest or config read: what registries themselves accept.
const SMALL_LIMIT: u64 = 4 << 20;
/// Longest a request about a manifest or a small blob may take.
const API_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a component's upload or download may take.
const BLOB_TIMEOUT: Duration = Duration::from_secs(1800);
/// Redirects followed to a blob's storage.
const MAX_REDIRECTS: usize = 5;

/// A registry's client.
pub struct Client {
    registry: String,
    /// Plain HTTP to the registry, and to where it redirects.
    insecure: bool,
    tls: Arc<rustls::ClientConfig>,
    credentials: Option<Credentials>,
    /// The `Authorization` the registry's last challenge was answered
    /// with, sent with every request to it from then on.
    authorization: RefCell<Option<String>>,
    runtime: tokio::runtime::Runtime,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The tag pushed, pinned to the manifest's digest.
    pub reference: Reference,
    /// The manifest's digest.
    pub digest: String,
    /// Blobs the registry had already, so not sent again.
    pub already_there: Vec<String>,
}

/// A component pulled, with what the registry said about it.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest's digest.
    pub digest: String,
    pub manifest: Manifest,
    pub config: WasmConfig,
    pub component: Vec<u8>,
}

/// Where a request goes, and as whom.
#[derive(Clone)]
struct Target {
    authority: String,
    path: String,
    tls: bool,
    authorization: Option<String>,
}

/// How long a request may take and how much of its answer is read.
#[derive(Clone, Copy)]
enum Transfer {
    /// About a manifest or a small blob: answers up to 4 MiB.
    Small,
    /// A component's upload or download.
    Large { answer_limit: u64 },
}

impl Transfer {
    fn timeout(self) -> Duration {
        match self {
            Transfer::Small => API_TIMEOUT,
            Transfer::Large { .. } => BLOB_TIMEOUT,
        }
    }

    fn answer_limit(self) -> u64 {
        match self {
            Transfer::Small => SMALL_LIMIT,
            Transfer::Large { answer_limit } => answer_limit,
        }
    }
}

/// One request: what it is for, where it goes, as whom.
#[derive(Clone)]
struct Call {
    method: Method,
    target: Target,
    headers: Vec<(header::HeaderName, String)>,
    body: Bytes,
    /// What the request is for, as messages name it.
    what: String,
    transfer: Transfer,
}

impl Call {
    /// A request without a body, about something small.
    fn new(method: Method, target: Target, what: &str) -> Call {
        Call {
            method,
            target,
            headers: Vec::new(),
            body: Bytes::new(),
            what: what.to_owned(),
            transfer: Transfer::Small,
        }
    }

    fn header(mut self, name: header::HeaderName, value: &str) -> Call {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn body(mut self, body: Bytes) -> Call {
        self.body = body;
        self
    }

    /// A component's transfer, its answer read up to `answer_limit` bytes.
    fn large(mut self, answer_limit: u64) -> Call {
        self.transfer = Transfer::Large { answer_limit };
        self
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Client {
    /// A client for `registry` (`host[:port]`): over HTTPS, or over plain
    /// HTTP if `insecure`; logged in, when the registry asks, with the
    /// user's [`Credentials`] for it.
    pub fn new(registry: &str, insecure: bool) -> Result<Client, OciError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OciError::Unreachable {
                registry: registry.to_owned(),
                reason: format!("cannot start the network runtime: {e}"),
            })?;
        Ok(Client {
            registry: registry.to_owned(),
            insecure,
            tls: tls_config()?,
            credentials: Credentials::find(registry)?,
            authorization: RefCell::new(None),
            runtime,
        })
    }

    /// Pushes `artifact` to `reference`'s tag: the component and config
    /// blobs (those the registry lacks), then the manifest. `report` hears
    /// of each step as it starts.
    pub fn push(
        &self,
        reference: &Reference,
        artifact: &Artifact,
        report: &mut dyn FnMut(String),
    ) -> Result<Pushed, OciError> {
        let manifest = &artifact.manifest;
        let mut already_there = Vec::new();
        for (what, descriptor, bytes) in [
            ("component", &manifest.layers[0], &artifact.component),
            ("config", &manifest.config, &artifact.config),
        ] {
            if self.has_blob(reference, descriptor)? {
                report(format!(
                    "{what} {} already there",
                    short(&descriptor.digest)
                ));
                already_there.push(descriptor.digest.clone());
                continue;
            }
            report(format!(
                "uploading the {what} ({}, {})",
                size(bytes.len() as u64),
                short(&descriptor.digest)
            ));
            self.upload(reference, descriptor, bytes)?;
        }

        let tag = reference.tag_or_latest();
        report(format!("writing the manifest under the tag {tag}"));
        let what = format!("the manifest {tag}");
        let path = format!("/v2/{}/manifests/{tag}", reference.repository);
        let answer = self.send(
            Call::new(Method::PUT, self.here(path), &what)
                .header(header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                .body(Bytes::from(artifact.manifest_bytes.clone())),
        )?;
        self.expect(&answer, &[StatusCode::CREATED, StatusCode::OK], &what)?;
        let digest = artifact.digest();
        if let Some(theirs) = header_str(&answer.headers, "docker-content-digest")
            && theirs != digest
        {
            return Err(self.mismatch(
                &what,
                format!("the registry stored it as {theirs}, its bytes are {digest}"),
            ));
        }
        let mut pinned = reference.clone();
        pinned.tag = Some(tag.to_owned());
        pinned.digest = Some(digest.clone());
        Ok(Pushed {
            reference: pinned,
            digest,
            already_there,
        })
    }

    /// The manifest `reference` names, checked to be a Wasm artifact's (and
    /// to have the digest the reference pins, if it pins one); returns its
    /// digest, the manifest and its component's layer.
    pub fn manifest(
        &self,
        reference: &Reference,
    ) -> Result<(String, Manifest, Descriptor), OciError> {
        let name = reference.manifest_reference();
        let what = format!("the manifest {name}");
        let path = format!("/v2/{}/manifests/{name}", reference.repository);
        let answer = self.send(
            Call::new(Method::GET, self.here(path), &what)
                .header(header::ACCEPT, MANIFEST_MEDIA_TYPE),
        )?;
        self.expect(&answer, &[StatusCode::OK], &what)?;
        let digest = digest(&answer.body);
        let expected = reference
            .digest
            .as_deref()
            .or_else(|| header_str(&answer.headers, "docker-content-digest"));
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(self.mismatch(
                &what,
                format!("its digest is {digest}, where {expected} was asked for"),
            ));
        }
        let (manifest, layer) = read_manifest(&reference.to_string(), &answer.body)?;
        Ok((digest, manifest, layer))
    }

    /// The blob `descriptor` points at, checked against its size and digest.
    pub fn blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<Vec<u8>, OciError> {
        let mut target = self.here(format!(
            "/v2/{}/blobs/{}",
            reference.repository, descriptor.digest
        ));
        for _ in 0..=MAX_REDIRECTS {
            let answer = self.send(
                Call::new(Method::GET, target, what).large(descriptor.size.saturating_add(1)),
            )?;
            if answer.status.is_redirection() {
                let location = header_str(&answer.headers, "location")
                    .ok_or_else(|| self.mismatch(what, "a redirect without a Location".into()))?;
                target = self.target(location)?;
                continue;
            }
            self.expect(&answer, &[StatusCode::OK], what)?;
            let got = digest(&answer.body);
            if answer.body.len() as u64 != descriptor.size || got != descriptor.digest {
                return Err(self.mismatch(
                    what,
                    format!(
                        "it is {} bytes with the digest {got}, where the manifest says {} \
                         bytes with {}",
                        answer.body.len(),
                        descriptor.size,
                        descriptor.digest
                    ),
                ));
            }
            return Ok(answer.body.to_vec());
        }
        Err(self.mismatch(what, format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// Pulls the component `reference` names, checking every digest.
    pub fn pull(
        &self,
        reference: &Reference,
        report: &mut dyn FnMut(String),
    ) -> Result<Pulled, OciError> {
        let (digest, manifest, layer) = self.manifest(reference)?;
        let config = self.blob(reference, &manifest.config, "the config")?;
        let config: WasmConfig =
            serde_json::from_slice(&config).map_err(|e| OciError::NotWasm {
                reference: reference.to_string(),
                reason: format!("its config is not a Wasm config ({e})"),
            })?;
        report(format!(
            "downloading the component ({}, {})",
            size(layer.size),
            short(&layer.digest)
        ));
        let component = self.blob(reference, &layer, "the component")?;
        Ok(Pulled {
            digest,
            manifest,
            config,
            component,
        })
    }

    fn has_blob(&self, reference: &Reference, descriptor: &Descriptor) -> Result<bool, OciError> {
        let what = format!("whether it has {}", short(&descriptor.digest));
        let path = format!("/v2/{}/blobs/{}", reference.repository, descriptor.digest);
        let answer = self.send(Call::new(Method::HEAD, self.here(path), &what))?;
        match answer.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self.expect(&answer, &[], &what).map(|()| false),
        }
    }

    fn upload(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), OciError> {
        let what = format!("an upload of {}", short(&descriptor.digest));
        let path = format!("/v2/{}/blobs/uploads/", reference.repository);
        let answer = self.send(Call::new(Method::POST, self.here(path), &what))?;
        self.expect(&answer, &[StatusCode::ACCEPTED], &what)?;
        let location = header_str(&answer.headers, "location")
            .ok_or_else(|| self.mismatch(&what, "no Location to upload to".into()))?;
        let mut target = self.target(location)?;
        let separator = if target.path.contains('?') { '&' } else { '?' };
        let digest = descriptor.digest.replace(':', "%3A");
        target.path = format!("{}{separator}digest={digest}", target.path);
        let answer = self.send(
            Call::new(Method::PUT, target, &what)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Bytes::copy_from_slice(bytes))
                .large(SMALL_LIMIT),
        )?;
        self.expect(&answer, &[StatusCode::CREATED], &what)
    }

    fn here(&self, path: String) -> Target {
        Target {
            authority: self.registry.clone(),
            path,
            tls: !self.insecure,
            authorization: self.authorization.borrow().clone(),
        }
    }

    /// Where a `Location` header points: a path on this registry, or an
    /// `https://` URL elsewhere (`http://` too with --insecure).
    fn target(&self, location: &str) -> Result<Target, OciError> {
        if location.starts_with('/') {
            return Ok(self.here(location.to_owned()));
        }
        let (rest, tls) = if let Some(rest) = location.strip_prefix("https://") {
            (rest, true)
        } else if let Some(rest) = location.strip_prefix("http://") {
            if !self.insecure {
                return Err(OciError::PlainHttp {
                    registry: self.registry.clone(),
                    url: location.to_owned(),
                });
            }
            (rest, false)
        } else {
            return Err(self.mismatch(
                "a Location header",
                format!("`{location}` is not a path or an http(s):// URL"),
            ));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('?') => (&rest[..at], format!("/{}", &rest[at..])),
            Some(at) => (&rest[..at], rest[at..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        // Credentials go to the registry only, never to where it sends a
        // blob's download.
        let authorization = if authority == self.registry {
            self.authorization.borrow().clone()
        } else {
            None
        };
        Ok(Target {
            authority: authority.to_owned(),
            path,
            tls,
            authorization,
        })
    }

    fn expect(&self, answer: &Answer, ok: &[StatusCode], what: &str) -> Result<(), OciError> {
        if ok.contains(&answer.status) {
            return Ok(());
        }
        if answer.status == StatusCode::UNAUTHORIZED {
            let challenge = header_str(&answer.headers, "www-authenticate").unwrap_or("");
            let scope = challenge_params(challenge.split_once(' ').map_or("", |(_, p)| p))
                .into_iter()
                .find(|(k, _)| k == "scope")
                .map(|(_, scope)| format!(" to {scope}"))
                .unwrap_or_default();
            let reason = match (&self.credentials, self.authorization.borrow().is_some()) {
                (Some(_), _) => format!("the credentials given were refused{scope}"),
                (None, true) => format!("no access{scope} without a login{LOGIN_HINT}"),
                (None, false) => format!("it asks for a login{LOGIN_HINT}"),
            };
            return Err(OciError::Unauthorized {
                registry: self.registry.clone(),
                what: what.to_owned(),
                reason: format!("{reason}{}", error_messages(&answer.body)),
            });
        }
        Err(OciError::Status {
            registry: self.registry.clone(),
            what: what.to_owned(),
            status: answer.status.as_u16(),
            message: error_messages(&answer.body),
        })
    }

    fn mismatch(&self, what: &str, reason: String) -> OciError {
        OciError::Mismatch {
            registry: self.registry.clone(),
            what: what.to_owned(),
            reason,
        }
    }

    /// [`send_once`](Self::send_once), and, if the registry answers 401
    /// with a challenge, the same request again with the challenge met.
    fn send(&self, call: Call) -> Result<Answer, OciError> {
        let to_registry = call.target.authority == self.registry;
        let answer = self.send_once(call.clone())?;
        if answer.status != StatusCode::UNAUTHORIZED || !to_registry {
            return Ok(answer);
        }
        let Some(challenge) = header_str(&answer.headers, "www-authenticate") else {
            return Ok(answer);
        };
        let sent = call.target.authorization.as_deref();
        let authorization = self.answer_challenge(challenge, sent, &call.what)?;
        *self.authorization.borrow_mut() = Some(authorization.clone());
        let mut call = call;
        call.target.authorization = Some(authorization);
        self.send_once(call)
    }

    /// The `Authorization` that meets a `WWW-Authenticate` challenge:
    /// `Basic` with the user's credentials, or `Bearer` with a token from
    /// the realm the challenge names (Docker's token protocol: anonymous,
    /// or logged in with the credentials), for the scope it names.
    fn answer_challenge(
        &self,
        challenge: &str,
        sent: Option<&str>,
        what: &str,
    ) -> Result<String, OciError> {
        let refused = |reason: String| OciError::Unauthorized {
            registry: self.registry.clone(),
            what: what.to_owned(),
            reason,
        };
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let params = challenge_params(params);
        if scheme.eq_ignore_ascii_case("basic") {
            let Some(credentials) = &self.credentials else {
                return Err(refused(format!("it asks for a login{LOGIN_HINT}")));
            };
            let basic = credentials.basic();
            if sent == Some(basic.as_str()) {
                return Err(refused("the credentials given were refused".into()));
            }
            return Ok(basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(refused(format!(
                "it asks for {scheme} authentication, which wasmodel does not speak"
            )));
        }
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| refused(format!("its challenge names no realm: {challenge}")))?;
        let query: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "service" || k == "scope")
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        let separator = if realm.contains('?') { '&' } else { '?' };
        let mut target = self.target(&format!("{realm}{separator}{}", query.join("&")))?;
        target.authorization = self.credentials.as_ref().map(Credentials::basic);
        let answer = self.send_once(Call::new(Method::GET, target, "a token"))?;
        if answer.status != StatusCode::OK {
            return Err(refused(format!(
                "its token service answered {}{}{}",
                answer.status.as_u16(),
                error_messages(&answer.body),
                if self.credentials.is_none() {
                    LOGIN_HINT
                } else {
                    ""
                }
            )));
        }
        let json: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|e| refused(format!("its token service's answer is not JSON: {e}")))?;
        let token = json["token"]
            .as_str()
            .or(json["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refused("its token service gave no token".into()))?;
        let bearer = format!("Bearer {token}");
        if sent == Some(bearer.as_str()) {
            return Err(refused(format!(
                "the token for {} was refused",
                params
                    .iter()
                    .find(|(k, _)| k == "scope")
                    .map_or("it", |(_, v)| v.as_str())
            )));
        }
        Ok(bearer)
    }

    /// One request on a connection of its own, its answer read whole (up
    /// to 4 MiB, or the blob's size for a GET of a blob).
    fn send_once(&self, call: Call) -> Result<Answer, OciError> {
        let Call {
            method,
            target,
            headers,
            body,
            what,
            transfer,
        } = call;
        let what = what.as_str();
        let timeout = transfer.timeout();
        let unreachable = |reason: String| OciError::Unreachable {
            registry: target.authority.clone(),
            reason,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(&target.path)
            .header(header::HOST, &target.authority)
            .header(
                header::USER_AGENT,
                concat!("wasmodel/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(authorization) = &target.authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| unreachable(format!("cannot write the request for {what}: {e}")))?;
        let address = if target.authority.contains(':') {
            target.authority.clone()
        } else {
            format!("{}:{}", target.authority, if target.tls { 443 } else { 80 })
        };
        let host = target
            .authority
            .rsplit_once(':')
            .map_or(&*target.authority, |(h, _)| h);
        let call = async {
            let stream = TcpStream::connect(&address)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            if !target.tls {
                return exchange(stream, request, transfer, what)
                    .await
                    .map_err(unreachable);
            }
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| unreachable(format!("{host} cannot name a TLS server: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, stream)
                .await
                .map_err(|e| {
                    unreachable(format!(
                        "TLS: {e} (a registry whose certificate a private authority signed \
                         is trusted with SSL_CERT_FILE=CA.pem; one without TLS is reached with \
                         --insecure)"
                    ))
                })?;
            exchange(stream, request, transfer, what)
                .await
                .map_err(unreachable)
        };
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, call).await })
            .map_err(|_| OciError::TimedOut {
                registry: target.authority.clone(),
                what: what.to_owned(),
                seconds: timeout.as_secs(),
            })?
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
}

/// How to log in, for messages about a registry that asks.
const LOGIN_HINT: &str = ": set WASMODEL_REGISTRY_USERNAME and WASMODEL_REGISTRY_PASSWORD, \
                          or `docker login` to it";

/// The `key=value` (or `key="value"`) parameters of a challenge.
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.push((key, value.to_owned()));
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// `text` as a query value: unreserved characters kept, others %-encoded.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One request and its whole answer, on a connection of its own.
async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
    transfer: Transfer,
    what: &str,
) -> Result<Answer, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let (parts, body) = response.into_parts();
    let limit = transfer.answer_limit();
    let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
        .map_err(|e| format!("{what}: {e} (more than {})", size(limit)))?
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// TLS as browsers do it, with Mozilla's roots, and the certificates the
/// PEM file `SSL_CERT_FILE` names (as curl and OpenSSL read it) trusted too.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, OciError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        let bad = |reason: String| OciError::Certificates {
            path: file.clone().into(),
            reason,
        };
        let mut added = 0;
        for certificate in CertificateDer::pem_file_iter(&file).map_err(|e| bad(e.to_string()))? {
            let certificate = certificate.map_err(|e| bad(e.to_string()))?;
            roots.add(certificate).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("it holds no PEM certificate".into()));
        }
    }
    // ring, not aws-lc-rs (rustls' default, whose C library takes minutes
    // to build on 2 cores): rustls 0.23.48 deprecates its provider for
    // having no post-quantum key exchange, which registries do not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OciError::Certificates {
            path: "(TLS configuration)".into(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The `message`s of a distribution-spec error body, after ": ".
fn error_messages(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        // Not the spec's JSON: its first line, if it is short text (such as
        // "Client sent an HTTP request to an HTTPS server.").
        let text = String::from_utf8_lossy(body);
        let line = text.lines().next().unwrap_or("").trim();
        return if line.is_empty() || line.len() > 200 {
            String::new()
        } else {
            format!(": {line}")
        };
    };
    let messages: Vec<String> = json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let code = e["code"].as_str().unwrap_or("");
            let message = e["message"].as_str().unwrap_or("");
            format!("{code} ({message})")
        })
        .collect();
    if messages.is_empty() {
        String::new()
    } else {
        format!(": {}", messages.join("; "))
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}

fn size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_as_registries_write_them() {
        let params = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:org/iris:pull,push""#,
        );
        assert_eq!(
            params,
            [
                ("realm".into(), "https://auth.docker.io/token".into()),
                ("service".into(), "registry.docker.io".into()),
                ("scope".into(), "repository:org/iris:pull,push".into()),
            ]
        );
        assert_eq!(
            challenge_params("realm=basic-realm, charset=UTF-8"),
            [
                ("realm".into(), "basic-realm".into()),
                ("charset".into(), "UTF-8".into())
            ]
        );
        assert_eq!(
            url_encode("repository:org/iris:pull,push"),
            "repository%3Aorg%2Firis%3Apull%2Cpush"
        );
    }
}
