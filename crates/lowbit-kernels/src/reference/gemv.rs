//! Reference GEMV with f32 activations, every format.

use core::ops::Range;

use super::{with_elements, Elements};
use crate::contract::{assert_gemv, Out, Weights};
use crate::dispatch::Variant;

/// Reference GEMV, written through `out` ([`Out::apply`]); each row's value is [`row`].
pub fn gemv(w: &Weights<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32], out: &Out<'_>) {
    assert_gemv(w, x, &rows, y, out, Variant::Scalar);
    with_elements!(w, |w| for (yv, n) in y.iter_mut().zip(rows) {
        *yv = out.apply(n, row(w, x, n), *yv);
    })
}

/// Row `n` times `x`, in f32:
/// `sum_j s_j * (sum_{k in group j} (value_k - offset_j) * x_k)`, groups in order and
/// elements in order within a group, without fused multiply-add (INT: `q - z`).
pub fn row<W: Elements + ?Sized>(w: &W, x: &[f32], n: usize) -> f32 {
    let g = w.group_len();
    let mut acc = 0.0f32;
    for j in 0..w.k() / g {
        let z = w.offset(n, j);
        let mut s = 0.0f32;
        for (k, &xk) in x.iter().enumerate().skip(j * g).take(g) {
            s += (w.value(n, k) - z) * xk;
        }
        acc += w.scale(n, j) * s;
    }
    acc
}

/// The scalar path needs no reordered activations (a [`crate::registry::GemvF32`]
/// `prepare` that leaves `xp` alone).
pub fn no_prepare(_: &Weights<'_>, _: &[f32], _: &mut [f32]) -> bool {
    false
}
