//! AVX2 + FMA + F16C kernels and helpers.

pub(crate) mod int;

use core::arch::x86_64::*;

/// Horizontal sum of the 8 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(crate) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// f16 bits to f32 with F16C (exact).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}
pub(crate) mod a8;
pub(crate) mod gemm;
