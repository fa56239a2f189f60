//! INT x A8 GEMV, AVX-512 (INT4 below; INT8, INT2 and INT3 at their entry points).
//! INT4: 128 elements per step.
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

use crate::a8::{A8Activations, CHUNK, SUPER};
use crate::dispatch::{cpu_features, Isa};
use crate::gemv::assert_a8_kernel;
use crate::reference::int_a8::row_from_block;
use crate::x86_64::a8_common::{
    a8_row_blocks, act_scales4, chunk_params, chunk_scales, group_of_block, prefetch_next_rows,
    tail_blocks, GroupMode,
};
use crate::x86_64::avx2::f16_to_f32;

/// Defines a registered A8 entry point: checks every precondition, then runs the VNNI
/// variant when the CPU has it, else the AVX-512BW one.
macro_rules! avx512_a8_entry {
    ($(#[$doc:meta])* $entry:ident, $bits:literal, $vnni:ident, $bw:ident) => {
        $(#[$doc])*
        pub(crate) fn $entry(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            rows: Range<usize>,
            y: &mut [f32],
        ) {
            assert_a8_kernel(w, x, &rows, y, $bits, Isa::Avx512);
            if cpu_features().avx512vnni {
                // SAFETY: AVX-512 F/BW/VL, FMA, F16C (asserted) and VNNI (checked here)
                // are present; memory accesses are justified by the asserted argument
                // checks.
                unsafe { $vnni(w, x, rows, y) }
            } else {
                // SAFETY: as above, without VNNI (this variant does not use it).
                unsafe { $bw(w, x, rows, y) }
            }
        }
    };
}

avx512_a8_entry!(
    /// Registered as `gemv_int4_a8_avx512` (VNNI when present, else AVX-512BW).
    gemv_int4, 4, gemv_int4_vnni, gemv_int4_bw
);

/// `acc + (4-way u8 x i8 dots of lo x xe) + (the same of hi x xo)` per i32 lane, VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn dot512_vnni(acc: __m512i, lo: __m512i, xe: __m512i, hi: __m512i, xo: __m512i) -> __m512i {
    _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, lo, xe), hi, xo)
}

/// As [`dot512_vnni`] without VNNI. Codes are at most 15 and activations at most 127 in
/// magnitude, so each `vpmaddubsw` pair sum is at most 2 * 15 * 127 and the two pair sums
/// together at most 7620: they are added in i16 (exact) before one `vpmaddwd` widens them.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn dot512_bw(acc: __m512i, lo: __m512i, xe: __m512i, hi: __m512i, xo: __m512i) -> __m512i {
    let pairs = _mm512_add_epi16(_mm512_maddubs_epi16(lo, xe), _mm512_maddubs_epi16(hi, xo));
    _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)))
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

/// Rows per block of the chunk loop.
const ROWS: usize = 8;

