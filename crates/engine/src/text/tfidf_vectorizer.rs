//! ONNX `TfIdfVectorizer`: counts the n-grams of a pool in each row of
//! tokens (strings or integers), with skips, as onnxruntime does.
//!
//! For each skip distance `d` from 1 to `max_skip_count + 1`, each start
//! `i` and each length `n` from `min_gram_length` to `max_gram_length`, the
//! n-gram `x[i], x[i + d], ..., x[i + (n - 1) d]` counts towards its
//! column if it is in the pool; one-grams are counted on the first
//! distance only. `mode` TF counts, TFIDF adds the column's weight per
//! occurrence, IDF sets it once (weights default to 1; an n-gram's weight
//! is at its place in the pool, as onnxruntime reads it). Input `[C]` gives
//! `[V]` and `[B, C]` gives `[B, V]`, `V` the largest of `ngram_indexes`
//! plus one. Tokens of the other kind than the pool's (integers against
//! strings) and padding match nothing.

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure};

use crate::onnx_ml::attributes::build;
use crate::onnx_ml::kernel::{Kernel, Parsed};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Tf,
    Idf,
    TfIdf,
}

/// The widest output taken: an index past it would make every row that
/// wide (scikit-learn's vocabularies number their n-grams from 0).
const MAX_COLUMNS: usize = 1 << 24;

/// The pool's distinct tokens, numbered: strings or integers.
#[derive(Debug)]
enum Vocabulary {
    Texts(HashMap<String, u32>),
    Ints(HashMap<i64, u32>),
}

/// Each item's number (its first occurrence's rank among distinct items),
/// and the numbering.
fn number<T: std::hash::Hash + Eq>(items: Vec<T>) -> (Vec<u32>, HashMap<T, u32>) {
    let mut numbering = HashMap::new();
    let numbers = items
        .into_iter()
        .map(|item| {
            let next = numbering.len() as u32;
            *numbering.entry(item).or_insert(next)
        })
        .collect();
    (numbers, numbering)
}

#[derive(Debug)]
struct TfIdfVectorizer {
    mode: Mode,
    min_n: usize,
    max_n: usize,
    max_skip: usize,
    vocabulary: Vocabulary,
    /// Each n-gram of the pool with a length from `min_n` to `max_n`, as
    /// token numbers: its output column and weight.
    pool: HashMap<Vec<u32>, (usize, f32)>,
    columns: usize,
}

