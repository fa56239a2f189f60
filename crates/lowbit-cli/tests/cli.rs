//! Runs the built `lowbit` binary: `info`, `bench` (JSON and table), `LOWBIT_ISA`,
//! help/version and usage errors. Shapes are tiny so the whole file takes seconds.

use std::collections::HashMap;
use std::process::{Command, Output};

use lowbit::Isa;
use lowbit_kernels::registry::select_int_gemv;

/// Runs `lowbit args...` with `LOWBIT_ISA` unset, or set to `isa_env`.
fn lowbit(args: &[&str], isa_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lowbit"));
    cmd.args(args).env_remove("LOWBIT_ISA");
    if let Some(v) = isa_env {
        cmd.env("LOWBIT_ISA", v);
    }
    cmd.output().expect("run lowbit")
}

/// Runs `lowbit args...`, asserts success, returns stdout.
fn ok_stdout(args: &[&str], isa_env: Option<&str>) -> String {
    let out = lowbit(args, isa_env);
    assert!(
        out.status.success(),
        "lowbit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A JSON value of the flat objects `lowbit bench --json` prints.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Num(f64),
    Null,
}

/// Parses `{"key":value,...}` with string (no escapes), number or null values.
fn parse_flat(line: &str) -> HashMap<String, Val> {
    fn string(s: &str) -> (String, &str) {
        let s = s.strip_prefix('"').expect("a string");
        let end = s.find('"').expect("closing quote");
        (s[..end].to_string(), &s[end + 1..])
    }
    let mut rest = line
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let mut obj = HashMap::new();
    while !rest.is_empty() {
        let (key, after) = string(rest);
        let after = after.strip_prefix(':').expect("colon");
        let (val, after) = if after.starts_with('"') {
            let (s, a) = string(after);
            (Val::Str(s), a)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let v = match &after[..end] {
                "null" => Val::Null,
                t => Val::Num(t.parse().unwrap_or_else(|_| panic!("number `{t}`"))),
            };
            (v, &after[end..])
        };
        assert!(obj.insert(key, val).is_none(), "duplicate key in {line}");
        rest = after.strip_prefix(',').unwrap_or(after);
    }
    obj
}

/// The result lines of a `bench --json` run, with every key checked present.
fn bench_json(args: &[&str]) -> Vec<HashMap<String, Val>> {
    let mut full = vec!["bench", "--json"];
    full.extend_from_slice(args);
    let lines: Vec<_> = ok_stdout(&full, None).lines().map(parse_flat).collect();
    for obj in &lines {
        for key in [
            "format",
            "isa",
            "kernel",
            "n",
            "k",
            "m",
            "threads",
            "cache",
            "reps",
            "median_us",
            "p10_us",
            "p90_us",
            "weight_gbps",
            "gflops",
            "max_rel_err",
            "vs_f32",
        ] {
            assert!(obj.contains_key(key), "missing `{key}` in {obj:?}");
        }
    }
    lines
}

fn num(obj: &HashMap<String, Val>, key: &str) -> f64 {
    match obj.get(key) {
        Some(Val::Num(v)) => *v,
        other => panic!("`{key}` is {other:?}, not a number"),
    }
}

fn text<'a>(obj: &'a HashMap<String, Val>, key: &str) -> &'a str {
    match obj.get(key) {
        Some(Val::Str(s)) => s,
        other => panic!("`{key}` is {other:?}, not a string"),
    }
}

/// The distinct INT-`bits` kernels over the available ISAs, as (kernel ISA, kernel
/// name), in the order `lowbit bench` runs them.
fn int_kernels(bits: u8) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for isa in Isa::available() {
        let k = select_int_gemv(isa, bits).expect("a kernel");
        let entry = (k.isa.name().to_string(), k.name.to_string());
        if !v.contains(&entry) {
            v.push(entry);
        }
    }
    v
}

#[test]
fn info_lists_features_isas_and_kernels() {
    let out = ok_stdout(&["info"], None);
    assert!(out.starts_with(&format!("lowbit {}\n", env!("CARGO_PKG_VERSION"))));
    for label in ["cpu features:", "best ISA:", "active ISA:", "available:"] {
        assert!(out.contains(label), "no `{label}` in:\n{out}");
    }
    let active = out.lines().find(|l| l.starts_with("active ISA:")).unwrap();
    assert!(active.contains(Isa::best().name()), "{active}");
    let header = out
        .lines()
        .find(|l| l.trim_start().starts_with("format"))
        .expect("kernel table header");
    for isa in Isa::available() {
        assert!(header.contains(isa.name()), "{header}");
    }
    for (_, kernel) in int_kernels(4) {
        assert!(out.contains(&kernel), "{kernel} not in:\n{out}");
    }
    assert!(out.lines().any(|l| l.trim_start().starts_with("int8 ")));
}

#[test]
fn info_honours_lowbit_isa() {
    let out = ok_stdout(&["info"], Some("scalar"));
    let active = out.lines().find(|l| l.starts_with("active ISA:")).unwrap();
    assert!(
        active.contains("scalar") && !active.contains("ERROR"),
        "{active}"
    );
}

