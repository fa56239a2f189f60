//! Reference GEMM with f32 activations (every format), and the fused summation order
//! every SIMD GEMM kernel follows.
//!
//! Layout (every GEMM kernel): `x` is row-major `[M][K]` (activation row `mi` is
//! `x[mi*K .. (mi+1)*K]`); the output for activation row `mi` and weight row (output
//! channel) `n` in `rows` is `y[mi*ldy + (n - rows.start)]`. Elements of `y` outside those
//! positions (the padding between `rows.len()` and `ldy`) are never written.

use core::ops::Range;

use super::with_elements;
use crate::contract::{assert_gemm, Out, Weights};
use crate::dispatch::Variant;

/// Reference GEMM: `Y[mi][n] = sum_k W[n,k] * X[mi][k]`, written
/// through `out`.
///
/// Each output is computed exactly as [`crate::reference::gemv::row`] computes it (groups
/// in order, elements in order within a group, no FMA, one multiplication by the group's
/// scale) and then written as [`Out::apply`] says, so GEMM with `m == 1` equals the
/// reference GEMV bitwise, and every output depends only on its weight row and its
/// activation row.
pub fn gemm(
    w: &Weights<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
    out: &Out<'_>,
) {
    assert_gemm(w, x, m, &rows, y, ldy, out, Variant::Scalar);
    let k = w.k();
    with_elements!(w, |w| for mi in 0..m {
        let xr = &x[mi * k..(mi + 1) * k];
        for (i, n) in rows.clone().enumerate() {
            let yv = &mut y[mi * ldy + i];
            *yv = out.apply(n, super::gemv::row(w, xr, n), *yv);
        }
    })
}

/// The dequantized weight `s * (q - z)` as the SIMD GEMM kernels compute it:
/// `fma(q, s, -(z * s))`. An f16 scale times an integer of at most 9 bits is exact in f32,
/// so `q * s`, `z * s` and their difference are exact and this is `s * (q - z)` exactly;
/// a zero weight is always `+0.0` (the two addends are zeros of opposite signs, or exact
/// opposites). Every SIMD path evaluates this same expression, so the bits agree.
#[inline(always)]
pub fn fused_weight(q: u8, s: f32, z: u8) -> f32 {
    f32::from(q).mul_add(s, -(f32::from(z) * s))
}

/// The fused order of the SIMD GEMM kernels, in scalar Rust: with the exact dequantized
/// weight [`super::Elements::fused`] (INT: `s * (q - z)`, [`fused_weight`]), each output is one chain of fused
/// multiply-adds over `k` in increasing order, starting from `+0.0` (from the old output
/// when `out` accumulates): `acc = fma(w[n,k], x[mi][k], acc)`; then `+ bias[n]`.
///
/// Every SIMD GEMM kernel (`gemm_*_f32_{avx2,avx512,neon}`) returns exactly these bits
/// (NaN payloads aside), whatever `m`, `rows` or tile sizes, so results do not depend on
/// the batch size, the row split or the thread count, nor on which SIMD ISA ran. It is
/// the oracle of those kernels' bitwise tests; [`gemm`] is the accuracy reference.
/// `f32::mul_add` is slow without hardware FMA: this is for tests.
pub fn gemm_fused(
    w: &Weights<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
    out: &Out<'_>,
) {
    assert_gemm(w, x, m, &rows, y, ldy, out, Variant::Scalar);
    let kk = w.k();
    let w = super::elements(w);
    for (i, n) in rows.enumerate() {
        for mi in 0..m {
            let xr = &x[mi * kk..(mi + 1) * kk];
            let yv = &mut y[mi * ldy + i];
            let mut acc = if out.accumulate { *yv } else { 0.0 };
            for (k, &xk) in xr.iter().enumerate() {
                acc = w.fused(n, k).mul_add(xk, acc);
            }
            *yv = match out.bias {
                Some(b) => acc + b[n],
                None => acc,
            };
        }
    }
}
