//! Indices checked before tract's indexing operators use them.
//!
//! tract's Gather, GatherElements, GatherND, ScatterElements and ScatterND
//! take their indices on trust: an index past the end of its axis panics
//! inside tract (in a component, where a panic aborts, the call traps) or,
//! on an inner axis, reads the next row's values, which is silently wrong.
//! When the indices come from the caller (an embedding looked up by a
//! category id), that is the caller's mistake and deserves a typed error
//! naming the input (found by fuzzing: `fuzz/regressions/engine_inputs/`).
//!
//! So before the model is optimized, [`guard`] puts an [`IndexCheck`] node
//! on the indices of every such operator whose indices are not constant,
//! in the model and in the bodies of its `If` and `Scan` nodes. It
//! checks each index against the length of the data's axis it picks along,
//! turns negative ones into the positions they count back to (ONNX allows
//! them; tract's GatherND and ScatterND do not), and passes them on with
//! their element type. An index out of range stops the run with
//! [`IndexOutOfRange`], which `Model::predict` reports as
//! [`InputErrorKind::OutOfRange`] of the model inputs the indices are
//! computed from.

use std::collections::BTreeSet;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{
    Gather, GatherElements, GatherNd, ScatterElements, ScatterNd,
};
use tract_onnx::tract_core::ops::logic::IfThenElse;
use tract_onnx::tract_core::ops::scan::Scan;
use tract_onnx::tract_hir::internal::{
    EvalContext, EvalOp, InletId, Op, StaticName, TypedOp, bail,
};

use crate::error::{InputError, InputErrorKind};

/// Puts an [`IndexCheck`] before every indexing operator of `model` whose
/// indices are not constant, in the bodies of its `If` and `Scan` nodes too.
pub(crate) fn guard(model: &mut TypedModel) -> TractResult<()> {
    guard_graph(model, None)
}

/// [`guard`] on one graph. `behind` is `None` for the model itself; for the
/// body of an `If` or a `Scan`, it is the model inputs that node reads,
/// which any index inside it is computed from (the body's own sources are
/// not the model's inputs).
fn guard_graph(model: &mut TypedModel, behind: Option<&[String]>) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let reads = || match behind {
            Some(names) => names.to_vec(),
            None => inputs_behind(model, &node.inputs),
        };
        if let Some(op) = node.op_as::<IfThenElse>() {
            let (mut op, reads) = (op.clone(), reads());
            guard_graph(&mut op.then_body, Some(&reads))?;
            guard_graph(&mut op.else_body, Some(&reads))?;
            model.node_mut(id).op = Box::new(op);
        } else if let Some(op) = node.op_as::<Scan>() {
            let (mut op, reads) = (op.clone(), reads());
            guard_graph(&mut op.body, Some(&reads))?;
            model.node_mut(id).op = Box::new(op);
        }
    }
    let targets: Vec<(usize, &'static str, Indexing)> = model
        .nodes()
        .iter()
        .filter_map(|node| indexing(node).map(|(op, how)| (node.id, op, how)))
        .collect();
    for (id, op, indexing) in targets {
        let node = model.node(id);
        let [data, indices, ..] = node.inputs[..] else {
            continue;
        };
        if model.outlet_fact(indices)?.konst.is_some() {
            continue;
        }
        let check = IndexCheck {
            indexing,
            op,
            node: node.name.clone(),
            inputs: match behind {
                Some(names) => names.to_vec(),
                None => inputs_behind(model, &[indices]),
            },
        };
        let name = format!("{}.index_check", node.name);
        let checked = model.wire_node(name, check, &[data, indices])?[0];
        model.add_edge(checked, InletId::new(id, 1))?;
    }
    Ok(())
}

/// How an operator's indices (its second input) pick from its data (its
/// first input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Indexing {
    /// Each index picks along one axis of the data (Gather,
    /// GatherElements, ScatterElements).
    Axis(usize),
    /// Each row of the indices' last axis is a position in the data's axes
    /// after the first `batch_dims` (GatherND, ScatterND).
    Tuple { batch_dims: usize },
}

fn indexing(node: &TypedNode) -> Option<(&'static str, Indexing)> {
    if let Some(op) = node.op_as::<Gather>() {
        Some(("Gather", Indexing::Axis(op.axis)))
    } else if let Some(op) = node.op_as::<GatherElements>() {
        Some(("GatherElements", Indexing::Axis(op.axis)))
    } else if let Some(op) = node.op_as::<ScatterElements>() {
        Some(("ScatterElements", Indexing::Axis(op.axis)))
    } else if let Some(op) = node.op_as::<GatherNd>() {
        let batch_dims = op.batch_dims;
        Some(("GatherND", Indexing::Tuple { batch_dims }))
    } else if node.op_is::<ScatterNd>() {
        Some(("ScatterND", Indexing::Tuple { batch_dims: 0 }))
    } else {
        None
    }
}

