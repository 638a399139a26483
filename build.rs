//! Builds the engine guest (`crates/guest`) for `wasm32-unknown-unknown` and
//! hands it to `src/` to embed, so `wasmodel build` needs no Rust or wasm
//! toolchain on the user's machine.
//!
//! Two toolchains are known to work (see `scripts/setup.sh`):
//! - a rustup toolchain with the `wasm32-unknown-unknown` target installed;
//! - Debian's `rustc-web` with its standard-library source (`rust-web-src`),
//!   which builds std for wasm itself (`-Zbuild-std`) and links with LLVM's
//!   `wasm-ld`, for machines where rustup cannot download targets.
//!
//! `WASMODEL_ENGINE_WASM=/path/to/engine.wasm` skips the build and embeds
//! that file instead (for packagers who build the engine separately).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
/// Flags for the guest only: wasm SIMD for tract's kernels, and no source of
/// randomness (the component imports nothing, so there is none to have).
const GUEST_RUSTFLAGS: &str = "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"";

fn main() {
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("engine.wasm");
    println!("cargo:rerun-if-env-changed=WASMODEL_ENGINE_WASM");
    if let Some(prebuilt) = env::var_os("WASMODEL_ENGINE_WASM") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        if let Err(e) = std::fs::copy(&prebuilt, &out) {
            fail(&format!(
                "cannot read WASMODEL_ENGINE_WASM={}: {e}",
                Path::new(&prebuilt).display()
            ));
        }
        return;
    }

    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for input in ["crates/engine", "crates/guest", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("engine");

    let toolchain = Toolchain::detect().unwrap_or_else(|why| fail(&why));
    let mut cargo = toolchain.cargo();
    cargo
        .current_dir(&root)
        .args([
            "rustc",
            "--package",
            "wasmodel-guest",
            "--lib",
            "--crate-type",
            "cdylib",
        ])
        .args(["--profile", "engine", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        // What the outer cargo set for the host build must not leak into the
        // guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            GUEST_RUSTFLAGS,
        );
    let status = cargo
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo for the engine guest: {e}")));
    if !status.success() {
        fail(&format!(
            "building the engine guest failed ({status}); its output is above"
        ));
    }

    let built = target_dir
        .join(TARGET)
        .join("engine")
        .join("wasmodel_guest.wasm");
    if let Err(e) = std::fs::copy(&built, &out) {
        fail(&format!("cannot copy {}: {e}", built.display()));
    }
}

/// How to build std-using Rust code for `wasm32-unknown-unknown` here.
enum Toolchain {
    /// The toolchain building the host has the target's std installed.
    Installed,
    /// Debian's `rustc-web`: std built from source, linked by `wasm-ld`.
    DebianBuildStd { linker: PathBuf },
}

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library/Cargo.lock";

impl Toolchain {
    fn detect() -> Result<Toolchain, String> {
        let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        if has_target_std(&rustc) {
            return Ok(Toolchain::Installed);
        }
        let debian = Path::new(DEBIAN_RUSTC).exists()
            && Path::new(DEBIAN_CARGO).exists()
            && Path::new(DEBIAN_STD_SOURCE).exists();
        match (debian, find_wasm_ld()) {
            (true, Some(linker)) => Ok(Toolchain::DebianBuildStd { linker }),
            _ => Err(format!(
                "no Rust toolchain here can build the engine guest for {TARGET}.\n\
                 Run `scripts/setup.sh`, which does one of:\n  \
                 rustup target add {TARGET}\n  \
                 apt-get install rustc-web cargo-web rust-web-src lld-19   (Debian 12, when rustup cannot download targets)\n\
                 or set WASMODEL_ENGINE_WASM to a prebuilt engine."
            )),
        }
    }

    fn cargo(&self) -> Command {
        match self {
            Toolchain::Installed => {
                Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            }
            Toolchain::DebianBuildStd { linker } => {
                let mut cmd = Command::new(DEBIAN_CARGO);
                cmd.arg("-Zbuild-std=std,panic_abort")
                    .env("RUSTC", DEBIAN_RUSTC)
                    .env("RUSTDOC", "/usr/bin/rustdoc")
                    // Lets this stable compiler take `-Z` flags; scoped to
                    // this command only.
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker);
                cmd
            }
        }
    }
}

/// Whether `rustc` has the standard library for `TARGET` installed.
fn has_target_std(rustc: &str) -> bool {
    let Ok(output) = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
    else {
        return false;
    };
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    output.status.success()
        && std::fs::read_dir(libdir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
}

fn find_wasm_ld() -> Option<PathBuf> {
    let names = ["wasm-ld".to_string()]
        .into_iter()
        .chain((15..=25).rev().map(|v| format!("wasm-ld-{v}")));
    let path = env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = env::split_paths(&path).collect();
    names
        .flat_map(|name| dirs.iter().map(move |d| d.join(&name)))
        .find(|p| p.is_file())
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
