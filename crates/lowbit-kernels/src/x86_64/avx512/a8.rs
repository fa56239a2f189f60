//! INT4 x A8 GEMV, AVX-512: 128 elements per step.
//!
//! One 64-byte load holds 128 codes of 4 blocks. Low nibbles are the even elements and
//! meet the even half of the activation chunk, high nibbles the odd half (see
//! [`crate::a8`]), so there is no shuffle: two integer dot products (`vpdpbusd` with
//! VNNI, else `vpmaddubsw` + `vpmaddwd`) give 16 i32 lanes, 4 per block. Each lane
//! starts from `z * (-sum of its 8 activation codes)`, so it ends holding
//! `sum (q - z) * x8` over its elements exactly. The lanes are converted to f32 (exact: |lane| < 2^24)
//! and multiplied by the block's weight scale times activation scale. Blocks that do not
//! fill a chunk and a partial last block go through the shared 16-byte tail
//! ([`tail_blocks`]).

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::a8::{A8Activations, CHUNK};
use crate::dispatch::{cpu_features, Isa};
use crate::gemv::assert_a8_args;
use crate::x86_64::a8_common::{chunk_params, group_of_block, tail_blocks, GroupMode};
use crate::x86_64::avx2::f16_to_f32;

/// Registered as `gemv_int4_a8_avx512` (VNNI when present, else AVX-512BW).
pub(crate) fn gemv_int4(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
) {
    assert_a8_args(w, x, &rows, y);
    assert_eq!(w.format().bits, 4, "INT4 kernel called on another width");
    assert!(
        Isa::Avx512.is_available(),
        "AVX-512 kernel called without AVX-512"
    );
    if cpu_features().avx512vnni {
        // SAFETY: AVX-512 F/BW/VL, FMA, F16C (asserted above) and VNNI (checked here) are
        // present; memory accesses are justified by the asserted argument checks.
        unsafe { gemv_int4_vnni(w, x, rows, y) }
    } else {
        // SAFETY: as above, without VNNI (this variant does not use it).
        unsafe { gemv_int4_bw(w, x, rows, y) }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn dot512_vnni(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    _mm512_dpbusd_epi32(acc, a, b)
}

// u8 codes are at most 15 and int8 activations at most 127 in magnitude, so the pairwise
// i16 sums of vpmaddubsw (at most 2 * 15 * 127) never saturate.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn dot512_bw(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    _mm512_add_epi32(
        acc,
        _mm512_madd_epi16(_mm512_maddubs_epi16(a, b), _mm512_set1_epi16(1)),
    )
}

/// Per-block weight scales and zero-points of chunk `c` for group layouts other than
/// g = 32, 64 or a multiple of 128 (rare: kept out of line so the hot loop stays small).
/// Returns the scales and the zero-points, each spread over its block's 4 lanes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
#[inline(never)]
fn generic_lanes(w: &IntMatrixRef<'_>, n: usize, c: usize, g: usize) -> (__m512, __m512i) {
    let (s, z) = chunk_params(w, n, c, g);
    let four = _mm_setr_ps(s[0].to_f32(), s[1].to_f32(), s[2].to_f32(), s[3].to_f32());
    let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let zl = _mm_setr_epi32(z[0].into(), z[1].into(), z[2].into(), z[3].into());
    (
        _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(four)),
        _mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(zl)),
    )
}

