//! The `wasmodel` command line: a thin dispatcher over the library, one
//! module per subcommand in `commands/`.

use std::process::ExitCode;

use clap::Parser;

mod commands;

/// Compile ONNX models into sandboxed WebAssembly components, and run them.
///
/// A component built by wasmodel carries the model, already parsed and
/// optimized, and an inference engine (tract); it imports nothing, so it
/// can read no file, open no socket and see no clock. Any host that runs
/// components can call it through the `wasmodel:model/predictor` interface
/// in `wit/`.
#[derive(Parser)]
#[command(name = "wasmodel", version, after_help = commands::EXAMPLES)]
enum Wasmodel {
    Build(commands::build::BuildCommand),
    Inspect(commands::inspect::InspectCommand),
    Predict(commands::predict::PredictCommand),
}

fn main() -> ExitCode {
    let result = match Wasmodel::parse() {
        Wasmodel::Build(c) => c.execute(),
        Wasmodel::Inspect(c) => c.execute(),
        Wasmodel::Predict(c) => c.execute(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
