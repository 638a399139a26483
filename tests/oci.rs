//! `wasmodel push` and `pull` against a real registry on loopback: the
//! CNCF distribution registry as Debian packages it (`docker-registry`,
//! installed by scripts/setup.sh --tests), started by the test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::send;
use crate::support::{component, http_component, ok, repo, sha256_hex};

/// An authority (`ca.pem`) and the registry's key and certificate for
/// localhost and 127.0.0.1 (`key.pem`, `cert.pem`) in `dir`: a server
/// certificate of its own, since TLS clients refuse an authority's
/// certificate used as a server's.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (scripts/setup.sh --tests installs it)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let key = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &key,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=wasmodel test authority",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &key,
            &[
                "-keyout",
                "key.pem",
                "-out",
                "cert.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// The registry binary; `None` (the caller skips) only outside CI.
fn docker_registry() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("docker-registry"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no docker-registry in CI: scripts/setup.sh --tests should have installed it"
        );
        eprintln!("SKIPPED: no docker-registry (run scripts/setup.sh --tests)");
    }
    found
}

/// A registry storing in a directory of its own, on a free port; stopped
/// when dropped.
struct Registry {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Registry {
    /// A registry over plain HTTP.
    fn start(binary: &Path) -> Registry {
        Registry::start_with(binary, false, |_| String::new())
    }

    /// With `tls`, a registry serving HTTPS with a certificate for
    /// localhost and 127.0.0.1 signed by an authority of its own, whose
    /// certificate is [`Registry::ca`] (both made by the openssl command).
    /// `configure` may write files into the registry's directory and
    /// returns more of its configuration (an `auth:` section).
    fn start_with(binary: &Path, tls: bool, configure: impl FnOnce(&Path) -> String) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = crate::support::free_local_addr();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if tls {
            make_certificates(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ));
        }
        config.push_str(&configure(dir.path()));
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let mut child = Command::new(binary)
            .arg("serve")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("docker-registry exited ({status})");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "docker-registry did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, addr, dir }
    }

    /// The authority's certificate, for SSL_CERT_FILE.
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn get(&self, path: &str, accept: &str) -> crate::serve::Answer {
        send(self.addr, "GET", path, &[("accept", accept)], b"")
    }

    /// The file the registry keeps a blob in.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wasmodel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmodel"))
        .args(args)
        .output()
        .unwrap()
}

