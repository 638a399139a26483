//! Tensors in files: JSON (read by [`crate::json`], as the element type the
//! model declares for that input) and NumPy `.npy` (whose own element type
//! must match).

use std::path::Path;

use serde_json::Value;
use wasmodel_engine::json::tensor_from_json;

use wasmodel_engine::npy::NPY_MAGIC;
pub use wasmodel_engine::npy::tensor_from_npy;

use crate::{ElementType, Error, Tensor};

/// Reads the tensor `name` from a `.json` or `.npy` file; JSON elements are
/// read as `element_type`.
pub fn read_tensor_file(
    name: &str,
    element_type: ElementType,
    path: &Path,
) -> Result<Tensor, Error> {
    let bytes = std::fs::read(path).map_err(Error::file(path))?;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
        || bytes.starts_with(NPY_MAGIC);
    let result = if is_npy {
        tensor_from_npy(name, &bytes)
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|value| tensor_from_json(name, element_type, &value))
    };
    result.map_err(|reason| Error::InputFile {
        path: path.to_owned(),
        reason,
    })
}
