//! The WordPiece model: a word split into the longest pieces of the
//! vocabulary, left to right, pieces after the first with their prefix
//! (`##`). A word that cannot be split that way, or longer than
//! `max_input_chars_per_word`, is the unknown token, whole.

use std::collections::HashMap;

use serde_json::Value;

use crate::Error;
use crate::config::{field, kind};

#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk_id: u32,
    prefix: String,
    max_chars: usize,
}

impl WordPiece {
    pub(crate) fn from_config(value: &Value) -> Result<WordPiece, Error> {
        match kind(value) {
            "WordPiece" => {}
            other => {
                return Err(Error::Unsupported {
                    stage: "model",
                    kind: other.to_owned(),
                });
            }
        }
        let vocab: HashMap<String, u32> = field(value, "vocab", HashMap::new())?;
        let unk: String = field(value, "unk_token", "[UNK]".to_owned())?;
        let unk_id = *vocab.get(&unk).ok_or_else(|| {
            Error::Invalid(format!(
                "the WordPiece vocabulary lacks its unknown token `{unk}`"
            ))
        })?;
        Ok(WordPiece {
            vocab,
            unk_id,
            prefix: field(value, "continuing_subword_prefix", "##".to_owned())?,
            max_chars: field(value, "max_input_chars_per_word", 100)?,
        })
    }

    /// Appends the ids of `word`'s pieces to `ids`.
    pub fn tokenize(&self, word: &str, ids: &mut Vec<u32>) {
        if word.chars().count() > self.max_chars {
            ids.push(self.unk_id);
            return;
        }
        let before = ids.len();
        let mut candidate = String::with_capacity(self.prefix.len() + word.len());
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    break Some(id);
                }
                // One character shorter.
                match word[start..end].char_indices().next_back() {
                    Some((last, _)) if last > 0 => end = start + last,
                    _ => break None,
                }
            };
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    ids.truncate(before);
                    ids.push(self.unk_id);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> WordPiece {
        WordPiece::from_config(&serde_json::json!({
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 8,
            "vocab": {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "a": 4, "##ff": 5}
        }))
        .unwrap()
    }

    fn ids(word: &str) -> Vec<u32> {
        let mut ids = vec![];
        model().tokenize(word, &mut ids);
        ids
    }

    #[test]
    fn longest_pieces_first_and_unknown_whole() {
        assert_eq!(ids("unaffable"), [0], "longer than 8 characters");
        assert_eq!(ids("unaff"), [1, 2]);
        assert_eq!(ids("aff"), [4, 5]);
        assert_eq!(ids("unx"), [0]);
        assert_eq!(ids("é"), [0]);
    }

    #[test]
    fn other_models_are_named() {
        let e = WordPiece::from_config(&serde_json::json!({"type": "BPE"})).unwrap_err();
        assert!(e.to_string().contains("model is `BPE`"), "{e}");
    }
}
