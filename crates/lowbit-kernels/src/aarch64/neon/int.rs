//! INT4 GEMV with f32 activations, NEON.
//!
//! Per 32 elements (16 code bytes): split nibbles, subtract the zero-point in int8, zip
//! back into element order, widen to i32, convert exactly to f32 and FMA with `x`.

use core::arch::aarch64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::dispatch::Isa;
use crate::gemv::assert_gemv_args;

/// Registered as `gemv_int4_f32_neon`.
pub(crate) fn gemv_int4(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    assert_gemv_args(w, x, &rows, y);
    assert_eq!(w.format().bits, 4, "INT4 kernel called on another width");
    assert!(Isa::Neon.is_available(), "NEON kernel called without NEON");
    // SAFETY: the CPU has NEON (asserted above); memory accesses are justified by the
    // asserted argument checks (see inside).
    unsafe { gemv_int4_imp(w, x, rows, y) }
}

#[target_feature(enable = "neon")]
#[inline]
fn fma16(acc: float32x4_t, codes: int8x16_t, xp: *const f32) -> float32x4_t {
    let lo = vmovl_s8(vget_low_s8(codes));
    let hi = vmovl_s8(vget_high_s8(codes));
    let w0 = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    let w1 = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    let w2 = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    let w3 = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
    // SAFETY: callers pass xp with 16 readable f32 behind it.
    unsafe {
        let a = vfmaq_f32(acc, w0, vld1q_f32(xp));
        let a = vfmaq_f32(a, w1, vld1q_f32(xp.add(4)));
        let a = vfmaq_f32(a, w2, vld1q_f32(xp.add(8)));
        vfmaq_f32(a, w3, vld1q_f32(xp.add(12)))
    }
}

#[target_feature(enable = "neon")]
fn gemv_int4_imp(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    let l = *w.layout();
    let (g, gpr, rb) = (l.group_len, l.groups_per_row, l.row_bytes0);
    let (blocks, scales) = (g / 32, w.scales());
    let mask = vdupq_n_u8(0x0F);
    for (out, n) in y.iter_mut().zip(rows) {
        let row = &w.plane0()[n * rb..(n + 1) * rb];
        let mut total = vdupq_n_f32(0.0);
        let mut tail_total = 0.0f32;
        for j in 0..gpr {
            let s = scales[n * gpr + j].to_f32();
            let z = w.zero(n, j);
            let zv = vdupq_n_s8(z as i8);
            let (mut a0, mut a1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
            let k0 = j * g;
            for b in 0..blocks {
                let kk = k0 + 32 * b;
                // SAFETY: kk + 32 <= (j + 1) * g <= K, so bytes kk/2 .. kk/2 + 16 are
                // inside `row` (ceil(K/2) bytes) and x[kk .. kk + 32] inside `x` (K).
                let (bytes, xp) =
                    unsafe { (vld1q_u8(row.as_ptr().add(kk / 2)), x.as_ptr().add(kk)) };
                let lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(bytes, mask)), zv);
                let hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(bytes)), zv);
                a0 = fma16(a0, vzip1q_s8(lo, hi), xp);
                // SAFETY: xp + 16 .. xp + 32 is inside `x` (see above).
                a1 = fma16(a1, vzip2q_s8(lo, hi), unsafe { xp.add(16) });
            }
            // Per-row groups whose length is not a multiple of 32: plain index loop
            // (an iterator adapter here was not inlined and spilled the accumulators).
            let mut t = 0.0f32;
            if 32 * blocks < g {
                for kk in k0 + 32 * blocks..k0 + g {
                    let q = (row[kk / 2] >> (4 * (kk % 2))) & 0xF;
                    t += (f32::from(q) - f32::from(z)) * x[kk];
                }
            }
            total = vfmaq_f32(total, vdupq_n_f32(s), vaddq_f32(a0, a1));
            tail_total += s * t;
        }
        *out = vaddvq_f32(total) + tail_total;
    }
}
