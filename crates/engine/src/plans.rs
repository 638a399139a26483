//! Plans made for concrete input shapes.
//!
//! tract types a model once with its dynamic dimensions as symbols and
//! optimizes it for every shape at once. Real networks often defeat that:
//! a detector's feature maps are concatenated after `Resize`, and tract
//! cannot prove `(h+15)/16` equals `2*((h+31)/32)`; a reshape's target is
//! computed from the input's own shape; a branch is chosen by a shape.
//! With every dimension a number, all of these are plain arithmetic.
//!
//! So a model tract cannot type with symbols keeps its translated graph
//! (the [`InferenceModel`], weights included), and makes a plan for each
//! input shape on the first call with that shape. Plans are kept, the most
//! recently used first, up to [`KEPT`] of them besides those planned when
//! the model loaded (`--input-shape`), which are never dropped: each plan
//! holds its own packed weights (those it packs as an earlier plan did are
//! that plan's, [`shared_constants`]), so the count bounds the memory.
//!
//! An integer input that gives a shape (the target of an `Expand` or a
//! `Reshape`, the length of a `ConstantOfShape`...) decides the shapes as
//! much as the inputs' own: its value is part of a plan's key, and tract
//! plans with it known.

use std::sync::{Arc, Mutex};

use tract_onnx::pb::GraphProto;
use tract_onnx::prelude::{
    InferenceFact, InferenceModelExt as _, IntoRunnable as _, TValue, Tensor, TractResult,
    TypedModel, TypedRunnableModel,
};
use tract_onnx::tract_hir::infer::InferenceModel;
use tract_onnx::tract_hir::internal::Factoid as _;

use crate::error::LoadError;
use crate::load_options::LoadOptions;
use crate::types::{Dimension, ElementType, TensorInfo};
use crate::{bind_symbols, graph, index_check, shared_constants};

/// How many plans made on calls are kept.
pub const KEPT: usize = 4;

/// The shapes of a call's inputs, in declared order.
pub(crate) type Shapes = Vec<Vec<usize>>;

/// What a plan is made for: the inputs' shapes, and the values of the
/// inputs that give shapes (`None` for a plan made without them, which
/// holds for any).
#[derive(Debug)]
struct Key {
    shapes: Shapes,
    values: Option<Vec<Tensor>>,
}

impl Key {
    fn fits(&self, other: &Key) -> bool {
        self.shapes == other.shapes && (self.values.is_none() || self.values == other.values)
    }
}

/// The integer inputs (by position in `inputs`) that a node of `graph`
/// takes as a shape, axes or lengths.
pub(crate) fn shape_giving_inputs(graph: &GraphProto, inputs: &[TensorInfo]) -> Vec<usize> {
    inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| matches!(input.element_type, ElementType::I64 | ElementType::I32))
        .filter(|(_, input)| graph::gives_shape(graph, &input.name))
        .map(|(ix, _)| ix)
        .collect()
}

#[derive(Debug)]
pub(crate) struct ShapePlans {
    /// The translated model, to plan shapes not seen yet; `None` when a
    /// plan for every shape exists and these are only the shapes planned
    /// ahead.
    source: Option<Arc<InferenceModel>>,
    /// The plans planned ahead, first, then those made on calls, the most
    /// recently used first.
    plans: Mutex<Vec<(Key, Arc<TypedRunnableModel>)>>,
    /// How many plans were planned ahead.
    pinned: usize,
    /// The inputs whose values are part of a plan's key.
    shape_giving: Vec<usize>,
}

impl ShapePlans {
    /// Plans `ahead` now, and keeps `source` (if any) for other shapes.
    pub(crate) fn new(
        source: Option<Arc<InferenceModel>>,
        ahead: Vec<(Shapes, Arc<TypedRunnableModel>)>,
        shape_giving: Vec<usize>,
    ) -> ShapePlans {
        let ahead: Vec<_> = (ahead.into_iter())
            .map(|(shapes, plan)| {
                (
                    Key {
                        shapes,
                        values: None,
                    },
                    plan,
                )
            })
            .collect();
        ShapePlans {
            source,
            pinned: ahead.len(),
            plans: Mutex::new(ahead),
            shape_giving,
        }
    }

