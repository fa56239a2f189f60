//! INT4 x A8 GEMV, AVX2: 128 elements per step as two 32-byte halves.
//!
//! Same scheme as the AVX-512 kernel (see `x86_64::avx512::a8`): low nibbles meet the
//! even half of the activation chunk and high nibbles the odd half, the integer dot
//! product is `vpmaddubsw` + `vpmaddwd`, each lane starts from `z * (-sum of its 8
//! activation codes)` so it holds `sum (q - z) * x8` exactly, and each block's 4 lanes are scaled by weight scale times
//! activation scale. Leftover blocks go through the shared 16-byte tail.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use super::f16_to_f32;
use crate::a8::{A8Activations, CHUNK};
use crate::dispatch::Isa;
use crate::gemv::assert_a8_args;
use crate::x86_64::a8_common::{group_of_block, tail_blocks};

/// Registered as `gemv_int4_a8_avx2`.
pub(crate) fn gemv_int4(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
) {
    assert_a8_args(w, x, &rows, y);
    assert_eq!(w.format().bits, 4, "INT4 kernel called on another width");
    assert!(Isa::Avx2.is_available(), "AVX2 kernel called without AVX2");
    // SAFETY: AVX2, FMA and F16C are present (asserted above); memory accesses are
    // justified by the asserted argument checks (see inside).
    unsafe { gemv_int4_imp(w, x, rows, y) }
}

/// u8 x i8 dot of 4 adjacent bytes per i32 lane (no saturation: see `a8_common::dot128`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot256(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(
        acc,
        _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)),
    )
}

#[target_feature(enable = "avx2,fma,f16c")]
fn gemv_int4_imp(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
    let l = *w.layout();
    let (g, gpr, rb, k) = (l.group_len, l.groups_per_row, l.row_bytes0, l.k);
    let chunks = k / CHUNK;
    let (xc, sl, nl) = (x.codes(), x.scale_lanes(), x.negsum_lanes());
    let mask = _mm256_set1_epi8(0x0F);
    let symmetric = w.zeros().is_none();
    for (out, n) in y.iter_mut().zip(rows) {
        let row = &w.plane0()[n * rb..(n + 1) * rb];
        let srow = &w.scales()[n * gpr..(n + 1) * gpr];
        let (mut f0, mut f1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for c in 0..chunks {
            for h in 0..2 {
                let (b0, b1) = (4 * c + 2 * h, 4 * c + 2 * h + 1);
                let (j0, j1) = (group_of_block(b0, g), group_of_block(b1, g));
                // SAFETY: 128 * (c + 1) <= K, so row bytes 64c + 32h .. + 32 exist (the
                // row has ceil(K/2) bytes); activation chunk c holds 128 codes and 16
                // lanes, and 32h + 64 + 32 <= 128, 8h + 8 <= 16.
                let (wv, xe, xo, neg, sx) = unsafe {
                    (
                        _mm256_loadu_si256(row.as_ptr().add(64 * c + 32 * h).cast()),
                        _mm256_loadu_si256(xc.as_ptr().add(CHUNK * c + 32 * h).cast()),
                        _mm256_loadu_si256(xc.as_ptr().add(CHUNK * c + 64 + 32 * h).cast()),
                        _mm256_loadu_si256(nl.as_ptr().add(16 * c + 8 * h).cast()),
                        _mm256_loadu_ps(sl.as_ptr().add(16 * c + 8 * h)),
                    )
                };
                let lo = _mm256_and_si256(wv, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(wv), mask);
                let corr = if symmetric {
                    _mm256_slli_epi32::<3>(neg)
                } else {
                    let (z0, z1) = (w.zero(n, j0), w.zero(n, j1));
                    _mm256_mullo_epi32(
                        neg,
                        _mm256_setr_epi32(
                            z0.into(),
                            z0.into(),
                            z0.into(),
                            z0.into(),
                            z1.into(),
                            z1.into(),
                            z1.into(),
                            z1.into(),
                        ),
                    )
                };
                let acc = dot256(dot256(corr, lo, xe), hi, xo);
                let (s0, s1) = (
                    f16_to_f32(srow[j0].to_bits()),
                    f16_to_f32(srow[j1].to_bits()),
                );
                let sw = _mm256_setr_m128(_mm_set1_ps(s0), _mm_set1_ps(s1));
                let comb = _mm256_mul_ps(sw, sx);
                if h == 0 {
                    f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), comb, f0);
                } else {
                    f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), comb, f1);
                }
            }
        }
        *out = super::hsum(_mm256_add_ps(f0, f1)) + tail_blocks(w, x, n, 4 * chunks);
    }
}
