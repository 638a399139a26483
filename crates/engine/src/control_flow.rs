//! ONNX `If`, registered with tract-onnx in place of its own, so that a
//! condition known while the model loads picks its branch then.
//!
//! Exporters write `If` for two kinds of conditions:
//! - one computed from shapes: PyTorch traces `x.squeeze(-1) if
//!   x.shape[-1] == 1 else x` as an `If` on `Shape`, and the two branches
//!   give different shapes;
//! - one computed from an input the caller sets once, such as the sample
//!   rate a voice-activity detector is given.
//!
//! Once the shapes are concrete (a plan per input shape), or the input is
//! frozen (`--input-value`), the condition is a constant. tract's `If`
//! still analyses both branches and types both, and its typed `IfThenElse`
//! requires both to give the same output facts: the branch that can never
//! run fails the load (`Attempt to squeeze an axis which dimension is not
//! one`, `IfThenElse: Condition failed`). This one analyses and types only
//! the branch the condition picks, and wires it in place of the node. A
//! condition only known when the model runs keeps tract's behaviour: both
//! branches, and tract's `IfThenElse`.

use tract_onnx::model::{ParseResult, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::logic::IfThenElse;
use tract_onnx::tract_hir::internal::*;

/// Builds an `If` node: its two branches parsed as graphs of their own,
/// with the outer values they use as extra inputs (after the condition).
pub(crate) fn if_then_else(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let branch = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.g.as_ref())
            .with_context(|| format!("If node `{}` has no `{name}` graph", node.name))
    };
    let ParseResult {
        model: then_body,
        unresolved_inputs: then_uses,
        ..
    } = ctx.parse_graph(branch("then_branch")?)?;
    let ParseResult {
        model: else_body,
        unresolved_inputs: else_uses,
        ..
    } = ctx.parse_graph(branch("else_branch")?)?;
    let mut outer: Vec<String> = then_uses.iter().chain(&else_uses).cloned().collect();
    outer.sort();
    outer.dedup();
    let mapping = |uses: &[String]| -> Vec<usize> {
        uses.iter()
            .map(|name| 1 + outer.iter().position(|o| o == name).unwrap_or(0))
            .collect()
    };
    let op = If {
        then_input_mapping: mapping(&then_uses),
        else_input_mapping: mapping(&else_uses),
        then_body,
        else_body,
        unanalysed: [None, None],
    };
    Ok((Box::new(op), outer))
}

/// `If`: input 0 is the condition, the others are the outer values the
/// branches use (`*_input_mapping[i]` is the node input of the branch's
/// input `i`).
#[derive(Debug, Clone)]
struct If {
    then_body: InferenceModel,
    then_input_mapping: Vec<usize>,
    else_body: InferenceModel,
    else_input_mapping: Vec<usize>,
    /// Why each branch (then, else) could not be analysed, if it could not.
    unanalysed: [Option<String>; 2],
}

impl If {
    /// Why a branch cannot be typed: its analysis failure.
    fn why_not(&self, condition: bool) -> TractError {
        let failure = &self.unanalysed[usize::from(!condition)];
        format_err!(
            "{}",
            failure.as_deref().unwrap_or("the branch cannot be typed")
        )
    }

    fn branch(&self, condition: bool) -> (&InferenceModel, &[usize]) {
        if condition {
            (&self.then_body, &self.then_input_mapping)
        } else {
            (&self.else_body, &self.else_input_mapping)
        }
    }
}

// Two `If`s are never merged as equal operators (tract's own does the
// same).
impl PartialEq for If {
    fn eq(&self, _: &Self) -> bool {
        false
    }
}
impl Eq for If {}

impl Op for If {
    fn name(&self) -> StaticName {
        "If".into()
    }

    not_a_typed_op!();
}

impl EvalOp for If {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (body, mapping) = self.branch(inputs[0].cast_to_scalar::<bool>()?);
        let inputs = mapping.iter().map(|&ix| inputs[ix].clone()).collect();
        body.clone().into_runnable()?.run(inputs)
    }
}

/// Unifies a branch's inputs with the node's, and its outputs with the
/// node's when `outputs` is given, then analyses it.
fn refine(
    body: &mut InferenceModel,
    mapping: &[usize],
    inputs: &mut [InferenceFact],
    outputs: Option<&mut [InferenceFact]>,
) -> TractResult<bool> {
    let mut changed = false;
    for (body_ix, &outer_ix) in mapping.iter().enumerate() {
        changed |= body
            .input_fact_mut(body_ix)?
            .unify_with_mut(&mut inputs[outer_ix])?;
    }
    if let Some(outputs) = outputs {
        for (ix, output) in outputs.iter_mut().enumerate() {
            changed |= body.output_fact_mut(ix)?.unify_with_mut(output)?;
        }
    }
    changed |= body.analyse(false)?;
    Ok(changed)
}

