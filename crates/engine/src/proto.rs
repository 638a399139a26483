//! The ONNX protobuf pieces the graph rewrites before tract
//! ([`sequences`](crate::sequences), [`pooling`](crate::pooling),
//! [`quantize`](crate::quantize), [`qlinear`](crate::contrib::qlinear),
//! [`dequantized_softmax`](crate::dequantized_softmax),
//! [`attention`](crate::contrib::attention)) read and write: the opset,
//! nested graphs, integer and float attributes, nodes, integer and float
//! constants, and a [`Builder`] that appends nodes with names of their own.

use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, attribute_proto::AttributeType,
    tensor_proto::DataType,
};

/// The version of the default (`ai.onnx`) operator set the model imports
/// (1 if it does not say).
pub(crate) fn default_opset(proto: &ModelProto) -> i64 {
    proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version)
}

/// The graphs nested in `graph`'s nodes' attributes (`If`, `Loop` and
/// `Scan` bodies), one level down: a rewrite recurses into each.
pub(crate) fn subgraphs_mut(graph: &mut GraphProto) -> impl Iterator<Item = &mut GraphProto> {
    graph
        .node
        .iter_mut()
        .flat_map(|node| node.attribute.iter_mut())
        .flat_map(|attribute| attribute.g.iter_mut().chain(attribute.graphs.iter_mut()))
}

/// Whether `node` is of the default (`ai.onnx`) domain.
pub(crate) fn is_standard(node: &NodeProto) -> bool {
    node.domain.is_empty() || node.domain == "ai.onnx"
}

/// Input `k` of `node`, unless it is left out (absent or named "").
pub(crate) fn input(node: &NodeProto, k: usize) -> Option<&str> {
    node.input
        .get(k)
        .map(String::as_str)
        .filter(|name| !name.is_empty())
}

/// A node's integer attribute, if it has one by that name.
pub(crate) fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// A node's float attribute, if it has one by that name.
pub(crate) fn float_attribute(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// An integer attribute.
pub(crate) fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..AttributeProto::default()
    }
}

/// A float attribute.
pub(crate) fn float_attr(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..AttributeProto::default()
    }
}

/// A list-of-integers attribute.
pub(crate) fn ints_attr(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..AttributeProto::default()
    }
}

/// An int64 initializer of these dimensions.
pub(crate) fn int64s(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..TensorProto::default()
    }
}

/// A float32 initializer of these dimensions.
pub(crate) fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// A node of the default domain, named `name`.
pub(crate) fn node(
    name: String,
    op_type: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        name,
        op_type: op_type.into(),
        input: inputs.iter().map(|&i| i.to_owned()).collect(),
        output: outputs.iter().map(|&o| o.to_owned()).collect(),
        attribute,
        ..NodeProto::default()
    }
}

/// Appends nodes and constants to a graph's lists, each named after
/// `prefix`, what it is and a count of its own, so that a rewrite's names
/// cannot meet the model's.
pub(crate) struct Builder<'g> {
    nodes: &'g mut Vec<NodeProto>,
    initializers: &'g mut Vec<TensorProto>,
    prefix: String,
    count: usize,
}

impl<'g> Builder<'g> {
    pub(crate) fn new(
        nodes: &'g mut Vec<NodeProto>,
        initializers: &'g mut Vec<TensorProto>,
        prefix: impl Into<String>,
    ) -> Self {
        Builder {
            nodes,
            initializers,
            prefix: prefix.into(),
            count: 0,
        }
    }

    /// A new name for `what`.
    pub(crate) fn name(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{}{what}_{}", self.prefix, self.count)
    }

    /// A node of the default domain with one output of a new name; returns
    /// that name.
    pub(crate) fn op(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        let output = self.name(&op_type.to_lowercase());
        self.op_into(op_type, inputs, &output, attribute);
        output
    }

    /// A node of the default domain whose one output is `output`.
    pub(crate) fn op_into(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        let name = self.name(&op_type.to_lowercase());
        self.nodes
            .push(node(name, op_type, inputs, &[output], attribute));
    }

    /// An initializer of a new name holding `tensor`; returns the name.
    pub(crate) fn initializer(&mut self, what: &str, tensor: TensorProto) -> String {
        let name = self.name(what);
        self.initializers.push(TensorProto {
            name: name.clone(),
            ..tensor
        });
        name
    }

    /// A 1-D int64 constant (a shape for `Reshape`, bounds for `Slice`).
    pub(crate) fn constant(&mut self, what: &str, values: &[i64]) -> String {
        self.initializer(what, int64s("", &[values.len() as i64], values))
    }

    /// A scalar int64 constant (an index for `Gather`).
    pub(crate) fn index(&mut self, what: &str, value: i64) -> String {
        self.initializer(what, int64s("", &[], &[value]))
    }

    /// A scalar float constant.
    pub(crate) fn scalar(&mut self, what: &str, value: f32) -> String {
        self.initializer(what, floats("", &[], &[value]))
    }

    /// The length of `value`'s axis `axis` (not negative), as a shape of
    /// one dimension.
    pub(crate) fn axis_length(&mut self, value: &str, axis: i64) -> String {
        let shape = self.op("Shape", &[value], vec![]);
        let start = self.constant("axis", &[axis]);
        let end = self.constant("axis_end", &[axis + 1]);
        self.op("Slice", &[&shape, &start, &end], vec![])
    }

    /// Float ones of the shape `shape` (a 1-D int64 tensor).
    pub(crate) fn ones(&mut self, shape: &str) -> String {
        let zeros = self.op("ConstantOfShape", &[shape], vec![]);
        let one = self.scalar("one", 1.0);
        self.op("Add", &[&zeros, &one], vec![])
    }

    /// The int64 positions 0..`length` (a shape of one dimension). Counted
    /// from ones of that shape, so tract plans them with the length's own
    /// symbol: a `Range` would give its output a symbol of its own, which
    /// tract's comparisons with the length's axis cannot plan with.
    pub(crate) fn positions(&mut self, length: &str) -> String {
        let ones = self.ones(length);
        let axis = self.index("axis", 0);
        let counted = self.op("CumSum", &[&ones, &axis], vec![int_attr("exclusive", 1)]);
        self.op(
            "Cast",
            &[&counted],
            vec![int_attr("to", DataType::Int64 as i64)],
        )
    }
}
