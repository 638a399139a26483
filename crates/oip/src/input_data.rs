//! An input's JSON `data`, read as the parser meets it: numbers go
//! straight into a typed buffer (`Vec<f32>` for an FP32 input), without a
//! tree of JSON values in between, so reading a request costs one linear
//! scan of its body.
//!
//! The data may be flat or nested, like the engine's own JSON reader
//! ([`wasmodel_engine::json::flatten`] and
//! [`elements`](wasmodel_engine::json::elements)), and is held to the same
//! rules with the same messages: nested arrays must not be ragged,
//! and each element must be exactly representable in the input's type.
//! What the data breaks is kept as a [`Problem`] rather than failing the
//! parse, so that the caller reports it the way it reports everything else
//! about the input, and in the same order (datatype first).
//!
//! The buffer is typed when the input's `datatype` comes before its `data`
//! in the request (tritonclient and the KServe client write it so); when it
//! comes after, elements are kept as compact [`Leaf`]s and converted once
//! the datatype is known.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use wasmodel_engine::{ElementType, TensorData, json};

/// What an input's data breaks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// Its arrays are ragged.
    Shape(String),
    /// An element is not of the input's type.
    Element(String),
}

/// An input's data, read.
#[derive(Debug)]
pub(crate) struct InputData {
    column: Column,
    shape_problem: Option<String>,
    element_problem: Option<String>,
}

#[derive(Debug)]
enum Column {
    /// Converted as read (until an element does not fit).
    Typed(Sink),
    /// Kept for conversion once the element type is known; `strings`
    /// holds the text that `Leaf::Str` and `Leaf::Object` index.
    Leaves {
        leaves: Vec<Leaf>,
        strings: Vec<String>,
    },
}

/// One element of the data as JSON has it, in 16 bytes.
#[derive(Debug, Clone, Copy)]
enum Leaf {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    /// A string: its index among the strings kept beside the leaves.
    Str(usize),
    /// An object where an element was expected, kept as its JSON text
    /// (for the message that refuses it) like a string.
    Object(usize),
}

impl InputData {
    /// The elements as `element_type` (the type the input's `datatype`
    /// names; elements read after it are of that type already), or what
    /// is wrong with them: the arrays' shape first, then the first element
    /// that does not fit.
    pub(crate) fn into_data(self, element_type: ElementType) -> Result<TensorData, Problem> {
        if let Some(message) = self.shape_problem {
            return Err(Problem::Shape(message));
        }
        if let Some(message) = self.element_problem {
            return Err(Problem::Element(message));
        }
        match self.column {
            // Read as the same `datatype` names, which came first.
            Column::Typed(sink) => Ok(sink.data),
            Column::Leaves { leaves, strings } => {
                let mut sink = Sink::new(element_type, leaves.len());
                let mut strings: Vec<Option<String>> = strings.into_iter().map(Some).collect();
                for (i, leaf) in leaves.into_iter().enumerate() {
                    let text = match leaf {
                        Leaf::Str(index) | Leaf::Object(index) => strings[index].take(),
                        _ => None,
                    };
                    sink.push(i, leaf, text).map_err(Problem::Element)?;
                }
                Ok(sink.data)
            }
        }
    }
}

/// Elements converted into one element type as they come.
#[derive(Debug)]
struct Sink {
    data: TensorData,
}

impl Sink {
    fn new(element_type: ElementType, capacity: usize) -> Sink {
        let data = match element_type {
            ElementType::F32 => TensorData::F32(Vec::with_capacity(capacity)),
            ElementType::F64 => TensorData::F64(Vec::with_capacity(capacity)),
            ElementType::I32 => TensorData::I32(Vec::with_capacity(capacity)),
            ElementType::I64 => TensorData::I64(Vec::with_capacity(capacity)),
            ElementType::U8 => TensorData::U8(Vec::with_capacity(capacity)),
            ElementType::Bool => TensorData::Bool(Vec::with_capacity(capacity)),
            ElementType::String => TensorData::String(Vec::with_capacity(capacity)),
        };
        Sink { data }
    }

