//! The NEON A8 activation quantizer: bitwise the scalar block codec (`fcvtns`, `uzp` for
//! the even/odd split, pairwise adds for the code sums).

use core::arch::aarch64::*;

use super::neon::Neon;
use crate::a8::{Lanes, CHUNK};

impl<const DOT: bool> Neon<DOT> {
    /// Quantizes the whole 32-element blocks of `x` from block `from` on into the A8 layout
    /// (see [`crate::a8`]): bitwise the scalar block codec (the same `block_scale` and
    /// product, rounded to nearest-even by `fcvtns`). Returns the first block not done: the
    /// number of whole blocks, or a block holding a NaN or an infinity (for the scalar codec
    /// to report).
    pub(crate) fn quantize_blocks(self, x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
        out.assert_fits(x.len());
        // SAFETY: the token proves NEON; the buffer lengths are asserted above and every
        // access inside is to a whole block of `x` or within its layouts.
        unsafe { quantize_blocks_imp(x, from, out) }
    }
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
        let (s, inv) = lowbit_formats::act::block_scale(amax);
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
        // SAFETY: 32 (b + 1) <= x.len() and the layouts hold x.len() rounded up to 256
        // elements (asserted by the caller): base + 64 + 16 <= 128 (c + 1) within `codes`,
        // 32 (b + 1) within `codes_nat`, 4b + 4 within `negsum8`, 8b + 8 within `negsum4`,
        // b within `scales`.
        unsafe {
            vst1q_s8(out.codes.as_mut_ptr().add(base), ev);
            vst1q_s8(out.codes.as_mut_ptr().add(base + 64), od);
            vst1q_s8(out.codes_nat.as_mut_ptr().add(32 * b), lo);
            vst1q_s8(out.codes_nat.as_mut_ptr().add(32 * b + 16), hi);
            vst1q_s32(out.negsum4.as_mut_ptr().add(8 * b), vnegq_s32(s4lo));
            vst1q_s32(out.negsum4.as_mut_ptr().add(8 * b + 4), vnegq_s32(s4hi));
            vst1q_s32(out.negsum8.as_mut_ptr().add(4 * b), vnegq_s32(s8));
            *out.scales.get_unchecked_mut(b) = s;
        }
    }
    x.len() / 32
}
