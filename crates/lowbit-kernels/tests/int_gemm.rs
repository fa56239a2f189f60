//! Every INT GEMM kernel on every ISA this machine has, against the scalar reference.
//!
//! Layout: `x` is row-major `[M][K]`, output `(mi, n)` lands in `y[mi*ldy + n - rows.start]`.
//!
//! Float tolerance: the reference ([`reference::gemm::gemm`], the GEMV order per
//! output) and a SIMD kernel (one FMA chain over `k` of the exact weights `s*(q - z)`,
//! [`reference::gemm::gemm_fused`]) sum the same terms `s_j (q_k - z_j) x_k` and differ
//! only in where they round: the reference rounds each product `(q - z) x`, each partial
//! sum inside a group, the product with the scale and each partial sum over groups (at
//! most K + 1 roundings on any term's path); the fused chain rounds once per step (at most
//! K). For any evaluation with at most m roundings per term, the error is at most
//! gamma_m * A with gamma_m = m*u/(1 - m*u), u = 2^-24, A = sum_k |s_j (q_k - z_j) x_k|.
//! So each is within gamma_{K+2} * A of the exact value and the two within
//! 2 * gamma_{K+2} * A of each other. A wrong decode (one code off) is an error of order
//! |s x_k|, far above that bound for these shapes.
//!
//! On top of the bound, every SIMD kernel must return exactly the bits of `gemm_fused`:
//! that is what makes results independent of M, the row split and the thread count.

use std::ops::Range;

use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
use lowbit_formats::{Error, Group};
use lowbit_kernels::registry::{KernelKey, GEMM};
use lowbit_kernels::{reference, Isa, Out, Variant, Weights};
use proptest::prelude::*;

const SENTINEL: f32 = -1234.5;

mod common;
use common::{gemm_entries, gemm_isa as int_gemm, gemv_isa as int_gemv, tolerance};

fn random_matrix(
    bits: u8,
    group: Group,
    zp: bool,
    n: usize,
    k: usize,
    m: usize,
    seed: u64,
) -> (IntMatrix, Vec<f32>) {
    common::random_matrix(common::fmt(bits, group, zp), n, k, m * k, 1.0, seed)
}

/// Runs every available ISA on `(m, rows, ldy)` and checks: the bound against the
/// reference, the exact bits of the fused order for SIMD kernels, and that the padding
/// of `y` (and anything past the last row) is untouched.
fn check_all_isas(w: &IntMatrixRef<'_>, x: &[f32], m: usize, rows: Range<usize>, ldy: usize) {
    let k = w.k();
    let nr = rows.len();
    let len = if m == 0 { 3 } else { (m - 1) * ldy + nr + 3 };
    let wt = Weights::Int(*w);
    let mut want = vec![SENTINEL; len];
    reference::gemm::gemm(&wt, x, m, rows.clone(), &mut want, ldy, &Out::STORE);
    let mut fused = vec![SENTINEL; len];
    reference::gemm::gemm_fused(
        &Weights::Int(*w),
        x,
        m,
        rows.clone(),
        &mut fused,
        ldy,
        &Out::STORE,
    );
    // The fused order is itself within the bound of the reference.
    for mi in 0..m {
        for (i, n) in rows.clone().enumerate() {
            let tol = tolerance(w, &x[mi * k..(mi + 1) * k], n);
            let (f, r) = (fused[mi * ldy + i], want[mi * ldy + i]);
            assert!(
                (f64::from(f) - f64::from(r)).abs() <= tol,
                "fused {f} ref {r}"
            );
        }
    }
    for kernel in gemm_entries(&wt) {
        let mut got = vec![SENTINEL; len];
        (kernel.run)(&wt, x, m, rows.clone(), &mut got, ldy, &Out::STORE);
        for (idx, &g) in got.iter().enumerate() {
            let (mi, i) = (idx / ldy.max(1), idx % ldy.max(1));
            let inside = m > 0 && mi < m && i < nr && ldy > 0;
            if !inside {
                assert_eq!(
                    g, SENTINEL,
                    "{}: y[{idx}] outside the output was written",
                    kernel.name
                );
                continue;
            }
            let n = rows.start + i;
            let tol = tolerance(w, &x[mi * k..(mi + 1) * k], n);
            let d = (f64::from(g) - f64::from(want[idx])).abs();
            assert!(
                d <= tol,
                "{} (m {mi}, n {n}): got {g} want {} |d| {d:e} > tol {tol:e} ({:?} {}x{}, M {m})",
                kernel.name,
                want[idx],
                w.format(),
                w.n(),
                k
            );
            if kernel.variant != Variant::Scalar {
                assert_eq!(
                    g.to_bits(),
                    fused[idx].to_bits(),
                    "{} (m {mi}, n {n}) is not the fused order: got {g} want {} ({:?} {}x{}, M {m})",
                    kernel.name,
                    fused[idx],
                    w.format(),
                    w.n(),
                    k
                );
            }
        }
    }
}

