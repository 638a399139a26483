//! ONNX `StringNormalizer`: drops stop words (whole strings) and changes
//! case, as onnxruntime does.
//!
//! - Input `[C]` gives `[C']` and `[1, C]` gives `[1, C']`, `C'` the strings
//!   left in order; any other shape is refused. With every string dropped,
//!   the output is one empty string (`[1]` or `[1, 1]`).
//! - Stop words are matched against the original string, exactly when
//!   `is_case_sensitive`, else both in lowercase.
//! - The case change applies to the kept strings, code point by code point
//!   ([`super::case`]).
//! - `locale`: onnxruntime maps case with the host's locale data; English
//!   locales (and none given: `en_US.UTF-8`) share glibc's table, which is
//!   what [`super::case`] follows. Other locales are refused (Turkish and
//!   Azeri map `i` differently).

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure};

use super::case;
use crate::onnx_ml::attributes::build;
use crate::onnx_ml::kernel::{Kernel, Parsed};

#[derive(Debug, Clone, Copy, PartialEq)]
enum CaseChange {
    None,
    Lower,
    Upper,
}

#[derive(Debug)]
struct StringNormalizer {
    case_change: CaseChange,
    case_sensitive: bool,
    /// As compared: lowercase unless `case_sensitive`.
    stopwords: std::collections::HashSet<String>,
    /// The number of strings left when stop words are dropped.
    kept: Option<Symbol>,
}

pub(crate) fn string_normalizer(
    ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> Parsed {
    build(
        node,
        &[
            "case_change_action",
            "is_case_sensitive",
            "locale",
            "stopwords",
        ],
        |a| {
            let case_change = match a.opt::<String>("case_change_action")?.as_deref() {
                None | Some("NONE") => CaseChange::None,
                Some("LOWER") => CaseChange::Lower,
                Some("UPPER") => CaseChange::Upper,
                Some(other) => {
                    return a.bail(
                        "case_change_action",
                        format!("expected NONE, LOWER or UPPER, got {other:?}"),
                    );
                }
            };
            if let Some(locale) = a.opt::<String>("locale")? {
                let english = locale.is_empty()
                    || locale.starts_with("en_")
                    || locale.starts_with("en-")
                    || locale == "en";
                a.ensure("locale", english, || {
                    format!(
                        "{locale:?} is not supported: case is changed as in English locales \
                         (en_US), which other locales may not do"
                    )
                })?;
            }
            let case_sensitive = a.opt::<i64>("is_case_sensitive")?.unwrap_or(0) != 0;
            let stopwords: std::collections::HashSet<String> = a
                .strings("stopwords")?
                .unwrap_or_default()
                .into_iter()
                .map(|w| {
                    if case_sensitive {
                        w
                    } else {
                        w.chars().map(case::lower).collect()
                    }
                })
                .collect();
            let kept =
                (!stopwords.is_empty()).then(|| ctx.template.symbols.new_with_prefix("kept"));
            Ok(StringNormalizer {
                case_change,
                case_sensitive,
                stopwords,
                kept,
            })
        },
    )
}

impl StringNormalizer {
    fn is_stopword(&self, text: &str) -> bool {
        if self.stopwords.is_empty() {
            false
        } else if self.case_sensitive {
            self.stopwords.contains(text)
        } else {
            let lower: String = text.chars().map(case::lower).collect();
            self.stopwords.contains(&lower)
        }
    }
}

/// Whether a shape is one `StringNormalizer` takes: `[C]` or `[1, C]`.
fn check_shape(shape: &[TDim]) -> TractResult<()> {
    let ok = match shape {
        [_] => true,
        [rows, _] => !matches!(rows.to_i64(), Ok(r) if r != 1),
        _ => false,
    };
    ensure!(
        ok,
        "StringNormalizer takes strings of shape [C] or [1, C], got {shape:?}"
    );
    Ok(())
}

impl Kernel for StringNormalizer {
    fn name(&self) -> &'static str {
        "StringNormalizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [input] = inputs else {
            bail!("StringNormalizer takes one input, got {}", inputs.len());
        };
        ensure!(
            input.datum_type == DatumType::String,
            "StringNormalizer takes strings, got {:?}",
            input.datum_type
        );
        let mut shape: TVec<TDim> = input.shape.iter().cloned().collect();
        check_shape(&shape)?;
        if let Some(kept) = &self.kept {
            *shape.last_mut().expect("rank 1 or 2") = kept.to_dim();
        }
        Ok(tvec!(String::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let dims: TVec<TDim> = x.shape().iter().map(|&d| d.to_dim()).collect();
        check_shape(&dims)?;
        ensure!(
            !x.shape().contains(&0),
            "StringNormalizer takes at least one string, got shape {:?}",
            x.shape()
        );
        let strings = x.try_as_plain_ram()?.as_slice::<String>()?;
        let mut kept: Vec<String> = strings
            .iter()
            .filter(|s| !self.is_stopword(s))
            .map(|s| match self.case_change {
                CaseChange::None => s.clone(),
                CaseChange::Lower => s.chars().map(case::lower).collect(),
                CaseChange::Upper => s.chars().map(case::upper).collect(),
            })
            .collect();
        if kept.is_empty() {
            kept.push(String::new());
        }
        let mut shape: TVec<usize> = x.shape().into();
        *shape.last_mut().expect("rank 1 or 2") = kept.len();
        let y = tract_ndarray::ArrayD::from_shape_vec(&*shape, kept)?.into_tensor();
        Ok(tvec!(y.into_tvalue()))
    }
}
