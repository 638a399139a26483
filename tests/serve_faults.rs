//! `wasmodel serve` against clients that misbehave, and stopped under load:
//! every request is answered or dropped cleanly, the next one is served,
//! and nothing stays held (slots, instances, connections).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmodel::Limits;
use wasmodel_cli::serve::ServeOptions;

use crate::serve::{
    Answer, TestServer, assert_infer_matches_onnxruntime, digits_request, infer_request, outputs,
    parse_response, quiet, spawn_serve_with, spawn_wasmodel_serve, stop_with_ctrl_c,
};
use crate::support::{Fixture, assert_outputs_match, fixture, http_component};

/// Reads until the server closes the connection: what it sent, or `None`
/// if the connection is still open after `within`.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let (mut got, mut buffer) = (Vec::new(), [0; 4096]);
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset by the server: closed too.
            Err(_) => return Some(got),
        }
    }
}

/// Asserts that `answer` is a 200 with onnxruntime's outputs for the
/// fixture's inputs.
fn assert_answers(answer: &Answer, expected: &Fixture) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_outputs_match(
        &outputs(&answer.json()),
        &expected.outputs,
        expected.rtol,
        expected.atol,
    );
}

/// The head of a POST of `length` bytes of JSON to `path`.
fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    )
}

#[test]
fn slow_and_idle_clients_are_cut_off_while_others_are_served() {
    let server = TestServer::start(
        "iris",
        Limits::default(),
        ServeOptions {
            read_timeout: Duration::from_secs(1),
            ..quiet()
        },
    );
    let addr = server.addr;
    std::thread::scope(|s| {
        // Slow-loris: a request head dribbled in, a header line every
        // 200 ms. Writes start failing once the server has closed.
        let loris = s.spawn(move || {
            let started = Instant::now();
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"POST /v2/models/iris/infer HTTP/1.1\r\nhost: test\r\n")
                .unwrap();
            for i in 0..50 {
                std::thread::sleep(Duration::from_millis(200));
                if stream
                    .write_all(format!("x-{i}: y\r\n").as_bytes())
                    .is_err()
                {
                    return Some(started.elapsed());
                }
            }
            None
        });
        // A body that stops arriving: 408, then the connection is closed.
        let stalled = s.spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            let head = post_head("/v2/models/iris/infer", 1000);
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(b"{\"inputs\":").unwrap();
            read_until_closed(&mut stream, Duration::from_secs(10))
        });
        // A keep-alive connection left idle after its answer is closed.
        let idle = s.spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: test\r\n\r\n")
                .unwrap();
            read_until_closed(&mut stream, Duration::from_secs(10))
        });
        // Meanwhile everyone else is served.
        for _ in 0..10 {
            assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
        }

        let cut_after = loris.join().unwrap();
        assert!(
            cut_after.is_some(),
            "a client dribbling its request head was still connected after 10 s"
        );
        let stalled = stalled
            .join()
            .unwrap()
            .expect("a stalled body was still connected after 10 s");
        let answer = parse_response(&stalled);
        assert_eq!(answer.status, 408, "{answer:?}");
        assert!(answer.error().contains("1 s"), "{answer:?}");
        let idle = idle
            .join()
            .unwrap()
            .expect("an idle keep-alive connection was still open after 10 s");
        assert_eq!(parse_response(&idle).status, 200);
    });
    assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
}

