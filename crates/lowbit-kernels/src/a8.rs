//! Activations prepared for the integer-dot (A8) kernels.
//!
//! [`A8Activations`] quantizes an f32 activation vector with the A8 codec of
//! `lowbit_formats::act` (int8 per block of 32, f32 scale per block) and stores it in the
//! layouts the A8 decode steps read, built once per activation vector and shared by every
//! row task. Every array is padded with zero codes (and zero scales) to a multiple of
//! [`SUPER`] elements, so a decode step of up to 256 elements reads in bounds anywhere:
//!
//! - even/odd codes, in chunks of [`CHUNK`] = 128 elements: the 64 even-indexed elements
//!   of the chunk followed by the 64 odd-indexed ones. A 4-bit weight byte holds an even
//!   element in its low nibble and the next odd element in its high nibble, so low
//!   nibbles meet the even half and high nibbles the odd half without any shuffle;
//! - per 8 consecutive elements, minus the sum of their codes: the elements a 4-way byte
//!   dot product (`vpdpbusd`, `vpmaddubsw`+`vpmaddwd`, `sdot`) adds into one lane when it
//!   multiplies 4 low and 4 high nibbles against the even/odd halves. Starting a lane from
//!   `z` times that makes it hold `sum (q - z) * x8` over its elements exactly, so a lane
//!   whose codes all equal the zero-point is exactly 0 and no cancellation is left to the
//!   float part;
//! - the codes in natural order, and per 4 consecutive elements minus the sum of their
//!   codes (the lane pattern of a 4-way dot over bytes in order: 8-bit weights);
//! - the 2-bit-weight layout, built on first use (`A8Activations::m4`);
//! - one f32 scale per block of 32 elements.
//!
//! Preparing allocates; [`A8Activations::requantize`] reuses every buffer (the lazily built
//! 2-bit-weight layout included) when `K` fits.

use lowbit_formats::act::{quantize_block, quantize_block_ovp4, BLOCK};
use lowbit_formats::Result;

/// Elements per chunk of the even/odd layout.
pub const CHUNK: usize = 128;

/// Elements per superchunk of the 2-bit-weight layout (and the padding of every layout).
pub const SUPER: usize = 256;

/// An activation vector quantized to int8 per block of 32, in the kernels' layouts.
#[derive(Debug, Default)]
pub struct A8Activations {
    k: usize,
    /// Quantized by the W4A4 codec (OVP-4 values as the codes) instead of int8.
    ovp4: bool,
    codes: Vec<i8>,
    negsum8: Vec<i32>,
    codes_nat: Vec<i8>,
    negsum4: Vec<i32>,
    scales: Vec<f32>,
    /// The 2-bit-weight layout, built on first use (see [`A8Activations::m4`]).
    m4: std::sync::OnceLock<M4>,
    /// The buffers of a 2-bit-weight layout dropped by [`A8Activations::requantize`],
    /// reused by the next build so that requantizing allocates nothing once grown.
    spare: std::sync::Mutex<M4>,
}

impl Clone for A8Activations {
    fn clone(&self) -> Self {
        A8Activations {
            k: self.k,
            ovp4: self.ovp4,
            codes: self.codes.clone(),
            negsum8: self.negsum8.clone(),
            codes_nat: self.codes_nat.clone(),
            negsum4: self.negsum4.clone(),
            scales: self.scales.clone(),
            m4: self.m4.clone(),
            spare: Default::default(),
        }
    }
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

/// Equal when they hold the same quantized activations (whether the 2-bit-weight layout,
/// derived from them, has been built yet does not matter).
impl PartialEq for A8Activations {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k
            && self.ovp4 == other.ovp4
            && self.codes == other.codes
            && self.negsum8 == other.negsum8
            && self.codes_nat == other.codes_nat
            && self.negsum4 == other.negsum4
            && self.scales == other.scales
    }
}

impl A8Activations {
    /// Quantizes `x` (NaN/Inf is an error).
    pub fn new(x: &[f32]) -> Result<Self> {
        let mut a = A8Activations::default();
        a.requantize(x)?;
        Ok(a)
    }

    /// Quantizes `x` with the W4A4 codec (`lowbit_formats::act::quantize_block_ovp4`:
    /// OliVe's OVP-4 per block of 32, an f32 scale per block): the codes are the decoded
    /// OVP-4 values (`-96..=96`), so every A8 kernel multiplies them unchanged, in integer
    /// dot products (OVP-4 weights against OVP-4 activations is OliVe's W4A4). NaN/Inf is
    /// an error.
    pub fn new_ovp4(x: &[f32]) -> Result<Self> {
        let mut a = A8Activations::default();
        a.requantize_ovp4(x)?;
        Ok(a)
    }

    /// [`requantize`](Self::requantize) with the W4A4 codec ([`new_ovp4`](Self::new_ovp4)).
    pub fn requantize_ovp4(&mut self, x: &[f32]) -> Result<()> {
        self.ovp4 = true;
        self.requantize_with(x)
    }

