//! INT-b GEMV with f32 activations, NEON: INT2, INT3, INT4 and INT8.
//!
//! Design (one driver, [`block`], shared by every width; the widths differ in
//! [`fma_chunk`] only):
//! - Rows go [`ROWS`] at a time, sharing every activation load, with [`ACC`] independent
//!   FMA chains per row; each group's sum is scaled once at the group's end.
//! - INT2/INT3/INT4 decode with byte tables instead of int-to-float conversions: a small
//!   integer `c - z` is an f32 whose low 16 bits are zero, so two `tbl` lookups (its
//!   bytes 2 and 3, from per-zero-point tables built at compile time), one `zip` and a
//!   16-bit shift-left-long (`shll`) give four exact f32 per table lookup pair.
//! - Codes stay where the decode finds them (INT4: all low nibbles, then all high
//!   nibbles; INT2/INT3: code `t` of 8 bytes at a time), and `x` is reordered once per
//!   call to match (`vld2q`/`vld4q` de-interleave), so nothing is interleaved per row.
//! - INT3 puts the bit of its 1-bit plane at bit 2 of the table index (`tbl` spreads the
//!   plane bytes to lanes, a per-lane `ushl` moves each lane's bit, `bsl` merges).
//! - INT8 subtracts the zero-point with a widening `usubl` (exact in i16), then widens and
//!   converts (`scvtf`).
//! - Per-row groups whose length is not a multiple of the chunk finish element by element.

use core::arch::aarch64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::aarch64::int_common::{assert_kernel_args, permute_x, symmetric_zero, tail_dot};
use crate::dispatch::Isa;

/// Rows decoded together: with [`ACC`] accumulators each, that keeps 8 FMA chains in
/// flight (latency 4 x 2 per cycle) and leaves registers for a chunk's 8 x vectors.
const ROWS: usize = 2;

/// Independent accumulators per row.
const ACC: usize = 4;

/// Codes per byte of the main plane (INT3: of its 2-bit plane).
const fn per_byte(bits: u8) -> usize {
    match bits {
        8 => 1,
        4 => 2,
        _ => 4,
    }
}

/// Elements per chunk: 16 for INT8 (16 bytes), 32 otherwise (INT4: 16 bytes, INT2/INT3:
/// 8 bytes of the main plane).
const fn chunk_len(bits: u8) -> usize {
    if bits == 8 {
        16
    } else {
        32
    }
}

/// Bits per element of the main plane.
const fn plane0_bits(bits: u8) -> usize {
    if bits == 3 {
        2
    } else {
        bits as usize
    }
}

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

/// Registered as `gemv_int2_f32_neon`.
pub(crate) fn gemv_int2(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<2>(w, x, rows, y);
}

/// Registered as `gemv_int3_f32_neon`.
pub(crate) fn gemv_int3(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<3>(w, x, rows, y);
}

/// Registered as `gemv_int4_f32_neon`.
pub(crate) fn gemv_int4(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<4>(w, x, rows, y);
}

/// Registered as `gemv_int8_f32_neon`.
pub(crate) fn gemv_int8(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<8>(w, x, rows, y);
}

fn run<const BITS: u8>(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    assert_kernel_args(w, x, &rows, y, BITS, Isa::Neon);
    // SAFETY: the CPU has NEON (asserted above), the implementation's only target
    // feature; its memory accesses rely on the GEMV preconditions and the bit width,
    // asserted above (see the comments inside).
    unsafe {
        if w.zeros().is_some() {
            imp::<BITS, true>(w, x, rows, y);
        } else {
            imp::<BITS, false>(w, x, rows, y);
        }
    }
}

