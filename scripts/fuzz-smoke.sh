#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer coverage instrumentation on the stable
# toolchain (sanitizer-coverage passes are stable -C flags; only ASan needs nightly,
# and the code under test has no unsafe outside the kernels, which assert bounds)
# and runs each target briefly. `cargo fuzz run <target>` works too, with nightly.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-15}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# A smoke run executes each target for seconds: optimize lightly and skip debug info so
# the instrumented build (the whole kernel registry, every decode step monomorphized per
# ISA) stays a few minutes on two cores. Real campaigns (`cargo fuzz run`) use the
# profile in fuzz/Cargo.toml.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-1}"
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
# An explicit --target keeps RUSTFLAGS off build scripts and proc-macros.
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release -j2 --bins --target "$triple"
for t in codecs int_view_gemv capi; do
  mkdir -p "corpus/$t"
  echo "-- fuzz $t for ${secs}s"
  "$CARGO_TARGET_DIR/$triple/release/$t" -max_total_time="$secs" -rss_limit_mb=2048 "corpus/$t" 2>&1 | tail -3
done
