//! Decode steps of FP6 E3M2 and E2M3 in the 4+2 split (`w = s * elem(code)`, an f16 or
//! E8M0 scale per group).
//!
//! Plane 0 holds the low four bits of each code exactly where FP4 / INT4 hold their
//! nibbles, plane 1 the high two bits (`e1` = the top exponent bit at bit 0 of the pair,
//! the sign at bit 1) in INT2's order, so every step reads plane 0 where FP4's does and
//! plane 1 where INT3 reads its extra plane:
//! - A8 E2M3 (`8 e2m3` is an integer in -60..=60): the magnitude `8 |e2m3|` of a code
//!   is its low nibble itself when `e1 = 0` (`e = 0`: `m`; `e = 1`: `8 + m`), else one byte
//!   table lookup of the nibble ([`E2M3_E1`]); the sign is moved onto the activation byte
//!   ([`Dot::bneg_bit`], exact for codes in -127..=127), so the `u8 x i8` dot needs no
//!   offset and no correction; the activation scales are divided by 8 (exact,
//!   [`A8Decode::LANE_UNIT`]).
//! - A8 E3M2 (`16 e3m2` is an integer in -448..=448: an i16, not a byte): each 16-bit lane
//!   of the step's plane-0 bytes holds four codes' nibbles, the widened plane-1 bytes their
//!   high bits, so four shift-and-merge steps make four vectors of 6-bit codes (one per
//!   nibble position) and a 64-entry i16 table ([`E3M2_A8`], [`Dot16::wlookup64`]) decodes
//!   them, sign included; they meet the activations widened to i16 in the same order
//!   ([`Dot16::dot16`]: `vpdpwssd` / `vpmaddwd`, `smlal`). AVX-512 and NEON only (see
//!   [`Dot16`]); the activation scales are divided by 16.
//! - f32 GEMV and GEMM (x86): the 5-bit magnitude index `e1 : nibble` through a 32-entry
//!   f32 permute ([`Simd::fpermute32`]: one `vpermi2ps` on AVX-512) of the group's
//!   `s * |elem|` (GEMV) or of `|elem|` times the lane's scale (GEMM), and the sign bit
//!   XORed in ([`Simd::fflip`]). Every weight is exact, as in the reference.

use lowbit_formats::fp::FpMatrixRef;

use super::fp::fp_a8_items;
#[cfg(target_arch = "x86_64")]
use super::fp::{fp_gemm_items, fp_gemv_items};
use super::int::{Int, IntAct};
use super::A8Decode;
#[cfg(target_arch = "x86_64")]
use super::{GemmDecode, GemvDecode};
use crate::a8::A8Activations;
#[cfg(target_arch = "x86_64")]
use crate::simd::Simd;
use crate::simd::{Dot, Dot16};

/// FP6 weights: E3M2 when `E3M2`, else E2M3.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fp6<const E3M2: bool>;

/// `8 |e2m3|` of the codes with `e1 = 1`, by their low nibble `e0 m2 m1 m0`: `e = 2`
/// gives `16 + 2m`, `e = 3` gives `32 + 4m`.
const E2M3_E1: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        let m = (i & 7) as u8;
        t[i] = if i < 8 { 16 + 2 * m } else { 32 + 4 * m };
        i += 1;
    }
    t
};

/// `16 e3m2(c)` for every 6-bit code `c` (sign at bit 5): `m` for `e = 0`, else
/// `(4 + m) << (e - 1)`, negated for the negative codes.
const E3M2_A8: [i16; 64] = {
    let mut t = [0i16; 64];
    let mut c = 0;
    while c < 64 {
        let (e, m) = ((c >> 2) & 7, (c & 3) as i16);
        let mag = if e == 0 { m } else { (4 + m) << (e - 1) };
        t[c] = if c >= 32 { -mag } else { mag };
        c += 1;
    }
    t
};

/// The shared activation vectors of one E3M2 A8 step: the codes widened to i16 in the
/// order of the weights' four nibble positions, and the decode table.
#[derive(Clone, Copy)]
pub(crate) struct E3M2Act<S: Dot16> {
    /// Vector `t`, 16-bit lane `w`: activation `e0 + 4w + t` of the step at `e0`.
    x: [S::B; 4],
    /// [`E3M2_A8`] in registers.
    t: S::T64,
}

