//! Normalizers: what a text becomes before it is split. Character classes
//! and decompositions come from the tables `tokenizers` itself uses
//! (`unicode_categories`, `unicode-normalization-alignments`), so that
//! characters newer than those tables are treated as it treats them: an
//! emoji of Unicode 10 or later, unassigned in them, is a control character
//! to `BertNormalizer`'s `clean_text`, and is dropped.
//!
//! SentencePiece models (T5, XLM-RoBERTa, ...) carry their normalization
//! as a compiled rewrite table (`Precompiled`), read and applied by
//! `spm_precompiled`, the crate `tokenizers` itself applies it with.

use serde::Deserialize;
use serde_json::Value;
use spm_precompiled::Precompiled;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

use crate::Error;
use crate::config::{field, kind, steps};
use crate::pattern::Pattern;

/// One normalizer, or a sequence of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalizer {
    /// BERT's: drop control characters and make whitespace spaces, put
    /// spaces around CJK ideographs, remove accents, lowercase.
    Bert {
        clean_text: bool,
        handle_chinese_chars: bool,
        strip_accents: bool,
        lowercase: bool,
    },
    Lowercase,
    /// Removes combining marks (after an `NFD`, accents).
    StripAccents,
    Nfd,
    Nfkd,
    Nfc,
    Nfkc,
    /// Whitespace removed from either end.
    Strip {
        left: bool,
        right: bool,
    },
    /// Every match of `pattern` replaced by `content`.
    Replace {
        pattern: Pattern,
        content: String,
    },
    /// `prepend` put before a text that is not empty (Llama 2's and
    /// Mistral's files put SentencePiece's `▁` there).
    Prepend(String),
    /// A SentencePiece model's own normalization (its
    /// `precompiled_charsmap`).
    Precompiled(Box<Precompiled>),
    Sequence(Vec<Normalizer>),
}

impl Normalizer {
    pub(crate) fn from_config(value: &Value) -> Result<Normalizer, Error> {
        Ok(match kind(value) {
            "BertNormalizer" => {
                let lowercase = field(value, "lowercase", true)?;
                Normalizer::Bert {
                    clean_text: field(value, "clean_text", true)?,
                    handle_chinese_chars: field(value, "handle_chinese_chars", true)?,
                    // Unset, it follows `lowercase` (as in BERT's uncased
                    // models).
                    strip_accents: field::<Option<bool>>(value, "strip_accents", None)?
                        .unwrap_or(lowercase),
                    lowercase,
                }
            }
            "Lowercase" => Normalizer::Lowercase,
            "StripAccents" => Normalizer::StripAccents,
            "NFD" => Normalizer::Nfd,
            "NFKD" => Normalizer::Nfkd,
            "NFC" => Normalizer::Nfc,
            "NFKC" => Normalizer::Nfkc,
            "Strip" => Normalizer::Strip {
                left: field(value, "strip_left", true)?,
                right: field(value, "strip_right", true)?,
            },
            "Replace" => Normalizer::Replace {
                pattern: Pattern::from_config(value, "Replace")?,
                content: field(value, "content", String::new())?,
            },
            "Prepend" => Normalizer::Prepend(field(value, "prepend", String::new())?),
            "Precompiled" => Normalizer::Precompiled(Box::new(
                Precompiled::deserialize(value)
                    .map_err(|e| Error::Invalid(format!("a `Precompiled` normalizer: {e}")))?,
            )),
            "Sequence" => {
                Normalizer::Sequence(steps(value, "normalizers", Normalizer::from_config)?)
            }
            other => {
                return Err(Error::Unsupported {
                    stage: "normalizer",
                    kind: other.to_owned(),
                });
            }
        })
    }

    /// Whether the normalized text always starts where the text did: no
    /// leading character is ever dropped (what Metaspace's `first` scheme
    /// needs, which `tokenizers` decides from the offsets the normalizer
    /// keeps; those whose start can move are not followed).
    pub(crate) fn keeps_start(&self) -> bool {
        match self {
            Normalizer::Lowercase
            | Normalizer::Nfd
            | Normalizer::Nfkd
            | Normalizer::Nfc
            | Normalizer::Nfkc
            | Normalizer::Prepend(_) => true,
            Normalizer::Replace { content, .. } => !content.is_empty(),
            Normalizer::Sequence(steps) => steps.iter().all(Normalizer::keeps_start),
            Normalizer::Bert { .. }
            | Normalizer::StripAccents
            | Normalizer::Strip { .. }
            | Normalizer::Precompiled(_) => false,
        }
    }

