//! The Unigram model (SentencePiece's, as T5, ALBERT, XLM-RoBERTa and the
//! multilingual encoders use it): each piece of the vocabulary has a
//! log-probability, and a word is split into the pieces whose scores add
//! up highest (Viterbi, over the byte positions of the word). A character
//! no piece starts with is the unknown token, scored 10 below the lowest
//! piece, and unknown characters in a row are one unknown token.
//!
//! Ties go as in `tokenizers`: of the splits that reach a position with the
//! same score, the one found first (from the earliest start, then the
//! shortest piece) is kept.

use std::collections::HashMap;

use serde_json::Value;

use crate::Error;
use crate::config::field;

/// What the unknown token scores below the lowest piece.
const UNKNOWN_PENALTY: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct Unigram {
    pieces: HashMap<String, (u32, f64)>,
    /// The longest piece, in bytes: no longer prefix needs looking up.
    longest: usize,
    unk_id: u32,
    unk_score: f64,
}

impl Unigram {
    pub(crate) fn from_config(value: &Value) -> Result<Unigram, Error> {
        if field(value, "byte_fallback", false)? {
            return Err(Error::Unsupported {
                stage: "model",
                kind: "Unigram with byte_fallback".into(),
            });
        }
        let vocab: Vec<(String, f64)> = field(value, "vocab", Vec::new())?;
        let unk_id: Option<u32> = field(value, "unk_id", None)?;
        let unk_id = unk_id
            .filter(|&id| (id as usize) < vocab.len())
            .ok_or_else(|| Error::Invalid("a Unigram model without its unk_id".into()))?;
        let lowest = vocab.iter().map(|(_, s)| *s).fold(f64::INFINITY, f64::min);
        let mut pieces = HashMap::with_capacity(vocab.len());
        let mut longest = 0;
        for (id, (piece, score)) in vocab.into_iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| Error::Invalid("too many pieces".into()))?;
            longest = longest.max(piece.len());
            // Of two equal pieces, the last is the one looked up (as in
            // `tokenizers`).
            pieces.insert(piece, (id, score));
        }
        Ok(Unigram {
            pieces,
            longest,
            unk_id,
            unk_score: lowest - UNKNOWN_PENALTY,
        })
    }

    /// Appends the ids of `word`'s best split to `ids`.
    pub fn tokenize(&self, word: &str, ids: &mut Vec<u32>) {
        let n = word.len();
        if n == 0 {
            return;
        }
        // For each byte position: the best score reaching it, where the
        // piece ending there starts, and that piece's id.
        let mut best: Vec<Option<(f64, usize, u32)>> = vec![None; n + 1];
        let mut reached = 0.0;
        let mut start = 0;
        while start < n {
            if start > 0 {
                reached = best[start].map_or(f64::NEG_INFINITY, |b| b.0);
            }
            let first_char = word[start..].chars().next().map_or(1, char::len_utf8);
            let mut has_single = false;
            let mut consider = |end: usize, score: f64, id: u32| {
                let candidate = reached + score;
                if best[end].is_none_or(|b| candidate > b.0) {
                    best[end] = Some((candidate, start, id));
                }
            };
            for (offset, _) in word[start..]
                .char_indices()
                .skip(1)
                .chain(std::iter::once((n - start, ' ')))
            {
                if offset > self.longest {
                    break;
                }
                if let Some(&(id, score)) = self.pieces.get(&word[start..start + offset]) {
                    consider(start + offset, score, id);
                    has_single |= offset == first_char;
                }
            }
            if !has_single {
                consider(start + first_char, self.unk_score, self.unk_id);
            }
            start += first_char;
        }
        // Back from the end; unknown pieces in a row are one token, looked
        // up whole (it is the unknown token unless the vocabulary has it).
        let mut split: Vec<(usize, usize, u32)> = Vec::new();
        let mut end = n;
        while end > 0 {
            let Some((_, start, id)) = best[end] else {
                // Not reached: every character has a way in.
                break;
            };
            match split.last_mut() {
                Some(last) if id == self.unk_id && last.2 == self.unk_id && last.0 == end => {
                    last.0 = start;
                }
                _ => split.push((start, end, id)),
            }
            end = start;
        }
        for &(start, end, id) in split.iter().rev() {
            if id == self.unk_id {
                let whole = self.pieces.get(&word[start..end]).map_or(id, |p| p.0);
                ids.push(whole);
            } else {
                ids.push(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Unigram {
        Unigram::from_config(&serde_json::json!({
            "type": "Unigram",
            "unk_id": 0,
            "vocab": [["<unk>", 0.0], ["▁a", -1.0], ["b", -2.0], ["▁ab", -2.5], ["a", -3.0],
                      ["▁", -1.5]]
        }))
        .unwrap()
    }

    fn ids(word: &str) -> Vec<u32> {
        let mut ids = vec![];
        model().tokenize(word, &mut ids);
        ids
    }

    #[test]
    fn the_best_scoring_split_wins() {
        assert_eq!(ids("▁ab"), [3], "-2.5 beats ▁a + b at -3");
        assert_eq!(ids("▁aab"), [1, 4, 2]);
        assert_eq!(
            ids("▁xyb"),
            [5, 0, 2],
            "unknown characters in a row are one token"
        );
        assert_eq!(ids(""), Vec::<u32>::new());
    }
}
