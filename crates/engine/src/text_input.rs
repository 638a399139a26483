//! A model that takes text: a Hugging Face tokenizer in front of a
//! transformer's token-id inputs (`wasmodel build --tokenizer
//! tokenizer.json`).
//!
//! The tokenizer is read when the model loads, which for a component is at
//! build time, inside its pre-initialization: a fresh instance tokenizes
//! at once. The model then declares one input in place of its own, `text`,
//! a string tensor of shape `[batch]`. Each call encodes every text as the
//! file says (normalizer, pre-tokenizer, model, post-processor,
//! truncation; `wasmodel-tokenizer`), pads them into one batch and fills the
//! model's inputs by name:
//! - `input_ids`: the token ids;
//! - `attention_mask`: 1 for a token, 0 for padding;
//! - `token_type_ids`, where the model has it: each token's segment.
//!
//! A batch is padded to the model's sequence length where the model fixes
//! it, else to the call's longest text, whatever length the file pads to
//! (as sentence-transformers and the `tokenizers` package's batch padding
//! do): padding is masked out, and a short text then costs what it is.
//! Texts are truncated as the file says, and never past a fixed sequence
//! length.

use wasmodel_tokenizer::{Encoding, Tokenizer};

use crate::error::{LoadError, PredictError};
use crate::types::{Dimension, ElementType, Tensor, TensorData, TensorInfo};
use crate::validate;

/// The name of the input a model built with a tokenizer declares.
pub const TEXT_INPUT: &str = "text";

/// What the tokenizer fills one of the model's inputs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Ids,
    AttentionMask,
    TypeIds,
}

impl Role {
    fn of(name: &str) -> Option<Role> {
        match name {
            "input_ids" => Some(Role::Ids),
            "attention_mask" => Some(Role::AttentionMask),
            "token_type_ids" => Some(Role::TypeIds),
            _ => None,
        }
    }

    fn values(self, encoding: &Encoding) -> &[u32] {
        match self {
            Role::Ids => &encoding.ids,
            Role::AttentionMask => &encoding.attention_mask,
            Role::TypeIds => &encoding.type_ids,
        }
    }
}

/// A tokenizer, and how its encodings become the model's inputs.
#[derive(Debug, Clone)]
pub(crate) struct TextInput {
    tokenizer: Tokenizer,
    /// The model's own inputs, in declared order.
    model_inputs: Vec<TensorInfo>,
    /// What fills each of `model_inputs`.
    roles: Vec<Role>,
    /// The sequence length the model fixes, if it does.
    fixed_length: Option<usize>,
    /// The input declared in place of the model's: `text`.
    declared: [TensorInfo; 1],
}

impl TextInput {
    /// Reads a `tokenizer.json` and matches the model's inputs (as the
    /// model declares them) to what it makes, refusing a model with an
    /// input a tokenizer does not fill.
    pub(crate) fn new(json: &str, model_inputs: &[TensorInfo]) -> Result<TextInput, LoadError> {
        let mut tokenizer = Tokenizer::from_json(json.as_bytes())
            .map_err(|e| LoadError::Tokenizer(e.to_string()))?;
        let refuse = |why: String| Err(LoadError::Tokenizer(why));
        let mut roles = Vec::with_capacity(model_inputs.len());
        for input in model_inputs {
            let Some(role) = Role::of(&input.name) else {
                return refuse(format!(
                    "the model's input `{}` is not one a tokenizer fills \
                     (input_ids, attention_mask, token_type_ids)",
                    input.name
                ));
            };
            if !matches!(input.element_type, ElementType::I64 | ElementType::I32) {
                return refuse(format!(
                    "the model's input `{}` is {}; token ids are i64 or i32",
                    input.name, input.element_type
                ));
            }
            if input.shape.len() != 2 {
                return refuse(format!(
                    "the model's input `{}` has {} dimensions; a tokenizer fills [batch, sequence]",
                    input.name,
                    input.shape.len()
                ));
            }
            roles.push(role);
        }
        let Some(ids) = roles.iter().position(|&r| r == Role::Ids) else {
            return refuse("the model has no input `input_ids` for the token ids".into());
        };
        let batch = model_inputs[ids].shape[0].clone();
        let fixed_length = match model_inputs[ids].shape[1] {
            Dimension::Fixed(n) => Some(n as usize),
            Dimension::Dynamic(_) => None,
        };
        if fixed_length == Some(0) {
            return refuse("the model's input `input_ids` takes sequences of 0 tokens".into());
        }
        if let Some(n) = fixed_length {
            tokenizer.limit_length(n);
        }
        Ok(TextInput {
            tokenizer,
            model_inputs: model_inputs.to_vec(),
            roles,
            fixed_length,
            declared: [TensorInfo {
                name: TEXT_INPUT.to_owned(),
                element_type: ElementType::String,
                shape: vec![batch],
                class_labels: None,
            }],
        })
    }

    /// The input the model declares with the tokenizer in front: `text`.
    pub(crate) fn declared(&self) -> &[TensorInfo] {
        &self.declared
    }

    /// The model's own inputs, which [`TextInput::encode`] gives in order.
    pub(crate) fn model_inputs(&self) -> &[TensorInfo] {
        &self.model_inputs
    }

