//! `include/lowbit.h` is generated from this crate by cbindgen and committed. This test
//! regenerates it in memory and fails if the committed file differs; run it with
//! `LOWBIT_BLESS=1` to rewrite the file. It also checks that the header's version macros
//! agree with Cargo.toml and with `lowbit_version()`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    manifest_dir().join("../../include/lowbit.h")
}

/// The version macros, from this package's Cargo version.
fn version_macros() -> String {
    let (major, minor, patch) = (
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    );
    let version = env!("CARGO_PKG_VERSION");
    format!(
        "\n/* The version of this header; lowbit_version() and lowbit_version_string() give\n \
         * the version of the library that is linked. */\n\
         #define LOWBIT_VERSION_MAJOR {major}\n\
         #define LOWBIT_VERSION_MINOR {minor}\n\
         #define LOWBIT_VERSION_PATCH {patch}\n\
         #define LOWBIT_VERSION_STRING \"{version}\"\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH: 1.2.3 is 10203. */\n\
         #define LOWBIT_VERSION \\\n    \
         (LOWBIT_VERSION_MAJOR * 10000UL + LOWBIT_VERSION_MINOR * 100UL + LOWBIT_VERSION_PATCH)"
    )
}

/// Generates the header text.
fn generate() -> String {
    let dir = manifest_dir();
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("crates/lowbit-capi/cbindgen.toml parses");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

/// The first line where two texts differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for line in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => return "(only line endings differ)".into(),
            (x, y) => {
                return format!(
                    "line {line}:\n  committed: {}\n  generated: {}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                )
            }
        }
    }
    unreachable!()
}

/// Compares the committed header with the generated one, rewriting it under
/// `LOWBIT_BLESS=1`. Runs once per test binary, so the tests that read the committed
/// header see the blessed one.
fn check_fresh() -> &'static Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(|| {
        let generated = generate();
        let path = header_path();
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == generated {
            return Ok(());
        }
        if std::env::var_os("LOWBIT_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).expect("write include/lowbit.h");
            eprintln!("rewrote {}", path.display());
            return Ok(());
        }
        Err(format!(
            "include/lowbit.h is stale (differs from what cbindgen generates from \
             crates/lowbit-capi, first at {}).\nRegenerate it with:\n    \
             LOWBIT_BLESS=1 cargo test -p lowbit-capi --test header\nand commit the result.",
            first_difference(&committed, &generated)
        ))
    })
}

#[test]
fn committed_header_is_fresh() {
    if let Err(e) = check_fresh() {
        panic!("{e}");
    }
}

/// The value of `#define NAME value` in the header text.
fn define<'a>(header: &'a str, name: &str) -> &'a str {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the header defines {name}"))
        .trim()
}

#[test]
fn version_macros_function_and_cargo_agree() {
    let _ = check_fresh();
    let header = std::fs::read_to_string(header_path()).expect("read include/lowbit.h");
    let num = |name: &str| -> u32 {
        define(&header, name)
            .parse()
            .unwrap_or_else(|e| panic!("{name} is a number: {e}"))
    };
    let (major, minor, patch) = (
        num("LOWBIT_VERSION_MAJOR"),
        num("LOWBIT_VERSION_MINOR"),
        num("LOWBIT_VERSION_PATCH"),
    );
    let cargo: Vec<u32> = env!("CARGO_PKG_VERSION")
        .split(['.', '-', '+'])
        .take(3)
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(
        vec![major, minor, patch],
        cargo,
        "header macros vs Cargo.toml"
    );
    assert_eq!(
        define(&header, "LOWBIT_VERSION_STRING"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
    // The composite macro is the documented formula over the component macros (the C
    // test evaluates it with a real compiler and compares it with lowbit_version()).
    let composite = header
        .split("#define LOWBIT_VERSION \\\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("the header defines LOWBIT_VERSION");
    assert_eq!(
        composite.trim(),
        "(LOWBIT_VERSION_MAJOR * 10000UL + LOWBIT_VERSION_MINOR * 100UL + LOWBIT_VERSION_PATCH)"
    );
    assert!(
        minor < 100 && patch < 100,
        "the packed encoding needs 2 digits"
    );
    // lowbit_version() itself is checked against CARGO_PKG_VERSION by the unit tests
    // (src/tests.rs) and against LOWBIT_VERSION by the C test.
}

#[test]
fn header_path_is_the_committed_one() {
    assert!(Path::new(&header_path())
        .parent()
        .unwrap()
        .ends_with("include"));
}
