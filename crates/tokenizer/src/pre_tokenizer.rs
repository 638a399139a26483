//! Pre-tokenizers: a normalized text split into words, each looked up in
//! the vocabulary on its own.

use std::ops::Range;

use serde_json::Value;
use unicode_categories::UnicodeCategories;

use crate::Error;
use crate::config::{field, kind, steps};
use crate::pattern::Pattern;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreTokenizer {
    /// BERT's: split on whitespace (dropped), then each punctuation
    /// character a word of its own.
    Bert,
    /// Split on whitespace only.
    WhitespaceSplit,
    /// GPT-2's: split as its regular expression splits (contractions,
    /// letters, numbers, other symbols, each with the space before them),
    /// then each word's UTF-8 bytes written as characters (see
    /// [`byte_level`](crate::byte_level)).
    ByteLevel {
        /// A space put before a text that does not start with one.
        add_prefix_space: bool,
        /// Split (or only map the bytes).
        use_regex: bool,
    },
    /// SentencePiece's: spaces become the replacement character (`▁`), one
    /// is put before a stretch of text as `prepend` says, and each word
    /// starts at one (if `split`).
    Metaspace {
        replacement: char,
        prepend: PrependScheme,
        split: bool,
    },
    /// Split where `pattern` matches (or, `invert`ed, where it does not),
    /// the matches treated as `behavior` says: what Llama 3's, Qwen's and
    /// GPT-4's files split words with, before a byte-level map.
    Split {
        pattern: Pattern,
        behavior: SplitBehavior,
        invert: bool,
    },
    Sequence(Vec<PreTokenizer>),
}

/// What a `Split` does with the stretches its pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum SplitBehavior {
    /// Dropped.
    Removed,
    /// Words of their own.
    Isolated,
    /// The end of the word before them.
    MergedWithPrevious,
    /// The start of the word after them.
    MergedWithNext,
    /// Consecutive matches one word, consecutive non-matches another.
    Contiguous,
}

/// Where Metaspace puts a replacement character before a stretch of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrependScheme {
    Always,
    Never,
    /// Only where the stretch starts the text (not after an added token).
    First,
}

impl PreTokenizer {
    pub(crate) fn from_config(value: &Value) -> Result<PreTokenizer, Error> {
        Ok(match kind(value) {
            "BertPreTokenizer" => PreTokenizer::Bert,
            "WhitespaceSplit" => PreTokenizer::WhitespaceSplit,
            "ByteLevel" => PreTokenizer::ByteLevel {
                add_prefix_space: field(value, "add_prefix_space", true)?,
                use_regex: field(value, "use_regex", true)?,
            },
            "Metaspace" => {
                let replacement: String = field(value, "replacement", "\u{2581}".to_owned())?;
                let mut chars = replacement.chars();
                let (Some(replacement), None) = (chars.next(), chars.next()) else {
                    return Err(Error::Invalid(format!(
                        "Metaspace's replacement `{replacement}` is not one character"
                    )));
                };
                // Older files say `add_prefix_space` instead.
                let prepend = match field::<Option<String>>(value, "prepend_scheme", None)? {
                    Some(scheme) => match scheme.as_str() {
                        "always" => PrependScheme::Always,
                        "never" => PrependScheme::Never,
                        "first" => PrependScheme::First,
                        other => {
                            return Err(Error::Unsupported {
                                stage: "pre_tokenizer",
                                kind: format!("Metaspace with prepend_scheme {other}"),
                            });
                        }
                    },
                    None if field(value, "add_prefix_space", true)? => PrependScheme::Always,
                    None => PrependScheme::Never,
                };
                PreTokenizer::Metaspace {
                    replacement,
                    prepend,
                    split: field(value, "split", true)?,
                }
            }
            "Split" => PreTokenizer::Split {
                pattern: Pattern::from_config(value, "Split")?,
                behavior: field(value, "behavior", SplitBehavior::Isolated)?,
                invert: field(value, "invert", false)?,
            },
            "Sequence" => {
                let steps = steps(value, "pretokenizers", PreTokenizer::from_config)?;
                // `first` means where the text starts, which a step before
                // it moves (words after the first start elsewhere): not
                // followed.
                if steps.iter().any(PreTokenizer::prepends_first) {
                    return Err(Error::Unsupported {
                        stage: "pre_tokenizer",
                        kind: "Metaspace with prepend_scheme first inside a Sequence".into(),
                    });
                }
                PreTokenizer::Sequence(steps)
            }
            other => {
                return Err(Error::Unsupported {
                    stage: "pre_tokenizer",
                    kind: other.to_owned(),
                });
            }
        })
    }

