#!/usr/bin/env bash
# Checks scripts/install.sh the way a C user meets it: installs into temporary
# prefixes, then builds csrc/example.c (and the C++ test) with nothing but the flags
# pkg-config gives, and runs them:
#   1. shared: `cc $(pkg-config --cflags --libs lowbit)`, run with LD_LIBRARY_PATH and
#      with an rpath; the library's SONAME is liblowbit.so.<major> and the program asks
#      for exactly that name;
#   2. static (--static-only prefix): `cc $(pkg-config --static --cflags --libs lowbit)`,
#      which must not depend on liblowbit.so at all;
#   3. DESTDIR staging: files under DESTDIR, lowbit.pc naming the final prefix.
# Installs pkg-config (Debian) when missing, unless LOWBIT_NO_INSTALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pkg-config >/dev/null || ! command -v readelf >/dev/null; then
  [ "${LOWBIT_NO_INSTALL:-0}" != 1 ] || { echo "pkg-config or readelf missing" >&2; exit 1; }
  echo "-- installing pkg-config and binutils"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq pkg-config binutils >/dev/null
fi
CC=${CC:-cc} CXX=${CXX:-c++}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "check-install: $*" >&2
  exit 1
}

# The example prints its version line, the ISA, and four results.
check_example() {
  local out
  out=$("$@") || fail "$* failed"
  [[ "$out" == "lowbit "* ]] || fail "$*: unexpected output: $out"
  [ "$(grep -c '^y\[' <<<"$out")" = 4 ] || fail "$*: expected 4 results: $out"
}

version=$(cargo pkgid -p lowbit-capi)
version=${version##*[#@]}
soname="liblowbit.so.${version%%.*}"

echo "-- shared: install, cc \$(pkg-config --cflags --libs lowbit)"
bash scripts/install.sh --prefix "$work/shared" >/dev/null
export PKG_CONFIG_PATH="$work/shared/lib/pkgconfig"
pkg-config --validate lowbit
[ "$(pkg-config --modversion lowbit)" = "$version" ] || fail "lowbit.pc version"
lib="$work/shared/lib"
readelf -d "$lib/liblowbit.so.$version" | grep -q "(SONAME).*\[$soname\]" ||
  fail "$lib/liblowbit.so.$version has no SONAME $soname"
[ "$(readlink "$lib/liblowbit.so")" = "$soname" ] && [ "$(readlink "$lib/$soname")" = "liblowbit.so.$version" ] ||
  fail "the liblowbit.so -> $soname -> liblowbit.so.$version links"
# shellcheck disable=SC2046  # pkg-config output is a list of flags
"$CC" -std=c99 -Wall -Wextra -Werror csrc/example.c $(pkg-config --cflags --libs lowbit) -o "$work/example-shared"
readelf -d "$work/example-shared" | grep -q "(NEEDED).*\[$soname\]" || fail "example-shared does not ask for $soname"
LD_LIBRARY_PATH="$lib" check_example "$work/example-shared"
# shellcheck disable=SC2046
"$CC" -std=c99 csrc/example.c $(pkg-config --cflags --libs lowbit) \
  -Wl,-rpath,"$(pkg-config --variable=libdir lowbit)" -o "$work/example-rpath"
check_example "$work/example-rpath"
# shellcheck disable=SC2046
"$CXX" -std=c++11 -Wall -Wextra -Werror csrc/test_cpp.cpp $(pkg-config --cflags --libs lowbit) -o "$work/cpp-shared"
LD_LIBRARY_PATH="$lib" "$work/cpp-shared" | grep -q '^C++: lowbit ' || fail "the C++ test against the shared library"
echo "   $soname: SONAME set, example and C++ test ran"

echo "-- static: install --static-only, cc \$(pkg-config --static --cflags --libs lowbit)"
bash scripts/install.sh --prefix "$work/static" --static-only >/dev/null
export PKG_CONFIG_PATH="$work/static/lib/pkgconfig"
[ ! -e "$work/static/lib/liblowbit.so" ] || fail "--static-only installed a shared library"
# shellcheck disable=SC2046
"$CC" -std=c99 -Wall -Wextra -Werror csrc/example.c $(pkg-config --static --cflags --libs lowbit) -o "$work/example-static"
if readelf -d "$work/example-static" | grep -q liblowbit; then fail "example-static depends on liblowbit.so"; fi
check_example "$work/example-static"
echo "   example linked statically and ran"

echo "-- DESTDIR staging"
DESTDIR="$work/stage" bash scripts/install.sh --prefix /opt/lowbit >/dev/null
[ -f "$work/stage/opt/lowbit/include/lowbit.h" ] && [ -f "$work/stage/opt/lowbit/lib/liblowbit.a" ] ||
  fail "DESTDIR: files not staged"
grep -qx 'prefix=/opt/lowbit' "$work/stage/opt/lowbit/lib/pkgconfig/lowbit.pc" || fail "DESTDIR leaked into lowbit.pc"
echo "   staged under DESTDIR, lowbit.pc names /opt/lowbit"
