//! A user's own Spin HTTP app that uses a model component. Its API is its
//! own, not the Open Inference Protocol:
//!
//! ```text
//! POST /iris   {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
//!           -> {"species": "setosa", "probability": 0.9, "model": "iris 1 sha256:..."}
//! ```
//!
//! The model is not in this crate: `predict` is the component's
//! `wasmodel:model/predictor` import (the `model-user` world of
//! `wit/wasmodel.wit`, the one WIT file), which Spin wires to a model
//! component from `wasmodel build` (`[component.app.dependencies]` in this
//! directory's spin.toml), or which `wac plug` fills to make one
//! component that any `wasi:http/proxy` host runs.

use serde::Deserialize;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "model-user" });
}

use bindings::wasmodel::model::predictor::{self, PredictError, Tensor, TensorData};

const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// The request body of `POST /iris`, in centimetres.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flower {
    sepal_length: f32,
    sepal_width: f32,
    petal_length: f32,
    petal_width: f32,
}

#[http_component]
fn handle(request: Request) -> Response {
    match (request.method(), request.path()) {
        (Method::Post, "/iris") => match serde_json::from_slice::<Flower>(request.body()) {
            Ok(flower) => classify(&flower),
            Err(e) => answer(
                400,
                serde_json::json!({ "error": format!("bad flower: {e}") }),
            ),
        },
        (_, "/iris") => answer(
            405,
            serde_json::json!({ "error": "POST a flower to /iris" }),
        ),
        _ => answer(404, serde_json::json!({ "error": "not found: POST /iris" })),
    }
}

fn classify(flower: &Flower) -> Response {
    let features = vec![
        flower.sepal_length,
        flower.sepal_width,
        flower.petal_length,
        flower.petal_width,
    ];
    let inputs = [Tensor {
        name: "features".into(),
        shape: vec![1, 4],
        data: TensorData::F32(features),
    }];
    let outputs = match predictor::predict(&inputs) {
        Ok(outputs) => outputs,
        Err(PredictError::InvalidInput(e)) => {
            return answer(
                400,
                serde_json::json!({ "error": format!("{}: expected {}, got {}", e.input, e.expected, e.got) }),
            );
        }
        Err(PredictError::Unsupported(why) | PredictError::Internal(why)) => {
            return answer(500, serde_json::json!({ "error": why }));
        }
    };
    let label = outputs.iter().find_map(|t| match (&*t.name, &t.data) {
        ("label", TensorData::I64(labels)) => labels.first().copied(),
        _ => None,
    });
    let probability = label.and_then(|label| {
        outputs.iter().find_map(|t| match (&*t.name, &t.data) {
            ("probabilities", TensorData::F32(p)) => {
                usize::try_from(label).ok().and_then(|i| p.get(i).copied())
            }
            _ => None,
        })
    });
    let species = label
        .and_then(|l| usize::try_from(l).ok())
        .and_then(|l| SPECIES.get(l));
    match (species, probability) {
        (Some(species), Some(probability)) => {
            let info = predictor::metadata();
            answer(
                200,
                serde_json::json!({
                    "species": species,
                    "probability": probability,
                    "model": format!("{} {} {}", info.name, info.version, info.digest),
                }),
            )
        }
        _ => answer(
            500,
            serde_json::json!({ "error": "the model gave no iris label" }),
        ),
    }
}

fn answer(status: u16, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
