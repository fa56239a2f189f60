#!/usr/bin/env bash
# The C and C++ programs of csrc/ (test_capi.c, test_cpp.cpp, example.c) linked against
# liblowbit.a (release), under two memory checkers:
#
#  1. valgrind memcheck, with LOWBIT_ISA=scalar and LOWBIT_ISA=avx2 (valgrind does not
#     emulate AVX-512, so lowbit sees at most AVX2 under it; avx2 is skipped when the
#     CPU, as valgrind presents it, lacks AVX2). Every memory error fails the run
#     (--error-exitcode), and so does every definitely, indirectly or possibly lost
#     block (--leak-check=full --errors-for-leak-kinds=definite,indirect,possible),
#     except the one kind scripts/valgrind.supp suppresses and explains: the TLS block
#     glibc allocates for each thread of rayon's global pool, still running at exit.
#     "Still reachable" blocks are not leaks and do not fail the run: memory that a
#     live pointer still refers to when the program exits. Here that is rayon's global
#     pool (never torn down, by design: its registry, and each worker's job queues and
#     crossbeam epoch data) and per-process or per-thread state of the standard library;
#     all of it is created once, none grows with use. The byte counts are printed per
#     run (about 9 to 20 KB).
#  2. clang -fsanitize=address,undefined (AddressSanitizer with LeakSanitizer, and
#     UBSan with -fno-sanitize-recover=all), every ISA this CPU has for test_capi.
#     Only the C and C++ code is instrumented (instrumenting Rust needs a nightly
#     toolchain), but ASan replaces malloc and free for the whole process, so
#     lowbit's own allocations are checked for leaks, double frees and frees of
#     foreign pointers, and the C side's use of every buffer lowbit hands out is
#     checked for bounds and lifetime.
#
# Before the real runs, two canaries (a leaked matrix, a matrix freed twice) must make
# both checkers fail: proof that they see the memory lowbit allocates.
#
# Installs valgrind and clang (Debian) when missing, unless LOWBIT_NO_INSTALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v clang >/dev/null && command -v clang++ >/dev/null || need+=(clang)
if [ ${#need[@]} -gt 0 ]; then
  if [ "${LOWBIT_NO_INSTALL:-0}" = 1 ]; then
    echo "sanitize.sh: missing ${need[*]} (LOWBIT_NO_INSTALL=1)" >&2
    exit 1
  fi
  echo "-- installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "-- building liblowbit.a (release)"
# The same command as scripts/install.sh, so the two share one build.
log=$(cargo rustc --release -p lowbit-capi --lib -j"${CARGO_BUILD_JOBS:-2}" \
  -- --print native-static-libs 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }
read -r -a native_libs <<<"$(printf '%s\n' "$log" | sed -n 's/.*native-static-libs: //p' | tail -n 1)"
[ ${#native_libs[@]} -gt 0 ] || { printf '%s\n' "$log" >&2; echo "no native-static-libs" >&2; exit 1; }
target_dir=$(cargo metadata --no-deps --format-version 1 | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
lib="$target_dir/release/liblowbit.a"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
fail() {
  echo "FAIL: $*" >&2
  failed=1
}

# build OUT COMPILER FLAGS... SOURCE: one program linked against liblowbit.a.
build() {
  local out=$1 compiler=$2
  shift 2
  "$compiler" -g -O1 -fno-omit-frame-pointer -Iinclude "$@" "$lib" "${native_libs[@]}" -o "$work/$out"
}
# valgrind runs programs from the usual compilers (CC, CXX); ASan's from clang.
CC=${CC:-cc} CXX=${CXX:-c++}
C_STD=(-std=c99 -Wall -Wextra -Werror)
CXX_STD=(-std=c++11 -Wall -Wextra -Werror)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all)

# The canaries: a matrix never freed, and one freed twice.
cat >"$work/leak.c" <<'EOF'
#include "lowbit.h"
int main(void) {
    float w[64] = {1.0f};
    lowbit_format f = lowbit_format_int(4, 32, false);
    lowbit_matrix *m = NULL;
    return lowbit_quantize(&f, w, 1, 64, &m) == LOWBIT_OK ? 0 : 1; /* m never freed */
}
EOF
cat >"$work/double_free.c" <<'EOF'
#include "lowbit.h"
int main(void) {
    float w[64] = {1.0f};
    lowbit_format f = lowbit_format_int(4, 32, false);
    lowbit_matrix *m = NULL;
    if (lowbit_quantize(&f, w, 1, 64, &m) != LOWBIT_OK) return 1;
    lowbit_matrix_free(m);
    lowbit_matrix_free(m); /* freed twice */
    return 0;
}
EOF

# Output checks: what a correct run prints.
expect() {
  case "$1" in
    test_capi*) grep -q ' 0 failures$' "$2" ;;
    test_cpp*) grep -q '^C++: lowbit ' "$2" ;;
    example*) grep -q '^running on: ' "$2" && [ "$(grep -c '^y\[' "$2")" = 4 ] ;;
  esac
}

# ---- valgrind memcheck ----
VALGRIND=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
  --show-leak-kinds=definite,indirect,possible --suppressions=scripts/valgrind.supp --track-origins=yes)
build test_capi "$CC" "${C_STD[@]}" -pedantic csrc/test_capi.c
build example "$CC" "${C_STD[@]}" -pedantic csrc/example.c
build test_cpp "$CXX" "${CXX_STD[@]}" csrc/test_cpp.cpp
build leak "$CC" "${C_STD[@]}" "$work/leak.c"
build double_free "$CC" "${C_STD[@]}" "$work/double_free.c"

