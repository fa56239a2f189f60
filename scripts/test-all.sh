#!/usr/bin/env bash
# Runs every test of lowbit: the workspace on this machine (each test walks every ISA
# the CPU has; the API tests also run once per forced LOWBIT_ISA), then the aarch64
# build under qemu: `-cpu max` (NEON + dotprod) and `-cpu cortex-a53` (no dotprod).
# Needs: rustup target aarch64-unknown-linux-gnu, gcc-aarch64-linux-gnu, qemu-user
# (.ci/run installs them; without them the aarch64 part is skipped with a note, unless
# LOWBIT_REQUIRE_CROSS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

cargo test --workspace -j2

# The default-path API (no explicit ISA) once per ISA this CPU has.
isas="scalar"
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && isas="$isas avx2"
grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && isas="$isas avx512"
for isa in $isas; do
  echo "-- LOWBIT_ISA=$isa"
  LOWBIT_ISA=$isa cargo test -q -p lowbit -j2
done

have_cross=1
rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || have_cross=0
command -v aarch64-linux-gnu-gcc >/dev/null || have_cross=0
command -v qemu-aarch64 >/dev/null || have_cross=0
if [ "$have_cross" = 0 ]; then
  if [ "${LOWBIT_REQUIRE_CROSS:-${CI:-}}" != "" ]; then
    echo "aarch64 cross tools missing" >&2; exit 1
  fi
  echo "NOTE: aarch64 cross tools missing; skipped the NEON tests under qemu"
  exit 0
fi
arm_pkgs=(-p lowbit-formats -p lowbit-kernels -p lowbit)
echo "-- aarch64 under qemu -cpu max"
cargo test --target aarch64-unknown-linux-gnu -j2 "${arm_pkgs[@]}"
echo "-- aarch64 under qemu -cpu cortex-a53 (no dotprod)"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a53" \
  cargo test --target aarch64-unknown-linux-gnu -j2 "${arm_pkgs[@]}"
