//! Activations prepared for the integer-dot (A8) kernels.
//!
//! [`A8Activations`] quantizes an f32 activation vector with the A8 codec of
//! `lowbit_formats::act` (int8 per block of 32, f32 scale per block) and stores it in the
//! kernels' private layout, built once per GEMV and shared by every row task:
//!
//! - codes, in chunks of 128 elements (4 blocks): the 64 even-indexed elements of the
//!   chunk (block 0's 16 evens, then block 1's, ...) followed by the 64 odd-indexed ones.
//!   A 4-bit weight byte holds an even element in its low nibble and the next odd element
//!   in its high nibble, so low nibbles meet the even half and high nibbles the odd half
//!   without any shuffle. `K` is padded with zero codes to a multiple of 128.
//! - per chunk, 16 f32 lanes: lane `4i + j` holds block `4c + i`'s scale (the lane
//!   pattern of a 4-way integer dot product over 16-byte blocks);
//! - per chunk, 16 i32 lanes: lane `4i + j` holds minus the sum of the codes of elements
//!   `8j .. 8j + 8` of block `4c + i` — exactly the 8 elements whose products a 4-way
//!   byte dot product (`vpdpbusd`, `vpmaddubsw`+`vpmaddwd`, `sdot`) adds into that lane
//!   (4 even elements from the low nibbles, 4 odd ones from the high nibbles). Starting a
//!   lane from `z * that` makes it hold `sum (q - z) * x8` over its 8 elements exactly, so
//!   a lane whose codes all equal the zero-point is exactly 0 and no cancellation is left
//!   to the float part.
//!
//! - for 8-bit weights, whose bytes hold one code each: the codes again in natural order
//!   (`K` padded like the chunks), and per 4 consecutive elements minus the sum of their
//!   codes — the lane pattern of a 4-way byte dot product over bytes in order.
//!
//! Preparing allocates; [`A8Activations::requantize`] reuses the buffers when `K` fits.

use lowbit_formats::act::{quantize_block, BLOCK};
use lowbit_formats::Result;

/// Elements per chunk of the private layout.
pub const CHUNK: usize = 128;

/// An activation vector quantized to int8 per block of 32, in the kernels' layout.
#[derive(Debug, Clone, Default)]
pub struct A8Activations {
    k: usize,
    codes: Vec<i8>,
    scale_lanes: Vec<f32>,
    negsum_lanes: Vec<i32>,
    codes_nat: Vec<i8>,
    negsum4: Vec<i32>,
    /// The 2-bit-weight layout, built on first use (see [`A8Activations::m4`]).
    m4: std::sync::OnceLock<M4>,
}

/// Activations laid out for 2-bit weights (four codes per byte, element `4j + t` at bits
/// `2t` of byte `j`): per superchunk of 256 elements, plane `t` (64 bytes) holds the
/// codes of elements `4j + t`, `j < 64`, so the `t`-th 2-bit field of every weight byte
/// meets its activation in place; and per 16 elements minus the sum of their codes (the
/// elements a 4-way byte dot product over 4 weight bytes covers).
#[derive(Debug, Clone, Default, PartialEq)]
struct M4 {
    codes: Vec<i8>,
    negsum16: Vec<i32>,
}

/// Elements per superchunk of the 2-bit-weight layout.
pub const SUPER: usize = 256;

/// Equal when they hold the same quantized activations (whether the 2-bit-weight layout,
/// derived from them, has been built yet does not matter).
impl PartialEq for A8Activations {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k
            && self.codes == other.codes
            && self.scale_lanes == other.scale_lanes
            && self.negsum_lanes == other.negsum_lanes
            && self.codes_nat == other.codes_nat
            && self.negsum4 == other.negsum4
    }
}

impl A8Activations {
    /// Quantizes `x` (NaN/Inf is an error).
    pub fn new(x: &[f32]) -> Result<Self> {
        let mut a = A8Activations::default();
        a.requantize(x)?;
        Ok(a)
    }

    /// Re-quantizes into the same buffers (allocates only if `x` is longer than before).
    /// On error the activations are left empty (`K = 0`).
    pub fn requantize(&mut self, x: &[f32]) -> Result<()> {
        self.m4.take();
        let r = self.fill(x);
        self.k = if r.is_ok() { x.len() } else { 0 };
        r
    }

