//! Loading an ONNX model with tract, and running it.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tract_onnx::prelude::{
    DatumType, Framework as _, InferenceModelExt as _, IntoTValue as _, IntoTensor as _, TDim,
    TValue, TVec, TractError, TypedModel, TypedRunnableModel, tract_ndarray,
};
use tract_onnx::tract_hir::infer::InferenceModel;
use tract_onnx::tract_hir::internal::Factoid as _;

use crate::batch_one;
use crate::contrib;
use crate::control_flow;
use crate::dequantized_softmax;
use crate::describe::{
    describe, describe_declared_outputs, describe_inferred_inputs, one_column_per_class,
};
use crate::error::{InputError, InputErrorKind, LoadError, PredictError};
use crate::flatten;
use crate::graph;
use crate::id2label;
use crate::index_check::{self, IndexOutOfRange};
use crate::load_options::LoadOptions;
use crate::onnx_ml;
use crate::plans::{self, PlanError, ShapePlans, describe_shapes, shapes_ahead};
use crate::pooling;
use crate::quantize::{self, Quantized};
use crate::sequences;
use crate::shape_guard::ShapeGuard;
use crate::text;
use crate::text_input::TextInput;
use crate::types::{
    ClassLabels, Dimension, ElementType, ModelInfo, Tensor, TensorData, TensorInfo,
};
use crate::validate;
use crate::wiring;

/// tract's ONNX parser, with wasmodel's ONNX-ML operators, onnxruntime's
/// operators of ours ([`contrib`](crate::contrib)), the text operators
/// ([`text`](crate::text)), `If` and `Flatten` registered.
///
/// Declared shapes of intermediate values (`value_info`) are ignored:
/// exporters write them as formulas over their own symbols
/// (`floor(height/2 - 1/2) + 1`), which tract tries to unify with what it
/// infers and fails on; onnxruntime treats them as hints. Declared output shapes are
/// ignored too (tract's default): tract infers them.
pub fn onnx() -> tract_onnx::Onnx {
    let mut framework = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .with_ignore_output_shapes(true);
    onnx_ml::register(&mut framework);
    contrib::register(&mut framework);
    text::register(&mut framework);
    framework
        .op_register
        .insert("If", control_flow::if_then_else);
    framework.op_register.insert("Flatten", flatten::flatten);
    framework
}

/// An ONNX model, parsed, optimized and ready to run.
#[derive(Debug, Clone)]
pub struct Model {
    info: ModelInfo,
    /// The plan for every input shape, when tract could type the model
    /// with its dynamic dimensions as symbols.
    plan: Option<Arc<TypedRunnableModel>>,
    /// The same model optimized for a batch of one (see `batch_one`).
    batch_one: Option<BatchOne>,
    /// Plans for concrete input shapes: planned ahead, and, without a plan
    /// for every shape, made on the first call with a shape (see `plans`).
    shapes: Arc<ShapePlans>,
    /// Why there is no plan for every shape.
    per_shape_reason: Option<String>,
    /// The shapes the plan for every shape cannot take.
    guard: ShapeGuard,
    /// The tokenizer in front of the model's token-id inputs, for a model
    /// loaded with one: its declared input is then `text`.
    text: Option<Arc<TextInput>>,
    /// What `--quantize int8` made int8, for a model loaded with it.
    quantized: Option<Quantized>,
}

/// How a model is planned: what `wasmodel build` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planning {
    /// Why tract could not make one plan for every input shape; `None`
    /// when it did. Without one, each new input shape is planned on its
    /// first call.
    pub per_shape_reason: Option<String>,
    /// The input shapes planned when the model loaded, each in declared
    /// input order.
    pub planned_ahead: Vec<Vec<Vec<usize>>>,
}

#[derive(Debug, Clone)]
struct BatchOne {
    plan: Arc<TypedRunnableModel>,
    /// Per declared input: whether its leading axis is the dynamic batch.
    dynamic_leading: Vec<bool>,
}

impl Model {
    /// Every plan the model holds: for every shape, for a batch of one, and
    /// for the shapes kept, in that order.
    #[cfg(test)]
    pub(crate) fn plans(&self) -> Vec<Arc<TypedRunnableModel>> {
        (self.plan.iter().cloned())
            .chain(self.batch_one.iter().map(|one| one.plan.clone()))
            .chain(self.shapes.kept())
            .collect()
    }

    /// Parses, checks and optimizes an ONNX model.
    ///
    /// `name` and `version` are what [`Model::info`] reports; the digest is
    /// computed from `onnx`.
    pub fn load(onnx: &[u8], name: &str, version: &str) -> Result<Model, LoadError> {
        Model::load_with(onnx, name, version, &LoadOptions::default())
    }