/// `|elem(c)|` for the 32 magnitude codes `c` of a minifloat with `mbits` mantissa bits
/// and exponent bias `bias` (no Inf/NaN): subnormal `m 2^(1 - bias - mbits)` for `e = 0`,
/// else `(1 + m 2^-mbits) 2^(e - bias)`. Exact (small powers of two and integers).
#[cfg(any(test, target_arch = "x86_64"))]
const fn magnitudes(mbits: u32, bias: i32) -> [f32; 32] {
    let mut t = [0.0f32; 32];
    let mut c = 0;
    while c < 32 {
        let (e, m) = ((c >> mbits) as i32, (c & ((1 << mbits) - 1)) as f32);
        let (sig, exp) = if e == 0 {
            (m, 1 - bias - mbits as i32)
        } else {
            ((1 << mbits) as f32 + m, e - bias - mbits as i32)
        };
        let mut v = sig;
        let mut i = 0;
        while i < exp.abs() {
            v = if exp > 0 { v * 2.0 } else { v * 0.5 };
            i += 1;
        }
        t[c] = v;
        c += 1;
    }
    t
}

/// The magnitudes of E3M2 (2 mantissa bits, bias 3) and E2M3 (3, bias 1).
#[cfg(target_arch = "x86_64")]
static MAGS: [[f32; 32]; 2] = [magnitudes(2, 3), magnitudes(3, 1)];

/// The magnitudes of the element type.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mags<const E3M2: bool>() -> &'static [f32; 32] {
    &MAGS[usize::from(!E3M2)]
}

/// The 32 magnitudes (times `scale` when given), as the vectors [`Simd::fpermute32`]
/// reads.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mag_table<S: Simd>(s: S, mags: &[f32; 32], scale: Option<S::F>) -> [S::F; 4] {
    let mut t = [s.fzero(); 4];
    for (i, v) in t.iter_mut().enumerate().take(32 / S::LANES) {
        // SAFETY: i * LANES + LANES <= 32.
        let m = unsafe { s.fload(mags.as_ptr().add(i * S::LANES)) };
        *v = match scale {
            Some(sc) => s.fmul(m, sc),
            None => m,
        };
    }
    t
}

/// A8 (E2M3): INT4's step shape and activation layout (`8 * LANES` elements; low nibbles
/// against the even half of the activation chunk, high nibbles against the odd half), plus
/// the step's `2 * LANES` plane-1 bytes widened as INT3 widens its plane: byte `i` of the
/// widened vector holds the high bits of both codes of plane-0 byte `i` (bits 0-1 for the
/// low nibble's code, 2-3 for the high nibble's).
impl<S: Dot> A8Decode<S> for Fp6<false> {
    fp_a8_items!();

    const STEP: usize = <Int<4> as A8Decode<S>>::STEP;
    const STEP_BYTES: (usize, usize) = (
        <Self as A8Decode<S>>::STEP / 2,
        <Self as A8Decode<S>>::STEP / 4,
    );
    // The decode multiplies every element by 8.
    const LANE_UNIT: f32 = 0.125;
    type Act = IntAct<S>;

    #[inline(always)]
    fn act(s: S, x: &A8Activations, st: usize) -> IntAct<S> {
        <Int<4> as A8Decode<S>>::act(s, x, st)
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
        let (b0, b1) = <Self as A8Decode<S>>::STEP_BYTES;
        let l = w.layout();
        // SAFETY: n < N and (st + 1) STEP <= K (the caller's contract), so the step's
        // bytes st * b0 .. (st + 1) * b0 of row n's plane 0 and st * b1 .. of its plane 1
        // lie within the row.
        let (wv, z16) = unsafe {
            (
                s.bload(w.codes().as_ptr().add(n * l.row_bytes0 + st * b0)),
                s.bload_u8_as_u16(w.high().as_ptr().add(n * l.row_bytes1 + st * b1)),
            )
        };
        let e = s.bor(z16, s.band(s.bsll16::<4>(z16), s.bsplat16(0xFF00)));
        let m = s.bsplat(0x0F);
        let t = s.btable(&E2M3_E1);
        let (lo, hi) = (s.band(wv, m), s.band(s.bsrl16::<4>(wv), m));
        let mag_lo = s.bsel_bit::<0>(e, lo, s.blookup(t, lo));
        let mag_hi = s.bsel_bit::<2>(e, hi, s.blookup(t, hi));
        let x_lo = s.bneg_bit::<1>(e, act.x[0]);
        let x_hi = s.bneg_bit::<3>(e, act.x[1]);
        s.dot_small::<2>(
            s.isplat(0),
            [mag_lo, mag_hi, mag_lo, mag_hi],
            [x_lo, x_hi, x_lo, x_hi],
        )
    }
}

