//! Runs the built `lowbit` binary: `info`, `bench` (JSON, table, Markdown, SVG),
//! `roofline`, `LOWBIT_ISA`, help/version and usage errors. Shapes are tiny and the
//! bandwidth ladder short (`--dram-mib 8`) so the whole file takes seconds. (`eval` is
//! in `tests/eval.rs`; how levels are found in a ladder is unit-tested with recorded
//! ladders in `src/bandwidth.rs`, since a live ladder depends on the machine.)

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
const EXTRA_KEYS: [&str; 11] = [
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
    "note",
];

/// A parsed `bench --json` run.
struct Run {
    machine: HashMap<String, Val>,
    ladder: Vec<HashMap<String, Val>>,
    bandwidth: Vec<HashMap<String, Val>>,
    results: Vec<HashMap<String, Val>>,
    summary: HashMap<String, Val>,
}

/// Runs `lowbit bench --json --dram-mib 8 args...` and checks the line kinds, their
/// order, the keys of every result line, and that ladder and levels agree.
fn bench_json(args: &[&str]) -> Run {
    let mut full = vec!["bench", "--json", "--dram-mib", "8"];
    full.extend_from_slice(args);
    let lines: Vec<_> = ok_stdout(&full, None).lines().map(parse_flat).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| text(l, "kind")).collect();
    assert_eq!(kinds[0], "machine");
    assert_eq!(*kinds.last().unwrap(), "summary");
    // The ladder's sizes, then its levels, then remarks (if any), then the results.
    let order = |k: &str| match k {
        "ladder" => 0,
        "bandwidth" => 1,
        "remark" => 2,
        "result" => 3,
        other => panic!("unexpected kind {other}"),
    };
    let middle: Vec<i32> = kinds[1..kinds.len() - 1].iter().map(|k| order(k)).collect();
    assert!(middle.windows(2).all(|w| w[0] <= w[1]), "{kinds:?}");
    let of = |kind: &str| -> Vec<HashMap<String, Val>> {
        lines
            .iter()
            .filter(|l| text(l, "kind") == kind)
            .cloned()
            .collect()
    };
    let (ladder, bandwidth, results) = (of("ladder"), of("bandwidth"), of("result"));
    for r in of("remark") {
        assert!(num(&r, "threads") >= 1.0 && !text(&r, "text").is_empty());
    }
    check_ladder(&ladder, &bandwidth);
    for obj in &results {
        for key in RESULT_KEYS.iter().chain(&EXTRA_KEYS) {
            assert!(obj.contains_key(*key), "missing `{key}` in {obj:?}");
        }
        assert_eq!(
            obj.len(),
            RESULT_KEYS.len() + EXTRA_KEYS.len(),
            "unexpected keys in {obj:?}"
        );
    }
    check_filing(&results, &bandwidth);
    let summary = lines.last().unwrap().clone();
    assert_eq!(num(&summary, "results") as usize, results.len());
    Run {
        machine: lines[0].clone(),
        ladder,
        bandwidth,
        results,
        summary,
    }
}

/// Per thread count: sizes from 64 KiB x T up to 8 MiB, growing by at most 1.5x; levels
/// fastest first and DRAM last, each made of the sizes filed under it.
fn check_ladder(ladder: &[HashMap<String, Val>], bandwidth: &[HashMap<String, Val>]) {
    let mut threads: Vec<f64> = ladder.iter().map(|p| num(p, "threads")).collect();
    threads.dedup();
    assert!(!threads.is_empty());
    for t in threads {
        let points: Vec<_> = ladder.iter().filter(|p| num(p, "threads") == t).collect();
        let bytes: Vec<f64> = points.iter().map(|p| num(p, "bytes")).collect();
        assert_eq!(bytes[0], 65536.0 * t);
        assert_eq!(*bytes.last().unwrap(), 8.0 * 1048576.0);
        assert!(
            bytes.windows(2).all(|w| w[1] > w[0] && w[1] <= 1.5 * w[0]),
            "{bytes:?}"
        );
        for p in &points {
            assert!(num(p, "gbps") > 0.0 && num(p, "p10_gbps") <= num(p, "p90_gbps"));
            assert!(num(p, "samples") >= 15.0);
        }
        let levels: Vec<_> = bandwidth
            .iter()
            .filter(|b| num(b, "threads") == t)
            .collect();
        let names: Vec<&str> = levels.iter().map(|b| text(b, "level")).collect();
        assert_eq!(names.last(), Some(&"dram"), "{names:?}");
        assert!(
            ["l2", "l3", "dram"]
                .iter()
                .filter(|l| names.contains(l))
                .count()
                == names.len(),
            "{names:?}"
        );
        for b in &levels {
            let level = text(b, "level");
            assert!(num(b, "gbps") > 0.0 && num(b, "p10_gbps") <= num(b, "p90_gbps"));
            assert!(!text(b, "found").is_empty());
            let mine: Vec<f64> = points
                .iter()
                .filter(|p| p.get("level") == Some(&Val::Str(level.into())))
                .map(|p| num(p, "bytes"))
                .collect();
            assert_eq!(mine.len() as f64, num(b, "points"), "{b:?}");
            assert_eq!(mine[0], num(b, "min_bytes"));
            assert_eq!(*mine.last().unwrap(), num(b, "max_bytes"));
            match level {
                "dram" => assert_eq!(b.get("limit_bytes"), Some(&Val::Null)),
                _ => assert!(num(b, "limit_bytes") >= num(b, "max_bytes")),
            }
        }
    }
}