    pub fn normalize(&self, text: &str) -> String {
        match self {
            Normalizer::Bert {
                clean_text,
                handle_chinese_chars,
                strip_accents,
                lowercase,
            } => {
                let mut text = text.to_owned();
                if *clean_text {
                    text = text
                        .chars()
                        .filter(|&c| c != '\0' && c != '\u{fffd}' && !is_control(c))
                        .map(|c| if is_whitespace(c) { ' ' } else { c })
                        .collect();
                }
                if *handle_chinese_chars {
                    let mut spaced = String::with_capacity(text.len());
                    for c in text.chars() {
                        if is_chinese_char(c) {
                            spaced.extend([' ', c, ' ']);
                        } else {
                            spaced.push(c);
                        }
                    }
                    text = spaced;
                }
                if *strip_accents {
                    text = text
                        .nfd()
                        .map(|(c, _)| c)
                        .filter(|c| !c.is_mark_nonspacing())
                        .collect();
                }
                if *lowercase {
                    text = text.chars().flat_map(char::to_lowercase).collect();
                }
                text
            }
            Normalizer::Lowercase => text.chars().flat_map(char::to_lowercase).collect(),
            Normalizer::StripAccents => text
                .chars()
                .filter(|&c| !unicode_normalization_alignments::char::is_combining_mark(c))
                .collect(),
            Normalizer::Nfd => text.nfd().map(|(c, _)| c).collect(),
            Normalizer::Nfkd => text.nfkd().map(|(c, _)| c).collect(),
            Normalizer::Nfc => text.nfc().map(|(c, _)| c).collect(),
            Normalizer::Nfkc => text.nfkc().map(|(c, _)| c).collect(),
            Normalizer::Strip { left, right } => {
                let mut t = text;
                if *left {
                    t = t.trim_start();
                }
                if *right {
                    t = t.trim_end();
                }
                t.to_owned()
            }
            Normalizer::Replace { pattern, content } => {
                let mut replaced = String::with_capacity(text.len());
                for (range, matched) in pattern.pieces(text) {
                    replaced.push_str(if matched { content } else { &text[range] });
                }
                replaced
            }
            Normalizer::Precompiled(charsmap) => charsmap.normalize_string(text),
            Normalizer::Prepend(prepend) => {
                if text.is_empty() {
                    String::new()
                } else {
                    format!("{prepend}{text}")
                }
            }
            Normalizer::Sequence(steps) => {
                let mut text = text.to_owned();
                for step in steps {
                    text = step.normalize(&text);
                }
                text
            }
        }
    }
}

/// Whitespace to BERT: tab, newline and carriage return, and Unicode's.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// A control character to BERT: Unicode's "other" categories (control,
/// format, private use, unassigned in the tables), but for the three
/// whitespace controls.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK ideograph blocks BERT puts spaces around (not kana or hangul,
/// which it leaves in words).
fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B820..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bert(lowercase: bool) -> Normalizer {
        Normalizer::Bert {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: lowercase,
            lowercase,
        }
    }

    #[test]
    fn bert_cleans_spaces_ideographs_and_lowercases() {
        assert_eq!(bert(true).normalize("Héllo\tWörld\u{0}"), "hello world");
        assert_eq!(bert(false).normalize("Héllo\u{200b}!"), "Héllo!");
        assert_eq!(bert(true).normalize("東京"), " 東  京 ");
    }

    #[test]
    fn replace_takes_strings_and_regular_expressions() {
        let replace = |pattern, content| {
            Normalizer::from_config(&serde_json::json!(
                {"type": "Replace", "pattern": pattern, "content": content}))
            .unwrap()
        };
        let spaces = replace(serde_json::json!({"Regex": " {2,}"}), "\u{2581}");
        assert_eq!(spaces.normalize("a  b c   "), "a\u{2581}b c\u{2581}");
        let quotes = replace(serde_json::json!({"String": "``"}), "\"");
        assert_eq!(quotes.normalize("``a`` `b`"), "\"a\" `b`");
    }

    #[test]
    fn prepend_puts_its_text_before_any_but_an_empty_one() {
        let prepend =
            Normalizer::from_config(&serde_json::json!({"type": "Prepend", "prepend": "\u{2581}"}))
                .unwrap();
        assert_eq!(prepend.normalize("a b"), "\u{2581}a b");
        assert_eq!(prepend.normalize(""), "");
        assert!(prepend.keeps_start());
    }

    #[test]
    fn an_unknown_normalizer_is_named() {
        let e = Normalizer::from_config(&serde_json::json!({"type": "ByteLevel"})).unwrap_err();
        assert!(e.to_string().contains("normalizer is `ByteLevel`"), "{e}");
        let e = Normalizer::from_config(&serde_json::json!({"type": "Precompiled"})).unwrap_err();
        assert!(e.to_string().contains("a `Precompiled` normalizer"), "{e}");
    }
}