    /// The shapes planned when the model loaded.
    pub(crate) fn planned_ahead(&self) -> Vec<Shapes> {
        let plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans[..self.pinned]
            .iter()
            .map(|(key, _)| key.shapes.clone())
            .collect()
    }

    /// Every plan kept, planned ahead first.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> Vec<Arc<TypedRunnableModel>> {
        let plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans.iter().map(|(_, plan)| plan.clone()).collect()
    }

    /// The inputs (by declared position) whose values give shapes.
    pub(crate) fn shape_giving(&self) -> &[usize] {
        &self.shape_giving
    }

    /// The plan for these inputs: kept, or made now when the model has a
    /// source (`Ok(None)` when it has none and the shapes were not planned
    /// ahead).
    pub(crate) fn plan_for(
        &self,
        inputs: &[TValue],
    ) -> Result<Option<Arc<TypedRunnableModel>>, PlanError> {
        // A model with one plan for every shape and none planned ahead (most
        // models): nothing to look up on each call.
        if self.source.is_none() && self.pinned == 0 {
            return Ok(None);
        }
        let values: Vec<Tensor> = (self.shape_giving.iter())
            .map(|&ix| (*inputs[ix]).clone())
            .collect();
        let key = Key {
            shapes: inputs.iter().map(|v| v.shape().to_vec()).collect(),
            values: (!values.is_empty()).then_some(values),
        };
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = plans.iter().position(|(k, _)| k.fits(&key)) {
            let plan = plans[at].1.clone();
            if at > self.pinned {
                let entry = plans.remove(at);
                plans.insert(self.pinned, entry);
            }
            return Ok(Some(plan));
        }
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let known: Vec<(usize, &Tensor)> = (self.shape_giving.iter().copied())
            .zip(key.values.iter().flatten())
            .collect();
        // The kept plans hold the weights packed already.
        let siblings: Vec<&TypedModel> = plans.iter().map(|(_, kept)| kept.model()).collect();
        let plan = plan(source, &key.shapes, &known, &siblings)?;
        plans.insert(self.pinned, (key, plan.clone()));
        plans.truncate(self.pinned + KEPT);
        Ok(Some(plan))
    }
}

/// Why no plan could be made for some input shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanError {
    /// The model's nodes disagree on these shapes: typing it with every
    /// input dimension a number failed (a `Reshape` to a size its input
    /// does not have, a `Concat` of maps of different sizes), which is the
    /// shapes' fault, and onnxruntime refuses them too.
    Shapes(String),
    /// tract could not type a node it has no typed form for with these
    /// shapes, failed after typing, or panicked.
    Tract(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Shapes(why) | PlanError::Tract(why) => f.write_str(why),
        }
    }
}

/// Types and optimizes `source` with its inputs of these shapes, and the
/// inputs of `known` of these values; the constants it packs alike with
/// `siblings` (the model's other plans) are theirs. tract panics on some
/// malformed graphs while typing them; natively, where panics unwind, that
/// is an error for these shapes (in wasm a panic aborts the instance, and
/// the host sees a trap).
pub(crate) fn plan(
    source: &InferenceModel,
    shapes: &Shapes,
    known: &[(usize, &Tensor)],
    siblings: &[&TypedModel],
) -> Result<Arc<TypedRunnableModel>, PlanError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        plan_unguarded(source, shapes, known, siblings)
    }))
    .unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Err(PlanError::Tract(format!(
            "tract failed on these shapes ({message})"
        )))
    })
}

fn plan_unguarded(
    source: &InferenceModel,
    shapes: &Shapes,
    known: &[(usize, &Tensor)],
    siblings: &[&TypedModel],
) -> Result<Arc<TypedRunnableModel>, PlanError> {
    let chain = |e: tract_onnx::prelude::TractError| {
        PlanError::Tract(
            e.chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": "),
        )
    };
    let mut model = source.clone();
    for (ix, shape) in shapes.iter().enumerate() {
        let datum_type = model
            .input_fact(ix)
            .map_err(chain)?
            .datum_type
            .concretize()
            .ok_or_else(|| PlanError::Tract("an input has no element type".into()))?;
        let fact = match known.iter().find(|(k, _)| *k == ix) {
            Some((_, value)) => InferenceFact::from((*value).clone()),
            None => InferenceFact::dt_shape(datum_type, shape),
        };
        model.set_input_fact(ix, fact).map_err(chain)?;
    }
    // Every input dimension is a number here, so when tract's analysis
    // finds a node whose facts do not agree ("Failed analyse for node"),
    // the shapes are wrong for the model. A failure translating a node to
    // its typed form afterwards is tract's limit.
    let mut typed = model.into_typed().map_err(|e| match chain(e) {
        PlanError::Tract(why) if why.starts_with("Failed analyse") => PlanError::Shapes(why),
        other => other,
    })?;
    index_check::guard(&mut typed).map_err(chain)?;
    wasmodel_kernels::link();
    runnable_sharing(typed, siblings).map_err(chain)
}

