//! INT4 GEMV with f32 activations, AVX-512.
//!
//! Same decode as the AVX2 kernel (nibble split, int8 zero-point subtraction,
//! interleave), but each 16 codes widen straight to one 16-lane f32 vector.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::dispatch::Isa;
use crate::gemv::assert_gemv_args;
use crate::x86_64::avx2::f16_to_f32;

/// Registered as `gemv_int4_f32_avx512`.
pub(crate) fn gemv_int4(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    assert_gemv_args(w, x, &rows, y);
    assert_eq!(w.format().bits, 4, "INT4 kernel called on another width");
    assert!(
        Isa::Avx512.is_available(),
        "AVX-512 kernel called without AVX-512"
    );
    // SAFETY: the CPU has AVX-512 F/BW/VL, AVX2, FMA and F16C (asserted above); memory
    // accesses are justified by the asserted argument checks (see inside).
    unsafe { gemv_int4_imp(w, x, rows, y) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn gemv_int4_imp(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    let l = *w.layout();
    let (g, gpr, rb) = (l.group_len, l.groups_per_row, l.row_bytes0);
    let (blocks, scales) = (g / 32, w.scales());
    let mask = _mm_set1_epi8(0x0F);
    for (out, n) in y.iter_mut().zip(rows) {
        let row = &w.plane0()[n * rb..(n + 1) * rb];
        let mut total = _mm512_setzero_ps();
        let mut tail_total = 0.0f32;
        for j in 0..gpr {
            let s = f16_to_f32(scales[n * gpr + j].to_bits());
            let z = w.zero(n, j);
            let zv = _mm_set1_epi8(z as i8);
            let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
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
                let lo = _mm_sub_epi8(_mm_and_si128(bytes, mask), zv);
                let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16::<4>(bytes), mask), zv);
                let w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_unpacklo_epi8(lo, hi)));
                let w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_unpackhi_epi8(lo, hi)));
                // SAFETY: xp .. xp + 32 is inside `x` (see above).
                unsafe {
                    a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xp), a0);
                    a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xp.add(16)), a1);
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
            total = _mm512_fmadd_ps(_mm512_set1_ps(s), _mm512_add_ps(a0, a1), total);
            tail_total += s * t;
        }
        *out = _mm512_reduce_add_ps(total) + tail_total;
    }
}