    /// Whether the activations hold the W4A4 codec's values ([`new_ovp4`](Self::new_ovp4)).
    pub fn is_ovp4(&self) -> bool {
        self.ovp4
    }

    /// Re-quantizes into the same buffers (allocates only if `x` is longer than before),
    /// with the int8 codec. On error the activations are left empty (`K = 0`).
    pub fn requantize(&mut self, x: &[f32]) -> Result<()> {
        self.ovp4 = false;
        self.requantize_with(x)
    }

    fn requantize_with(&mut self, x: &[f32]) -> Result<()> {
        if let Some(m) = self.m4.take() {
            *self.spare.get_mut().unwrap_or_else(|p| p.into_inner()) = m;
        }
        let r = self.fill(x);
        self.k = if r.is_ok() { x.len() } else { 0 };
        r
    }

    fn fill(&mut self, x: &[f32]) -> Result<()> {
        let len = x.len().div_ceil(SUPER) * SUPER;
        for v in [&mut self.codes, &mut self.codes_nat] {
            v.clear();
            v.resize(len, 0);
        }
        for (v, per) in [(&mut self.negsum8, 8), (&mut self.negsum4, 4)] {
            v.clear();
            v.resize(len / per, 0);
        }
        self.scales.clear();
        self.scales.resize(len / BLOCK, 0.0);
        let mut out = Lanes {
            codes: &mut self.codes,
            negsum8: &mut self.negsum8,
            codes_nat: &mut self.codes_nat,
            negsum4: &mut self.negsum4,
            scales: &mut self.scales,
        };
        let mut q = [0i8; BLOCK];
        let mut b = 0;
        while b < x.len().div_ceil(BLOCK) {
            // Whole blocks go through SIMD where the CPU has it; the scalar codec takes the
            // blocks it leaves (a partial last block, or non-finite input to report). The
            // W4A4 codec is scalar.
            if !self.ovp4 {
                b = crate::simd::quantize_blocks(x, b, &mut out);
            }
            let Some(xb) = x.chunks(BLOCK).nth(b) else {
                break;
            };
            let qb = &mut q[..xb.len()];
            let codec = if self.ovp4 {
                quantize_block_ovp4
            } else {
                quantize_block
            };
            let s = match codec(xb, qb) {
                Ok(s) => s,
                Err(lowbit_formats::Error::NonFinite { index }) => {
                    return Err(lowbit_formats::Error::NonFinite {
                        index: b * BLOCK + index,
                    })
                }
                Err(e) => return Err(e),
            };
            q[xb.len()..].fill(0);
            out.store_block(b, &q, s);
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
        self.codes_nat[k]
    }

    /// The scale of block `b` (elements `32b .. 32b + 32`).
    #[inline]
    pub fn block_scale(&self, b: usize) -> f32 {
        self.scales[b]
    }

    /// The sum of block `b`'s codes.
    #[inline]
    pub fn block_sum(&self, b: usize) -> i32 {
        -self.negsum8[4 * b..4 * b + 4].iter().sum::<i32>()
    }

    /// The dequantized activations, `s_b * q_k` (what the A8 path multiplies by).
    pub fn dequantize(&self) -> Vec<f32> {
        (0..self.k)
            .map(|k| self.block_scale(k / BLOCK) * f32::from(self.code(k)))
            .collect()
    }

    /// Codes in the even/odd layout (padded to a multiple of 256).
    pub(crate) fn codes(&self) -> &[i8] {
        &self.codes
    }
    /// Minus the sum of the codes of elements `8j .. 8j + 8`, for each `j`.
    pub(crate) fn negsum8(&self) -> &[i32] {
        &self.negsum8
    }
    /// Codes in natural order (padded to a multiple of 256).
    pub(crate) fn codes_nat(&self) -> &[i8] {
        &self.codes_nat
    }
    /// Minus the sum of the codes of elements `4j .. 4j + 4`, for each `j`.
    pub(crate) fn negsum4(&self) -> &[i32] {
        &self.negsum4
    }
    /// The scale of every block (padded with zeros to a multiple of 8 blocks).
    pub(crate) fn scales(&self) -> &[f32] {
        &self.scales
    }
    /// The 2-bit-weight layout: codes (`supers * 256`) and per-16 negated sums
    /// (`supers * 16`), `supers = ceil(K / 256)`. Built from the natural-order codes on
    /// the first call (a byte transpose, about K operations) and kept until requantized.
    pub(crate) fn m4(&self) -> (&[i8], &[i32]) {
        let m = self.m4.get_or_init(|| {
            let supers = self.k.div_ceil(SUPER);
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            let M4 {
                mut codes,
                mut negsum16,
            } = core::mem::take(&mut *spare);
            codes.clear();
            codes.resize(supers * SUPER, 0);
            for (s, sc) in codes.chunks_exact_mut(SUPER).enumerate() {
                for (t, plane) in sc.chunks_exact_mut(64).enumerate() {
                    for (j, c) in plane.iter_mut().enumerate() {
                        *c = self.codes_nat[SUPER * s + 4 * j + t];
                    }
                }
            }
            negsum16.clear();
            negsum16.extend(
                self.negsum4[..supers * 64]
                    .chunks_exact(4)
                    .map(|q| q.iter().sum::<i32>()),
            );
            M4 { codes, negsum16 }
        });
        (&m.codes, &m.negsum16)
    }
}

/// The buffers a quantizer fills (see the module docs for their layouts), all padded to a
/// multiple of 256 elements.
pub(crate) struct Lanes<'a> {
    pub(crate) codes: &'a mut [i8],
    pub(crate) negsum8: &'a mut [i32],
    pub(crate) codes_nat: &'a mut [i8],
    pub(crate) negsum4: &'a mut [i32],
    pub(crate) scales: &'a mut [f32],
}