macro_rules! int4_a8_kernel {
    ($name:ident, $inner:ident, $features:literal, $dot512:ident) => {
        /// Picks the specialization for the group layout and zero-point kind once per
        /// call, so the chunk loop has no per-chunk dispatch.
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            let sym = w.zeros().is_none();
            match (GroupMode::of(w.layout().group_len), sym) {
                (GroupMode::G32, true) => $inner::<0, true>(w, x, rows, y),
                (GroupMode::G32, false) => $inner::<0, false>(w, x, rows, y),
                (GroupMode::G64, true) => $inner::<1, true>(w, x, rows, y),
                (GroupMode::G64, false) => $inner::<1, false>(w, x, rows, y),
                (GroupMode::Uniform, true) => $inner::<2, true>(w, x, rows, y),
                (GroupMode::Uniform, false) => $inner::<2, false>(w, x, rows, y),
                (GroupMode::Generic, _) => $inner::<3, false>(w, x, rows, y),
            }
        }

        #[target_feature(enable = $features)]
        fn $inner<const MODE: u8, const SYM: bool>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            rows: Range<usize>,
            y: &mut [f32],
        ) {
            let l = *w.layout();
            let (g, gpr, rb, k) = (l.group_len, l.groups_per_row, l.row_bytes0, l.k);
            let spread4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            let spread2 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            let mode = match MODE {
                0 => GroupMode::G32,
                1 => GroupMode::G64,
                2 => GroupMode::Uniform,
                _ => GroupMode::Generic,
            };
            // The generic layout handles both kinds at run time (it is rare).
            let symmetric = if MODE == 3 { w.zeros().is_none() } else { SYM };
            let chunks = k / CHUNK;
            let (xc, sl, nl) = (x.codes(), x.scale_lanes(), x.negsum_lanes());
            let mask512 = _mm512_set1_epi8(0x0F);
            for (out, n) in y.iter_mut().zip(rows) {
                let row = &w.plane0()[n * rb..(n + 1) * rb];
                let srow = &w.scales()[n * gpr..(n + 1) * gpr];
                let zrow = w.zeros().map(|z| &z[n * gpr..(n + 1) * gpr]);
                let mut facc = _mm512_setzero_ps();
                for c in 0..chunks {
                    // SAFETY: 128 * (c + 1) <= K, so row bytes 64c .. 64c + 64 exist
                    // (the row has ceil(K/2) bytes); the activation buffers hold
                    // ceil(K/128) chunks of 128 codes and 16 lanes each.
                    let (wv, xe, xo, neg, sx) = unsafe {
                        (
                            _mm512_loadu_si512(row.as_ptr().add(64 * c).cast()),
                            _mm512_loadu_si512(xc.as_ptr().add(CHUNK * c).cast()),
                            _mm512_loadu_si512(xc.as_ptr().add(CHUNK * c + 64).cast()),
                            _mm512_loadu_si512(nl.as_ptr().add(16 * c).cast()),
                            _mm512_loadu_ps(sl.as_ptr().add(16 * c)),
                        )
                    };
                    let lo = _mm512_and_si512(wv, mask512);
                    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(wv), mask512);
                    // Weight scales and zero-points, each spread over its block's 4 lanes.
                    let (sw, zl) = match mode {
                        GroupMode::G32 => {
                            // SAFETY: 128 (c + 1) <= K, so groups 4c .. 4c + 4 exist in
                            // this row's K/32 scales and zero-points.
                            let (s4, z4) = unsafe {
                                (
                                    _mm_loadl_epi64(srow.as_ptr().add(4 * c).cast()),
                                    match zrow {
                                        Some(z) => _mm_cvtsi32_si128(
                                            z.as_ptr().add(4 * c).cast::<i32>().read_unaligned(),
                                        ),
                                        None => _mm_setzero_si128(),
                                    },
                                )
                            };
                            (
                                _mm512_permutexvar_ps(
                                    spread4,
                                    _mm512_castps128_ps512(_mm_cvtph_ps(s4)),
                                ),
                                _mm512_permutexvar_epi32(spread4, _mm512_cvtepu8_epi32(z4)),
                            )
                        }
                        GroupMode::G64 => {
                            let (j, s2) = (2 * c, &srow[2 * c..2 * c + 2]);
                            let h = _mm_setr_epi16(
                                s2[0].to_bits() as i16,
                                s2[1].to_bits() as i16,
                                0,
                                0,
                                0,
                                0,
                                0,
                                0,
                            );
                            let z = zrow.map_or([0, 0], |z| [z[j], z[j + 1]]);
                            (
                                _mm512_permutexvar_ps(
                                    spread2,
                                    _mm512_castps128_ps512(_mm_cvtph_ps(h)),
                                ),
                                _mm512_permutexvar_epi32(
                                    spread2,
                                    _mm512_castsi128_si512(_mm_setr_epi32(
                                        z[0].into(),
                                        z[1].into(),
                                        0,
                                        0,
                                    )),
                                ),
                            )
                        }
                        GroupMode::Uniform => {
                            let j = group_of_block(4 * c, g);
                            (
                                _mm512_set1_ps(f16_to_f32(srow[j].to_bits())),
                                _mm512_set1_epi32(zrow.map_or(0, |z| z[j]).into()),
                            )
                        }
                        GroupMode::Generic => generic_lanes(w, n, c, g),
                    };
                    let corr = if symmetric {
                        _mm512_slli_epi32::<3>(neg)
                    } else {
                        _mm512_mullo_epi32(neg, zl)
                    };
                    let acc = $dot512($dot512(corr, lo, xe), hi, xo);
                    let comb = _mm512_mul_ps(sw, sx);
                    facc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), comb, facc);
                }
                let rest = tail_blocks(w, x, n, 4 * chunks);
                *out = _mm512_reduce_add_ps(facc) + rest;
            }
        }
    };
}

int4_a8_kernel!(
    gemv_int4_vnni,
    gemv_int4_vnni_mode,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    dot512_vnni
);
int4_a8_kernel!(
    gemv_int4_bw,
    gemv_int4_bw_mode,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    dot512_bw
);