impl InferenceOp for If {
    fn infer_facts(
        &mut self,
        inputs: TVec<&InferenceFact>,
        outputs: TVec<&InferenceFact>,
        observed: TVec<&InferenceFact>,
    ) -> TractResult<(
        TVec<InferenceFact>,
        TVec<InferenceFact>,
        TVec<InferenceFact>,
    )> {
        let mut inputs: TVec<InferenceFact> = inputs.into_iter().cloned().collect();
        let mut outputs: TVec<InferenceFact> = outputs.into_iter().cloned().collect();
        inputs[0]
            .datum_type
            .unify_with(&bool::datum_type().into())?;
        loop {
            let changed = match inputs[0].value.concretize() {
                // Known: only the branch that runs matters, and the node's
                // outputs are its outputs.
                Some(condition) => {
                    let (body, mapping) = if condition.cast_to_scalar::<bool>()? {
                        (&mut self.then_body, &self.then_input_mapping)
                    } else {
                        (&mut self.else_body, &self.else_input_mapping)
                    };
                    refine(body, mapping, &mut inputs, Some(&mut outputs))?
                }
                // Unknown: either may run, and tract's typed `IfThenElse`
                // needs them to agree (types and shapes). A branch that
                // cannot be analysed with these inputs (the 8 kHz branch of
                // a detector given a 16 kHz frame) is left out: it fails
                // only if it is taken (`to_typed`).
                None => {
                    let mut changed = false;
                    let mut failures = Vec::new();
                    for (branch, (body, mapping)) in [
                        (&mut self.then_body, &self.then_input_mapping),
                        (&mut self.else_body, &self.else_input_mapping),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        let mut attempt = body.clone();
                        let mut attempt_inputs = inputs.clone();
                        let mut attempt_outputs = outputs.clone();
                        let refined = (|| -> TractResult<bool> {
                            let mut changed = false;
                            for (ix, output) in attempt_outputs.iter_mut().enumerate() {
                                let fact = attempt.output_fact_mut(ix)?;
                                changed |= fact.shape.unify_with_mut(&mut output.shape)?;
                                changed |=
                                    fact.datum_type.unify_with_mut(&mut output.datum_type)?;
                            }
                            changed |= refine(&mut attempt, mapping, &mut attempt_inputs, None)?;
                            Ok(changed)
                        })();
                        match refined {
                            Ok(refined) => {
                                self.unanalysed[branch] = None;
                                changed |= refined;
                                *body = attempt;
                                inputs = attempt_inputs;
                                outputs = attempt_outputs;
                            }
                            Err(e) => {
                                self.unanalysed[branch] = Some(format!("{e:#}"));
                                failures.push(e);
                            }
                        }
                    }
                    if failures.len() == 2 {
                        return Err(failures.remove(0));
                    }
                    changed
                }
            };
            if !changed {
                return Ok((inputs, outputs, observed.into_iter().cloned().collect()));
            }
        }
    }

    fn nboutputs(&self) -> TractResult<usize> {
        let (then, other) = (self.then_body.outputs.len(), self.else_body.outputs.len());
        ensure!(
            then == other,
            "If: the then branch gives {then} outputs and the else branch {other}"
        );
        Ok(then)
    }

