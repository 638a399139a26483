//! One tract op for every ONNX-ML operator of ours: a [`Kernel`] says what
//! the operator's outputs are (types and shapes) and computes them; [`MlOp`]
//! makes it a tract op, and [`parsed`] hands it to tract's ONNX parser with
//! inference rules derived from the same `output_facts`, so the shapes the
//! parser infers and the shapes the typed model checks cannot disagree.

use std::fmt;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{
    DimLike as _, TractErrorContext as _, bail, ensure, format_err,
};

use crate::types::ClassLabels;
use tract_onnx::tract_hir::internal::{
    EvalContext, EvalOp, Expansion, InferenceOp, InferenceResult, Op, ShapeFactoid, Solver,
    StaticName, TensorProxy, TypedOp, expand,
};

/// What one ONNX-ML operator computes.
pub(crate) trait Kernel: fmt::Debug + Send + Sync + 'static {
    /// The operator's ONNX name, as tract shows it in its errors.
    fn name(&self) -> &'static str;

    /// How many outputs the operator has.
    fn outputs(&self) -> usize {
        1
    }

    /// The outputs' types and shapes for inputs of these types and shapes;
    /// an error (naming what is wrong) for inputs the operator cannot take.
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;

    /// Computes the outputs.
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

/// A [`Kernel`] as a tract op. Two nodes are equal only if they share the
/// same kernel (tract merges equal nodes; kernels hold model weights, which
/// are not worth comparing).
#[derive(Clone)]
pub(crate) struct MlOp(Arc<dyn Kernel>);

impl fmt::Debug for MlOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for MlOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MlOp {}

impl Op for MlOp {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for MlOp {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(inputs)
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        self.0.eval(inputs).map(Some)
    }
}

impl TypedOp for MlOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0
            .output_facts(inputs)
            .with_context(|| format!("{} node", self.0.name()))
    }

    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }
}

/// What an ONNX op builder returns: the op for the parser, and no closures.
pub(crate) type Parsed = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// Wraps a kernel for tract's ONNX parser.
pub(crate) fn parsed(kernel: impl Kernel) -> Parsed {
    Ok((expand(Parsing(MlOp(Arc::new(kernel)))), vec![]))
}

/// ONNX's type for a tract type. tract keeps some int64 values as `TDim`
/// (a `Cast` to int64, or values it may use as shapes); to an ONNX-ML
/// operator they are int64, so `wire` casts them back and `rules` asks the
/// kernel as if it had.
fn as_onnx_type(datum_type: DatumType) -> DatumType {
    if datum_type == DatumType::TDim {
        DatumType::I64
    } else {
        datum_type
    }
}

/// A kernel as the parser sees it: inference rules, then the typed op.
#[derive(Debug, Clone)]
struct Parsing(MlOp);

impl Expansion for Parsing {
    fn name(&self) -> StaticName {
        self.0.0.name().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.0.outputs())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut wired = TVec::with_capacity(inputs.len());
        for (ix, &input) in inputs.iter().enumerate() {
            let datum_type = model.outlet_fact(input)?.datum_type;
            wired.push(if as_onnx_type(datum_type) != datum_type {
                let cast = tract_onnx::tract_core::ops::cast::cast(as_onnx_type(datum_type));
                model.wire_node(format!("{prefix}.input_{ix}_as_onnx"), cast, &[input])?[0]
            } else {
                input
            });
        }
        model.wire_node(prefix, self.0.clone(), &wired)
    }

    /// Once the types and shapes of all inputs are known, the outputs are
    /// what [`Kernel::output_facts`] says.
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        let kernel = &self.0.0;
        if outputs.len() > kernel.outputs() {
            bail!(
                "{} has {} outputs, the model wires {}",
                kernel.name(),
                kernel.outputs(),
                outputs.len()
            );
        }
        s.given_all(
            inputs.iter().map(|i| &i.datum_type),
            move |s, types: Vec<DatumType>| {
                s.given_all(
                    inputs.iter().map(|i| &i.shape),
                    move |s, shapes: Vec<TVec<TDim>>| {
                        let facts: Vec<TypedFact> = types
                            .iter()
                            .zip(&shapes)
                            .map(|(&dt, shape)| as_onnx_type(dt).fact(shape.clone()))
                            .collect();
                        let refs: Vec<&TypedFact> = facts.iter().collect();
                        let computed = kernel
                            .output_facts(&refs)
                            .with_context(|| format!("{} node", kernel.name()))?;
                        for (proxy, fact) in outputs.iter().zip(computed) {
                            s.equals(&proxy.datum_type, fact.datum_type)?;
                            s.equals(&proxy.shape, ShapeFactoid::from(fact.shape.to_tvec()))?;
                        }
                        Ok(())
                    },
                )
            },
        )
    }
}

