//! Hugging Face tokenizers, read from their `tokenizer.json`, in plain
//! Rust: the text a model's users have, turned into the token ids the model
//! takes, exactly as the `tokenizers` package turns it.
//!
//! A tokenizer is a pipeline, and each stage is a module here:
//! - [`added_tokens`]: the vocabulary's added tokens (`[CLS]`, `[MASK]`,
//!   ...), found in the raw text first and never split;
//! - [`normalizer`]: cleans the text (`BertNormalizer`, Unicode forms,
//!   lowercasing, accents, `Replace`, `Prepend`, SentencePiece's
//!   `Precompiled` tables);
//! - [`pre_tokenizer`]: splits it into words (`BertPreTokenizer`,
//!   `WhitespaceSplit`, GPT-2's `ByteLevel` with [`byte_level`],
//!   SentencePiece's `Metaspace`, and `Split` on a [`pattern`], as Llama 3
//!   and Qwen files split);
//! - [`wordpiece`], [`bpe`] or [`unigram`]: splits each word into the
//!   vocabulary's pieces (BPE with byte fallback, as Llama 2's and
//!   Mistral's files have it);
//! - [`post_processor`]: adds the model's special tokens around the
//!   sequence (`TemplateProcessing`, `BertProcessing`); truncation and
//!   padding as the file sets them.
//!
//! What the file asks for and this crate does not implement (Metaspace's
//! `first` prepend scheme after a normalizer that can drop leading
//! characters, BPE dropout, ...) is refused when the file is read, naming
//! it: [`Error::Unsupported`].
//!
//! ```
//! # let json = include_bytes!("../../../tests/fixtures/tokenizers/bert_uncased.json");
//! let tokenizer = wasmodel_tokenizer::Tokenizer::from_json(json)?;
//! let encoding = tokenizer.encode("Hello, world!");
//! assert_eq!(encoding.ids.len(), encoding.attention_mask.len());
//! # Ok::<(), wasmodel_tokenizer::Error>(())
//! ```

pub mod added_tokens;
pub mod bpe;
pub mod byte_level;
mod config;
pub mod normalizer;
pub mod pattern;
pub mod post_processor;
pub mod pre_tokenizer;
pub mod unigram;
pub mod wordpiece;

use added_tokens::{AddedTokens, Piece};
use config::{Direction, PaddingStrategy};
use normalizer::Normalizer;
use post_processor::PostProcessor;
use pre_tokenizer::PreTokenizer;
use wordpiece::WordPiece;

/// What splits words into the vocabulary's tokens.
#[derive(Debug, Clone)]
enum Model {
    WordPiece(WordPiece),
    Bpe(bpe::Bpe),
    Unigram(unigram::Unigram),
}

impl Model {
    fn from_config(value: &serde_json::Value) -> Result<Model, Error> {
        match config::kind(value) {
            "WordPiece" => Ok(Model::WordPiece(WordPiece::from_config(value)?)),
            "BPE" => Ok(Model::Bpe(bpe::Bpe::from_config(value)?)),
            "Unigram" => Ok(Model::Unigram(unigram::Unigram::from_config(value)?)),
            other => Err(Error::Unsupported {
                stage: "model",
                kind: other.to_owned(),
            }),
        }
    }

    fn tokenize(&self, word: &str, ids: &mut Vec<u32>) {
        match self {
            Model::WordPiece(m) => m.tokenize(word, ids),
            Model::Bpe(m) => m.tokenize(word, ids),
            Model::Unigram(m) => m.tokenize(word, ids),
        }
    }
}

/// Why a `tokenizer.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a tokenizer file: not JSON, or a field of the wrong shape.
    #[error("not a tokenizer.json this reader understands: {0}")]
    Invalid(String),
    /// A stage of a kind this crate does not implement.
    #[error("the tokenizer's {stage} is `{kind}`, which wasmodel does not implement yet")]
    Unsupported { stage: &'static str, kind: String },
}

/// One text's tokens, as the model takes them: each a position of
/// `input_ids`, `attention_mask` and `token_type_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoding {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// 1 for a token, 0 for padding.
    pub attention_mask: Vec<u32>,
}

impl Encoding {
    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Truncation, as the file sets it (`truncation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Truncation {
    max_length: usize,
    from_left: bool,
}

/// Padding, as the file sets it (`padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    /// Pad every text to this length, or (`None`) to the longest of the
    /// batch.
    pub fixed: Option<usize>,
    pub multiple_of: Option<usize>,
    pub on_left: bool,
    pub pad_id: u32,
    pub pad_type_id: u32,
}

/// A tokenizer read from a `tokenizer.json`.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    added: AddedTokens,
    normalizer: Option<Normalizer>,
    pre_tokenizer: Option<PreTokenizer>,
    model: Model,
    post_processor: Option<PostProcessor>,
    truncation: Option<Truncation>,
    padding: Option<Padding>,
}

