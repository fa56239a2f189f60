//! Gives `liblowbit.so` a versioned SONAME on Linux: `liblowbit.so.<major>`, the major
//! number of this package's version. Programs linked against the library record that
//! name, so a later release that keeps the ABI (same major) replaces it in place, and
//! one that breaks it (a new major) installs beside it. `scripts/install.sh` installs
//! the file as `liblowbit.so.<major>.<minor>.<patch>` with the `liblowbit.so.<major>`
//! and `liblowbit.so` links. Other systems keep the linker's default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblowbit.so.{major}");
    }
}