    fn fill(&mut self, x: &[f32]) -> Result<()> {
        let chunks = x.len().div_ceil(CHUNK);
        for (v, len) in [(&mut self.codes, CHUNK), (&mut self.codes_nat, CHUNK)] {
            v.clear();
            v.resize(chunks * len, 0);
        }
        for (v, len) in [(&mut self.negsum_lanes, 16), (&mut self.negsum4, 32)] {
            v.clear();
            v.resize(chunks * len, 0);
        }
        self.scale_lanes.clear();
        self.scale_lanes.resize(chunks * 16, 0.0);
        let mut out = Lanes {
            codes: &mut self.codes,
            scales: &mut self.scale_lanes,
            negsum: &mut self.negsum_lanes,
            codes_nat: &mut self.codes_nat,
            negsum4: &mut self.negsum4,
        };
        let mut q = [0i8; BLOCK];
        let mut b = 0;
        while b < x.len().div_ceil(BLOCK) {
            // Whole blocks go through SIMD where the CPU has it; the scalar codec takes the
            // blocks it leaves (a partial last block, non-finite input, amax so small that
            // 127 / amax overflows).
            b = simd_blocks(x, b, &mut out);
            let Some(xb) = x.chunks(BLOCK).nth(b) else {
                break;
            };
            let qb = &mut q[..xb.len()];
            let s = match quantize_block(xb, qb) {
                Ok(s) => s,
                Err(lowbit_formats::Error::NonFinite { index }) => {
                    return Err(lowbit_formats::Error::NonFinite {
                        index: b * BLOCK + index,
                    })
                }
                Err(e) => return Err(e),
            };
            q[xb.len()..].fill(0);
            let (c, i) = (b / 4, b % 4);
            let base = c * CHUNK;
            for j in 0..16 {
                out.codes[base + 16 * i + j] = q[2 * j];
                out.codes[base + 64 + 16 * i + j] = q[2 * j + 1];
            }
            out.scales[c * 16 + 4 * i..c * 16 + 4 * i + 4].fill(s);
            let neg = |r: core::ops::Range<usize>| -q[r].iter().map(|&v| i32::from(v)).sum::<i32>();
            for j in 0..4 {
                out.negsum[c * 16 + 4 * i + j] = neg(8 * j..8 * j + 8);
            }
            out.codes_nat[BLOCK * b..BLOCK * (b + 1)].copy_from_slice(&q);
            for j in 0..8 {
                out.negsum4[8 * b + j] = neg(4 * j..4 * j + 4);
            }
            b += 1;
        }
        Ok(())
    }

    /// Length of the activation vector.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The int8 code of element `k` (its value is `block_scale(k / 32) * code(k)`).
    #[inline]
    pub fn code(&self, k: usize) -> i8 {
        let (c, r) = (k / CHUNK, k % CHUNK);
        let (b, e) = (r / BLOCK, r % BLOCK);
        self.codes[c * CHUNK + 64 * (e % 2) + 16 * b + e / 2]
    }

    /// The scale of block `b` (elements `32b .. 32b + 32`).
    #[inline]
    pub fn block_scale(&self, b: usize) -> f32 {
        self.scale_lanes[(b / 4) * 16 + 4 * (b % 4)]
    }

    /// The sum of block `b`'s codes.
    #[inline]
    pub fn block_sum(&self, b: usize) -> i32 {
        let l = (b / 4) * 16 + 4 * (b % 4);
        -self.negsum_lanes[l..l + 4].iter().sum::<i32>()
    }

    /// The dequantized activations, `s_b * q_k` (what the A8 path multiplies by).
    pub fn dequantize(&self) -> Vec<f32> {
        (0..self.k)
            .map(|k| self.block_scale(k / BLOCK) * f32::from(self.code(k)))
            .collect()
    }

