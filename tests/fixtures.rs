//! Each model's component against onnxruntime's outputs and the ONNX file's
//! declarations.

use wasmodel::{Dimension, ElementType, Tensor, TensorInfo};

use crate::support::{assert_outputs_match, fixture, model, model_path};

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

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
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

model_tests!(iris, wine_mlp, digits_cnn, multi_io, dtypes, squeezenet);

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

#[test]
fn one_loaded_component_serves_many_batch_sizes() {
    let fixture = fixture("wine_mlp");
    let model = model("wine_mlp");
    let full = model.predict(fixture.inputs.clone()).unwrap();
    // The first row alone gives the first row of the full batch's answer.
    let mut first = fixture.inputs[0].clone();
    let wasmodel::TensorData::F32(data) = &first.data else {
        panic!("wine takes f32")
    };
    let width = first.shape[1] as usize;
    first.data = wasmodel::TensorData::F32(data[..width].to_vec());
    first.shape[0] = 1;
    let one = model.predict(vec![first]).unwrap();
    let (wasmodel::TensorData::F32(one), wasmodel::TensorData::F32(all)) =
        (&one[0].data, &full[0].data)
    else {
        panic!("wine gives f32 logits")
    };
    assert_eq!(one[..], all[..one.len()]);
}