impl Lanes<'_> {
    /// Stores block `b`'s 32 codes (zero past `K`) and scale in every layout.
    pub(crate) fn store_block(&mut self, b: usize, q: &[i8; BLOCK], s: f32) {
        let (c, i) = (b / 4, b % 4);
        let base = CHUNK * c;
        for j in 0..16 {
            self.codes[base + 16 * i + j] = q[2 * j];
            self.codes[base + 64 + 16 * i + j] = q[2 * j + 1];
        }
        self.scales[b] = s;
        let neg = |r: core::ops::Range<usize>| -q[r].iter().map(|&v| i32::from(v)).sum::<i32>();
        for j in 0..4 {
            self.negsum8[4 * b + j] = neg(8 * j..8 * j + 8);
        }
        self.codes_nat[BLOCK * b..BLOCK * (b + 1)].copy_from_slice(q);
        for j in 0..8 {
            self.negsum4[8 * b + j] = neg(4 * j..4 * j + 4);
        }
    }

    /// Checks the lengths a quantizer of the blocks of `x` relies on.
    pub(crate) fn assert_fits(&self, x_len: usize) {
        let len = x_len.div_ceil(SUPER) * SUPER;
        assert!(self.codes.len() >= len && self.codes_nat.len() >= len);
        assert!(self.negsum8.len() >= len / 8 && self.negsum4.len() >= len / 4);
        assert!(self.scales.len() >= len / BLOCK);
    }
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
            assert_eq!(a.codes().len() % SUPER, 0);
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
    /// block codec's: codes in both layouts, scales and the per-8 and per-4 sums, on inputs
    /// that hit the edges (zero blocks, subnormal amax, amax around `MIN_AMAX` where
    /// blocks turn to zero, exact rounding ties, -0.0, values spanning many binades, partial last blocks).
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
                    match (round + i / 32) % 7 {
                        0 => 0.0,
                        1 => {
                            f32::from_bits((r % 0x10) as u32) * if r & 1 == 0 { 1.0 } else { -1.0 }
                        }
                        // amax 127 and halves: every product is exact and ties.
                        2 if i % 32 == 0 => 127.0,
                        2 => (r % 509) as f32 / 2.0 - 127.0,
                        3 => (r % 2001) as f32 / 1000.0 - 1.0,
                        4 => -0.0,
                        5 => {
                            let m = lowbit_formats::act::MIN_AMAX;
                            m * (r % 4000) as f32 / 2000.0 * if r & 1 == 0 { 1.0 } else { -1.0 }
                        }
                        _ => f32::from_bits(
                            (r as u32 & 0x807F_FFFF) | (((r >> 32) % 60 + 100) as u32) << 23,
                        ),
                    }
                })
                .collect();
            a.requantize(&x).unwrap();
            assert_eq!(a.k(), k);
            let mut want = A8Activations::default();
            let len = k.div_ceil(SUPER) * SUPER;
            want.codes = vec![0; len];
            want.codes_nat = vec![0; len];
            want.negsum8 = vec![0; len / 8];
            want.negsum4 = vec![0; len / 4];
            want.scales = vec![0.0; len / BLOCK];
            want.k = k;
            let mut lanes = Lanes {
                codes: &mut want.codes,
                negsum8: &mut want.negsum8,
                codes_nat: &mut want.codes_nat,
                negsum4: &mut want.negsum4,
                scales: &mut want.scales,
            };
            for (b, xb) in x.chunks(BLOCK).enumerate() {
                let mut q = [0i8; BLOCK];
                let s = quantize_block(xb, &mut q[..xb.len()]).unwrap();
                lanes.store_block(b, &q, s);
            }
            assert_eq!(a, want, "round {round}");
            for (p, w) in a.scales.iter().zip(&want.scales) {
                assert_eq!(p.to_bits(), w.to_bits(), "round {round}");
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
