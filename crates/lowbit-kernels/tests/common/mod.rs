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

use lowbit_kernels::a8::A8Activations;
use lowbit_kernels::registry::{self, Entry, GemmFn, GemvA8Fn, GemvF32, KernelKey};
use lowbit_kernels::{Out, Weights, Workspace};

/// Every registry entry of `table` this CPU can run that takes `w` (every variant, not
/// only the one selection would pick: a VNNI machine runs the AVX-512BW entries too).
pub fn entries<F>(table: &'static registry::Table<F>, w: &Weights<'_>) -> Vec<&'static Entry<F>> {
    let key = KernelKey::of(w);
    let v: Vec<_> = table
        .iter()
        .filter(|e| e.variant.is_available() && (e.accepts)(&key))
        .collect();
    assert!(!v.is_empty(), "no kernel for {key:?}");
    v
}

/// Runs an f32 GEMV entry directly: prepare the activations, then the row range.
pub fn run_gemv(
    e: &Entry<GemvF32>,
    w: &Weights<'_>,
    x: &[f32],
    rows: std::ops::Range<usize>,
    y: &mut [f32],
    out: &Out<'_>,
) {
    let mut xp = vec![0.0f32; x.len()];
    let xp: &[f32] = if (e.run.prepare)(w, x, &mut xp) {
        &xp
    } else {
        x
    };
    (e.run.run)(w, xp, rows, y, out);
}

/// The GEMV entries.
pub fn gemv_entries(w: &Weights<'_>) -> Vec<&'static Entry<GemvF32>> {
    entries(&registry::GEMV, w)
}

/// The A8 GEMV entries.
pub fn a8_entries(w: &Weights<'_>) -> Vec<&'static Entry<GemvA8Fn>> {
    entries(&registry::GEMV_A8, w)
}

/// The GEMM entries.
pub fn gemm_entries(w: &Weights<'_>) -> Vec<&'static Entry<GemmFn>> {
    entries(&registry::GEMM, w)
}

/// `lowbit_kernels::gemv::gemv` with a fresh workspace and a plain store.
pub fn gemv_isa(
    isa: lowbit_kernels::Isa,
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: std::ops::Range<usize>,
    y: &mut [f32],
) -> lowbit_kernels::Result<&'static Entry<GemvF32>> {
    lowbit_kernels::gemv::gemv(
        isa,
        &Weights::Int(*w),
        x,
        rows,
        y,
        &Out::STORE,
        &mut Workspace::new(),
    )
}

/// `lowbit_kernels::gemv::gemv_a8` with a plain store.
pub fn gemv_a8_isa(
    isa: lowbit_kernels::Isa,
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    rows: std::ops::Range<usize>,
    y: &mut [f32],
) -> lowbit_kernels::Result<&'static Entry<GemvA8Fn>> {
    lowbit_kernels::gemv::gemv_a8(isa, &Weights::Int(*w), x, rows, y, &Out::STORE)
}

/// `lowbit_kernels::gemv::gemm` with a plain store.
pub fn gemm_isa(
    isa: lowbit_kernels::Isa,
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: std::ops::Range<usize>,
    y: &mut [f32],
    ldy: usize,
) -> lowbit_kernels::Result<&'static Entry<GemmFn>> {
    lowbit_kernels::gemv::gemm(isa, &Weights::Int(*w), x, m, rows, y, ldy, &Out::STORE)
}
