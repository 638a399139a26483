//! Categorical features: `OneHotEncoder` and `LabelEncoder` (what skl2onnx
//! exports `OneHotEncoder`, `OrdinalEncoder` and `LabelEncoder` as), on
//! string or integer categories.

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::tract_ndarray::ArrayD;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{bail, ensure, format_err};

use super::attributes::{Attributes, build};
use super::kernel::{Kernel, Parsed};

type Ctx<'a> = tract_onnx::model::ParsingContext<'a>;

/// A category as a hashable key: text, an integer, or a float by its bits
/// (with -0.0 read as 0.0, so the two match, as in onnxruntime).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Text(String),
    Int(i64),
    Float(u64),
}

impl Key {
    fn float(x: f64) -> Key {
        Key::Float(if x == 0.0 {
            0f64.to_bits()
        } else {
            x.to_bits()
        })
    }
}

/// The keys of every element of a tensor, in order; `None` for an element
/// that can match nothing (a NaN where NaN matches nothing).
fn keys_of(tensor: &Tensor, nan_matches: bool) -> TractResult<Vec<Option<Key>>> {
    let float = |x: f64| {
        if x.is_nan() {
            nan_matches.then(|| Key::Float(f64::NAN.to_bits()))
        } else {
            Some(Key::float(x))
        }
    };
    let view = tensor.try_as_plain_ram()?;
    Ok(match tensor.datum_type() {
        DatumType::String => view
            .as_slice::<String>()?
            .iter()
            .map(|s| Some(Key::Text(s.clone())))
            .collect(),
        DatumType::I64 => view
            .as_slice::<i64>()?
            .iter()
            .map(|&v| Some(Key::Int(v)))
            .collect(),
        DatumType::I32 => view
            .as_slice::<i32>()?
            .iter()
            .map(|&v| Some(Key::Int(v.into())))
            .collect(),
        DatumType::F32 => view
            .as_slice::<f32>()?
            .iter()
            .map(|&v| float(v.into()))
            .collect(),
        DatumType::F64 => view.as_slice::<f64>()?.iter().map(|&v| float(v)).collect(),
        other => bail!("categories of type {other:?} are not supported"),
    })
}

/// The ai.onnx.ml opset the model imports (1 if it does not say).
fn ml_opset(ctx: &Ctx) -> i64 {
    ctx.model
        .opset_import
        .iter()
        .find(|o| o.domain == "ai.onnx.ml")
        .map_or(1, |o| o.version)
}

// -- OneHotEncoder --------------------------------------------------------------

pub(crate) fn one_hot_encoder(_ctx: &Ctx, node: &NodeProto) -> Parsed {
    build(node, &["cats_int64s", "cats_strings", "zeros"], |a| {
        let categories: Vec<Key> = match (
            a.opt_list::<i64>("cats_int64s")?,
            a.strings("cats_strings")?,
        ) {
            (Some(ints), None) => ints.into_iter().map(Key::Int).collect(),
            (None, Some(strings)) => strings.into_iter().map(Key::Text).collect(),
            (None, None) => {
                return a.bail(
                    "cats_int64s",
                    "one of `cats_int64s` and `cats_strings` must be set",
                );
            }
            (Some(_), Some(_)) => {
                return a.bail(
                    "cats_strings",
                    "only one of `cats_int64s` and `cats_strings` may be set",
                );
            }
        };
        a.ensure("cats_int64s", !categories.is_empty(), || {
            "must list at least one category".into()
        })?;
        let strings = matches!(categories[0], Key::Text(_));
        // The last position of a repeated category wins, as in onnxruntime.
        let columns = categories
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Ok(OneHotEncoder {
            count: categories.len(),
            columns,
            strings,
            unknown_is_error: a.opt::<i64>("zeros")?.unwrap_or(1) == 0,
        })
    })
}

/// One column per category: 1 in the element's category's column, zeros
/// elsewhere (or an error for an unknown category, if `zeros` is 0).
/// Output shape: the input's, plus one dimension of the number of categories.
#[derive(Debug)]
struct OneHotEncoder {
    count: usize,
    columns: HashMap<Key, usize>,
    strings: bool,
    unknown_is_error: bool,
}

