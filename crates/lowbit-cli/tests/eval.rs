//! `lowbit eval` on small safetensors files this test writes itself: per-tensor and
//! summary errors, skipped tensors, filters, and malformed files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `lowbit args...`.
fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .env_remove("LOWBIT_ISA")
        .output()
        .expect("run lowbit")
}

/// A fresh directory for this test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lowbit-eval-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One tensor: name, dtype, shape, little-endian data.
type Tensor = (&'static str, &'static str, Vec<usize>, Vec<u8>);

/// Writes a safetensors file: 8-byte LE header length, JSON header (padded with
/// spaces to a multiple of 8), data.
fn write_safetensors(path: &Path, tensors: &[Tensor]) {
    let mut header = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        header += &format!(
            r#","{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{},{}]}}"#,
            dims.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend_from_slice(bytes);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    std::fs::write(path, file).unwrap();
}

/// Roughly normal values (sum of four uniforms), deterministic.
fn weights(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..len)
        .map(|_| (uniform() + uniform() + uniform() + uniform()) * 0.05)
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| lowbit::f16::from_f32(x).to_bits().to_le_bytes())
        .collect()
}

/// The test model: two F32 matrices (K = 128 and K = 64), an F16 matrix, a 1-D bias
/// and an integer tensor.
fn model(path: &Path) {
    write_safetensors(
        path,
        &[
            (
                "model.a.weight",
                "F32",
                vec![64, 128],
                f32_bytes(&weights(64 * 128, 1)),
            ),
            (
                "model.b.weight",
                "F32",
                vec![32, 64],
                f32_bytes(&weights(32 * 64, 2)),
            ),
            (
                "model.c.weight",
                "F16",
                vec![16, 128],
                f16_bytes(&weights(16 * 128, 3)),
            ),
            ("model.c.bias", "F32", vec![16], f32_bytes(&weights(16, 4))),
            ("model.ids", "I64", vec![2, 2], vec![0u8; 32]),
        ],
    );
}

/// Parses `{"key":value,...}` with string (no escapes) or number values.
fn parse_flat(line: &str) -> HashMap<String, String> {
    let body = line
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let mut obj = HashMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let r = rest.strip_prefix('"').unwrap();
        let end = r.find('"').unwrap();
        let key = r[..end].to_string();
        let r = r[end + 1..].strip_prefix(':').unwrap();
        let (val, r) = if let Some(r) = r.strip_prefix('"') {
            let end = r.find('"').unwrap();
            (r[..end].to_string(), &r[end + 1..])
        } else {
            let end = r.find(',').unwrap_or(r.len());
            (r[..end].to_string(), &r[end..])
        };
        obj.insert(key, val);
        rest = r.strip_prefix(',').unwrap_or(r);
    }
    obj
}