    /// Checks a call's inputs against `text` and turns its texts into the
    /// model's inputs, in the model's declared order.
    pub(crate) fn encode(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        let text = validate::order_inputs(&self.declared, inputs)
            .map_err(PredictError::InvalidInput)?
            .pop()
            .ok_or_else(|| PredictError::Internal("no text after checking the inputs".into()))?;
        let TensorData::String(texts) = text.data else {
            return Err(PredictError::Internal(
                "`text` is not strings after checking it".into(),
            ));
        };
        let mut encodings: Vec<Encoding> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        // At least one position, so that a batch of texts that make no
        // token at all is still a tensor the model can take.
        let length = self.fixed_length.unwrap_or_else(|| {
            encodings
                .iter()
                .map(|e| e.ids.len())
                .max()
                .unwrap_or(0)
                .max(1)
        });
        self.tokenizer.pad_to(&mut encodings, length);
        let rows = encodings.len();
        let shape = vec![
            u32::try_from(rows).map_err(|_| too_many("texts", rows))?,
            u32::try_from(length).map_err(|_| too_many("tokens", length))?,
        ];
        Ok(self
            .model_inputs
            .iter()
            .zip(&self.roles)
            .map(|(info, &role)| {
                let values = encodings
                    .iter()
                    .flat_map(|e| role.values(e).iter().copied());
                let data = match info.element_type {
                    ElementType::I32 => {
                        TensorData::I32(values.map(|v| v.min(i32::MAX as u32) as i32).collect())
                    }
                    _ => TensorData::I64(values.map(i64::from).collect()),
                };
                Tensor::new(info.name.clone(), shape.clone(), data)
            })
            .collect())
    }
}

fn too_many(what: &str, count: usize) -> PredictError {
    PredictError::Internal(format!("{count} {what} do not fit in a tensor dimension"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InputErrorKind;

    const BERT: &str = include_str!("../../../tests/fixtures/tokenizers/bert_uncased.json");

    fn input(name: &str, element_type: ElementType, shape: Vec<Dimension>) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            element_type,
            shape,
            class_labels: None,
        }
    }

    fn dims(sequence: Option<u32>) -> Vec<Dimension> {
        vec![
            Dimension::Dynamic("batch".into()),
            sequence.map_or(Dimension::Dynamic("sequence".into()), Dimension::Fixed),
        ]
    }

    fn texts(texts: &[&str]) -> Vec<Tensor> {
        let data = texts.iter().map(|t| (*t).to_owned()).collect();
        vec![Tensor::new(
            TEXT_INPUT,
            vec![texts.len() as u32],
            TensorData::String(data),
        )]
    }

    #[test]
    fn texts_fill_the_inputs_the_model_has_padded_to_the_longest() {
        let model = [
            input("attention_mask", ElementType::I64, dims(None)),
            input("input_ids", ElementType::I32, dims(None)),
        ];
        let text = TextInput::new(BERT, &model).unwrap();
        assert_eq!(
            text.declared()[0].shape,
            vec![Dimension::Dynamic("batch".into())]
        );
        let tokens = text.encode(texts(&["hello", "hello world hello"])).unwrap();
        assert_eq!(
            tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["attention_mask", "input_ids"]
        );
        let tokenizer = Tokenizer::from_json(BERT.as_bytes()).unwrap();
        let long = tokenizer.encode("hello world hello");
        let length = long.ids.len() as u32;
        assert_eq!(tokens[1].shape, vec![2, length]);
        let TensorData::I32(ids) = &tokens[1].data else {
            panic!("input_ids is not i32: {:?}", tokens[1].data)
        };
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        assert_eq!(ids[length as usize..], long.ids[..]);
        let TensorData::I64(mask) = &tokens[0].data else {
            panic!("attention_mask is not i64")
        };
        let short = tokenizer.encode("hello").ids.len();
        assert_eq!(mask.iter().take(length as usize).sum::<i64>(), short as i64);
    }

    #[test]
    fn a_fixed_sequence_length_pads_and_truncates_to_it() {
        let model = [input("input_ids", ElementType::I64, dims(Some(4)))];
        let text = TextInput::new(BERT, &model).unwrap();
        for given in ["", "hello world and more words than four"] {
            let tokens = text.encode(texts(&[given])).unwrap();
            assert_eq!(tokens[0].shape, vec![1, 4], "{given:?}");
        }
    }

    #[test]
    fn a_model_a_tokenizer_cannot_fill_is_refused_by_input() {
        for (model, why) in [
            (
                vec![input("pixel_values", ElementType::F32, dims(None))],
                "`pixel_values` is not one a tokenizer fills",
            ),
            (
                vec![input("input_ids", ElementType::F32, dims(None))],
                "`input_ids` is f32",
            ),
            (
                vec![input("attention_mask", ElementType::I64, dims(None))],
                "no input `input_ids`",
            ),
            (
                vec![input(
                    "input_ids",
                    ElementType::I64,
                    dims(None)[..1].to_vec(),
                )],
                "has 1 dimensions",
            ),
        ] {
            let e = TextInput::new(BERT, &model).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let e = TextInput::new("{}", &[]).unwrap_err().to_string();
        assert!(e.starts_with("--tokenizer: not a tokenizer.json"), "{e}");
    }

    #[test]
    fn what_is_not_text_is_an_input_error() {
        let model = [input("input_ids", ElementType::I64, dims(None))];
        let text = TextInput::new(BERT, &model).unwrap();
        let ids = vec![Tensor::new("text", vec![1], TensorData::I64(vec![1]))];
        let e = text.encode(ids).unwrap_err();
        assert!(
            matches!(&e, PredictError::InvalidInput(i) if i.kind == InputErrorKind::ElementType),
            "{e:?}"
        );
        let e = text.encode(Vec::new()).unwrap_err();
        assert!(
            matches!(&e, PredictError::InvalidInput(i) if i.kind == InputErrorKind::Missing && i.input == "text"),
            "{e:?}"
        );
    }
}
