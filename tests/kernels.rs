//! wasmodel's own wasm kernels (`crates/kernels`: the f32 matrix tile and
//! the max-pool), which run only inside a component (natively tract's own
//! run), against onnxruntime on every shape class a convolutional network
//! gives them (`models/kernel_cases.py`): tails of the tile on each side, a
//! depth of one, a product of one column, fused bias, ReLU, ReLU6,
//! LeakyRelu, residual adds and folded batch norms; strided, dilated,
//! grouped and depthwise convolutions; padded and ceil-mode max-pools. Once
//! with the batch fixed at one in the file (every product's width known
//! when kernels are chosen), once with it dynamic, fed three items. Both
//! engine flavours: the portable one, and `--relaxed-simd`'s fused
//! multiply-add tile.

use wasmodel::inspect::needs_relaxed_simd;

use crate::support::{assert_outputs_match, build_and_load, fixture, repo};

fn matches_onnxruntime(stem: &str, relaxed_simd: bool) {
    let fixture = fixture(&format!("kernels/{stem}"));
    let path = repo().join(&fixture.model);
    let (built, model) = build_and_load(&path, |builder| builder.relaxed_simd(relaxed_simd));
    // The portable flavour must run where relaxed SIMD is off (Node 20);
    // the other one has the fused multiply-add in it.
    assert_eq!(
        needs_relaxed_simd(&built.component).expect("a valid component"),
        relaxed_simd,
        "{stem}: does the component need relaxed SIMD?"
    );
    let outputs = model
        .predict(fixture.inputs.clone())
        .unwrap_or_else(|e| panic!("predict {stem}: {e}"));
    assert_outputs_match(&outputs, &fixture.outputs, fixture.rtol, fixture.atol);
}

#[test]
fn every_shape_class_with_the_batch_fixed_at_one() {
    matches_onnxruntime("tiles_batch_one", false);
}

#[test]
fn every_shape_class_with_a_dynamic_batch_of_three() {
    matches_onnxruntime("tiles_batch_dynamic", false);
}

#[test]
fn relaxed_simd_every_shape_class_with_the_batch_fixed_at_one() {
    matches_onnxruntime("tiles_batch_one", true);
}

#[test]
fn relaxed_simd_every_shape_class_with_a_dynamic_batch_of_three() {
    matches_onnxruntime("tiles_batch_dynamic", true);
}
