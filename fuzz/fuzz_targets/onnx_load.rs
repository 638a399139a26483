//! `wasmodel build`'s first step: an ONNX file parsed, checked (our
//! ONNX-ML operators among them) and optimized by the engine. Any bytes
//! must give a model or a `LoadError`, never a panic out of `Model::load`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmodel_engine::Model;

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic, even one that
        // `Model::load` contains (tract panics on some malformed files,
        // and the engine turns that into a `LoadError`). A panic that
        // escapes `Model::load` still aborts: libfuzzer-sys catches it.
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
        if let Ok(model) = Model::load(data, "fuzzed", "1") {
            // What it reports can be described.
            let info = model.info();
            assert!(!info.outputs.is_empty());
        }
    }
);
