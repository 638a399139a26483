//! Sentence-transformers pooling added to an encoder that ends at its
//! token states (`wasmodel build --pooling mean|cls [--normalize]`), as
//! nodes of the ONNX graph before tract sees it, so tract plans and
//! optimizes them with the rest.
//!
//! Exports of transformer encoders (optimum's feature extraction, PyTorch's
//! exporter on `BertModel`) end at `last_hidden_state` [batch, tokens,
//! hidden]; a sentence embedding is a pooling of it, which
//! sentence-transformers computes outside the model. Here the graph's
//! outputs become one, `sentence_embedding` [batch, hidden]:
//! - `mean`: the mean of the token states where `attention_mask` is 1
//!   (padding left out), the count kept at least 1e-9, as
//!   sentence-transformers' `Pooling` does;
//! - `cls`: the first token's state;
//! - with `normalize`, divided by its Euclidean norm (at least 1e-12, as
//!   PyTorch's `normalize` does), so that a dot product is the cosine.
//!
//! Sums are matrix products (a mask row times the states), which every
//! opset writes the same way: `ReduceSum` moved its axes from an attribute
//! to an input at opset 13.

use tract_onnx::pb::{GraphProto, ModelProto, ValueInfoProto, tensor_proto::DataType, type_proto};

use crate::error::LoadError;
use crate::proto::{self, int_attr};

/// The output a pooled model has in place of its own.
pub const SENTENCE_EMBEDDING: &str = "sentence_embedding";

/// How token states become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingKind {
    /// The mean of the unmasked tokens' states.
    Mean,
    /// The first token's state.
    Cls,
}

/// A pooling, and whether its result is scaled to unit length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pooling {
    pub kind: PoolingKind,
    pub normalize: bool,
}

impl Pooling {
    /// Reads `mean`, `cls`, `mean normalize` or `cls normalize`.
    pub fn parse(given: &str) -> Option<Pooling> {
        let mut words = given.split_whitespace();
        let kind = match words.next()? {
            "mean" => PoolingKind::Mean,
            "cls" => PoolingKind::Cls,
            _ => return None,
        };
        let normalize = match words.next() {
            None => false,
            Some("normalize") => true,
            Some(_) => return None,
        };
        words
            .next()
            .is_none()
            .then_some(Pooling { kind, normalize })
    }

    /// What [`Pooling::parse`] reads.
    pub fn to_text(self) -> String {
        let kind = match self.kind {
            PoolingKind::Mean => "mean",
            PoolingKind::Cls => "cls",
        };
        match self.normalize {
            true => format!("{kind} normalize"),
            false => kind.to_owned(),
        }
    }
}

/// Adds the pooling to the graph: its one output is then
/// [`SENTENCE_EMBEDDING`].
pub(crate) fn add(proto: &mut ModelProto, pooling: Pooling) -> Result<(), LoadError> {
    let refuse = |why: String| Err(LoadError::Options(format!("--pooling: {why}")));
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(());
    };
    let states = match token_states(graph) {
        Ok(name) => name,
        Err(why) => return refuse(why),
    };
    let has_mask = graph
        .input
        .iter()
        .any(|i| i.name == "attention_mask" && !graph.initializer.iter().any(|t| t.name == i.name));
    if pooling.kind == PoolingKind::Mean && !has_mask {
        return refuse(
            "mean pooling needs the model's input `attention_mask` to leave padding out".into(),
        );
    }
    let mut nodes =
        proto::Builder::new(&mut graph.node, &mut graph.initializer, "wasmodel_pooling_");
    let row = nodes.constant("row", &[0, 1, -1]);
    let column = nodes.constant("column", &[0, -1, 1]);
    let flat = nodes.constant("flat", &[0, -1]);
    let pooled = match pooling.kind {
        PoolingKind::Mean => {
            let mask = nodes.op(
                "Cast",
                &["attention_mask"],
                vec![int_attr("to", DataType::Float as i64)],
            );
            let mask_row = nodes.op("Reshape", &[&mask, &row], vec![]);
            let mask_column = nodes.op("Reshape", &[&mask, &column], vec![]);
            let summed = nodes.op("MatMul", &[&mask_row, &states], vec![]);
            let count = nodes.op("MatMul", &[&mask_row, &mask_column], vec![]);
            let least = nodes.scalar("least_count", 1e-9);
            let count = nodes.op("Max", &[&count, &least], vec![]);
            let mean = nodes.op("Div", &[&summed, &count], vec![]);
            nodes.op("Reshape", &[&mean, &flat], vec![])
        }
        PoolingKind::Cls => {
            let first = nodes.index("first", 0);
            nodes.op("Gather", &[&states, &first], vec![int_attr("axis", 1)])
        }
    };
    let embedding = if pooling.normalize {
        let as_row = nodes.op("Reshape", &[&pooled, &row], vec![]);
        let as_column = nodes.op("Reshape", &[&pooled, &column], vec![]);
        let squares = nodes.op("MatMul", &[&as_row, &as_column], vec![]);
        let norm = nodes.op("Sqrt", &[&squares], vec![]);
        let least = nodes.scalar("least_norm", 1e-12);
        let norm = nodes.op("Max", &[&norm, &least], vec![]);
        let unit = nodes.op("Div", &[&as_row, &norm], vec![]);
        nodes.op("Reshape", &[&unit, &flat], vec![])
    } else {
        pooled
    };
    nodes.op_into("Identity", &[&embedding], SENTENCE_EMBEDDING, vec![]);
    graph.output = vec![ValueInfoProto {
        name: SENTENCE_EMBEDDING.into(),
        r#type: Some(tract_onnx::pb::TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: None,
            })),
            ..Default::default()
        }),
        ..ValueInfoProto::default()
    }];
    Ok(())
}

/// The graph's token states: `last_hidden_state`, else its one output of
/// three dimensions.
fn token_states(graph: &GraphProto) -> Result<String, String> {
    if graph.output.iter().any(|o| o.name == "last_hidden_state") {
        return Ok("last_hidden_state".into());
    }
    let rank = |o: &ValueInfoProto| match o.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t.shape.as_ref().map(|s| s.dim.len()),
        _ => None,
    };
    let three: Vec<&ValueInfoProto> = graph.output.iter().filter(|o| rank(o) == Some(3)).collect();
    match three.as_slice() {
        [one] => Ok(one.name.clone()),
        _ => {
            let outputs: Vec<String> = graph
                .output
                .iter()
                .map(|o| format!("`{}`", o.name))
                .collect();
            Err(format!(
                "the model has no output `last_hidden_state` nor one other output of shape \
                 [batch, tokens, hidden] to pool (its outputs: {})",
                outputs.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poolings_read_what_they_write() {
        for kind in [PoolingKind::Mean, PoolingKind::Cls] {
            for normalize in [false, true] {
                let pooling = Pooling { kind, normalize };
                assert_eq!(Pooling::parse(&pooling.to_text()), Some(pooling));
            }
        }
        for wrong in ["", "max", "mean normalise", "cls normalize twice"] {
            assert_eq!(Pooling::parse(wrong), None, "{wrong:?}");
        }
    }
}
