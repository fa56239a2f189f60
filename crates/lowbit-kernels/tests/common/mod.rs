//! Helpers shared by the kernel test files: deterministic inputs and the float bound.
#![allow(dead_code)]

use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
use lowbit_formats::Group;

/// xorshift64: a deterministic value in [-1, 1).
pub fn xorshift(state: &mut u64) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// gamma_m = m u / (1 - m u), u = 2^-24: the relative error bound of an m-term f32 sum.
pub fn gamma(m: usize) -> f64 {
    let u = f64::from(f32::EPSILON) / 2.0;
    (m as f64) * u / (1.0 - (m as f64) * u)
}

/// `2 * gamma_{K+2} * sum_k |s (q - z) x_k|` for row `n`: the bound on the difference of
/// two evaluation orders of the f32 dot product (see the docs of `int_gemv.rs`).
pub fn tolerance(w: &IntMatrixRef<'_>, x: &[f32], n: usize) -> f64 {
    let l = w.layout();
    let mut a = 0.0f64;
    for (k, &xk) in x.iter().enumerate() {
        let j = k / l.group_len;
        let v = f64::from(w.scale(n, j)) * (f64::from(w.code(n, k)) - f64::from(w.zero(n, j)));
        a += (v * f64::from(xk)).abs();
    }
    2.0 * gamma(l.k + 2) * a + 1e-30
}

/// A quantized random `n x k` matrix (weights in [-3, 3)) and `x_len` activations
/// in `[-x_scale, x_scale)`, all from one seed.
pub fn random_matrix(
    format: IntFormat,
    n: usize,
    k: usize,
    x_len: usize,
    x_scale: f32,
    seed: u64,
) -> (IntMatrix, Vec<f32>) {
    let mut s = seed | 1;
    let w: Vec<f32> = (0..n * k).map(|_| xorshift(&mut s) * 3.0).collect();
    let x: Vec<f32> = (0..x_len).map(|_| xorshift(&mut s) * x_scale).collect();
    (IntMatrix::quantize(&w, n, k, format).unwrap(), x)
}

/// Shorthand for an [`IntFormat`].
pub fn fmt(bits: u8, group: Group, zero_point: bool) -> IntFormat {
    IntFormat {
        bits,
        group,
        zero_point,
    }
}
