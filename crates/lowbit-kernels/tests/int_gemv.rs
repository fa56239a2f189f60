//! Every INT GEMV kernel on every ISA this machine has, against the scalar reference.
//!
//! Float tolerance: the reference and a SIMD kernel compute the same products
//! `(q - z) * x_k` exactly (small integers times f32) and differ only in summation order
//! and FMA use. For a sum of m terms evaluated in any order, the result differs from the
//! exact sum by at most gamma_m * sum|terms|, gamma_m = m*u/(1 - m*u), u = 2^-24. Each row
//! is a two-level sum (inside a group, then over groups, then one more product with the
//! scale), so every path is within gamma_{K+2} * A of the exact value, where
//! A = sum_k |s_j (q_k - z_j) x_k|, and two paths are within 2 * gamma_{K+2} * A of each
//! other. A wrong decode (one code off) is an error of order |s x_k| >> that bound.

use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
use lowbit_formats::Group;
use lowbit_kernels::gemv::int_gemv;
use lowbit_kernels::{reference, Isa};
use proptest::prelude::*;

fn xorshift(state: &mut u64) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Bound on |a - b| for two evaluation orders of row `n` (see the module docs).
fn tolerance(w: &IntMatrixRef<'_>, x: &[f32], n: usize) -> f64 {
    let l = w.layout();
    let mut a = 0.0f64;
    for (k, &xk) in x.iter().enumerate() {
        let j = k / l.group_len;
        let v = f64::from(w.scale(n, j)) * (f64::from(w.code(n, k)) - f64::from(w.zero(n, j)));
        a += (v * f64::from(xk)).abs();
    }
    let m = (l.k + 2) as f64;
    let u = f64::from(f32::EPSILON) / 2.0;
    2.0 * (m * u / (1.0 - m * u)) * a + 1e-30
}

fn check_all_isas(w: &IntMatrixRef<'_>, x: &[f32], rows: std::ops::Range<usize>) {
    let mut want = vec![0.0f32; rows.len()];
    reference::int::gemv(w, x, rows.clone(), &mut want);
    for isa in Isa::available() {
        let mut got = vec![f32::NAN; rows.len()];
        let kernel = int_gemv(isa, w, x, rows.clone(), &mut got).unwrap();
        assert!(isa.allows(kernel.isa));
        for (i, n) in rows.clone().enumerate() {
            let tol = tolerance(w, x, n);
            let d = (f64::from(got[i]) - f64::from(want[i])).abs();
            assert!(
                d <= tol,
                "{} row {n}: got {} want {} |d| {d:e} > tol {tol:e} ({:?} {}x{})",
                kernel.name,
                got[i],
                want[i],
                w.format(),
                w.n(),
                w.k()
            );
        }
    }
}

fn random_matrix(
    bits: u8,
    group: Group,
    zp: bool,
    n: usize,
    k: usize,
    seed: u64,
) -> (IntMatrix, Vec<f32>) {
    let mut s = seed | 1;
    let w: Vec<f32> = (0..n * k).map(|_| xorshift(&mut s) * 3.0).collect();
    let x: Vec<f32> = (0..k).map(|_| xorshift(&mut s)).collect();
    let m = IntMatrix::quantize(
        &w,
        n,
        k,
        IntFormat {
            bits,
            group,
            zero_point: zp,
        },
    )
    .unwrap();
    (m, x)
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
        assert_eq!(k.isa, isa, "INT4 has a kernel for every ISA");
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
    for &(k, g) in &[
        (4096usize, Group::Size(128)),
        (11008, Group::Size(32)),
        (4097, Group::PerRow),
    ] {
        let (m, x) = random_matrix(4, g, true, 5, k, k as u64);
        check_all_isas(&m.view(), &x, 0..5);
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
