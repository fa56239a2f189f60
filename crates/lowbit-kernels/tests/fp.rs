//! Every minifloat and OVP kernel (FP4 E2M1, FP6 E3M2 and E2M3, FP8 E4M3 and E5M2,
//! OVP-4 and OVP-8; f32 GEMV, A8 GEMV, batched GEMM) on every ISA this machine has,
//! against the scalar reference: random shapes with tails, every group size, every scale
//! kind (f16, power-of-two f16, E8M0, E4M3 + tensor scale), every code at extreme scales
//! (every OVP-4 byte and every OVP-8 pair), and FP8's NaN and infinite codes.
//!
//! Bounds (as for INT, see `int_gemv.rs` and `int_a8.rs`):
//! - f32 GEMV: the weights `s * elem` are exact in every path, so paths differ only in
//!   the order of the f32 sum: within `2 gamma_{K+2} sum_k |w_k x_k|` of the reference.
//! - A8 GEMV (E2M1 as `2 e`, E2M3 as `8 e`, E3M2 as `16 e`, OVP-4 as is): the block dot products
//!   `sum 2^t e(q) x8` are exact integers in every path; paths differ in how the terms `(s 2^-t * s_x) d_b` are
//!   summed: within `2 gamma_{K+8} sum |s 2^-t s_x 2^t e x8|`.
//! - GEMM: bitwise the fused order ([`reference::gemm::gemm_fused`]), whatever `m`.
//!
//! An off-by-one code or a wrong nibble changes a term by at least `|s x| / 2`, far above
//! these bounds for the magnitudes used here.

use lowbit_formats::act::BLOCK;
use lowbit_formats::fp::{FpElem, FpFormat, FpMatrix, FpMatrixRef, FpScale, FpScales};
use lowbit_formats::Group;
use lowbit_kernels::a8::A8Activations;
use lowbit_kernels::reference::{self, Elements};
use lowbit_kernels::{Isa, Out, Weights};
use proptest::prelude::*;

mod common;
use common::{a8_entries, gamma, gemm_entries, gemv_entries, run_gemv, xorshift};

/// A random `n x k` minifloat matrix whose weights span `2^-e .. 2^e` around `mag`, and
/// activations of `k` elements.
fn matrix(format: FpFormat, n: usize, k: usize, mag: f32, seed: u64) -> (FpMatrix, Vec<f32>) {
    let mut s = seed | 1;
    let w: Vec<f32> = (0..n * k)
        .map(|i| {
            let v = xorshift(&mut s) * mag;
            // Some rows with a much larger spread, so codes 1..7 all occur.
            if (i / k).is_multiple_of(3) {
                v * v.abs()
            } else {
                v
            }
        })
        .collect();
    let x: Vec<f32> = (0..k).map(|_| xorshift(&mut s) * 2.0).collect();
    (FpMatrix::quantize(&w, n, k, format).unwrap(), x)
}

fn f32_tolerance(w: &FpMatrixRef<'_>, x: &[f32], n: usize) -> f64 {
    let a: f64 = x
        .iter()
        .enumerate()
        .map(|(k, &xk)| (f64::from(w.weight(n, k)) * f64::from(xk)).abs())
        .sum();
    2.0 * gamma(w.k() + 2) * a + 1e-30
}

fn a8_tolerance(w: &FpMatrixRef<'_>, x: &A8Activations, n: usize) -> f64 {
    let g = w.layout().group_len;
    let a: f64 = (0..w.k())
        .map(|k| {
            let s = f64::from(w.a8_scale(n, k / g)) * f64::from(x.block_scale(k / BLOCK));
            (s * f64::from(w.a8_elem(n, k)) * f64::from(x.code(k))).abs()
        })
        .sum();
    2.0 * gamma(w.k() + 8) * a * 1.01 + 1e-30
}