    fn to_typed(
        &self,
        source: &InferenceModel,
        node: &InferenceNode,
        target: &mut TypedModel,
        mapping: &HashMap<OutletId, OutletId>,
    ) -> TractResult<TVec<OutletId>> {
        let inputs: TVec<OutletId> = node.inputs.iter().map(|o| mapping[o]).collect();
        if let Some(condition) = target.outlet_fact(inputs[0])?.konst.clone() {
            // tract folds a comparison of a symbolic dimension with a
            // number (`width == 1`) to false: a condition computed from
            // the inputs is only a constant once their shapes are numbers
            // (a plan per shape).
            let symbolic = source.inputs.iter().any(|&input| {
                source.outlet_fact(input).map_or(true, |f| {
                    f.shape
                        .dims()
                        .any(|d| d.concretize().and_then(|d| d.as_i64()).is_none())
                })
            });
            if symbolic && !condition_inputs(source, node.inputs[0]).is_empty() {
                bail!(
                    "If `{}`: its condition depends on the input shapes, known only per shape",
                    node.name
                );
            }
            let (body, body_mapping) = self.branch(condition.cast_to_scalar::<bool>()?);
            let body = body.clone().into_typed()?;
            let outer: TVec<OutletId> = body_mapping.iter().map(|&ix| inputs[ix]).collect();
            return inline(&node.name, &body, &outer, target);
        }
        let (then_body, else_body) = match (
            self.then_body.clone().into_typed(),
            self.else_body.clone().into_typed(),
        ) {
            (Ok(then_body), Ok(else_body)) => (then_body, else_body),
            (Ok(then_body), Err(_)) => {
                let why = self.why_not(false);
                let else_body =
                    unreachable(&then_body, &self.else_input_mapping, &inputs, target, why)?;
                (then_body, else_body)
            }
            (Err(_), Ok(else_body)) => {
                let why = self.why_not(true);
                let then_body =
                    unreachable(&else_body, &self.then_input_mapping, &inputs, target, why)?;
                (then_body, else_body)
            }
            (Err(why), Err(_)) => return Err(why),
        };
        // tract's typed `If` needs both branches to give the same types
        // and shapes; when they do not, say which inputs to freeze.
        for ix in 0..then_body.outputs.len() {
            let (then, other) = (then_body.output_fact(ix)?, else_body.output_fact(ix)?);
            if then.without_value() != other.without_value() {
                let inputs = condition_inputs(source, node.inputs[0]);
                bail!(
                    "If `{}`: its branches give different shapes or types ({then:?} and {other:?}), \
                     and its condition is only known when the model runs{}",
                    node.name,
                    if inputs.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": it depends on {}; freeze {} with {}",
                            (inputs.iter())
                                .map(|name| format!("input `{name}`"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            if inputs.len() == 1 { "it" } else { "them" },
                            (inputs.iter())
                                .map(|name| format!("--input-value {name}=VALUE"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    }
                );
            }
        }
        let op = IfThenElse {
            then_body,
            else_body,
            then_input_mapping: self.then_input_mapping.clone(),
            else_input_mapping: self.else_input_mapping.clone(),
        };
        target.wire_node(&node.name, op, &inputs)
    }

    as_op!();
}

/// The inputs of `model` (`input `rate``) that the value at `outlet`
/// depends on.
fn condition_inputs(model: &InferenceModel, outlet: OutletId) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![outlet.node];
    let mut inputs = Vec::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        if model.inputs.iter().any(|i| i.node == id) {
            inputs.push(model.node(id).name.clone());
        }
        todo.extend(model.node(id).inputs.iter().map(|i| i.node));
    }
    inputs.sort();
    inputs
}

/// Wires the nodes of `body` into `target`, its inputs fed by `inputs`, and
/// returns the outlets of its outputs. Node names are prefixed with the
/// `If` node's.
fn inline(
    prefix: &str,
    body: &TypedModel,
    inputs: &[OutletId],
    target: &mut TypedModel,
) -> TractResult<TVec<OutletId>> {
    let mut wired: HashMap<OutletId, OutletId> = HashMap::default();
    for (&outer, inner) in inputs.iter().zip(body.input_outlets()?) {
        wired.insert(*inner, outer);
    }
    for id in body.eval_order()? {
        let node = body.node(id);
        if body.input_outlets()?.iter().any(|o| o.node == id) {
            continue;
        }
        let node_inputs: TVec<OutletId> = node.inputs.iter().map(|o| wired[o]).collect();
        let outputs = target.wire_node(
            format!("{prefix}.{}", node.name),
            node.op.clone(),
            &node_inputs,
        )?;
        for (slot, outlet) in outputs.into_iter().enumerate() {
            wired.insert(OutletId::new(id, slot), outlet);
        }
    }
    body.output_outlets()?
        .iter()
        .map(|o| {
            wired
                .get(o)
                .copied()
                .with_context(|| format!("If `{prefix}`: a branch output is not computed"))
        })
        .collect()
}

/// A branch that cannot run with the inputs the model was planned for: it
/// takes the branch's inputs and gives the other branch's output facts,
/// and fails with `why` if it is ever taken.
fn unreachable(
    other: &TypedModel,
    mapping: &[usize],
    inputs: &[OutletId],
    target: &TypedModel,
    why: TractError,
) -> TractResult<TypedModel> {
    let mut body = TypedModel::default();
    let mut sources = TVec::new();
    for (ix, &outer) in mapping.iter().enumerate() {
        let fact = target.outlet_fact(inputs[outer])?.without_value();
        sources.push(body.add_source(format!("input.{ix}"), fact)?);
    }
    let facts = (0..other.outputs.len())
        .map(|ix| Ok(other.output_fact(ix)?.without_value()))
        .collect::<TractResult<TVec<TypedFact>>>()?;
    let why = format!("{why:#}");
    let outputs = body.wire_node("unreachable", Unreachable { why, facts }, &sources)?;
    body.select_output_outlets(&outputs)?;
    Ok(body)
}

/// The body of a branch that cannot run with these input shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unreachable {
    why: String,
    facts: TVec<TypedFact>,
}

impl Op for Unreachable {
    fn name(&self) -> StaticName {
        "Unreachable".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Unreachable {
    // Never folded while the model is built, even on constant inputs: it
    // fails only if it runs.
    fn eval_out_of_plan(&self, _inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(None)
    }

    fn eval(&self, _ctx: &EvalContext, _inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        bail!(
            "this If branch cannot run with these input shapes: {}",
            self.why
        )
    }
}

impl TypedOp for Unreachable {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(self.facts.clone())
    }

    as_op!();
}
