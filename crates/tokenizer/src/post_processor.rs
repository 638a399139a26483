//! Post-processors: the model's special tokens around a single text's
//! tokens (`[CLS] ... [SEP]`), and the token type of each position.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{field, kind, steps};
use crate::{Encoding, Error};

/// A single text's template: what goes before and after its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostProcessor {
    /// (id, type id) before the text's tokens.
    before: Vec<(u32, u32)>,
    /// The text's tokens' type id.
    type_id: u32,
    /// (id, type id) after them.
    after: Vec<(u32, u32)>,
}

#[derive(Deserialize)]
enum TemplatePiece {
    SpecialToken { id: String, type_id: u32 },
    Sequence { id: String, type_id: u32 },
}

#[derive(Deserialize)]
struct SpecialToken {
    ids: Vec<u32>,
}

impl PostProcessor {
    pub(crate) fn from_config(value: &Value) -> Result<PostProcessor, Error> {
        match kind(value) {
            "TemplateProcessing" => {
                let single: Vec<TemplatePiece> = field(value, "single", Vec::new())?;
                let specials: HashMap<String, SpecialToken> =
                    field(value, "special_tokens", HashMap::new())?;
                let mut processor = PostProcessor {
                    before: vec![],
                    type_id: 0,
                    after: vec![],
                };
                let mut seen_sequence = false;
                for piece in single {
                    match piece {
                        TemplatePiece::Sequence { id, type_id } => {
                            if seen_sequence || id != "A" {
                                return Err(Error::Invalid(format!(
                                    "a single text's template names the sequence `{id}`"
                                )));
                            }
                            seen_sequence = true;
                            processor.type_id = type_id;
                        }
                        TemplatePiece::SpecialToken { id, type_id } => {
                            let token = specials.get(&id).ok_or_else(|| {
                                Error::Invalid(format!(
                                    "the template's special token `{id}` is not defined"
                                ))
                            })?;
                            let side = if seen_sequence {
                                &mut processor.after
                            } else {
                                &mut processor.before
                            };
                            side.extend(token.ids.iter().map(|&i| (i, type_id)));
                        }
                    }
                }
                Ok(processor)
            }
            // `[CLS] A [SEP]` (BERT) and `<s> A </s>` (RoBERTa), each
            // token given as `[token, id]` (RoBERTa's too are named `cls`
            // and `sep`).
            kind @ ("BertProcessing" | "RobertaProcessing") => {
                let (open, close) = ("cls", "sep");
                let id = |name: &str| -> Result<u32, Error> {
                    let (_, id): (String, u32) = field(value, name, (String::new(), u32::MAX))?;
                    if id == u32::MAX {
                        return Err(Error::Invalid(format!("`{kind}` without `{name}`")));
                    }
                    Ok(id)
                };
                Ok(PostProcessor {
                    before: vec![(id(open)?, 0)],
                    type_id: 0,
                    after: vec![(id(close)?, 0)],
                })
            }
            // Only moves offsets, which are not kept here.
            "ByteLevel" => Ok(PostProcessor::identity()),
            // What recent exports write: `ByteLevel` and one template.
            "Sequence" => {
                let mut chosen = PostProcessor::identity();
                for processor in steps(value, "processors", PostProcessor::from_config)? {
                    if processor != PostProcessor::identity() {
                        if chosen != PostProcessor::identity() {
                            return Err(Error::Unsupported {
                                stage: "post_processor",
                                kind: "Sequence of two templates".into(),
                            });
                        }
                        chosen = processor;
                    }
                }
                Ok(chosen)
            }
            other => Err(Error::Unsupported {
                stage: "post_processor",
                kind: other.to_owned(),
            }),
        }
    }

    /// Adds nothing.
    fn identity() -> PostProcessor {
        PostProcessor {
            before: vec![],
            type_id: 0,
            after: vec![],
        }
    }

    /// How many tokens it adds to a single text.
    pub fn added_tokens(&self) -> usize {
        self.before.len() + self.after.len()
    }

    pub fn process(&self, text: Encoding) -> Encoding {
        let length = text.ids.len() + self.added_tokens();
        let mut out = Encoding {
            ids: Vec::with_capacity(length),
            type_ids: Vec::with_capacity(length),
            attention_mask: vec![1; length],
        };
        for &(id, type_id) in &self.before {
            out.ids.push(id);
            out.type_ids.push(type_id);
        }
        out.ids.extend(&text.ids);
        out.type_ids
            .extend(std::iter::repeat_n(self.type_id, text.ids.len()));
        for &(id, type_id) in &self.after {
            out.ids.push(id);
            out.type_ids.push(type_id);
        }
        out
    }
}
