//! Decode steps of FP8 E4M3 and E5M2 weights (`w = s * elem(code)`, one byte per code,
//! any scale kind).
//!
//! No table: a code's exponent and mantissa bits moved into an f32's (E4M3 to bits
//! 20..27, E5M2 to bits 21..28) and its sign to bit 31 read as an f32 are exactly its
//! value times `2^-120` (E4M3) or `2^-112` (E5M2), subnormals included, so a shift, two
//! masks, an OR and one multiply by the power of two decode a vector of codes. The codes
//! that are not numbers get an all-ones f32 exponent OR-ed in (E4M3's `0x7F` / `0xFF` a
//! quiet NaN; E5M2's exponent 31 infinity or NaN, its mantissa kept), so every kernel
//! gives the reference's NaN or infinity. Times the group's scale: exact for the `f16`
//! and E8M0 kinds (a 4-bit significand times an 11-bit one or a power of two), as in the
//! reference.
//!
//! FP8 has no A8 step: E4M3 needs `2^9` and E5M2 `2^16` to make its codes integers,
//! beyond the int8 / int16 lanes.

use super::fp::{fp_gemm_items, fp_gemv_items};
use super::{GemmDecode, GemvDecode};
use crate::simd::Simd;

/// FP8 weights: E5M2 when `E5M2`, else E4M3.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fp8<const E5M2: bool>;

/// `2^120` and `2^112`: what the f32 read of the moved bits is short of the value.
const E4M3_UNIT: f32 = f32::from_bits((127 + 120) << 23);
const E5M2_UNIT: f32 = f32::from_bits((127 + 112) << 23);

/// The values of the FP8 codes `v` (one per i32 lane, `0..=255`).
#[inline(always)]
fn decode_lanes<S: Simd, const E5M2: bool>(s: S, v: S::I) -> S::F {
    let em = s.iand(v, s.isplat(0x7F));
    let sign = s.isll(s.iand(v, s.isplat(0x80)), 24);
    // `em + add` reaches bit 7 exactly for the codes that are not numbers (E4M3: em =
    // 0x7F; E5M2: exponent 31, em >= 0x7C): 0 or 1, then 0 or all ones.
    let (shift, add, unit) = if E5M2 {
        (21, 4, E5M2_UNIT)
    } else {
        (20, 1, E4M3_UNIT)
    };
    let special = s.isrl(s.iand(s.iadd(em, s.isplat(add)), s.isplat(0x80)), 7);
    let ones = s.isub(s.isplat(0), special);
    // E5M2: the f32 exponent all ones over the code's mantissa (infinity or NaN); E4M3:
    // a quiet NaN.
    let exp = s.isplat(if E5M2 { 0x7F80_0000 } else { 0x7FC0_0000 });
    let bits = s.ior(s.ior(s.isll(em, shift), sign), s.iand(ones, exp));
    s.fmul(s.fbits(bits), s.fsplat(unit))
}

/// x86 f32 GEMV: INT8's chunk (two widening loads put byte `i` of each half in lane
/// `i`), each lane decoded and multiplied by the group's scale.
impl<S: Simd, const E5M2: bool> GemvDecode<S> for Fp8<E5M2> {
    fp_gemv_items!();

    const CHUNK: usize = 2 * S::LANES;
    const PARTS: usize = 2;
    const PER_BYTE: usize = 1;
    const RUN: usize = 2 * S::LANES;
    const PRESCALED: bool = true;
    type Tbl = S::F;

    #[inline(always)]
    fn chunk_bytes(k: usize) -> (usize, usize) {
        (k, 0)
    }

    #[inline(always)]
    fn table<const SYM: bool>(s: S, scale: f32, _zero: f32) -> S::F {
        s.fsplat(scale)
    }

    #[inline(always)]
    unsafe fn decode(s: S, p0: *const u8, _p1: *const u8, tb: &S::F) -> [S::F; 8] {
        let mut w = [s.fzero(); 8];
        // SAFETY: the caller guarantees the chunk's 2 LANES bytes at p0.
        let (v0, v1) = unsafe { (s.u8_load_i32(p0), s.u8_load_i32(p0.add(S::LANES))) };
        w[0] = s.fmul(decode_lanes::<S, E5M2>(s, v0), *tb);
        w[1] = s.fmul(decode_lanes::<S, E5M2>(s, v1), *tb);
        w
    }
}

/// x86 GEMM: byte `t` of each lane's dword, decoded, times the lane's scale: exactly
/// the reference's fused weight.
impl<S: Simd, const E5M2: bool> GemmDecode<S> for Fp8<E5M2> {
    fp_gemm_items!();

    const MAIN_BITS: usize = 8;
    const PLANE1_BITS: usize = 0;

    #[inline(always)]
    fn weight(s: S, lo: S::I, _hi: S::I, (_c, t): (usize, usize), (sc, _): (S::F, S::F)) -> S::F {
        let v = s.iand(s.isrl(lo, 8 * t as u32), s.isplat(0xFF));
        s.fmul(decode_lanes::<S, E5M2>(s, v), sc)
    }
}
