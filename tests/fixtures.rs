//! Each model's component against onnxruntime's outputs and the ONNX file's
//! declarations.

use wasmodel::{Dimension, ElementType, Tensor, TensorInfo};

use crate::support::{assert_outputs_match, fixture, model, model_path, sha256_hex};

/// Builds the model's component, runs the fixture's inputs through it under
/// wasmtime and compares with onnxruntime's outputs.
fn matches_onnxruntime(stem: &str) {
    let fixture = fixture(stem);
    assert_eq!(fixture.model, format!("{stem}.onnx"));
    let outputs = model(stem)
        .predict(fixture.inputs.clone())
        .unwrap_or_else(|e| panic!("predict {stem}: {e}"));
    assert_outputs_match(&outputs, &fixture.outputs, fixture.rtol, fixture.atol);
}

/// The component's metadata is what the engine reads from the ONNX file
/// natively, and what onnxruntime's fixture names.
fn metadata_matches_onnx(stem: &str) {
    let onnx = std::fs::read(model_path(stem)).unwrap();
    let native = wasmodel_engine::Model::load(&onnx, stem, "1").unwrap();
    let info = model(stem).info().clone();
    assert_eq!(&info, native.info());
    assert_eq!(info.name, stem);
    assert_eq!(info.version, "1");
    assert_eq!(info.digest, format!("sha256:{}", sha256_hex(&onnx)));

    // Names and element types, in order: declared by the model, and in the
    // tensors onnxruntime was given and gave back.
    let fixture = fixture(stem);
    let declared = |list: &[TensorInfo]| -> Vec<(String, ElementType)> {
        list.iter()
            .map(|t| (t.name.clone(), t.element_type))
            .collect()
    };
    let actual = |list: &[Tensor]| -> Vec<(String, ElementType)> {
        list.iter()
            .map(|t| (t.name.clone(), t.data.element_type()))
            .collect()
    };
    assert_eq!(
        declared(&info.inputs),
        actual(&fixture.inputs),
        "inputs of {stem}"
    );
    assert_eq!(
        declared(&info.outputs),
        actual(&fixture.outputs),
        "outputs of {stem}"
    );
}

macro_rules! model_tests {
    ($($stem:ident),* $(,)?) => {$(
        mod $stem {
            #[test]
            fn outputs_match_onnxruntime() {
                super::matches_onnxruntime(stringify!($stem));
            }
            #[test]
            fn metadata_matches_the_onnx_file() {
                super::metadata_matches_onnx(stringify!($stem));
            }
        }
    )*};
}

model_tests!(
    iris,
    wine_mlp,
    digits_cnn,
    multi_io,
    dtypes,
    squeezenet,
    resnet18,
    mobilenet_v2
);

#[test]
fn dynamic_batch_dimensions_are_marked() {
    let info = model("multi_io").info().clone();
    for t in &info.inputs {
        assert_eq!(
            t.shape[0],
            Dimension::Dynamic("batch".into()),
            "input {}",
            t.name
        );
    }
    let iris = model("iris").info().clone();
    assert_eq!(
        iris.inputs[0].shape,
        [Dimension::Dynamic("batch".into()), Dimension::Fixed(4)]
    );
}

/// Each item of a fixture's batch, sent alone, gets onnxruntime's answer
/// for it: a batch of one runs the model's second plan, optimized with the
/// batch fixed (`crates/engine/src/batch_one.rs`), the whole batch the
/// general one, from one loaded component.
fn each_item_alone_matches_onnxruntime(stem: &str) {
    let fixture = fixture(stem);
    let model = model(stem);
    let batch = fixture.inputs[0].shape[0] as usize;
    assert!(batch > 1, "{stem}'s fixture is one item");
    for item in 0..batch {
        let inputs: Vec<Tensor> = fixture.inputs.iter().map(|t| row(t, item)).collect();
        let expected: Vec<Tensor> = fixture.outputs.iter().map(|t| row(t, item)).collect();
        let got = model
            .predict(inputs)
            .unwrap_or_else(|e| panic!("predict item {item} of {stem}: {e}"));
        assert_outputs_match(&got, &expected, fixture.rtol, fixture.atol);
    }
}

/// Item `item` of an f32 tensor's leading axis, as a batch of one.
fn row(tensor: &Tensor, item: usize) -> Tensor {
    let wasmodel::TensorData::F32(data) = &tensor.data else {
        panic!("{} is not f32", tensor.name)
    };
    let width = data.len() / tensor.shape[0] as usize;
    let mut shape = tensor.shape.clone();
    shape[0] = 1;
    Tensor::new(
        tensor.name.clone(),
        shape,
        wasmodel::TensorData::F32(data[item * width..(item + 1) * width].to_vec()),
    )
}

#[test]
fn a_batch_of_one_matches_onnxruntime_mlp() {
    each_item_alone_matches_onnxruntime("wine_mlp");
}

#[test]
fn a_batch_of_one_matches_onnxruntime_cnn() {
    each_item_alone_matches_onnxruntime("digits_cnn");
}