    /// [`Model::load`], with input shapes to plan now and inputs to freeze
    /// (see [`LoadOptions`]). The digest is still the file's.
    pub fn load_with(
        onnx: &[u8],
        name: &str,
        version: &str,
        options: &LoadOptions,
    ) -> Result<Model, LoadError> {
        let digest = format!("sha256:{:x}", Sha256::digest(onnx));

        // 1. Decode the protobuf.
        let framework = self::onnx();
        let mut proto = framework
            .proto_model_for_read(&mut &onnx[..])
            .map_err(|e| LoadError::Malformed(error_chain(&e)))?;
        let producer = [
            proto.producer_name.as_str(),
            proto.producer_version.as_str(),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");

        options.freeze_inputs(&mut proto)?;
        let quantized = match options.quantize_int8 {
            true => Some(quantize::int8(&mut proto)?),
            false => None,
        };
        if let Some(pooling) = options.pooling {
            pooling::add(&mut proto, pooling)?;
        }
        let Some(graph) = &proto.graph else {
            return Err(LoadError::Malformed("the file holds no graph".into()));
        };
        let class_labels = onnx_ml::output_class_labels(graph);

        // 1b. Every operator the engine lacks, all at once (nested graphs
        // included), before anything else can fail on one of them.
        let mut unsupported: Vec<String> = graph::operators_of(graph, &framework)
            .into_iter()
            .filter(|op| !op.supported)
            .map(|op| match op.domain.as_str() {
                "ai.onnx" => op.op_type,
                domain => format!("{domain}:{}", op.op_type),
            })
            .collect();
        if !unsupported.is_empty() {
            unsupported.sort();
            return Err(LoadError::UnsupportedOperators(unsupported));
        }
        // A component passes tensors: maps and sequences cannot come in.
        if let Some(input) = graph.input.iter().find(|i| {
            i.r#type.as_ref().and_then(|t| t.value.as_ref()).is_none()
                && !graph.initializer.iter().any(|init| init.name == i.name)
        }) {
            return Err(LoadError::Unsupported(format!(
                "input `{}` is not a tensor (an ONNX map or sequence); a component's inputs are tensors",
                input.name
            )));
        }

        // 1c. Sequences become the tensors they hold (tract has none),
        // onnxruntime's quantized operators and fused attention their
        // standard ONNX meaning, and a softmax of dequantized values stays
        // a softmax.
        sequences::resolve(&mut proto)?;
        contrib::qlinear::expand(&mut proto)?;
        contrib::attention::expand(&mut proto)?;
        contrib::embed_layer_norm::expand(&mut proto)?;
        dequantized_softmax::rewrite(&mut proto);
        let Some(graph) = &proto.graph else {
            return Err(LoadError::Malformed("the file holds no graph".into()));
        };

        // 1d. Names the graph's outputs use must be defined (tract would
        // panic on one that is not).
        wiring::check(graph)?;

        // 2-4. tract's part. It panics on some malformed files (an
        // `unwrap` on an axis out of range, found by fuzzing: see
        // `fuzz/regressions/onnx_load/`); natively, where panics unwind,
        // that is a refusal of the file, not a crash of `wasmodel build`,
        // which loads every model natively before packaging it. (In wasm a
        // panic aborts.)
        let info = ModelInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            digest,
            producer,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        let mut model =
            contain_panics(|| Model::translate(&framework, &proto, class_labels, info, options))?;
        if let Some(json) = &options.tokenizer {
            let text = TextInput::new(json, &model.info.inputs)?;
            model.info.inputs = text.declared().to_vec();
            model.text = Some(Arc::new(text));
        }
        if let Some(labels) = &options.labels {
            id2label::apply(&mut model.info.outputs, labels)?;
        }
        model.quantized = quantized;
        Ok(model)
    }

    /// Translates, types, describes and optimizes a decoded model: one plan
    /// for every shape if tract can make it, else a plan per input shape.
    fn translate(
        framework: &tract_onnx::Onnx,
        proto: &tract_onnx::pb::ModelProto,
        class_labels: Vec<(String, ClassLabels)>,
        info: ModelInfo,
        options: &LoadOptions,
    ) -> Result<Model, LoadError> {
        // 2. Translate the graph.
        let model = framework
            .model_for_proto_model(proto)
            .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;

        // 3. Give every input dimension the file leaves unnamed a symbol of
        //    its own, so the typed model knows it is the caller's choice.
        let named = name_dimensions(model.clone(), false)?;
        // Kernels are chosen while optimizing: ours must be in tract's
        // registries by then.
        wasmodel_kernels::link();
        let (inputs, mut outputs, plan, batch_one, per_shape_reason) =
            match every_shape(named.clone()).or_else(|first| {
                // If typing fails, the unnamed leading dimensions are
                // likely one batch (skl2onnx gives every column of a table
                // an input of its own, [?, 1]): try again with one symbol
                // for all.
                every_shape(name_dimensions(model, true)?).map_err(|_| first)
            }) {
                Ok(Symbolic {
                    inputs,
                    outputs,
                    plan,
                    batch_one,
                }) => (inputs, outputs, Some(plan), batch_one, None),
                // 4'. What tract could not type or optimize with symbols:
                //     a plan per input shape, the inputs as declared, and
                //     the outputs as the file declares them.
                // A graph no shape can fix (a cycle) is refused now.
                Err(LoadError::Unsupported(_)) if named.eval_order().is_err() => {
                    let e = named.eval_order().err().map(|e| error_chain(&e));
                    return Err(LoadError::Unsupported(e.unwrap_or_default()));
                }
                Err(LoadError::Unsupported(why)) => (
                    describe_inferred_inputs(&named)?,
                    describe_declared_outputs(proto, &class_labels)?,
                    None,
                    None,
                    Some(why),
                ),
                Err(other) => return Err(other),
            };
        for output in &mut outputs {
            output.class_labels = class_labels
                .iter()
                .find(|(name, labels)| {
                    *name == output.name && one_column_per_class(&output.shape, labels)
                })
                .map(|(_, labels)| labels.clone());
        }

        // 5. The shapes to plan now.
        let mut ahead: Vec<(plans::Shapes, Arc<TypedRunnableModel>)> = Vec::new();
        for shapes in shapes_ahead(&inputs, options)? {
            // Each plan shares the weights it packs alike with those before.
            let siblings: Vec<&TypedModel> = (plan.iter())
                .chain(batch_one.iter().map(|one| &one.plan))
                .chain(ahead.iter().map(|(_, p)| p))
                .map(|p| p.model())
                .collect();
            let made = plans::plan(&named, &shapes, &[], &siblings);
            let plan = made.map_err(|why| {
                let shapes = describe_shapes(&inputs, &shapes);
                LoadError::Options(match why {
                    PlanError::Shapes(why) => {
                        format!("--input-shape: the model cannot take {shapes}: {why}")
                    }
                    PlanError::Tract(why) => {
                        format!("--input-shape: tract cannot plan the model for {shapes}: {why}")
                    }
                })
            })?;
            ahead.push((shapes, plan));
        }
        let guard = plan.as_deref().map(ShapeGuard::of).unwrap_or_default();
        let source = per_shape_reason.is_some().then(|| Arc::new(named));
        let shape_giving = match (&source, &proto.graph) {
            (Some(_), Some(graph)) => plans::shape_giving_inputs(graph, &inputs),
            _ => Vec::new(),
        };

        Ok(Model {
            info: ModelInfo {
                inputs,
                outputs,
                ..info
            },
            plan,
            batch_one,
            shapes: Arc::new(ShapePlans::new(source, ahead, shape_giving)),
            per_shape_reason,
            guard,
            text: None,
            quantized: None,
        })
    }

    /// How the model is planned: one plan for every shape or a plan per
    /// shape, and the shapes planned ahead.
    pub fn planning(&self) -> Planning {
        Planning {
            per_shape_reason: self.per_shape_reason.clone(),
            planned_ahead: self.shapes.planned_ahead(),
        }
    }

    /// What `--quantize int8` made int8, if the model was loaded with it.
    pub fn quantized(&self) -> Option<Quantized> {
        self.quantized
    }

    /// The model's name, version, digest and declared inputs and outputs.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Runs the model on named inputs, checked against the declared ones
    /// first, and returns the outputs in declared order.
    pub fn predict(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PredictError> {
        match &self.text {
            Some(text) => self.run(text.model_inputs(), text.encode(inputs)?),
            None => self.run(&self.info.inputs, inputs),
        }
    }

    /// Runs the graph on inputs checked against its own `declared` ones.
    fn run(
        &self,
        declared: &[TensorInfo],
        inputs: Vec<Tensor>,
    ) -> Result<Vec<Tensor>, PredictError> {
        let ordered = validate::order_inputs(declared, inputs)?;
        let values = ordered
            .into_iter()
            .map(to_tract)
            .collect::<Result<TVec<TValue>, PredictError>>()?;
        let planned = self.shapes.plan_for(&values).map_err(|why| {
            let shapes: Vec<Vec<usize>> = values.iter().map(|v| v.shape().to_vec()).collect();
            let shapes = describe_shapes(declared, &shapes);
            // An input that gives a shape: its value is the likelier fault
            // (an `Expand` to a shape the input cannot broadcast to).
            match (self.shapes.shape_giving().first(), why) {
                (Some(&ix), why) => PredictError::InvalidInput(InputError::new(
                    InputErrorKind::OutOfRange,
                    &declared[ix].name,
                    format!("a value the model can take as a shape, with {shapes}"),
                    format!("{}: {why}", integers(&values[ix])),
                )),
                // Named after the first input with a dimension left open:
                // the others' shapes were checked against their declared
                // ones.
                (None, PlanError::Shapes(why)) => {
                    let input = (declared.iter())
                        .find(|i| i.shape.iter().any(|d| matches!(d, Dimension::Dynamic(_))))
                        .or(declared.first())
                        .map_or("", |i| i.name.as_str());
                    PredictError::InvalidInput(InputError::new(
                        InputErrorKind::Shape,
                        input,
                        "shapes the model's nodes agree on",
                        format!("{shapes}: {why}"),
                    ))
                }
                (None, PlanError::Tract(why)) => PredictError::Unsupported(format!(
                    "tract cannot plan the model for {shapes}: {why}"
                )),
            }
        })?;
        let plan = match (&planned, &self.batch_one, &self.plan) {
            (Some(plan), _, _) => plan,
            (None, Some(one), _) if batch_one::applies(&one.dynamic_leading, &values) => &one.plan,
            (None, _, Some(plan)) => plan,
            (None, _, None) => {
                return Err(PredictError::Internal(
                    "the model has no plan for these shapes".into(),
                ));
            }
        };
        if planned.is_none() {
            self.guard
                .check(declared, &values)
                .map_err(PredictError::InvalidInput)?;
        }
        let results = plan
            .run(values)
            .map_err(|e| match e.downcast_ref::<IndexOutOfRange>() {
                Some(out_of_range) => PredictError::InvalidInput(out_of_range.input_error()),
                None => PredictError::Internal(format!("tract: {}", error_chain(&e))),
            })?;
        self.info
            .outputs
            .iter()
            .zip(results)
            .map(|(info, value)| from_tract(info, &value))
            .collect()
    }
}

/// Gives every input dimension the file leaves unnamed a symbol. With
/// `shared_batch`, every unnamed leading dimension gets the same symbol,
/// `batch`.
fn name_dimensions(
    mut model: InferenceModel,
    shared_batch: bool,
) -> Result<InferenceModel, LoadError> {
    let batch = shared_batch.then(|| model.symbols.sym("batch"));
    for ix in 0..model.inputs.len() {
        let input_name = model.node(model.inputs[ix].node).name.clone();
        let fact = model
            .input_fact(ix)
            .map_err(|e| LoadError::Unsupported(error_chain(&e)))?;
        if fact.shape.is_open() {
            return Err(LoadError::Unsupported(format!(
                "input `{input_name}` declares no shape; re-export the model with input shapes"
            )));
        }
        let unknown: Vec<usize> = fact
            .shape
            .dims()
            .enumerate()
            .filter(|(_, d)| d.concretize().is_none())
            .map(|(i, _)| i)
            .collect();
        for axis in unknown {
            let symbol = if let (Some(batch), 0) = (&batch, axis) {
                batch.clone()
            } else {
                model
                    .symbols
                    .new_with_prefix(&format!("{input_name}_dim{axis}"))
            };
            model
                .input_fact_mut(ix)
                .map_err(|e| LoadError::Unsupported(error_chain(&e)))?
                .shape
                .set_dim(axis, TDim::Sym(symbol));
        }
    }
    Ok(model)
}

/// A model typed with its dynamic dimensions as symbols, and optimized.
struct Symbolic {
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    plan: Arc<TypedRunnableModel>,
    batch_one: Option<BatchOne>,
}

/// Types, checks, describes and optimizes a model for every input shape at
/// once.
fn every_shape(named: InferenceModel) -> Result<Symbolic, LoadError> {
    let unsupported = |e: TractError| LoadError::Unsupported(error_chain(&e));
    let mut typed = named.into_typed().map_err(unsupported)?;
    // Indices that come from the caller are checked before tract uses
    // them (`index_check`).
    index_check::guard(&mut typed).map_err(unsupported)?;
    let inputs = describe(&typed, "input")?;
    let outputs = describe(&typed, "output")?;
    let plan = plans::runnable(typed.clone()).map_err(unsupported)?;
    let batch_one = batch_one::plan(&typed, plan.model()).map(|plan| BatchOne {
        plan,
        dynamic_leading: inputs
            .iter()
            .map(|i| matches!(i.shape.first(), Some(Dimension::Dynamic(_))))
            .collect(),
    });
    Ok(Symbolic {
        inputs,
        outputs,
        plan,
        batch_one,
    })
}

fn datum_type(element_type: ElementType) -> DatumType {
    match element_type {
        ElementType::F32 => DatumType::F32,
        ElementType::F64 => DatumType::F64,
        ElementType::I32 => DatumType::I32,
        ElementType::I64 => DatumType::I64,
        ElementType::U8 => DatumType::U8,
        ElementType::Bool => DatumType::Bool,
        ElementType::String => DatumType::String,
    }
}

/// Moves a checked input into a tract value, without copying its elements.
fn to_tract(tensor: Tensor) -> Result<TValue, PredictError> {
    let shape: Vec<usize> = tensor.shape.iter().map(|&d| d as usize).collect();
    fn array<T: tract_onnx::prelude::Datum>(
        shape: Vec<usize>,
        data: Vec<T>,
    ) -> Result<TValue, PredictError> {
        tract_ndarray::ArrayD::from_shape_vec(shape, data)
            .map(|a| a.into_tensor().into_tvalue())
            .map_err(|e| PredictError::Internal(format!("building an input tensor: {e}")))
    }
    match tensor.data {
        TensorData::F32(v) => array(shape, v),
        TensorData::F64(v) => array(shape, v),
        TensorData::I32(v) => array(shape, v),
        TensorData::I64(v) => array(shape, v),
        TensorData::U8(v) => array(shape, v),
        TensorData::Bool(v) => array(shape, v),
        TensorData::String(v) => array(shape, v),
    }
}

/// Copies a tract output into a named tensor of its declared element type.
///
/// tract may compute an integer output in another type than declared (an
/// `i64` sum of a cast can come out as its symbolic `TDim`); such values
/// are cast to what the model declares.
fn from_tract(info: &TensorInfo, value: &TValue) -> Result<Tensor, PredictError> {
    let name = info.name.as_str();
    let shape = value
        .shape()
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            PredictError::Internal(format!("output `{name}` has a dimension over 2^32"))
        })?;
    let declared = datum_type(info.element_type);
    let value = value.cast_to_dt(declared).map_err(|e| {
        PredictError::Internal(format!(
            "output `{name}` is {:?}, declared {}: {}",
            value.datum_type(),
            info.element_type,
            error_chain(&e)
        ))
    })?;
    let data = match info.element_type {
        ElementType::F32 => TensorData::F32(slice(name, &value)?),
        ElementType::F64 => TensorData::F64(slice(name, &value)?),
        ElementType::I32 => TensorData::I32(slice(name, &value)?),
        ElementType::I64 => TensorData::I64(slice(name, &value)?),
        ElementType::U8 => TensorData::U8(slice(name, &value)?),
        ElementType::Bool => TensorData::Bool(slice(name, &value)?),
        ElementType::String => TensorData::String(slice(name, &value)?),
    };
    Ok(Tensor::new(name, shape, data))
}

fn slice<T: tract_onnx::prelude::Datum + Clone>(
    name: &str,
    value: &tract_onnx::prelude::Tensor,
) -> Result<Vec<T>, PredictError> {
    value
        .try_as_plain_ram()
        .and_then(|view| view.as_slice::<T>().map(<[T]>::to_vec))
        .map_err(|e| PredictError::Internal(format!("reading output `{name}`: {e}")))
}

/// An integer input's values, as a list.
fn integers(value: &TValue) -> String {
    value
        .cast_to::<i64>()
        .ok()
        .and_then(|t| {
            let plain = t.try_as_plain_ram().ok()?;
            plain.as_slice::<i64>().ok().map(|s| format!("{s:?}"))
        })
        .unwrap_or_else(|| format!("{value:?}"))
}

/// Runs `f`, turning a panic in it into a refusal of the model.
fn contain_panics(f: impl FnOnce() -> Result<Model, LoadError>) -> Result<Model, LoadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Err(LoadError::Unsupported(format!(
            "tract failed on this file ({message}); the file is likely malformed"
        )))
    })
}

/// tract's errors carry their cause chain; show all of it on one line.
pub(crate) fn error_chain(e: &TractError) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
