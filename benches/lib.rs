//! Shared helpers of the lowbit criterion benches: deterministic inputs.

/// Deterministic pseudo-random values in [-1, 1) (xorshift64), so every bench run and
/// every format sees the same matrix.
pub fn random_f32(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