/// The names of the model inputs `outlets` are computed from, in the order
/// the model declares them.
fn inputs_behind(model: &TypedModel, outlets: &[OutletId]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<usize> = outlets.iter().map(|o| o.node).collect();
    while let Some(id) = pending.pop() {
        if seen.insert(id) {
            pending.extend(model.node(id).inputs.iter().map(|i| i.node));
        }
    }
    model
        .inputs
        .iter()
        .filter(|input| seen.contains(&input.node))
        .map(|input| model.node(input.node).name.clone())
        .collect()
}

/// An index out of the range of the axis it picks along.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "index {index} is out of range for axis {axis} (length {len}) of the data of {op} node `{node}`"
)]
pub(crate) struct IndexOutOfRange {
    index: i64,
    axis: usize,
    len: usize,
    op: &'static str,
    node: String,
    inputs: Vec<String>,
}

impl IndexOutOfRange {
    /// The caller's mistake, as an error about the inputs the index comes
    /// from (or about the node, for indices computed from no input).
    pub(crate) fn input_error(&self) -> InputError {
        let input = if self.inputs.is_empty() {
            format!("indices of {} node `{}`", self.op, self.node)
        } else {
            self.inputs.join("`, `")
        };
        let len = self.len;
        InputError::new(
            InputErrorKind::OutOfRange,
            input,
            format!(
                "indices in [-{len}, {len}) for axis {} of the data of {} node `{}`",
                self.axis, self.op, self.node
            ),
            format!("index {}", self.index),
        )
    }
}

/// Checks and normalizes the indices of one indexing operator: inputs
/// (data, indices), output the indices, negative ones resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct IndexCheck {
    indexing: Indexing,
    /// The operator and node the indices are for, and the model inputs
    /// they come from, for the error.
    op: &'static str,
    node: String,
    inputs: Vec<String>,
}

impl IndexCheck {
    /// `index` as a position in an axis of `len`, or the error.
    fn resolve(&self, index: i64, axis: usize, len: usize) -> TractResult<i64> {
        let resolved = i64::try_from(len)
            .ok()
            .map(|n| if index < 0 { index + n } else { index })
            .filter(|&i| i >= 0 && usize::try_from(i).is_ok_and(|i| i < len));
        resolved.ok_or_else(|| {
            IndexOutOfRange {
                index,
                axis,
                len,
                op: self.op,
                node: self.node.clone(),
                inputs: self.inputs.clone(),
            }
            .into()
        })
    }

    /// The length of `axis` of data of shape `shape`.
    fn axis_len(&self, shape: &[usize], axis: usize) -> TractResult<usize> {
        match shape.get(axis) {
            Some(&len) => Ok(len),
            None => bail!(
                "{} node `{}` indexes axis {axis} of data with {} dimensions",
                self.op,
                self.node,
                shape.len()
            ),
        }
    }

    fn check(&self, data: &TValue, indices: &TValue) -> TractResult<TValue> {
        let wide = indices.cast_to::<i64>()?;
        let values = wide.try_as_plain_ram()?.as_slice::<i64>()?;
        let shape = data.shape();
        let mut resolved = Vec::with_capacity(values.len());
        match self.indexing {
            Indexing::Axis(axis) => {
                let len = self.axis_len(shape, axis)?;
                for &index in values {
                    resolved.push(self.resolve(index, axis, len)?);
                }
            }
            Indexing::Tuple { batch_dims } => {
                // (Indices of no dimensions or none on their last axis
                // have no tuple to check.)
                let width = indices.shape().last().copied().unwrap_or(1).max(1);
                for (i, &index) in values.iter().enumerate() {
                    let axis = batch_dims + i % width;
                    let len = self.axis_len(shape, axis)?;
                    resolved.push(self.resolve(index, axis, len)?);
                }
            }
        }
        if resolved == values {
            return Ok(indices.clone());
        }
        let tensor = Tensor::from_shape(indices.shape(), &resolved)?;
        Ok(tensor
            .cast_to_dt(indices.datum_type())?
            .into_owned()
            .into_tvalue())
    }
}

impl Op for IndexCheck {
    fn name(&self) -> StaticName {
        "IndexCheck".into()
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for IndexCheck {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [data, indices] = &inputs[..] else {
            bail!(
                "IndexCheck takes data and indices, got {} inputs",
                inputs.len()
            );
        };
        Ok(tvec!(self.check(data, indices)?))
    }

    /// Indices already in range and not negative are handed back as they
    /// came.
    fn forwards_input(&self) -> Option<usize> {
        Some(1)
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        self.eval(&EvalContext::out_of_plan(), inputs).map(Some)
    }
}

impl TypedOp for IndexCheck {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [_, indices] = inputs else {
            bail!(
                "IndexCheck takes data and indices, got {} inputs",
                inputs.len()
            );
        };
        Ok(tvec!(indices.datum_type.fact(indices.shape.clone())))
    }

    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }
}
