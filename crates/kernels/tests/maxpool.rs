//! `MaxPool2d` against tract's own max-pool, bit for bit, on every shape
//! class a network gives it: strides 1, 2 and 3, dilations, explicit,
//! "same" and ONNX ceil-mode padding, widths that leave vector tails,
//! windows larger than the row, batches of several images; inputs with
//! NaN, both zeros and values below any pad, and inputs where the largest
//! tap is often a zero of either sign (which one comes out shows the order
//! the taps were folded in).

use tract_core::internal::*;
use tract_core::ops::cnn::{MaxPool, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;
use wasmodel_kernels::maxpool;

struct Case {
    shape: [usize; 4],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    padding: PaddingSpec,
}

fn case(shape: [usize; 4], kernel: [usize; 2], strides: [usize; 2], padding: PaddingSpec) -> Case {
    Case {
        shape,
        kernel,
        strides,
        dilations: [1, 1],
        padding,
    }
}

fn explicit(before: [usize; 2], after: [usize; 2]) -> PaddingSpec {
    PaddingSpec::Explicit(before.into_iter().collect(), after.into_iter().collect())
}

fn cases() -> Vec<Case> {
    let ceil = |before: [usize; 2], after: [usize; 2]| {
        PaddingSpec::ExplicitOnnxPool(
            before.into_iter().collect(),
            after.into_iter().collect(),
            true,
        )
    };
    vec![
        // SqueezeNet's: 3×3, stride 2, ceil mode.
        case([1, 64, 111, 111], [3, 3], [2, 2], ceil([0, 0], [0, 0])),
        case([1, 128, 55, 55], [3, 3], [2, 2], ceil([0, 0], [0, 0])),
        // ResNet's stem: 3×3, stride 2, padding 1.
        case([2, 8, 32, 32], [3, 3], [2, 2], explicit([1, 1], [1, 1])),
        // 2×2 stride 2 on odd and even sizes.
        case([1, 3, 9, 9], [2, 2], [2, 2], PaddingSpec::Valid),
        case([1, 3, 16, 16], [2, 2], [2, 2], PaddingSpec::Valid),
        // Stride 1, "same" padding: vectors of four with every tail length.
        case([1, 2, 7, 5], [3, 3], [1, 1], PaddingSpec::SameUpper),
        case([1, 2, 6, 13], [3, 3], [1, 1], PaddingSpec::SameLower),
        case([3, 1, 4, 4], [1, 1], [1, 1], PaddingSpec::Valid),
        // Stride 3 (gathered lanes) and uneven kernels and strides.
        case([1, 4, 20, 23], [3, 2], [3, 2], explicit([1, 0], [2, 1])),
        case([1, 2, 10, 31], [1, 5], [1, 3], PaddingSpec::Valid),
        // Windows wider than the padded row.
        case([1, 2, 3, 3], [3, 5], [1, 1], explicit([1, 2], [1, 2])),
        // Padding larger than the window reaches: all-pad outputs.
        case([1, 1, 4, 4], [2, 2], [1, 1], explicit([3, 3], [3, 3])),
        Case {
            dilations: [2, 3],
            ..case([1, 3, 17, 29], [3, 3], [1, 2], explicit([2, 3], [2, 3]))
        },
    ]
}

/// Deterministic values: with `ties` false in [-3, 3), with NaN, -0.0 and
/// +0.0 sprinkled in; with `ties` true only -1, NaN and zeros of both
/// signs, so most windows' largest taps are equal zeros.
fn input(shape: [usize; 4], ties: bool) -> Tensor {
    let mut state = 0x9e37_79b9_u32;
    let data: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            match (ties, i % 37) {
                (true, _) => [-0.0, 0.0, f32::NAN, -1.0][(state >> 8) as usize % 4],
                (false, 5) => f32::NAN,
                (false, 11) => -0.0,
                (false, 17) => 0.0,
                (false, _) => (state >> 8) as f32 / (1 << 24) as f32 * 6.0 - 3.0,
            }
        })
        .collect();
    tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), data)
        .unwrap()
        .into_tensor()
}

fn model(case: &Case) -> TypedModel {
    let mut model = TypedModel::default();
    let source = model.add_source("x", f32::fact(case.shape)).unwrap();
    let spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: case.kernel.into_iter().collect(),
        padding: case.padding.clone(),
        dilations: Some(case.dilations.into_iter().collect()),
        strides: Some(case.strides.into_iter().collect()),
        input_channels: case.shape[1],
        output_channels: case.shape[1],
    };
    let pooled = model
        .wire_node("pool", MaxPool::new(spec, None), &[source])
        .unwrap();
    model.select_output_outlets(&pooled).unwrap();
    model.into_optimized().unwrap()
}

fn run(model: TypedModel, input: &Tensor) -> Tensor {
    let plan = model.into_runnable().unwrap();
    let mut outputs = plan.run(tvec!(input.clone().into_tvalue())).unwrap();
    outputs.remove(0).into_tensor()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn every_shape_class_matches_tract_to_the_bit() {
    for (ix, case) in cases().iter().enumerate() {
        let tract = model(case);
        let mut ours = tract.clone();
        assert_eq!(
            maxpool::patch(&mut ours).unwrap(),
            1,
            "case {ix}: tract's max-pool was not replaced"
        );
        assert!(
            ours.nodes().iter().any(|n| n.op_is::<maxpool::MaxPool2d>()),
            "case {ix}"
        );
        for ties in [false, true] {
            let x = input(case.shape, ties);
            let (want, got) = (run(tract.clone(), &x), run(ours.clone(), &x));
            assert_eq!(got.shape(), want.shape(), "case {ix}: shape");
            assert_eq!(bits(&got), bits(&want), "case {ix} (ties: {ties}): values");
        }
    }
}

#[test]
fn what_it_cannot_take_stays_tracts() {
    // Channels last.
    let mut model = TypedModel::default();
    let source = model.add_source("x", f32::fact([1, 8, 8, 3])).unwrap();
    let spec = PoolSpec {
        data_format: DataFormat::NHWC,
        kernel_shape: tvec![2, 2],
        padding: PaddingSpec::Valid,
        dilations: None,
        strides: Some(tvec![2, 2]),
        input_channels: 3,
        output_channels: 3,
    };
    let pooled = model
        .wire_node("pool", MaxPool::new(spec, None), &[source])
        .unwrap();
    model.select_output_outlets(&pooled).unwrap();
    let mut model = model.into_optimized().unwrap();
    assert_eq!(maxpool::patch(&mut model).unwrap(), 0);
}
