//! Reference GEMV with A8 activations (integer dot per block of 32), every format.

use core::ops::Range;

use lowbit_formats::act::BLOCK;

use super::{with_elements, Elements};
use crate::a8::A8Activations;
use crate::contract::{assert_gemv_a8, Out, Weights};
use crate::dispatch::Variant;

/// Reference A8 GEMV. For each row, block by block:
/// `d_b = sum_{k in b} a8_elem_k * x8_k` exactly in i32 (INT: `q - z`; FP4:
/// `2 e2m1(q)`), then in f32 without FMA `y += (a8_scale(group of b) * s_x(b)) * d_b`,
/// blocks in order; written through `out`. With groups of 16 (NVFP4) a block is summed
/// and scaled per group, in order.
pub fn gemv(w: &Weights<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32], out: &Out<'_>) {
    assert_gemv_a8(w, x, &rows, y, out, Variant::Scalar);
    with_elements!(w, |w| for (yv, n) in y.iter_mut().zip(rows) {
        *yv = out.apply(n, row_from_block(w, x, n, 0), *yv);
    })
}

/// Row `n`'s sum over blocks `first_block..` to the end of the row, as [`gemv`] adds them
/// (from 0.0, in block order). The SIMD kernels finish the blocks their steps do not
/// cover (after the last whole step, a partial last block) with it.
pub fn row_from_block<W: Elements + ?Sized>(
    w: &W,
    x: &A8Activations,
    n: usize,
    first_block: usize,
) -> f32 {
    let (k, g) = (w.k(), w.group_len());
    // A block lies in one group, or (groups of 16) holds whole groups: one integer sum
    // per part of the block in one group.
    let part = g.min(BLOCK);
    let mut acc = 0.0f32;
    for b in first_block..k.div_ceil(BLOCK) {
        for p0 in (b * BLOCK..k.min((b + 1) * BLOCK)).step_by(part) {
            let j = p0 / g;
            let z = w.a8_offset(n, j);
            let d: i32 = (p0..k.min(p0 + part))
                .map(|k| (w.a8_value(n, k) - z) * i32::from(x.code(k)))
                .sum();
            acc += (w.a8_scale(n, j) * x.block_scale(b)) * d as f32;
        }
    }
    acc
}