# memcheck ISA PROGRAM: runs it, prints the error and leak summary.
memcheck() {
  local isa=$1 prog=$2 rc=0
  LOWBIT_ISA=$isa "${VALGRIND[@]}" --log-file="$work/vg.log" "$work/$prog" >"$work/out.txt" 2>&1 || rc=$?
  local errors lost
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$work/vg.log" | tail -n 1)
  lost=$(sed -n 's/.*\(definitely\|indirectly\|possibly\) lost: \([0-9,]*\) bytes.*/\1 \2/p' "$work/vg.log" | paste -sd'/' -)
  extra=$(sed -n 's/.*suppressed: \([0-9,]* bytes\).*/suppressed \1/p; s/.*still reachable: \([0-9,]* bytes\) in.*/still reachable \1/p' "$work/vg.log" | paste -sd'/' - | sed 's|/|, |g')
  printf '   %-9s LOWBIT_ISA=%-6s exit %s, errors %s; lost (bytes): %s; %s\n' "$prog" "$isa" "$rc" \
    "${errors:-?}" "$(sed 's|/|, |g' <<<"${lost:-none}")" "${extra:-nothing suppressed or reachable}"
  if [ "$rc" != 0 ]; then
    cat "$work/vg.log" "$work/out.txt" >&2
    return 1
  fi
  expect "$prog" "$work/out.txt" || { cat "$work/out.txt" >&2; return 1; }
}

echo "-- valgrind memcheck: the canaries must fail"
# vg_canary PROGRAM PATTERN: the run must fail and its log must contain PATTERN.
vg_canary() {
  if LOWBIT_ISA=scalar "${VALGRIND[@]}" --log-file="$work/vg.log" "$work/$1" >/dev/null 2>&1; then
    fail "valgrind passed the $1 canary"
  elif ! grep -q "$2" "$work/vg.log"; then
    cat "$work/vg.log" >&2
    fail "valgrind: no '$2' for the $1 canary"
  fi
}
vg_canary leak 'definitely lost: [1-9]'
vg_canary double_free 'Invalid free'
echo "   both reported"

valgrind_best=$(valgrind -q "$work/example" 2>/dev/null | sed -n 's/.*(best ISA: \(.*\))$/\1/p')
isas=(scalar)
case "$valgrind_best" in
  avx2 | avx512) isas+=(avx2) ;;
  *) echo "NOTE: under valgrind the best ISA is '${valgrind_best:-?}': the avx2 runs are skipped" ;;
esac
echo "-- valgrind memcheck (${isas[*]})"
for isa in "${isas[@]}"; do
  for prog in test_capi test_cpp example; do
    memcheck "$isa" "$prog" || fail "valgrind: $prog with LOWBIT_ISA=$isa"
  done
done

# ---- AddressSanitizer + UndefinedBehaviorSanitizer ----
export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build test_capi_asan clang "${C_STD[@]}" -pedantic "${SAN[@]}" csrc/test_capi.c
build example_asan clang "${C_STD[@]}" -pedantic "${SAN[@]}" csrc/example.c
build test_cpp_asan clang++ "${CXX_STD[@]}" "${SAN[@]}" csrc/test_cpp.cpp
build leak_asan clang "${C_STD[@]}" "${SAN[@]}" "$work/leak.c"
build double_free_asan clang "${C_STD[@]}" "${SAN[@]}" "$work/double_free.c"

echo "-- ASan/UBSan: the canaries must fail"
asan_canary() {
  if LOWBIT_ISA=scalar "$work/$1" >"$work/asan.txt" 2>&1; then
    fail "ASan passed the $1 canary"
  elif ! grep -q "$2" "$work/asan.txt"; then
    cat "$work/asan.txt" >&2
    fail "ASan: no '$2' for the $1 canary"
  fi
}
asan_canary leak_asan 'LeakSanitizer: detected memory leaks'
asan_canary double_free_asan 'attempting double-free'
echo "   both reported"

asan_isas=(scalar)
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo && asan_isas+=(avx2)
grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && asan_isas+=(avx512)
echo "-- ASan/UBSan (clang $(clang -dumpversion))"
asan() {
  local isa=$1 prog=$2 rc=0
  LOWBIT_ISA=$isa "$work/$prog" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
  printf '   %-15s LOWBIT_ISA=%-6s exit %s%s\n' "$prog" "${isa:-(best)}" "$rc" \
    "$([ -s "$work/err.txt" ] && echo ", stderr not empty" || echo ", no reports")"
  if [ "$rc" != 0 ] || [ -s "$work/err.txt" ]; then
    cat "$work/err.txt" "$work/out.txt" >&2
    return 1
  fi
  expect "$prog" "$work/out.txt" || { cat "$work/out.txt" >&2; return 1; }
}
for isa in "${asan_isas[@]}"; do
  asan "$isa" test_capi_asan || fail "ASan: test_capi with LOWBIT_ISA=$isa"
done
asan "" test_cpp_asan || fail "ASan: test_cpp"
asan "" example_asan || fail "ASan: example"

if [ "$failed" != 0 ]; then
  echo "sanitize.sh: FAILED" >&2
  exit 1
fi
echo "-- sanitizers: no errors, no leaks"
