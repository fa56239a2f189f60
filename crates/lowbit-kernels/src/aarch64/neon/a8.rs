//! INT x A8 GEMV, NEON (INT4 below; INT8, INT2 and INT3 at their entry points), 4 rows
//! at a time. INT4: one 32-element block per step.
//!
//! Low nibbles (even elements) meet the even half of the activation chunk and high
//! nibbles the odd half (see [`crate::a8`]). The integer dot product is `sdot` where the
//! CPU has dotprod (emitted with `asm!`, as the intrinsic is not stable), else
//! `smull` + pairwise adds. Each lane starts from `z * (-sum of its 8 activation codes)`
//! so it holds `sum (q - z) * x8` exactly; the block's 4 lanes are converted to f32 (exact) and scaled by weight scale times
//! activation scale. A partial last block is summed in scalar code.

use core::arch::aarch64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::a8::{A8Activations, Lanes, CHUNK, SUPER};
use crate::dispatch::{cpu_features, Isa};
use crate::gemv::assert_a8_kernel;
use crate::reference::int_a8::row_from_block;

/// Defines a registered A8 entry point: checks every precondition, then runs the `sdot`
/// variant when the CPU has dotprod, else the plain one.
macro_rules! neon_a8_entry {
    ($(#[$doc:meta])* $entry:ident, $bits:literal, $dot:ident, $plain:ident) => {
        $(#[$doc])*
        pub(crate) fn $entry(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            rows: Range<usize>,
            y: &mut [f32],
        ) {
            assert_a8_kernel(w, x, &rows, y, $bits, Isa::Neon);
            if cpu_features().dotprod {
                // SAFETY: NEON (asserted) and dotprod (checked) are present; memory
                // accesses are justified by the asserted argument checks.
                unsafe { $dot(w, x, rows, y) }
            } else {
                // SAFETY: NEON is present (asserted); this variant uses no other extension.
                unsafe { $plain(w, x, rows, y) }
            }
        }
    };
}

/// Runs `$rows::<R>(w, x, n0, out)` over the rows in blocks of [`ROWS`], then singly.
macro_rules! neon_row_blocks {
    ($rows:ident, $w:expr, $x:expr, $range:expr, $y:expr) => {{
        let mut n = $range.start;
        let mut blocks = $y.chunks_exact_mut(ROWS);
        for out in &mut blocks {
            $rows::<ROWS>($w, $x, n, out);
            n += ROWS;
        }
        for out in blocks.into_remainder().chunks_mut(1) {
            $rows::<1>($w, $x, n, out);
            n += 1;
        }
    }};
}

neon_a8_entry!(
    /// Registered as `gemv_int4_a8_neon` (sdot when the CPU has dotprod).
    gemv_int4, 4, gemv_int4_dot, gemv_int4_plain
);

#[target_feature(enable = "neon,dotprod")]
#[inline]
fn dot_sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` reads two vector registers and updates the accumulator register; it
    // touches no memory, and the CPU has dotprod (this function's target feature, which
    // callers establish).
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Lane `i` gets the products of bytes `4i .. 4i + 4`, as `sdot` does (the activation
/// lane sums are laid out for that mapping). Products are at most 15 * 127 in magnitude,
/// so the i16 products never overflow.
#[target_feature(enable = "neon")]
#[inline]
fn dot_plain(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    let hi = vpaddlq_s16(vmull_high_s8(a, b));
    vaddq_s32(acc, vpaddq_s32(lo, hi))
}

/// Rows per block of the block loop: each activation load serves 4 rows.
const ROWS: usize = 4;

macro_rules! int4_a8_kernel {
    ($name:ident, $rows:ident, $features:literal, $dot:ident) => {
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            neon_row_blocks!($rows, w, x, rows, y)
        }

        /// Rows `n0 .. n0 + R` into `out[..R]`.
        #[target_feature(enable = $features)]
        #[inline]
        fn $rows<const R: usize>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            n0: usize,
            out: &mut [f32],
        ) {
            let l = *w.layout();
            let (g, rb, k) = (l.group_len, l.row_bytes0, l.k);
            assert!(out.len() == R && n0 + R <= l.n);
            let blocks = k / 32;
            let (xc, sl, nl) = (x.codes(), x.scale_lanes(), x.negsum_lanes());
            let plane = w.plane0();
            let mask = vdupq_n_u8(0x0F);
            let mut f = [vdupq_n_f32(0.0); R];
            for b in 0..blocks {
                let (c, i) = (b / 4, b % 4);
                let j = (b * 32) / g;
                let lane0 = CHUNK * c + 16 * i;
                // SAFETY: activation chunk c = b / 4 exists (ceil(K/128) chunks of 128
                // codes and 16 lanes) and lane0 + 64 + 16 <= 128 (c + 1).
                let (xe, xo, neg, sx) = unsafe {
                    (
                        vld1q_s8(xc.as_ptr().add(lane0)),
                        vld1q_s8(xc.as_ptr().add(lane0 + 64)),
                        vld1q_s32(nl.as_ptr().add(16 * c + 4 * i)),
                        vld1q_f32(sl.as_ptr().add(16 * c + 4 * i)),
                    )
                };
                for (r, fr) in f.iter_mut().enumerate() {
                    let n = n0 + r;
                    // SAFETY: n < N (asserted) and 32 (b + 1) <= K, so bytes
                    // 16b .. 16b + 16 of row n exist (rows have ceil(K/2) bytes).
                    let wv = unsafe { vld1q_u8(plane.as_ptr().add(n * rb + 16 * b)) };
                    let lo = vreinterpretq_s8_u8(vandq_u8(wv, mask));
                    let hi = vreinterpretq_s8_u8(vshrq_n_u8::<4>(wv));
                    let corr = vmulq_n_s32(neg, i32::from(w.zero(n, j)));
                    let acc = $dot($dot(corr, lo, xe), hi, xo);
                    let comb = vmulq_n_f32(sx, w.scale(n, j));
                    *fr = vfmaq_f32(*fr, vcvtq_f32_s32(acc), comb);
                }
            }
            for (r, (o, fr)) in out.iter_mut().zip(f).enumerate() {
                *o = vaddvq_f32(fr) + row_from_block(w, x, n0 + r, blocks);
            }
        }
    };
}

int4_a8_kernel!(gemv_int4_dot, gemv_int4_dot_rows, "neon,dotprod", dot_sdot);
int4_a8_kernel!(gemv_int4_plain, gemv_int4_plain_rows, "neon", dot_plain);

neon_a8_entry!(
    /// Registered as `gemv_int8_a8_neon` (sdot when the CPU has dotprod).
    ///
    /// 16 codes per step in natural order against the natural-order activation codes,
    /// recentred to `q - 128` (an i8), so the signed dot products are exact; each lane starts
    /// from `(z - 128) * (-sum of its 4 activation codes)` and ends holding
    /// `sum (q - z) * x8` exactly.
    gemv_int8, 8, gemv_int8_dot, gemv_int8_plain
);

macro_rules! int8_a8_kernel {
    ($name:ident, $rows:ident, $features:literal, $dot:ident) => {
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            neon_row_blocks!($rows, w, x, rows, y)
        }

        /// INT8 rows `n0 .. n0 + R` into `out[..R]`.
        #[target_feature(enable = $features)]
        #[inline]
        fn $rows<const R: usize>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            n0: usize,
            out: &mut [f32],
        ) {
            let l = *w.layout();
            let (g, rb, k) = (l.group_len, l.row_bytes0, l.k);
            assert!(out.len() == R && n0 + R <= l.n && rb == k);
            let blocks = k / 32;
            let (xn, n4) = (x.codes_nat(), x.negsum4());
            let plane = w.plane0();
            let flip = vdupq_n_u8(0x80);
            let mut f = [vdupq_n_f32(0.0); R];
            for b in 0..blocks {
                let j = (b * 32) / g;
                let sx = vdupq_n_f32(x.block_scale(b));
                // SAFETY: the activation buffers hold ceil(K/128) chunks of 128 natural
                // codes and 32 per-4 sums, and 32 (b + 1) <= K.
                let (x0, x1, m0, m1) = unsafe {
                    (
                        vld1q_s8(xn.as_ptr().add(32 * b)),
                        vld1q_s8(xn.as_ptr().add(32 * b + 16)),
                        vld1q_s32(n4.as_ptr().add(8 * b)),
                        vld1q_s32(n4.as_ptr().add(8 * b + 4)),
                    )
                };
                for (r, fr) in f.iter_mut().enumerate() {
                    let n = n0 + r;
                    // SAFETY: n < N (asserted) and 32 (b + 1) <= K = the row length.
                    let (w0, w1) = unsafe {
                        let p = plane.as_ptr().add(n * rb + 32 * b);
                        (vld1q_u8(p), vld1q_u8(p.add(16)))
                    };
                    let zc = i32::from(w.zero(n, j)) - 128;
                    let a0 = $dot(
                        vmulq_n_s32(m0, zc),
                        vreinterpretq_s8_u8(veorq_u8(w0, flip)),
                        x0,
                    );
                    let a1 = $dot(
                        vmulq_n_s32(m1, zc),
                        vreinterpretq_s8_u8(veorq_u8(w1, flip)),
                        x1,
                    );
                    let comb = vmulq_n_f32(sx, w.scale(n, j));
                    *fr = vfmaq_f32(*fr, vcvtq_f32_s32(vaddq_s32(a0, a1)), comb);
                }
            }
            for (r, (o, fr)) in out.iter_mut().zip(f).enumerate() {
                *o = vaddvq_f32(fr) + row_from_block(w, x, n0 + r, blocks);
            }
        }
    };
}

int8_a8_kernel!(gemv_int8_dot, gemv_int8_dot_rows, "neon,dotprod", dot_sdot);
int8_a8_kernel!(gemv_int8_plain, gemv_int8_plain_rows, "neon", dot_plain);

neon_a8_entry!(
    /// Registered as `gemv_int2_a8_neon` (sdot when the CPU has dotprod).
    ///
    /// 64 codes (two blocks) per 16-byte step against the 2-bit-weight activation layout
    /// (see [`crate::a8`]): the `t`-th 2-bit field of every byte meets plane `t`, four
    /// signed dot products cover the step, and each lane (16 elements) starts from `z` times
    /// minus their code sum so it ends holding `sum (q - z) * x8` exactly.
    gemv_int2, 2, gemv_int2_dot, gemv_int2_plain
);

macro_rules! int2_a8_kernel {
    ($name:ident, $rows:ident, $features:literal, $dot:ident, $b3:expr) => {
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            neon_row_blocks!($rows, w, x, rows, y)
        }

        /// INT2 rows `n0 .. n0 + R` into `out[..R]`.
        #[target_feature(enable = $features)]
        #[inline]
        fn $rows<const R: usize>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            n0: usize,
            out: &mut [f32],
        ) {
            let l = *w.layout();
            let (g, rb, k) = (l.group_len, l.row_bytes0, l.k);
            let rb1 = l.row_bytes1;
            assert!(out.len() == R && n0 + R <= l.n && 4 * rb >= k);
            assert!(!$b3 || (l.plane1_len == l.n * rb1 && 8 * rb1 >= k));
            let hplane = w.plane1();
            let (high_byte, four) = (vdupq_n_u16(0xFF00), vdupq_n_u8(4));
            let steps = 4 * (k / SUPER);
            let (xm, n16) = x.m4();
            let plane = w.plane0();
            let mask = vdupq_n_u8(3);
            let mut f = [vdupq_n_f32(0.0); R];
            for st in 0..steps {
                let (s, i) = (st / 4, st % 4);
                let (b0, b1) = (2 * st, 2 * st + 1);
                let (j0, j1) = ((b0 * 32) / g, (b1 * 32) / g);
                // SAFETY: the 2-bit layout holds ceil(K/256) > s superchunks of 4 planes
                // of 64 codes and 16 sums; 16i + 16 <= 64 and 4i + 4 <= 16.
                let (xs, neg) = unsafe {
                    let p = xm.as_ptr().add(SUPER * s + 16 * i);
                    (
                        [
                            vld1q_s8(p),
                            vld1q_s8(p.add(64)),
                            vld1q_s8(p.add(128)),
                            vld1q_s8(p.add(192)),
                        ],
                        vld1q_s32(n16.as_ptr().add(16 * s + 4 * i)),
                    )
                };
                let (sx0, sx1) = (x.block_scale(b0), x.block_scale(b1));
                for (r, fr) in f.iter_mut().enumerate() {
                    let n = n0 + r;
                    // SAFETY: n < N (asserted) and 64 (st + 1) <= K, so bytes
                    // 16st .. 16st + 16 of row n exist (rows have ceil(K/4) bytes).
                    let wv = unsafe { vld1q_u8(plane.as_ptr().add(n * rb + 16 * st)) };
                    let mut fields = [
                        vandq_u8(wv, mask),
                        vandq_u8(vshrq_n_u8::<2>(wv), mask),
                        vandq_u8(vshrq_n_u8::<4>(wv), mask),
                        vshrq_n_u8::<6>(wv),
                    ];
                    if $b3 {
                        // Bit 2 of element 4j + t is bit 4 (j % 2) + t of 1-bit-plane byte
                        // j / 2 (see the AVX-512 kernel).
                        // SAFETY: n < N and 64 (st + 1) <= K, so bytes 8st .. 8st + 8 of
                        // row n's 1-bit plane exist (rows have ceil(K/8) bytes; asserted).
                        let z = vmovl_u8(unsafe { vld1_u8(hplane.as_ptr().add(n * rb1 + 8 * st)) });
                        let e = vreinterpretq_u8_u16(vorrq_u16(
                            z,
                            vandq_u16(vshlq_n_u16::<4>(z), high_byte),
                        ));
                        let hi = [
                            vshlq_n_u8::<2>(e),
                            vshlq_n_u8::<1>(e),
                            e,
                            vshrq_n_u8::<1>(e),
                        ];
                        for (fl, h) in fields.iter_mut().zip(hi) {
                            *fl = vorrq_u8(*fl, vandq_u8(h, four));
                        }
                    }
                    let (z0, z1) = (i32::from(w.zero(n, j0)), i32::from(w.zero(n, j1)));
                    let zl = vcombine_s32(vdup_n_s32(z0), vdup_n_s32(z1));
                    let mut acc = vmulq_s32(neg, zl);
                    for (fl, xt) in fields.into_iter().zip(xs) {
                        acc = $dot(acc, vreinterpretq_s8_u8(fl), xt);
                    }
                    let comb = vcombine_f32(
                        vdup_n_f32(w.scale(n, j0) * sx0),
                        vdup_n_f32(w.scale(n, j1) * sx1),
                    );
                    *fr = vfmaq_f32(*fr, vcvtq_f32_s32(acc), comb);
                }
            }
            for (r, (o, fr)) in out.iter_mut().zip(f).enumerate() {
                *o = vaddvq_f32(fr) + row_from_block(w, x, n0 + r, 2 * steps);
            }
        }
    };
}

int2_a8_kernel!(
    gemv_int2_dot,
    gemv_int2_dot_rows,
    "neon,dotprod",
    dot_sdot,
    false
);
int2_a8_kernel!(
    gemv_int2_plain,
    gemv_int2_plain_rows,
    "neon",
    dot_plain,
    false
);
int2_a8_kernel!(
    gemv_int3_dot,
    gemv_int3_dot_rows,
    "neon,dotprod",
    dot_sdot,
    true
);
int2_a8_kernel!(
    gemv_int3_plain,
    gemv_int3_plain_rows,
    "neon",
    dot_plain,
    true
);

neon_a8_entry!(
    /// Registered as `gemv_int3_a8_neon`: the INT2 kernel with bit 2 of each code merged in
    /// from the 1-bit plane (codes up to 7; products stay far inside i16).
    gemv_int3, 3, gemv_int3_dot, gemv_int3_plain
);

/// Quantizes the whole 32-element blocks of `x` from block `from` on into the A8 layout
/// (see [`crate::a8`]): bitwise the scalar block codec (the same `127 / amax` product,
/// rounded to nearest-even by `fcvtns`). Returns the first block not done: the number of
/// whole blocks, or a block the scalar codec must take (a NaN or infinity, or `127 / amax`
/// overflowing).
pub(crate) fn quantize_blocks(x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
    let chunks = (x.len() / 32).div_ceil(4);
    assert!(out.codes.len() >= chunks * CHUNK && out.codes_nat.len() >= chunks * CHUNK);
    assert!(out.scales.len() >= chunks * 16 && out.negsum.len() >= chunks * 16);
    assert!(out.negsum4.len() >= chunks * 32);
    assert!(
        Isa::Neon.is_available(),
        "NEON quantizer called without NEON"
    );
    // SAFETY: NEON is present (asserted); the buffer lengths are asserted above and every
    // access inside is to a whole block of `x` or within chunk `b / 4`.
    unsafe { quantize_blocks_imp(x, from, out) }
}

#[target_feature(enable = "neon")]
fn quantize_blocks_imp(x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
    let inf = vdupq_n_f32(f32::INFINITY);
    for b in from..x.len() / 32 {
        // SAFETY: 32 (b + 1) <= x.len().
        let v: [float32x4_t; 8] =
            core::array::from_fn(|i| unsafe { vld1q_f32(x.as_ptr().add(32 * b + 4 * i)) });
        let a: [float32x4_t; 8] = core::array::from_fn(|i| vabsq_f32(v[i]));
        let finite = a.iter().fold(vdupq_n_u32(u32::MAX), |m, &ai| {
            vandq_u32(m, vcltq_f32(ai, inf))
        });
        if vminvq_u32(finite) != u32::MAX {
            return b;
        }
        let amax = vmaxvq_f32(a.iter().fold(vdupq_n_f32(0.0), |m, &ai| vmaxq_f32(m, ai)));
        let (s, inv) = if amax == 0.0 {
            (0.0, 0.0)
        } else {
            (amax / 127.0, 127.0 / amax)
        };
        if inv.is_infinite() {
            return b;
        }
        let q: [int32x4_t; 8] = core::array::from_fn(|i| vcvtnq_s32_f32(vmulq_n_f32(v[i], inv)));
        let n8 = |i: usize| vqmovn_s16(vcombine_s16(vqmovn_s32(q[i]), vqmovn_s32(q[i + 1])));
        let lo = vcombine_s8(n8(0), n8(2));
        let hi = vcombine_s8(n8(4), n8(6));
        let (ev, od) = (vuzp1q_s8(lo, hi), vuzp2q_s8(lo, hi));
        let s4lo = vpaddlq_s16(vpaddlq_s8(lo));
        let s4hi = vpaddlq_s16(vpaddlq_s8(hi));
        let s8 = vpaddq_s32(s4lo, s4hi);
        let (c, i) = (b / 4, b % 4);
        let base = CHUNK * c + 16 * i;
        // SAFETY: chunk c < chunks: base + 16 <= 128c + 64 and base + 64 + 16 <= 128 (c + 1)
        // are within `codes`; 32 (b + 1) <= 128 chunks within `codes_nat`; lanes
        // 16c + 4i .. + 4 within `scales` and `negsum`, 8b .. 8b + 8 within `negsum4`.
        unsafe {
            vst1q_s8(out.codes.as_mut_ptr().add(base), ev);
            vst1q_s8(out.codes.as_mut_ptr().add(base + 64), od);
            vst1q_s8(out.codes_nat.as_mut_ptr().add(32 * b), lo);
            vst1q_s8(out.codes_nat.as_mut_ptr().add(32 * b + 16), hi);
            vst1q_s32(out.negsum4.as_mut_ptr().add(8 * b), vnegq_s32(s4lo));
            vst1q_s32(out.negsum4.as_mut_ptr().add(8 * b + 4), vnegq_s32(s4hi));
            vst1q_s32(out.negsum.as_mut_ptr().add(16 * c + 4 * i), vnegq_s32(s8));
            vst1q_f32(out.scales.as_mut_ptr().add(16 * c + 4 * i), vdupq_n_f32(s));
        }
    }
    x.len() / 32
}