/// Every result is filed under a level its thread count found: cold under DRAM, hot
/// under the first level whose limit holds its weight bytes; a result above that
/// ceiling carries a note (and a hot one may be re-filed under a faster level), and
/// no result is above its ceiling without one.
fn check_filing(results: &[HashMap<String, Val>], bandwidth: &[HashMap<String, Val>]) {
    for r in results {
        let levels: Vec<_> = bandwidth
            .iter()
            .filter(|b| num(b, "threads") == num(r, "threads"))
            .collect();
        let by_size = if text(r, "cache") == "cold" {
            "dram"
        } else {
            let bytes = num(r, "weight_bytes");
            let holds = |b: &&&HashMap<String, Val>| match b.get("limit_bytes") {
                Some(Val::Num(limit)) => bytes <= *limit,
                _ => true,
            };
            text(levels.iter().find(holds).unwrap(), "level")
        };
        let sized = levels.iter().find(|b| text(b, "level") == by_size).unwrap();
        let filed = text(r, "ceiling");
        let filed_gbps = levels
            .iter()
            .find(|b| text(b, "level") == filed)
            .map(|b| num(b, "gbps"))
            .unwrap_or_else(|| panic!("{r:?} is filed under a level not found"));
        assert!((num(r, "ceiling_gbps") / filed_gbps - 1.0).abs() < 1e-5);
        match r.get("note") {
            Some(Val::Null) => {
                assert_eq!(filed, by_size, "{r:?}");
                assert!(num(r, "roofline_pct") <= 100.0 + 1e-3, "{r:?}");
            }
            Some(Val::Str(note)) => {
                assert!(
                    num(r, "weight_gbps") > num(sized, "gbps") * (1.0 - 1e-5),
                    "{r:?}"
                );
                assert!(
                    filed == by_size || note.starts_with("re-filed from"),
                    "{r:?}"
                );
            }
            other => panic!("note is {other:?}"),
        }
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
            if (k.precision == Precision::AllowA8) != (act == "a8")
                || v.iter().any(|e| e.2 == k.name)
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
    assert_eq!(text(&run.machine, "levels_from"), "ladder");
    // One thread: one ladder, and one to three levels found in it.
    assert!(
        (1..=3).contains(&run.bandwidth.len()),
        "{:?}",
        run.bandwidth
    );
    assert!(run.ladder.len() >= 10);
    for b in run.ladder.iter().chain(&run.bandwidth) {
        assert_eq!(num(b, "threads"), 1.0);
    }

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
            // 9 KB of quantized weights: in the fastest level found.
            "hot" if text(obj, "format") != "f32" && obj["note"] == Val::Null => {
                assert_eq!(
                    text(obj, "ceiling"),
                    text(&run.bandwidth[0], "level"),
                    "{obj:?}"
                )
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
    for heading in ["read bandwidth ladder", "caches: L2", "levels (plateaus"] {
        assert!(out.contains(heading), "no `{heading}` in:\n{out}");
    }
    assert!(out
        .lines()
        .any(|l| l.trim_start().starts_with("buffer  1T GB/s")));
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
    // Aligned up to the last column, the note (empty unless the result is above its
    // ceiling).
    let width = table[0].find("  note").expect("a note column");
    assert!(
        table
            .iter()
            .all(|l| l.len() >= width && !l[..width].ends_with(' ')),
        "misaligned:\n{out}"
    );
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
        rows.iter()
            .any(|l| l.starts_with("| threads | level | sizes |")),
        "{md}"
    );
    assert!(
        rows.iter().any(|l| l.starts_with("| buffer | 1T GB/s |")),
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
    for label in ["DRAM 1T ", "weight GB/s", "read-bandwidth ladder"] {
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
