//! The NEON decode step of INT-b for the f32 GEMV: byte tables instead of int-to-float
//! conversions. A small integer `c - z` is an f32 whose low 16 bits are zero, so two
//! `tbl` lookups (its bytes 2 and 3, from per-zero-point tables built at compile time), a
//! `zip` and a 16-bit shift-left-long give four exact f32 per lookup pair.
//!
//! Codes stay where the decode finds them (INT4: the 16 low nibbles of 16 bytes, then the
//! 16 high nibbles; INT2/3: code `t` of 8 bytes at a time, runs of 32 elements), and the
//! activations are reordered to match. INT3 puts the bit of its 1-bit plane at bit 2 of
//! the table index (`tbl` spreads the plane bytes to lanes, a per-lane `ushl` moves each
//! lane's bit, `bsl` merges). INT8 subtracts the zero-point with a widening `usubl`
//! (exact in i16), then widens and converts. The driver scales each group's sum.

use core::arch::aarch64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use super::int::{int_bytes, int_scales, int_tail, int_zeros, per_byte, Int};
use super::GemvDecode;
use crate::contract::{int_weights, Weights};
use crate::simd::neon::Neon;

/// Bytes 2 and 3 of the f32 `(i % period) - z`, for every zero-point `z` in `0..=16` and
/// index `i` in `0..16` (the low two bytes of these small integers are zero).
const fn f32_high_bytes(period: usize) -> [[[u8; 16]; 2]; 17] {
    let mut t = [[[0u8; 16]; 2]; 17];
    let mut z = 0;
    while z < 17 {
        let mut i = 0;
        while i < 16 {
            let v = ((i % period) as i32 - z as i32) as f32;
            let hi = v.to_bits() >> 16;
            t[z][0][i] = hi as u8;
            t[z][1][i] = (hi >> 8) as u8;
            i += 1;
        }
        z += 1;
    }
    t
}

/// INT4 tables (index = the nibble).
static TABLE4: [[[u8; 16]; 2]; 17] = f32_high_bytes(16);
/// INT2 tables (index = the code plus the next code above it).
static TABLE2: [[[u8; 16]; 2]; 17] = f32_high_bytes(4);
/// INT3 tables (index = the 3-bit code).
static TABLE3: [[[u8; 16]; 2]; 17] = f32_high_bytes(8);

/// The f32 values `c - z` of 16 table indices (exact), as 4 vectors: lanes `0..4` of
/// `idx` give vector 0, lanes `4..8` vector 1, and so on.
#[inline(always)]
fn lookup16(idx: uint8x16_t, t2: uint8x16_t, t3: uint8x16_t) -> [float32x4_t; 4] {
    // SAFETY: (every intrinsic of this file) the decode runs only under a `Neon` token,
    // which proves NEON; register operations only.
    unsafe {
        let b2 = vqtbl1q_u8(t2, idx);
        let b3 = vqtbl1q_u8(t3, idx);
        // Little-endian halfwords b2 | b3 << 8, shifted into the top half of each word.
        let h0 = vreinterpretq_u16_u8(vzip1q_u8(b2, b3));
        let h1 = vreinterpretq_u16_u8(vzip2q_u8(b2, b3));
        [
            vreinterpretq_f32_u32(vshll_n_u16::<16>(vget_low_u16(h0))),
            vreinterpretq_f32_u32(vshll_high_n_u16::<16>(h0)),
            vreinterpretq_f32_u32(vshll_n_u16::<16>(vget_low_u16(h1))),
            vreinterpretq_f32_u32(vshll_high_n_u16::<16>(h1)),
        ]
    }
}

impl<const DOT: bool, const B: u32> GemvDecode<Neon<DOT>> for Int<B> {
    type W<'a> = IntMatrixRef<'a>;