const MS: [usize; 10] = [1, 2, 3, 5, 8, 13, 16, 17, 33, 64];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn int_gemm_matches_reference_on_every_isa(
        bits in prop::sample::select(vec![2u8, 3, 4, 8]),
        zp in any::<bool>(),
        gi in 0usize..5,
        m in prop::sample::select(MS.to_vec()),
        n in 1usize..72,
        kmul in 1usize..25,
        k_per_row in 1usize..600,
        r0 in 0usize..72,
        r1 in 0usize..72,
        pad in 0usize..4,
        seed in any::<u64>(),
    ) {
        let group = if gi == 4 { Group::PerRow } else { Group::Size(Group::SIZES[gi]) };
        let k = match group {
            Group::Size(g) => g * (1 + (kmul - 1) % (768 / g).max(1)),
            Group::PerRow => k_per_row,
        };
        let (q, x) = random_matrix(bits, group, zp, n, k, m, seed);
        let (a, b) = (r0 % (n + 1), r1 % (n + 1));
        let rows = a.min(b)..a.max(b);
        check_all_isas(&q.view(), &x, m, rows.clone(), rows.len() + pad);
        check_all_isas(&q.view(), &x, m, 0..n, n + pad);
    }
}

#[test]
fn every_width_has_a_gemm_kernel_and_names_follow_the_grammar() {
    for isa in Isa::available() {
        for bits in [2u8, 3, 4, 8] {
            let (q, _) = random_matrix(bits, Group::Size(32), false, 1, 32, 1, 1);
            let k = GEMM
                .select(isa, &KernelKey::of(&Weights::Int(q.view())))
                .expect("a kernel");
            assert!(isa.allows(k.variant.isa()));
        }
    }
    let names: Vec<_> = GEMM.iter().map(|k| k.name).collect();
    for k in GEMM.iter() {
        assert!(k.name.starts_with("gemm_") && k.name.ends_with(k.variant.name()));
        assert_eq!(names.iter().filter(|n| **n == k.name).count(), 1);
    }
}

#[test]
fn every_width_runs_the_isa_it_was_asked_for() {
    for bits in [2u8, 3, 4, 8] {
        let (q, x) = random_matrix(bits, Group::Size(32), false, 3, 64, 2, 7);
        let mut y = vec![0.0; 6];
        for isa in Isa::available() {
            let k = int_gemm(isa, &q.view(), &x, 2, 0..3, &mut y, 3).unwrap();
            assert_eq!(
                k.variant.isa(),
                isa,
                "INT{bits} has a GEMM kernel for every ISA"
            );
        }
    }
}

