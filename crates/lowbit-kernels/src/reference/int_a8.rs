//! Reference INT-b x A8 GEMV (integer dot per block of 32).

use core::ops::Range;

use lowbit_formats::act::BLOCK;
use lowbit_formats::int::IntMatrixRef;

use crate::a8::A8Activations;
use crate::contract::{assert_gemv_a8, Out, Weights};
use crate::dispatch::Variant;

/// Reference INT x A8 GEMV for every bit width. For each row, block by block:
/// `d_b = sum_{k in b} (q_k - z) * x8_k` exactly in i32, then in f32 without FMA
/// `y += (s_w(group of b) * s_x(b)) * d_b`, blocks in order; written through `out`.
pub fn gemv(w: &Weights<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32], out: &Out<'_>) {
    assert_gemv_a8(w, x, &rows, y, out, Variant::Scalar);
    let Weights::Int(w) = w;
    for (yv, n) in y.iter_mut().zip(rows) {
        *yv = out.apply(n, row_from_block(w, x, n, 0), *yv);
    }
}

/// Row `n`'s sum over blocks `first_block..` to the end of the row, as [`gemv`] adds them
/// (from 0.0, in block order). The SIMD kernels finish the blocks their steps do not
/// cover (after the last whole step, a partial last block) with it.
pub fn row_from_block(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    n: usize,
    first_block: usize,
) -> f32 {
    let l = w.layout();
    let mut acc = 0.0f32;
    for b in first_block..l.k.div_ceil(BLOCK) {
        let j = (b * BLOCK) / l.group_len;
        let z = i32::from(w.zero(n, j));
        let d: i32 = (b * BLOCK..l.k.min((b + 1) * BLOCK))
            .map(|k| (i32::from(w.code(n, k)) - z) * i32::from(x.code(k)))
            .sum();
        acc += (w.scale(n, j) * x.block_scale(b)) * d as f32;
    }
    acc
}
