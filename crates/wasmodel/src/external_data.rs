//! ONNX files whose weights live beside them (`model.onnx.data`), as
//! exporters write a model over 2 GB or when asked to: each such tensor
//! names a file relative to the model's directory, an offset and a length.
//!
//! A component carries its model and imports nothing, so the weights are
//! read when the model is, and put back inside it: [`read_model`] gives the
//! bytes of a self-contained model, which the engine loads as any other.
//! A model with no external data is returned byte for byte, so its digest
//! is its file's.

use std::path::{Component, Path, PathBuf};

use prost::Message as _;
use tract_onnx::pb::{GraphProto, TensorProto, tensor_proto::DataLocation};

use crate::Error;

/// Reads an ONNX file, with the external data of its tensors inside it.
pub fn read_model(path: &Path) -> Result<Vec<u8>, Error> {
    let onnx = std::fs::read(path).map_err(Error::file(path))?;
    // Every external tensor names its file under the key `location`: a
    // model whose bytes do not hold the word has none (most models), and
    // is not decoded here.
    if !onnx.windows(8).any(|w| w == b"location") {
        return Ok(onnx);
    }
    let mut proto = wasmodel_engine::graph::decode_model(&onnx)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let inlined = match proto.graph.as_mut() {
        Some(graph) => inline_graph(graph, dir)?,
        None => 0,
    };
    if inlined == 0 {
        return Ok(onnx);
    }
    let bytes = proto.encode_to_vec();
    // protobuf's limit: a model this large cannot hold its weights.
    if bytes.len() > i32::MAX as usize {
        return Err(external(
            path,
            format!(
                "with its external data the model is {} bytes, over protobuf's 2 GB",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Puts the external data of a graph's tensors (its initializers, its
/// `Constant` nodes' values and those of the graphs nested in its nodes)
/// inside them; returns how many.
fn inline_graph(graph: &mut GraphProto, dir: &Path) -> Result<usize, Error> {
    let mut inlined = 0;
    for tensor in &mut graph.initializer {
        inlined += inline_tensor(tensor, dir)?;
    }
    for node in &mut graph.node {
        for attribute in &mut node.attribute {
            for tensor in attribute.t.iter_mut().chain(attribute.tensors.iter_mut()) {
                inlined += inline_tensor(tensor, dir)?;
            }
            for nested in attribute.g.iter_mut().chain(attribute.graphs.iter_mut()) {
                inlined += inline_graph(nested, dir)?;
            }
        }
    }
    Ok(inlined)
}

fn inline_tensor(tensor: &mut TensorProto, dir: &Path) -> Result<usize, Error> {
    if tensor.data_location != Some(DataLocation::External as i32) {
        return Ok(0);
    }
    let entry = |key: &str| {
        (tensor.external_data.iter())
            .find(|e| e.key == key)
            .map(|e| e.value.clone())
    };
    let name = tensor.name.clone();
    let location = entry("location").ok_or_else(|| {
        external(
            dir,
            format!("tensor `{name}` is external but names no location"),
        )
    })?;
    let number = |key: &str| -> Result<Option<u64>, Error> {
        entry(key)
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|_| external(dir, format!("tensor `{name}`: its {key} is not a number")))
    };
    let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
    let file = data_file(dir, &location).ok_or_else(|| {
        external(
            dir,
            format!("tensor `{name}`: {location:?} is not a file inside the model's directory"),
        )
    })?;
    let data = std::fs::read(&file).map_err(Error::file(&file))?;
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let end = match length {
        Some(length) => start.saturating_add(usize::try_from(length).unwrap_or(usize::MAX)),
        None => data.len(),
    };
    let Some(bytes) = data.get(start..end) else {
        return Err(external(
            &file,
            format!(
                "tensor `{name}` wants bytes {start}..{end}, the file has {}",
                data.len()
            ),
        ));
    };
    tensor.raw_data = bytes.to_vec();
    tensor.external_data.clear();
    tensor.data_location = Some(DataLocation::Default as i32);
    Ok(1)
}

/// The file a tensor's `location` names: a relative path that stays inside
/// the model's directory (as onnxruntime and tract require).
fn data_file(dir: &Path, location: &str) -> Option<PathBuf> {
    let relative = Path::new(location);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = dir.canonicalize().ok()?;
    let file = dir.join(relative).canonicalize().ok()?;
    (file.starts_with(&dir) && file.is_file()).then_some(file)
}

fn external(path: &Path, reason: String) -> Error {
    Error::InputFile {
        path: path.to_owned(),
        reason: format!("external data: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_must_stay_inside_the_model_directory() {
        // The workspace root's fixtures.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/external");
        assert!(data_file(&dir, "linear.onnx.data").is_some());
        assert!(data_file(&dir, "./linear.onnx.data").is_some());
        assert_eq!(data_file(&dir, "../external/linear.onnx.data"), None);
        assert_eq!(data_file(&dir, "/etc/passwd"), None);
        assert_eq!(data_file(&dir, "missing.data"), None);
    }
}
