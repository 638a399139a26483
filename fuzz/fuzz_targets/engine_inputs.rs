//! Tensors from a caller (what the WIT `predict` interface hands the
//! engine) checked against the model's declared inputs: any names, shapes,
//! types and data must be run or refused with a typed error, never panic.
//!
//! Input: byte 0 picks the model (`dtypes`: u8, bool, f64, i32 inputs;
//! `multi_io`: f32 and i64) and, with its third bit, how the rest is read:
//! as a list of any tensors, or as what a careful caller sends (every
//! declared input with its declared type, the dynamic dimensions one batch
//! size from 0 to 4, integers small enough to be indices). Without the
//! second way the fuzzer never made a batch of more than one that the
//! model runs, so the engine's plan for any batch went unfuzzed (line
//! coverage, RELIABILITY.md).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wasmodel_engine::{ElementType, Model, PredictError, Tensor, TensorData, TensorInfo};

static MODELS: LazyLock<[Model; 2]> = LazyLock::new(|| {
    let load = |bytes: &[u8], name| Model::load(bytes, name, "1").expect("a test model");
    [
        load(include_bytes!("../../models/dtypes.onnx"), "dtypes"),
        load(include_bytes!("../../models/multi_io.onnx"), "multi_io"),
    ]
});

fn tensor(u: &mut Unstructured<'_>, model: &Model) -> Result<Tensor> {
    // Mostly the model's own input names, sometimes any.
    let declared = &model.info().inputs;
    let name = match u.int_in_range(0..=declared.len())? {
        i if i < declared.len() => declared[i].name.clone(),
        _ => u.arbitrary::<String>()?,
    };
    let rank = u.int_in_range(0..=4)?;
    let shape = (0..rank)
        .map(|_| {
            Ok(match u.int_in_range(0..=9)? {
                0 => u.arbitrary::<u32>()?,
                n => n - 1,
            })
        })
        .collect::<Result<Vec<u32>>>()?;
    let data = match u.int_in_range(0..=6)? {
        0 => TensorData::F32(u.arbitrary()?),
        1 => TensorData::F64(u.arbitrary()?),
        2 => TensorData::I32(u.arbitrary()?),
        3 => TensorData::I64(u.arbitrary()?),
        4 => TensorData::U8(u.arbitrary()?),
        5 => TensorData::Bool(u.arbitrary()?),
        _ => TensorData::String(u.arbitrary()?),
    };
    Ok(Tensor::new(name, shape, data))
}

/// `info`'s input as a careful caller sends it: the declared type and
/// shape, each dynamic dimension `batch`, integers in [-8, 8] (indices in
/// range and out of it, negative ones among them).
fn conforming(u: &mut Unstructured<'_>, info: &TensorInfo, batch: u32) -> Result<Tensor> {
    let shape = info.shape_with_dynamic(batch);
    let count = shape.iter().product::<u32>() as usize;
    let small = |u: &mut Unstructured<'_>| u.int_in_range(-8i8..=8);
    let data = match info.element_type {
        ElementType::F32 => TensorData::F32(values(u, count, |u| u.arbitrary())?),
        ElementType::F64 => TensorData::F64(values(u, count, |u| u.arbitrary())?),
        ElementType::I32 => TensorData::I32(values(u, count, |u| small(u).map(i32::from))?),
        ElementType::I64 => TensorData::I64(values(u, count, |u| small(u).map(i64::from))?),
        ElementType::U8 => TensorData::U8(values(u, count, |u| u.arbitrary())?),
        ElementType::Bool => TensorData::Bool(values(u, count, |u| u.arbitrary())?),
        ElementType::String => TensorData::String(values(u, count, |u| u.arbitrary())?),
    };
    Ok(Tensor::new(info.name.clone(), shape, data))
}

fn values<T>(
    u: &mut Unstructured<'_>,
    count: usize,
    one: impl Fn(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    (0..count).map(|_| one(u)).collect()
}

fn inputs(u: &mut Unstructured<'_>, model: &Model, careful: bool) -> Result<Vec<Tensor>> {
    if careful {
        let batch = u.int_in_range(0..=4)?;
        return model
            .info()
            .inputs
            .iter()
            .map(|info| conforming(u, info, batch))
            .collect();
    }
    let count = u.int_in_range(0..=5)?;
    (0..count).map(|_| tensor(u, model)).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let model = &MODELS[usize::from(selector & 1)];
    let Ok(inputs) = inputs(&mut Unstructured::new(rest), model, selector & 4 != 0) else {
        return;
    };
    match model.predict(inputs) {
        Ok(outputs) => assert_eq!(outputs.len(), model.info().outputs.len()),
        // Internal means tract failed on inputs we let through: our fault.
        Err(PredictError::Internal(e)) => panic!("inputs passed the checks, then: {e}"),
        Err(_) => {}
    }
});