#[target_feature(enable = "neon")]
fn imp<const BITS: u8, const ZP: bool>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
) {
    let l = *w.layout();
    let (p, ch) = (per_byte(BITS), chunk_len(BITS));
    let xp = if BITS == 4 {
        permute_x(x, l.group_len, ch, 32, p, |s, d| transpose2(s, d))
    } else {
        permute_x(x, l.group_len, ch, 32, p, |s, d| transpose4(s, d))
    };
    let mut sbuf = vec![0.0f32; ROWS * l.groups_per_row];
    let mut n = rows.start;
    for ys in y.chunks_mut(ROWS) {
        if ys.len() == ROWS {
            block::<BITS, ZP, ROWS>(w, &xp, x, n, ys, &mut sbuf);
        } else {
            for (i, yi) in ys.iter_mut().enumerate() {
                let one = core::slice::from_mut(yi);
                block::<BITS, ZP, 1>(w, &xp, x, n + i, one, &mut sbuf);
            }
        }
        n += ys.len();
    }
}

/// One run of the INT4 activation reordering: `dst[t * 16 + i] = src[2i + t]` (32).
#[target_feature(enable = "neon")]
#[inline]
fn transpose2(src: &[f32], dst: &mut [f32]) {
    assert!(src.len() == 32 && dst.len() == 32);
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    for q in 0..4 {
        // SAFETY: reads src[8q .. 8q + 8], writes dst[4q .. 4q + 4] and
        // dst[16 + 4q .. 20 + 4q], all below 32 (asserted above).
        unsafe {
            let v = vld2q_f32(sp.add(8 * q));
            vst1q_f32(dp.add(4 * q), v.0);
            vst1q_f32(dp.add(16 + 4 * q), v.1);
        }
    }
}

/// One run of the INT2/INT3 activation reordering: `dst[t * 8 + i] = src[4i + t]` (32).
#[target_feature(enable = "neon")]
#[inline]
fn transpose4(src: &[f32], dst: &mut [f32]) {
    assert!(src.len() == 32 && dst.len() == 32);
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    for q in 0..2 {
        // SAFETY: reads src[16q .. 16q + 16], writes dst[8t + 4q .. 8t + 4q + 4] for
        // t < 4, all below 32 (asserted above).
        unsafe {
            let v = vld4q_f32(sp.add(16 * q));
            vst1q_f32(dp.add(4 * q), v.0);
            vst1q_f32(dp.add(8 + 4 * q), v.1);
            vst1q_f32(dp.add(16 + 4 * q), v.2);
            vst1q_f32(dp.add(24 + 4 * q), v.3);
        }
    }
}

