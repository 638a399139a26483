//! ONNX sequences, resolved before tract sees the graph.
//!
//! tract has no sequence values. The graphs that build one in practice
//! (exporters' `torch.split` into a list then `torch.cat`, a list of
//! tensors indexed by a constant) know its layout when the model is
//! written: which tensors it holds, in which order. So each sequence is
//! followed here, node by node, as the list of the tensors it holds, and
//! the nodes that read it become plain tensor nodes:
//!
//! - `SequenceEmpty`, `SequenceConstruct`, `SequenceInsert`,
//!   `SequenceErase` (and `Identity` of a sequence) make a new list;
//! - `SequenceAt` becomes an `Identity` of the element, `SequenceLength` a
//!   constant, `ConcatFromSequence` a `Concat` (after an `Unsqueeze` of
//!   each element with `new_axis`);
//! - `SplitToSequence` makes a list of the outputs of a `Split` (and
//!   `Squeeze`, without `keepdims`), emitted only if an element is read.
//!
//! Positions must be constants (initializers, `Constant` nodes, or inputs
//! frozen with `--input-value`), and the length of an axis split without
//! a `split` list must be declared. A sequence that leaves the graph, or
//! reaches any other node, is refused with the node's name.

use std::collections::HashMap;

use tract_onnx::data_resolver::FopenDataResolver;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::DatumType;
use tract_onnx::tensor::load_tensor;

use crate::describe::declared_dims;
use crate::error::LoadError;
use crate::proto::{self, int_attr, int_attribute, int64s, ints_attr, is_standard};

/// The operators resolved here.
pub(crate) const OPERATORS: &[&str] = &[
    "SequenceEmpty",
    "SequenceConstruct",
    "SequenceInsert",
    "SequenceErase",
    "SequenceAt",
    "SequenceLength",
    "ConcatFromSequence",
    "SplitToSequence",
];

/// Rewrites every sequence of the model's graphs (nested ones included)
/// into tensor nodes.
pub(crate) fn resolve(proto: &mut ModelProto) -> Result<(), LoadError> {
    let opset = proto::default_opset(proto);
    if let Some(graph) = proto.graph.as_mut() {
        resolve_graph(graph, opset)?;
    }
    Ok(())
}

fn resolve_graph(graph: &mut GraphProto, opset: i64) -> Result<(), LoadError> {
    for nested in proto::subgraphs_mut(graph) {
        resolve_graph(nested, opset)?;
    }
    if !graph
        .node
        .iter()
        .any(|n| is_standard(n) && (OPERATORS.contains(&n.op_type.as_str())))
    {
        return Ok(());
    }
    let mut resolver = Resolver {
        opset,
        constants: constants_of(graph),
        shapes: declared_shapes(graph),
        sequences: HashMap::new(),
        splits: Vec::new(),
        emitted: Vec::new(),
        initializers: Vec::new(),
        fresh: 0,
    };
    let nodes = std::mem::take(&mut graph.node);
    for node in nodes {
        resolver.node(node)?;
    }
    if let Some(output) = graph
        .output
        .iter()
        .find(|o| resolver.sequences.contains_key(&o.name))
    {
        return Err(LoadError::Unsupported(format!(
            "output `{}` is a sequence; a component's outputs are tensors",
            output.name
        )));
    }
    graph.node = resolver.emitted;
    graph.initializer.extend(resolver.initializers);
    Ok(())
}

/// An element of a sequence: a tensor of the graph, or the `index`-th piece
/// of a `SplitToSequence`, emitted when first read.
#[derive(Debug, Clone)]
enum Element {
    Tensor(String),
    Piece { split: usize, index: usize },
}

/// A `SplitToSequence`, to emit when one of its pieces is read.
#[derive(Debug)]
struct Split {
    node: NodeProto,
    input: String,
    axis: i64,
    sizes: Sizes,
    count: usize,
    keep_dims: bool,
    /// The pieces' names, once emitted.
    pieces: Option<Vec<String>>,
}

#[derive(Debug)]
enum Sizes {
    /// Each piece's length along the axis.
    Known(Vec<i64>),
    /// A `split` input known only when the model runs.
    Input(String),
}

struct Resolver {
    opset: i64,
    /// The integer constants of the graph, by name.
    constants: HashMap<String, Constant>,
    /// The declared shapes of the graph's values, by name (`None` for a
    /// dimension that is not a number).
    shapes: HashMap<String, Vec<Option<i64>>>,
    /// Each sequence value, as the elements it holds.
    sequences: HashMap<String, Vec<Element>>,
    splits: Vec<Split>,
    /// The rewritten graph's nodes, in order.
    emitted: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    fresh: usize,
}

