//! Runs the built `lowbit` binary: `info`, `bench` (JSON, table, Markdown, SVG),
//! `roofline`, `LOWBIT_ISA`, help/version and usage errors. Shapes are tiny and the
//! DRAM probe small (`--dram-mib 8`) so the whole file takes seconds. (`eval` is in
//! `tests/eval.rs`.)

use std::collections::HashMap;
use std::process::{Command, Output};

use lowbit::{Format, Isa, Precision};

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

/// The keys every result line must have (the issue's list).
const RESULT_KEYS: [&str; 12] = [
    "format",
    "isa",
    "n",
    "k",
    "m",
    "threads",
    "cache",
    "median_us",
    "weight_gbps",
    "gflops",
    "roofline_pct",
    "max_rel_err",
];

/// The other keys result lines carry.
const EXTRA_KEYS: [&str; 10] = [
    "kind",
    "act",
    "kernel",
    "reps",
    "p10_us",
    "p90_us",
    "weight_bytes",
    "ceiling",
    "ceiling_gbps",
    "vs_f32",
];

/// A parsed `bench --json` run.
struct Run {
    machine: HashMap<String, Val>,
    bandwidth: Vec<HashMap<String, Val>>,
    results: Vec<HashMap<String, Val>>,
    summary: HashMap<String, Val>,
}

/// Runs `lowbit bench --json --dram-mib 8 args...` and checks the line kinds, their
/// order and the keys of every result line.
fn bench_json(args: &[&str]) -> Run {
    let mut full = vec!["bench", "--json", "--dram-mib", "8"];
    full.extend_from_slice(args);
    let lines: Vec<_> = ok_stdout(&full, None).lines().map(parse_flat).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| text(l, "kind")).collect();
    assert_eq!(kinds[0], "machine");
    assert_eq!(*kinds.last().unwrap(), "summary");
    let nb = kinds.iter().filter(|k| **k == "bandwidth").count();
    assert!(kinds[1..=nb].iter().all(|k| *k == "bandwidth"), "{kinds:?}");
    assert!(kinds[nb + 1..kinds.len() - 1]
        .iter()
        .all(|k| *k == "result"));
    for obj in &lines[nb + 1..lines.len() - 1] {
        for key in RESULT_KEYS.iter().chain(&EXTRA_KEYS) {
            assert!(obj.contains_key(*key), "missing `{key}` in {obj:?}");
        }
        assert_eq!(
            obj.len(),
            RESULT_KEYS.len() + EXTRA_KEYS.len(),
            "unexpected keys in {obj:?}"
        );
    }
    let summary = lines.last().unwrap().clone();
    assert_eq!(num(&summary, "results") as usize, lines.len() - nb - 2);
    Run {
        machine: lines[0].clone(),
        bandwidth: lines[1..=nb].to_vec(),
        results: lines[nb + 1..lines.len() - 1].to_vec(),
        summary,
    }
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

/// The distinct f32-activation kernels of symmetric INT-`bits` with groups of 32 over
/// the available ISAs, as (kernel ISA, kernel name), in the order `lowbit bench` runs
/// them.
fn int_kernels(bits: u8) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let f = Format::int(bits, lowbit::Group::Size(32), false);
    for isa in Isa::available() {
        let k = lowbit::gemv_kernel(f, 64, isa, Precision::F32).expect("a kernel");
        let entry = (k.isa.name().to_string(), k.name.to_string());
        if !v.contains(&entry) {
            v.push(entry);
        }
    }
    v
}

/// The distinct kernels of `format` over the available ISAs with f32 and A8
/// activations, as (act, kernel ISA, kernel name), in the order `lowbit bench` runs
/// them (ISA-major; an A8 request that runs an f32 kernel adds nothing).
fn kernels(format: &str) -> Vec<(String, String, String)> {
    let f = Format::parse(format).unwrap();
    let mut v: Vec<(String, String, String)> = Vec::new();
    for isa in Isa::available() {
        for (act, p) in [("f32", Precision::F32), ("a8", Precision::AllowA8)] {
            let k = lowbit::gemv_kernel(f, 64, isa, p).expect("a kernel");
            if (k.precision == Precision::AllowA8) != (act == "a8") || v.iter().any(|e| e.2 == k.name)
            {
                continue;
            }
            v.push((act.into(), k.isa.name().into(), k.name.into()));
        }
    }
    v
}

