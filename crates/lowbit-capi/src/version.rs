//! The library version, as a number and as a string.
//!
//! The header's `LOWBIT_VERSION_MAJOR`, `LOWBIT_VERSION_MINOR`, `LOWBIT_VERSION_PATCH`
//! and `LOWBIT_VERSION` macros are generated from the same Cargo version (see
//! `tests/header.rs`), and tests check that they agree with these functions.

use std::ffi::{c_char, CStr};

use crate::boundary::{static_str, value_call};

/// Parses a decimal version component at compile time.
const fn parse_component(s: &str) -> u32 {
    let b = s.as_bytes();
    assert!(!b.is_empty(), "empty version component");
    let mut i = 0;
    let mut v: u32 = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "version component is not a number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// Major version (from Cargo.toml).
pub(crate) const VERSION_MAJOR: u32 = parse_component(env!("CARGO_PKG_VERSION_MAJOR"));
/// Minor version (from Cargo.toml).
pub(crate) const VERSION_MINOR: u32 = parse_component(env!("CARGO_PKG_VERSION_MINOR"));
/// Patch version (from Cargo.toml).
pub(crate) const VERSION_PATCH: u32 = parse_component(env!("CARGO_PKG_VERSION_PATCH"));

const _: () = assert!(
    VERSION_MINOR < 100 && VERSION_PATCH < 100 && VERSION_MAJOR < 400_000,
    "the packed version MAJOR*10000 + MINOR*100 + PATCH needs MINOR, PATCH < 100"
);

/// The packed version: `MAJOR * 10000 + MINOR * 100 + PATCH` (0.1.0 is 100, 1.2.3 is
/// 10203), the value of the header's `LOWBIT_VERSION` macro.
pub(crate) const VERSION_PACKED: u32 = VERSION_MAJOR * 10000 + VERSION_MINOR * 100 + VERSION_PATCH;

/// The version string, e.g. `0.1.0`.
pub(crate) const VERSION_CSTR: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("the Cargo version contains a NUL byte"),
    };

/// The version of the library that is linked, packed as
/// `MAJOR * 10000 + MINOR * 100 + PATCH`. Compare it with `LOWBIT_VERSION` (the
/// header's version) to detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn lowbit_version() -> u32 {
    VERSION_PACKED
}

/// The version of the library that is linked, as a static NUL-terminated string such
/// as "0.1.0" (it may carry a pre-release suffix). Never NULL.
#[no_mangle]
pub extern "C" fn lowbit_version_string() -> *const c_char {
    value_call("lowbit_version_string", static_str(c""), || {
        static_str(VERSION_CSTR)
    })
}