/// A8 (E3M2): `8 * LANES` elements per step, as INT4's; lane `j` covers elements
/// `8j .. 8j + 8`. 16-bit lane `w` of the step's plane-0 bytes holds the nibbles of
/// elements `4w + t` at bits `4t`, and 16-bit lane `w` of its plane-1 bytes widened
/// ([`Dot::bload_u8_as_u16`]) their high bits at bits `2t`: code `t` of lane `w` is the
/// nibble shifted to bits 0-3 merged with those bits moved to bits 4-5, looked up in
/// [`E3M2_A8`]. INT4's even / odd activation halves hold elements `4w, 4w + 2` and
/// `4w + 1, 4w + 3` in 16-bit lane `w`, so sign-extending their low and high bytes gives
/// the matching i16 activations ([`E3M2Act`]); each i32 lane sums its two 16-bit lanes of
/// each of the four products: elements `8j .. 8j + 8`.
impl<S: Dot16> A8Decode<S> for Fp6<true> {
    fp_a8_items!();

    const STEP: usize = <Int<4> as A8Decode<S>>::STEP;
    const STEP_BYTES: (usize, usize) = (
        <Self as A8Decode<S>>::STEP / 2,
        <Self as A8Decode<S>>::STEP / 4,
    );
    // The table multiplies every element by 16.
    const LANE_UNIT: f32 = 0.0625;
    type Act = E3M2Act<S>;

    #[inline(always)]
    fn act(s: S, x: &A8Activations, st: usize) -> E3M2Act<S> {
        let a = <Int<4> as A8Decode<S>>::act(s, x, st);
        let (ev, od) = (a.x[0], a.x[1]);
        E3M2Act {
            x: [
                s.bsra16::<8>(s.bsll16::<8>(ev)),
                s.bsra16::<8>(s.bsll16::<8>(od)),
                s.bsra16::<8>(ev),
                s.bsra16::<8>(od),
            ],
            t: s.wtable64(&E3M2_A8),
        }
    }

    #[inline(always)]
    unsafe fn dot<const SYM: bool>(
        s: S,
        w: &FpMatrixRef<'_>,
        n: usize,
        st: usize,
        act: &E3M2Act<S>,
        _z: S::I,
    ) -> S::I {
        let (b0, b1) = <Self as A8Decode<S>>::STEP_BYTES;
        let l = w.layout();
        // SAFETY: n < N and (st + 1) STEP <= K (the caller's contract), so the step's
        // bytes st * b0 .. (st + 1) * b0 of row n's plane 0 and st * b1 .. of its plane 1
        // lie within the row.
        let (v, h) = unsafe {
            (
                s.bload(w.codes().as_ptr().add(n * l.row_bytes0 + st * b0)),
                s.bload_u8_as_u16(w.high().as_ptr().add(n * l.row_bytes1 + st * b1)),
            )
        };
        let (nib, high) = (s.bsplat16(0x000F), s.bsplat16(0xFFF0));
        // Code t: nibble t to bits 0-3, high bits 2t .. 2t + 2 to bits 4-5 (bits above 5
        // are ignored by the lookup).
        let idx = [
            s.bor(s.band(v, nib), s.bsll16::<4>(h)),
            s.bor(
                s.band(s.bsrl16::<4>(v), nib),
                s.band(s.bsll16::<2>(h), high),
            ),
            s.bor(s.band(s.bsrl16::<8>(v), nib), s.band(h, high)),
            s.bor(s.bsrl16::<12>(v), s.band(s.bsrl16::<2>(h), high)),
        ];
        let wv = idx.map(|i| s.wlookup64(act.t, i));
        s.dot16::<4>(s.isplat(0), wv, act.x)
    }
}

/// x86 f32 GEMV: FP4's chunk (one widening load puts plane-0 byte `i` in lane `i`), with
/// lane `i`'s plane-1 nibble (the high bits of both its codes) from
/// [`Simd::nibble_lanes`]; the group's table is `s * |elem|` for the 32 magnitudes.
#[cfg(target_arch = "x86_64")]
impl<S: Simd, const E3M2: bool> GemvDecode<S> for Fp6<E3M2> {
    fp_gemv_items!();