fn failed(output: Output) -> String {
    assert!(!output.status.success(), "it should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The iris predictor component, written to `dir`/iris.wasm.
fn iris_file(dir: &Path) -> (PathBuf, std::sync::Arc<Vec<u8>>) {
    let file = dir.join("iris.wasm");
    let wasm = component("iris");
    std::fs::write(&file, wasm.as_slice()).unwrap();
    (file, wasm)
}

#[test]
fn a_component_pushed_pulls_back_identical_in_the_wasm_layout() {
    let Some(binary) = docker_registry() else {
        return;
    };
    let registry = Registry::start(&binary);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iris-http.wasm");
    let built = http_component("iris");
    std::fs::write(&file, &built.component).unwrap();
    let reference = format!("localhost:{}/models/iris:1", registry.addr.port());

    let (stdout, stderr) = ok(wasmodel(&[
        "push",
        file.to_str().unwrap(),
        &reference,
        "--insecure",
        "--annotation",
        "team=risk",
    ]));
    let manifest = registry.get("/v2/models/iris/manifests/1", MANIFEST);
    assert_eq!(manifest.status, 200, "{stderr}");
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest.body));
    assert_eq!(stdout.trim(), format!("{reference}@{manifest_digest}"));

    // The CNCF Wasm OCI layout: the media types, digests and sizes of what
    // was sent, the component's world in the config.
    let m: Value = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], MANIFEST);
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", sha256_hex(&built.component))
    );
    assert_eq!(layers[0]["size"], built.component.len());
    let annotations = &m["annotations"];
    assert_eq!(annotations["dev.wasmodel.model.name"], "iris");
    assert_eq!(annotations["org.opencontainers.image.title"], "iris");
    let onnx = std::fs::read(repo().join("models/iris.onnx")).unwrap();
    assert_eq!(
        annotations["dev.wasmodel.model.digest"],
        format!("sha256:{}", sha256_hex(&onnx))
    );
    assert_eq!(annotations["team"], "risk");
    let config_digest = m["config"]["digest"].as_str().unwrap();
    let config = registry.get(&format!("/v2/models/iris/blobs/{config_digest}"), "*/*");
    assert_eq!(
        format!("sha256:{}", sha256_hex(&config.body)),
        config_digest
    );
    assert_eq!(m["config"]["size"], config.body.len());
    let config: Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], layers[0]["digest"]);
    assert_eq!(
        config["component"]["exports"],
        serde_json::json!(built.exports)
    );
    assert_eq!(
        config["component"]["imports"],
        serde_json::json!(built.imports)
    );

    // Pulled by tag and by digest: the same bytes.
    let by_tag = dir.path().join("by-tag.wasm");
    let (_, stderr) = ok(wasmodel(&[
        "pull",
        &reference,
        "--insecure",
        "-o",
        by_tag.to_str().unwrap(),
    ]));
    assert!(stderr.contains("model iris"), "{stderr}");
    assert!(std::fs::read(&by_tag).unwrap() == built.component);
    let pinned = format!(
        "localhost:{}/models/iris@{manifest_digest}",
        registry.addr.port()
    );
    let by_digest = dir.path().join("by-digest.wasm");
    ok(wasmodel(&[
        "pull",
        &pinned,
        "--insecure",
        "-o",
        by_digest.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&by_digest).unwrap() == built.component);

    // A second tag of the same component sends only a new config.
    let (_, stderr) = ok(wasmodel(&[
        "push",
        file.to_str().unwrap(),
        &reference.replace(":1", ":latest"),
        "--insecure",
    ]));
    assert!(
        stderr.contains("component sha256:") && stderr.contains("already there"),
        "{stderr}"
    );

    // A predictor component: nothing imported, the predictor exported.
    let predictor = dir.path().join("iris.wasm");
    std::fs::write(&predictor, component("iris").as_slice()).unwrap();
    let predictor_ref = format!("localhost:{}/iris-predictor", registry.addr.port());
    ok(wasmodel(&[
        "push",
        predictor.to_str().unwrap(),
        &predictor_ref,
        "--insecure",
    ]));
    let m: Value = serde_json::from_slice(
        &registry
            .get("/v2/iris-predictor/manifests/latest", MANIFEST)
            .body,
    )
    .unwrap();
    let config = registry.get(
        &format!(
            "/v2/iris-predictor/blobs/{}",
            m["config"]["digest"].as_str().unwrap()
        ),
        "*/*",
    );
    let config: Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(config["component"]["imports"], serde_json::json!([]));
    let exports = config["component"]["exports"].to_string();
    assert!(exports.contains("wasmodel:model/predictor@"), "{exports}");

    // `predict` takes the reference where a file would be, pulled into the
    // cache once per digest; its answers are the file's.
    let cache = crate::support::cache_dir();
    let features = format!(
        "features={}",
        crate::support::fixture_path("iris_features.json").display()
    );
    let predict = |component: &str| {
        ok(wasmodel(&[
            "predict",
            component,
            "--insecure",
            "--input",
            &features,
            "--cache-dir",
            cache.to_str().unwrap(),
        ]))
    };
    let (from_file, _) = predict(predictor.to_str().unwrap());
    let (from_registry, _) = predict(&predictor_ref);
    assert_eq!(from_registry, from_file);
    let (again, stderr) = predict(&predictor_ref);
    assert_eq!(again, from_file);
    assert!(stderr.contains("pulled before"), "{stderr}");
}