/// (act, isa, kernel) of a result line.
fn kernel_of(o: &HashMap<String, Val>) -> (String, String, String) {
    (
        text(o, "act").into(),
        text(o, "isa").into(),
        text(o, "kernel").into(),
    )
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
    // The A8 table names every integer-dot kernel that runs.
    let a8 = out
        .split("with A8 activations")
        .nth(1)
        .expect("an A8 kernel table");
    for f in ["int4_g32", "int8_row"] {
        for (act, _, kernel) in kernels(f) {
            if act == "a8" {
                assert!(a8.contains(&kernel), "{kernel} not in:\n{a8}");
            }
        }
    }
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
fn bench_json_has_every_kernel_hot_and_cold_against_measured_ceilings() {
    let run = bench_json(&[
        "--shape",
        "64x256",
        "--format",
        "int4_g32",
        "--threads",
        "1",
        "--cache",
        "hot,cold",
        "--reps",
        "3",
    ]);
    assert_eq!(text(&run.machine, "arch"), std::env::consts::ARCH);
    // One thread: L2, L3 (where the CPU has one) and DRAM.
    assert!(
        (2..=3).contains(&run.bandwidth.len()),
        "{:?}",
        run.bandwidth
    );
    for b in &run.bandwidth {
        assert_eq!(num(b, "threads"), 1.0);
        assert!(num(b, "gbps") > 0.0 && num(b, "p10_gbps") <= num(b, "p90_gbps"));
    }
    let levels: Vec<&str> = run.bandwidth.iter().map(|b| text(b, "level")).collect();
    assert_eq!((levels[0], *levels.last().unwrap()), ("l2", "dram"));

    let kernels = kernels("int4_g32");
    assert_eq!(run.results.len(), 2 * (1 + kernels.len()));
    assert_eq!(num(&run.summary, "results") as usize, run.results.len());
    for obj in &run.results {
        assert_eq!(
            (num(obj, "n"), num(obj, "k"), num(obj, "m")),
            (64.0, 256.0, 1.0)
        );
        assert_eq!((num(obj, "threads"), num(obj, "reps")), (1.0, 3.0));
        assert!(num(obj, "weight_gbps") > 0.0 && num(obj, "gflops") > 0.0);
        assert!(num(obj, "roofline_pct") > 0.0, "{obj:?}");
        assert!(num(obj, "p10_us") <= num(obj, "median_us"));
        assert!(num(obj, "median_us") <= num(obj, "p90_us"));
        assert!(num(obj, "vs_f32") > 0.0);
        // roofline_pct is weight_gbps against the ceiling named.
        let pct = num(obj, "weight_gbps") / num(obj, "ceiling_gbps") * 100.0;
        assert!(
            (pct / num(obj, "roofline_pct") - 1.0).abs() < 1e-3,
            "{obj:?}"
        );
        match text(obj, "cache") {
            "cold" => assert_eq!(text(obj, "ceiling"), "dram"),
            // 9 KB of quantized weights: in L2.
            "hot" if text(obj, "format") != "f32" => {
                assert_eq!(text(obj, "ceiling"), "l2", "{obj:?}")
            }
            "hot" => {}
            other => panic!("cache {other}"),
        }
    }
    for (b, cache) in [(&run.results[0], "hot"), (&run.results[1], "cold")] {
        assert_eq!(
            (text(b, "format"), text(b, "isa"), text(b, "cache")),
            ("f32", "rustc-auto", cache)
        );
        assert_eq!((num(b, "max_rel_err"), num(b, "vs_f32")), (0.0, 1.0));
    }
    let mut got = Vec::new();
    for pair in run.results[2..].chunks(2) {
        assert_eq!(
            (text(&pair[0], "cache"), text(&pair[1], "cache")),
            ("hot", "cold")
        );
        assert_eq!(kernel_of(&pair[0]), kernel_of(&pair[1]));
        for o in pair {
            assert_eq!(text(o, "format"), "int4_g32");
            let err = num(o, "max_rel_err");
            assert!(err > 0.0 && err < 0.2, "max_rel_err {err}");
        }
        got.push(kernel_of(&pair[0]));
    }
    assert_eq!(got, kernels);
}

#[test]
fn bench_threads_and_batches() {
    // 512 rows of K = 256 split into row blocks on a 2-thread pool; m = 3 runs gemm_with.
    let run = bench_json(&[
        "--shape",
        "512x256",
        "--format",
        "int4_g32",
        "--threads",
        "1,2",
        "--batch",
        "1,3",
        "--cache",
        "hot",
        "--act",
        "f32",
        "--reps",
        "3",
    ]);
    let threads: Vec<f64> = run.bandwidth.iter().map(|b| num(b, "threads")).collect();
    assert!(
        threads.contains(&1.0) && threads.contains(&2.0),
        "{threads:?}"
    );
    let kernels = int_kernels(4);
    // Baselines for m = 1 and 3, then per kernel: m x threads.
    assert_eq!(run.results.len(), 2 + 4 * kernels.len());
    assert_eq!(
        (num(&run.results[0], "m"), num(&run.results[1], "m")),
        (1.0, 3.0)
    );
    for o in &run.results {
        let m = num(o, "m");
        let gflops = 2.0 * m * 512.0 * 256.0 / (num(o, "median_us") * 1e3);
        assert!((gflops / num(o, "gflops") - 1.0).abs() < 1e-3, "{o:?}");
        assert_eq!(text(o, "act"), "f32");
    }
    for quad in run.results[2..].chunks(4) {
        let mt: Vec<(f64, f64)> = quad
            .iter()
            .map(|o| (num(o, "m"), num(o, "threads")))
            .collect();
        assert_eq!(mt, [(1.0, 1.0), (1.0, 2.0), (3.0, 1.0), (3.0, 2.0)]);
        // Results are bitwise identical for any thread count.
        assert_eq!(num(&quad[0], "max_rel_err"), num(&quad[1], "max_rel_err"));
        assert!(num(&quad[2], "max_rel_err") < 0.2);
    }
}

#[test]
fn default_plan_runs_cold_on_the_first_shape_and_threads_on_the_best_isa() {
    let run = bench_json(&[
        "--shape",
        "64x256,32x128",
        "--format",
        "int4_g32,int8_row",
        "--reps",
        "2",
    ]);
    let hw = std::thread::available_parallelism().map_or(1, |n| n.get());
    let best = *Isa::available().last().unwrap();
    let mut counts: HashMap<(usize, String), usize> = HashMap::new();
    for o in &run.results {
        let n = num(o, "n") as usize;
        *counts.entry((n, text(o, "cache").to_string())).or_default() += 1;
        let t = num(o, "threads") as usize;
        assert!(t == 1 || t == hw, "{o:?}");
        if t > 1 {
            let f = Format::parse(text(o, "format")).unwrap();
            let p = match text(o, "act") {
                "a8" => Precision::AllowA8,
                _ => Precision::F32,
            };
            let on_best = lowbit::gemv_kernel(f, num(o, "k") as usize, best, p).unwrap();
            assert_eq!(text(o, "kernel"), on_best.name);
        }
    }
    let count = |n: usize, cache: &str| counts.get(&(n, cache.to_string())).copied();
    assert!(count(64, "cold").unwrap() > 1);
    assert_eq!(count(32, "cold"), None);
    assert_eq!(count(64, "hot"), count(32, "hot"));
}

#[test]
fn bench_table_and_markdown() {
    let args = [
        "bench",
        "--shape",
        "16x128",
        "--format",
        "int8_row",
        "--reps",
        "2",
        "--threads",
        "1",
        "--cache",
        "hot",
        "--dram-mib",
        "8",
    ];
    let out = ok_stdout(&args, None);
    assert!(
        out.contains("read bandwidth") && out.contains("caches: L2"),
        "{out}"
    );
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("format"))
        .take_while(|l| !l.is_empty())
        .collect();
    // Every distinct kernel with f32 activations and, where one runs, with A8.
    let kernels = kernels("int8_row");
    assert_eq!(
        table.len(),
        2 + kernels.len(),
        "header, f32, kernels:\n{out}"
    );
    let width = table[0].len();
    assert!(table.iter().all(|l| l.len() == width), "misaligned:\n{out}");
    let got: Vec<(String, String, String)> = table[2..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells[0], "int8_row");
            (cells[1].into(), cells[2].into(), cells[3].into())
        })
        .collect();
    assert_eq!(got, kernels);
    assert!(out.trim_end().ends_with(" s") && out.contains(" results in "));

    let mut md_args = args.to_vec();
    md_args.push("--markdown");
    let md = ok_stdout(&md_args, None);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(
        rows.iter().any(|l| l.starts_with("| threads | level |")),
        "{md}"
    );
    assert!(
        rows.iter().any(|l| l.starts_with("| format | act |")),
        "{md}"
    );
    assert_eq!(
        rows.iter()
            .filter(|l| l.starts_with("| int8_row |"))
            .count(),
        kernels.len()
    );
}