#[test]
fn clients_that_hang_up_mid_body_or_mid_answer_hold_nothing() {
    // One slot: a request that kept it would make the next one wait
    // until the queue timeout, and answer 503.
    let server = TestServer::start(
        "digits_cnn",
        Limits::default(),
        ServeOptions {
            max_concurrency: 1,
            queue_timeout: Duration::from_secs(20),
            ..quiet()
        },
    );
    let path = "/v2/models/digits_cnn/infer";
    let body = digits_request(2_000).to_string();
    let head = post_head(path, body.len());
    for _ in 0..5 {
        // Gone halfway through the body.
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream
            .write_all(&body.as_bytes()[..body.len() / 2])
            .unwrap();
        drop(stream);
        // Gone once the request is sent, before its answer.
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Both).unwrap();
        drop(stream);
        // Gone after the first bytes of the answer (20 000 numbers).
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut first = [0; 16];
        stream.read_exact(&mut first).unwrap();
        assert_eq!(&first[..12], b"HTTP/1.1 200");
        drop(stream);
    }
    // Every instance is given back...
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = server.get("/metrics");
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        if text.contains("\nwasmodel_instances_in_use 0\n") {
            break;
        }
        assert!(Instant::now() < deadline, "instances still in use:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...and the one slot serves the next request at once.
    let started = Instant::now();
    assert_infer_matches_onnxruntime(&server, "digits_cnn", path);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the next request waited {:?} for a slot",
        started.elapsed()
    );
    // Every request is counted, answered or not (499: the client hung up
    // before its answer).
    let text = String::from_utf8_lossy(&server.get("/metrics").body).into_owned();
    let counted: u64 = text
        .lines()
        .filter(|l| l.starts_with("wasmodel_requests_total{model=\"digits_cnn\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    assert_eq!(counted, 16, "{text}");
}

/// What became of one request sent while the server was stopping.
enum Fate {
    /// A whole answer.
    Answered(Vec<u8>),
    /// Accepted, then closed without a byte of answer: never run.
    Dropped,
    /// Nothing listens any more.
    Refused,
}

/// Sends `body` to `path` on a fresh connection and reads the answer.
fn exchange(addr: SocketAddr, path: &str, body: &str) -> Fate {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return Fate::Refused;
    };
    // `connection: close`: one request per connection, so an answer ends
    // where the stream does.
    let head = post_head(path, body.len()).replacen("\r\n", "\r\nconnection: close\r\n", 1);
    // The server may close an accepted connection before reading it.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()));
    match read_until_closed(&mut stream, Duration::from_secs(60)) {
        Some(raw) if raw.is_empty() => Fate::Dropped,
        Some(raw) => Fate::Answered(raw),
        None => panic!("no answer and the connection still open after 60 s"),
    }
}

#[test]
fn ctrl_c_under_load_answers_or_cleanly_drops_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris-http.wasm");
    std::fs::write(&wasm, &http_component("iris").component).unwrap();
    let (child, addr) = spawn_wasmodel_serve(&[wasm.as_os_str(), "--quiet".as_ref()]);
    let (path, body) = ("/v2/models/iris/infer", infer_request("iris").to_string());
    let expected = fixture("iris");
    let (answered, dropped) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                loop {
                    match exchange(addr, path, &body) {
                        Fate::Answered(raw) => {
                            assert_answers(&parse_response(&raw), &expected);
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Fate::Dropped => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Fate::Refused => break,
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        let stderr = stop_with_ctrl_c(child);
        assert!(stderr.contains("Shutting down"), "{stderr}");
    });
    let answered = answered.into_inner();
    assert!(answered > 0, "no request was answered before Ctrl-C");
    eprintln!(
        "Ctrl-C under load: {answered} answered, {} dropped unanswered",
        dropped.into_inner()
    );
}

/// A flood of connections that takes every file descriptor the server may
/// open: the connections beyond them wait unaccepted, the server goes on,
/// and once the flood ends the next request is served.
#[test]
fn a_flood_of_connections_past_the_descriptor_limit_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("iris-http.wasm");
    std::fs::write(&wasm, &http_component("iris").component).unwrap();
    // 64 descriptors: a few for the server itself, the rest for clients.
    let mut prlimit = std::process::Command::new("prlimit");
    prlimit.args(["--nofile=64:64", "--", env!("CARGO_BIN_EXE_wasmodel")]);
    let (mut child, addr) = spawn_serve_with(prlimit, &[wasm.as_os_str()]);
    let (path, body) = ("/v2/models/iris/infer", infer_request("iris").to_string());
    let expected = fixture("iris");

    // 120: past the descriptors, within the listener's queue (a connect
    // beyond that waits for the kernel to retry it).
    let flood: Vec<TcpStream> = (0..120)
        .map(|_| TcpStream::connect(addr).expect("the kernel queues the connection"))
        .collect();
    // While flooded, a request either waits in the queue or is answered.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    drop(flood);

    // The server notices the closed connections and serves again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        if let Fate::Answered(raw) = exchange(addr, path, &body) {
            break parse_response(&raw);
        }
        assert!(
            Instant::now() < deadline,
            "not served again after the flood"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_answers(&answer, &expected);
    let stderr = stop_with_ctrl_c(child);
    // Each stretch of failed accepts said when it started and when it
    // ended, not at every retry; the one the flood began ended before
    // the answer's connection was accepted. The last one may still be
    // going when Ctrl-C comes: the flood's queued connections, accepted
    // meanwhile, can take every descriptor again.
    let (failed, again) = (
        stderr.matches("accept failed").count(),
        stderr.matches("accepting again").count(),
    );
    assert!(
        again >= 1 && (again == failed || again + 1 == failed),
        "{stderr}"
    );
}

