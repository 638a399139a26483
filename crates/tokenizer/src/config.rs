//! The parts of `tokenizer.json` read as plain data. The stages
//! (`normalizer`, `pre_tokenizer`, `model`, `post_processor`) stay JSON
//! values here: each stage's module reads its own, and refuses a `type` it
//! does not implement by name.

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub(crate) struct File {
    #[serde(default)]
    pub added_tokens: Vec<AddedToken>,
    pub normalizer: Option<Value>,
    pub pre_tokenizer: Option<Value>,
    pub model: Value,
    pub post_processor: Option<Value>,
    pub truncation: Option<TruncationConfig>,
    pub padding: Option<PaddingConfig>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    #[serde(default)]
    pub single_word: bool,
    #[serde(default)]
    pub lstrip: bool,
    #[serde(default)]
    pub rstrip: bool,
    #[serde(default)]
    pub normalized: bool,
    #[serde(default)]
    pub special: bool,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Direction {
    #[default]
    Right,
    Left,
}

#[derive(Deserialize)]
pub(crate) struct TruncationConfig {
    pub max_length: usize,
    #[serde(default)]
    pub direction: Direction,
}

#[derive(Deserialize)]
pub(crate) enum PaddingStrategy {
    BatchLongest,
    Fixed(usize),
}

#[derive(Deserialize)]
pub(crate) struct PaddingConfig {
    pub strategy: PaddingStrategy,
    #[serde(default)]
    pub direction: Direction,
    pub pad_to_multiple_of: Option<usize>,
    #[serde(default)]
    pub pad_id: u32,
    #[serde(default)]
    pub pad_type_id: u32,
}

/// A stage's `type`, for dispatching and for naming what is refused.
pub(crate) fn kind(value: &Value) -> &str {
    value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("(no type)")
}

/// A stage's field, read as `T`; absent is `default`.
pub(crate) fn field<T: serde::de::DeserializeOwned>(
    value: &Value,
    name: &str,
    default: T,
) -> Result<T, crate::Error> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| crate::Error::Invalid(format!("`{name}` of a `{}`: {e}", kind(value)))),
    }
}

/// A `Sequence` stage's steps (its list `key`), each read by `each`.
pub(crate) fn steps<T>(
    value: &Value,
    key: &str,
    each: fn(&Value) -> Result<T, crate::Error>,
) -> Result<Vec<T>, crate::Error> {
    let items: Vec<Value> = field(value, key, Vec::new())?;
    items.iter().map(each).collect()
}