#[test]
fn bench_svg_and_roofline_from_json() {
    let dir = std::env::temp_dir().join(format!("lowbit-cli-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("bench.svg");
    let args = [
        "bench",
        "--shape",
        "64x256",
        "--format",
        "int4_g32",
        "--reps",
        "2",
        "--threads",
        "1",
        "--json",
        "--dram-mib",
        "8",
        "--svg",
        svg.to_str().unwrap(),
    ];
    let out = ok_stdout(&args, None);
    let results = out
        .lines()
        .filter(|l| l.contains(r#""kind":"result""#))
        .count();
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    assert_eq!(chart.matches(r#"class="bar""#).count(), results);
    for label in ["L2 1T ", "DRAM 1T ", "weight GB/s"] {
        assert!(chart.contains(label), "no `{label}` in the chart");
    }
    assert_eq!(chart.matches('<').count(), chart.matches('>').count());

    let jsonl = dir.join("bench.jsonl");
    std::fs::write(&jsonl, &out).unwrap();
    let svg2 = dir.join("roofline.svg");
    let from = |input: &std::path::Path| {
        lowbit(
            &[
                "roofline",
                "--from",
                input.to_str().unwrap(),
                "--svg",
                svg2.to_str().unwrap(),
            ],
            None,
        )
    };
    assert!(from(&jsonl).status.success());
    let chart2 = std::fs::read_to_string(&svg2).unwrap();
    assert_eq!(chart2.matches(r#"class="bar""#).count(), results);
    // The same chart, drawn from the same lines.
    assert_eq!(chart, chart2);
    // Not JSON lines: a run-time error.
    let bad = from(&svg);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"));
    std::fs::remove_dir_all(&dir).unwrap();
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
        &["help", "eval"],
        &["roofline", "--help"],
    ] {
        let out = ok_stdout(args, None);
        assert!(out.contains("Usage: lowbit"), "{args:?}: {out}");
    }
    assert!(ok_stdout(&["bench", "--help"], None).contains("max_i |y_q[i] - y_f32[i]|"));
    assert!(ok_stdout(&["eval", "--help"], None).contains("--safetensors FILE"));
    assert!(ok_stdout(&["help", "roofline"], None).contains("--from"));
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
        &["bench", "--cache", "lukewarm"],
        &["eval"],
        &["roofline", "--svg", "x.svg"],
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
