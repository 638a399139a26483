//! The `wasmodel` command line: a thin dispatcher over the library, one
//! module per subcommand in `commands/`.

use std::process::ExitCode;

use clap::Parser;

mod commands;
mod heap_limit;

/// Compile ONNX models into sandboxed WebAssembly components, and run them.
///
/// A component built by wasmodel carries the model, already parsed and
/// optimized, and an inference engine (tract). A predictor component imports
/// nothing, so it can read no file, open no socket and see no clock; any
/// host that runs components can call it through the
/// `wasmodel:model/predictor` interface in `wit/`. An HTTP component
/// (`build --http`) answers the Open Inference Protocol v2 inside the
/// `wasi:http/proxy` world, for `wasmodel serve`, Spin or `wasmtime serve`.
#[derive(Parser)]
#[command(name = "wasmodel", version, after_help = commands::EXAMPLES)]
enum Wasmodel {
    Build(commands::build::BuildCommand),
    Check(commands::check::CheckCommand),
    Compile(commands::compile::CompileCommand),
    Inspect(commands::inspect::InspectCommand),
    Predict(commands::predict::PredictCommand),
    Pull(commands::pull::PullCommand),
    Push(commands::push::PushCommand),
    Serve(commands::serve::ServeCommand),
    Spin(commands::spin::SpinCommand),
}

fn main() -> ExitCode {
    let result = match Wasmodel::parse() {
        Wasmodel::Build(c) => c.execute(),
        Wasmodel::Check(c) => c.execute(),
        Wasmodel::Compile(c) => c.execute(),
        Wasmodel::Inspect(c) => c.execute(),
        Wasmodel::Predict(c) => c.execute(),
        Wasmodel::Pull(c) => c.execute(),
        Wasmodel::Push(c) => c.execute(),
        Wasmodel::Serve(c) => c.execute(),
        Wasmodel::Spin(c) => c.execute(),
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