macro_rules! int4_a8_kernel {
    ($name:ident, $rows:ident, $features:literal, $dot512:ident) => {
        /// Blocks of ROWS rows share each activation load (4 of the 5 vector loads a
        /// single row needs per chunk) and keep ROWS independent accumulator chains; the
        /// group layout and zero-point kind are specialized once per call.
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            a8_row_blocks!($rows, ROWS, w, x, rows, y)
        }

        /// Rows `n0 .. n0 + R` into `out[..R]`.
        #[target_feature(enable = $features)]
        #[inline]
        fn $rows<const MODE: u8, const SYM: bool, const R: usize>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            n0: usize,
            out: &mut [f32],
        ) {
            let l = *w.layout();
            let (g, gpr, rb, k) = (l.group_len, l.groups_per_row, l.row_bytes0, l.k);
            assert!(out.len() == R && n0 + R <= l.n);
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
            let (plane, scales, zeros) = (w.plane0(), w.scales(), w.zeros());
            let mut facc = [_mm512_setzero_ps(); R];
            // Several rows read at once are several short streams that a hardware
            // prefetcher learns anew at every block; prefetching the next block as one
            // linear stream keeps DRAM busy (prefetches never fault, so the addresses
            // need not be in bounds; the last block has none to fetch).
            let prefetch = R > 1 && n0 + 2 * R <= l.n;
            let prefetch_chunk = |c: usize| {
                // The next block of rows, front to back at the rate this block is read:
                // its weights (R * K/2 bytes, R lines per chunk), scales and zero-points
                // (R * 8 and R * 4 bytes per chunk, a line every few chunks).
                prefetch_next_rows(plane, rb, n0 + R, R, 64, c);
                prefetch_next_rows(scales, gpr, n0 + R, R, 8, c);
                if let Some(z) = zeros {
                    prefetch_next_rows(z, gpr, n0 + R, R, 4, c);
                }
            };
            let act = |c: usize| {
                assert!(c < chunks);
                // SAFETY: the activation buffers hold ceil(K/128) > c chunks of 128 codes
                // and 16 lanes each.
                unsafe {
                    (
                        _mm512_loadu_si512(xc.as_ptr().add(CHUNK * c).cast()),
                        _mm512_loadu_si512(xc.as_ptr().add(CHUNK * c + 64).cast()),
                        _mm512_loadu_si512(nl.as_ptr().add(16 * c).cast()),
                        _mm512_loadu_ps(sl.as_ptr().add(16 * c)),
                    )
                }
            };
            let mut first = 0;
            if MODE == 0 && SYM && R % 2 == 0 {
                // g = 32, no zero-points: two chunks and two rows per step. One f16
                // conversion and one multiply give weight scale times activation scale
                // for the 2 x 2 x 4 blocks of the step (16 lanes); a permute spreads each
                // chunk's 4 over its block lanes. (Per chunk and row that is a permute
                // instead of a conversion, a broadcast and a 16-lane multiply.)
                let spread: [__m512i; 4] = core::array::from_fn(|q| {
                    let b = 4 * q as i32;
                    _mm512_setr_epi32(
                        b,
                        b,
                        b,
                        b,
                        b + 1,
                        b + 1,
                        b + 1,
                        b + 1,
                        b + 2,
                        b + 2,
                        b + 2,
                        b + 2,
                        b + 3,
                        b + 3,
                        b + 3,
                        b + 3,
                    )
                });
                // Lanes 0, 4, 8, 12 of two chunks' scale lanes, twice.
                let pick =
                    _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
                first = chunks / 2 * 2;
                for c in (0..first).step_by(2) {
                    let (xe0, xo0, neg0, sx0) = act(c);
                    let (xe1, xo1, neg1, sx1) = act(c + 1);
                    let (corr0, corr1) =
                        (_mm512_slli_epi32::<3>(neg0), _mm512_slli_epi32::<3>(neg1));
                    let sxp = _mm512_permutex2var_ps(sx0, pick, sx1);
                    if prefetch {
                        prefetch_chunk(c);
                        prefetch_chunk(c + 1);
                    }
                    for (r, fa) in facc.chunks_exact_mut(2).enumerate() {
                        let n = n0 + 2 * r;
                        let p = plane.as_ptr().wrapping_add(n * rb + 64 * c);
                        let sp = scales.as_ptr().wrapping_add(n * gpr + 4 * c);
                        // SAFETY: n + 1 < N (asserted) and 128 (c + 2) <= K, so bytes
                        // 64c .. 64c + 128 and groups 4c .. 4c + 8 of rows n, n + 1 exist.
                        let (w0, w1, w2, w3, s16) = unsafe {
                            (
                                _mm512_loadu_si512(p.cast()),
                                _mm512_loadu_si512(p.add(64).cast()),
                                _mm512_loadu_si512(p.add(rb).cast()),
                                _mm512_loadu_si512(p.add(rb + 64).cast()),
                                _mm256_inserti128_si256::<1>(
                                    _mm256_castsi128_si256(_mm_loadu_si128(sp.cast())),
                                    _mm_loadu_si128(sp.add(gpr).cast()),
                                ),
                            )
                        };
                        let comb = _mm512_mul_ps(_mm512_cvtph_ps(s16), sxp);
                        let dot = |wv: __m512i, corr, xe, xo| {
                            $dot512(
                                corr,
                                _mm512_and_si512(wv, mask512),
                                xe,
                                _mm512_and_si512(_mm512_srli_epi16::<4>(wv), mask512),
                                xo,
                            )
                        };
                        let (a0, a1) = (dot(w0, corr0, xe0, xo0), dot(w1, corr1, xe1, xo1));
                        let (a2, a3) = (dot(w2, corr0, xe0, xo0), dot(w3, corr1, xe1, xo1));
                        let sc = |q: usize| _mm512_permutexvar_ps(spread[q], comb);
                        fa[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0), sc(0), fa[0]);
                        fa[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1), sc(1), fa[0]);
                        fa[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a2), sc(2), fa[1]);
                        fa[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a3), sc(3), fa[1]);
                    }
                }
            }
            for c in first..chunks {
                let (xe, xo, neg, sx) = act(c);
                let corr_sym = _mm512_slli_epi32::<3>(neg);
                if prefetch {
                    prefetch_chunk(c);
                }
                for (r, fa) in facc.iter_mut().enumerate() {
                    let n = n0 + r;
                    let p = plane.as_ptr().wrapping_add(n * rb + 64 * c);
                    // SAFETY: n < N (asserted) and 128 (c + 1) <= K, so bytes
                    // 64c .. 64c + 64 of row n exist (rows have ceil(K/2) bytes).
                    let wv = unsafe { _mm512_loadu_si512(p.cast()) };

                    let lo = _mm512_and_si512(wv, mask512);
                    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(wv), mask512);
                    // Weight scales and zero-points, each spread over its block's 4 lanes.
                    let (sw, zl) = match mode {
                        GroupMode::G32 => {
                            // SAFETY: 128 (c + 1) <= K, so groups 4c .. 4c + 4 of row n
                            // exist among its K/32 scales and zero-points.
                            let (s4, z4) = unsafe {
                                (
                                    _mm_loadl_epi64(scales.as_ptr().add(n * gpr + 4 * c).cast()),
                                    match zeros {
                                        Some(z) if !SYM => _mm_cvtsi32_si128(
                                            z.as_ptr()
                                                .add(n * gpr + 4 * c)
                                                .cast::<i32>()
                                                .read_unaligned(),
                                        ),
                                        _ => _mm_setzero_si128(),
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
                            let j = n * gpr + 2 * c;
                            let s2 = &scales[j..j + 2];
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
                            let z = zeros.map_or([0, 0], |z| [z[j], z[j + 1]]);
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
                            let j = n * gpr + group_of_block(4 * c, g);
                            (
                                _mm512_set1_ps(f16_to_f32(scales[j].to_bits())),
                                _mm512_set1_epi32(zeros.map_or(0, |z| z[j]).into()),
                            )
                        }
                        GroupMode::Generic => generic_lanes(w, n, c, g),
                    };
                    let corr = if symmetric {
                        corr_sym
                    } else {
                        _mm512_mullo_epi32(neg, zl)
                    };
                    let acc = $dot512(corr, lo, xe, hi, xo);
                    *fa = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(sw, sx), *fa);
                }
            }
            for (r, (o, fa)) in out.iter_mut().zip(facc).enumerate() {
                *o = _mm512_reduce_add_ps(fa) + tail_blocks(w, x, n0 + r, 4 * chunks);
            }
        }
    };
}