    #[inline(always)]
    fn view<'a>(w: &Weights<'a>) -> IntMatrixRef<'a> {
        int_weights(w, B as u8)
    }

    const CHUNK: usize = if B == 8 { 16 } else { 32 };
    const PARTS: usize = <Self as GemvDecode<Neon<DOT>>>::CHUNK / 4;
    const PER_BYTE: usize = per_byte(B);
    const RUN: usize = 32;
    const PRESCALED: bool = false;
    /// The two byte tables of `c - z` (INT2/3/4), or `z` in every byte (INT8).
    type Tbl = (uint8x16_t, uint8x16_t);

    #[inline(always)]
    fn chunk_bytes(k: usize) -> (usize, usize) {
        int_bytes(B, k)
    }

    #[inline(always)]
    fn scales(s: Neon<DOT>, w: &IntMatrixRef<'_>, n: usize, j0: usize, out: &mut [f32]) {
        int_scales(s, w, n, j0, out)
    }

    #[inline(always)]
    fn zeros(s: Neon<DOT>, w: &IntMatrixRef<'_>, n: usize, j0: usize, out: &mut [f32]) {
        int_zeros(s, w, n, j0, out)
    }

    #[inline(always)]
    fn table<const SYM: bool>(_: Neon<DOT>, _: f32, zero: f32) -> Self::Tbl {
        // Zero-points are bytes at most 2^b (checked when the view was built).
        let z = if SYM { 1u8 << (B - 1) } else { zero as u8 };
        let tables = match B {
            // SAFETY: see `lookup16`.
            8 => return unsafe { (vdupq_n_u8(z), vdupq_n_u8(z)) },
            4 => &TABLE4[usize::from(z)],
            3 => &TABLE3[usize::from(z)],
            _ => &TABLE2[usize::from(z)],
        };
        // SAFETY: each table is 16 bytes; see `lookup16`.
        unsafe { (vld1q_u8(tables[0].as_ptr()), vld1q_u8(tables[1].as_ptr())) }
    }

    #[inline(always)]
    unsafe fn decode(
        _: Neon<DOT>,
        p0: *const u8,
        p1: *const u8,
        &(t2, t3): &Self::Tbl,
    ) -> [float32x4_t; 8] {
        // SAFETY: the caller guarantees the chunk's bytes (INT8 and INT4: 16 at p0,
        // INT2/3: 8 at p0, INT3: 4 at p1); see `lookup16` for the intrinsics.
        unsafe {
            match B {
                8 => {
                    let q = vld1q_u8(p0);
                    // u8 - u8 widened to u16 wraps to the exact i16 value of q - z.
                    let d0 = vreinterpretq_s16_u16(vsubl_u8(vget_low_u8(q), vget_low_u8(t2)));
                    let d1 = vreinterpretq_s16_u16(vsubl_high_u8(q, t2));
                    let z = vdupq_n_f32(0.0);
                    [
                        vcvtq_f32_s32(vmovl_s16(vget_low_s16(d0))),
                        vcvtq_f32_s32(vmovl_high_s16(d0)),
                        vcvtq_f32_s32(vmovl_s16(vget_low_s16(d1))),
                        vcvtq_f32_s32(vmovl_high_s16(d1)),
                        z,
                        z,
                        z,
                        z,
                    ]
                }
                4 => {
                    let b = vld1q_u8(p0);
                    let lo = lookup16(vandq_u8(b, vdupq_n_u8(0x0F)), t2, t3);
                    let hi = lookup16(vshrq_n_u8::<4>(b), t2, t3);
                    [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]
                }
                _ => {
                    // Lanes 0..8 hold code t, lanes 8..16 code t + 1, of the 8 bytes (a
                    // negative `ushl` count shifts right).
                    let b = vld1_u8(p0);
                    let b = vcombine_u8(b, b);
                    let s01 = vcombine_s8(vdup_n_s8(0), vdup_n_s8(-2));
                    let s23 = vcombine_s8(vdup_n_s8(-4), vdup_n_s8(-6));
                    let mut i01 = vshlq_u8(b, s01);
                    let mut i23 = vshlq_u8(b, s23);
                    if B == 3 {
                        // The high bit of element 4i + t is bit 4(i % 2) + t of plane byte
                        // i / 2: spread the 4 plane bytes to lanes, shift each lane's bit
                        // to bit 2.
                        let word = p1.cast::<u32>().read_unaligned();
                        let plane = vreinterpretq_u8_u32(vdupq_n_u32(word));
                        let spread: [u8; 16] = [0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 2, 2, 3, 3];
                        let hb = vqtbl1q_u8(plane, vld1q_u8(spread.as_ptr()));
                        let sh: [i8; 16] = [2, -2, 2, -2, 2, -2, 2, -2, 1, -3, 1, -3, 1, -3, 1, -3];
                        let sh01 = vld1q_s8(sh.as_ptr());
                        let sh23 = vsubq_s8(sh01, vdupq_n_s8(2));
                        let code = vdupq_n_u8(3);
                        let seven = vdupq_n_u8(7);
                        i01 = vandq_u8(vbslq_u8(code, i01, vshlq_u8(hb, sh01)), seven);
                        i23 = vandq_u8(vbslq_u8(code, i23, vshlq_u8(hb, sh23)), seven);
                    } else {
                        i01 = vandq_u8(i01, vdupq_n_u8(0x0F));
                    }
                    let a = lookup16(i01, t2, t3);
                    let c = lookup16(i23, t2, t3);
                    [a[0], a[1], a[2], a[3], c[0], c[1], c[2], c[3]]
                }
            }
        }
    }

    #[inline(always)]
    fn tail(w: &IntMatrixRef<'_>, n: usize, j: usize, ks: Range<usize>, x: &[f32]) -> f32 {
        int_tail(w, n, j, ks, x)
    }
}
