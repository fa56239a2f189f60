//! The output epilogue ([`Out`]: accumulate into `y`, add a bias per row) on every
//! registry entry this CPU can run, with row ranges and every group size.
//!
//! Expected bits: the GEMV and A8 kernels compute `v` as for a plain store and write
//! `Out::apply(n, v, old) = old + (v + bias[n])`, so they must equal that applied to their
//! own plain-store result exactly. The SIMD GEMM kernels start each output's FMA chain
//! from the old value and add the bias last, which is the fused reference order
//! (`reference::gemm::gemm_fused`) exactly; the scalar GEMM entry applies `Out` like
//! the GEMV reference.

use lowbit_formats::int::IntMatrixRef;
use lowbit_formats::Group;
use lowbit_kernels::a8::A8Activations;
use lowbit_kernels::{reference, Out, Variant, Weights};
use std::ops::Range;

mod common;
use common::{a8_entries, gemm_entries, gemv_entries, run_gemv, xorshift};

/// Formats: every width, with and without zero-points, every group size and per-row.
fn cases() -> Vec<(u8, Group, bool)> {
    let mut v = Vec::new();
    for bits in [2u8, 3, 4, 8] {
        for zp in [false, true] {
            for g in Group::SIZES
                .iter()
                .map(|&g| Group::Size(g))
                .chain([Group::PerRow])
            {
                v.push((bits, g, zp));
            }
        }
    }
    v
}

fn old_and_bias(len: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut s = seed | 1;
    let old = (0..len).map(|_| xorshift(&mut s) * 4.0).collect();
    let bias = (0..n).map(|_| xorshift(&mut s) * 2.0).collect();
    (old, bias)
}

/// The epilogue applied to a plain store: `old + (v + bias[n])`, or without bias.
fn applied(out: &Out<'_>, rows: &Range<usize>, plain: &[f32], old: &[f32]) -> Vec<f32> {
    rows.clone()
        .enumerate()
        .map(|(i, n)| out.apply(n, plain[i], old[i]))
        .collect()
}

fn outs(bias: &[f32]) -> [Out<'_>; 3] {
    [
        Out {
            accumulate: true,
            bias: None,
        },
        Out {
            accumulate: false,
            bias: Some(bias),
        },
        Out {
            accumulate: true,
            bias: Some(bias),
        },
    ]
}

fn check_gemv(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, seed: u64) {
    let wt = Weights::Int(*w);
    let (old, bias) = old_and_bias(rows.len(), w.n(), seed);
    let xq = A8Activations::new(x).unwrap();
    for out in outs(&bias) {
        for e in gemv_entries(&wt) {
            let mut plain = vec![f32::NAN; rows.len()];
            run_gemv(e, &wt, x, rows.clone(), &mut plain, &Out::STORE);
            let mut got = old.clone();
            run_gemv(e, &wt, x, rows.clone(), &mut got, &out);
            let want = applied(&out, &rows, &plain, &old);
            assert_eq!(
                got,
                want,
                "{} {:?} rows {rows:?} {out:?}",
                e.name,
                w.format()
            );
        }
        for e in a8_entries(&wt) {
            let mut plain = vec![f32::NAN; rows.len()];
            (e.run)(&wt, &xq, rows.clone(), &mut plain, &Out::STORE);
            let mut got = old.clone();
            (e.run)(&wt, &xq, rows.clone(), &mut got, &out);
            let want = applied(&out, &rows, &plain, &old);
            assert_eq!(
                got,
                want,
                "{} {:?} rows {rows:?} {out:?}",
                e.name,
                w.format()
            );
        }
    }
}

fn check_gemm(w: &IntMatrixRef<'_>, x: &[f32], m: usize, rows: Range<usize>, seed: u64) {
    let wt = Weights::Int(*w);
    let ldy = rows.len() + 3;
    let len = (m - 1) * ldy + rows.len();
    let (old, bias) = old_and_bias(len, w.n(), seed);
    for out in outs(&bias) {
        let mut fused = old.clone();
        reference::gemm::gemm_fused(&Weights::Int(*w), x, m, rows.clone(), &mut fused, ldy, &out);
        for e in gemm_entries(&wt) {
            let mut got = old.clone();
            (e.run)(&wt, x, m, rows.clone(), &mut got, ldy, &out);
            let want = if e.variant == Variant::Scalar {
                let mut plain = vec![f32::NAN; len];
                (e.run)(&wt, x, m, rows.clone(), &mut plain, ldy, &Out::STORE);
                let mut want = old.clone();
                for mi in 0..m {
                    let at = mi * ldy;
                    let a = applied(&out, &rows, &plain[at..], &old[at..]);
                    want[at..at + rows.len()].copy_from_slice(&a);
                }
                want
            } else {
                fused.clone()
            };
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&got),
                bits(&want),
                "{} {:?} m {m} rows {rows:?} {out:?}",
                e.name,
                w.format()
            );
        }
    }
}

#[test]
fn gemv_and_a8_entries_apply_accumulate_and_bias_exactly() {
    for (i, (bits, group, zp)) in cases().into_iter().enumerate() {
        let (n, k) = (21, 512 + if group == Group::PerRow { 37 } else { 0 });
        let seed = 1000 + i as u64;
        let (m, x) = common::random_matrix(common::fmt(bits, group, zp), n, k, k, 1.0, seed);
        check_gemv(&m.view(), &x, 0..n, seed);
        check_gemv(&m.view(), &x, 3..n - 1, seed + 1);
    }
}

#[test]
fn gemm_entries_apply_accumulate_and_bias_exactly() {
    for (i, (bits, group, zp)) in cases().into_iter().enumerate() {
        let (n, k) = (37, 512 + if group == Group::PerRow { 19 } else { 0 });
        let seed = 2000 + i as u64;
        for mm in [2, 5, 13] {
            let f = common::fmt(bits, group, zp);
            let (w, x) = common::random_matrix(f, n, k, mm * k, 1.0, seed);
            check_gemm(&w.view(), &x, mm, 0..n, seed);
            check_gemm(&w.view(), &x, mm, 5..n - 2, seed + 1);
        }
    }
}