/// Runs every minifloat entry of every operation on `w` and checks it against the reference.
fn check(w: &FpMatrixRef<'_>, x: &[f32], rows: std::ops::Range<usize>) {
    let wt = Weights::Fp(*w);
    let nr = rows.len();
    // f32 GEMV.
    let mut want = vec![0.0f32; nr];
    (reference::gemv::gemv)(&wt, x, rows.clone(), &mut want, &Out::STORE);
    for (i, n) in rows.clone().enumerate() {
        assert_eq!(want[i], reference::gemv::row(w, x, n));
    }
    for e in gemv_entries(&wt) {
        let mut y = vec![f32::NAN; nr];
        run_gemv(e, &wt, x, rows.clone(), &mut y, &Out::STORE);
        for (i, n) in rows.clone().enumerate() {
            let d = (f64::from(y[i]) - f64::from(want[i])).abs();
            assert!(
                d <= f32_tolerance(w, x, n),
                "{} row {n}: {} vs {}",
                e.name,
                y[i],
                want[i]
            );
        }
    }
    // A8 GEMV (FP4, FP6, OVP-4; FP8 and OVP-8 have none), against int8 activations and
    // against the W4A4 codec's (OVP-4 values as codes).
    let a8 = if w.elem_type().has_a8() {
        a8_entries(&wt)
    } else {
        Vec::new()
    };
    let codecs = [
        A8Activations::new(x).unwrap(),
        A8Activations::new_ovp4(x).unwrap(),
    ];
    for (e, xq) in a8.iter().flat_map(|e| codecs.iter().map(move |c| (e, c))) {
        let mut y = vec![f32::NAN; nr];
        (e.run)(&wt, xq, rows.clone(), &mut y, &Out::STORE);
        for (i, n) in rows.clone().enumerate() {
            let r = reference::gemv_a8::row_from_block(w, xq, n, 0);
            let d = (f64::from(y[i]) - f64::from(r)).abs();
            assert!(
                d <= a8_tolerance(w, xq, n),
                "{} (ovp4 activations: {}) on {:?} {}x{} row {n}: {} vs {r}",
                e.name,
                xq.is_ovp4(),
                w.format(),
                w.layout().n,
                w.layout().k,
                y[i]
            );
        }
    }
    // GEMM, m = 1..=3 rows of activations (the row and shifted copies), bitwise.
    let k = w.k();
    for m in 1..=3 {
        let xs: Vec<f32> = (0..m * k).map(|i| x[i % k] + (i / k) as f32).collect();
        let ldy = nr + 1;
        let len = (m - 1) * ldy + nr;
        let mut fused = vec![7.0f32; len];
        reference::gemm::gemm_fused(&wt, &xs, m, rows.clone(), &mut fused, ldy, &Out::STORE);
        for e in gemm_entries(&wt) {
            let mut y = vec![7.0f32; len];
            (e.run)(&wt, &xs, m, rows.clone(), &mut y, ldy, &Out::STORE);
            if e.variant.isa() == lowbit_kernels::Isa::Scalar {
                // The reference GEMM sums as the reference GEMV does.
                for mi in 0..m {
                    for (i, n) in rows.clone().enumerate() {
                        let r = reference::gemv::row(w, &xs[mi * k..(mi + 1) * k], n);
                        assert_eq!(y[mi * ldy + i].to_bits(), r.to_bits(), "{}", e.name);
                    }
                }
            } else {
                let same = y
                    .iter()
                    .zip(&fused)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{} m={m}: not the fused order", e.name);
            }
        }
    }
}

const ELEMS: [FpElem; 3] = [FpElem::E2M1, FpElem::E3M2, FpElem::E2M3];

fn formats(k: usize) -> Vec<FpFormat> {
    let mut v = Vec::new();
    let more = [FpElem::E4M3, FpElem::E5M2, FpElem::Ovp4, FpElem::Ovp8];
    for elem in ELEMS.into_iter().chain(more) {
        v.push(FpFormat::mx(elem));
        // NVFP4's scales (E2M1), and the same on the FP6 elements.
        v.push(FpFormat::new(elem, Group::Size(16), FpScale::E4M3));
        for g in [
            Group::Size(32),
            Group::Size(64),
            Group::Size(128),
            Group::Size(256),
            Group::PerRow,
        ] {
            if g.resolve(k).is_ok() {
                v.push(FpFormat::new(elem, g, FpScale::F16));
                v.push(FpFormat::new(elem, g, FpScale::F16Pow2));
            }
        }
    }
    v.retain(|f| f.layout(1, k).is_ok());
    v
}

