//! The Open Inference Protocol service (what the HTTP component runs on
//! every request): any method, path, content type and body, JSON or the
//! binary tensor data extension, must be answered, never panic.
//!
//! Input: byte 0 picks the model (bit 0: `dtypes`, every numeric type and
//! bool; or `columns_onehot_logreg`, text columns) and the request (bits
//! 1-2: JSON infer, binary infer, `/predict`, a GET of a path taken from
//! the body); for binary, bytes 1-2 are the JSON header's length (LE).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wasmodel_engine::Model;
use wasmodel_oip::{Request, Service};

static MODELS: LazyLock<[(Model, &str); 2]> = LazyLock::new(|| {
    let load = |bytes: &[u8], name| Model::load(bytes, name, "1").expect("a test model");
    [
        (
            load(include_bytes!("../../models/dtypes.onnx"), "dtypes"),
            "dtypes",
        ),
        (
            load(
                include_bytes!("../../models/zoo/columns_onehot_logreg.onnx"),
                "columns",
            ),
            "columns",
        ),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (model, name) = &MODELS[usize::from(selector & 1)];
    let service = Service::new(model).max_body(1 << 20);
    let infer = format!("/v2/models/{name}/infer");
    let length;
    let (method, path, headers, body): (&str, &str, Vec<(&str, &str)>, &[u8]) =
        match (selector >> 1) & 3 {
            0 => (
                "POST",
                &infer,
                vec![("content-type", "application/json")],
                rest,
            ),
            1 => {
                let (len, body) = match rest {
                    [a, b, body @ ..] => (u16::from_le_bytes([*a, *b]), body),
                    _ => return,
                };
                length = len.to_string();
                let headers = vec![
                    ("content-type", "application/octet-stream"),
                    ("inference-header-content-length", length.as_str()),
                ];
                ("POST", &infer, headers, body)
            }
            2 => (
                "POST",
                "/predict",
                vec![("content-type", "application/json")],
                rest,
            ),
            _ => match std::str::from_utf8(rest) {
                Ok(path) => ("GET", path, Vec::new(), &[][..]),
                Err(_) => return,
            },
        };
    let response = service.handle(&Request {
        method,
        path,
        headers: &headers,
        body,
    });
    // 500 is for our own faults only: bad input must get a 4xx naming it.
    assert!(
        (200..500).contains(&response.status),
        "{}: {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
});