#[test]
fn m1_gemm_equals_gemv_within_the_bound_and_bitwise_in_the_reference() {
    for (bits, g, k) in [
        (4u8, Group::Size(32), 256usize),
        (4, Group::PerRow, 301),
        (8, Group::Size(64), 320),
        (2, Group::Size(128), 384),
        (3, Group::Size(32), 96),
    ] {
        let (q, x) = random_matrix(bits, g, true, 37, k, 1, k as u64);
        let w = q.view();
        let wt = Weights::Int(w);
        let mut gv = vec![0.0f32; 37];
        reference::gemv::gemv(&wt, &x, 0..37, &mut gv, &Out::STORE);
        let mut gm = vec![0.0f32; 37];
        reference::gemm::gemm(&wt, &x, 1, 0..37, &mut gm, 37, &Out::STORE);
        assert_eq!(
            gv.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            gm.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        for isa in Isa::available() {
            int_gemv(isa, &w, &x, 0..37, &mut gv).unwrap();
            int_gemm(isa, &w, &x, 1, 0..37, &mut gm, 37).unwrap();
            for n in 0..37 {
                let tol = tolerance(&w, &x, n);
                assert!(
                    (f64::from(gv[n]) - f64::from(gm[n])).abs() <= tol,
                    "{isa} row {n}"
                );
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_m_or_the_row_split() {
    let (m, n, k) = (45usize, 75usize, 544usize);
    for bits in [2u8, 3, 4, 8] {
        let (q, x) = random_matrix(bits, Group::Size(32), true, n, k, m, 99);
        let w = q.view();
        for isa in Isa::available() {
            let mut whole = vec![0.0f32; m * n];
            int_gemm(isa, &w, &x, m, 0..n, &mut whole, n).unwrap();
            // Activation rows in uneven batches, output rows in uneven ranges.
            let mut pieces = vec![0.0f32; m * n];
            let mut m0 = 0;
            for mb in [1usize, 16, 5, 17, 6] {
                let mut n0 = 0;
                for nb in [33usize, 7, 1, 34] {
                    let ys = &mut pieces[m0 * n + n0..];
                    let xs = &x[m0 * k..(m0 + mb) * k];
                    int_gemm(isa, &w, xs, mb, n0..n0 + nb, ys, n).unwrap();
                    n0 += nb;
                }
                m0 += mb;
            }
            assert_eq!(
                whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                pieces.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "INT{bits} on {isa}"
            );
        }
    }
}

#[test]
fn zero_point_sixteen_from_gptq_is_handled() {
    let f = IntFormat::with_zero_point(4, Group::Size(32));
    let n = 34usize;
    let codes: Vec<u8> = (0..n * 32)
        .map(|i| (i.wrapping_mul(37) ^ (i >> 2)) as u8)
        .collect();
    let scales: Vec<_> = (0..2 * n)
        .map(|i| lowbit_formats::f16::from_f32(0.25 - 0.01 * i as f32))
        .collect();
    let zeros: Vec<u8> = (0..2 * n).map(|i| [16u8, 0, 15, 16, 8][i % 5]).collect();
    let w = IntMatrixRef::new(f, n, 64, &codes, &[], &scales, Some(&zeros)).unwrap();
    let x: Vec<f32> = (0..20 * 64).map(|i| (i as f32 * 0.37).sin()).collect();
    check_all_isas(&w, &x, 20, 0..n, n);
    check_all_isas(&w, &x[..3 * 64], 3, 1..n, n + 1);
}

#[test]
fn many_activation_rows_and_partial_blocks() {
    // More activation rows than one packed block of the large-M paths (96), with a row
    // count that leaves partial weight blocks and K spanning several chunks and a tail.
    for &(bits, g, k) in &[
        (4u8, Group::Size(64), 448usize),
        (8, Group::PerRow, 301),
        (2, Group::Size(256), 512),
        (3, Group::Size(32), 352),
    ] {
        let (q, x) = random_matrix(bits, g, true, 45, k, 203, k as u64);
        check_all_isas(&q.view(), &x, 203, 3..44, 43);
    }
}

#[test]
fn large_values_and_long_rows() {
    for &(k, g, m) in &[
        (4096usize, Group::Size(128), 20usize),
        (11008, Group::Size(32), 3),
        (4097, Group::PerRow, 17),
    ] {
        let (q, x) = random_matrix(4, g, true, 37, k, m, k as u64);
        check_all_isas(&q.view(), &x, m, 0..37, 37);
    }
}

#[test]
fn bad_arguments_are_errors_and_leave_y_untouched() {
    let (q, x) = random_matrix(4, Group::Size(32), false, 4, 64, 3, 1);
    let v = q.view();
    for isa in Isa::available() {
        let mut y = vec![42.0f32; 2 * 6 + 4];
        // x of the wrong length.
        assert!(matches!(
            int_gemm(isa, &v, &x[..3 * 64 - 1], 3, 0..4, &mut y, 6),
            Err(Error::BufferLength { what: "x", .. })
        ));
        assert!(int_gemm(isa, &v, &x, 2, 0..4, &mut y, 6).is_err());
        // y one short.
        assert!(matches!(
            int_gemm(isa, &v, &x, 3, 0..4, &mut y[..2 * 6 + 3], 6),
            Err(Error::BufferLength {
                what: "y",
                expected: 16,
                got: 15
            })
        ));
        // ldy smaller than the row range.
        assert!(matches!(
            int_gemm(isa, &v, &x, 3, 0..4, &mut y, 3),
            Err(Error::InvalidShape { .. })
        ));
        // Rows outside 0..N, or reversed.
        assert!(int_gemm(isa, &v, &x, 3, 0..5, &mut y, 6).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let r = 3..2;
        assert!(int_gemm(isa, &v, &x, 3, r, &mut y, 6).is_err());
        // m * K overflowing is an error, not a panic.
        assert!(int_gemm(isa, &v, &x, usize::MAX, 0..4, &mut y, 6).is_err());
        assert_eq!(y, vec![42.0; 2 * 6 + 4]);
        // Degenerate but valid calls write nothing.
        assert!(int_gemm(isa, &v, &[], 0, 0..4, &mut [], 4).is_ok());
        assert!(int_gemm(isa, &v, &x, 3, 2..2, &mut y, 0).is_ok());
        assert_eq!(y, vec![42.0; 2 * 6 + 4]);
        // The exact minimum length is enough.
        assert!(int_gemm(isa, &v, &x, 3, 0..4, &mut y[..16], 6).is_ok());
        assert!(y[16..].iter().all(|&v| v == 42.0));
        assert!(y[4..6].iter().chain(&y[10..12]).all(|&v| v == 42.0));
    }
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let mut y = vec![0.0f32; 12];
        assert!(matches!(
            int_gemm(isa, &v, &x, 3, 0..4, &mut y, 4),
            Err(Error::IsaUnavailable { .. })
        ));
    }
}
