//! Decode steps of FP4 E2M1 (`w = s * e2m1(code)`, an f16 or E8M0 scale per group).
//!
//! The code plane is laid out as INT4's (element `2i` in the low nibble of byte `i`), so
//! every step reads bytes where INT4's does and differs only in what a nibble means:
//! - A8: a byte table lookup (`pshufb` / `vqtbl1q`) turns each nibble into
//!   `2 e2m1 + 12` (0..=24, an unsigned byte for the `u8 x i8` dot), the `+12` removed
//!   through the activations' negated sums exactly as INT4 removes its zero-point 8; the
//!   activation scales are halved (exact, [`A8Decode::LANE_UNIT`]) to undo the 2.
//! - f32 GEMV and GEMM (x86): an f32 permute of the magnitudes `|e2m1|` (scaled by the
//!   group's scale for the GEMV) indexed by the nibble, then the nibble's sign bit moved to
//!   bit 31 and XORed in ([`Simd::fflip`]). Every weight is exact (a 2-bit significand
//!   times an f16 or a power of two), as in the reference.

use lowbit_formats::fp::FpMatrixRef;

use super::fp::fp_a8_items;
#[cfg(target_arch = "x86_64")]
use super::fp::{fp_gemm_items, fp_gemv_items};
use super::int::{Int, IntAct};
use super::A8Decode;
#[cfg(target_arch = "x86_64")]
use super::{GemmDecode, GemvDecode};
use crate::a8::A8Activations;
use crate::simd::Dot;
#[cfg(target_arch = "x86_64")]
use crate::simd::Simd;

/// FP4 E2M1 weights, any scale kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fp4;

/// `2 e2m1(code) + 12` for every code: 2 e2m1 is an integer in -12..=12.
const A8_TABLE: [u8; 16] = {
    let mag = [0u8, 1, 2, 3, 4, 6, 8, 12];
    let mut t = [0u8; 16];
    let mut i = 0;
    while i < 8 {
        t[i] = 12 + mag[i];
        t[i + 8] = 12 - mag[i];
        i += 1;
    }
    t
};