/// The f32 values `c - z` of 16 table indices (exact), as 4 vectors: lanes `0..4` of
/// `idx` give vector 0, lanes `4..8` vector 1, and so on.
#[target_feature(enable = "neon")]
#[inline]
fn lookup16(idx: uint8x16_t, t2: uint8x16_t, t3: uint8x16_t) -> [float32x4_t; 4] {
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

/// Per (row, group) decode state: the two byte tables of `c - z` (INT2/3/4) or `z`
/// broadcast (INT8).
#[derive(Clone, Copy)]
struct Tbl {
    t2: uint8x16_t,
    t3: uint8x16_t,
}

/// The decode state of a group with zero-point `z` (at most `2^b`, checked when the
/// matrix view was built).
#[target_feature(enable = "neon")]
#[inline]
fn table<const BITS: u8>(z: u8) -> Tbl {
    let tables = match BITS {
        8 => {
            let zv = vdupq_n_u8(z);
            return Tbl { t2: zv, t3: zv };
        }
        4 => &TABLE4[usize::from(z)],
        3 => &TABLE3[usize::from(z)],
        _ => &TABLE2[usize::from(z)],
    };
    // SAFETY: each table is 16 bytes.
    unsafe {
        Tbl {
            t2: vld1q_u8(tables[0].as_ptr()),
            t3: vld1q_u8(tables[1].as_ptr()),
        }
    }
}

/// Decodes one chunk of one row and accumulates `w_v * x_v` into `acc[v % ACC]`.
///
/// # Safety
/// `p0` must have the chunk's bytes of the main plane readable (INT8 and INT4: 16,
/// INT2/INT3: 8); for INT3, `p1` must have the chunk's 4 bytes of the 1-bit plane
/// (otherwise it is unused).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn fma_chunk<const BITS: u8>(
    p0: *const u8,
    p1: *const u8,
    tb: &Tbl,
    xv: &[float32x4_t; 8],
    acc: &mut [float32x4_t; ACC],
) {
    let mut w = [vdupq_n_f32(0.0); 8];
    match BITS {
        8 => {
            // SAFETY: 16 bytes at p0 (see above).
            let q = unsafe { vld1q_u8(p0) };
            // u8 - u8 widened to u16 wraps to the exact i16 value of q - z.
            let d0 = vreinterpretq_s16_u16(vsubl_u8(vget_low_u8(q), vget_low_u8(tb.t2)));
            let d1 = vreinterpretq_s16_u16(vsubl_high_u8(q, tb.t2));
            w[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(d0)));
            w[1] = vcvtq_f32_s32(vmovl_high_s16(d0));
            w[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(d1)));
            w[3] = vcvtq_f32_s32(vmovl_high_s16(d1));
        }
        4 => {
            // SAFETY: 16 bytes at p0 (see above).
            let b = unsafe { vld1q_u8(p0) };
            let lo = lookup16(vandq_u8(b, vdupq_n_u8(0x0F)), tb.t2, tb.t3);
            let hi = lookup16(vshrq_n_u8::<4>(b), tb.t2, tb.t3);
            w = [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]];
        }
        _ => {
            // Lanes 0..8 hold code t, lanes 8..16 code t + 1, of the 8 bytes (a negative
            // `ushl` count shifts right).
            // SAFETY: 8 bytes at p0 (see above).
            let b = unsafe { vld1_u8(p0) };
            let b = vcombine_u8(b, b);
            let s01 = vcombine_s8(vdup_n_s8(0), vdup_n_s8(-2));
            let s23 = vcombine_s8(vdup_n_s8(-4), vdup_n_s8(-6));
            let mut i01 = vshlq_u8(b, s01);
            let mut i23 = vshlq_u8(b, s23);
            if BITS == 3 {
                // The high bit of element 4i + t is bit 4(i % 2) + t of plane byte i / 2:
                // spread the 4 plane bytes to lanes, shift each lane's bit to bit 2.
                // SAFETY: 4 bytes at p1 (see above).
                let word = unsafe { p1.cast::<u32>().read_unaligned() };
                let plane = vreinterpretq_u8_u32(vdupq_n_u32(word));
                let spread: [u8; 16] = [0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 2, 2, 3, 3];
                // SAFETY: `spread` is 16 bytes.
                let hb = vqtbl1q_u8(plane, unsafe { vld1q_u8(spread.as_ptr()) });
                let sh: [i8; 16] = [2, -2, 2, -2, 2, -2, 2, -2, 1, -3, 1, -3, 1, -3, 1, -3];
                // SAFETY: `sh` is 16 bytes.
                let sh01 = unsafe { vld1q_s8(sh.as_ptr()) };
                let sh23 = vsubq_s8(sh01, vdupq_n_s8(2));
                let code = vdupq_n_u8(3);
                let seven = vdupq_n_u8(7);
                i01 = vandq_u8(vbslq_u8(code, i01, vshlq_u8(hb, sh01)), seven);
                i23 = vandq_u8(vbslq_u8(code, i23, vshlq_u8(hb, sh23)), seven);
            } else {
                i01 = vandq_u8(i01, vdupq_n_u8(0x0F));
            }
            let a = lookup16(i01, tb.t2, tb.t3);
            let c = lookup16(i23, tb.t2, tb.t3);
            w = [a[0], a[1], a[2], a[3], c[0], c[1], c[2], c[3]];
        }
    }
    let nv = if BITS == 8 { 4 } else { 8 };
    for v in 0..nv {
        acc[v % ACC] = vfmaq_f32(acc[v % ACC], w[v], xv[v]);
    }
}