impl Kernel for OneHotEncoder {
    fn name(&self) -> &'static str {
        "OneHotEncoder"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [input] = inputs else {
            bail!("OneHotEncoder takes one input, got {}", inputs.len());
        };
        let string_input = input.datum_type == DatumType::String;
        ensure!(
            string_input == self.strings,
            "OneHotEncoder has {} categories, its input is {:?}",
            if self.strings { "string" } else { "integer" },
            input.datum_type
        );
        ensure!(
            string_input
                || matches!(
                    input.datum_type,
                    DatumType::I64 | DatumType::I32 | DatumType::F32 | DatumType::F64
                ),
            "OneHotEncoder takes strings or numbers, got {:?}",
            input.datum_type
        );
        ensure!(
            input.rank() <= 2,
            "OneHotEncoder takes at most 2 dimensions, got {:?}",
            input.shape
        );
        let mut shape = input.shape.to_tvec();
        shape.push(self.count.into());
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        // Numbers are truncated toward zero before they are looked up.
        let keys: Vec<Option<Key>> = match x.datum_type() {
            DatumType::F32 | DatumType::F64 => x
                .cast_to::<f64>()?
                .try_as_plain_ram()?
                .as_slice::<f64>()?
                .iter()
                .map(|&v| v.is_finite().then(|| Key::Int(v.trunc() as i64)))
                .collect(),
            _ => keys_of(x, false)?,
        };
        let mut shape = x.shape().to_vec();
        shape.push(self.count);
        let mut y = ArrayD::<f32>::zeros(shape);
        let flat = y
            .as_slice_mut()
            .ok_or_else(|| format_err!("OneHotEncoder: output not contiguous"))?;
        for (i, key) in keys.iter().enumerate() {
            match key.as_ref().and_then(|k| self.columns.get(k)) {
                Some(&column) => flat[i * self.count + column] = 1.0,
                None if self.unknown_is_error => {
                    bail!(
                        "OneHotEncoder: element {i} is a category the model was not trained on{} (the encoder was exported with handle_unknown='error')",
                        match key {
                            Some(Key::Text(s)) => format!(" (`{s}`)"),
                            Some(Key::Int(v)) => format!(" ({v})"),
                            _ => String::new(),
                        }
                    )
                }
                None => {}
            }
        }
        Ok(tvec!(y.into_tensor().into_tvalue()))
    }
}

// -- LabelEncoder ---------------------------------------------------------------

pub(crate) fn label_encoder(ctx: &Ctx, node: &NodeProto) -> Parsed {
    const KNOWN: &[&str] = &[
        "classes_strings",
        "keys_floats",
        "keys_int64s",
        "keys_strings",
        "keys_tensor",
        "values_floats",
        "values_int64s",
        "values_strings",
        "values_tensor",
        "default_float",
        "default_int64",
        "default_string",
        "default_tensor",
    ];
    let opset = ml_opset(ctx);
    build(node, KNOWN, |a| {
        if opset < 2 || a.has("classes_strings") {
            return label_encoder_v1(a);
        }
        let keys = one_of(
            a,
            "keys",
            &["keys_floats", "keys_int64s", "keys_strings", "keys_tensor"],
        )?;
        let values = one_of(
            a,
            "values",
            &[
                "values_floats",
                "values_int64s",
                "values_strings",
                "values_tensor",
            ],
        )?;
        a.ensure("values", keys.len() == values.len(), || {
            format!("{} keys and {} values", keys.len(), values.len())
        })?;
        let default = match a.tensor("default_tensor")? {
            Some(t) => {
                a.ensure(
                    "default_tensor",
                    t.datum_type() == values.datum_type() && t.len() == 1,
                    || {
                        format!(
                            "must hold one value of the values' type ({:?})",
                            values.datum_type()
                        )
                    },
                )?;
                t.into_shape(&[])?
            }
            None => match values.datum_type() {
                DatumType::String => tensor0(
                    a.opt::<String>("default_string")?
                        .unwrap_or_else(|| "_Unused".into()),
                ),
                DatumType::I64 => tensor0(a.opt::<i64>("default_int64")?.unwrap_or(-1)),
                DatumType::F32 => tensor0(a.opt::<f32>("default_float")?.unwrap_or(-0.0)),
                DatumType::F64 => tensor0(-0.0f64),
                other => {
                    return a.bail(
                        "values_tensor",
                        format!("values of type {other:?} are not supported"),
                    );
                }
            },
        };
        // Since opset 4 a NaN key matches NaN; before, it matches nothing.
        let nan_matches = opset >= 4;
        let mut index = HashMap::new();
        for (i, key) in keys_of(&keys, nan_matches)?.into_iter().enumerate() {
            // The first of repeated keys wins, as in onnxruntime.
            if let Some(key) = key {
                index.entry(key).or_insert(i);
            }
        }
        Ok(LabelEncoder {
            lookups: vec![Lookup {
                from: keys.datum_type(),
                index,
                values,
                default,
                nan_matches,
            }],
        })
    })
}

