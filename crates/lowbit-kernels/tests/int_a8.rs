//! Every INT x A8 kernel on every ISA this machine has, against the scalar reference,
//! and the A8 path against the f32 path.
//!
//! Kernel vs reference: the per-block integer dot products are exact in every path;
//! paths differ only in how the f32 terms `(s_w * s_x) * d` are split over lanes and
//! summed (with FMA). Every path is within gamma_m * A of the exact value, where
//! A = sum_b |s_w s_x| * sum_{k in b} |(q_k - z) x8_k| bounds every split of the terms
//! and m = K + 8 bounds the number of roundings on any path (at most one product and
//! one addition per lane term, plus the final reductions); two paths are within twice
//! that. An off-by-one code changes a term by |s_w s_x x8| >> that bound.
//!
//! A8 vs f32: |x_k - s_x x8_k| <= s_x / 2, so the A8 result differs from the exact
//! product with the unquantized x by at most sum_k |w_k| s_x(b(k)) / 2, plus the f32
//! rounding of both paths (bounded as above, using |w x| sums).

use lowbit_formats::act::BLOCK;
use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
use lowbit_formats::Group;
use lowbit_kernels::a8::A8Activations;
use lowbit_kernels::{reference, Isa, Out, Weights};
use proptest::prelude::*;

mod common;
use common::{a8_entries, gamma, gemv_a8_isa as int_gemv_a8, gemv_isa as int_gemv};

fn random_matrix(
    bits: u8,
    group: Group,
    zp: bool,
    n: usize,
    k: usize,
    seed: u64,
) -> (IntMatrix, Vec<f32>) {
    let x_scale = 1.0 + (k % 7) as f32;
    common::random_matrix(common::fmt(bits, group, zp), n, k, k, x_scale, seed)
}

fn a8_tolerance(w: &IntMatrixRef<'_>, x: &A8Activations, n: usize) -> f64 {
    let l = w.layout();
    let mut a = 0.0f64;
    for k in 0..l.k {
        let j = k / l.group_len;
        let comb = f64::from(w.scale(n, j)) * f64::from(x.block_scale(k / BLOCK));
        let d = (f64::from(w.code(n, k)) - f64::from(w.zero(n, j))) * f64::from(x.code(k));
        a += (comb * d).abs();
    }
    2.0 * gamma(l.k + 8) * a * 1.01 + 1e-30
}

