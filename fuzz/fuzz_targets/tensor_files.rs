//! The CLI's tensor files (`wasmodel predict --input`): a `.npy` file, or
//! JSON read as one of the element types. Any bytes must give a tensor or
//! an error, never a panic or an allocation out of proportion to the file.
//!
//! Input: byte 0 picks the reader (0: `.npy`; else JSON as the element type
//! it selects in `ElementType::ALL`), the rest is the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmodel_engine::ElementType;
use wasmodel_engine::json::tensor_from_json;
use wasmodel_engine::npy::tensor_from_npy;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let tensor = if selector == 0 {
        tensor_from_npy("x", file)
    } else {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(file) else {
            return;
        };
        tensor_from_json(
            "x",
            ElementType::ALL[usize::from(selector) % ElementType::ALL.len()],
            &value,
        )
    };
    if let Ok(t) = tensor {
        // What was read is what its shape says.
        let count: u64 = t.shape.iter().map(|&d| u64::from(d)).product();
        assert_eq!(count, t.data.len() as u64, "shape {:?}", t.shape);
    }
});