    /// Appends element `i` (`text` is a string's or an object's), or says
    /// why it is not of the sink's type, in the engine's words
    /// ([`elements`](wasmodel_engine::json::elements)).
    #[inline]
    fn push(&mut self, i: usize, leaf: Leaf, text: Option<String>) -> Result<(), String> {
        use ElementType as T;
        let s = text.as_deref();
        // Only on the way out: this runs for every element of a request.
        let refuse = |t: ElementType, s: Option<&str>| {
            let what = json::expected(t);
            format!("element {i} is {}, which is not {what}", Shown(leaf, s))
        };
        match &mut self.data {
            TensorData::F32(v) => v.push(real(leaf, s).ok_or_else(|| refuse(T::F32, s))? as f32),
            TensorData::F64(v) => v.push(real(leaf, s).ok_or_else(|| refuse(T::F64, s))?),
            TensorData::I32(v) => v.push(
                integer(leaf)
                    .and_then(|x| i32::try_from(x).ok())
                    .ok_or_else(|| refuse(T::I32, s))?,
            ),
            TensorData::I64(v) => v.push(integer(leaf).ok_or_else(|| refuse(T::I64, s))?),
            TensorData::U8(v) => v.push(
                integer(leaf)
                    .and_then(|x| u8::try_from(x).ok())
                    .ok_or_else(|| refuse(T::U8, s))?,
            ),
            TensorData::Bool(v) => match leaf {
                Leaf::Bool(b) => v.push(b),
                _ => return Err(refuse(T::Bool, s)),
            },
            TensorData::String(v) => match (leaf, text) {
                (Leaf::Str(_), Some(text)) => v.push(text),
                (_, text) => return Err(refuse(T::String, text.as_deref())),
            },
        }
        Ok(())
    }
}

/// A number, or the words JSON has none for (as the engine reads them).
fn real(leaf: Leaf, text: Option<&str>) -> Option<f64> {
    match (leaf, text) {
        (Leaf::Unsigned(x), _) => Some(x as f64),
        (Leaf::Signed(x), _) => Some(x as f64),
        (Leaf::Float(x), _) => Some(x),
        (Leaf::Str(_), Some(word)) => json::non_finite(word),
        _ => None,
    }
}

/// An integer JSON wrote as one (`2.0` is not), that fits an i64.
fn integer(leaf: Leaf) -> Option<i64> {
    match leaf {
        Leaf::Unsigned(x) => i64::try_from(x).ok(),
        Leaf::Signed(x) => Some(x),
        _ => None,
    }
}

/// A leaf as JSON writes it, for messages.
struct Shown<'a>(Leaf, Option<&'a str>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Leaf::Null => f.write_str("null"),
            Leaf::Bool(b) => write!(f, "{b}"),
            Leaf::Unsigned(x) => write!(f, "{x}"),
            Leaf::Signed(x) => write!(f, "{x}"),
            Leaf::Float(x) => match serde_json::Number::from_f64(x) {
                Some(n) => write!(f, "{n}"),
                None => write!(f, "{x:?}"),
            },
            Leaf::Str(_) => write!(f, "{}", Value::from(self.1.unwrap_or_default())),
            Leaf::Object(_) => f.write_str(self.1.unwrap_or("{}")),
        }
    }
}

/// Reads an input's `data`, into a typed buffer if its element type is
/// known by then.
pub(crate) struct DataSeed(pub Option<ElementType>);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = InputData;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<InputData, D::Error> {
        let column = match self.0 {
            Some(element_type) => Column::Typed(Sink::new(element_type, 0)),
            None => Column::Leaves {
                leaves: Vec::new(),
                strings: Vec::new(),
            },
        };
        let mut reader = Reader {
            column,
            shape_problem: None,
            element_problem: None,
            count: 0,
            lengths: Vec::new(),
            leaf_depth: None,
            at: Vec::new(),
        };
        Node {
            reader: &mut reader,
            depth: 0,
        }
        .deserialize(deserializer)?;
        Ok(InputData {
            column: reader.column,
            shape_problem: reader.shape_problem,
            element_problem: reader.element_problem,
        })
    }
}