/// `y[r] = row n + r of W times x` for `r < R` (`y.len() == R`). `xp` is `x` reordered by
/// [`permute_x`]; `sbuf` is scratch for the rows' scales.
#[target_feature(enable = "neon")]
fn block<const BITS: u8, const ZP: bool, const R: usize>(
    w: &IntMatrixRef<'_>,
    xp: &[f32],
    x: &[f32],
    n: usize,
    y: &mut [f32],
    sbuf: &mut [f32],
) {
    let l = *w.layout();
    let (g, gpr, rb0, rb1) = (l.group_len, l.groups_per_row, l.row_bytes0, l.row_bytes1);
    let ch = chunk_len(BITS);
    let whole = g / ch;
    // Every pointer below is derived from these (checked again here so that the unsafe
    // blocks depend only on this function).
    assert!(n + R <= l.n && y.len() == R && xp.len() == l.k && x.len() == l.k);
    assert!(g * gpr == l.k && (BITS != 3 || rb1 * 8 >= l.k));
    let sc = &mut sbuf[..R * gpr];
    for (d, s) in sc.iter_mut().zip(&w.scales()[n * gpr..(n + R) * gpr]) {
        *d = s.to_f32();
    }
    let zc: &[u8] = match w.zeros() {
        Some(z) if ZP => &z[n * gpr..(n + R) * gpr],
        _ => &[],
    };
    let zsym = w.format().symmetric_zero();
    let mut p0: [&[u8]; R] = [&[]; R];
    let mut p1: [&[u8]; R] = [&[]; R];
    for r in 0..R {
        p0[r] = &w.plane0()[(n + r) * rb0..(n + r + 1) * rb0];
        p1[r] = &w.plane1()[(n + r) * rb1..(n + r + 1) * rb1];
    }
    let zero = vdupq_n_f32(0.0);
    let mut acc = [[zero; ACC]; R];
    let mut tot = [zero; R];
    let mut tails = [0.0f32; R];
    let mut tb = [table::<BITS>(zsym); R];
    for j in 0..gpr {
        if ZP {
            for r in 0..R {
                tb[r] = table::<BITS>(zc[r * gpr + j]);
            }
        }
        for c in 0..whole {
            let k = j * g + c * ch;
            // SAFETY: k + ch <= (j + 1) * g <= K = xp.len(); ch is 16 or 32.
            let xv = unsafe {
                let a = vld1q_f32_x4(xp.as_ptr().add(k));
                let b = if ch == 32 {
                    vld1q_f32_x4(xp.as_ptr().add(k + 16))
                } else {
                    a
                };
                [a.0, a.1, a.2, a.3, b.0, b.1, b.2, b.3]
            };
            for r in 0..R {
                // SAFETY: k + ch <= K, so the chunk's main-plane bytes
                // k*b0/8 .. (k + ch)*b0/8 lie within the row's ceil(K*b0/8) bytes, and
                // for INT3 its 1-bit-plane bytes k/8 .. (k + ch)/8 within ceil(K/8).
                unsafe {
                    let q0 = p0[r].as_ptr().add(k * plane0_bits(BITS) / 8);
                    let q1 = if BITS == 3 {
                        p1[r].as_ptr().add(k / 8)
                    } else {
                        core::ptr::null()
                    };
                    fma_chunk::<BITS>(q0, q1, &tb[r], &xv, &mut acc[r]);
                }
            }
        }
        for r in 0..R {
            let mut a = acc[r][0];
            for v in &acc[r][1..] {
                a = vaddq_f32(a, *v);
            }
            tot[r] = vfmaq_n_f32(tot[r], a, sc[r * gpr + j]);
            acc[r] = [zero; ACC];
        }
        if whole * ch < g {
            let ks = j * g + whole * ch..(j + 1) * g;
            for r in 0..R {
                let z = if ZP {
                    f32::from(zc[r * gpr + j])
                } else {
                    symmetric_zero(w)
                };
                tails[r] += sc[r * gpr + j] * tail_dot(w, n + r, ks.clone(), x, z);
            }
        }
    }
    for r in 0..R {
        y[r] = vaddvq_f32(tot[r]) + tails[r];
    }
}