    /// Codes in the private layout (`chunks * 128`).
    pub(crate) fn codes(&self) -> &[i8] {
        &self.codes
    }
    /// Per-chunk scale lanes (`chunks * 16`).
    pub(crate) fn scale_lanes(&self) -> &[f32] {
        &self.scale_lanes
    }
    /// Per-chunk negated code-sum lanes (`chunks * 16`).
    pub(crate) fn negsum_lanes(&self) -> &[i32] {
        &self.negsum_lanes
    }
    /// Codes in natural order (`chunks * 128`, zero past `K`).
    pub(crate) fn codes_nat(&self) -> &[i8] {
        &self.codes_nat
    }
    /// Minus the sum of the codes of elements `4j .. 4j + 4`, for each `j` (`chunks * 32`).
    pub(crate) fn negsum4(&self) -> &[i32] {
        &self.negsum4
    }
    /// The 2-bit-weight layout: codes (`supers * 256`) and per-16 negated sums
    /// (`supers * 16`), `supers = ceil(K / 256)`. Built from the natural-order codes on
    /// the first call (a byte transpose, about K operations) and kept until requantized.
    pub(crate) fn m4(&self) -> (&[i8], &[i32]) {
        let m = self.m4.get_or_init(|| {
            let supers = self.k.div_ceil(SUPER);
            let mut codes = vec![0i8; supers * SUPER];
            for (s, sc) in codes.chunks_exact_mut(SUPER).enumerate() {
                for (t, plane) in sc.chunks_exact_mut(64).enumerate() {
                    for (j, c) in plane.iter_mut().enumerate() {
                        *c = self
                            .codes_nat
                            .get(SUPER * s + 4 * j + t)
                            .copied()
                            .unwrap_or(0);
                    }
                }
            }
            let negsum16 = (0..supers * 16)
                .map(|l| (4 * l..4 * l + 4).filter_map(|i| self.negsum4.get(i)).sum())
                .collect();
            M4 { codes, negsum16 }
        });
        (&m.codes, &m.negsum16)
    }
}

/// The buffers a quantizer fills (see the module docs for their layout).
pub(crate) struct Lanes<'a> {
    pub(crate) codes: &'a mut [i8],
    pub(crate) scales: &'a mut [f32],
    pub(crate) negsum: &'a mut [i32],
    pub(crate) codes_nat: &'a mut [i8],
    pub(crate) negsum4: &'a mut [i32],
}

