//! Builds the two flavours of the engine guest (`crates/guest`) and hands
//! them to `src/` to embed, so `wasmodel build` needs no Rust or wasm
//! toolchain on the user's machine:
//! - `engine.wasm`: the predictor, for `wasm32-unknown-unknown` (imports
//!   nothing);
//! - `engine-http.wasm`: the HTTP component, for `wasm32-wasip1` (spin-sdk
//!   needs WASI; `wasmodel build --http` adapts it to the proxy world);
//! - `hello-http.wasm` (`crates/hello-http`): a hello-world HTTP
//!   component, the baseline of `benches/suite`.
//!
//! Two toolchains are known to work (see `scripts/setup.sh`):
//! - a rustup toolchain with the targets installed;
//! - Debian's `rustc-web` with its standard-library source (`rust-web-src`),
//!   which builds std for wasm itself (`-Zbuild-std`) and links with LLVM's
//!   `wasm-ld` (and Debian's `wasi-libc` for wasip1), for machines where
//!   rustup cannot download targets.
//!
//! `WASMODEL_ENGINE_WASM=/path/to/engine.wasm` and
//! `WASMODEL_HTTP_ENGINE_WASM=/path/to/engine-http.wasm` skip a build and
//! embed that file instead (for packagers who build the engine separately).
//!
//! It also lists the WIT files under `wit/` for `src/wit.rs` to embed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One wasm guest to build.
struct Guest {
    package: &'static str,
    /// Cargo feature that selects the flavour, if any.
    feature: &'static str,
    target: &'static str,
    /// Guest-only flags: wasm SIMD for tract's kernels, plus the target's.
    rustflags: &'static str,
    /// File name in `OUT_DIR`, embedded by `src/lib.rs`.
    output: &'static str,
    /// Environment variable naming a prebuilt file to use instead.
    prebuilt_var: &'static str,
}

const GUESTS: [Guest; 3] = [
    Guest {
        package: "wasmodel-guest",
        feature: "predictor",
        target: "wasm32-unknown-unknown",
        // No source of randomness: the component imports nothing, so there
        // is none to have.
        rustflags: "-C target-feature=+simd128 --cfg getrandom_backend=\"unsupported\"",
        output: "engine.wasm",
        prebuilt_var: "WASMODEL_ENGINE_WASM",
    },
    Guest {
        package: "wasmodel-guest",
        feature: "http",
        target: "wasm32-wasip1",
        rustflags: "-C target-feature=+simd128",
        output: "engine-http.wasm",
        prebuilt_var: "WASMODEL_HTTP_ENGINE_WASM",
    },
    // The baseline of `benches/suite` (seconds: it shares spin-sdk's
    // build with the HTTP engine).
    Guest {
        package: "wasmodel-hello-http",
        feature: "",
        target: "wasm32-wasip1",
        rustflags: "-C target-feature=+simd128",
        output: "hello-http.wasm",
        prebuilt_var: "WASMODEL_HELLO_HTTP_WASM",
    },
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    embed_wit(&root, &out_dir);
    // What the guests are built from.
    for input in [
        "crates/engine",
        "crates/oip",
        "crates/guest",
        "crates/hello-http",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    for guest in &GUESTS {
        build_guest(guest, &root, &out_dir.join(guest.output));
    }
}

fn build_guest(guest: &Guest, root: &Path, out: &Path) {
    println!("cargo:rerun-if-env-changed={}", guest.prebuilt_var);
    if let Some(prebuilt) = env::var_os(guest.prebuilt_var) {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        if let Err(e) = std::fs::copy(&prebuilt, out) {
            fail(&format!(
                "cannot read {}={}: {e}",
                guest.prebuilt_var,
                Path::new(&prebuilt).display()
            ));
        }
        return;
    }

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("engine");

    let toolchain = Toolchain::detect(guest.target).unwrap_or_else(|why| fail(&why));
    let mut rustflags = guest.rustflags.to_string();
    let mut cargo = toolchain.cargo(guest.target, &mut rustflags);
    cargo
        .current_dir(root)
        .args([
            "rustc",
            "--package",
            guest.package,
            "--features",
            guest.feature,
            "--lib",
            "--crate-type",
            "cdylib",
        ])
        .args([
            "--profile",
            "engine",
            "--target",
            guest.target,
            "--target-dir",
        ])
        .arg(&target_dir)
        // What the outer cargo set for the host build must not leak into the
        // guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env(target_env(guest.target, "RUSTFLAGS"), rustflags);
    let status = cargo
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo for the engine guest: {e}")));
    if !status.success() {
        fail(&format!(
            "building {} ({}) for {} failed ({status}); its output is above",
            guest.package, guest.feature, guest.target
        ));
    }

    let built = target_dir
        .join(guest.target)
        .join("engine")
        .join(format!("{}.wasm", guest.package.replace('-', "_")));
    if let Err(e) = std::fs::copy(&built, out) {
        fail(&format!("cannot copy {}: {e}", built.display()));
    }
}

/// `CARGO_TARGET_<TRIPLE>_<NAME>`, as cargo spells it.
fn target_env(target: &str, name: &str) -> String {
    format!(
        "CARGO_TARGET_{}_{name}",
        target.to_uppercase().replace(['-', '.'], "_")
    )
}

/// Writes `wit_files.rs`: every `.wit` file under `wit/` as
/// `(path relative to wit/, contents)`, sorted, for `src/wit.rs`.
fn embed_wit(root: &Path, out_dir: &Path) {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| fail(&format!("cannot list {}: {e}", dir.display())));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "wit") {
                files.push(path);
            }
        }
    }
    let wit = root.join("wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut files = Vec::new();
    walk(&wit, &mut files);
    files.sort();
    let mut code = String::from("&[\n");
    for file in &files {
        let relative = file.strip_prefix(&wit).expect("walked from wit/");
        println!("cargo:rerun-if-changed={}", file.display());
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.display().to_string(),
            file.display().to_string()
        ));
    }
    code.push(']');
    let out = out_dir.join("wit_files.rs");
    if let Err(e) = std::fs::write(&out, code) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
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
                 or set WASMODEL_ENGINE_WASM and WASMODEL_HTTP_ENGINE_WASM to prebuilt engines."
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
                    rustflags.push_str(&format!(
                        " -C link-self-contained=no -L {DEBIAN_WASI_LIBC} --cfg wasmodel_realpath_shim"
                    ));
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

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
