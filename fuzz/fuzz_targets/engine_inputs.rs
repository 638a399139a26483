//! Tensors from a caller (what the WIT `predict` interface hands the
//! engine) checked against the model's declared inputs: any names, shapes,
//! types and data must be run or refused with a typed error, never panic.
//!
//! Input: byte 0 picks the model (`dtypes`: u8, bool, f64, i32 inputs;
//! `multi_io`: f32 and i64), the rest is read as a list of tensors.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wasmodel_engine::{Model, PredictError, Tensor, TensorData};

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

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let model = &MODELS[usize::from(selector & 1)];
    let mut u = Unstructured::new(rest);
    let Ok(count) = u.int_in_range(0..=5) else {
        return;
    };
    let Ok(inputs) = (0..count)
        .map(|_| tensor(&mut u, model))
        .collect::<Result<Vec<Tensor>>>()
    else {
        return;
    };
    match model.predict(inputs) {
        Ok(outputs) => assert_eq!(outputs.len(), model.info().outputs.len()),
        // Internal means tract failed on inputs we let through: our fault.
        Err(PredictError::Internal(e)) => panic!("inputs passed the checks, then: {e}"),
        Err(_) => {}
    }
});