fn check_all_isas(w: &IntMatrixRef<'_>, xf: &[f32], rows: std::ops::Range<usize>) {
    let x = A8Activations::new(xf).unwrap();
    let want: Vec<f32> = rows
        .clone()
        .map(|n| reference::gemv_a8::row_from_block(w, &x, n, 0))
        .collect();
    let yf: Vec<f32> = rows
        .clone()
        .map(|n| reference::gemv::row(w, xf, n))
        .collect();
    let wt = Weights::Int(*w);
    for kernel in a8_entries(&wt) {
        let mut got = vec![f32::NAN; rows.len()];
        (kernel.run)(&wt, &x, rows.clone(), &mut got, &Out::STORE);
        for (i, n) in rows.clone().enumerate() {
            let tol = a8_tolerance(w, &x, n);
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
    // A8 vs f32 (see the module docs for the bound).
    let l = w.layout();
    for (i, n) in rows.clone().enumerate() {
        let mut quant = 0.0f64;
        let mut mag = 0.0f64;
        for (k, &xk) in xf.iter().enumerate() {
            let j = k / l.group_len;
            let wk = f64::from(w.scale(n, j)) * (f64::from(w.code(n, k)) - f64::from(w.zero(n, j)));
            quant += wk.abs() * f64::from(x.block_scale(k / BLOCK)) / 2.0;
            mag += (wk * f64::from(xk)).abs() + quant;
        }
        let bound = quant * 1.0001 + 2.0 * gamma(l.k + 8) * mag + 1e-30;
        let d = (f64::from(want[i]) - f64::from(yf[i])).abs();
        assert!(
            d <= bound,
            "A8 vs f32 row {n}: {} vs {} (|d| {d:e} > {bound:e})",
            want[i],
            yf[i]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn int_a8_gemv_matches_reference_on_every_isa(
        bits in prop::sample::select(vec![4u8, 4, 2, 3, 8]),
        zp in any::<bool>(),
        gi in 0usize..6,
        n in 1usize..40,
        kmul in 1usize..7,
        k_per_row in 1usize..400,
        r0 in 0usize..40,
        seed in any::<u64>(),
    ) {
        let group = match gi { 4 => Group::PerRow, 5 => Group::PerRow, _ => Group::Size(Group::SIZES[gi]) };
        let k = match (gi, group) {
            (5, _) => 32 * kmul + 96 * (k_per_row % 3),
            (_, Group::Size(g)) => g * kmul,
            (_, Group::PerRow) => k_per_row,
        };
        let (m, x) = random_matrix(bits, group, zp, n, k, seed);
        check_all_isas(&m.view(), &x, (r0 % n)..n);
    }
}

#[test]
fn every_width_runs_the_a8_kernel_of_the_isa_it_asked_for() {
    for bits in [2, 3, 4, 8] {
        let (m, x) = random_matrix(bits, Group::Size(32), false, 3, 256, 7);
        let xq = A8Activations::new(&x).unwrap();
        let mut y = vec![0.0; 3];
        for isa in Isa::available() {
            let k = int_gemv_a8(isa, &m.view(), &xq, 0..3, &mut y).unwrap();
            assert_eq!(k.variant.isa(), isa);
            assert!(k.name.contains(&format!("int{bits}")) || isa == Isa::Scalar);
        }
    }
}

/// INT2 and INT3 codes at both ends (0 and 3, or 0 and 7) with zero-points up to 2^b,
/// activations at +-127, over whole superchunks, a partial one and a partial block.
#[test]
fn int2_and_int3_extreme_codes_and_zero_points() {
    for bits in [2u8, 3] {
        for (group, k) in [
            (Group::Size(32), 768usize),
            (Group::Size(64), 320),
            (Group::Size(128), 512),
            (Group::PerRow, 300),
        ] {
            let n = 19;
            let codes: Vec<u8> = (0..n * k.div_ceil(4))
                .map(|i| [0x00u8, 0xFF, 0x1B, 0xE4, 0x33][i % 5])
                .collect();
            let high: Vec<u8> = (0..n * k.div_ceil(8))
                .map(|i| [0x00u8, 0xFF, 0x5A, 0x0F, 0xC3][i % 5])
                .collect();
            let scales: Vec<_> = (0..n * k.div_ceil(32))
                .map(|i| lowbit_formats::f16::from_f32(0.02 + (i % 7) as f32 * 0.004))
                .collect();
            let x: Vec<f32> = (0..k).map(|i| if i % 5 < 2 { -1.0 } else { 1.0 }).collect();
            for zp in [false, true] {
                let f = common::fmt(bits, group, zp);
                let l = f.layout(n, k).unwrap();
                let zmax = 1usize << bits;
                let zeros: Vec<u8> = (0..l.zeros_len).map(|i| (i % (zmax + 1)) as u8).collect();
                let w = IntMatrixRef::new(
                    f,
                    n,
                    k,
                    &codes[..l.plane0_len],
                    &high[..l.plane1_len],
                    &scales[..l.scales_len],
                    zp.then_some(&zeros[..]),
                )
                .unwrap();
                check_all_isas(&w, &x, 0..n);
                check_all_isas(&w, &x, 5..n);
            }
        }
    }
}

/// INT8 codes at both ends (0 and 255) against activations at both ends (+-127), with
/// zero-points at both ends: the products a non-VNNI path must not saturate on.
#[test]
fn int8_extreme_codes_and_zero_points() {
    for (group, k) in [
        (Group::Size(32), 320),
        (Group::Size(64), 448),
        (Group::PerRow, 300),
    ] {
        extreme_int8(group, k);
    }
}

fn extreme_int8(group: Group, k: usize) {
    let n = 11;
    let codes: Vec<u8> = (0..n * k)
        .map(|i| match i % 5 {
            0 | 3 => 0,
            1 | 4 => 255,
            _ => (i % 256) as u8,
        })
        .collect();
    let scales: Vec<_> = (0..n * k.div_ceil(32))
        .map(|i| lowbit_formats::f16::from_f32(0.01 + (i % 5) as f32 * 0.003))
        .collect();
    let x: Vec<f32> = (0..k)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    for zp in [false, true] {
        let f = common::fmt(8, group, zp);
        let l = f.layout(n, k).unwrap();
        let zeros: Vec<u8> = (0..l.zeros_len)
            .map(|i| [0u8, 255, 128, 1][i % 4])
            .collect();
        let w = IntMatrixRef::new(
            f,
            n,
            k,
            &codes,
            &[],
            &scales[..l.scales_len],
            zp.then_some(&zeros[..]),
        )
        .unwrap();
        check_all_isas(&w, &x, 0..n);
    }
}

#[test]
fn zero_points_up_to_sixteen_and_long_rows() {
    let f = IntFormat::with_zero_point(4, Group::Size(32));
    let (n, k) = (3, 4096 + 96);
    let codes: Vec<u8> = (0..n * k / 2)
        .map(|i| (i as u8).wrapping_mul(113) ^ (i >> 3) as u8)
        .collect();
    let scales: Vec<_> = (0..n * k / 32)
        .map(|i| lowbit_formats::f16::from_f32(0.01 * (1 + i % 5) as f32))
        .collect();
    let zeros: Vec<u8> = (0..n * k / 32).map(|i| (i % 17) as u8).collect();
    let w = IntMatrixRef::new(f, n, k, &codes, &[], &scales, Some(&zeros)).unwrap();
    let x: Vec<f32> = (0..k).map(|i| ((i as f32) * 0.731).sin() * 3.0).collect();
    check_all_isas(&w, &x, 0..n);
    for &(k, g) in &[
        (11008usize, Group::Size(128)),
        (4096, Group::Size(64)),
        (4097, Group::PerRow),
        (4096, Group::Size(256)),
    ] {
        let (m, x) = random_matrix(4, g, k % 2 == 0, 4, k, k as u64);
        check_all_isas(&m.view(), &x, 0..4);
    }
}

#[test]
fn a8_errors() {
    let (m, x) = random_matrix(4, Group::Size(32), false, 2, 64, 3);
    let xq = A8Activations::new(&x[..32]).unwrap();
    let mut y = vec![1.0; 2];
    assert!(int_gemv_a8(Isa::Scalar, &m.view(), &xq, 0..2, &mut y).is_err());
    assert_eq!(y, vec![1.0; 2]);
    let mut bad = x.clone();
    bad[40] = f32::NAN;
    assert!(A8Activations::new(&bad).is_err());
    // f32 path still works on the same matrix.
    assert!(int_gemv(Isa::Scalar, &m.view(), &x, 0..2, &mut y).is_ok());
}

#[test]
fn rows_whose_codes_equal_the_zero_point_are_exactly_zero() {
    // Found by the fuzzer: each integer lane must hold sum (q - z) * x8 over its own
    // elements, not sum q * x8 with the correction in one lane, or exact zeros come out
    // as rounding noise after the lanes are scaled.
    for &(k, group) in &[
        (135usize, Group::PerRow),
        (256, Group::Size(32)),
        (4096, Group::Size(64)),
        (192, Group::PerRow),
    ] {
        let f = IntFormat::with_zero_point(4, group);
        let l = f.layout(2, k).unwrap();
        let codes = vec![0xAAu8; l.plane0_len]; // every code 10
        let scales = vec![lowbit_formats::f16::from_f32(0.37); l.scales_len];
        let zeros = vec![10u8; l.zeros_len];
        let w = IntMatrixRef::new(f, 2, k, &codes, &[], &scales, Some(&zeros)).unwrap();
        let x: Vec<f32> = (0..k)
            .map(|i| ((i * 7919 % 251) as f32 - 125.0) / 9.0)
            .collect();
        let xq = A8Activations::new(&x).unwrap();
        for isa in Isa::available() {
            let mut y = vec![1.0f32; 2];
            int_gemv_a8(isa, &w, &xq, 0..2, &mut y).unwrap();
            assert_eq!(y, vec![0.0, 0.0], "{isa} k={k}");
        }
    }
}

/// Every A8 entry gives each output row the same bits whatever row range it is asked for
/// (whole row blocks or the rows left after them), per-row and grouped scales, INT and the
/// FP family (the C ABI promises this for any split of the rows).
#[test]
fn a8_rows_are_bitwise_independent_of_the_row_range() {
    use lowbit_formats::fp::{FpElem, FpFormat, FpMatrix, FpScale};
    let (n, k) = (21, 384);
    let mut s = 77u64;
    let wf: Vec<f32> = (0..n * k).map(|_| common::xorshift(&mut s)).collect();
    let x: Vec<f32> = (0..k).map(|_| common::xorshift(&mut s)).collect();
    let codecs = [
        A8Activations::new(&x).unwrap(),
        A8Activations::new_ovp4(&x).unwrap(),
    ];
    let mut ints = Vec::new();
    let mut fps = Vec::new();
    for g in [Group::PerRow, Group::Size(32), Group::Size(128)] {
        for (bits, zp) in [(4, false), (8, true), (2, true)] {
            ints.push(IntMatrix::quantize(&wf, n, k, common::fmt(bits, g, zp)).unwrap());
        }
        for elem in [FpElem::E2M1, FpElem::Ovp4] {
            let f = FpFormat::new(elem, g, FpScale::F16);
            fps.push(FpMatrix::quantize(&wf, n, k, f).unwrap());
        }
    }
    let views = ints
        .iter()
        .map(|m| Weights::Int(m.view()))
        .chain(fps.iter().map(|m| Weights::Fp(m.view())));
    for wt in views {
        for e in a8_entries(&wt) {
            for xq in &codecs {
                let mut all = vec![f32::NAN; n];
                (e.run)(&wt, xq, 0..n, &mut all, &Out::STORE);
                for (a, b) in [(0, 1), (3, 12), (5, 21), (20, 21), (1, 20)] {
                    let mut part = vec![f32::NAN; b - a];
                    (e.run)(&wt, xq, a..b, &mut part, &Out::STORE);
                    for (i, v) in part.iter().enumerate() {
                        assert_eq!(
                            v.to_bits(),
                            all[a + i].to_bits(),
                            "{} row {} of {a}..{b}",
                            e.name,
                            a + i
                        );
                    }
                }
            }
        }
    }
}
