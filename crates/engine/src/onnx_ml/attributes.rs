//! Reading an ONNX-ML node's attributes, refusing the ones we do not
//! implement by name rather than ignoring them.

use tract_onnx::pb::NodeProto;
use tract_onnx::pb_helpers::{AttrScalarType, AttrTVecType};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{TractErrorContext as _, bail};

use super::kernel::{Kernel, Parsed};
use crate::types::ClassLabels;

/// A node's attributes, for the operator that reads them.
pub(crate) struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    /// Checks that every attribute the node sets is one the operator knows
    /// (`known`): an attribute it would silently ignore could change the
    /// model's answers.
    pub(crate) fn of(node: &'a NodeProto, known: &[&str]) -> TractResult<Attributes<'a>> {
        if let Some(unknown) = node
            .attribute
            .iter()
            .find(|a| !known.contains(&a.name.as_str()))
        {
            bail!(
                "{} node `{}`: attribute `{}` is not supported (supported: {})",
                node.op_type,
                node.name,
                unknown.name,
                known.join(", ")
            );
        }
        Ok(Attributes { node })
    }

    /// A node's attributes without checking them, for reading metadata.
    pub(crate) fn unchecked(node: &'a NodeProto) -> Attributes<'a> {
        Attributes { node }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.node.attribute.iter().any(|a| a.name == name)
    }

    /// A scalar attribute, if set.
    pub(crate) fn opt<T: AttrScalarType<'a>>(&self, name: &str) -> TractResult<Option<T>> {
        self.node.get_attr_opt(name)
    }

    /// A list attribute, if set.
    pub(crate) fn opt_list<T: AttrTVecType<'a>>(&self, name: &str) -> TractResult<Option<Vec<T>>> {
        self.node.get_attr_opt_vec(name)
    }

    /// A list attribute, empty if not set.
    pub(crate) fn list<T: AttrTVecType<'a>>(&self, name: &str) -> TractResult<Vec<T>> {
        Ok(self.opt_list(name)?.unwrap_or_default())
    }

    /// A list of strings (which the ONNX file stores as bytes).
    pub(crate) fn strings(&self, name: &str) -> TractResult<Option<Vec<String>>> {
        Ok(self
            .opt_list::<&str>(name)?
            .map(|v| v.into_iter().map(str::to_owned).collect()))
    }

    /// A classifier's labels, from whichever of its two label attributes
    /// is set (`ints` or `strings`).
    pub(crate) fn class_labels(&self, ints: &str, strings: &str) -> TractResult<ClassLabels> {
        match (self.opt_list::<i64>(ints)?, self.strings(strings)?) {
            (Some(ints), None) => Ok(ClassLabels::I64(ints)),
            (None, Some(strings)) => Ok(ClassLabels::String(strings)),
            (None, None) => self.bail(ints, format!("one of `{ints}` and `{strings}` must be set")),
            (Some(_), Some(_)) => self.bail(
                strings,
                format!("only one of `{ints}` and `{strings}` may be set"),
            ),
        }
    }

    /// A tensor attribute (`*_as_tensor`, `keys_tensor`, ...), if set.
    pub(crate) fn tensor(&self, name: &str) -> TractResult<Option<Tensor>> {
        let Some(proto) = self.opt::<&tract_onnx::pb::TensorProto>(name)? else {
            return Ok(None);
        };
        let tensor: Tensor = tract_onnx::tensor::load_tensor(
            &tract_onnx::data_resolver::MmapDataResolver,
            proto,
            None,
        )
        .with_context(|| self.context(name))?;
        Ok(Some(tensor))
    }

    /// Fails with a message naming the node and the attribute.
    pub(crate) fn bail<T>(&self, name: &str, problem: impl std::fmt::Display) -> TractResult<T> {
        bail!("{}: {problem}", self.context(name))
    }

    /// Checks a condition on an attribute.
    pub(crate) fn ensure(
        &self,
        name: &str,
        holds: bool,
        problem: impl FnOnce() -> String,
    ) -> TractResult<()> {
        if holds {
            Ok(())
        } else {
            self.bail(name, problem())
        }
    }

    fn context(&self, name: &str) -> String {
        format!(
            "{} node `{}`, attribute `{name}`",
            self.node.op_type, self.node.name
        )
    }
}

/// Builds the op of a kernel from a node's attributes.
pub(crate) fn build<K: Kernel>(
    node: &NodeProto,
    known: &[&str],
    make: impl FnOnce(&Attributes) -> TractResult<K>,
) -> Parsed {
    let attributes = Attributes::of(node, known)?;
    super::kernel::parsed(make(&attributes)?)
}
