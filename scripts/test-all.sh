#!/usr/bin/env bash
# Runs every test of lowbit. On a fresh machine it first installs what the aarch64 part
# needs (rustup target aarch64-unknown-linux-gnu; Debian packages gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, qemu-user) unless LOWBIT_NO_INSTALL=1.
#  1. the workspace on this machine: every kernel test walks every registry entry the
#     CPU can run (a VNNI machine also runs the AVX-512BW entries),
#     the C tests compile csrc/ against include/lowbit.h and the built library;
#  2. the Rust API once per forced LOWBIT_ISA this CPU supports;
#  3. the formats/kernels/API tests for aarch64 under qemu `-cpu max` (NEON + dotprod),
#     and the kernel tests under `-cpu cortex-a53` (NEON without dotprod).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

have_cross() {
  rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu &&
    command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null
}

if [ "${LOWBIT_NO_INSTALL:-0}" != 1 ] && ! have_cross; then
  echo "-- installing the aarch64 cross tools"
  rustup target add aarch64-unknown-linux-gnu
  need=()
  command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
  command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

echo "-- x86_64: the workspace"
cargo test --workspace -j2

isas="scalar"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
  isas="$isas avx2"
fi
if grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo; then
  isas="$isas avx512"
fi
for isa in $isas; do
  echo "-- the API with LOWBIT_ISA=$isa"
  LOWBIT_ISA=$isa cargo test -q -p lowbit -j2
done

if ! have_cross; then
  if [ -n "${CI:-}" ]; then
    echo "aarch64 cross tools missing" >&2
    exit 1
  fi
  echo "NOTE: aarch64 cross tools missing (LOWBIT_NO_INSTALL=1?): NEON tests skipped"
  exit 0
fi
arm_pkgs=(-p lowbit-formats -p lowbit-kernels -p lowbit)
echo "-- aarch64 under qemu -cpu max (NEON + dotprod)"
cargo test --target aarch64-unknown-linux-gnu -j2 "${arm_pkgs[@]}"
# The kernels are what differ without dotprod (the formats crate has no SIMD and the API
# tests select through the same registry), so the second core runs the kernel tests only.
echo "-- aarch64 under qemu -cpu cortex-a53 (NEON, no dotprod): the kernels"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a53" \
  cargo test --target aarch64-unknown-linux-gnu -j2 -p lowbit-kernels
