//! Bad inputs get typed errors naming the input, what was expected and
//! what was received; limits hold; and the host keeps serving afterwards.

use std::time::Duration;

use wasmodel::{Error, InputErrorKind, Limits, PredictError, Tensor, TensorData};

use crate::support::{component, fixture, model, runtime_with};

/// The error of a call that must fail as invalid input.
fn invalid(result: Result<Vec<Tensor>, Error>) -> wasmodel::InputError {
    match result {
        Err(Error::Predict(PredictError::InvalidInput(e))) => e,
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

fn numeric(rows: u32) -> Tensor {
    Tensor::new(
        "numeric",
        vec![rows, 5],
        TensorData::F32(vec![0.25; rows as usize * 5]),
    )
}

fn category(rows: u32) -> Tensor {
    Tensor::new(
        "category",
        vec![rows],
        TensorData::I64(vec![1; rows as usize]),
    )
}

/// After a failure, the same loaded component still answers correctly.
fn still_serves() {
    let f = fixture("multi_io");
    let outputs = model("multi_io")
        .predict(f.inputs.clone())
        .expect("a good call after a bad one");
    crate::support::assert_outputs_match(&outputs, &f.outputs, f.rtol, f.atol);
}

#[test]
fn wrong_shape() {
    let bad = Tensor::new("numeric", vec![2, 4], TensorData::F32(vec![0.0; 8]));
    let e = invalid(model("multi_io").predict(vec![bad, category(2)]));
    assert_eq!(
        (e.kind, e.input.as_str()),
        (InputErrorKind::Shape, "numeric")
    );
    assert!(
        e.expected.contains("[batch, 5]") && e.got.contains("[2, 4]"),
        "{e}"
    );
    still_serves();
}

#[test]
fn disagreeing_batch_sizes() {
    let e = invalid(model("multi_io").predict(vec![numeric(3), category(2)]));
    assert_eq!(
        (e.kind, e.input.as_str()),
        (InputErrorKind::Shape, "category")
    );
    still_serves();
}

#[test]
fn wrong_element_type() {
    let bad = Tensor::new("category", vec![2], TensorData::F32(vec![1.0, 2.0]));
    let e = invalid(model("multi_io").predict(vec![numeric(2), bad]));
    assert_eq!(
        (
            e.kind,
            e.input.as_str(),
            e.expected.as_str(),
            e.got.as_str()
        ),
        (InputErrorKind::ElementType, "category", "i64", "f32")
    );
    still_serves();
}

#[test]
fn missing_input() {
    let e = invalid(model("multi_io").predict(vec![numeric(2)]));
    assert_eq!(
        (e.kind, e.input.as_str()),
        (InputErrorKind::Missing, "category")
    );
    still_serves();
}

#[test]
fn unknown_input() {
    let stray = Tensor::new("colour", vec![2], TensorData::U8(vec![1, 2]));
    let e = invalid(model("multi_io").predict(vec![numeric(2), category(2), stray]));
    assert_eq!(
        (e.kind, e.input.as_str()),
        (InputErrorKind::Unknown, "colour")
    );
    assert!(
        e.expected.contains("`numeric`") && e.expected.contains("`category`"),
        "{e}"
    );
    still_serves();
}

#[test]
fn empty_tensor() {
    let e = invalid(model("multi_io").predict(vec![numeric(0), category(0)]));
    assert_eq!(e.kind, InputErrorKind::Empty);
    still_serves();
}

#[test]
fn data_not_matching_shape() {
    let bad = Tensor::new("numeric", vec![2, 5], TensorData::F32(vec![0.0; 9]));
    let e = invalid(model("multi_io").predict(vec![bad, category(2)]));
    assert_eq!(
        (e.kind, e.got.as_str()),
        (InputErrorKind::DataLength, "9 elements")
    );
    still_serves();
}

#[test]
fn an_index_past_the_table_it_looks_up() {
    // multi_io embeds `category` with a table of 4 rows; the fuzzer's id
    // (fuzz/regressions/engine_inputs/) made tract panic: a trap in the
    // component, before the engine checked indices.
    let past = Tensor::new(
        "category",
        vec![2],
        TensorData::I64(vec![1, 5_023_693_216_855_313_706]),
    );
    let e = invalid(model("multi_io").predict(vec![numeric(2), past]));
    assert_eq!(
        (e.kind, e.input.as_str(), e.got.as_str()),
        (
            InputErrorKind::OutOfRange,
            "category",
            "index 5023693216855313706"
        )
    );
    assert!(e.expected.contains("[-4, 4)"), "{e}");
    still_serves();
}

#[test]
fn tensor_over_the_size_limit() {
    let runtime = runtime_with(Limits {
        max_input_bytes: 1000,
        ..Limits::default()
    });
    let model = runtime.load(&component("multi_io")).unwrap();
    // 60 rows of 5 f32 = 1200 bytes.
    let e = invalid(model.predict(vec![numeric(60), category(60)]));
    assert_eq!(
        (e.kind, e.input.as_str()),
        (InputErrorKind::TooLarge, "numeric")
    );
    assert_eq!(e.got, "1200 bytes");
    // Under the limit, the same runtime answers.
    model.predict(vec![numeric(10), category(10)]).unwrap();
}

fn digits(rows: u32) -> Tensor {
    Tensor::new(
        "image",
        vec![rows, 1, 8, 8],
        TensorData::F32(vec![0.5; rows as usize * 64]),
    )
}

#[test]
fn memory_limit_fails_the_call_not_the_host() {
    // Enough to instantiate the pre-initialized CNN, not enough for the
    // activations of 20 000 images (over 100 MB).
    let runtime = runtime_with(Limits {
        max_memory: 64 << 20,
        ..Limits::default()
    });
    let model = runtime.load(&component("digits_cnn")).unwrap();
    match model.predict(vec![digits(20_000)]) {
        Err(Error::MemoryLimit { limit }) => assert_eq!(limit, 64 << 20),
        other => panic!("expected the memory limit, got {:?}", other.map(|_| ())),
    }
    assert_eq!(model.predict(vec![digits(2)]).unwrap()[0].shape, [2, 10]);
}

#[test]
fn too_little_memory_to_instantiate() {
    let runtime = runtime_with(Limits {
        max_memory: 1 << 20,
        ..Limits::default()
    });
    match runtime.load(&component("digits_cnn")) {
        Err(Error::MemoryLimit { limit }) => assert_eq!(limit, 1 << 20),
        Err(other) => panic!("expected the memory limit, got {other}"),
        Ok(_) => panic!("expected the memory limit, but the component loaded"),
    }
}

#[test]
fn time_limit_interrupts_a_long_call() {
    let runtime = runtime_with(Limits {
        timeout: Duration::from_millis(20),
        ..Limits::default()
    });
    // Loading calls `metadata`, which is quick; 20 000 images are not.
    let model = runtime.load(&component("digits_cnn")).unwrap();
    match model.predict(vec![digits(20_000)]) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {:?}", other.map(|_| ())),
    }
    assert_eq!(model.predict(vec![digits(1)]).unwrap()[0].shape, [1, 10]);
}

#[test]
fn concurrent_calls_share_one_loaded_component() {
    let f = fixture("iris");
    let model = model("iris");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let out = model.predict(f.inputs.clone()).unwrap();
                    crate::support::assert_outputs_match(&out, &f.outputs, f.rtol, f.atol);
                }
            });
        }
    });
}

