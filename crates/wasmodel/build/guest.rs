//! Building a crate of this workspace for a wasm target, with whichever
//! toolchain this machine has. Used by this crate's `build.rs` (the engines
//! wasmodel embeds), `crates/test-guests/build.rs` (the tests' guests) and
//! `benches/suite` (engine variants built with other target features, to
//! compare).
//!
//! Two toolchains are known to work (see `scripts/setup.sh`):
//! - a rustup toolchain with the targets installed;
//! - Debian's `rustc-web` with its standard-library source (`rust-web-src`),
//!   which builds std for wasm itself (`-Zbuild-std`) and links with LLVM's
//!   `wasm-ld` (and Debian's `wasi-libc` for wasip1), for machines where
//!   rustup cannot download targets.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One wasm build of a workspace crate, as a `cdylib`, with the `engine`
/// profile.
pub struct Spec<'a> {
    /// The workspace root.
    pub root: &'a Path,
    pub package: &'a str,
    /// Cargo features to enable, comma-separated, or "".
    pub feature: &'a str,
    pub target: &'a str,
    /// Flags for this target only (`-C target-feature=...`, `--cfg ...`).
    pub rustflags: &'a str,
    /// Cargo `--config` settings, such as `profile.engine.opt-level="s"`.
    pub config: &'a [&'a str],
    pub target_dir: &'a Path,
}

/// Builds `spec` (cargo's output goes to this process's stderr) and returns
/// the path of the `.wasm` file, or why it could not be built.
pub fn build(spec: &Spec<'_>) -> Result<PathBuf, String> {
    let toolchain = Toolchain::detect(spec.target)?;
    let mut rustflags = spec.rustflags.to_string();
    let mut cargo = toolchain.cargo(spec.target, &mut rustflags);
    cargo
        .current_dir(spec.root)
        .args([
            "rustc",
            "--package",
            spec.package,
            "--features",
            spec.feature,
            "--lib",
            "--crate-type",
            "cdylib",
        ])
        .args([
            "--profile",
            "engine",
            "--target",
            spec.target,
            "--target-dir",
        ])
        .arg(spec.target_dir);
    for config in spec.config {
        cargo.args(["--config", config]);
    }
    cargo
        // What an outer cargo set for the host build must not leak into the
        // guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env(target_env(spec.target, "RUSTFLAGS"), rustflags);
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo for {}: {e}", spec.package))?;
    if !status.success() {
        return Err(format!(
            "building {} ({}) for {} failed ({status}); its output is above",
            spec.package, spec.feature, spec.target
        ));
    }
    Ok(spec
        .target_dir
        .join(spec.target)
        .join("engine")
        .join(format!("{}.wasm", spec.package.replace('-', "_"))))
}

/// How to build std-using Rust code for a wasm target here.
enum Toolchain {
    /// The toolchain building the host has the target's std installed.
    Installed,
    /// Debian's `rustc-web`: std built from source, linked by `wasm-ld`.
    DebianBuildStd { linker: PathBuf },
}

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library/Cargo.lock";
/// Debian's `wasi-libc`, which the Debian toolchain links wasip1 code with.
const DEBIAN_WASI_LIBC: &str = "/usr/lib/wasm32-wasi";

impl Toolchain {
    fn detect(target: &str) -> Result<Toolchain, String> {
        let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        if has_target_std(&rustc, target) {
            return Ok(Toolchain::Installed);
        }
        let debian = Path::new(DEBIAN_RUSTC).exists()
            && Path::new(DEBIAN_CARGO).exists()
            && Path::new(DEBIAN_STD_SOURCE).exists()
            && (!is_wasi(target) || Path::new(DEBIAN_WASI_LIBC).join("libc.a").exists());
        match (debian, find_wasm_ld()) {
            (true, Some(linker)) => Ok(Toolchain::DebianBuildStd { linker }),
            _ => Err(format!(
                "no Rust toolchain here can build the engine guest for {target}.\n\
                 Run `scripts/setup.sh`, which does one of:\n  \
                 rustup target add {target}\n  \
                 apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc   (Debian 12, when rustup cannot download targets)\n\
                 or set WASMODEL_ENGINE_WASM, WASMODEL_HTTP_ENGINE_WASM, WASMODEL_RELAXED_ENGINE_WASM\n\
                 and WASMODEL_RELAXED_HTTP_ENGINE_WASM to prebuilt engines (build.rs lists the rest)."
            )),
        }
    }

    /// The cargo command for `target`; adds what the toolchain needs to
    /// `rustflags`.
    fn cargo(&self, target: &str, rustflags: &mut String) -> Command {
        match self {
            Toolchain::Installed => {
                Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            }
            Toolchain::DebianBuildStd { linker } => {
                if is_wasi(target) {
                    rustflags
                        .push_str(&format!(" -C link-self-contained=no -L {DEBIAN_WASI_LIBC}"));
                }
                let mut cmd = Command::new(DEBIAN_CARGO);
                cmd.arg("-Zbuild-std=std,panic_abort")
                    .env("RUSTC", DEBIAN_RUSTC)
                    .env("RUSTDOC", "/usr/bin/rustdoc")
                    // Lets this stable compiler take `-Z` flags; scoped to
                    // this command only.
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env(target_env(target, "LINKER"), linker);
                cmd
            }
        }
    }
}

fn is_wasi(target: &str) -> bool {
    target.contains("-wasi")
}

/// Whether `rustc` has the standard library for `target` installed.
fn has_target_std(rustc: &str, target: &str) -> bool {
    let Ok(output) = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
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

/// `CARGO_TARGET_<TRIPLE>_<NAME>`, as cargo spells it.
fn target_env(target: &str, name: &str) -> String {
    format!(
        "CARGO_TARGET_{}_{name}",
        target.to_uppercase().replace(['-', '.'], "_")
    )
}