impl Resolver {
    fn node(&mut self, node: NodeProto) -> Result<(), LoadError> {
        if let Some(seq) = node.input.iter().find(|i| self.sequences.contains_key(*i))
            && !(is_standard(&node)
                && (OPERATORS.contains(&node.op_type.as_str()) || node.op_type == "Identity"))
        {
            return Err(self.refuse(
                &node,
                format!(
                    "it takes the sequence `{seq}`; wasmodel follows sequences only through \
                     the Sequence* operators, SplitToSequence and ConcatFromSequence"
                ),
            ));
        }
        if !is_standard(&node) {
            self.emitted.push(node);
            return Ok(());
        }
        match node.op_type.as_str() {
            "SequenceEmpty" => self.define(&node, Vec::new()),
            "SequenceConstruct" => {
                let elements = node
                    .input
                    .iter()
                    .map(|i| Element::Tensor(i.clone()))
                    .collect();
                self.define(&node, elements);
            }
            "Identity" if self.sequences.contains_key(input(&node, 0)) => {
                let elements = self.sequence(&node, 0)?;
                self.define(&node, elements);
            }
            "SequenceInsert" => {
                let mut elements = self.sequence(&node, 0)?;
                let at = match optional_input(&node, 2) {
                    Some(_) => self.position(&node, 2, elements.len(), true)?,
                    None => elements.len(),
                };
                elements.insert(at, Element::Tensor(input(&node, 1).to_owned()));
                self.define(&node, elements);
            }
            "SequenceErase" => {
                let mut elements = self.sequence(&node, 0)?;
                if elements.is_empty() {
                    return Err(self.refuse(&node, "it erases from an empty sequence".into()));
                }
                let at = match optional_input(&node, 1) {
                    Some(_) => self.position(&node, 1, elements.len(), false)?,
                    None => elements.len() - 1,
                };
                elements.remove(at);
                self.define(&node, elements);
            }
            "SequenceAt" => {
                let elements = self.sequence(&node, 0)?;
                let at = self.position(&node, 1, elements.len(), false)?;
                let element = self.tensor(&elements[at])?;
                self.emit("Identity", vec![element], output(&node), Vec::new());
            }
            "SequenceLength" => {
                let count = self.sequence(&node, 0)?.len() as i64;
                let name = output(&node);
                self.initializers.push(int64s(&name, &[], &[count]));
            }
            "ConcatFromSequence" => self.concat(&node)?,
            "SplitToSequence" => self.split(&node)?,
            _ => self.emitted.push(node),
        }
        Ok(())
    }

    fn refuse(&self, node: &NodeProto, why: String) -> LoadError {
        let node = match node.name.as_str() {
            "" => format!("the {} node making `{}`", node.op_type, output(node)),
            name => format!("node `{name}` ({})", node.op_type),
        };
        LoadError::Unsupported(format!("{node}: {why}"))
    }

    fn define(&mut self, node: &NodeProto, elements: Vec<Element>) {
        self.sequences.insert(output(node), elements);
    }

    fn sequence(&self, node: &NodeProto, ix: usize) -> Result<Vec<Element>, LoadError> {
        let name = input(node, ix);
        self.sequences.get(name).cloned().ok_or_else(|| {
            self.refuse(
                node,
                format!(
                    "its sequence `{name}` is not built in this graph (a graph input or \
                     an outer graph's value); wasmodel follows only sequences the graph builds"
                ),
            )
        })
    }

    /// The constant position of input `ix` in a sequence of `len` elements
    /// (negative counts from the end; `len` itself only when inserting).
    fn position(
        &self,
        node: &NodeProto,
        ix: usize,
        len: usize,
        inserting: bool,
    ) -> Result<usize, LoadError> {
        let name = input(node, ix);
        let Some(&[value]) = self.constants.get(name).map(|c| c.values.as_slice()) else {
            return Err(self.refuse(
                node,
                format!(
                    "its position `{name}` is not a constant scalar; wasmodel resolves \
                     sequences when the model loads (freeze an input that gives it with \
                     --input-value)"
                ),
            ));
        };
        let len = len as i64;
        let end = if inserting { len } else { len - 1 };
        let at = if value < 0 { value + len } else { value };
        if !(0..=end).contains(&at) {
            return Err(self.refuse(
                node,
                format!("position {value} is out of range for a sequence of {len}"),
            ));
        }
        Ok(at as usize)
    }