#[test]
fn pulls_refuse_what_was_not_pushed() {
    let Some(binary) = docker_registry() else {
        return;
    };
    let registry = Registry::start(&binary);
    let dir = tempfile::tempdir().unwrap();
    let (file, wasm) = iris_file(dir.path());
    let port = registry.addr.port();
    let reference = format!("localhost:{port}/iris:1");
    ok(wasmodel(&[
        "push",
        file.to_str().unwrap(),
        &reference,
        "--insecure",
    ]));
    let out = dir.path().join("pulled.wasm");
    let out_arg = out.to_str().unwrap();

    // Without --insecure, TLS, which a plain-HTTP registry does not speak;
    // the message says how to reach it.
    let error = failed(wasmodel(&["pull", &reference, "-o", out_arg]));
    assert!(
        error.contains("TLS") && error.contains("--insecure"),
        "{error}"
    );

    // A digest the registry does not have.
    let wrong = format!("localhost:{port}/iris@sha256:{}", "0".repeat(64));
    let error = failed(wasmodel(&["pull", &wrong, "--insecure", "-o", out_arg]));
    assert!(
        error.contains("404") && error.contains("MANIFEST_UNKNOWN"),
        "{error}"
    );

    // The registry serves bytes that are not the component's digest: the
    // pull is refused, and no file is written.
    let blob = registry.blob_file(&format!("sha256:{}", sha256_hex(&wasm)));
    let mut tampered = std::fs::read(&blob).unwrap();
    tampered[1000] ^= 1;
    std::fs::write(&blob, &tampered).unwrap();
    let error = failed(wasmodel(&["pull", &reference, "--insecure", "-o", out_arg]));
    assert!(error.contains("is not what was asked for"), "{error}");
    assert!(!out.exists() && !dir.path().join("pulled.wasm.partial").exists());

    // What cannot be pushed: a file that is not a component, a reference
    // without a registry, a digest in place of a tag.
    let onnx = repo().join("models/iris.onnx");
    let error = failed(wasmodel(&[
        "push",
        onnx.to_str().unwrap(),
        &reference,
        "--insecure",
    ]));
    assert!(error.contains("is not a component"), "{error}");
    let error = failed(wasmodel(&[
        "push",
        file.to_str().unwrap(),
        "iris:1",
        "--insecure",
    ]));
    assert!(error.contains("name the registry"), "{error}");
    let error = failed(wasmodel(&[
        "push",
        file.to_str().unwrap(),
        &wrong,
        "--insecure",
    ]));
    assert!(error.contains("names a tag, not a digest"), "{error}");
    // A registry that is not there.
    drop(registry);
    let error = failed(wasmodel(&["pull", &reference, "--insecure", "-o", out_arg]));
    assert!(
        error.contains(&format!("cannot reach localhost:{port}")),
        "{error}"
    );
}

/// The path SpinKube deploys from: a `wasmodel spin add` app pushed by
/// `spin registry push` to the same registry, run by `spin up --from REF`.
#[test]
fn spin_up_runs_an_app_pushed_to_the_registry() {
    let Some(binary) = docker_registry() else {
        return;
    };
    let Some(spin) = crate::spin_app::spin_cli() else {
        eprintln!(
            "SKIPPED: no Spin CLI (not on PATH, no ../shared/tools/spin): Spin is on no registry"
        );
        return;
    };
    let registry = Registry::start(&binary);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    ok(wasmodel(&[
        "spin",
        "add",
        repo().join("models/iris.onnx").to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ]));
    // What `spin build` would write, built once for all the tests.
    let source = dir.path().join("target/iris-http.wasm");
    std::fs::create_dir_all(source.parent().unwrap()).unwrap();
    std::fs::write(&source, &http_component("iris").component).unwrap();

    let reference = format!("localhost:{}/apps/iris:1", registry.addr.port());
    let push = Command::new(&spin)
        .args(["registry", "push", &reference, "--insecure", "--from"])
        .arg(&manifest)
        .env("SPIN_DISABLE_TELEMETRY", "1")
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&push.stdout).into_owned() + &String::from_utf8_lossy(&push.stderr);
    assert!(push.status.success(), "spin registry push failed:\n{said}");
    let digest = said
        .split("Pushed with digest ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in what spin said:\n{said}"));

    // The SpinApp that deploys it with SpinKube, pinned to that digest.
    let pinned = format!("{reference}@{digest}");
    let yaml = dir.path().join("iris-spinapp.yaml");
    ok(wasmodel(&[
        "spin",
        "kube",
        &pinned,
        "--memory",
        "512",
        "-o",
        yaml.to_str().unwrap(),
    ]));
    let yaml = std::fs::read_to_string(&yaml).unwrap();
    for line in [
        "kind: SpinApp".to_owned(),
        "  name: \"iris\"".to_owned(),
        format!("  image: \"{pinned}\""),
        "      memory: \"512Mi\"".to_owned(),
    ] {
        assert!(yaml.lines().any(|l| l == line), "no `{line}` in\n{yaml}");
    }

    let (_spin, server) = crate::spin_app::spin_up_from(
        &spin,
        reference.as_ref(),
        &["--insecure"],
        "/v2/health/ready",
    );
    assert_eq!(server.get("/v2/models/iris").status, 200);
    crate::serve::assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
}