int4_a8_kernel!(
    gemv_int4_vnni,
    gemv_int4_vnni_rows,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    dot512_vnni
);
int4_a8_kernel!(
    gemv_int4_bw,
    gemv_int4_bw_rows,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    dot512_bw
);

avx512_a8_entry!(
    /// Registered as `gemv_int8_a8_avx512` (VNNI when present, else AVX-512BW).
    ///
    /// 64 codes (two blocks) per vector, in natural order against the natural-order
    /// activation codes. With VNNI, `vpdpbusd` takes the u8 codes as they are and each lane
    /// starts from `z * (-sum of its 4 activation codes)`, so it holds `sum (q - z) * x8`
    /// exactly. Without VNNI the codes are recentred to `q - 128` and the sign is moved onto
    /// the activation (as in the AVX2 kernel), so `vpmaddubsw` cannot saturate; a zero-point
    /// other than 128 adds `(z - 128) * (-sum x8)` per lane.
    gemv_int8, 8, gemv_int8_vnni, gemv_int8_bw
);

/// `sum (q - z) * x8` per lane of 4 bytes, VNNI: `z * neg4` plus the u8 x i8 products.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn dot8_vnni<const SYM: bool>(neg4: __m512i, z: __m512i, wv: __m512i, xv: __m512i) -> __m512i {
    let corr = if SYM {
        _mm512_slli_epi32::<7>(neg4)
    } else {
        _mm512_mullo_epi32(neg4, z)
    };
    _mm512_dpbusd_epi32(corr, wv, xv)
}

