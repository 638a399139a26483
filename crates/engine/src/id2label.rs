//! Class names for a classifier that does not carry its own: a Hugging Face
//! sequence classifier's ONNX export ends at `logits [batch, labels]`, and
//! the names of its columns are in the `id2label` of the `config.json`
//! beside it (`wasmodel build --config config.json`). They become the
//! output's class labels, as a `ZipMap`'s keys do (see
//! [`TensorInfo::class_labels`]), so every way out of a component (the
//! WIT metadata, `wasmodel predict`, the Open Inference Protocol, Python)
//! names the columns.

use serde_json::Value;

use crate::error::LoadError;
use crate::types::{ClassLabels, Dimension, TensorInfo};

/// Why a `config.json` gives no class names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the config's id2label: {0}")]
pub struct Id2LabelError(String);

/// The class names of a Hugging Face `config.json`, in column order:
/// `id2label` maps every column from 0 to one less than their number to
/// its name (keys are the column numbers as strings).
pub fn labels_from_config(json: &str) -> Result<Vec<String>, Id2LabelError> {
    let error = Id2LabelError;
    let config: Value = serde_json::from_str(json).map_err(|e| error(format!("not JSON ({e})")))?;
    let map = config
        .get("id2label")
        .ok_or_else(|| error("the config has none (it is not a classifier's)".into()))?
        .as_object()
        .ok_or_else(|| error("not an object of column numbers to names".into()))?;
    let mut labels = vec![None; map.len()];
    for (key, name) in map {
        let column = key
            .parse::<usize>()
            .ok()
            .filter(|&c| c < labels.len())
            .ok_or_else(|| {
                error(format!(
                    "key `{key}` is not a column number from 0 to {}",
                    labels.len().saturating_sub(1)
                ))
            })?;
        let name = name
            .as_str()
            .ok_or_else(|| error(format!("the name of column {column} is not a string")))?;
        labels[column] = Some(name.to_owned());
    }
    if labels.is_empty() {
        return Err(error("it names no class".into()));
    }
    // Keys are distinct and each below the count, so every column is named.
    Ok(labels.into_iter().map(Option::unwrap_or_default).collect())
}

/// Gives `labels` to the output with one column per label (`[rows,
/// labels]`), or to `logits` if several have that many; refuses them if
/// none has, naming the outputs and their shapes.
pub(crate) fn apply(outputs: &mut [TensorInfo], labels: &[String]) -> Result<(), LoadError> {
    let fits = |o: &TensorInfo| matches!(o.shape[..], [_, Dimension::Fixed(n)] if n as usize == labels.len());
    let fitting: Vec<usize> = (0..outputs.len()).filter(|&i| fits(&outputs[i])).collect();
    let chosen = match fitting[..] {
        [one] => one,
        [] => {
            let shapes: Vec<String> = outputs
                .iter()
                .map(|o| {
                    let dims: Vec<String> = o.shape.iter().map(ToString::to_string).collect();
                    format!("`{}` [{}]", o.name, dims.join(", "))
                })
                .collect();
            return Err(LoadError::Options(format!(
                "--config: id2label names {} classes, but no output has one column per class \
                 ([batch, {}]); the outputs: {}",
                labels.len(),
                labels.len(),
                shapes.join(", ")
            )));
        }
        _ => match fitting.iter().find(|&&i| outputs[i].name == "logits") {
            Some(&i) => i,
            None => {
                let names: Vec<&str> = fitting.iter().map(|&i| outputs[i].name.as_str()).collect();
                return Err(LoadError::Options(format!(
                    "--config: id2label names {} classes, and several outputs have one column \
                     per class ({}); none is `logits`",
                    labels.len(),
                    names.join(", ")
                )));
            }
        },
    };
    outputs[chosen].class_labels = Some(ClassLabels::String(labels.to_vec()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ElementType;

    fn output(name: &str, shape: Vec<Dimension>) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            element_type: ElementType::F32,
            shape,
            class_labels: None,
        }
    }

    #[test]
    fn id2label_is_read_in_column_order() {
        let json = r#"{"id2label": {"1": "POSITIVE", "0": "NEGATIVE"}, "hidden_size": 8}"#;
        assert_eq!(labels_from_config(json).unwrap(), ["NEGATIVE", "POSITIVE"]);
        for (json, why) in [
            ("{}", "has none"),
            (r#"{"id2label": {"0": "a", "2": "b"}}"#, "key `2`"),
            (r#"{"id2label": {"0": 1}}"#, "not a string"),
            (r#"{"id2label": {}}"#, "no class"),
            ("not json", "not JSON"),
        ] {
            let e = labels_from_config(json).unwrap_err().to_string();
            assert!(e.contains(why), "{json}: {e}");
        }
    }

    #[test]
    fn labels_go_to_the_output_with_a_column_each() {
        let batch = || Dimension::Dynamic("batch".into());
        let labels = ["a".to_string(), "b".to_string()];
        let mut outputs = vec![
            output("hidden", vec![batch(), Dimension::Fixed(4)]),
            output("scores", vec![batch(), Dimension::Fixed(2)]),
        ];
        apply(&mut outputs, &labels).unwrap();
        assert_eq!(outputs[0].class_labels, None);
        assert_eq!(
            outputs[1].class_labels,
            Some(ClassLabels::String(labels.to_vec()))
        );
        let e = apply(&mut outputs[..1], &labels).unwrap_err().to_string();
        assert!(e.contains("`hidden` [batch, 4]"), "{e}");
        let mut two = vec![
            output("a", vec![batch(), Dimension::Fixed(2)]),
            output("b", vec![batch(), Dimension::Fixed(2)]),
        ];
        let e = apply(&mut two, &labels).unwrap_err().to_string();
        assert!(e.contains("none is `logits`"), "{e}");
        two[1].name = "logits".into();
        apply(&mut two, &labels).unwrap();
        assert!(two[1].class_labels.is_some());
    }
}