/// Every entry a key can select exists for FP6 on the SIMD ISAs this machine runs (so
/// the tests above do not pass by running the reference alone).
#[test]
fn fp6_has_simd_entries() {
    let (q, _) = matrix(FpFormat::mx(FpElem::E2M3), 4, 64, 1.0, 5);
    let wt = Weights::Fp(q.view());
    let names: Vec<&str> = a8_entries(&wt).iter().map(|e| e.name).collect();
    if lowbit_kernels::cpu_features().avx2 {
        assert!(names.contains(&"gemv_fp6e2m3_a8_avx2"), "{names:?}");
    }
    #[cfg(target_arch = "aarch64")]
    assert!(names.contains(&"gemv_fp6e2m3_a8_neon"), "{names:?}");
    let (q, _) = matrix(FpFormat::mx(FpElem::E3M2), 4, 64, 1.0, 5);
    let wt = Weights::Fp(q.view());
    // E3M2 A8: AVX-512 and NEON (AVX2 has no 64-entry i16 lookup), and the scalar entry.
    let names: Vec<&str> = a8_entries(&wt).iter().map(|e| e.name).collect();
    assert!(names.contains(&"gemv_fp_a8_scalar"), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("_avx2")), "{names:?}");
    for v in lowbit_kernels::Variant::ALL {
        if v.is_available() && matches!(v.isa(), Isa::Avx512 | Isa::Neon) {
            let name = format!("gemv_fp6e3m2_a8_{}", v.name());
            assert!(names.contains(&name.as_str()), "{name} missing: {names:?}");
        }
    }
    if lowbit_kernels::cpu_features().avx2 {
        let g: Vec<&str> = gemv_entries(&wt).iter().map(|e| e.name).collect();
        assert!(g.contains(&"gemv_fp6e3m2_f32_avx2"), "{g:?}");
        let g: Vec<&str> = gemm_entries(&wt).iter().map(|e| e.name).collect();
        assert!(g.contains(&"gemm_fp6e3m2_f32_avx2"), "{g:?}");
    }
}

#[test]
fn every_kernel_matches_the_reference_on_fixed_shapes() {
    for (n, k) in [
        (1, 32),
        (5, 64),
        (9, 256),
        (17, 512),
        (8, 96),
        (3, 33),
        (4, 1000),
        (3, 48),
        (6, 400),
    ] {
        for f in formats(k) {
            for (mag, seed) in [(1.0, 1), (3.0e-3, 2), (700.0, 3)] {
                let (q, x) = matrix(f, n, k, mag, seed + k as u64);
                check(&q.view(), &x, 0..n);
                if n > 2 {
                    check(&q.view(), &x, 1..n - 1);
                }
            }
        }
    }
}

/// Every code in every position, with the largest and smallest scales of each kind.
#[test]
fn every_code_at_extreme_scales() {
    let (n, k) = (16, 256);
    let codes: Vec<u8> = (0..n * k / 2)
        .map(|i| {
            let (a, b) = ((i * 7) % 16, (i * 5 + i / 16) % 16);
            (a | (b << 4)) as u8
        })
        .collect();
    // FP6's high bits: every pair value next to every nibble.
    let high: Vec<u8> = (0..n * k / 4).map(|i| (i * 29 + i / 64) as u8).collect();
    let x: Vec<f32> = (0..k).map(|i| ((i * 37) % 19) as f32 / 9.0 - 1.0).collect();
    let f16s = [
        lowbit_formats::f16::from_bits(1),
        lowbit_formats::f16::MAX,
        lowbit_formats::f16::from_f32(-0.75),
        lowbit_formats::f16::ZERO,
    ];
    let scales: Vec<lowbit_formats::f16> = (0..n * k / 32).map(|i| f16s[i % 4]).collect();
    // E8M0: from 2^-127 (an f32 subnormal) to 2^100.
    let e8: Vec<u8> = (0..n * k / 32).map(|i| [0u8, 1, 127, 227][i % 4]).collect();
    for elem in ELEMS {
        let hi = if elem == FpElem::E2M1 {
            Vec::new()
        } else {
            high.clone()
        };
        for (f, sc) in [
            (
                FpFormat::new(elem, Group::Size(32), FpScale::F16),
                FpScales::F16(scales.clone()),
            ),
            (FpFormat::mx(elem), FpScales::E8M0(e8.clone())),
        ] {
            let q = FpMatrix::from_planes(f, n, k, codes.clone(), hi.clone(), sc).unwrap();
            check(&q.view(), &x, 0..n);
        }
    }
}