    /// Whether it is a Metaspace that prepends only where the text starts.
    pub(crate) fn prepends_first(&self) -> bool {
        matches!(
            self,
            PreTokenizer::Metaspace {
                prepend: PrependScheme::First,
                ..
            }
        )
    }

    /// Calls `word` with each word of `text`, in order (never an empty
    /// one). `starts_text`: whether `text` starts the text being encoded
    /// (it is not a stretch after an added token), for Metaspace's `first`.
    pub fn split(&self, text: &str, starts_text: bool, word: &mut dyn FnMut(&str)) {
        match self {
            PreTokenizer::Bert => {
                for w in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
                    split_punctuation(w, word);
                }
            }
            PreTokenizer::WhitespaceSplit => {
                for w in text.split_whitespace() {
                    word(w);
                }
            }
            PreTokenizer::ByteLevel {
                add_prefix_space,
                use_regex,
            } => {
                let prefixed;
                let text = if *add_prefix_space && !text.starts_with(' ') {
                    prefixed = format!(" {text}");
                    prefixed.as_str()
                } else {
                    text
                };
                let mut mapped = String::new();
                let mut emit = |w: &str| {
                    crate::byte_level::map_bytes(w, &mut mapped);
                    word(&mapped);
                };
                if *use_regex {
                    crate::byte_level::split(text, &mut emit);
                } else if !text.is_empty() {
                    emit(text);
                }
            }
            PreTokenizer::Metaspace {
                replacement,
                prepend,
                split,
            } => {
                let mut replaced: String = text
                    .chars()
                    .map(|c| if c == ' ' { *replacement } else { c })
                    .collect();
                // Nothing is put before an empty text (one a normalizer
                // emptied, say).
                let prepend = match prepend {
                    PrependScheme::Always => true,
                    PrependScheme::First => starts_text,
                    PrependScheme::Never => false,
                };
                if prepend && !replaced.is_empty() && !replaced.starts_with(*replacement) {
                    replaced.insert(0, *replacement);
                }
                if !*split {
                    if !replaced.is_empty() {
                        word(&replaced);
                    }
                    return;
                }
                // Each replacement character starts a word.
                let mut start = 0;
                for (i, _) in replaced.match_indices(*replacement) {
                    if i > start {
                        word(&replaced[start..i]);
                    }
                    start = i;
                }
                if start < replaced.len() {
                    word(&replaced[start..]);
                }
            }
            PreTokenizer::Split {
                pattern,
                behavior,
                invert,
            } => {
                let pieces = pattern
                    .pieces(text)
                    .into_iter()
                    .map(|(range, matched)| (range, matched != *invert));
                for range in behavior.words(pieces) {
                    if !range.is_empty() {
                        word(&text[range]);
                    }
                }
            }
            PreTokenizer::Sequence(steps) => split_sequence(steps, text, starts_text, word),
        }
    }
}