/// Optimizes a typed model and makes it runnable, with our own passes on
/// the optimized model: the kernels crate's, then symbols bound
/// ([`bind_symbols`]).
pub(crate) fn runnable(typed: TypedModel) -> TractResult<Arc<TypedRunnableModel>> {
    runnable_sharing(typed, &[])
}

/// [`runnable`], and the constants it holds alike with the optimized models
/// `siblings` (other plans of the same model) are theirs
/// ([`shared_constants`]).
pub(crate) fn runnable_sharing(
    typed: TypedModel,
    siblings: &[&TypedModel],
) -> TractResult<Arc<TypedRunnableModel>> {
    let mut optimized = typed.into_optimized()?;
    wasmodel_kernels::optimize(&mut optimized)?;
    bind_symbols::patch(&mut optimized)?;
    if !siblings.is_empty() {
        shared_constants::share(&mut optimized, siblings);
    }
    optimized.into_runnable()
}

/// The input shapes to plan when the model loads, each in declared input
/// order: the k-th plan takes each input's k-th `--input-shape` (or its
/// last one), and an input given none its declared shape, which must then
/// be fixed.
pub(crate) fn shapes_ahead(
    inputs: &[TensorInfo],
    options: &LoadOptions,
) -> Result<Vec<Vec<Vec<usize>>>, LoadError> {
    if options.input_shapes.is_empty() {
        return Ok(Vec::new());
    }
    let mut given: Vec<Vec<Vec<usize>>> = vec![Vec::new(); inputs.len()];
    for (name, dims) in &options.input_shapes {
        let Some(ix) = inputs.iter().position(|i| &i.name == name) else {
            let names: Vec<String> = inputs.iter().map(|i| format!("`{}`", i.name)).collect();
            return Err(LoadError::Options(format!(
                "--input-shape {name}: the model has no input `{name}` (its inputs: {})",
                names.join(", ")
            )));
        };
        let declared = &inputs[ix].shape;
        let fits = declared.len() == dims.len()
            && declared.iter().zip(dims).all(|(d, &n)| match d {
                Dimension::Fixed(f) => *f == n,
                Dimension::Dynamic(_) => true,
            });
        if !fits {
            return Err(LoadError::Options(format!(
                "--input-shape {name}: [{}] does not fit its declared shape {}",
                dims.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::types::format_declared_shape(declared)
            )));
        }
        given[ix].push(dims.iter().map(|&d| d as usize).collect());
    }
    let count = given.iter().map(Vec::len).max().unwrap_or(0);
    (0..count)
        .map(|k| {
            inputs
                .iter()
                .zip(&given)
                .map(|(input, shapes)| match shapes.get(k).or(shapes.last()) {
                    Some(shape) => Ok(shape.clone()),
                    None => input
                        .shape
                        .iter()
                        .map(|d| match d {
                            Dimension::Fixed(n) => Some(*n as usize),
                            Dimension::Dynamic(_) => None,
                        })
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| {
                            LoadError::Options(format!(
                                "--input-shape: give a shape for input `{}` too (declared {})",
                                input.name,
                                crate::types::format_declared_shape(&input.shape)
                            ))
                        }),
                })
                .collect()
        })
        .collect()
}

/// `input `x` [1, 3, 640, 640], input `y` [1]`.
pub(crate) fn describe_shapes(inputs: &[TensorInfo], shapes: &[Vec<usize>]) -> String {
    let described: Vec<String> = inputs
        .iter()
        .zip(shapes)
        .map(|(input, shape)| format!("input `{}` {shape:?}", input.name))
        .collect();
    described.join(", ")
}