    /// The tensor name of an element, emitting its split if needed.
    fn tensor(&mut self, element: &Element) -> Result<String, LoadError> {
        let (split, index) = match element {
            Element::Tensor(name) => return Ok(name.clone()),
            Element::Piece { split, index } => (*split, *index),
        };
        if self.splits[split].pieces.is_none() {
            self.emit_split(split)?;
        }
        Ok(self.splits[split].pieces.as_ref().expect("emitted")[index].clone())
    }

    fn concat(&mut self, node: &NodeProto) -> Result<(), LoadError> {
        let elements = self.sequence(node, 0)?;
        if elements.is_empty() {
            return Err(self.refuse(node, "it concatenates an empty sequence".into()));
        }
        let axis = int_attribute(node, "axis").unwrap_or(0);
        let new_axis = int_attribute(node, "new_axis").unwrap_or(0) != 0;
        let mut parts = Vec::new();
        for element in &elements {
            let tensor = self.tensor(element)?;
            parts.push(if new_axis {
                let name = self.fresh_name(node, "unsqueezed");
                self.axes_op("Unsqueeze", tensor, &name, axis);
                name
            } else {
                tensor
            });
        }
        self.emit("Concat", parts, output(node), vec![int_attr("axis", axis)]);
        Ok(())
    }

    fn split(&mut self, node: &NodeProto) -> Result<(), LoadError> {
        let data = input(node, 0).to_owned();
        let axis = int_attribute(node, "axis").unwrap_or(0);
        let keep_dims = int_attribute(node, "keepdims").unwrap_or(1) != 0;
        let length = || {
            let shape = self.shapes.get(&data)?;
            let rank = shape.len() as i64;
            let axis = if axis < 0 { axis + rank } else { axis };
            *shape.get(usize::try_from(axis).ok()?)?
        };
        let (sizes, count) = match optional_input(node, 1) {
            None => {
                let length = length().ok_or_else(|| self.unknown_length(node, &data, axis))?;
                (Sizes::Known(vec![1; length as usize]), length as usize)
            }
            Some(split) => match (self.constants.get(split), self.shapes.get(split)) {
                (Some(constant), _) if constant.rank == 0 => {
                    // One length for every piece, the last one shorter.
                    let chunk = constant.values[0];
                    let length = length().ok_or_else(|| self.unknown_length(node, &data, axis))?;
                    if chunk <= 0 {
                        return Err(
                            self.refuse(node, format!("split length {chunk} is not positive"))
                        );
                    }
                    let mut sizes = vec![chunk; (length / chunk) as usize];
                    if length % chunk != 0 {
                        sizes.push(length % chunk);
                    }
                    let count = sizes.len();
                    (Sizes::Known(sizes), count)
                }
                (Some(constant), _) => {
                    let sizes = constant.values.clone();
                    let count = sizes.len();
                    (Sizes::Known(sizes), count)
                }
                // Lengths known only when the model runs: as many pieces
                // as the list is long.
                (None, Some(shape)) if matches!(shape.as_slice(), [Some(_)]) => (
                    Sizes::Input(split.to_owned()),
                    shape[0].unwrap_or(0) as usize,
                ),
                _ => {
                    return Err(self.refuse(
                        node,
                        format!(
                            "its split `{split}` is neither a constant nor a list of declared \
                             length; freeze the input that gives it with --input-value"
                        ),
                    ));
                }
            },
        };
        let split = self.splits.len();
        self.splits.push(Split {
            node: node.clone(),
            input: data,
            axis,
            sizes,
            count,
            keep_dims,
            pieces: None,
        });
        self.define(
            node,
            (0..count)
                .map(|index| Element::Piece { split, index })
                .collect(),
        );
        Ok(())
    }

    fn unknown_length(&self, node: &NodeProto, data: &str, axis: i64) -> LoadError {
        self.refuse(
            node,
            format!(
                "the length of axis {axis} of `{data}` is not declared, so the number of \
                 pieces is unknown when the model loads"
            ),
        )
    }