    const CHUNK: usize = 2 * S::LANES;
    const PARTS: usize = 2;
    const PER_BYTE: usize = 2;
    const RUN: usize = 2 * S::LANES;
    const PRESCALED: bool = true;
    type Tbl = [S::F; 4];

    #[inline(always)]
    fn chunk_bytes(k: usize) -> (usize, usize) {
        (k / 2, k / 4)
    }

    #[inline(always)]
    fn table<const SYM: bool>(s: S, scale: f32, _zero: f32) -> [S::F; 4] {
        mag_table(s, mags::<E3M2>(), Some(s.fsplat(scale)))
    }

    #[inline(always)]
    unsafe fn decode(s: S, p0: *const u8, p1: *const u8, tb: &[S::F; 4]) -> [S::F; 8] {
        let mut w = [s.fzero(); 8];
        // SAFETY: the caller guarantees the chunk's LANES bytes at p0 and LANES / 2 at p1.
        let (v, h) = unsafe { (s.u8_load_i32(p0), s.nibble_lanes(p1)) };
        // Low nibble's code: e1 (h bit 0) to index bit 4, sign (h bit 1) to bit 31.
        let i_lo = s.ior(
            s.iand(v, s.isplat(0xF)),
            s.iand(s.isll(h, 4), s.isplat(0x10)),
        );
        w[0] = s.fflip(s.fpermute32(tb, i_lo), s.isll(h, 30));
        // High nibble's code: e1 (h bit 2) to bit 4, sign (h bit 3) to bit 31.
        let i_hi = s.ior(s.isrl(v, 4), s.iand(s.isll(h, 2), s.isplat(0x10)));
        w[1] = s.fflip(s.fpermute32(tb, i_hi), s.isll(h, 28));
        w
    }
}

/// x86 GEMM: code `t` of each lane's plane-0 dword `c` (bits `4t ..`) with its high bits
/// from the plane-1 dword `c / 2` (bits `16 (c % 2) + 2t ..`), through the permute of the
/// 32 magnitudes, the sign flipped in, times the lane's scale: exactly
/// [`Elements::fused`].
#[cfg(target_arch = "x86_64")]
impl<S: Simd, const E3M2: bool> GemmDecode<S> for Fp6<E3M2> {
    fp_gemm_items!();

    const MAIN_BITS: usize = 4;
    const PLANE1_BITS: usize = 2;

    #[inline(always)]
    fn weight(s: S, lo: S::I, hi: S::I, (c, t): (usize, usize), (sc, _): (S::F, S::F)) -> S::F {
        let h = s.isrl(hi, (16 * (c % 2) + 2 * t) as u32);
        let nib = s.iand(s.isrl(lo, 4 * t as u32), s.isplat(0xF));
        let idx = s.ior(nib, s.iand(s.isll(h, 4), s.isplat(0x10)));
        let tb = mag_table(s, mags::<E3M2>(), None);
        s.fmul(s.fflip(s.fpermute32(&tb, idx), s.isll(h, 30)), sc)
    }
}

#[cfg(test)]
mod tests {
    use lowbit_formats::minifloat::{E2M3, E3M2};

    use super::*;

    /// The kernels' tables against the codecs (themselves tested on every code point
    /// against the shared vectors).
    #[test]
    fn tables_match_the_codecs() {
        for (mags, codec) in [(magnitudes(2, 3), E3M2), (magnitudes(3, 1), E2M3)] {
            for (c, &v) in mags.iter().enumerate() {
                assert_eq!(
                    v.to_bits(),
                    codec.decode(c as u8).to_bits(),
                    "{}",
                    codec.name()
                );
            }
        }
        for (i, &v) in E2M3_E1.iter().enumerate() {
            assert_eq!(f32::from(v), 8.0 * E2M3.decode(16 + i as u8));
        }
        for i in 0..16u8 {
            assert_eq!(f32::from(i), 8.0 * E2M3.decode(i));
        }
        for (c, &v) in E3M2_A8.iter().enumerate() {
            assert_eq!(f32::from(v), 16.0 * E3M2.decode(c as u8), "code {c}");
        }
    }
}
