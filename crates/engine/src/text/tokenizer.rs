//! onnxruntime's `com.microsoft:Tokenizer`, in the modes skl2onnx writes:
//!
//! - `tokenexp = "[a-zA-Z0-9_]+"` (what skl2onnx makes of scikit-learn's
//!   default token pattern; `\w+` is the same in onnxruntime's RE2, whose
//!   `\w` is ASCII): each run of ASCII letters, digits and `_`, if it has
//!   `mincharnum` characters;
//! - character mode, `tokenexp = "."` or `separators = [""]`
//!   (`analyzer='char'`): each code point, spaces included;
//! - `separators` that are plain strings: the text split at each, one
//!   separator after another, pieces shorter than `mincharnum` dropped.
//!
//! Other regular expressions are refused: onnxruntime runs them with RE2
//! (leftmost-longest, ASCII classes), which we do not reproduce.
//!
//! Output: `[C]` gives `[C, T]` and `[N, C]` gives `[N, C, T]`, `T` the
//! most tokens of any string (plus the start and end marks, `\u{2}` and
//! `\u{3}`, with `mark`), the rest of each row `pad_value`. With no token
//! at all, `T` is 0 and there are no marks.

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure};

use crate::onnx_ml::attributes::build;
use crate::onnx_ml::kernel::{Kernel, Parsed};

/// The regular expressions taken, as the ASCII word runs they match.
const WORD_RUNS: &[&str] = &["[a-zA-Z0-9_]+", "[A-Za-z0-9_]+", "\\w+"];
/// Characters with a meaning in a regular expression: a separator with
/// none of them is the plain string it matches.
const REGEX_SYNTAX: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// Runs of `[a-zA-Z0-9_]`.
    WordRuns,
    /// Every code point.
    Characters,
    /// Split at each of these, in turn.
    Separators(Vec<String>),
}

#[derive(Debug)]
struct Tokenizer {
    mode: Mode,
    mark: bool,
    pad: String,
    min_chars: usize,
    /// The number of tokens per row (`T`).
    tokens: Symbol,
}

pub(crate) fn tokenizer(ctx: &tract_onnx::model::ParsingContext, node: &NodeProto) -> Parsed {
    build(
        node,
        &["mark", "mincharnum", "pad_value", "separators", "tokenexp"],
        |a| {
            let Some(mark) = a.opt::<i64>("mark")? else {
                return a.bail("mark", "is required");
            };
            let Some(pad) = a.opt::<String>("pad_value")? else {
                return a.bail("pad_value", "is required");
            };
            let min_chars = match a.opt::<i64>("mincharnum")? {
                Some(n) if n > 0 => n as usize,
                Some(n) => return a.bail("mincharnum", format!("must be positive, got {n}")),
                None => return a.bail("mincharnum", "is required"),
            };
            // Separators win over a token expression, as in onnxruntime.
            let mode = match (a.strings("separators")?, a.opt::<String>("tokenexp")?) {
                (Some(separators), _) if separators == [""] => Mode::Characters,
                (Some(separators), _) => {
                    if let Some(bad) = separators
                        .iter()
                        .find(|s| s.is_empty() || s.contains(REGEX_SYNTAX))
                    {
                        return a.bail(
                            "separators",
                            format!(
                                "{bad:?} is not supported: separators are taken as plain, \
                                 non-empty strings (onnxruntime reads them as RE2 regular \
                                 expressions)"
                            ),
                        );
                    }
                    Mode::Separators(separators)
                }
                (None, Some(exp)) if exp == "." => Mode::Characters,
                (None, Some(exp)) if WORD_RUNS.contains(&exp.as_str()) => Mode::WordRuns,
                (None, Some(exp)) => {
                    return a.bail(
                        "tokenexp",
                        format!(
                            "{exp:?} is not supported: the token expressions supported are \
                             skl2onnx's for scikit-learn's default token pattern \
                             ([a-zA-Z0-9_]+) and for analyzer='char' (.)"
                        ),
                    );
                }
                (None, None) => return a.bail("separators", "separators or tokenexp is required"),
            };
            if mode == Mode::Characters {
                a.ensure("mincharnum", min_chars == 1, || {
                    format!("must be 1 to split into characters, got {min_chars}")
                })?;
            }
            Ok(Tokenizer {
                mode,
                mark: mark != 0,
                pad,
                min_chars,
                tokens: ctx.template.symbols.new_with_prefix("tokens"),
            })
        },
    )
}

impl Tokenizer {
    /// The tokens of one string.
    fn tokens<'s>(&self, text: &'s str) -> Vec<&'s str> {
        let long_enough = |token: &&str| token.chars().count() >= self.min_chars;
        match &self.mode {
            Mode::Characters => text
                .char_indices()
                .map(|(i, c)| &text[i..i + c.len_utf8()])
                .collect(),
            Mode::WordRuns => text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|run| !run.is_empty())
                .filter(long_enough)
                .collect(),
            Mode::Separators(separators) => {
                let mut pieces = vec![text];
                for separator in separators {
                    pieces = pieces
                        .iter()
                        .flat_map(|piece| piece.split(separator.as_str()))
                        .filter(long_enough)
                        .collect();
                    if pieces.is_empty() {
                        break;
                    }
                }
                pieces
            }
        }
    }
}

impl Kernel for Tokenizer {
    fn name(&self) -> &'static str {
        "Tokenizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [input] = inputs else {
            bail!("Tokenizer takes one input, got {}", inputs.len());
        };
        ensure!(
            input.datum_type == DatumType::String,
            "Tokenizer takes strings, got {:?}",
            input.datum_type
        );
        ensure!(
            matches!(input.rank(), 1 | 2),
            "Tokenizer takes strings of shape [C] or [N, C], got {:?}",
            input.shape
        );
        let mut shape: TVec<TDim> = input.shape.iter().cloned().collect();
        shape.push(self.tokens.to_dim());
        Ok(tvec!(String::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        ensure!(
            matches!(x.rank(), 1 | 2),
            "Tokenizer takes strings of shape [C] or [N, C], got {:?}",
            x.shape()
        );
        let strings = x.try_as_plain_ram()?.as_slice::<String>()?;
        let rows: Vec<Vec<&str>> = strings.iter().map(|s| self.tokens(s)).collect();
        let most = rows.iter().map(Vec::len).max().unwrap_or(0);
        // No marks when no string has a token.
        let marks = most > 0 && self.mark;
        let width = if marks { most + 2 } else { most };
        let mut out = Vec::with_capacity(rows.len() * width);
        for row in &rows {
            let start = out.len();
            if marks {
                out.push("\u{2}".to_string());
            }
            out.extend(row.iter().map(|t| t.to_string()));
            if marks {
                out.push("\u{3}".to_string());
            }
            out.resize(start + width, self.pad.clone());
        }
        let mut shape: TVec<usize> = x.shape().into();
        shape.push(width);
        let y = tract_ndarray::ArrayD::from_shape_vec(&*shape, out)?.into_tensor();
        Ok(tvec!(y.into_tvalue()))
    }
}
