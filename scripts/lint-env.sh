# Sourced by scripts/test.sh, scripts/fuzz.sh and .ci/run: cargo commands
# run after it lint this workspace's own crates with clippy, `-D warnings`,
# while compiling them for real.
#
# `cargo clippy` is `cargo check` with clippy's driver as the wrapper of
# the workspace's crates: it checks every dependency (metadata only) and
# lints the workspace, and a `cargo test` afterwards compiles all of it
# again. Here the same driver wraps the build itself: it runs clippy's lints
# and then compiles as rustc does, so one build serves both, and
# dependencies, compiled by plain rustc, are shared with any later build
# that sets this too. CLIPPY_ARGS is how `cargo clippy -- -D warnings`
# hands `-D warnings` to the driver (arguments joined by
# `__CLIPPY_HACKERY__`).
#
# Cargo counts the wrapper in the fingerprint of the workspace's crates,
# so a build with it and one without rebuild those crates (not their
# dependencies): every step of one run sets it, or none does.
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
if [ ! -x "$clippy_driver" ]; then
    clippy_driver=$(command -v clippy-driver || true)
fi
if [ -z "$clippy_driver" ]; then
    echo "clippy-driver not found: scripts/setup.sh --tests installs clippy" >&2
    exit 1
fi
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
unset clippy_driver