impl Tokenizer {
    /// Reads a `tokenizer.json`, refusing what it cannot reproduce.
    pub fn from_json(json: &[u8]) -> Result<Tokenizer, Error> {
        let file: config::File =
            serde_json::from_slice(json).map_err(|e| Error::Invalid(e.to_string()))?;
        let model = Model::from_config(&file.model)?;
        let added = AddedTokens::new(&file.added_tokens)?;
        let normalizer = file
            .normalizer
            .as_ref()
            .map(Normalizer::from_config)
            .transpose()?;
        let pre_tokenizer = file
            .pre_tokenizer
            .as_ref()
            .map(PreTokenizer::from_config)
            .transpose()?;
        // Metaspace's `first` asks whether a stretch starts the original
        // text, which a normalizer that drops leading characters changes.
        if let (Some(n), Some(p)) = (&normalizer, &pre_tokenizer)
            && p.prepends_first()
            && !n.keeps_start()
        {
            return Err(Error::Unsupported {
                stage: "pre_tokenizer",
                kind: "Metaspace with prepend_scheme first after a normalizer that can drop the \
                       text's first characters"
                    .into(),
            });
        }
        let post_processor = file
            .post_processor
            .as_ref()
            .map(PostProcessor::from_config)
            .transpose()?;
        let truncation = file.truncation.map(|t| Truncation {
            max_length: t.max_length,
            from_left: t.direction == Direction::Left,
        });
        let padding = file.padding.map(|p| Padding {
            fixed: match p.strategy {
                PaddingStrategy::Fixed(n) => Some(n),
                PaddingStrategy::BatchLongest => None,
            },
            multiple_of: p.pad_to_multiple_of.filter(|&m| m > 0),
            on_left: p.direction == Direction::Left,
            pad_id: p.pad_id,
            pad_type_id: p.pad_type_id,
        });
        Ok(Tokenizer {
            added,
            normalizer,
            pre_tokenizer,
            model,
            post_processor,
            truncation,
            padding,
        })
    }

    /// The padding the file sets, if any.
    pub fn padding(&self) -> Option<Padding> {
        self.padding
    }

    /// The longest encoding the file allows (its truncation), if it sets one.
    pub fn max_length(&self) -> Option<usize> {
        self.truncation.map(|t| t.max_length)
    }

    /// Truncates every encoding to at most `max_length` tokens (special
    /// tokens included), as the file's truncation would with that length,
    /// keeping its direction if it sets one: for a model whose sequence
    /// length is fixed below what the file allows, or that sets no limit.
    pub fn limit_length(&mut self, max_length: usize) {
        self.truncation = Some(match self.truncation {
            Some(t) => Truncation {
                max_length: t.max_length.min(max_length),
                ..t
            },
            None => Truncation {
                max_length,
                from_left: false,
            },
        });
    }

    /// One text, truncated and with its special tokens, not padded.
    pub fn encode(&self, text: &str) -> Encoding {
        let mut ids = Vec::new();
        for (i, piece) in self.added.split(text).into_iter().enumerate() {
            match piece {
                Piece::Added(id) => ids.push(id),
                Piece::Text(text) => self.tokenize(text, i == 0, &mut ids),
            }
        }
        let added = self.post_processor.as_ref().map_or(0, |p| p.added_tokens());
        if let Some(t) = self.truncation {
            let keep = t.max_length.saturating_sub(added);
            if ids.len() > keep {
                if t.from_left {
                    ids.drain(..ids.len() - keep);
                } else {
                    ids.truncate(keep);
                }
            }
        }
        let mut encoding = Encoding {
            type_ids: vec![0; ids.len()],
            attention_mask: vec![1; ids.len()],
            ids,
        };
        if let Some(post) = &self.post_processor {
            encoding = post.process(encoding);
        }
        encoding
    }

    /// Several texts, each as [`encode`](Self::encode) makes it, then
    /// padded as the file sets (or, if it sets no padding, with id 0 to
    /// the longest), so they form one `[texts, tokens]` batch.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Encoding> {
        let mut encodings: Vec<Encoding> = texts.iter().map(|t| self.encode(t.as_ref())).collect();
        let longest = encodings.iter().map(Encoding::len).max().unwrap_or(0);
        let padding = self.padding_or_default();
        let mut length = padding.fixed.unwrap_or(longest);
        if let Some(m) = padding.multiple_of {
            length = length.div_ceil(m) * m;
        }
        self.pad_to(&mut encodings, length);
        encodings
    }

    /// Pads every encoding shorter than `length` to it, with the file's
    /// padding id, type id and side (id 0 on the right if it sets none),
    /// whatever length the file's padding asks for: what a caller that
    /// knows the length the model takes uses.
    pub fn pad_to(&self, encodings: &mut [Encoding], length: usize) {
        let padding = self.padding_or_default();
        for encoding in encodings {
            pad(encoding, length, padding);
        }
    }

    fn padding_or_default(&self) -> Padding {
        self.padding.unwrap_or(Padding {
            fixed: None,
            multiple_of: None,
            on_left: false,
            pad_id: 0,
            pad_type_id: 0,
        })
    }

    /// Normalizes, splits and looks up one stretch of text between added
    /// tokens (`starts_text`: the first, where the text starts).
    fn tokenize(&self, text: &str, starts_text: bool, ids: &mut Vec<u32>) {
        let normalized;
        let text = match &self.normalizer {
            Some(n) => {
                normalized = n.normalize(text);
                normalized.as_str()
            }
            None => text,
        };
        match &self.pre_tokenizer {
            Some(p) => p.split(text, starts_text, &mut |word| {
                self.model.tokenize(word, ids)
            }),
            None => {
                if !text.is_empty() {
                    self.model.tokenize(text, ids)
                }
            }
        }
    }
}

/// Pads `encoding` to `length` (an encoding already longer is left as is,
/// as `tokenizers` leaves it).
fn pad(encoding: &mut Encoding, length: usize, padding: Padding) {
    let missing = length.saturating_sub(encoding.len());
    if missing == 0 {
        return;
    }
    let fill = |v: &mut Vec<u32>, value: u32| {
        if padding.on_left {
            v.splice(0..0, std::iter::repeat_n(value, missing));
        } else {
            v.extend(std::iter::repeat_n(value, missing));
        }
    };
    fill(&mut encoding.ids, padding.pad_id);
    fill(&mut encoding.type_ids, padding.pad_type_id);
    fill(&mut encoding.attention_mask, 0);
}
