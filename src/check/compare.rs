//! A component's outputs against a reference's, output by output.

use wasmodel::{ElementType, Tensor, TensorData};

/// How one output compares.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputComparison {
    pub name: String,
    pub element_type: ElementType,
    pub shape: Vec<u32>,
    /// For floats: the largest |got − expected|, and the largest
    /// |got − expected| / |expected| (over non-zero expected values).
    pub max_abs: Option<f64>,
    pub max_rel: Option<f64>,
    /// Elements beyond the tolerance (floats) or different (the rest).
    pub mismatches: usize,
    pub elements: usize,
    /// Why the output cannot be compared at all (missing, other shape or
    /// type), if so.
    pub problem: Option<String>,
}

impl OutputComparison {
    pub fn passed(&self) -> bool {
        self.problem.is_none() && self.mismatches == 0
    }
}

/// Compares every expected output with the one of the same name in `got`:
/// floats within `atol + rtol × |expected|` (NaN equal to NaN), everything
/// else exactly.
pub fn compare(got: &[Tensor], expected: &[Tensor], rtol: f64, atol: f64) -> Vec<OutputComparison> {
    expected
        .iter()
        .map(|want| {
            let mut c = OutputComparison {
                name: want.name.clone(),
                element_type: want.data.element_type(),
                shape: want.shape.clone(),
                max_abs: None,
                max_rel: None,
                mismatches: 0,
                elements: want.data.len(),
                problem: None,
            };
            let Some(got) = got.iter().find(|t| t.name == want.name) else {
                c.problem = Some("the component gave no such output".into());
                return c;
            };
            if got.shape != want.shape {
                c.problem = Some(format!("shape {:?}, expected {:?}", got.shape, want.shape));
                return c;
            }
            let floats = |d: &TensorData| -> Option<Vec<f64>> {
                match d {
                    TensorData::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
                    TensorData::F64(v) => Some(v.clone()),
                    _ => None,
                }
            };
            match (floats(&got.data), floats(&want.data)) {
                (Some(g), Some(w)) => {
                    let (mut max_abs, mut max_rel) = (0f64, 0f64);
                    for (&a, &b) in g.iter().zip(&w) {
                        if a.is_nan() && b.is_nan() {
                            continue;
                        }
                        let diff = (a - b).abs();
                        let diff = if diff.is_nan() { f64::INFINITY } else { diff };
                        max_abs = max_abs.max(diff);
                        if b != 0.0 {
                            max_rel = max_rel.max(diff / b.abs());
                        }
                        if diff > atol + rtol * b.abs() {
                            c.mismatches += 1;
                        }
                    }
                    c.max_abs = Some(max_abs);
                    c.max_rel = Some(max_rel);
                }
                _ if got.data.element_type() != want.data.element_type() => {
                    c.problem = Some(format!(
                        "element type {}, expected {}",
                        got.data.element_type(),
                        want.data.element_type()
                    ));
                }
                _ => c.mismatches = count_differences(&got.data, &want.data),
            }
            c
        })
        .collect()
}

fn count_differences(a: &TensorData, b: &TensorData) -> usize {
    fn count<T: PartialEq>(a: &[T], b: &[T]) -> usize {
        a.iter().zip(b).filter(|(x, y)| x != y).count()
    }
    match (a, b) {
        (TensorData::I32(a), TensorData::I32(b)) => count(a, b),
        (TensorData::I64(a), TensorData::I64(b)) => count(a, b),
        (TensorData::U8(a), TensorData::U8(b)) => count(a, b),
        (TensorData::Bool(a), TensorData::Bool(b)) => count(a, b),
        (TensorData::String(a), TensorData::String(b)) => count(a, b),
        _ => a.len().max(b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_within_tolerance_and_labels_exactly() {
        let want = vec![
            Tensor::new("p", vec![2], TensorData::F32(vec![0.5, 0.25])),
            Tensor::new("label", vec![2], TensorData::I64(vec![1, 0])),
        ];
        let got = vec![
            Tensor::new("label", vec![2], TensorData::I64(vec![1, 1])),
            Tensor::new("p", vec![2], TensorData::F32(vec![0.5, 0.2500001])),
        ];
        let c = compare(&got, &want, 1e-4, 1e-5);
        assert!(c[0].passed(), "{c:?}");
        assert!(c[0].max_abs.unwrap() > 0.0 && c[0].max_abs.unwrap() < 1e-6);
        assert_eq!((c[1].mismatches, c[1].passed()), (1, false));

        let far = vec![Tensor::new("p", vec![2], TensorData::F32(vec![0.5, 0.3]))];
        let c = compare(&far, &want[..1], 1e-4, 1e-5);
        assert_eq!(c[0].mismatches, 1);
        let c = compare(&[], &want[..1], 1e-4, 1e-5);
        assert!(c[0].problem.as_deref().unwrap().contains("no such output"));
    }
}