/// The state of one input's data as it is read.
struct Reader {
    column: Column,
    /// The first way the arrays are ragged; once set, the rest is skipped.
    shape_problem: Option<String>,
    /// The first element that does not fit; once set, elements are no
    /// longer converted, but the arrays are still checked (the engine
    /// checks them first, and so reports a ragged array over a bad element).
    element_problem: Option<String>,
    /// Elements read so far.
    count: usize,
    /// For each depth, the length of the first array there to end: every
    /// other array at that depth must have it.
    lengths: Vec<Option<usize>>,
    /// The depth of the elements, once one (or an empty array) says.
    leaf_depth: Option<usize>,
    /// Where the value being read is: its index at each depth.
    at: Vec<usize>,
}

impl Reader {
    /// The value being read, in the engine's words: `[1][0]`.
    fn position(&self) -> String {
        let indices: Vec<String> = self.at.iter().map(ToString::to_string).collect();
        format!("[{}]", indices.join("]["))
    }

    fn ragged(&mut self, what: &str) {
        let position = self.position();
        self.shape_problem = Some(format!("ragged array: {position} {what}"));
    }

    /// Takes one element at `depth` (`text` is a string's or an object's).
    #[inline]
    fn leaf(&mut self, depth: usize, leaf: Leaf, text: Option<String>) {
        if self.shape_problem.is_some() {
            return;
        }
        match self.leaf_depth {
            Some(d) if d != depth => return self.ragged("is not an array"),
            _ => self.leaf_depth = Some(depth),
        }
        let i = self.count;
        self.count += 1;
        if self.element_problem.is_some() {
            return;
        }
        match &mut self.column {
            Column::Typed(sink) => {
                if let Err(message) = sink.push(i, leaf, text) {
                    self.element_problem = Some(message);
                }
            }
            Column::Leaves { leaves, strings } => leaves.push(match (leaf, text) {
                (Leaf::Str(_), Some(text)) => {
                    strings.push(text);
                    Leaf::Str(strings.len() - 1)
                }
                (Leaf::Object(_), Some(text)) => {
                    strings.push(text);
                    Leaf::Object(strings.len() - 1)
                }
                (leaf, _) => leaf,
            }),
        }
    }

    /// Whether an array may start at `depth`.
    fn array_starts(&mut self, depth: usize) -> bool {
        if self.shape_problem.is_some() {
            return false;
        }
        if self.leaf_depth.is_some_and(|d| depth >= d) {
            self.ragged("nests deeper than the others");
            return false;
        }
        true
    }

    /// An array at `depth` ended after `len` items.
    fn array_ends(&mut self, depth: usize, len: usize) {
        if self.shape_problem.is_some() {
            return;
        }
        if self.lengths.len() <= depth {
            self.lengths.resize(depth + 1, None);
        }
        match self.lengths[depth] {
            Some(expected) if expected != len => {
                let which = if self.at.is_empty() {
                    "the top level".into()
                } else {
                    self.position()
                };
                self.shape_problem = Some(format!(
                    "ragged array: {which} has {len} elements where {expected} were expected"
                ));
                return;
            }
            _ => self.lengths[depth] = Some(len),
        }
        if len == 0 {
            match self.leaf_depth {
                Some(d) if d != depth + 1 => self.ragged("is empty where the others are not"),
                _ => self.leaf_depth = Some(depth + 1),
            }
        }
    }
}

