//! Compiles the C and C++ programs of `csrc/` against the committed header and the
//! library this `cargo test` built, runs them, and checks their exit status and output.
//!
//! Finding the library: cargo builds this package's library target with all its crate
//! types (rlib, staticlib, cdylib) before the integration tests, into the directory the
//! test binary runs from (`<target>/<profile>/deps/`, next to `current_exe()`), so the
//! `liblowbit.a` and `liblowbit.so` there are the ones of this very build, whatever the
//! profile (`--release` too) and target directory (`CARGO_TARGET_DIR`). The uplifted
//! copies one directory up (from `cargo build`) are used only if those are missing.
//!
//! The tests skip (with a note) when the C compiler does not produce code for the
//! architecture under test (for example when the test binary runs under qemu), when
//! there is no C compiler (except in CI, where that fails), or on systems other than
//! Linux (the static link flags below are Linux's). `CC` and `CXX` choose the compilers.
//!
//! On Linux `liblowbit.so` carries the SONAME `liblowbit.so.<major>` (build.rs), which is
//! the name a dynamically linked program asks the loader for; cargo writes no file of
//! that name, so the tests link it to the built library in their own directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// What `rustc --print native-static-libs` lists for liblowbit.a on Linux.
const STATIC_LINK_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

const C_FLAGS: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-Wstrict-prototypes",
    "-O2",
];

const CXX_FLAGS: &[&str] = &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-O2"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A compiler command from an environment variable (which may hold arguments) or a
/// default name.
fn tool(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Whether `compiler` targets the architecture these tests run on. A missing compiler
/// is a skip locally but a failure in CI (`CI` set), where .ci/run installs one.
fn compiler_matches(compiler: &[String]) -> Result<(), String> {
    let out = match Command::new(&compiler[0])
        .args(&compiler[1..])
        .arg("-dumpmachine")
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("`{}` not found in CI ({e})", compiler.join(" "))
        }
        Err(e) => return Err(format!("`{}` not found ({e})", compiler.join(" "))),
    };
    let machine = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let arch = std::env::consts::ARCH;
    if machine.starts_with(arch) {
        Ok(())
    } else {
        Err(format!(
            "`{}` targets `{machine}`, these tests run on {arch}",
            compiler.join(" ")
        ))
    }
}

struct Env {
    cc: Vec<String>,
    cxx: Vec<String>,
    lib_dir: PathBuf,
    out_dir: PathBuf,
    /// Holds `liblowbit.so.<major>`, a link to `lib_dir/liblowbit.so`.
    soname_dir: PathBuf,
}

/// The SONAME build.rs gives `liblowbit.so`.
fn soname() -> String {
    format!("liblowbit.so.{}", env!("CARGO_PKG_VERSION_MAJOR"))
}