/// `|e2m1(i & 7)|` for `i < 16` (the table an 8- or 16-entry permute reads).
#[cfg(target_arch = "x86_64")]
const MAG16: [f32; 16] = {
    let mag = [0.0f32, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
    let mut t = [0.0f32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = mag[i & 7];
        i += 1;
    }
    t
};

/// `e2m1(i)` for `i < 16` (signed: what a 16-entry permute reads).
#[cfg(target_arch = "x86_64")]
const E2M1_16: [f32; 16] = {
    let mut t = MAG16;
    let mut i = 8;
    while i < 16 {
        t[i] = -t[i];
        i += 1;
    }
    t
};

/// A8: INT4's step shape and activation layout (`8 * LANES` elements; low nibbles against
/// the even half of the activation chunk, high nibbles against the odd half), the nibbles
/// looked up in [`A8_TABLE`].
impl<S: Dot> A8Decode<S> for Fp4 {
    fp_a8_items!();

    const STEP: usize = <Int<4> as A8Decode<S>>::STEP;
    const STEP_BYTES: (usize, usize) = (<Self as A8Decode<S>>::STEP / 2, 0);
    // The table doubles every element.
    const LANE_UNIT: f32 = 0.5;
    type Act = IntAct<S>;

    /// INT4's activations, with the correction `-12 * (the lane's activation sum)` (the
    /// table's `+12`) computed once for all rows.
    #[inline(always)]
    fn act(s: S, x: &A8Activations, st: usize) -> IntAct<S> {
        let mut a = <Int<4> as A8Decode<S>>::act(s, x, st);
        let neg = a.neg[0];
        a.corr = s.iadd(s.isll(neg, 3), s.isll(neg, 2));
        a
    }

    #[inline(always)]
    unsafe fn dot<const SYM: bool>(
        s: S,
        w: &FpMatrixRef<'_>,
        n: usize,
        st: usize,
        act: &IntAct<S>,
        _z: S::I,
    ) -> S::I {
        let b0 = <Self as A8Decode<S>>::STEP_BYTES.0;
        // SAFETY: n < N and (st + 1) STEP <= K (the caller's contract), so the step's
        // bytes st * b0 .. (st + 1) * b0 of row n lie within the row.
        let wv = unsafe { s.bload(w.codes().as_ptr().add(n * w.layout().row_bytes0 + st * b0)) };
        let m = s.bsplat(0x0F);
        let t = s.btable(&A8_TABLE);
        let lo = s.blookup(t, s.band(wv, m));
        let hi = s.blookup(t, s.band(s.bsrl16::<4>(wv), m));
        // The +12 of the table, removed exactly by the activations' correction.
        s.dot_small::<2>(act.corr, [lo, hi, lo, hi], act.x)
    }
}

/// x86 f32 GEMV: one widening load puts byte `i` of the chunk in lane `i`; the group's
/// table holds `s * e2m1` (exact), read by the low nibble and by the high nibble (shifted
/// down). With an 8-entry permute (AVX2) the table holds `s * |e2m1|` and each sign bit
/// is flipped in.
#[cfg(target_arch = "x86_64")]
impl<S: Simd> GemvDecode<S> for Fp4 {
    fp_gemv_items!();

    const CHUNK: usize = 2 * S::LANES;
    const PARTS: usize = 2;
    const PER_BYTE: usize = 2;
    const RUN: usize = 2 * S::LANES;
    const PRESCALED: bool = true;
    type Tbl = S::F;

    #[inline(always)]
    fn chunk_bytes(k: usize) -> (usize, usize) {
        (k / 2, 0)
    }

    #[inline(always)]
    fn table<const SYM: bool>(s: S, scale: f32, _zero: f32) -> S::F {
        // A 16-entry permute reads the signed values; an 8-entry one the magnitudes.
        let t = if S::VPERM16 { &E2M1_16 } else { &MAG16 };
        // SAFETY: the tables hold 16 >= LANES f32.
        s.fmul(unsafe { s.fload(t.as_ptr()) }, s.fsplat(scale))
    }

    #[inline(always)]
    unsafe fn decode(s: S, p0: *const u8, _p1: *const u8, tb: &S::F) -> [S::F; 8] {
        let mut w = [s.fzero(); 8];
        // SAFETY: the caller guarantees the chunk's LANES bytes at p0.
        let v = unsafe { s.u8_load_i32(p0) };
        let (lo, hi) = (s.fpermute(*tb, v), s.fpermute(*tb, s.isrl(v, 4)));
        if S::VPERM16 {
            // The permute read the whole nibble: the sign is in the table.
            w[0] = lo;
            w[1] = hi;
        } else {
            // Sign of the low nibble: bit 3 to bit 31; of the high nibble: bit 7.
            w[0] = s.fflip(lo, s.isll(v, 28));
            w[1] = s.fflip(hi, s.isll(v, 24));
        }
        w
    }
}

/// x86 GEMM: code `t` of each lane's dword (bits `4t ..`) through the permute of
/// [`MAG16`], its sign (bit `4t + 3`) flipped in, times the lane's scale: exactly
/// [`Elements::fused`].
#[cfg(target_arch = "x86_64")]
impl<S: Simd> GemmDecode<S> for Fp4 {
    fp_gemm_items!();

    const MAIN_BITS: usize = 4;
    const PLANE1_BITS: usize = 0;

    #[inline(always)]
    fn weight(s: S, lo: S::I, _hi: S::I, (_c, t): (usize, usize), (sc, _): (S::F, S::F)) -> S::F {
        // SAFETY: MAG16 holds 16 >= LANES f32.
        let mag = s.fpermute(unsafe { s.fload(MAG16.as_ptr()) }, s.isrl(lo, 4 * t as u32));
        s.fmul(s.fflip(mag, s.isll(lo, 28 - 4 * t as u32)), sc)
    }
}