pub(crate) fn tfidf_vectorizer(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> Parsed {
    build(
        node,
        &[
            "max_gram_length",
            "max_skip_count",
            "min_gram_length",
            "mode",
            "ngram_counts",
            "ngram_indexes",
            "pool_int64s",
            "pool_strings",
            "weights",
        ],
        |a| {
            let mode = match a.opt::<String>("mode")?.as_deref() {
                Some("TF") => Mode::Tf,
                Some("IDF") => Mode::Idf,
                Some("TFIDF") => Mode::TfIdf,
                other => {
                    return a.bail("mode", format!("expected TF, IDF or TFIDF, got {other:?}"));
                }
            };
            let positive = |name: &str, min: i64| -> TractResult<usize> {
                match a.opt::<i64>(name)? {
                    Some(v) if v >= min && usize::try_from(v).is_ok() => Ok(v as usize),
                    other => a.bail(name, format!("expected at least {min}, got {other:?}")),
                }
            };
            let min_n = positive("min_gram_length", 1)?;
            let max_n = positive("max_gram_length", min_n as i64)?;
            let max_skip = positive("max_skip_count", 0)?;
            let counts: Vec<i64> = a.list("ngram_counts")?;
            let indexes: Vec<i64> = a.list("ngram_indexes")?;
            a.ensure("ngram_counts", counts.len() >= max_n, || {
                format!("{} starts for n-grams up to {max_n} items", counts.len())
            })?;
            a.ensure(
                "ngram_indexes",
                !indexes.is_empty() && indexes.iter().all(|&i| i >= 0),
                || "must be non-empty and non-negative".into(),
            )?;
            let (items, vocabulary) = match a.strings("pool_strings")? {
                Some(pool) => {
                    let (items, numbering) = number(pool);
                    (items, Vocabulary::Texts(numbering))
                }
                None => match a.opt_list::<i64>("pool_int64s")? {
                    Some(pool) => {
                        let (items, numbering) = number(pool);
                        (items, Vocabulary::Ints(numbering))
                    }
                    None => {
                        return a.bail("pool_strings", "pool_strings or pool_int64s is required");
                    }
                },
            };
            let weights: Option<Vec<f32>> = a.opt_list("weights")?;
            if let Some(weights) = &weights {
                a.ensure("weights", weights.len() == indexes.len(), || {
                    format!("{} weights for {} n-grams", weights.len(), indexes.len())
                })?;
            }
            // `ngram_counts[k]`: where the (k + 1)-grams start in the pool.
            let mut pool = HashMap::new();
            let mut id = 0usize;
            for (k, &start) in counts.iter().enumerate() {
                let n = k + 1;
                let end = counts.get(k + 1).copied().unwrap_or(items.len() as i64);
                a.ensure(
                    "ngram_counts",
                    0 <= start && start <= end && end as usize <= items.len(),
                    || {
                        format!(
                            "{counts:?} are not offsets into a pool of {} items",
                            items.len()
                        )
                    },
                )?;
                let slice = &items[start as usize..end as usize];
                a.ensure("ngram_counts", slice.len() % n == 0, || {
                    format!(
                        "the {n}-grams' {} items are not a whole number of {n}-grams",
                        slice.len()
                    )
                })?;
                for gram in slice.chunks(n) {
                    // Every n-gram takes an id, loaded or not.
                    let Some(&column) = indexes.get(id) else {
                        return a.bail(
                            "ngram_indexes",
                            format!("{} indexes for a pool of more n-grams", indexes.len()),
                        );
                    };
                    // onnxruntime reads an n-gram's weight at its place in
                    // the pool, not at its output column.
                    let weight = weights.as_ref().map_or(1.0, |w| w[id]);
                    id += 1;
                    if !(min_n..=max_n).contains(&n) {
                        continue;
                    }
                    if pool
                        .insert(gram.to_vec(), (column as usize, weight))
                        .is_some()
                    {
                        return a.bail(
                            "ngram_counts",
                            format!("the pool holds its {id}th n-gram twice"),
                        );
                    }
                }
            }
            let columns = indexes.iter().copied().max().unwrap_or(0) as usize + 1;
            a.ensure("ngram_indexes", columns <= MAX_COLUMNS, || {
                format!("an output of {columns} columns is more than the {MAX_COLUMNS} supported")
            })?;
            Ok(TfIdfVectorizer {
                mode,
                min_n,
                max_n,
                max_skip,
                vocabulary,
                pool,
                columns,
            })
        },
    )
}

impl TfIdfVectorizer {
    /// Adds the n-grams of one row of tokens to `out` (its columns); a
    /// token is its number in the vocabulary, `None` if it is not in it.
    fn count(&self, row: &[Option<u32>], out: &mut [f32]) {
        let mut gram = Vec::with_capacity(self.max_n);
        // No n-gram of two or more fits a distance of the row's length.
        let farthest = self.max_skip.saturating_add(1).min(row.len().max(1));
        for distance in 1..=farthest {
            let shortest = if distance == 1 {
                self.min_n
            } else {
                self.min_n.max(2)
            };
            for start in 0..row.len() {
                for n in shortest..=self.max_n {
                    let last = (n - 1)
                        .checked_mul(distance)
                        .and_then(|span| span.checked_add(start));
                    if last.is_none_or(|last| last >= row.len()) {
                        break;
                    }
                    gram.clear();
                    let known = (0..n).all(|k| match row[start + k * distance] {
                        Some(number) => {
                            gram.push(number);
                            true
                        }
                        None => false,
                    });
                    if !known {
                        continue;
                    }
                    if let Some(&(column, weight)) = self.pool.get(&gram) {
                        match self.mode {
                            Mode::Tf => out[column] += 1.0,
                            Mode::Idf => out[column] = weight,
                            Mode::TfIdf => out[column] += weight,
                        }
                    }
                }
            }
        }
    }
}

impl Kernel for TfIdfVectorizer {
    fn name(&self) -> &'static str {
        "TfIdfVectorizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [input] = inputs else {
            bail!("TfIdfVectorizer takes one input, got {}", inputs.len());
        };
        ensure!(
            matches!(
                input.datum_type,
                DatumType::String | DatumType::I32 | DatumType::I64
            ),
            "TfIdfVectorizer takes strings or integers, got {:?}",
            input.datum_type
        );
        let shape: TVec<TDim> = match input.rank() {
            0 | 1 => tvec![self.columns.to_dim()],
            2 => tvec![input.shape[0].clone(), self.columns.to_dim()],
            _ => bail!(
                "TfIdfVectorizer takes tokens of shape [C] or [B, C], got {:?}",
                input.shape
            ),
        };
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width) = match *x.shape() {
            [] => (1, 1),
            [c] => (1, c),
            [b, c] => (b, c),
            _ => bail!(
                "TfIdfVectorizer takes tokens of shape [C] or [B, C], got {:?}",
                x.shape()
            ),
        };
        let view = x.try_as_plain_ram()?;
        // Tokens of the other kind than the pool's match nothing.
        let tokens: Option<Vec<Option<u32>>> = match (&self.vocabulary, x.datum_type()) {
            (Vocabulary::Texts(numbering), DatumType::String) => Some(
                view.as_slice::<String>()?
                    .iter()
                    .map(|s| numbering.get(s.as_str()).copied())
                    .collect(),
            ),
            (Vocabulary::Ints(numbering), DatumType::I64) => Some(
                view.as_slice::<i64>()?
                    .iter()
                    .map(|v| numbering.get(v).copied())
                    .collect(),
            ),
            (Vocabulary::Ints(numbering), DatumType::I32) => Some(
                view.as_slice::<i32>()?
                    .iter()
                    .map(|&v| numbering.get(&i64::from(v)).copied())
                    .collect(),
            ),
            _ => None,
        };
        let mut out = vec![0f32; rows * self.columns];
        if let Some(tokens) = tokens
            && width > 0
        {
            for (row, out) in tokens.chunks(width).zip(out.chunks_mut(self.columns)) {
                self.count(row, out);
            }
        }
        let shape: TVec<usize> = if x.rank() == 2 {
            tvec![rows, self.columns]
        } else {
            tvec![self.columns]
        };
        let y = tract_ndarray::ArrayD::from_shape_vec(&*shape, out)?.into_tensor();
        Ok(tvec!(y.into_tvalue()))
    }
}
