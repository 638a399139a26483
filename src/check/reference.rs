//! The reference a component's outputs are compared with: onnxruntime, the
//! runtime the exporters test against, through a Python that has it; else
//! native tract (the same engine outside wasm, which shows packaging
//! faults but not the engine's own).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use wasmodel::json::{tensors_from_json_object, tensors_to_json};
use wasmodel::{Error, Tensor};

/// The script that runs onnxruntime (also used by `models/reference.py`).
const SCRIPT: &str = include_str!("onnxruntime_reference.py");

/// The Python to ask for onnxruntime: `explicit`, else `$WASMODEL_PYTHON`,
/// else `python3`.
pub fn python(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os("WASMODEL_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// What answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// onnxruntime, with its version (`onnxruntime 1.31.1`).
    Onnxruntime(String),
    /// tract, natively.
    NativeTract,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Onnxruntime(version) => f.write_str(version),
            Reference::NativeTract => f.write_str("tract (native)"),
        }
    }
}

/// Why onnxruntime gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// No such Python, or it has no onnxruntime: a reason to fall back.
    Missing(String),
    /// onnxruntime ran and refused the model or the inputs.
    Failed(String),
}

/// onnxruntime's outputs for `inputs`, run by `python` on the ONNX file at
/// `model` (one thread, CPU).
pub fn onnxruntime(
    python: &Path,
    model: &Path,
    inputs: &[Tensor],
) -> Result<(Reference, Vec<Tensor>), Unavailable> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(model)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Unavailable::Missing(format!("cannot run {}: {e}", python.display())))?;
    let request = tensors_to_json(inputs).to_string();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // A write error means the script ended early; its exit says why.
    let _ = stdin.write_all(request.as_bytes());
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(|e| Unavailable::Missing(format!("{}: {e}", python.display())))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        return Err(Unavailable::Missing(stderr.trim().to_owned()));
    }
    if !output.status.success() {
        // The last line of a Python traceback is the error itself.
        let reason = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(Unavailable::Failed(reason.trim().to_owned()));
    }
    let version = stderr
        .lines()
        .next()
        .unwrap_or("onnxruntime")
        .trim()
        .to_owned();
    let value: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Unavailable::Failed(format!("unreadable answer from onnxruntime: {e}")))?;
    let outputs = tensors_from_json_object(&value, |_| None).map_err(Unavailable::Failed)?;
    Ok((Reference::Onnxruntime(version), outputs))
}

/// Native tract's outputs for `inputs`.
pub fn native_tract(onnx: &[u8], inputs: Vec<Tensor>) -> Result<(Reference, Vec<Tensor>), Error> {
    let model = wasmodel_engine::Model::load(onnx, "reference", "1")?;
    Ok((Reference::NativeTract, model.predict(inputs)?))
}
