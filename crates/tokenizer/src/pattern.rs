//! Patterns: what the `Replace` normalizer and the `Split` pre-tokenizer
//! look for in a text, a literal string or a regular expression.
//!
//! `tokenizers` runs its regular expressions with Oniguruma, or with
//! `fancy-regex` where it is built for WebAssembly; this crate always uses
//! `fancy-regex`. The expressions tokenizer files carry (GPT-4's, Llama 3's
//! and Qwen's word splitters, with their `(?i:...)`, `\p{L}`, `\p{N}` and
//! the lookahead `\s+(?!\S)`; SentencePiece's ` {2,}`) mean the same to
//! both.

use fancy_regex::Regex;
use serde_json::Value;

use crate::Error;

/// A `pattern` field: `{"String": "..."}` or `{"Regex": "..."}`.
#[derive(Debug, Clone)]
pub enum Pattern {
    Literal(String),
    Regex(Regex),
}

/// Two patterns are the same if they are written the same.
impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        match (self, other) {
            (Pattern::Literal(a), Pattern::Literal(b)) => a == b,
            (Pattern::Regex(a), Pattern::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for Pattern {}

impl Pattern {
    /// Reads the `pattern` field of a stage (`owner` names it in errors).
    pub(crate) fn from_config(value: &Value, owner: &str) -> Result<Pattern, Error> {
        let invalid = |why: String| Error::Invalid(format!("the pattern of a `{owner}`: {why}"));
        let pattern = value
            .get("pattern")
            .and_then(Value::as_object)
            .filter(|p| p.len() == 1)
            .ok_or_else(|| invalid("not `{\"String\": ...}` or `{\"Regex\": ...}`".into()))?;
        let (how, text) = pattern.iter().next().expect("one entry");
        let text = text
            .as_str()
            .ok_or_else(|| invalid(format!("its `{how}` is not a string")))?;
        match how.as_str() {
            "String" => Ok(Pattern::Literal(text.to_owned())),
            "Regex" => Regex::new(text)
                .map(Pattern::Regex)
                .map_err(|e| invalid(format!("`{text}` is not a regular expression: {e}"))),
            other => Err(invalid(format!(
                "`{other}` is neither `String` nor `Regex`"
            ))),
        }
    }

    /// `text` cut into pieces that cover it in order, each marked `true`
    /// where the pattern matches it, as `tokenizers` cuts it: the matches,
    /// leftmost first and not overlapping, and the stretches between them.
    /// An empty text is one empty stretch that does not match.
    pub fn pieces(&self, text: &str) -> Vec<(std::ops::Range<usize>, bool)> {
        if text.is_empty() {
            return vec![(0..0, false)];
        }
        let mut pieces = Vec::new();
        let mut previous = 0;
        let mut matched = |start: usize, end: usize| {
            if start != previous {
                pieces.push((previous..start, false));
            }
            pieces.push((start..end, true));
            previous = end;
        };
        match self {
            // An empty literal matches nowhere.
            Pattern::Literal(literal) if literal.is_empty() => {}
            Pattern::Literal(literal) => {
                for (start, m) in text.match_indices(literal.as_str()) {
                    matched(start, start + m.len());
                }
            }
            // A match the engine gives up on (past its backtracking limit,
            // which no expression of a tokenizer file comes near) ends the
            // search: the rest of the text is one stretch that does not
            // match.
            Pattern::Regex(regex) => {
                for m in regex.find_iter(text).map_while(Result::ok) {
                    matched(m.start(), m.end());
                }
            }
        }
        if previous != text.len() {
            pieces.push((previous..text.len(), false));
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(json: Value) -> Pattern {
        Pattern::from_config(&serde_json::json!({ "pattern": json }), "Split").unwrap()
    }

    #[test]
    fn pieces_cover_the_text_and_mark_the_matches() {
        let spaces = pattern(serde_json::json!({"Regex": " {2,}"}));
        assert_eq!(
            spaces.pieces("a  b c   "),
            [(0..1, false), (1..3, true), (3..6, false), (6..9, true)]
        );
        assert_eq!(spaces.pieces(""), [(0..0, false)]);
        let dash = pattern(serde_json::json!({"String": "-"}));
        assert_eq!(
            dash.pieces("-a-"),
            [(0..1, true), (1..2, false), (2..3, true)]
        );
    }

    #[test]
    fn lookahead_as_the_word_splitters_use_it() {
        let words = pattern(serde_json::json!({"Regex": " ?\\S+|\\s+(?!\\S)|\\s+"}));
        let pieces: Vec<_> = words.pieces("a   b").into_iter().map(|p| p.0).collect();
        // The spaces before a word leave it the last one.
        assert_eq!(pieces, [0..1, 1..3, 3..5]);
    }

    #[test]
    fn a_bad_pattern_is_refused_by_name() {
        let e = Pattern::from_config(&serde_json::json!({"pattern": {"Regex": "("}}), "Split")
            .unwrap_err();
        assert!(e.to_string().contains("the pattern of a `Split`"), "{e}");
        let e = Pattern::from_config(&serde_json::json!({"pattern": {"Glob": "*"}}), "Replace")
            .unwrap_err();
        assert!(e.to_string().contains("`Glob`"), "{e}");
    }
}