/// The toolchain and paths, or `None` (with a note printed) when the tests must skip.
fn env() -> Option<Env> {
    if !cfg!(target_os = "linux") {
        eprintln!("NOTE: C ABI tests skipped: only set up for Linux");
        return None;
    }
    let (cc, cxx) = (tool("CC", "cc"), tool("CXX", "c++"));
    for c in [&cc, &cxx] {
        if let Err(why) = compiler_matches(c) {
            eprintln!("NOTE: C ABI tests skipped: {why}");
            return None;
        }
    }
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("the test binary has a directory")
        .to_path_buf();
    let lib_dir = [deps.clone(), deps.join("..")]
        .into_iter()
        .find(|d| d.join("liblowbit.a").exists() && d.join("liblowbit.so").exists())
        .unwrap_or_else(|| {
            panic!(
                "liblowbit.a and liblowbit.so not found in {} or its parent: cargo should \
                 have built them with this test (crate-type staticlib + cdylib)",
                deps.display()
            )
        });
    let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capi-{stem}"));
    std::fs::create_dir_all(&out_dir).expect("create the output directory");
    let soname_dir = out_dir.join("lib");
    // Once per process: the tests run in parallel and must not see the link missing.
    static LINKED: OnceLock<()> = OnceLock::new();
    LINKED.get_or_init(|| {
        std::fs::create_dir_all(&soname_dir).expect("create the SONAME directory");
        let link = soname_dir.join(soname());
        // Replace a link left by an earlier run (the library may have moved).
        let _ = std::fs::remove_file(&link);
        symlink(&lib_dir.join("liblowbit.so"), &link)
            .unwrap_or_else(|e| panic!("linking {} to the library: {e}", link.display()));
    });
    Some(Env {
        cc,
        cxx,
        lib_dir,
        out_dir,
        soname_dir,
    })
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Never called: [`env`] skips the tests on systems other than Linux.
#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}

/// Runs a command, failing the test with its output unless it exits 0.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

enum Link {
    Static,
    Dynamic,
}

/// Compiles one source file of `csrc/` into an executable and returns its path.
fn build(env: &Env, compiler: &[String], flags: &[&str], source: &str, link: Link) -> PathBuf {
    let src = repo().join("csrc").join(source);
    let suffix = match link {
        Link::Static => "static",
        Link::Dynamic => "dynamic",
    };
    let exe = env
        .out_dir
        .join(format!("{}-{suffix}", source.replace('.', "_")));
    let mut cmd = Command::new(&compiler[0]);
    cmd.args(&compiler[1..])
        .args(flags)
        .arg("-I")
        .arg(repo().join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Static => {
            cmd.arg(env.lib_dir.join("liblowbit.a"))
                .args(STATIC_LINK_LIBS);
        }
        Link::Dynamic => {
            // With both liblowbit.a and liblowbit.so in the directory, -l picks the .so.
            cmd.arg("-L").arg(&env.lib_dir).arg("-llowbit").arg("-lm");
        }
    }
    run(&mut cmd, &format!("compiling {source}"));
    exe
}

fn exec(env: &Env, exe: &Path) -> String {
    let mut cmd = Command::new(exe);
    cmd.env("LD_LIBRARY_PATH", &env.soname_dir);
    let out = run(&mut cmd, &format!("running {}", exe.display()));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn c_example_builds_and_runs() {
    let Some(env) = env() else { return };
    let exe = build(&env, &env.cc, C_FLAGS, "example.c", Link::Static);
    let out = exec(&env, &exe);
    assert!(out.starts_with("lowbit "), "{out}");
    assert!(out.contains("running on: "), "{out}");
    assert_eq!(out.matches("y[").count(), 4, "{out}");
}

#[test]
fn c_test_static() {
    let Some(env) = env() else { return };
    let exe = build(&env, &env.cc, C_FLAGS, "test_capi.c", Link::Static);
    let out = exec(&env, &exe);
    assert!(out.contains(" 0 failures"), "{out}");
}

#[test]
fn c_test_dynamic() {
    let Some(env) = env() else { return };
    let exe = build(&env, &env.cc, C_FLAGS, "test_capi.c", Link::Dynamic);
    // The library carries its SONAME and the executable asks for it (when readelf is
    // there to tell).
    let dynamic = |file: &Path| {
        Command::new("readelf")
            .arg("-d")
            .arg(file)
            .output()
            .ok()
            .filter(|d| d.status.success())
            .map(|d| String::from_utf8_lossy(&d.stdout).into_owned())
    };
    let want = format!("[{}]", soname());
    if let Some(lib) = dynamic(&env.lib_dir.join("liblowbit.so")) {
        let line = lib.lines().find(|l| l.contains("(SONAME)"));
        assert!(line.is_some_and(|l| l.contains(&want)), "{lib}");
    }
    if let Some(exe) = dynamic(&exe) {
        let line = exe.lines().find(|l| l.contains("liblowbit"));
        assert!(
            line.is_some_and(|l| l.contains("(NEEDED)") && l.contains(&want)),
            "{exe}"
        );
    }
    let out = exec(&env, &exe);
    assert!(out.contains(" 0 failures"), "{out}");
}

#[test]
fn cpp_includes_header_and_links() {
    let Some(env) = env() else { return };
    let exe = build(&env, &env.cxx, CXX_FLAGS, "test_cpp.cpp", Link::Static);
    let out = exec(&env, &exe);
    assert!(out.starts_with("C++: lowbit "), "{out}");
}
