//! Every INT GEMV kernel on every ISA this machine has, against the scalar reference.
//!
//! Float tolerance: the reference and a SIMD kernel evaluate the same exact terms and
//! differ only in rounding: summation order, FMA use, and where the scale is applied.
//! The reference rounds each product `(q - z) * x_k` (exact weights: small integers),
//! sums a group, and multiplies by the scale; some kernels instead decode `s * (q - z)`,
//! which is exact in f32 too (an f16 scale has 11 significant bits, `q - z` at most 9),
//! so each of their terms is rounded at most once before the sum. For a sum of m terms
//! evaluated in any order, the result differs from the exact sum by at most
//! gamma_m * sum|terms|, gamma_m = m*u/(1 - m*u), u = 2^-24. Each row is at worst a
//! two-level sum (inside a group, then over groups, then one more product with the
//! scale), so every path is within gamma_{K+2} * A of the exact value, where
//! A = sum_k |s_j (q_k - z_j) x_k|, and two paths are within 2 * gamma_{K+2} * A of each
//! other. A wrong decode (one code off) is an error of order |s x_k| >> that bound.

use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
use lowbit_formats::Group;
use lowbit_kernels::{reference, Isa, Out, Weights};
use proptest::prelude::*;

mod common;
use common::{gemv_entries, gemv_isa as int_gemv, run_gemv, tolerance};

fn random_matrix(
    bits: u8,
    group: Group,
    zp: bool,
    n: usize,
    k: usize,
    seed: u64,
) -> (IntMatrix, Vec<f32>) {
    common::random_matrix(common::fmt(bits, group, zp), n, k, k, 1.0, seed)
}