/// Past `max_connections`, a new connection is not served until an open
/// one closes; then it is, correctly.
#[test]
fn connections_past_the_cap_wait_for_one_to_close() {
    let server = TestServer::start(
        "iris",
        Limits::default(),
        ServeOptions {
            max_connections: 2,
            ..quiet()
        },
    );
    let (path, body) = ("/v2/models/iris/infer", infer_request("iris").to_string());
    // Two connections that send nothing hold both places.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(server.addr).expect("the kernel queues it");
    let head = post_head(path, body.len()).replacen("\r\n", "\r\nconnection: close\r\n", 1);
    third.write_all(head.as_bytes()).unwrap();
    third.write_all(body.as_bytes()).unwrap();
    assert_eq!(
        read_until_closed(&mut third, Duration::from_millis(700)),
        None,
        "a third connection was served while two were open"
    );
    drop(idle);
    let raw = read_until_closed(&mut third, Duration::from_secs(10))
        .expect("not served after the idle connections closed");
    assert_answers(&parse_response(&raw), &fixture("iris"));
}

/// `wasmodel_connections_open` counts the connections open, the one asking
/// included, and comes down when they close.
#[test]
fn open_connections_are_counted_in_the_metrics() {
    let server = TestServer::start("iris", Limits::default(), quiet());
    let open = || {
        let metrics = String::from_utf8(server.get("/metrics").body).unwrap();
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("wasmodel_connections_open "))
            .unwrap_or_else(|| panic!("no connections gauge in {metrics}"))
            .parse::<i64>()
            .unwrap()
    };
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Accepted in the order they came, before the request asking.
    assert_eq!(open(), 4, "three idle connections and the one asking");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open() != 1 {
        assert!(
            Instant::now() < deadline,
            "the gauge did not come down to the asking connection alone"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `crates/faulty-http`, built for wasm32-wasip1 by `crates/test-guests`.
const FAULTY: &[u8] = wasmodel_test_guests::FAULTY_HTTP;

/// A component that traps, never returns, or takes memory until there is
/// none: each such request gets its error status, and only it; another
/// model served beside it answers correctly all along, and the component
/// serves its next request.
#[test]
fn a_component_that_traps_loops_or_runs_out_of_memory_costs_only_its_request() {
    let faulty = wasmodel::http_component_from_module(FAULTY).unwrap();
    let iris = http_component("iris");
    let server = TestServer::start_components(
        [iris.component.as_slice(), faulty.as_slice()],
        Limits {
            timeout: Duration::from_secs(1),
            max_memory: 64 << 20,
            ..Limits::default()
        },
        quiet(),
    );
    let faults_done = std::sync::atomic::AtomicBool::new(false);
    let iris_answered = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !faults_done.load(Ordering::Relaxed) {
                assert_infer_matches_onnxruntime(&server, "iris", "/v2/models/iris/infer");
                iris_answered.fetch_add(1, Ordering::Relaxed);
            }
        });
        for (fault, status, says) in [
            ("trap", 500, "trapped"),
            ("loop", 504, "time limit"),
            ("grow", 503, "memory limit"),
        ] {
            for _ in 0..3 {
                let path = format!("/v2/models/faulty/infer?fault={fault}");
                let answer = server.post_json(&path, &serde_json::json!({}));
                assert_eq!(answer.status, status, "{fault}: {answer:?}");
                assert!(answer.error().contains(says), "{fault}: {answer:?}");
                let next = server.post_json("/v2/models/faulty/infer", &serde_json::json!({}));
                assert_eq!(next.status, 200, "after {fault}: {next:?}");
            }
        }
        faults_done.store(true, Ordering::Relaxed);
    });
    assert!(iris_answered.into_inner() > 0);
    let metrics = String::from_utf8_lossy(&server.get("/metrics").body).into_owned();
    assert!(
        metrics.contains("\nwasmodel_instances_in_use 0\n"),
        "{metrics}"
    );
}