/// One value of the data at `depth`: an array or an element.
struct Node<'r> {
    reader: &'r mut Reader,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tensor data: an element or nested arrays of them")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Node { reader, depth } = self;
        if !reader.array_starts(depth) {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let mut len = 0;
        reader.at.push(0);
        loop {
            let item = seq.next_element_seed(Node {
                reader: &mut *reader,
                depth: depth + 1,
            });
            match item {
                Ok(Some(())) => len += 1,
                Ok(None) => break,
                Err(e) => {
                    reader.at.pop();
                    return Err(e);
                }
            }
            if let Some(at) = reader.at.last_mut() {
                *at = len;
            }
        }
        reader.at.pop();
        reader.array_ends(depth, len);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let object = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.reader
            .leaf(self.depth, Leaf::Object(0), Some(object.to_string()));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.reader.leaf(self.depth, Leaf::Null, None);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.reader.leaf(self.depth, Leaf::Bool(v), None);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.reader.leaf(self.depth, Leaf::Unsigned(v), None);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.reader.leaf(self.depth, Leaf::Signed(v), None);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.reader.leaf(self.depth, Leaf::Float(v), None);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.reader.leaf(self.depth, Leaf::Str(0), Some(v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use wasmodel_engine::json::{elements, flatten};

    /// What the engine's reader makes of `data` as `element_type`, in this
    /// module's terms.
    fn engine(data: &Value, element_type: ElementType) -> Result<TensorData, Problem> {
        let (_, leaves) = flatten(data).map_err(Problem::Shape)?;
        elements(element_type, &leaves).map_err(Problem::Element)
    }

    /// This module's reading of `data`, with the datatype known before the
    /// data (typed) or after it (leaves).
    fn streamed(
        data: &Value,
        element_type: ElementType,
        typed: bool,
    ) -> Result<TensorData, Problem> {
        let text = data.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let seed = DataSeed(typed.then_some(element_type));
        seed.deserialize(&mut de)
            .expect("valid JSON")
            .into_data(element_type)
    }

    fn same(a: &Result<TensorData, Problem>, b: &Result<TensorData, Problem>) -> bool {
        match (a, b) {
            (Ok(TensorData::F32(x)), Ok(TensorData::F32(y))) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
            }
            (Ok(TensorData::F64(x)), Ok(TensorData::F64(y))) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
            }
            _ => a == b,
        }
    }

    #[test]
    fn reads_as_the_engine_reads() {
        let documents = [
            json!([[1, 2.5], [3, 4]]),
            json!([1, 2, 3]),
            json!(7),
            json!([]),
            json!([[], []]),
            json!([[[0.1, -2e-8]], [[3.4e38, 1e-45]]]),
            json!(["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", 1]),
            json!([1, -1, 255, 256, -129, 2147483648_i64, i64::MAX, u64::MAX]),
            json!([1.0, 2]),
            json!([true, false]),
            json!(["a", "é", "\"quoted\""]),
            json!([null, 1]),
            json!([1, {"a": 1}]),
            json!([[1, 2], [3]]),
            json!([[1], [2, 3]]),
            json!([1, [2]]),
            json!([[1], 2]),
            json!([[], [1]]),
            json!([[1], []]),
            json!([[[1]], [[]]]),
            json!([[[1, 2]], [[3, 4], [5, 6]]]),
            json!([[1, "x"], [3]]),
        ];
        for data in &documents {
            for element_type in ElementType::ALL {
                // Parsed from text as a request is: serde_json's float
                // parsing is not the `json!` macro's.
                let parsed: Value = serde_json::from_str(&data.to_string()).unwrap();
                let expected = engine(&parsed, element_type);
                for typed in [true, false] {
                    let got = streamed(data, element_type, typed);
                    assert!(
                        same(&expected, &got),
                        "{data} as {element_type:?} (typed: {typed}): engine {expected:?}, here {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn ragged_messages_say_where() {
        let got = streamed(&json!([[1, 2], [3]]), ElementType::F32, true);
        assert_eq!(
            got,
            Err(Problem::Shape(
                "ragged array: [1] has 1 elements where 2 were expected".into()
            ))
        );
        let got = streamed(&json!([[1], 2]), ElementType::F32, false);
        assert_eq!(
            got,
            Err(Problem::Shape("ragged array: [1] is not an array".into()))
        );
    }

    #[test]
    fn the_first_bad_element_is_named() {
        let got = streamed(&json!([1, 2.5, "x"]), ElementType::I64, true);
        assert_eq!(
            got,
            Err(Problem::Element(
                "element 1 is 2.5, which is not an i64 integer".into()
            ))
        );
        let got = streamed(&json!([1, "x"]), ElementType::F32, false);
        assert_eq!(
            got,
            Err(Problem::Element(
                "element 1 is \"x\", which is not a number".into()
            ))
        );
    }
}