/// Every f32 GEMV entry this CPU can run (each variant, called directly) against the
/// reference, within the bound of the module docs.
fn check_all_isas(w: &IntMatrixRef<'_>, x: &[f32], rows: std::ops::Range<usize>) {
    let want: Vec<f32> = rows
        .clone()
        .map(|n| reference::gemv::row(w, x, n))
        .collect();
    let wt = Weights::Int(*w);
    for e in gemv_entries(&wt) {
        let mut got = vec![f32::NAN; rows.len()];
        run_gemv(e, &wt, x, rows.clone(), &mut got, &Out::STORE);
        for (i, n) in rows.clone().enumerate() {
            let tol = tolerance(w, x, n);
            let d = (f64::from(got[i]) - f64::from(want[i])).abs();
            assert!(
                d <= tol,
                "{} row {n}: got {} want {} |d| {d:e} > tol {tol:e} ({:?} {}x{})",
                e.name,
                got[i],
                want[i],
                w.format(),
                w.n(),
                w.k()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn int_gemv_matches_reference_on_every_isa(
        bits in prop::sample::select(vec![2u8, 3, 4, 8]),
        zp in any::<bool>(),
        gi in 0usize..5,
        n in 1usize..12,
        kmul in 1usize..5,
        k_per_row in 1usize..300,
        r0 in 0usize..12,
        seed in any::<u64>(),
    ) {
        let group = if gi == 4 { Group::PerRow } else { Group::Size(Group::SIZES[gi]) };
        let k = match group { Group::Size(g) => g * kmul, Group::PerRow => k_per_row };
        let (m, x) = random_matrix(bits, group, zp, n, k, seed);
        let start = r0 % n;
        check_all_isas(&m.view(), &x, start..n);
        check_all_isas(&m.view(), &x, 0..n);
    }
}

#[test]
fn int4_runs_the_isa_it_was_asked_for() {
    let (m, x) = random_matrix(4, Group::Size(32), false, 3, 64, 7);
    let mut y = vec![0.0; 3];
    for isa in Isa::available() {
        let k = int_gemv(isa, &m.view(), &x, 0..3, &mut y).unwrap();
        assert_eq!(k.variant.isa(), isa, "INT4 has a kernel for every ISA");
    }
}

#[test]
fn every_width_runs_the_isa_it_was_asked_for() {
    // Every SIMD ISA has a kernel for every width (INT2/INT3 with 32-groups on AVX-512 run
    // the AVX2 entry, selected by the registry).
    for bits in [2u8, 3, 4, 8] {
        for group in [Group::Size(32), Group::Size(128), Group::PerRow] {
            let (m, x) = random_matrix(bits, group, true, 5, 256, u64::from(bits));
            let mut y = vec![0.0; 5];
            for isa in Isa::available() {
                let k = int_gemv(isa, &m.view(), &x, 0..5, &mut y).unwrap();
                let ran = k.variant.isa();
                // INT2/3 chunks on AVX-512 are 64 elements: 32-groups run the AVX2 entry.
                let avx2_here = isa == Isa::Avx512 && bits < 4 && group == Group::Size(32);
                let expect = if avx2_here { Isa::Avx2 } else { isa };
                assert_eq!(ran, expect, "INT{bits} {group:?} on {isa} ran {}", k.name);
                assert!(k.name.contains(&format!("int{bits}")) || isa == Isa::Scalar);
            }
        }
    }
}

/// Random codes with the given zero-points (one per group, cycling through `zeros`).
fn matrix_with_zeros(
    bits: u8,
    group: Group,
    n: usize,
    k: usize,
    zeros: &[u8],
    seed: u64,
) -> (IntMatrix, Vec<f32>) {
    let f = IntFormat::with_zero_point(bits, group);
    let l = f.layout(n, k).unwrap();
    let mut s = seed | 1;
    let mut byte = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 32) as u8
    };
    let mut plane0: Vec<u8> = (0..l.plane0_len).map(|_| byte()).collect();
    let plane1: Vec<u8> = (0..l.plane1_len).map(|_| byte()).collect();
    // Bits past K in a row's last byte are padding (zero, as `pack` writes them).
    let used = (k * usize::from(if bits == 3 { 2 } else { bits })) % 8;
    if used != 0 {
        for r in 0..n {
            plane0[(r + 1) * l.row_bytes0 - 1] &= (1u8 << used) - 1;
        }
    }
    let scales: Vec<_> = (0..l.scales_len)
        .map(|i| lowbit_formats::f16::from_f32(0.01 + (i % 7) as f32 * 0.003))
        .collect();
    let z: Vec<u8> = (0..l.zeros_len).map(|i| zeros[i % zeros.len()]).collect();
    let m = IntMatrix::from_parts(f, n, k, plane0, plane1, scales, Some(z)).unwrap();
    let x = (0..k)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    (m, x)
}

#[test]
fn extreme_zero_points_on_every_width() {
    // 0 ..= 2^b (2^b reaches the kernels from GPTQ's z - 1 storage); INT8 tops out at 255.
    for bits in [2u8, 3, 4, 8] {
        let top = (1u16 << bits).min(255) as u8;
        let zeros = [0, 1, 1 << (bits - 1), top - 1, top];
        for (group, k) in [
            (Group::Size(32), 160),
            (Group::Size(64), 320),
            (Group::Size(256), 512),
            (Group::PerRow, 333),
            (Group::PerRow, 64),
        ] {
            let (m, x) = matrix_with_zeros(bits, group, 7, k, &zeros, u64::from(bits) + k as u64);
            check_all_isas(&m.view(), &x, 0..7);
            check_all_isas(&m.view(), &x, 3..6);
        }
    }
}

#[test]
fn rows_are_bitwise_independent_of_the_range() {
    // Kernels decode several rows at once; a row's result must not depend on which rows
    // it was computed with (callers split rows over threads and promise identical bits).
    for bits in [2u8, 3, 4, 8] {
        for (group, k) in [(Group::Size(64), 192), (Group::PerRow, 100)] {
            let (m, x) = random_matrix(bits, group, true, 11, k, 3 + u64::from(bits));
            for isa in Isa::available() {
                let mut all = vec![0.0f32; 11];
                int_gemv(isa, &m.view(), &x, 0..11, &mut all).unwrap();
                for (start, end) in [(0, 1), (1, 4), (2, 11), (5, 10), (10, 11)] {
                    let mut part = vec![0.0f32; end - start];
                    int_gemv(isa, &m.view(), &x, start..end, &mut part).unwrap();
                    for (i, v) in part.iter().enumerate() {
                        assert_eq!(
                            v.to_bits(),
                            all[start + i].to_bits(),
                            "INT{bits} {group:?} {isa} row {} in {start}..{end}",
                            start + i
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn zero_point_sixteen_from_gptq_is_handled() {
    // GPTQ stores z - 1, so z = 16 reaches the kernels: q - z is then in -16..-1.
    let f = IntFormat::with_zero_point(4, Group::Size(32));
    let codes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ (i >> 2)).collect();
    let scales = vec![lowbit_formats::f16::from_f32(0.25); 4];
    let zeros = [16u8, 0, 15, 16];
    let w = IntMatrixRef::new(f, 2, 64, &codes, &[], &scales, Some(&zeros)).unwrap();
    let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    check_all_isas(&w, &x, 0..2);
}

#[test]
fn large_values_and_long_rows() {
    for bits in [2u8, 3, 4, 8] {
        for &(k, g) in &[
            (4096usize, Group::Size(128)),
            (11008, Group::Size(32)),
            (4097, Group::PerRow),
        ] {
            let (m, x) = random_matrix(bits, g, true, 5, k, k as u64 + u64::from(bits));
            check_all_isas(&m.view(), &x, 0..5);
        }
    }
}

#[test]
fn bad_arguments_are_errors_and_leave_y_untouched() {
    let (m, x) = random_matrix(4, Group::Size(32), false, 4, 64, 1);
    let v = m.view();
    for isa in Isa::available() {
        let mut y = vec![42.0f32; 4];
        assert!(int_gemv(isa, &v, &x[..63], 0..4, &mut y).is_err());
        assert!(int_gemv(isa, &v, &x, 0..5, &mut [0.0; 5]).is_err());
        assert!(int_gemv(isa, &v, &x, 0..4, &mut y[..3]).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let r = 3..2;
        assert!(int_gemv(isa, &v, &x, r, &mut []).is_err());
        assert_eq!(y, vec![42.0; 4]);
        // An empty row range is fine and writes nothing.
        assert!(int_gemv(isa, &v, &x, 2..2, &mut []).is_ok());
    }
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let mut y = vec![0.0f32; 4];
        assert!(matches!(
            int_gemv(isa, &v, &x, 0..4, &mut y),
            Err(lowbit_formats::Error::IsaUnavailable { .. })
        ));
    }
}