#[test]
fn info_reports_a_bad_lowbit_isa_and_succeeds() {
    let out = lowbit(&["info"], Some("bogus"));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let active = stdout
        .lines()
        .find(|l| l.starts_with("active ISA:"))
        .unwrap();
    assert!(
        active.contains("ERROR") && active.contains("bogus"),
        "{active}"
    );
    assert!(
        stdout.contains("available:"),
        "info stopped early:\n{stdout}"
    );
}

#[test]
fn bench_json_has_one_line_per_kernel_plus_the_f32_baseline() {
    let lines = bench_json(&["--shape", "64x256", "--format", "int4_g32", "--reps", "3"]);
    let kernels = int_kernels(4);
    assert_eq!(lines.len(), 1 + kernels.len(), "{lines:?}");
    for obj in &lines {
        assert_eq!(
            (num(obj, "n"), num(obj, "k"), num(obj, "m")),
            (64.0, 256.0, 1.0)
        );
        assert_eq!((num(obj, "threads"), num(obj, "reps")), (1.0, 3.0));
        assert_eq!(text(obj, "cache"), "hot");
        assert!(num(obj, "weight_gbps") > 0.0 && num(obj, "gflops") > 0.0);
        assert!(num(obj, "p10_us") <= num(obj, "median_us"));
        assert!(num(obj, "median_us") <= num(obj, "p90_us"));
        assert!(num(obj, "vs_f32") > 0.0);
    }
    let base = &lines[0];
    assert_eq!(
        (text(base, "format"), text(base, "isa")),
        ("f32", "rustc-auto")
    );
    assert_eq!((num(base, "max_rel_err"), num(base, "vs_f32")), (0.0, 1.0));
    let got: Vec<(String, String)> = lines[1..]
        .iter()
        .map(|o| {
            assert_eq!(text(o, "format"), "int4_g32");
            let err = num(o, "max_rel_err");
            assert!(err > 0.0 && err < 0.2, "max_rel_err {err}");
            (text(o, "isa").to_string(), text(o, "kernel").to_string())
        })
        .collect();
    assert_eq!(got, kernels);
}

#[test]
fn bench_with_threads_matches_one_thread() {
    // 512 rows of K = 256 split into two row blocks on a 2-thread pool.
    let lines = bench_json(&[
        "--shape",
        "512x256",
        "--format",
        "int4_g32",
        "--threads",
        "1,2",
        "--reps",
        "3",
    ]);
    assert_eq!(lines.len(), 1 + 2 * int_kernels(4).len());
    assert_eq!(num(&lines[0], "threads"), 1.0);
    for pair in lines[1..].chunks(2) {
        assert_eq!(
            (num(&pair[0], "threads"), num(&pair[1], "threads")),
            (1.0, 2.0)
        );
        assert_eq!(text(&pair[0], "kernel"), text(&pair[1], "kernel"));
        // Results are bitwise identical for any thread count.
        assert_eq!(num(&pair[0], "max_rel_err"), num(&pair[1], "max_rel_err"));
    }
}

#[test]
fn bench_table_is_aligned_with_one_row_per_distinct_kernel() {
    let out = ok_stdout(
        &[
            "bench", "--shape", "16x128", "--format", "int8_row", "--reps", "3",
        ],
        None,
    );
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("format"))
        .collect();
    let kernels = int_kernels(8);
    assert_eq!(
        table.len(),
        2 + kernels.len(),
        "header, f32, kernels:\n{out}"
    );
    let width = table[0].len();
    assert!(table.iter().all(|l| l.len() == width), "misaligned:\n{out}");
    let got: Vec<(String, String)> = table[2..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells[0], "int8_row");
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect();
    assert_eq!(got, kernels);
}

#[test]
fn bench_rejects_an_isa_this_cpu_lacks() {
    if let Some(missing) = Isa::ALL.into_iter().find(|i| !i.is_available()) {
        let out = lowbit(&["bench", "--shape", "8x32", "--isa", missing.name()], None);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("not available"), "{err}");
    }
}

#[test]
fn help_and_version_succeed() {
    for args in [
        &["--help"][..],
        &["help"],
        &["-h"],
        &["help", "bench"],
        &["bench", "--help"],
    ] {
        let out = ok_stdout(args, None);
        assert!(out.contains("Usage: lowbit"), "{args:?}: {out}");
    }
    assert!(ok_stdout(&["bench", "--help"], None).contains("max_i |y_q[i] - y_f32[i]|"));
    assert_eq!(
        ok_stdout(&["--version"], None),
        format!("lowbit {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["--frobnicate"],
        &["bench", "--bogus"],
        &["bench", "--shape", "12"],
        &["bench", "--format", "int5_g32"],
        &["bench", "--shape", "8x48", "--format", "int4_g32"],
        &["info", "extra"],
    ] {
        let out = lowbit(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("error: ") && err.contains("lowbit --help"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