/// HTTPS, with a registry whose certificate a private authority signed:
/// trusted through SSL_CERT_FILE, refused without it, and plain HTTP to it
/// answered with the registry's own message.
#[test]
fn push_and_pull_speak_tls() {
    let Some(binary) = docker_registry() else {
        return;
    };
    let registry = Registry::start_with(&binary, true, |_| String::new());
    let dir = tempfile::tempdir().unwrap();
    let (file, wasm) = iris_file(dir.path());
    let reference = format!("localhost:{}/iris:1", registry.addr.port());
    let trusting = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasmodel"))
            .args(args)
            .env("SSL_CERT_FILE", registry.ca())
            .output()
            .unwrap()
    };
    ok(trusting(&["push", file.to_str().unwrap(), &reference]));
    let pulled = dir.path().join("pulled.wasm");
    ok(trusting(&[
        "pull",
        &reference,
        "-o",
        pulled.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&pulled).unwrap() == *wasm);
    // By address: the certificate names 127.0.0.1 too.
    let by_address = format!("127.0.0.1:{}/iris:1", registry.addr.port());
    ok(trusting(&[
        "pull",
        &by_address,
        "-o",
        pulled.to_str().unwrap(),
    ]));

    let error = failed(wasmodel(&[
        "pull",
        &reference,
        "-o",
        pulled.to_str().unwrap(),
    ]));
    assert!(
        error.contains("UnknownIssuer") && error.contains("SSL_CERT_FILE"),
        "{error}"
    );
    let error = failed(wasmodel(&["pull", &reference, "--insecure"]));
    assert!(
        error.contains("400") && error.contains("HTTPS server"),
        "{error}"
    );
}