fn stdout_ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn eval_json_reports_every_tensor_and_format() {
    let dir = temp_dir("json");
    let path = dir.join("model.safetensors");
    model(&path);
    let out = stdout_ok(lowbit(&[
        "eval",
        "--safetensors",
        path.to_str().unwrap(),
        "--json",
    ]));
    let lines: Vec<HashMap<String, String>> = out.lines().map(parse_flat).collect();
    let of_kind = |k: &'static str| lines.iter().filter(move |l| l["kind"] == k);

    // a and c in all fifteen formats; b (K = 64) only in the group-16, group-32 and
    // per-row ones (int4_g32, int4_row, ovp4_row, int8_row, int2_g32, fp4_g32, mxfp4,
    // nvfp4, fp8_e4m3_g32, fp6_e2m3_g32, fp6_e3m2_g32, mxfp6_e2m3).
    let evals: Vec<_> = of_kind("eval").collect();
    assert_eq!(evals.len(), 15 + 12 + 15, "{out}");
    let err = |tensor: &str, format: &str, key: &str| -> f64 {
        evals
            .iter()
            .find(|l| l["tensor"] == tensor && l["format"] == format)
            .unwrap_or_else(|| panic!("no {tensor} {format}"))[key]
            .parse()
            .unwrap()
    };
    for t in ["model.a.weight", "model.b.weight", "model.c.weight"] {
        let (w8, w4, w2) = (
            err(t, "int8_row", "weight_rel_rms"),
            err(t, "int4_g32", "weight_rel_rms"),
            err(t, "int2_g32", "weight_rel_rms"),
        );
        assert!(w8 > 0.0 && w8 < 0.02, "{t} int8 {w8}");
        assert!(w4 > w8 && w4 < 0.2, "{t} int4 {w4}");
        assert!(w2 > 0.2 && w2 > w4, "{t} int2 {w2}");
        let (g8, g2) = (
            err(t, "int8_row", "gemv_rel_rms"),
            err(t, "int2_g32", "gemv_rel_rms"),
        );
        assert!(g8 < 0.03 && g2 > 0.1, "{t} gemv int8 {g8} int2 {g2}");
        assert!(err(t, "int2_g32", "bits_per_weight") < err(t, "int8_row", "bits_per_weight"));
    }
    // The minifloats: six bits beat four, E2M3's mantissa beats E3M2's range on these
    // uniform weights, and the bits per weight count the scales (f16, or one E8M0 or E4M3
    // byte).
    for t in ["model.a.weight", "model.b.weight", "model.c.weight"] {
        let e = |f| err(t, f, "weight_rel_rms");
        assert!(e("fp4_g32") > 0.05 && e("fp4_g32") < 0.2, "{t}");
        assert!(e("fp6_e3m2_g32") < e("fp4_g32"), "{t}");
        assert!(e("fp6_e2m3_g32") < e("fp6_e3m2_g32"), "{t}");
        assert!(e("mxfp4") > 0.0 && e("mxfp6_e2m3") < e("mxfp4"), "{t}");
        assert!(e("nvfp4") > 0.05 && e("nvfp4") < 0.2, "{t}");
        // E4M3 has E2M3's three mantissa bits (about its error on uniform weights, where
        // the top binade holds most values) and more range: well below FP4.
        assert!(
            e("fp8_e4m3_g32") > 0.0 && e("fp8_e4m3_g32") < 0.5 * e("fp4_g32"),
            "{t}"
        );
    }
    for (f, bits) in [
        ("fp4_g32", 4.5),
        ("mxfp4", 4.25),
        ("nvfp4", 4.5),
        ("fp8_e4m3_g32", 8.5),
        ("fp6_e2m3_g32", 6.5),
        ("fp6_e3m2_g32", 6.5),
        ("mxfp6_e2m3", 6.25),
    ] {
        assert_eq!(err("model.a.weight", f, "bits_per_weight"), bits, "{f}");
    }
    let a3 = err("model.a.weight", "int3_g128", "weight_rel_rms");
    assert!(a3 > err("model.a.weight", "int4_g128", "weight_rel_rms") && a3 < 0.4);
    assert_eq!(err("model.a.weight", "int4_g32", "bits_per_weight"), 4.5);
    let c = evals
        .iter()
        .find(|l| l["tensor"] == "model.c.weight")
        .unwrap();
    assert_eq!(
        (c["dtype"].as_str(), c["n"].as_str(), c["k"].as_str()),
        ("F16", "16", "128")
    );

    let skips: Vec<String> = of_kind("skip")
        .map(|l| format!("{} {}", l["tensor"], l.get("format").map_or("-", |f| f)))
        .collect();
    assert_eq!(
        skips,
        [
            "model.b.weight int4_g128",
            "model.b.weight int4_g128_zp",
            "model.b.weight int3_g128",
            "model.c.bias -",
            "model.ids -",
        ]
    );
    let summaries: Vec<_> = of_kind("summary").collect();
    assert_eq!(summaries.len(), 15);
    for s in &summaries {
        let want = if s["format"].contains("g128") {
            "2"
        } else {
            "3"
        };
        assert_eq!(s["tensors"], want, "{s:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_table_filters_and_notes() {
    let dir = temp_dir("table");
    let path = dir.join("model.safetensors");
    model(&path);
    let p = path.to_str().unwrap();
    let out = stdout_ok(lowbit(&["eval", "--safetensors", p]));
    assert!(out.contains("metadata: format=pt"), "{out}");
    let header = out.lines().find(|l| l.starts_with("tensor")).unwrap();
    for col in [
        "dtype",
        "format",
        "bits/w",
        "weight_rel_rms",
        "gemv_rel_rms",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let rows = out.lines().filter(|l| l.starts_with("model.")).count();
    assert_eq!(rows, 15 + 12 + 15, "{out}");
    assert!(out.contains("skipped:"));
    assert!(out.contains("model.c.bias: 1-D, shape [16]"), "{out}");
    assert!(out.contains("model.ids: dtype I64"), "{out}");
    assert!(out.contains("model.b.weight as int4_g128:"), "{out}");
    assert!(out.contains("all evaluated tensors (3)"), "{out}");

    let one = stdout_ok(lowbit(&[
        "eval",
        "--safetensors",
        p,
        "--tensor",
        "c.weight",
        "--format",
        "int8_row,int4_g32",
        "--json",
    ]));
    let evals = one
        .lines()
        .filter(|l| l.contains(r#""kind":"eval""#))
        .count();
    assert_eq!(evals, 2, "{one}");
    let limited = stdout_ok(lowbit(&[
        "eval",
        "--safetensors",
        p,
        "--limit",
        "1",
        "--json",
    ]));
    let evals = limited
        .lines()
        .filter(|l| l.contains(r#""kind":"eval""#))
        .count();
    assert_eq!(evals, 15, "{limited}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The synthetic heavy-tailed tensor: OVP-4 per row has a lower error than INT4 per row
/// (OliVe's claim, and the reason the format exists), at the same bits per weight.
#[test]
fn student_t_ovp4_beats_int4_per_row() {
    let out = stdout_ok(lowbit(&[
        "eval",
        "--student-t",
        "64x1024",
        "--format",
        "int4_row,int4_row_zp,ovp4_row,int4_g128",
        "--json",
    ]));
    let err = |format: &str| -> f64 {
        out.lines()
            .map(parse_flat)
            .find(|l| l["kind"] == "summary" && l["format"] == format)
            .unwrap_or_else(|| panic!("{format}: {out}"))["weight_rel_rms"]
            .parse()
            .unwrap()
    };
    let ovp = err("ovp4_row");
    assert!(ovp < 0.6 * err("int4_row"), "{out}");
    assert!(ovp < 0.8 * err("int4_row_zp"), "{out}");
    assert!(ovp < err("int4_g128"), "{out}");
}

#[test]
fn malformed_files_are_clear_errors() {
    let dir = temp_dir("bad");
    let good = dir.join("good.safetensors");
    model(&good);
    let bytes = std::fs::read(&good).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // Data cut short: the last tensors' offsets run past the end.
        (
            "truncated",
            bytes[..bytes.len() - 100].to_vec(),
            "truncated file?",
        ),
        // Cut inside the header.
        (
            "cut-header",
            bytes[..8 + header_len / 2].to_vec(),
            "truncated file?",
        ),
        (
            "tiny",
            bytes[..5].to_vec(),
            "shorter than the 8-byte header length",
        ),
        (
            "not-json",
            [&(4u64).to_le_bytes()[..], b"{x}]"].concat(),
            "invalid JSON",
        ),
        (
            "huge-header",
            [&u64::MAX.to_le_bytes()[..], b"{}"].concat(),
            "exceeds the",
        ),
    ];
    for (name, content, want) in cases {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::write(&path, content).unwrap();
        let out = lowbit(&["eval", "--safetensors", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("not a valid safetensors file") && err.contains(want),
            "{name}: {err}"
        );
        assert!(out.stdout.is_empty(), "{name}");
    }
    let missing = lowbit(&["eval", "--safetensors", dir.join("nope").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}
