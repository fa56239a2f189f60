//! Reference INT-b GEMV.

use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::contract::{assert_gemv, Out, Weights};
use crate::dispatch::Variant;

/// Reference INT GEMV for every bit width, written through `out` ([`Out::apply`]); each
/// row's value is [`row`].
pub fn gemv(w: &Weights<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32], out: &Out<'_>) {
    assert_gemv(w, x, &rows, y, out, Variant::Scalar);
    let Weights::Int(w) = w;
    for (yv, n) in y.iter_mut().zip(rows) {
        *yv = out.apply(n, row(w, x, n), *yv);
    }
}

/// Row `n` times `x`, in f32:
/// `sum_j s_j * (sum_{k in group j} (q_k - z_j) * x_k)`, groups in order and elements in
/// order within a group, without fused multiply-add.
pub fn row(w: &IntMatrixRef<'_>, x: &[f32], n: usize) -> f32 {
    let l = *w.layout();
    let mut acc = 0.0f32;
    for j in 0..l.groups_per_row {
        let z = f32::from(w.zero(n, j));
        let mut g = 0.0f32;
        for (k, &xk) in x.iter().enumerate().skip(j * l.group_len).take(l.group_len) {
            g += (f32::from(w.code(n, k)) - z) * xk;
        }
        acc += w.scale(n, j) * g;
    }
    acc
}

/// The scalar path needs no reordered activations (a [`crate::registry::GemvF32`]
/// `prepare` that leaves `xp` alone).
pub fn no_prepare(_: &Weights<'_>, _: &[f32], _: &mut [f32]) -> bool {
    false
}