/// As [`dot8_vnni`] without VNNI: `|q - 128|` x (activation with the sign of `q - 128`)
/// pairs are at most 2 * 128 * 127 in magnitude, so `vpmaddubsw` never saturates.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn dot8_bw<const SYM: bool>(neg4: __m512i, z: __m512i, wv: __m512i, xv: __m512i) -> __m512i {
    let ws = _mm512_xor_si512(wv, _mm512_set1_epi8(-128));
    let neg = _mm512_movepi8_mask(ws);
    let xs = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
    let p = _mm512_madd_epi16(
        _mm512_maddubs_epi16(_mm512_abs_epi8(ws), xs),
        _mm512_set1_epi16(1),
    );
    if SYM {
        p
    } else {
        let zc = _mm512_sub_epi32(z, _mm512_set1_epi32(128));
        _mm512_add_epi32(p, _mm512_mullo_epi32(neg4, zc))
    }
}

macro_rules! int8_a8_kernel {
    ($name:ident, $rows:ident, $features:literal, $dot8:ident) => {
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            a8_row_blocks!($rows, ROWS, w, x, rows, y)
        }

        /// INT8 rows `n0 .. n0 + R` into `out[..R]`.
        #[target_feature(enable = $features)]
        #[inline]
        fn $rows<const MODE: u8, const SYM: bool, const R: usize>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            n0: usize,
            out: &mut [f32],
        ) {
            let l = *w.layout();
            let (gpr, rb, k) = (l.groups_per_row, l.row_bytes0, l.k);
            assert!(out.len() == R && n0 + R <= l.n && rb == k);
            let chunks = k / CHUNK;
            let (xn, n4) = (x.codes_nat(), x.negsum4());
            let (plane, scales) = (w.plane0(), w.scales());
            // Generic layouts read the zero-points (symmetric ones too) at run time.
            let sym = SYM || (MODE == 3 && w.zeros().is_none());
            // Half h of a chunk: lanes 0..8 are block 2h, lanes 8..16 block 2h + 1.
            let spread = [
                _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
            ];
            let prefetch = R > 1 && n0 + 2 * R <= l.n;
            let mut facc = [_mm512_setzero_ps(); R];
            for c in 0..chunks {
                if prefetch {
                    // The next block of rows as one linear stream (see the INT4 kernel).
                    prefetch_next_rows(plane, rb, n0 + R, R, 128, c);
                    prefetch_next_rows(scales, gpr, n0 + R, R, 8, c);
                }
                // SAFETY: the activation buffers hold ceil(K/128) > c chunks of 128
                // natural codes and 32 per-4 sums.
                let (x0, x1, m0, m1) = unsafe {
                    (
                        _mm512_loadu_si512(xn.as_ptr().add(CHUNK * c).cast()),
                        _mm512_loadu_si512(xn.as_ptr().add(CHUNK * c + 64).cast()),
                        _mm512_loadu_si512(n4.as_ptr().add(32 * c).cast()),
                        _mm512_loadu_si512(n4.as_ptr().add(32 * c + 16).cast()),
                    )
                };
                let sx4 = act_scales4(x, c);
                for (r, fa) in facc.iter_mut().enumerate() {
                    let n = n0 + r;
                    let p = plane.as_ptr().wrapping_add(n * rb + CHUNK * c);
                    // SAFETY: n < N (asserted) and 128 (c + 1) <= K = the row length, so
                    // bytes 128c .. 128c + 128 of row n exist.
                    let (w0, w1) = unsafe {
                        (
                            _mm512_loadu_si512(p.cast()),
                            _mm512_loadu_si512(p.add(64).cast()),
                        )
                    };
                    let (s4, z4) = chunk_scales::<MODE, SYM>(w, n, c);
                    let comb = _mm512_castps128_ps512(_mm_mul_ps(s4, sx4));
                    let z = _mm512_castsi128_si512(z4);
                    let (a0, a1) = if sym {
                        ($dot8::<true>(m0, z, w0, x0), $dot8::<true>(m1, z, w1, x1))
                    } else {
                        (
                            $dot8::<false>(m0, _mm512_permutexvar_epi32(spread[0], z), w0, x0),
                            $dot8::<false>(m1, _mm512_permutexvar_epi32(spread[1], z), w1, x1),
                        )
                    };
                    let sc0 = _mm512_permutexvar_ps(spread[0], comb);
                    let sc1 = _mm512_permutexvar_ps(spread[1], comb);
                    *fa = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0), sc0, *fa);
                    *fa = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1), sc1, *fa);
                }
            }
            for (r, (o, fa)) in out.iter_mut().zip(facc).enumerate() {
                *o = _mm512_reduce_add_ps(fa) + row_from_block(w, x, n0 + r, 4 * chunks);
            }
        }
    };
}