/// Opset 1: strings to their position in `classes_strings`, or positions
/// to the strings.
fn label_encoder_v1(a: &Attributes) -> TractResult<LabelEncoder> {
    let classes = a.strings("classes_strings")?.unwrap_or_default();
    let to_int = Lookup {
        from: DatumType::String,
        // The last of repeated classes wins.
        index: classes
            .iter()
            .enumerate()
            .map(|(i, s)| (Key::Text(s.clone()), i))
            .collect(),
        values: tensor1(&(0..classes.len() as i64).collect::<Vec<_>>()),
        default: tensor0(a.opt::<i64>("default_int64")?.unwrap_or(-1)),
        nan_matches: false,
    };
    let to_string = Lookup {
        from: DatumType::I64,
        index: (0..classes.len())
            .map(|i| (Key::Int(i as i64), i))
            .collect(),
        values: tensor1(&classes),
        default: tensor0(
            a.opt::<String>("default_string")?
                .unwrap_or_else(|| "_Unused".into()),
        ),
        nan_matches: false,
    };
    Ok(LabelEncoder {
        lookups: vec![to_int, to_string],
    })
}

/// The one attribute of a family that is set, as a 1-D tensor.
fn one_of(a: &Attributes, family: &str, names: &[&str]) -> TractResult<Tensor> {
    let set: Vec<&&str> = names.iter().filter(|n| a.has(n)).collect();
    let [name] = set[..] else {
        return a.bail(
            names[0],
            format!("exactly one of {} must be set", names.join(", ")),
        );
    };
    let tensor = match *name {
        n if n.ends_with("_floats") => tensor1(&a.list::<f32>(n)?),
        n if n.ends_with("_int64s") => tensor1(&a.list::<i64>(n)?),
        n if n.ends_with("_strings") => tensor1(&a.strings(n)?.unwrap_or_default()),
        n => {
            let t = a.tensor(n)?.unwrap_or_else(|| tensor1(&[0f32; 0]));
            let len = t.len();
            t.into_shape(&[len])?
        }
    };
    if !matches!(
        tensor.datum_type(),
        DatumType::String | DatumType::I64 | DatumType::F32 | DatumType::F64
    ) {
        return a.bail(
            name,
            format!(
                "{family} of type {:?} are not supported",
                tensor.datum_type()
            ),
        );
    }
    Ok(tensor)
}

/// One mapping from keys of one type to values.
#[derive(Debug)]
struct Lookup {
    from: DatumType,
    index: HashMap<Key, usize>,
    /// 1-D, one per key.
    values: Tensor,
    /// A scalar of the values' type.
    default: Tensor,
    nan_matches: bool,
}

/// Maps every element through a table of keys and values, with a default
/// for keys not in the table. The output has the input's shape.
#[derive(Debug)]
struct LabelEncoder {
    /// One lookup per input type it takes.
    lookups: Vec<Lookup>,
}

impl LabelEncoder {
    fn lookup(&self, dt: DatumType) -> TractResult<&Lookup> {
        // int32 keys are looked up as int64.
        let dt = if dt == DatumType::I32 {
            DatumType::I64
        } else {
            dt
        };
        self.lookups.iter().find(|l| l.from == dt).ok_or_else(|| {
            let takes: Vec<String> = self
                .lookups
                .iter()
                .map(|l| format!("{:?}", l.from))
                .collect();
            format_err!("LabelEncoder takes {} keys, got {dt:?}", takes.join(" or "))
        })
    }
}

impl Kernel for LabelEncoder {
    fn name(&self) -> &'static str {
        "LabelEncoder"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [input] = inputs else {
            bail!("LabelEncoder takes one input, got {}", inputs.len());
        };
        let lookup = self.lookup(input.datum_type)?;
        Ok(tvec!(lookup.values.datum_type().fact(input.shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let lookup = self.lookup(x.datum_type())?;
        let picks: Vec<Option<usize>> = keys_of(x, lookup.nan_matches)?
            .into_iter()
            .map(|k| k.and_then(|k| lookup.index.get(&k).copied()))
            .collect();
        fn gather<T: Datum + Clone>(
            picks: &[Option<usize>],
            values: &Tensor,
            default: &Tensor,
            shape: &[usize],
        ) -> TractResult<Tensor> {
            let values = values.try_as_plain_ram()?.as_slice::<T>()?;
            let default = default.try_as_plain_ram()?.to_scalar::<T>()?;
            let out: Vec<T> = picks
                .iter()
                .map(|p| p.map_or_else(|| default.clone(), |i| values[i].clone()))
                .collect();
            Ok(tract_ndarray::ArrayD::from_shape_vec(shape, out)?.into_tensor())
        }
        let shape = x.shape();
        let y = match lookup.values.datum_type() {
            DatumType::String => gather::<String>(&picks, &lookup.values, &lookup.default, shape)?,
            DatumType::I64 => gather::<i64>(&picks, &lookup.values, &lookup.default, shape)?,
            DatumType::F32 => gather::<f32>(&picks, &lookup.values, &lookup.default, shape)?,
            DatumType::F64 => gather::<f64>(&picks, &lookup.values, &lookup.default, shape)?,
            other => bail!("LabelEncoder values of type {other:?} are not supported"),
        };
        Ok(tvec!(y.into_tvalue()))
    }
}
