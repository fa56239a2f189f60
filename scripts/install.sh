#!/usr/bin/env bash
# Builds the C library (release) and installs it for C and C++ users on Linux:
#
#   PREFIX/lib/liblowbit.so.X.Y.Z           the shared library, SONAME liblowbit.so.X
#   PREFIX/lib/liblowbit.so.X -> .so.X.Y.Z  the name programs load
#   PREFIX/lib/liblowbit.so   -> .so.X      the name the linker finds (-llowbit)
#   PREFIX/lib/liblowbit.a                  the static library
#   PREFIX/include/lowbit.h                 the header
#   PREFIX/lib/pkgconfig/lowbit.pc          Cflags, Libs, and Libs.private: the system
#                                           libraries the static library needs
#
# the layout cargo-c would produce, without building cargo-c. Then:
#
#   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs lowbit)             # shared
#   cc app.c $(pkg-config --static --cflags --libs lowbit)    # static, with --static-only
#
# With both libraries in one directory the linker takes the shared one for -llowbit;
# install with --static-only (into its own prefix) to link statically through
# pkg-config, or name PREFIX/lib/liblowbit.a on the command line.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/install.sh --prefix DIR [options]

  --prefix DIR      Install under DIR (required; e.g. /usr/local, $HOME/.local)
  --libdir DIR      Libraries and pkgconfig/ here [default: PREFIX/lib]
  --includedir DIR  The header here [default: PREFIX/include]
  --static-only     Install liblowbit.a only (no shared library)
  --shared-only     Install liblowbit.so only (no static library)
  -h, --help        Print this help

DESTDIR, when set, is prepended to every installed path but not to the paths written
into lowbit.pc (for staging a package). Cargo builds with -j2 unless CARGO_BUILD_JOBS
says otherwise.
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 2
}

prefix="" libdir="" includedir="" static=1 shared=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix | --libdir | --includedir)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --prefix) prefix=$2 ;;
        --libdir) libdir=$2 ;;
        --includedir) includedir=$2 ;;
      esac
      shift 2
      ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --libdir=*) libdir=${1#*=}; shift ;;
    --includedir=*) includedir=${1#*=}; shift ;;
    --static-only) shared=0; shift ;;
    --shared-only) static=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[ -n "$prefix" ] || { usage >&2; die "--prefix DIR is required"; }
[ "$static" = 1 ] || [ "$shared" = 1 ] || die "--static-only and --shared-only exclude each other"
[ "$(uname -s)" = Linux ] || die "only Linux is set up (SONAME and the static link flags are Linux's)"

absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
prefix=$(absolute "$prefix")
libdir=$(absolute "${libdir:-$prefix/lib}")
includedir=$(absolute "${includedir:-$prefix/include}")

# The version (also the SONAME's major number, see crates/lowbit-capi/build.rs).
version=$(cargo pkgid -p lowbit-capi)
version=${version##*[#@]}
major=${version%%.*}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read the version from 'cargo pkgid' ($version)"

# Build, and ask rustc which system libraries the static library needs (cargo replays
# the note when the build is already fresh).
echo "-- building liblowbit $version (release)"
build_log=$(cargo rustc --release -p lowbit-capi --lib -j"${CARGO_BUILD_JOBS:-2}" \
  -- --print native-static-libs 2>&1) || { printf '%s\n' "$build_log" >&2; die "cargo build failed"; }
native_libs=$(printf '%s\n' "$build_log" | sed -n 's/.*native-static-libs: //p' | tail -n 1)
[ -n "$native_libs" ] || { printf '%s\n' "$build_log" >&2; die "rustc did not print native-static-libs"; }
target_dir=$(cargo metadata --no-deps --format-version 1 | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
built="$target_dir/release"
for f in liblowbit.a liblowbit.so; do
  [ -f "$built/$f" ] || die "$built/$f was not built"
done

dest() { printf '%s%s' "${DESTDIR:-}" "$1"; }
install -d "$(dest "$libdir")" "$(dest "$includedir")" "$(dest "$libdir/pkgconfig")"
install -m 644 include/lowbit.h "$(dest "$includedir")/lowbit.h"
if [ "$static" = 1 ]; then
  install -m 644 "$built/liblowbit.a" "$(dest "$libdir")/liblowbit.a"
fi
if [ "$shared" = 1 ]; then
  install -m 755 "$built/liblowbit.so" "$(dest "$libdir")/liblowbit.so.$version"
  ln -sfn "liblowbit.so.$version" "$(dest "$libdir")/liblowbit.so.$major"
  ln -sfn "liblowbit.so.$major" "$(dest "$libdir")/liblowbit.so"
fi

# pkg-config: ${prefix}-relative paths where the directories lie under the prefix.
rel() { case "$1" in "$prefix"/*) printf '${prefix}%s' "${1#"$prefix"}" ;; *) printf '%s' "$1" ;; esac; }
cat >"$(dest "$libdir/pkgconfig")/lowbit.pc" <<EOF
prefix=$prefix
libdir=$(rel "$libdir")
includedir=$(rel "$includedir")

Name: lowbit
Description: Quantized matrix kernels for CPUs (C API)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -llowbit
Libs.private: $native_libs
EOF

echo "-- installed lowbit $version under ${DESTDIR:-}$prefix:"
(cd "$(dest "$prefix")" && find . -path "./${libdir#"$prefix"/}/*lowbit*" -o -path "./${includedir#"$prefix"/}/lowbit.h" | sort | sed 's|^\./|   |') 2>/dev/null || true
echo "   build with: PKG_CONFIG_PATH=$libdir/pkgconfig cc app.c \$(pkg-config --cflags --libs lowbit)"