int8_a8_kernel!(
    gemv_int8_vnni,
    gemv_int8_vnni_rows,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    dot8_vnni
);
int8_a8_kernel!(
    gemv_int8_bw,
    gemv_int8_bw_rows,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    dot8_bw
);

avx512_a8_entry!(
    /// Registered as `gemv_int2_a8_avx512` (VNNI when present, else AVX-512BW).
    ///
    /// 256 codes (a superchunk, 8 blocks) per vector: the `t`-th 2-bit field of every byte
    /// meets plane `t` of the superchunk's 2-bit-weight activation layout (see
    /// [`crate::a8`]), so four masked fields and four integer dot products cover it without a
    /// shuffle. Lane `l` ends holding `sum (q - z) * x8` over elements `16l .. 16l + 16`
    /// exactly (it starts from `z` times minus their code sum); block `b` is lanes `2b, 2b+1`.
    gemv_int2, 2, gemv_int2_vnni, gemv_int2_bw
);

/// `acc + sum over t of the 4-way u8 x i8 dots of p[t] x xs[t]` per lane, VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn dot4_vnni(acc: __m512i, p: [__m512i; 4], xs: [__m512i; 4]) -> __m512i {
    let a = _mm512_dpbusd_epi32(acc, p[0], xs[0]);
    let a = _mm512_dpbusd_epi32(a, p[1], xs[1]);
    let a = _mm512_dpbusd_epi32(a, p[2], xs[2]);
    _mm512_dpbusd_epi32(a, p[3], xs[3])
}