/// Quantizes whole blocks from block `from` on with SIMD where the CPU has it (bitwise
/// the scalar codec's result); returns the first block it did not do.
fn simd_blocks(x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
    #[cfg(target_arch = "x86_64")]
    if crate::dispatch::Isa::Avx2.is_available() {
        return crate::x86_64::avx2::a8::quantize_blocks(x, from, out);
    }
    #[cfg(target_arch = "aarch64")]
    if crate::dispatch::Isa::Neon.is_available() {
        return crate::aarch64::neon::a8::quantize_blocks(x, from, out);
    }
    let _ = (x, out);
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_accessors_agree_with_the_block_codec() {
        for k in [1usize, 31, 32, 100, 128, 129, 300, 512] {
            let x: Vec<f32> = (0..k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let a = A8Activations::new(&x).unwrap();
            assert_eq!(a.codes().len() % CHUNK, 0);
            for (b, xb) in x.chunks(BLOCK).enumerate() {
                let mut q = vec![0i8; xb.len()];
                let s = quantize_block(xb, &mut q).unwrap();
                assert_eq!(a.block_scale(b), s);
                assert_eq!(a.block_sum(b), q.iter().map(|&v| i32::from(v)).sum::<i32>());
                for (j, &c) in q.iter().enumerate() {
                    assert_eq!(a.code(b * BLOCK + j), c);
                }
            }
            let deq = a.dequantize();
            for (i, (d, v)) in deq.iter().zip(&x).enumerate() {
                assert!((d - v).abs() <= a.block_scale(i / BLOCK) * 0.5001);
            }
        }
    }

    /// Whatever path quantizes (SIMD on this CPU or scalar), every block is bitwise the
    /// block codec's: codes, scales and the per-lane sums of 8 codes, on inputs that
    /// hit the edges (zero blocks, subnormal amax whose 127 / amax overflows, exact
    /// rounding ties, -0.0, values spanning many binades, partial last blocks).
    #[test]
    fn every_path_is_bitwise_the_block_codec() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut a = A8Activations::default();
        for round in 0..200 {
            let k = 1 + (next() % 700) as usize;
            let x: Vec<f32> = (0..k)
                .map(|i| {
                    let r = next();
                    match (round + i / 32) % 6 {
                        0 => 0.0,
                        1 => {
                            f32::from_bits((r % 0x10) as u32) * if r & 1 == 0 { 1.0 } else { -1.0 }
                        }
                        // amax 127 and halves: every product is exact and ties.
                        2 if i % 32 == 0 => 127.0,
                        2 => (r % 509) as f32 / 2.0 - 127.0,
                        3 => (r % 2001) as f32 / 1000.0 - 1.0,
                        4 => -0.0,
                        _ => f32::from_bits(
                            (r as u32 & 0x807F_FFFF) | (((r >> 32) % 60 + 100) as u32) << 23,
                        ),
                    }
                })
                .collect();
            a.requantize(&x).unwrap();
            assert_eq!(a.k(), k);
            for (b, xb) in x.chunks(BLOCK).enumerate() {
                let mut q = vec![0i8; xb.len()];
                let s = quantize_block(xb, &mut q).unwrap();
                assert_eq!(
                    a.block_scale(b).to_bits(),
                    s.to_bits(),
                    "round {round} block {b}"
                );
                q.resize(BLOCK, 0);
                for (j, &c) in q.iter().enumerate().take(xb.len()) {
                    assert_eq!(a.code(b * BLOCK + j), c, "round {round} block {b} elem {j}");
                }
                for j in 0..4 {
                    let want: i32 = q[8 * j..8 * j + 8].iter().map(|&v| i32::from(v)).sum();
                    assert_eq!(a.negsum_lanes()[(b / 4) * 16 + 4 * (b % 4) + j], -want);
                }
                assert_eq!(&a.codes_nat()[BLOCK * b..BLOCK * (b + 1)], &q[..]);
                for j in 0..8 {
                    let want: i32 = q[4 * j..4 * j + 4].iter().map(|&v| i32::from(v)).sum();
                    assert_eq!(a.negsum4()[8 * b + j], -want, "round {round} block {b}");
                }
            }
        }
    }

    #[test]
    fn the_2bit_layout_puts_element_4j_plus_t_in_plane_t() {
        for k in [1usize, 100, 256, 300, 700] {
            let x: Vec<f32> = (0..k)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 5.0)
                .collect();
            let mut a = A8Activations::new(&x).unwrap();
            let (codes, neg16) = a.m4();
            let supers = k.div_ceil(SUPER);
            assert_eq!((codes.len(), neg16.len()), (supers * SUPER, supers * 16));
            for e in 0..supers * SUPER {
                let (s, r) = (e / SUPER, e % SUPER);
                let want = if e < k { a.code(e) } else { 0 };
                assert_eq!(
                    codes[SUPER * s + 64 * (r % 4) + r / 4],
                    want,
                    "k {k} element {e}"
                );
            }
            for (l, &v) in neg16.iter().enumerate() {
                let want: i32 = (16 * l..(16 * l + 16).min(k))
                    .map(|e| i32::from(a.code(e)))
                    .sum();
                assert_eq!(v, -want);
            }
            // Requantizing drops the derived layout; equality ignores it.
            let b = A8Activations::new(&x).unwrap();
            assert_eq!(a, b);
            let y: Vec<f32> = x.iter().map(|v| -v).collect();
            a.requantize(&y).unwrap();
            assert_eq!(a.m4().0[0], if k > 0 { -b.code(0) } else { 0 });
        }
    }

    #[test]
    fn errors_leave_the_activations_empty() {
        let mut a = A8Activations::new(&[1.0; 64]).unwrap();
        let mut x = vec![0.25f32; 300];
        x[200] = f32::NAN;
        assert_eq!(
            a.requantize(&x),
            Err(lowbit_formats::Error::NonFinite { index: 200 })
        );
        assert_eq!(a.k(), 0);
        assert!(a.dequantize().is_empty());
    }

    #[test]
    fn non_finite_is_an_error_with_the_global_index() {
        let mut x = vec![0.5f32; 70];
        x[65] = f32::INFINITY;
        assert_eq!(
            A8Activations::new(&x),
            Err(lowbit_formats::Error::NonFinite { index: 65 })
        );
    }
}
