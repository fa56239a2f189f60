//! Reference INT-b GEMV.

use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

/// Reference INT GEMV for every bit width. For each row, in f32:
/// `y = sum_j s_j * (sum_{k in group j} (q_k - z_j) * x_k)`, groups in order and elements
/// in order within a group, without fused multiply-add.
pub fn gemv(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    crate::gemv::assert_gemv_args(w, x, &rows, y);
    let l = *w.layout();
    for (out, n) in y.iter_mut().zip(rows) {
        let mut acc = 0.0f32;
        for j in 0..l.groups_per_row {
            let z = f32::from(w.zero(n, j));
            let mut g = 0.0f32;
            for (k, &xk) in x.iter().enumerate().skip(j * l.group_len).take(l.group_len) {
                g += (f32::from(w.code(n, k)) - z) * xk;
            }
            acc += w.scale(n, j) * g;
        }
        *out = acc;
    }
}
