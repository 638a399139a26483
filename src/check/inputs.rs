//! Made-up inputs that respect a model's declared inputs: every dynamic
//! dimension `rows` long, numbers drawn from a seeded generator, text drawn
//! from the categories the model's encoders know, or made of the words its
//! text pipelines count.

use wasmodel_engine::graph::{GraphProto, input_categories, shape_giving_inputs, text_vocabulary};

use wasmodel::{ElementType, Error, ModelInfo, Tensor, TensorData};

/// One tensor per declared input. `graph` is the model's graph
/// ([`decode_model`](wasmodel_engine::graph::decode_model)), read for the
/// categories of text inputs and for the integer inputs a node takes as a
/// shape, which are all ones (any `Expand`, `Tile` or `ConstantOfShape`
/// takes them). An input named in `shapes` (the first shape given for it)
/// has that shape.
pub fn sample_inputs(
    info: &ModelInfo,
    graph: &GraphProto,
    rows: u32,
    seed: u64,
    shapes: &[(String, Vec<u32>)],
) -> Result<Vec<Tensor>, Error> {
    let mut random = SplitMix64(seed);
    let shape_giving = shape_giving_inputs(graph);
    info.inputs
        .iter()
        .map(|input| {
            let shape = match shapes.iter().find(|(name, _)| *name == input.name) {
                Some((_, shape)) => shape.clone(),
                None => input.shape_with_dynamic(rows),
            };
            let count = shape.iter().map(|&d| d as usize).product::<usize>();
            let gives_shape = shape_giving.contains(&input.name);
            let data = match input.element_type {
                ElementType::I32 if gives_shape => TensorData::I32(vec![1; count]),
                ElementType::I64 if gives_shape => TensorData::I64(vec![1; count]),
                // Standard normal values: what scaled features look like.
                ElementType::F32 => {
                    TensorData::F32((0..count).map(|_| random.normal() as f32).collect())
                }
                ElementType::F64 => TensorData::F64((0..count).map(|_| random.normal()).collect()),
                ElementType::I32 => {
                    TensorData::I32((0..count).map(|_| random.below(10) as i32).collect())
                }
                ElementType::I64 => {
                    TensorData::I64((0..count).map(|_| random.below(10) as i64).collect())
                }
                ElementType::U8 => {
                    TensorData::U8((0..count).map(|_| random.below(256) as u8).collect())
                }
                ElementType::Bool => {
                    TensorData::Bool((0..count).map(|_| random.below(2) == 1).collect())
                }
                ElementType::String => {
                    let mut categories = input_categories(graph, &input.name);
                    if categories.is_empty() {
                        categories = made_up_texts(&text_vocabulary(graph), &mut random);
                    }
                    if categories.is_empty() {
                        categories = vec!["a".into(), "b".into(), "c".into()];
                    }
                    TensorData::String(
                        (0..count)
                            .map(|_| {
                                categories[random.below(categories.len() as u64) as usize].clone()
                            })
                            .collect(),
                    )
                }
            };
            Ok(Tensor::new(input.name.clone(), shape, data))
        })
        .collect()
}

/// Sixteen texts of 2 to 9 of `words`, some in capitals; none without
/// words.
fn made_up_texts(words: &[String], random: &mut SplitMix64) -> Vec<String> {
    if words.is_empty() {
        return Vec::new();
    }
    (0..16)
        .map(|_| {
            let n = 2 + random.below(8) as usize;
            let text: Vec<String> = (0..n)
                .map(|_| {
                    let word = &words[random.below(words.len() as u64) as usize];
                    if random.below(4) == 0 {
                        word.to_uppercase()
                    } else {
                        word.clone()
                    }
                })
                .collect();
            text.join(" ")
        })
        .collect()
}

/// A small seeded generator (SplitMix64): reproducible inputs, no dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmodel::{Dimension, TensorInfo};

    #[test]
    fn inputs_follow_the_declared_shapes_and_are_reproducible() {
        let info = ModelInfo {
            inputs: vec![TensorInfo {
                name: "x".into(),
                element_type: ElementType::F32,
                shape: vec![Dimension::Dynamic("batch".into()), Dimension::Fixed(3)],
                class_labels: None,
            }],
            ..ModelInfo::default()
        };
        let graph = GraphProto::default();
        let a = sample_inputs(&info, &graph, 4, 7, &[]).unwrap();
        assert_eq!(a[0].shape, [4, 3]);
        assert_eq!(a[0].data.len(), 12);
        assert_eq!(a, sample_inputs(&info, &graph, 4, 7, &[]).unwrap());
        assert_ne!(a, sample_inputs(&info, &graph, 4, 8, &[]).unwrap());
    }
}
