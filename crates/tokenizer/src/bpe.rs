//! The BPE model (GPT-2, RoBERTa and their families): a word starts as its
//! characters, and the vocabulary's merges join neighbours, the pair of
//! lowest rank first and the leftmost among equals, until none applies.
//! Merges are applied through a heap of candidate pairs, so a long word
//! costs O(n log n), not O(n²).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::config::field;

#[derive(Debug, Clone)]
pub struct Bpe {
    vocab: HashMap<String, u32>,
    /// (left id, right id) → (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    unk_id: Option<u32>,
    fuse_unk: bool,
    /// A character the vocabulary lacks is its UTF-8 bytes' tokens
    /// (`<0x41>`), where the vocabulary has all of them (Llama 2's,
    /// Mistral's and Gemma's files).
    byte_fallback: Option<Box<[Option<u32>; 256]>>,
    /// A word the vocabulary holds whole is that token, merges unapplied.
    ignore_merges: bool,
}

/// A merge as written: `"a b"` (older files) or `["a", "b"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(String, String),
}

impl Bpe {
    pub(crate) fn from_config(value: &Value) -> Result<Bpe, Error> {
        let refuse = |what: &str| Error::Unsupported {
            stage: "model",
            kind: format!("BPE with {what}"),
        };
        if !field::<Value>(value, "dropout", Value::Null)?.is_null() {
            // Random merges skipped: not the same ids twice.
            return Err(refuse("dropout"));
        }
        for affix in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if field::<Option<String>>(value, affix, None)?.is_some_and(|a| !a.is_empty()) {
                return Err(refuse(affix));
            }
        }
        let vocab: HashMap<String, u32> = field(value, "vocab", HashMap::new())?;
        let id_of = |token: &str| {
            vocab.get(token).copied().ok_or_else(|| {
                Error::Invalid(format!(
                    "a BPE merge makes `{token}`, not in the vocabulary"
                ))
            })
        };
        let written: Vec<Merge> = field(value, "merges", Vec::new())?;
        let mut merges = HashMap::with_capacity(written.len());
        for (rank, merge) in written.into_iter().enumerate() {
            let (left, right) = match merge {
                Merge::Pair(l, r) => (l, r),
                Merge::Joined(joined) => match joined.split_once(' ') {
                    Some((l, r)) => (l.to_owned(), r.to_owned()),
                    None => return Err(Error::Invalid(format!("the BPE merge `{joined}`"))),
                },
            };
            let merged = id_of(&format!("{left}{right}"))?;
            let rank = u32::try_from(rank).map_err(|_| Error::Invalid("too many merges".into()))?;
            merges
                .entry((id_of(&left)?, id_of(&right)?))
                .or_insert((rank, merged));
        }
        let unk_id = match field::<Option<String>>(value, "unk_token", None)? {
            Some(unk) => Some(id_of(&unk)?),
            None => None,
        };
        let byte_fallback = field(value, "byte_fallback", false)?.then(|| {
            Box::new(std::array::from_fn(|b| {
                vocab.get(&format!("<0x{b:02X}>")).copied()
            }))
        });
        Ok(Bpe {
            vocab,
            merges,
            unk_id,
            fuse_unk: field(value, "fuse_unk", false)?,
            byte_fallback,
            ignore_merges: field(value, "ignore_merges", false)?,
        })
    }

    /// Appends the ids of `word`'s tokens to `ids`.
    pub fn tokenize(&self, word: &str, ids: &mut Vec<u32>) {
        if self.ignore_merges
            && let Some(&id) = self.vocab.get(word)
        {
            ids.push(id);
            return;
        }
        // The word's characters, each a symbol; one the vocabulary lacks is
        // its bytes' tokens (with byte fallback, if it has them all), or the
        // unknown token, or dropped when there is none. As in `tokenizers`,
        // an unknown token waits until a known character comes (or the
        // word ends), so that the next unknown one can be fused with it;
        // bytes' tokens do not end the wait.
        let mut symbols: Vec<u32> = Vec::with_capacity(word.len());
        let mut unknown = false;
        let mut buffer = [0u8; 4];
        for c in word.chars() {
            let c = c.encode_utf8(&mut buffer) as &str;
            if let Some(&id) = self.vocab.get(c) {
                if std::mem::take(&mut unknown) {
                    symbols.extend(self.unk_id);
                }
                symbols.push(id);
                continue;
            }
            if let Some(bytes) = &self.byte_fallback
                && c.bytes().all(|b| bytes[b as usize].is_some())
            {
                symbols.extend(c.bytes().filter_map(|b| bytes[b as usize]));
                continue;
            }
            if self.unk_id.is_some() {
                if unknown && !self.fuse_unk {
                    symbols.extend(self.unk_id);
                }
                unknown = true;
            }
        }
        if unknown {
            symbols.extend(self.unk_id);
        }
        self.merge(&mut symbols);
        ids.extend(symbols);
    }

    fn merge(&self, symbols: &mut Vec<u32>) {
        let n = symbols.len();
        if n < 2 {
            return;
        }
        // A doubly linked list over the symbols; a merged-away symbol is
        // marked dead.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        // (rank, position, left id, right id): popped lowest rank first,
        // then leftmost; stale entries are checked and skipped.
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, symbols: &[u32], i: usize, j: usize| {
            if let Some(&(rank, _)) = self.merges.get(&(symbols[i], symbols[j])) {
                heap.push(Reverse((rank, i, symbols[i], symbols[j])));
            }
        };
        for i in 0..n - 1 {
            push(&mut heap, symbols, i, i + 1);
        }
        while let Some(Reverse((_, i, left, right))) = heap.pop() {
            let j = next[i];
            if !alive[i] || j >= n || symbols[i] != left || symbols[j] != right {
                continue;
            }
            symbols[i] = self.merges[&(left, right)].1;
            alive[j] = false;
            next[i] = next[j];
            if next[i] < n {
                prev[next[i]] = i;
                push(&mut heap, symbols, i, next[i]);
            }
            if prev[i] < n {
                push(&mut heap, symbols, prev[i], i);
            }
        }
        let mut kept = 0;
        for i in 0..n {
            if alive[i] {
                symbols[kept] = symbols[i];
                kept += 1;
            }
        }
        symbols.truncate(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Bpe {
        Bpe::from_config(&serde_json::json!({
            "type": "BPE",
            "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "aa": 6},
            "merges": [["b", "c"], "a b", ["a", "bc"], ["a", "a"]]
        }))
        .unwrap()
    }

    fn ids(word: &str) -> Vec<u32> {
        let mut ids = vec![];
        model().tokenize(word, &mut ids);
        ids
    }

    #[test]
    fn lowest_rank_first_then_leftmost() {
        assert_eq!(ids("abc"), [5], "b+c, then a+bc");
        assert_eq!(ids("ab"), [3]);
        assert_eq!(ids("aaa"), [6, 0], "the leftmost pair of equals first");
        assert_eq!(ids("xab"), [3], "no unknown token: dropped");
        assert_eq!(ids(""), Vec::<u32>::new());
    }

    #[test]
    fn a_long_word_is_merged_in_n_log_n() {
        let word = "ab".repeat(200_000);
        let mut out = vec![];
        model().tokenize(&word, &mut out);
        assert_eq!(out.len(), 200_000);
    }

    #[test]
    fn an_unknown_character_is_its_bytes_or_the_unknown_token() {
        let model = |byte_fallback: bool, fuse_unk: bool| {
            Bpe::from_config(&serde_json::json!({
                "type": "BPE",
                "vocab": {"<unk>": 0, "a": 1, "<0xC3>": 2, "<0xA9>": 3, "<0xE2>": 4},
                "merges": [],
                "unk_token": "<unk>", "byte_fallback": byte_fallback, "fuse_unk": fuse_unk
            }))
            .unwrap()
        };
        let ids = |m: &Bpe, word: &str| {
            let mut ids = vec![];
            m.tokenize(word, &mut ids);
            ids
        };
        // é is C3 A9: both there. € (E2 82 AC) lacks two: unknown.
        assert_eq!(ids(&model(true, false), "aéa"), [1, 2, 3, 1]);
        assert_eq!(ids(&model(true, false), "a€€a"), [1, 0, 0, 1]);
        assert_eq!(ids(&model(true, true), "a€€a"), [1, 0, 1]);
        // The unknown token waits past bytes' tokens, as in `tokenizers`.
        assert_eq!(ids(&model(true, true), "€é€"), [2, 3, 0]);
        assert_eq!(ids(&model(false, true), "aé€"), [1, 0]);
    }

    #[test]
    fn what_it_cannot_reproduce_is_named() {
        let e = Bpe::from_config(&serde_json::json!({"type": "BPE", "dropout": 0.1})).unwrap_err();
        assert!(e.to_string().contains("BPE with dropout"), "{e}");
    }
}
