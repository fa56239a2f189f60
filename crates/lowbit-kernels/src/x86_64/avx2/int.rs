//! INT4 GEMV with f32 activations, AVX2 + FMA.
//!
//! Per 32 elements (16 code bytes): split nibbles, subtract the zero-point in int8
//! (codes 0..15, zero-points 0..16, so `q - z` fits), interleave back into element
//! order, sign-extend to i32, convert exactly to f32 and FMA with `x`. Each group has
//! its own accumulators, scaled once at the group's end. Tails (per-row groups whose
//! length is not a multiple of 32) run the reference formula element by element.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use super::{f16_to_f32, hsum};
use crate::dispatch::Isa;
use crate::gemv::assert_gemv_args;

/// Registered as `gemv_int4_f32_avx2`.
pub(crate) fn gemv_int4(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    assert_gemv_args(w, x, &rows, y);
    assert_eq!(w.format().bits, 4, "INT4 kernel called on another width");
    assert!(Isa::Avx2.is_available(), "AVX2 kernel called without AVX2");
    // SAFETY: the CPU has AVX2, FMA and F16C (asserted above), which is all the
    // implementation's target features require; its memory accesses are justified by
    // the argument checks asserted above (see the comments inside).
    unsafe { gemv_int4_imp(w, x, rows, y) }
}

/// 32 codes starting at byte `p` minus the zero-point, as four f32x8 in element order.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn decode32(bytes: __m128i, zv: __m128i) -> [__m256; 4] {
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_sub_epi8(_mm_and_si128(bytes, mask), zv);
    let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16::<4>(bytes), mask), zv);
    let e0 = _mm_unpacklo_epi8(lo, hi);
    let e1 = _mm_unpackhi_epi8(lo, hi);
    [
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e0)),
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(e0))),
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e1)),
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(e1))),
    ]
}

#[target_feature(enable = "avx2,fma,f16c")]
fn gemv_int4_imp(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    let l = *w.layout();
    let (g, gpr, rb) = (l.group_len, l.groups_per_row, l.row_bytes0);
    let (blocks, scales) = (g / 32, w.scales());
    for (out, n) in y.iter_mut().zip(rows) {
        let row = &w.plane0()[n * rb..(n + 1) * rb];
        let mut total = _mm256_setzero_ps();
        let mut tail_total = 0.0f32;
        for j in 0..gpr {
            let s = f16_to_f32(scales[n * gpr + j].to_bits());
            let z = w.zero(n, j);
            let zv = _mm_set1_epi8(z as i8);
            let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let k0 = j * g;
            for b in 0..blocks {
                let kk = k0 + 32 * b;
                // SAFETY: kk + 32 <= (j + 1) * g <= K, so bytes kk/2 .. kk/2 + 16 are
                // inside `row` (ceil(K/2) bytes) and x[kk .. kk + 32] inside `x` (K).
                let (bytes, xp) = unsafe {
                    (
                        _mm_loadu_si128(row.as_ptr().add(kk / 2).cast()),
                        x.as_ptr().add(kk),
                    )
                };
                let [w0, w1, w2, w3] = decode32(bytes, zv);
                // SAFETY: xp .. xp + 32 is inside `x` (see above).
                unsafe {
                    a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp), a0);
                    a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp.add(8)), a1);
                    a0 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xp.add(16)), a0);
                    a1 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xp.add(24)), a1);
                }
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
            total = _mm256_fmadd_ps(_mm256_set1_ps(s), _mm256_add_ps(a0, a1), total);
            tail_total += s * t;
        }
        *out = hsum(total) + tail_total;
    }
}