/// As [`dot4_vnni`] without VNNI: 2-bit codes times activations of magnitude at most 127
/// make `vpmaddubsw` pair sums of at most 762, four of them at most 3048, so they are
/// added in i16 (exact) before one `vpmaddwd`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn dot4_bw(acc: __m512i, p: [__m512i; 4], xs: [__m512i; 4]) -> __m512i {
    let s01 = _mm512_add_epi16(
        _mm512_maddubs_epi16(p[0], xs[0]),
        _mm512_maddubs_epi16(p[1], xs[1]),
    );
    let s23 = _mm512_add_epi16(
        _mm512_maddubs_epi16(p[2], xs[2]),
        _mm512_maddubs_epi16(p[3], xs[3]),
    );
    let pairs = _mm512_add_epi16(s01, s23);
    _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)))
}

macro_rules! int2_a8_kernel {
    ($name:ident, $rows:ident, $features:literal, $dot4:ident, $b3:expr) => {
        #[target_feature(enable = $features)]
        fn $name(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
            a8_row_blocks!($rows, ROWS, w, x, rows, y)
        }

        /// INT2 rows `n0 .. n0 + R` into `out[..R]`.
        #[target_feature(enable = $features)]
        #[inline]
        fn $rows<const MODE: u8, const SYM: bool, const R: usize>(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            n0: usize,
            out: &mut [f32],
        ) {
            let l = *w.layout();
            let (gpr, rb, k) = (l.groups_per_row, l.row_bytes0, l.k);
            let rb1 = l.row_bytes1;
            assert!(out.len() == R && n0 + R <= l.n && 4 * rb >= k);
            assert!(!$b3 || (l.plane1_len == l.n * rb1 && 8 * rb1 >= k));
            let (hplane, low_byte, four) =
                (w.plane1(), _mm512_set1_epi16(0x00FF), _mm512_set1_epi8(4));
            let supers = k / SUPER;
            let (xm, n16) = x.m4();
            let sl = x.scale_lanes();
            let (plane, scales) = (w.plane0(), w.scales());
            let sym = SYM || (MODE == 3 && w.zeros().is_none());
            let mask = _mm512_set1_epi8(3);
            // Lanes 2b, 2b + 1 belong to block b of the superchunk.
            let spread = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            // Block scales of two chunks' scale lanes (lanes 0, 4, 8, 12 of each), spread.
            let pick = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
            let prefetch = R > 1 && n0 + 2 * R <= l.n;
            let mut facc = [_mm512_setzero_ps(); R];
            for s in 0..supers {
                if prefetch {
                    // The next block of rows as one linear stream (see the INT4 kernel).
                    prefetch_next_rows(plane, rb, n0 + R, R, 64, s);
                    prefetch_next_rows(scales, gpr, n0 + R, R, 16, s);
                    if $b3 {
                        prefetch_next_rows(hplane, rb1, n0 + R, R, 32, s);
                    }
                }
                // SAFETY: the 2-bit layout holds ceil(K/256) > s superchunks of 256
                // codes and 16 sums; the scale lanes hold ceil(K/128) > 2s + 1 chunks.
                let (xs, neg, sx) = unsafe {
                    let p = xm.as_ptr().add(SUPER * s);
                    (
                        [
                            _mm512_loadu_si512(p.cast()),
                            _mm512_loadu_si512(p.add(64).cast()),
                            _mm512_loadu_si512(p.add(128).cast()),
                            _mm512_loadu_si512(p.add(192).cast()),
                        ],
                        _mm512_loadu_si512(n16.as_ptr().add(16 * s).cast()),
                        _mm512_permutex2var_ps(
                            _mm512_loadu_ps(sl.as_ptr().add(32 * s)),
                            pick,
                            _mm512_loadu_ps(sl.as_ptr().add(32 * s + 16)),
                        ),
                    )
                };
                for (r, fa) in facc.iter_mut().enumerate() {
                    let n = n0 + r;
                    let wp = plane.as_ptr().wrapping_add(n * rb + 64 * s);
                    // SAFETY: n < N (asserted) and 256 (s + 1) <= K, so bytes
                    // 64s .. 64s + 64 of row n exist (rows have ceil(K/4) bytes).
                    let wv = unsafe { _mm512_loadu_si512(wp.cast()) };
                    let mut p = [
                        _mm512_and_si512(wv, mask),
                        _mm512_and_si512(_mm512_srli_epi16::<2>(wv), mask),
                        _mm512_and_si512(_mm512_srli_epi16::<4>(wv), mask),
                        _mm512_and_si512(_mm512_srli_epi16::<6>(wv), mask),
                    ];
                    if $b3 {
                        // INT3: bit 2 of element 4j + t is bit 4 (j % 2) + t of 1-bit-plane
                        // byte j / 2. Widening the superchunk's 32 plane bytes to words
                        // and moving each word's high nibble into its high byte gives,
                        // for every j, a byte holding those bits at bit t; one shift puts
                        // bit t at bit 2 and `vpternlogd` ORs it (masked) into field t.
                        let hp = hplane.as_ptr().wrapping_add(n * rb1 + 32 * s);
                        // SAFETY: n < N and 256 (s + 1) <= K, so bytes 32s .. 32s + 32 of
                        // row n's 1-bit plane exist (rows have ceil(K/8) bytes; asserted).
                        let z = _mm512_cvtepu8_epi16(unsafe { _mm256_loadu_si256(hp.cast()) });
                        let e = _mm512_ternarylogic_epi32::<0xCA>(
                            low_byte,
                            z,
                            _mm512_slli_epi16::<4>(z),
                        );
                        let hi = [
                            _mm512_slli_epi16::<2>(e),
                            _mm512_slli_epi16::<1>(e),
                            e,
                            _mm512_srli_epi16::<1>(e),
                        ];
                        for (f, h) in p.iter_mut().zip(hi) {
                            // f | (h & 4)
                            *f = _mm512_ternarylogic_epi32::<0xF8>(*f, h, four);
                        }
                    }
                    let (s0, z0) = chunk_scales::<MODE, SYM>(w, n, 2 * s);
                    let (s1, z1) = chunk_scales::<MODE, SYM>(w, n, 2 * s + 1);
                    let sw = _mm512_permutexvar_ps(
                        spread,
                        _mm512_castps256_ps512(_mm256_set_m128(s1, s0)),
                    );
                    let corr = if sym && $b3 {
                        _mm512_slli_epi32::<2>(neg)
                    } else if sym {
                        _mm512_slli_epi32::<1>(neg)
                    } else {
                        let z = _mm512_permutexvar_epi32(
                            spread,
                            _mm512_castsi256_si512(_mm256_set_m128i(z1, z0)),
                        );
                        _mm512_mullo_epi32(neg, z)
                    };
                    let acc = $dot4(corr, p, xs);
                    *fa = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(sw, sx), *fa);
                }
            }
            for (r, (o, fa)) in out.iter_mut().zip(facc).enumerate() {
                *o = _mm512_reduce_add_ps(fa) + row_from_block(w, x, n0 + r, 8 * supers);
            }
        }
    };
}

int2_a8_kernel!(
    gemv_int2_vnni,
    gemv_int2_vnni_rows,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    dot4_vnni,
    false
);
int2_a8_kernel!(
    gemv_int2_bw,
    gemv_int2_bw_rows,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    dot4_bw,
    false
);
int2_a8_kernel!(
    gemv_int3_vnni,
    gemv_int3_vnni_rows,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    dot4_vnni,
    true
);
int2_a8_kernel!(
    gemv_int3_bw,
    gemv_int3_bw_rows,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    dot4_bw,
    true
);

avx512_a8_entry!(
    /// Registered as `gemv_int3_a8_avx512` (VNNI when present, else AVX-512BW): the INT2
    /// kernel with bit 2 of each code merged in from the 1-bit plane (codes up to 7:
    /// `vpmaddubsw` pair sums at most 1778, four fields' sums at most 7112, still exact in
    /// i16 on the BW path).
    gemv_int3, 3, gemv_int3_vnni, gemv_int3_bw
);