/// Every E4M3 byte but the two NaN codes as an NVFP4 block scale, negative ones included,
/// under a power-of-two and an inexact tensor scale: each kernel's E4M3 decode (bits
/// moved into an f32 and multiplied by `2^120`) against the codec.
#[test]
fn every_e4m3_byte() {
    let (n, k) = (8, 1024);
    let codes: Vec<u8> = (0..n * k / 2).map(|i| (i * 37 + i / 7) as u8).collect();
    let high: Vec<u8> = (0..n * k / 4).map(|i| (i * 13 + i / 5) as u8).collect();
    let bytes: Vec<u8> = (0..=255u8).filter(|b| b & 0x7F != 0x7F).collect();
    let e4: Vec<u8> = (0..n * k / 16).map(|i| bytes[i % bytes.len()]).collect();
    let x: Vec<f32> = (0..k).map(|i| ((i * 23) % 17) as f32 / 8.0 - 1.0).collect();
    for elem in ELEMS {
        let hi = if elem == FpElem::E2M1 {
            Vec::new()
        } else {
            high.clone()
        };
        for t in [1.0f32, 3.7e-3, 2.0f32.powi(-100)] {
            let f = FpFormat::new(elem, Group::Size(16), FpScale::E4M3);
            let sc = FpScales::E4M3(e4.clone(), t);
            let q = FpMatrix::from_planes(f, n, k, codes.clone(), hi.clone(), sc).unwrap();
            check(&q.view(), &x, 0..n);
        }
    }
}

/// NVFP4 runs on the SIMD A8 kernels of every variant (groups of 16 fit their 8-element
/// lanes) and on AVX2's f32 GEMV (16-element chunks), while the other f32 GEMVs and the
/// GEMMs take it on the reference.
#[test]
fn nvfp4_entries() {
    let (q, _) = matrix(FpFormat::nvfp4(), 4, 64, 1.0, 5);
    let wt = Weights::Fp(q.view());
    let names: Vec<&str> = a8_entries(&wt).iter().map(|e| e.name).collect();
    for v in lowbit_kernels::Variant::ALL {
        if v.is_available() && v.isa() != Isa::Scalar {
            let name = format!("gemv_fp4_a8_{}", v.name());
            assert!(names.contains(&name.as_str()), "{name} missing: {names:?}");
        }
    }
    let f32_variants = gemv_entries(&wt)
        .into_iter()
        .map(|e| (e.variant, e.name))
        .chain(gemm_entries(&wt).into_iter().map(|e| (e.variant, e.name)));
    for (v, name) in f32_variants {
        assert!(
            v.isa() == Isa::Scalar || name == "gemv_fp4_f32_avx2",
            "{name}"
        );
    }
    if lowbit_kernels::cpu_features().avx2 {
        let g: Vec<&str> = gemv_entries(&wt).iter().map(|e| e.name).collect();
        assert!(g.contains(&"gemv_fp4_f32_avx2"), "{g:?}");
    }
}

