//! The wiring of an ONNX graph, checked before tract translates it. tract
//! looks a graph's outputs up by name (`outlets_by_name[name]`) and panics
//! on a name that nothing in the graph defines: a hostile or broken file
//! must be refused here instead, naming the output (found by fuzzing,
//! `fuzz/regressions/onnx_load/`).

use std::collections::HashSet;

use tract_onnx::pb::GraphProto;

use crate::error::LoadError;
use crate::graph::nested_graphs;

/// Refuses a graph without outputs, and a graph, or a graph nested in one
/// of its nodes (Loop, If and Scan bodies), with an output that none of
/// its inputs, initializers or nodes defines.
pub(crate) fn check(graph: &GraphProto) -> Result<(), LoadError> {
    // A model that computes nothing would make a component that answers
    // nothing (found by fuzzing too).
    if graph.output.is_empty() {
        return Err(LoadError::Malformed("the graph has no outputs".into()));
    }
    check_scope(graph, "the graph")
}

fn check_scope(graph: &GraphProto, which: &str) -> Result<(), LoadError> {
    // What tract can find an output among: inputs, initializers, node
    // outputs, and the names nodes read (tract makes a source of each one
    // nothing defines, and a nested graph's reads of outer values).
    let mut defined: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    defined.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        defined.extend(node.output.iter().map(String::as_str));
        defined.extend(node.input.iter().map(String::as_str));
    }
    if let Some(output) = graph
        .output
        .iter()
        .find(|o| !defined.contains(o.name.as_str()))
    {
        return Err(LoadError::Malformed(format!(
            "{which} has an output `{}` that no node, input or initializer defines",
            output.name
        )));
    }
    for node in &graph.node {
        for nested in node.attribute.iter().flat_map(nested_graphs) {
            let which = format!("the body of {} node `{}`", node.op_type, node.name);
            check_scope(nested, &which)?;
        }
    }
    Ok(())
}