    fn emit_split(&mut self, ix: usize) -> Result<(), LoadError> {
        let split = &self.splits[ix];
        let (base, input, axis, count, keep_dims) = (
            format!("{}/wasmodel_split_{ix}", output(&split.node)),
            split.input.clone(),
            split.axis,
            split.count,
            split.keep_dims,
        );
        let (mut inputs, mut attributes) = (vec![input], vec![int_attr("axis", axis)]);
        match &split.sizes {
            // Split takes its lengths as an attribute before opset 13.
            Sizes::Input(name) if self.opset < 13 => {
                return Err(self.refuse(
                    &split.node,
                    format!(
                        "its split `{name}` is not a constant, which Split takes before \
                         opset 13; freeze the input that gives it with --input-value"
                    ),
                ));
            }
            Sizes::Known(sizes) if self.opset < 13 => {
                attributes.push(ints_attr("split", sizes));
            }
            Sizes::Known(sizes) => {
                let name = format!("{base}/sizes");
                self.initializers
                    .push(int64s(&name, &[sizes.len() as i64], sizes));
                inputs.push(name);
            }
            Sizes::Input(name) => inputs.push(name.clone()),
        }
        let pieces: Vec<String> = (0..count).map(|i| format!("{base}/piece_{i}")).collect();
        self.emitted.push(NodeProto {
            name: base.clone(),
            op_type: "Split".into(),
            input: inputs,
            output: pieces.clone(),
            attribute: attributes,
            ..NodeProto::default()
        });
        let pieces = if keep_dims {
            pieces
        } else {
            pieces
                .into_iter()
                .map(|piece| {
                    let squeezed = format!("{piece}/squeezed");
                    self.axes_op("Squeeze", piece, &squeezed, axis);
                    squeezed
                })
                .collect()
        };
        self.splits[ix].pieces = Some(pieces);
        Ok(())
    }

    /// `Squeeze` or `Unsqueeze` of one axis: an attribute before opset 13,
    /// an input from it on.
    fn axes_op(&mut self, op: &str, input: String, output: &str, axis: i64) {
        if self.opset < 13 {
            self.emit(
                op,
                vec![input],
                output.into(),
                vec![ints_attr("axes", &[axis])],
            );
        } else {
            let axes = format!("{output}/axes");
            self.initializers.push(int64s(&axes, &[1], &[axis]));
            self.emit(op, vec![input, axes], output.into(), Vec::new());
        }
    }

    fn emit(
        &mut self,
        op: &str,
        inputs: Vec<String>,
        output: String,
        attribute: Vec<AttributeProto>,
    ) {
        self.emitted.push(NodeProto {
            name: format!("{output}/wasmodel_{op}"),
            op_type: op.into(),
            input: inputs,
            output: vec![output],
            attribute,
            ..NodeProto::default()
        });
    }

    fn fresh_name(&mut self, node: &NodeProto, what: &str) -> String {
        self.fresh += 1;
        format!("{}/wasmodel_{what}_{}", output(node), self.fresh)
    }
}

fn input(node: &NodeProto, ix: usize) -> &str {
    node.input.get(ix).map_or("", String::as_str)
}

fn optional_input(node: &NodeProto, ix: usize) -> Option<&str> {
    node.input
        .get(ix)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

fn output(node: &NodeProto) -> String {
    node.output.first().cloned().unwrap_or_default()
}

/// An integer constant of the graph.
struct Constant {
    rank: usize,
    values: Vec<i64>,
}

/// The graph's integer constants: initializers (an initializer that is
/// also an input, a default in IR 4 and later, is a constant, as tract-onnx
/// takes it) and `Constant` nodes.
fn constants_of(graph: &GraphProto) -> HashMap<String, Constant> {
    let load = |t: &TensorProto| {
        let tensor = load_tensor(&FopenDataResolver, t, None).ok()?;
        if !matches!(tensor.datum_type(), DatumType::I64 | DatumType::I32) {
            return None;
        }
        let ints = tensor.cast_to::<i64>().ok()?;
        let values = ints
            .try_as_plain_ram()
            .ok()?
            .as_slice::<i64>()
            .ok()?
            .to_vec();
        Some(Constant {
            rank: tensor.rank(),
            values,
        })
    };
    let mut constants: HashMap<String, Constant> = graph
        .initializer
        .iter()
        .filter_map(|t| Some((t.name.clone(), load(t)?)))
        .collect();
    for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
        let value = node.attribute.iter().find_map(|a| match a.name.as_str() {
            "value" => a.t.as_ref().and_then(load),
            "value_int" => Some(Constant {
                rank: 0,
                values: vec![a.i],
            }),
            "value_ints" => Some(Constant {
                rank: 1,
                values: a.ints.clone(),
            }),
            _ => None,
        });
        if let (Some(value), Some(name)) = (value, node.output.first()) {
            constants.insert(name.clone(), value);
        }
    }
    constants
}

/// The declared shapes of the graph's inputs and values.
fn declared_shapes(graph: &GraphProto) -> HashMap<String, Vec<Option<i64>>> {
    (graph.input.iter().chain(&graph.value_info))
        .filter_map(|v| Some((v.name.clone(), declared_dims(v)?)))
        .collect()
}