/// Every FP8 code in every position: rows of finite codes against the reference within
/// the bounds, and rows holding NaN or infinite codes give what the reference gives (NaN,
/// or the same infinity) on every kernel.
#[test]
fn every_fp8_code() {
    let (n, k) = (12, 512);
    for elem in [FpElem::E4M3, FpElem::E5M2] {
        let codec = elem.minifloat().unwrap();
        let finite: Vec<u8> = (0..=255u8)
            .filter(|&c| codec.decode(c).is_finite())
            .collect();
        // Rows 0..8: finite codes only, each row a different walk through them; rows 8..:
        // a special code here and there.
        let codes: Vec<u8> = (0..n * k)
            .map(|i| {
                let (r, c) = (i / k, i % k);
                if r >= 8 && c % 97 == r {
                    // E4M3: its two NaN codes; E5M2: NaN, NaN, +inf, -inf.
                    match (elem, r - 8) {
                        (FpElem::E4M3, i) => [0x7F, 0xFF][i % 2],
                        (_, i) => [0x7F, 0xFF, 0x7C, 0xFC][i],
                    }
                } else {
                    finite[(c * (2 * r + 1) + r) % finite.len()]
                }
            })
            .collect();
        let f = FpFormat::new(elem, Group::Size(32), FpScale::F16);
        let scales: Vec<lowbit_formats::f16> = (0..n * k / 32)
            .map(|i| lowbit_formats::f16::from_f32([1.0, 0.75, 2.0e-5, 3.0e-3][i % 4]))
            .collect();
        let q = FpMatrix::from_parts(f, n, k, codes, FpScales::F16(scales)).unwrap();
        let w = q.view();
        let x: Vec<f32> = (0..k).map(|i| ((i * 37) % 19) as f32 / 9.0 - 1.0).collect();
        check(&w, &x, 0..8);
        let wt = Weights::Fp(w);
        let mut want = vec![0.0f32; n];
        (reference::gemv::gemv)(&wt, &x, 0..n, &mut want, &Out::STORE);
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        for (r, v) in want.iter().enumerate().skip(8) {
            assert!(!v.is_finite(), "{elem:?} row {r}: {v}");
        }
        let mut runs = Vec::new();
        for e in gemv_entries(&wt) {
            let mut y = vec![0.0f32; n];
            run_gemv(e, &wt, &x, 0..n, &mut y, &Out::STORE);
            runs.push((e.name, y));
        }
        for e in gemm_entries(&wt) {
            let mut y = vec![0.0f32; n];
            (e.run)(&wt, &x, 1, 0..n, &mut y, n, &Out::STORE);
            runs.push((e.name, y));
        }
        for (name, y) in runs {
            for r in 8..n {
                assert!(
                    same(y[r], want[r]),
                    "{name} row {r}: {} vs {}",
                    y[r],
                    want[r]
                );
            }
        }
        // The SIMD entries exist on x86 (so the rows above did not all run the reference).
        if lowbit_kernels::cpu_features().avx2 {
            let names: Vec<&str> = gemv_entries(&wt).iter().map(|e| e.name).collect();
            let name = format!("gemv_fp8{}_f32_avx2", elem.name());
            assert!(names.contains(&name.as_str()), "{names:?}");
        }
    }
}

/// Every OVP-4 byte and every OVP-8 pair of bytes, in every position of a chunk, under
/// the extreme `f16` scales (the smallest subnormal, the largest, a negative one, zero),
/// per row and per group: each kernel's pair decode against the codec.
#[test]
fn every_ovp_code() {
    let f16s = [
        lowbit_formats::f16::from_bits(1),
        lowbit_formats::f16::MAX,
        lowbit_formats::f16::from_f32(-0.75),
        lowbit_formats::f16::ZERO,
        lowbit_formats::f16::from_f32(3.0e-3),
    ];
    // OVP-4: 16 rows of the 256 bytes, rotated by a different amount per row.
    let (n, k) = (16, 512);
    let codes4: Vec<u8> = (0..n * k / 2).map(|i| (i + (i / 256) * 37) as u8).collect();
    // OVP-8: the 65536 pairs (even byte, odd byte) over 16 rows.
    let k8 = 8192;
    let codes8: Vec<u8> = (0..n * k8 / 2)
        .flat_map(|p| [p as u8, (p >> 8) as u8])
        .collect();
    for (elem, k, codes) in [(FpElem::Ovp4, k, codes4), (FpElem::Ovp8, k8, codes8)] {
        let x: Vec<f32> = (0..k).map(|i| ((i * 37) % 19) as f32 / 9.0 - 1.0).collect();
        for g in [Group::Size(32), Group::PerRow] {
            let f = FpFormat::new(elem, g, FpScale::F16);
            let groups = n * f.layout(n, k).unwrap().groups_per_row;
            let sc = FpScales::F16((0..groups).map(|i| f16s[i % f16s.len()]).collect());
            let q = FpMatrix::from_parts(f, n, k, codes.clone(), sc).unwrap();
            check(&q.view(), &x, 0..n);
        }
    }
}