/// The number of rows and features of a `[N, F]` input, or of a `[F]`
/// input, which onnxruntime's ONNX-ML operators take as one row.
pub(crate) fn rows_and_columns(op: &str, fact: &TypedFact) -> TractResult<(TDim, TDim)> {
    match fact.shape.rank() {
        1 => Ok((TDim::Val(1), fact.shape[0].clone())),
        2 => Ok((fact.shape[0].clone(), fact.shape[1].clone())),
        rank => bail!(
            "{op} takes a [rows, features] or [features] input, got {rank} dimensions {:?}",
            fact.shape
        ),
    }
}

/// An operator's one input, which must be numeric features, `[N, F]` or
/// `[F]`: the input, its number of rows and of features.
pub(crate) fn numeric_input<'f>(
    op: &str,
    inputs: &[&'f TypedFact],
) -> TractResult<(&'f TypedFact, TDim, TDim)> {
    let [input] = inputs else {
        bail!("{op} takes one input, got {}", inputs.len());
    };
    ensure!(
        is_numeric_feature(input.datum_type),
        "{op} takes float, double, int64 or int32 features, got {:?}",
        input.datum_type
    );
    let (rows, columns) = rows_and_columns(op, input)?;
    Ok((input, rows, columns))
}

/// Checks an operator's one input ([`numeric_input`]) has the number of
/// features the operator was trained on. Returns its number of rows.
pub(crate) fn check_features(
    op: &str,
    inputs: &[&TypedFact],
    features: usize,
) -> TractResult<TDim> {
    let (_, rows, columns) = numeric_input(op, inputs)?;
    let columns = fixed_columns(op, &columns)?;
    ensure!(
        columns == features,
        "{op} was trained on {features} features, its input has {columns}"
    );
    Ok(rows)
}

/// The number of columns as an integer, which operators with per-column
/// parameters need to know when the model loads.
pub(crate) fn fixed_columns(op: &str, columns: &TDim) -> TractResult<usize> {
    columns
        .to_usize()
        .map_err(|_| format_err!("{op} needs a fixed number of features, got `{columns}`"))
}

/// A 2-D view of a `[N, F]` input, or of a `[F]` input as `[1, F]`.
pub(crate) fn as_matrix<T: Datum>(
    tensor: &Tensor,
) -> TractResult<tract_ndarray::ArrayView2<'_, T>> {
    let view = tensor.to_plain_array_view::<T>()?;
    let (rows, columns) = match *view.shape() {
        [f] => (1, f),
        [n, f] => (n, f),
        _ => bail!("expected a [rows, features] tensor, got {:?}", view.shape()),
    };
    Ok(view.into_shape_with_order((rows, columns))?)
}

/// A tensor of class labels, one per row: the label at each index.
pub(crate) fn label_tensor(
    labels: &ClassLabels,
    picks: impl ExactSizeIterator<Item = usize>,
) -> Tensor {
    match labels {
        ClassLabels::I64(v) => tensor1(&picks.map(|i| v[i]).collect::<Vec<_>>()),
        ClassLabels::String(v) => tensor1(&picks.map(|i| v[i].clone()).collect::<Vec<_>>()),
    }
}

/// The element type of a label tensor.
pub(crate) fn label_datum_type(labels: &ClassLabels) -> DatumType {
    match labels {
        ClassLabels::I64(_) => DatumType::I64,
        ClassLabels::String(_) => DatumType::String,
    }
}

/// An input as f32, whatever numeric type it comes in: the ONNX-ML
/// operators take float, double, int64 and int32 features and compute in
/// float, as onnxruntime does.
pub(crate) fn as_f32(value: &TValue) -> TractResult<std::borrow::Cow<'_, Tensor>> {
    match value.datum_type() {
        DatumType::F32 => Ok(std::borrow::Cow::Borrowed(&**value)),
        DatumType::F64 | DatumType::I64 | DatumType::I32 => Ok(std::borrow::Cow::Owned(
            value.cast_to::<f32>()?.into_owned(),
        )),
        other => bail!("expected float, double, int64 or int32 features, got {other:?}"),
    }
}

/// Whether a datum type is one of the numeric feature types ONNX-ML
/// operators take.
pub(crate) fn is_numeric_feature(dt: DatumType) -> bool {
    matches!(
        dt,
        DatumType::F32 | DatumType::F64 | DatumType::I64 | DatumType::I32
    )
}