/// A registry that asks for a login (htpasswd, over TLS): refused without
/// credentials, saying how to give them; accepted from the environment and
/// from Docker's config.json; wrong ones refused, saying so.
#[test]
fn logins_come_from_the_environment_or_docker_config() {
    let Some(binary) = docker_registry() else {
        return;
    };
    let registry = Registry::start_with(&binary, true, |dir| {
        let out = Command::new("htpasswd")
            .args(["-Bbn", "ci", "s3cret"])
            .output()
            .expect("htpasswd (Debian's apache2-utils; scripts/setup.sh --tests installs it)");
        assert!(out.status.success(), "{out:?}");
        std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
        format!(
            "auth:\n  htpasswd:\n    realm: wasmodel-test\n    path: {}\n",
            dir.join("htpasswd").display()
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (file, wasm) = iris_file(dir.path());
    let pulled = dir.path().join("pulled.wasm");
    let reference = format!("localhost:{}/iris:1", registry.addr.port());
    // No docker login of the user's own: an empty DOCKER_CONFIG.
    let docker_config = tempfile::tempdir().unwrap();
    let run = |args: &[&str], login: Option<(&str, &str)>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wasmodel"));
        command
            .args(args)
            .env("SSL_CERT_FILE", registry.ca())
            .env("DOCKER_CONFIG", docker_config.path())
            .env_remove("WASMODEL_REGISTRY_USERNAME")
            .env_remove("WASMODEL_REGISTRY_PASSWORD");
        if let Some((user, password)) = login {
            command
                .env("WASMODEL_REGISTRY_USERNAME", user)
                .env("WASMODEL_REGISTRY_PASSWORD", password);
        }
        command.output().unwrap()
    };
    let push = ["push", file.to_str().unwrap(), &reference];
    let pull = ["pull", &reference, "-o", pulled.to_str().unwrap()];

    let error = failed(run(&push, None));
    assert!(
        error.contains("asks for a login") && error.contains("WASMODEL_REGISTRY_USERNAME"),
        "{error}"
    );
    let error = failed(run(&push, Some(("ci", "wrong"))));
    assert!(error.contains("credentials given were refused"), "{error}");
    ok(run(&push, Some(("ci", "s3cret"))));

    // `docker login`'s entry: base64 of user:password.
    std::fs::write(
        docker_config.path().join("config.json"),
        format!(
            r#"{{"auths": {{"localhost:{}": {{"auth": "Y2k6czNjcmV0"}}}}}}"#,
            registry.addr.port()
        ),
    )
    .unwrap();
    ok(run(&pull, None));
    assert!(std::fs::read(&pulled).unwrap() == *wasm);
}

/// A token service for Docker's token protocol: hands every request the
/// same token (an RS256 JWT granting pull and push on `iris`, signed with
/// `token.key`, its certificate `token.pem` in its `x5c` header, both in
/// `dir`), and keeps the request lines it was sent.
fn token_service(dir: &Path) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read as _, Write as _};
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "token.key",
        "-out",
        "token.pem",
        "-days",
        "2",
        "-subj",
        "/CN=wasmodel test token issuer",
    ]);
    let pem = std::fs::read_to_string(dir.join("token.pem")).unwrap();
    let der_base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let b64url = |bytes: &[u8]| base64::encode_config(bytes, base64::URL_SAFE_NO_PAD);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5c": [der_base64] });
    let claims = serde_json::json!({
        "iss": "wasmodel-test-issuer", "sub": "", "aud": "wasmodel-test",
        "exp": now + 3600, "nbf": now - 60, "iat": now - 60, "jti": "1",
        "access": [{ "type": "repository", "name": "iris", "actions": ["pull", "push"] }],
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    std::fs::write(dir.join("input"), &signing_input).unwrap();
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        "token.key",
        "-out",
        "signature",
        "input",
    ]);
    let signature = std::fs::read(dir.join("signature")).unwrap();
    let token = format!("{signing_input}.{}", b64url(&signature));
    let body = serde_json::json!({ "token": token }).to_string();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            log.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, seen)
}

/// Docker's token protocol (what Docker Hub and ghcr.io ask for): the
/// registry's Bearer challenge met with a token from the realm it names,
/// for the scope it names; anonymously here, as public pulls are.
#[test]
fn bearer_challenges_are_met_with_a_token_from_the_realm() {
    let Some(binary) = docker_registry() else {
        return;
    };
    let token_dir = tempfile::tempdir().unwrap();
    let (token_addr, seen) = token_service(token_dir.path());
    let registry = Registry::start_with(&binary, false, |_| {
        format!(
            "auth:\n  token:\n    realm: http://{token_addr}/token\n    service: wasmodel-test\n    \
             issuer: wasmodel-test-issuer\n    rootcertbundle: {}\n",
            token_dir.path().join("token.pem").display()
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (file, wasm) = iris_file(dir.path());
    let pulled = dir.path().join("pulled.wasm");
    let reference = format!("localhost:{}/iris:1", registry.addr.port());
    let docker_config = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasmodel"))
            .args(args)
            .env("DOCKER_CONFIG", docker_config.path())
            .env_remove("WASMODEL_REGISTRY_USERNAME")
            .env_remove("WASMODEL_REGISTRY_PASSWORD")
            .output()
            .unwrap()
    };
    ok(run(&[
        "push",
        file.to_str().unwrap(),
        &reference,
        "--insecure",
    ]));
    ok(run(&[
        "pull",
        &reference,
        "--insecure",
        "-o",
        pulled.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&pulled).unwrap() == *wasm);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|line| line.contains("service=wasmodel-test")
                && line.contains("scope=repository%3Airis%3Apull")),
        "{seen:?}"
    );
    // A repository the token does not grant: refused, naming the scope.
    let other = format!("localhost:{}/other:1", registry.addr.port());
    let error = failed(run(&["push", file.to_str().unwrap(), &other, "--insecure"]));
    assert!(error.contains("repository:other"), "{error}");
}