#[test]
fn one_instance_answers_many_calls_and_survives_bad_input() {
    let f = fixture("multi_io");
    let model = model("multi_io");
    let mut instance = model.instance().unwrap();
    for _ in 0..3 {
        let outputs = instance.predict(f.inputs.clone()).unwrap();
        crate::support::assert_outputs_match(&outputs, &f.outputs, f.rtol, f.atol);
        // A caller's mistake is an answer, not a trap: the instance goes on.
        let e = invalid(instance.predict(vec![numeric(2), category(3)]));
        assert_eq!(e.kind, InputErrorKind::Shape);
    }
}

#[test]
fn an_instance_that_hit_the_time_limit_refuses_further_calls() {
    let runtime = runtime_with(Limits {
        timeout: Duration::from_millis(20),
        ..Limits::default()
    });
    let model = runtime.load(&component("digits_cnn")).unwrap();
    let mut instance = model.instance().unwrap();
    assert!(matches!(
        instance.predict(vec![digits(20_000)]),
        Err(Error::Timeout { .. })
    ));
    // The interrupted instance may be in any state: wasmtime will not enter
    // it again, and says so rather than running on broken state.
    assert!(instance.predict(vec![digits(1)]).is_err());
    // A fresh instance of the same component is fine.
    assert_eq!(model.predict(vec![digits(1)]).unwrap()[0].shape, [1, 10]);
}

#[test]
fn an_instance_reports_the_memory_it_has() {
    let model = model("digits_cnn");
    let mut instance = model.instance().unwrap();
    let image = instance.memory_size();
    assert!(image > 0 && image.is_multiple_of(65536), "{image} bytes");
    instance.predict(vec![digits(1)]).unwrap();
    let after_one = instance.memory_size();
    assert!(after_one >= image, "{after_one} < {image}");
    // 5 000 images need over 20 MB of activations (20 000 need over 100).
    instance.predict(vec![digits(5_000)]).unwrap();
    let after_many = instance.memory_size();
    assert!(
        after_many > after_one + (20 << 20),
        "{after_many} bytes after 5 000 images, {after_one} after one"
    );
}

#[test]
fn pooled_instances_are_bounded_and_reused() {
    let runtime = wasmodel::Runtime::new(wasmodel::RuntimeOptions {
        cache: Some(wasmodel::CompileCache::new(crate::support::cache_dir())),
        pooled_instances: Some(1),
        ..Default::default()
    })
    .unwrap();
    let model = runtime.load(&component("multi_io")).unwrap();
    let f = fixture("multi_io");
    let mut first = model.instance().unwrap();
    // The one slot is taken: a second instance is refused, not queued.
    let refused = model.instance().map(|_| ()).unwrap_err();
    assert!(
        refused.to_string().contains("limit"),
        "unexpected error: {refused}"
    );
    first.predict(f.inputs.clone()).unwrap();
    drop(first);
    // Its slot is free again, for as many instances as come one by one.
    for _ in 0..3 {
        let outputs = model.predict(f.inputs.clone()).unwrap();
        crate::support::assert_outputs_match(&outputs, &f.outputs, f.rtol, f.atol);
    }
}
