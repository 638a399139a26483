//! Models tract cannot plan for every input shape at once, natively: a plan
//! per shape, shapes planned ahead, frozen inputs and `If`
//! (`tests/fixtures/dynamic/`, written by `models/dynamic_cases.py`; the
//! answers are what onnxruntime gives, worked out by hand: a squeeze, a
//! multiplication, a one-hot).

use std::path::PathBuf;

use wasmodel_engine::{LoadError, LoadOptions, Model, PredictError, Tensor, TensorData};

fn read(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/dynamic")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn options(shapes: &[&str], values: &[&str]) -> LoadOptions {
    let mut options = LoadOptions::default();
    for s in shapes {
        options.add_input_shape(s).unwrap();
    }
    for v in values {
        options.add_input_value(v).unwrap();
    }
    options
}

fn floats(name: &str, shape: &[u32]) -> Tensor {
    let n = shape.iter().product::<u32>() as usize;
    Tensor::new(
        name,
        shape.to_vec(),
        TensorData::F32((0..n).map(|i| i as f32).collect()),
    )
}

fn data(t: &Tensor) -> &[f32] {
    match &t.data {
        TensorData::F32(v) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_if_on_a_shape_takes_each_branch_with_its_own_plan() {
    let model = Model::load(&read("if_on_shape.onnx"), "m", "1").unwrap();
    // tract would fold `width == 1` to false with `width` a symbol.
    assert!(model.planning().per_shape_reason.is_some());
    // width 1: the then branch squeezes it away.
    let y = model.predict(vec![floats("x", &[2, 4, 1])]).unwrap();
    assert_eq!(y[0].shape, [2, 4]);
    assert_eq!(data(&y[0]), (0..8).map(|i| i as f32).collect::<Vec<_>>());
    // width 3: the else branch keeps x.
    let y = model.predict(vec![floats("x", &[2, 4, 3])]).unwrap();
    assert_eq!(y[0].shape, [2, 4, 3]);
    // More shapes than are kept: each still answers.
    for width in 2..(2 + wasmodel_engine::PLANS_KEPT as u32 + 2) {
        let y = model.predict(vec![floats("x", &[1, 4, width])]).unwrap();
        assert_eq!(y[0].shape, [1, 4, width]);
    }
}

#[test]
fn shapes_planned_ahead_are_reported_and_checked() {
    let model = Model::load_with(
        &read("if_on_shape.onnx"),
        "m",
        "1",
        &options(&["x=2,4,1", "x=1,4,5"], &[]),
    )
    .unwrap();
    assert_eq!(
        model.planning().planned_ahead,
        vec![vec![vec![2, 4, 1]], vec![vec![1, 4, 5]]]
    );
    let y = model.predict(vec![floats("x", &[2, 4, 1])]).unwrap();
    assert_eq!(y[0].shape, [2, 4]);

    for (given, expected) in [
        ("x=2,5,1", "does not fit its declared shape"),
        ("x=2,4", "does not fit its declared shape"),
        ("y=2,4,1", "the model has no input `y` (its inputs: `x`)"),
    ] {
        let e = Model::load_with(&read("if_on_shape.onnx"), "m", "1", &options(&[given], &[]))
            .unwrap_err();
        assert!(matches!(e, LoadError::Options(_)), "{e:?}");
        assert!(e.to_string().contains(expected), "{given}: {e}");
    }
}

#[test]
fn an_if_on_an_input_runs_as_shipped_and_folds_when_frozen() {
    let rate = |r: i64| Tensor::new("rate", vec![], TensorData::I64(vec![r]));
    let x = floats("x", &[2, 3]);
    // As shipped: the branches give different shapes, which tract's typed
    // `If` cannot hold; the error says which input to freeze.
    let model = Model::load(&read("if_on_input.onnx"), "m", "1").unwrap();
    let e = model.predict(vec![x.clone(), rate(16000)]).unwrap_err();
    assert!(matches!(e, PredictError::Unsupported(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("depends on input `rate`; freeze it with --input-value rate=VALUE"),
        "{e}"
    );
    for (value, shape, expected) in [
        ("rate=16000", vec![6], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
        ("rate=8000", vec![2, 3], [0.0, 3.0, 6.0, 9.0, 12.0, 15.0]),
    ] {
        let frozen =
            Model::load_with(&read("if_on_input.onnx"), "m", "1", &options(&[], &[value])).unwrap();
        let y = frozen.predict(vec![x.clone()]).unwrap();
        assert_eq!(y[0].shape, shape, "{value}");
        assert_eq!(data(&y[0]), expected, "{value}");
    }

    // Frozen: `rate` is no longer an input, and the branch is inlined.
    let frozen = Model::load_with(
        &read("if_on_input.onnx"),
        "m",
        "1",
        &options(&[], &["rate=8000"]),
    )
    .unwrap();
    let names: Vec<&str> = frozen
        .info()
        .inputs
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["x"]);
    assert!(frozen.planning().per_shape_reason.is_none());
    let y = frozen.predict(vec![x.clone()]).unwrap();
    assert_eq!(data(&y[0]), [0.0, 3.0, 6.0, 9.0, 12.0, 15.0]);
    let e = frozen.predict(vec![x, rate(16000)]).unwrap_err();
    assert!(matches!(e, PredictError::InvalidInput(_)), "{e:?}");

    for (given, expected) in [
        ("rate=fast", "`fast` is not a 64-bit integer"),
        ("rate=1,2", "2 values cannot fill its declared shape []"),
        ("speed=1", "the model has no input `speed`"),
    ] {
        let e = Model::load_with(&read("if_on_input.onnx"), "m", "1", &options(&[], &[given]))
            .unwrap_err();
        assert!(e.to_string().contains(expected), "{given}: {e}");
    }
}

#[test]
fn an_expand_to_a_shape_computed_through_int32_is_planned_per_shape() {
    let model = Model::load(&read("expand_from_shape.onnx"), "m", "1").unwrap();
    assert!(model.planning().per_shape_reason.is_some());
    for batch in [1u32, 3] {
        let codes: Vec<i32> = (0..batch as i32 * 5).map(|i| i % 4).collect();
        let y = model
            .predict(vec![Tensor::new(
                "codes",
                vec![batch, 5],
                TensorData::I32(codes.clone()),
            )])
            .unwrap();
        assert_eq!(y[0].shape, [batch, 5, 4]);
        let expected: Vec<f32> = codes
            .iter()
            .flat_map(|&c| (0..4).map(move |k| f32::from(u8::from(k == c))))
            .collect();
        assert_eq!(data(&y[0]), expected);
    }
}

#[test]
fn a_shape_the_model_cannot_take_is_a_typed_error() {
    let model = Model::load(&read("expand_from_shape.onnx"), "m", "1").unwrap();
    // Declared [batch, 5]: 6 columns are the caller's mistake.
    let e = model
        .predict(vec![Tensor::new(
            "codes",
            vec![1, 6],
            TensorData::I32(vec![0; 6]),
        )])
        .unwrap_err();
    assert!(matches!(e, PredictError::InvalidInput(_)), "{e:?}");
}

/// The onnx wheel's backend cases (`tests/fixtures/backend/`, written by
/// `models/backend_cases.py`), run as shipped against the answers the
/// wheel gives and onnxruntime agrees with.
fn backend_case(name: &str) -> Result<(), String> {
    let onnx = read_backend(&format!("{name}.onnx"));
    let case: serde_json::Value = serde_json::from_slice(&read_backend(&format!("{name}.json")))
        .map_err(|e| e.to_string())?;
    let model = Model::load(&onnx, name, "1").map_err(|e| format!("load: {e}"))?;
    let element_type = |n: &str| {
        (model.info().inputs.iter())
            .find(|i| i.name == n)
            .map(|i| i.element_type)
    };
    let inputs = wasmodel_engine::json::tensors_from_json_object(&case["inputs"], element_type)?;
    // Twice: the second call finds the plan the first one made.
    for call in 0..2 {
        let outputs = model
            .predict(inputs.clone())
            .map_err(|e| format!("call {call}: {e}"))?;
        let expected = case["outputs"].as_array().ok_or("no outputs")?;
        if outputs.len() != expected.len() {
            return Err(format!(
                "{} outputs, expected {}",
                outputs.len(),
                expected.len()
            ));
        }
        for (output, expected) in outputs.iter().zip(expected) {
            let want = wasmodel_engine::json::tensor_from_json(
                &output.name,
                output.data.element_type(),
                expected,
            )?;
            if output.shape != want.shape || output.data != want.data {
                return Err(format!(
                    "output `{}`: {:?} {:?}, expected {:?} {:?}",
                    output.name, output.shape, output.data, want.shape, want.data
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn the_onnx_backend_cases_of_expand_and_sequences_pass() {
    let names = (1..=4)
        .map(|i| format!("test_expand_shape_model{i}"))
        .chain([
            "test_expand_dim_changed".into(),
            "test_expand_dim_unchanged".into(),
        ])
        .chain((1..=7).map(|i| format!("test_sequence_model{i}")));
    let failures: Vec<String> = names
        .filter_map(|name| backend_case(&name).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // test_sequence_model8 splits an empty tensor, which wasmodel refuses
    // as an input (`InputErrorKind::Empty`); the split itself, three
    // pieces of lengths known only when the model runs, is the point.
    let e = backend_case("test_sequence_model8").unwrap_err();
    assert!(e.contains("empty tensor for input `X`"), "{e}");
    let model = Model::load(&read_backend("test_sequence_model8.onnx"), "m", "1").unwrap();
    let y = model
        .predict(vec![
            Tensor::new("X", vec![5], TensorData::F32(vec![1.0; 5])),
            Tensor::new("Splits", vec![3], TensorData::I64(vec![1, 3, 1])),
        ])
        .unwrap();
    assert_eq!(y[0].data, TensorData::I64(vec![3]));
}

fn read_backend(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/backend")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_list_split_and_stacked_again_is_a_transpose() {
    // SplitToSequence without keepdims, ConcatFromSequence with new_axis,
    // at opset 17 (Squeeze and Unsqueeze take their axes as inputs).
    let model = Model::load(&read("split_stack.onnx"), "m", "1").unwrap();
    let y = model.predict(vec![floats("x", &[2, 3, 2])]).unwrap();
    assert_eq!(y[0].shape, [2, 2, 3]);
    assert_eq!(
        data(&y[0]),
        [0.0, 2.0, 4.0, 1.0, 3.0, 5.0, 6.0, 8.0, 10.0, 7.0, 9.0, 11.0]
    );
}

#[test]
fn a_list_position_given_as_an_input_must_be_frozen() {
    let e = Model::load(&read("sequence_at_input.onnx"), "m", "1").unwrap_err();
    assert!(matches!(e, LoadError::Unsupported(_)), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("its position `pos` is not a constant scalar")
            && message.contains("--input-value"),
        "{message}"
    );
    let model = Model::load_with(
        &read("sequence_at_input.onnx"),
        "m",
        "1",
        &options(&[], &["pos=-1"]),
    )
    .unwrap();
    let y = model
        .predict(vec![
            Tensor::new("a", vec![2], TensorData::F32(vec![1.0, 2.0])),
            Tensor::new("b", vec![2], TensorData::F32(vec![3.0, 4.0])),
        ])
        .unwrap();
    assert_eq!(data(&y[0]), [3.0, 4.0]);
}

/// `Resize` to sizes computed from the input's shape, planned for every
/// shape: tract folds the sizes into a constant that names the symbols,
/// which its `Resize` did not evaluate (every call failed).
#[test]
fn a_resize_to_the_input_shape_runs_planned_for_every_shape() {
    let model = Model::load(&read("resize_to_shape.onnx"), "m", "1").unwrap();
    assert_eq!(model.planning().per_shape_reason, None);
    for (batch, h, w) in [(1u32, 4u32, 6u32), (2, 5, 3), (1, 9, 8)] {
        let x = floats("x", &[batch, 1, h, w]);
        let y = model.predict(vec![x.clone()]).unwrap();
        assert_eq!(y[0].shape, [batch, 1, h, w]);
        // A 2 x 2 max-pool, then nearest (floor) back to h x w, added to x.
        let (x, (ph, pw)) = (data(&x), (h / 2, w / 2));
        let at = |n: u32, i: u32, j: u32| x[(n * h * w + i * w + j) as usize];
        let mut expected = Vec::new();
        for n in 0..batch {
            for i in 0..h {
                for j in 0..w {
                    let (pi, pj) = (i * ph / h, j * pw / w);
                    let pooled = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|&(di, dj)| at(n, 2 * pi + di, 2 * pj + dj))
                        .fold(f32::MIN, f32::max);
                    expected.push(at(n, i, j) + pooled);
                }
            }
        }
        assert_eq!(data(&y[0]), expected, "{batch} x {h} x {w}");
    }
}

/// A signal shorter than the convolution's kernel, planned for every
/// shape: a typed error naming the input, not tract failing on a
/// dimension wrapped around to 2^32.
#[test]
fn a_signal_shorter_than_the_kernel_is_the_callers_mistake() {
    let model = Model::load(&read("conv_frames.onnx"), "m", "1").unwrap();
    assert_eq!(model.planning().per_shape_reason, None);
    // 16 samples: frames at 0, 4 and 8, each the sum of 8 samples.
    let y = model.predict(vec![floats("signal", &[1, 16])]).unwrap();
    assert_eq!(y[0].shape, [1, 1, 3]);
    let sums: Vec<f32> = [0, 4, 8]
        .iter()
        .map(|&s| (s..s + 8).sum::<i32>() as f32)
        .collect();
    assert_eq!(data(&y[0]), sums);
    for short in [1, 3] {
        let e = model
            .predict(vec![floats("signal", &[1, short])])
            .unwrap_err();
        let PredictError::InvalidInput(e) = e else {
            panic!("{short} samples: {e:?}")
        };
        assert_eq!(e.input, "signal", "{e:?}");
        assert_eq!(e.kind, wasmodel_engine::InputErrorKind::Shape, "{e:?}");
    }
}

/// An `Expand` to a shape given as an input, with a shape the other input
/// cannot broadcast to: a typed error naming the input that gives it.
#[test]
fn a_shape_given_as_an_input_that_does_not_fit_is_the_callers_mistake() {
    let model = Model::load(&read_backend("test_expand_shape_model1.onnx"), "m", "1").unwrap();
    let x = Tensor::new("X", vec![1, 3, 1], TensorData::F32(vec![1.0; 3]));
    let shape = |v: Vec<i64>| Tensor::new("shape", vec![v.len() as u32], TensorData::I64(v));
    let e = model
        .predict(vec![x.clone(), shape(vec![2, 5])])
        .unwrap_err();
    let PredictError::InvalidInput(e) = e else {
        panic!("{e:?}")
    };
    assert_eq!(e.input, "shape", "{e:?}");
    assert!(e.got.starts_with("[2, 5]"), "{e:?}");
    // The same shapes with a value that fits still run.
    let y = model.predict(vec![x, shape(vec![3, 4])]).unwrap();
    assert_eq!(y[0].shape, [1, 3, 4]);
}

/// A model traced with a batch of one, whose `Reshape` keeps that 1 as a
/// constant (khmersm's transformer): fed a batch of two, no plan can be
/// made, and that is the caller's mistake (a typed error naming the input
/// and the node), not an operator tract lacks.
#[test]
fn a_shape_the_models_nodes_disagree_on_is_the_callers_mistake() {
    let model = Model::load(&read("batch_of_one.onnx"), "m", "1").unwrap();
    assert!(model.planning().per_shape_reason.is_some());
    let y = model.predict(vec![floats("x", &[1, 3, 4])]).unwrap();
    assert_eq!(y[0].shape, [3, 1, 2, 2]);
    // Sequence first: row s of x, as it was.
    assert_eq!(data(&y[0]), (0..12).map(|i| i as f32).collect::<Vec<_>>());
    let e = model.predict(vec![floats("x", &[2, 3, 4])]).unwrap_err();
    let PredictError::InvalidInput(e) = e else {
        panic!("{e:?}")
    };
    assert_eq!(e.input, "x", "{e:?}");
    assert_eq!(e.kind, wasmodel_engine::InputErrorKind::Shape, "{e:?}");
    assert!(e.got.contains("Reshape"), "{e:?}");
    // The model still answers a batch of one afterwards.
    assert!(model.predict(vec![floats("x", &[1, 5, 4])]).is_ok());
}

#[test]
fn a_zipmap_planned_per_shape_is_a_tensor_with_its_classes() {
    use wasmodel_engine::{ClassLabels, Dimension, ElementType};
    let model = Model::load(&read("zipmap_after_if.onnx"), "m", "1").unwrap();
    // tract would fold `batch == 1` to false with `batch` a symbol.
    assert!(model.planning().per_shape_reason.is_some());
    // The file declares a sequence of maps; the ZipMap's input is what it
    // holds: one probability per class and row.
    let output = &model.info().outputs[0];
    assert_eq!(
        (
            output.name.as_str(),
            output.element_type,
            &output.shape[1..]
        ),
        (
            "probabilities",
            ElementType::F32,
            &[Dimension::Fixed(3)][..]
        )
    );
    assert_eq!(
        output.class_labels,
        Some(ClassLabels::I64(vec![10, 20, 30]))
    );
    let softmax = |row: &[f32], scale: f32| {
        let e: Vec<f32> = row.iter().map(|v| (v * scale).exp()).collect();
        let sum: f32 = e.iter().sum();
        e.into_iter().map(|v| v / sum).collect::<Vec<_>>()
    };
    // A batch of two: a softmax of x; of one: of 2x (as onnxruntime answers).
    for (rows, scale) in [(2u32, 1.0), (1, 2.0)] {
        let y = model.predict(vec![floats("x", &[rows, 3])]).unwrap();
        assert_eq!(y[0].shape, [rows, 3]);
        let expected: Vec<f32> = (0..rows as usize)
            .flat_map(|r| {
                let row: Vec<f32> = (0..3).map(|c| (r * 3 + c) as f32).collect();
                softmax(&row, scale)
            })
            .collect();
        for (got, want) in data(&y[0]).iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-6,
                "{:?} vs {expected:?}",
                data(&y[0])
            );
        }
    }
}