/// OVP has SIMD entries on every variant this machine runs: A8 for OVP-4 everywhere,
/// f32 GEMV and GEMM for both widths on x86 (so the tests above do not pass by running
/// the reference alone).
#[test]
fn ovp_has_simd_entries() {
    for elem in [FpElem::Ovp4, FpElem::Ovp8] {
        let f = FpFormat::new(elem, Group::Size(32), FpScale::F16);
        let (q, _) = matrix(f, 4, 64, 1.0, 5);
        let wt = Weights::Fp(q.view());
        let a8: Vec<&str> = if elem.has_a8() {
            a8_entries(&wt).iter().map(|e| e.name).collect()
        } else {
            // OVP-8 values do not fit int8: no A8 entry takes it, not even the scalar one.
            let key = lowbit_kernels::registry::KernelKey::of(&wt);
            let table = &lowbit_kernels::registry::GEMV_A8;
            assert!(table.iter().all(|e| !(e.accepts)(&key)));
            Vec::new()
        };
        let gv: Vec<&str> = gemv_entries(&wt).iter().map(|e| e.name).collect();
        let gm: Vec<&str> = gemm_entries(&wt).iter().map(|e| e.name).collect();
        for v in lowbit_kernels::Variant::ALL {
            if !v.is_available() || v.isa() == Isa::Scalar {
                continue;
            }
            let name = elem.name();
            if elem == FpElem::Ovp4 {
                let want = format!("gemv_{name}_a8_{}", v.name());
                assert!(a8.contains(&want.as_str()), "{want}: {a8:?}");
            }
            if cfg!(target_arch = "x86_64") && v.name() != "avx512vnni" {
                let want = format!("gemv_{name}_f32_{}", v.name());
                assert!(gv.contains(&want.as_str()), "{want}: {gv:?}");
                let want = format!("gemm_{name}_f32_{}", v.name());
                assert!(gm.contains(&want.as_str()), "{want}: {gm:?}");
            }
        }
    }
}

/// Every E8M0 byte from 0 (`2^-127`, subnormal) to 250 as a group scale (above that, `6 *
/// scale` overflows f32 and the reference itself is infinite), under activations small
/// enough that every sum stays finite: each kernel's E8M0 decode against the table.
#[test]
fn every_e8m0_byte() {
    let (n, k) = (8, 1024);
    let codes: Vec<u8> = (0..n * k / 2).map(|i| (i * 37 + i / 7) as u8).collect();
    let high: Vec<u8> = (0..n * k / 4).map(|i| (i * 13 + i / 5) as u8).collect();
    let e8: Vec<u8> = (0..n * k / 32).map(|i| (i % 251) as u8).collect();
    let x: Vec<f32> = (0..k)
        .map(|i| (((i * 23) % 17) as f32 / 8.0 - 1.0) * 1e-25)
        .collect();
    for elem in ELEMS {
        let hi = if elem == FpElem::E2M1 {
            Vec::new()
        } else {
            high.clone()
        };
        let f = FpFormat::mx(elem);
        let q =
            FpMatrix::from_planes(f, n, k, codes.clone(), hi, FpScales::E8M0(e8.clone())).unwrap();
        check(&q.view(), &x, 0..n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes_match_the_reference(
        n in 1usize..24,
        kb in 1usize..20,
        tail in 0usize..3,
        fi in 0usize..96,
        seed in any::<u64>(),
    ) {
        // K: whole blocks of 32, or an odd or even tail (per-row groups only; OVP needs
        // an even K).
        let k = kb * 32 + [0, 7, 6][tail];
        let fs = formats(k);
        let f = fs[fi % fs.len()];
        let (q, x) = matrix(f, n, k, 2.0, seed);
        let r0 = (seed as usize) % n;
        check(&q.view(), &x, r0..n);
    }
}

#[test]
fn scale_kinds_are_registry_keys() {
    for f in [FpFormat::mxfp4(), FpFormat::f16(Group::Size(32))] {
        let (q, _) = matrix(f, 4, 64, 1.0, 9);
        let key = lowbit_kernels::registry::KernelKey::of(&Weights::Fp(q.view()));
        assert!(matches!(
            key.scheme,
            lowbit_kernels::registry::Scheme::Fp { scale, .. } if scale == f.scale
        ));
        assert_eq!(key.group_len, 32);
    }
}