impl SplitBehavior {
    /// The words made of a text's pieces (each marked if it is a match),
    /// as `tokenizers` makes them; empty ones are the caller's to drop.
    fn words(
        self,
        pieces: impl DoubleEndedIterator<Item = (Range<usize>, bool)>,
    ) -> Vec<Range<usize>> {
        let mut words: Vec<Range<usize>> = Vec::new();
        let mut previous_matched = false;
        match self {
            SplitBehavior::Removed => {
                words.extend(pieces.filter(|(_, matched)| !matched).map(|(r, _)| r));
            }
            SplitBehavior::Isolated => words.extend(pieces.map(|(r, _)| r)),
            SplitBehavior::MergedWithPrevious => {
                for (range, matched) in pieces {
                    match words.last_mut() {
                        Some(last) if matched && !previous_matched => last.end = range.end,
                        _ => words.push(range),
                    }
                    previous_matched = matched;
                }
            }
            SplitBehavior::MergedWithNext => {
                // The same walk from the end.
                for (range, matched) in pieces.rev() {
                    match words.last_mut() {
                        Some(last) if matched && !previous_matched => last.start = range.start,
                        _ => words.push(range),
                    }
                    previous_matched = matched;
                }
                words.reverse();
            }
            SplitBehavior::Contiguous => {
                for (range, matched) in pieces {
                    match words.last_mut() {
                        Some(last) if matched == previous_matched => last.end = range.end,
                        _ => words.push(range),
                    }
                    previous_matched = matched;
                }
            }
        }
        words
    }
}

/// Each step splits every word the previous one made (none of them
/// prepends `first`: refused when read, so `starts_text` is only handed on).
fn split_sequence(
    steps: &[PreTokenizer],
    text: &str,
    starts_text: bool,
    word: &mut dyn FnMut(&str),
) {
    match steps.split_first() {
        None => {
            if !text.is_empty() {
                word(text)
            }
        }
        Some((first, rest)) => first.split(text, starts_text, &mut |w| {
            split_sequence(rest, w, starts_text, word)
        }),
    }
}

/// Punctuation to BERT: ASCII's, and Unicode's punctuation categories.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

fn split_punctuation(text: &str, word: &mut dyn FnMut(&str)) {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if is_punctuation(c) {
            if i > start {
                word(&text[start..i]);
            }
            word(&text[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        word(&text[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(p: &PreTokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        p.split(text, true, &mut |w| out.push(w.to_owned()));
        out
    }

    #[test]
    fn bert_splits_whitespace_and_isolates_punctuation() {
        assert_eq!(
            words(&PreTokenizer::Bert, " don't  stop!!now "),
            ["don", "'", "t", "stop", "!", "!", "now"]
        );
        assert_eq!(words(&PreTokenizer::Bert, "   "), Vec::<String>::new());
        assert_eq!(words(&PreTokenizer::Bert, "a¿b"), ["a", "¿", "b"]);
    }

    #[test]
    fn split_treats_matches_as_its_behavior_says() {
        let split = |behavior: &str, invert: bool| {
            PreTokenizer::from_config(&serde_json::json!({"type": "Split",
                "pattern": {"String": "-"}, "behavior": behavior, "invert": invert}))
            .unwrap()
        };
        let text = "a-b--c-";
        let cases: [(&str, &[&str]); 5] = [
            ("Removed", &["a", "b", "c"]),
            ("Isolated", &["a", "-", "b", "-", "-", "c", "-"]),
            ("MergedWithPrevious", &["a-", "b-", "-", "c-"]),
            ("MergedWithNext", &["a", "-b", "-", "-c", "-"]),
            ("Contiguous", &["a", "-", "b", "--", "c", "-"]),
        ];
        for (behavior, expected) in cases {
            assert_eq!(words(&split(behavior, false), text), expected, "{behavior}");
        }
        // Inverted, the words are what matches.
        assert_eq!(words(&split("Removed", true), text), ["-", "-", "-", "-"]);
        let e = PreTokenizer::from_config(&serde_json::json!({"type": "Split",
            "pattern": {"String": "-"}, "behavior": "Sideways"}))
        .unwrap_err();
        assert!(e.to_string().contains("behavior"), "{e}");
    }
}
