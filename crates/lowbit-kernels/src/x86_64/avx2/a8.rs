//! INT x A8 GEMV, AVX2 (INT4 below; INT8, INT2 and INT3 at their entry points; the A8
//! activation quantizer). INT4: 128 elements per step as two 32-byte halves.
//!
//! Same scheme as the AVX-512 kernel (see `x86_64::avx512::a8`): low nibbles meet the
//! even half of the activation chunk and high nibbles the odd half, the integer dot
//! product is `vpmaddubsw` + `vpmaddwd`, each lane starts from `z * (-sum of its 8
//! activation codes)` so it holds `sum (q - z) * x8` exactly, and each block's 4 lanes are scaled by weight scale times
//! activation scale. Leftover blocks go through the shared 16-byte tail.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::a8::{A8Activations, Lanes, CHUNK, SUPER};
use crate::dispatch::Isa;
use crate::gemv::assert_a8_kernel;
use crate::reference::int_a8::row_from_block;
use crate::x86_64::a8_common::{
    a8_row_blocks, act_scales4, chunk_scales, prefetch_next_rows, tail_blocks,
};

/// Defines a registered A8 entry point: checks every precondition, then runs `$rows`
/// over the rows in blocks (see `a8_row_blocks!`) with AVX2, FMA and F16C enabled.
macro_rules! avx2_a8_entry {
    ($(#[$doc:meta])* $entry:ident, $bits:literal, $rows:ident) => {
        $(#[$doc])*
        pub(crate) fn $entry(
            w: &IntMatrixRef<'_>,
            x: &A8Activations,
            rows: Range<usize>,
            y: &mut [f32],
        ) {
            #[target_feature(enable = "avx2,fma,f16c")]
            fn imp(w: &IntMatrixRef<'_>, x: &A8Activations, rows: Range<usize>, y: &mut [f32]) {
                a8_row_blocks!($rows, ROWS, w, x, rows, y)
            }
            assert_a8_kernel(w, x, &rows, y, $bits, Isa::Avx2);
            // SAFETY: AVX2, FMA and F16C are present (asserted above); memory accesses
            // are justified by the asserted argument checks (see inside).
            unsafe { imp(w, x, rows, y) }
        }
    };
}

avx2_a8_entry!(
    /// Registered as `gemv_int4_a8_avx2`.
    gemv_int4, 4, rows_imp
);

/// `acc + sum of 4 adjacent lo x xe products + sum of 4 adjacent hi x xo products` per
/// i32 lane. Codes are at most 15 and activations at most 127 in magnitude, so each
/// `vpmaddubsw` pair sum is at most 2 * 15 * 127 and the two pair sums together at most
/// 7620: they are added in i16 (exact) before the one `vpmaddwd` that widens them.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot2_256(acc: __m256i, lo: __m256i, xe: __m256i, hi: __m256i, xo: __m256i) -> __m256i {
    let pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xe), _mm256_maddubs_epi16(hi, xo));
    _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Rows per block of the chunk loop (16 ymm registers: 4 accumulators, 6 shared).
const ROWS: usize = 4;

/// Rows `n0 .. n0 + R` into `out[..R]`. `MODE`: the [`GroupMode`] (0 G32, 1 G64,
/// 2 Uniform, 3 Generic, which reads any layout through [`chunk_params`]); `SYM`: no
/// zero-points (never set with Generic, which checks at run time).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn rows_imp<const MODE: u8, const SYM: bool, const R: usize>(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    n0: usize,
    out: &mut [f32],
) {
    let l = *w.layout();
    let (gpr, rb, k) = (l.groups_per_row, l.row_bytes0, l.k);
    assert!(out.len() == R && n0 + R <= l.n);
    let chunks = k / CHUNK;
    let (xc, sl, nl) = (x.codes(), x.scale_lanes(), x.negsum_lanes());
    let (plane, scales, zeros) = (w.plane0(), w.scales(), w.zeros());
    let symmetric = if MODE == 3 { zeros.is_none() } else { SYM };
    let mask = _mm256_set1_epi8(0x0F);
    // Lanes 4i .. 4i + 4 of half h belong to block 2h + i.
    let spread = [
        _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1),
        _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3),
    ];
    // See the AVX-512 kernel: the next block of rows as one linear prefetch stream.
    let prefetch = R > 1 && n0 + 2 * R <= l.n;
    let mut facc = [_mm256_setzero_ps(); R];
    for c in 0..chunks {
        if prefetch {
            prefetch_next_rows(plane, rb, n0 + R, R, 64, c);
            prefetch_next_rows(scales, gpr, n0 + R, R, 8, c);
        }
        for (r, fa) in facc.iter_mut().enumerate() {
            let n = n0 + r;
            // The 4 blocks' weight scales (as f32) and zero-points of this chunk.
            let (s4, z4) = chunk_scales::<MODE, SYM>(w, n, c);
            for (h, idx) in spread.into_iter().enumerate() {
                // SAFETY: 128 (c + 1) <= K, so row bytes 64c + 32h .. + 32 exist (rows
                // have ceil(K/2) bytes); activation chunk c holds 128 codes and 16 lanes,
                // and 32h + 64 + 32 <= 128, 8h + 8 <= 16.
                let (wv, xe, xo, neg, sx) = unsafe {
                    (
                        _mm256_loadu_si256(plane.as_ptr().add(n * rb + 64 * c + 32 * h).cast()),
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
                    _mm256_mullo_epi32(
                        neg,
                        _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(z4), idx),
                    )
                };
                let acc = dot2_256(corr, lo, xe, hi, xo);
                let sw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s4), idx);
                *fa = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(sw, sx), *fa);
            }
        }
    }
    for (r, (o, fa)) in out.iter_mut().zip(facc).enumerate() {
        *o = super::hsum(fa) + tail_blocks(w, x, n0 + r, 4 * chunks);
    }
}

avx2_a8_entry!(
    /// Registered as `gemv_int8_a8_avx2`.
    ///
    /// One 32-byte block per step. `vpmaddubsw` takes u8 x i8 pairs whose sum would overflow
    /// i16 for codes up to 255, so the codes are recentred: `q - 128` as i8, its magnitude
    /// (at most 128) as the unsigned operand and its sign moved onto the activation
    /// (`vpsignb`; activations are at most 127 in magnitude), which bounds each pair sum by
    /// 2 * 128 * 127. Each lane then holds `sum (q - 128) x8` over 4 elements; a zero-point
    /// other than 128 adds `(128 - z) * sum x8`, exactly, from the per-4 sums.
    gemv_int8, 8, int8_rows
);

/// INT8 rows `n0 .. n0 + R` into `out[..R]` (`MODE`, `SYM` as for the INT4 rows).
#[target_feature(enable = "avx2,fma,f16c")]
fn int8_rows<const MODE: u8, const SYM: bool, const R: usize>(
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
    let symmetric = if MODE == 3 { w.zeros().is_none() } else { SYM };
    let flip = _mm256_set1_epi8(-128);
    let ones16 = _mm256_set1_epi16(1);
    let prefetch = R > 1 && n0 + 2 * R <= l.n;
    let mut facc = [_mm256_setzero_ps(); R];
    for c in 0..chunks {
        if prefetch {
            // The next block of rows as one linear stream (see the INT4 kernel).
            prefetch_next_rows(plane, rb, n0 + R, R, 128, c);
            prefetch_next_rows(scales, gpr, n0 + R, R, 8, c);
        }
        let sx4 = act_scales4(x, c);
        for (r, fa) in facc.iter_mut().enumerate() {
            let n = n0 + r;
            let (s4, z4) = chunk_scales::<MODE, SYM>(w, n, c);
            let comb4 = _mm256_castps128_ps256(_mm_mul_ps(s4, sx4));
            // z - 128 per block (the correction multiplies minus the per-4 sums).
            let zc4 = _mm256_castsi128_si256(_mm_sub_epi32(z4, _mm_set1_epi32(128)));
            for i in 0..4 {
                let e = CHUNK * c + 32 * i;
                // SAFETY: 128 (c + 1) <= K = the row length, so bytes e .. e + 32 of row
                // n < N exist; the activation buffers hold ceil(K/128) > c chunks (128
                // natural codes and 32 per-4 sums each).
                let (wv, xv, neg) = unsafe {
                    (
                        _mm256_loadu_si256(plane.as_ptr().add(n * rb + e).cast()),
                        _mm256_loadu_si256(xn.as_ptr().add(e).cast()),
                        _mm256_loadu_si256(n4.as_ptr().add(e / 4).cast()),
                    )
                };
                let ws = _mm256_xor_si256(wv, flip);
                let p = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(_mm256_abs_epi8(ws), _mm256_sign_epi8(xv, ws)),
                    ones16,
                );
                let lane = _mm256_set1_epi32(i as i32);
                let acc = if symmetric {
                    p
                } else {
                    let zc = _mm256_permutevar8x32_epi32(zc4, lane);
                    _mm256_add_epi32(p, _mm256_mullo_epi32(neg, zc))
                };
                let sc = _mm256_permutevar8x32_ps(comb4, lane);
                *fa = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), sc, *fa);
            }
        }
    }
    for (r, (o, fa)) in out.iter_mut().zip(facc).enumerate() {
        *o = super::hsum(fa) + row_from_block(w, x, n0 + r, 4 * chunks);
    }
}

avx2_a8_entry!(
    /// Registered as `gemv_int2_a8_avx2`.
    ///
    /// 128 codes (half a superchunk, 4 blocks) per 32-byte vector, against the 2-bit-weight
    /// activation layout as in the AVX-512 kernel; `vpmaddubsw` on 2-bit codes gives pair
    /// sums of at most 762, the four fields' sums together at most 3048, added in i16 before
    /// one `vpmaddwd`. Lane `l` covers 16 elements; block `b` is lanes `2b, 2b + 1`.
    gemv_int2, 2, int2_rows
);

avx2_a8_entry!(
    /// Registered as `gemv_int3_a8_avx2`: the INT2 kernel with bit 2 of each code merged in
    /// from the 1-bit plane (codes up to 7: pair sums at most 1778, the four fields' sums at
    /// most 7112, still exact in i16).
    gemv_int3, 3, int3_rows
);

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn int2_rows<const MODE: u8, const SYM: bool, const R: usize>(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    n0: usize,
    out: &mut [f32],
) {
    int23_rows::<MODE, SYM, R, false>(w, x, n0, out)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn int3_rows<const MODE: u8, const SYM: bool, const R: usize>(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    n0: usize,
    out: &mut [f32],
) {
    int23_rows::<MODE, SYM, R, true>(w, x, n0, out)
}

/// INT2 (or, with `B3`, INT3) rows `n0 .. n0 + R` into `out[..R]` (`MODE`, `SYM` as for
/// the INT4 rows).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn int23_rows<const MODE: u8, const SYM: bool, const R: usize, const B3: bool>(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    n0: usize,
    out: &mut [f32],
) {
    let l = *w.layout();
    let (gpr, rb, k) = (l.groups_per_row, l.row_bytes0, l.k);
    let rb1 = l.row_bytes1;
    assert!(out.len() == R && n0 + R <= l.n && 4 * rb >= k);
    assert!(!B3 || (l.plane1_len == l.n * rb1 && 8 * rb1 >= k));
    let chunks = k / CHUNK;
    let (xm, n16) = x.m4();
    let hplane = w.plane1();
    let (high_byte, four) = (_mm256_set1_epi16(0xFF00u16 as i16), _mm256_set1_epi8(4));
    let (plane, scales) = (w.plane0(), w.scales());
    let symmetric = if MODE == 3 { w.zeros().is_none() } else { SYM };
    let mask = _mm256_set1_epi8(3);
    let ones16 = _mm256_set1_epi16(1);
    let spread = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    let prefetch = R > 1 && n0 + 2 * R <= l.n;
    let mut facc = [_mm256_setzero_ps(); R];
    for c in 0..chunks {
        if prefetch {
            // The next block of rows as one linear stream (see the INT4 kernel).
            prefetch_next_rows(plane, rb, n0 + R, R, 32, c);
            prefetch_next_rows(scales, gpr, n0 + R, R, 8, c);
            if B3 {
                prefetch_next_rows(hplane, rb1, n0 + R, R, 16, c);
            }
        }
        let (sup, h) = (c / 2, c % 2);
        // SAFETY: the 2-bit layout holds ceil(K/256) > sup superchunks (4 planes of 64
        // codes, 16 sums), and 32h + 32 <= 64, 8h + 8 <= 16.
        let (xs, neg) = unsafe {
            let p = xm.as_ptr().add(SUPER * sup + 32 * h);
            (
                [
                    _mm256_loadu_si256(p.cast()),
                    _mm256_loadu_si256(p.add(64).cast()),
                    _mm256_loadu_si256(p.add(128).cast()),
                    _mm256_loadu_si256(p.add(192).cast()),
                ],
                _mm256_loadu_si256(n16.as_ptr().add(16 * sup + 8 * h).cast()),
            )
        };
        let sx4 = act_scales4(x, c);
        for (r, fa) in facc.iter_mut().enumerate() {
            let n = n0 + r;
            // SAFETY: n < N (asserted) and 128 (c + 1) <= K, so bytes 32c .. 32c + 32 of
            // row n exist (rows have ceil(K/4) bytes).
            let wv = unsafe { _mm256_loadu_si256(plane.as_ptr().add(n * rb + 32 * c).cast()) };
            let mut f = [
                _mm256_and_si256(wv, mask),
                _mm256_and_si256(_mm256_srli_epi16::<2>(wv), mask),
                _mm256_and_si256(_mm256_srli_epi16::<4>(wv), mask),
                _mm256_and_si256(_mm256_srli_epi16::<6>(wv), mask),
            ];
            if B3 {
                // Bit 2 of element 4j + t is bit 4 (j % 2) + t of 1-bit-plane byte j / 2
                // (see the AVX-512 kernel): widen the chunk's 16 plane bytes to words, move
                // each high nibble into the word's high byte, shift bit t to bit 2, mask, OR.
                let hp = hplane.as_ptr().wrapping_add(n * rb1 + 16 * c);
                // SAFETY: n < N and 128 (c + 1) <= K, so bytes 16c .. 16c + 16 of row n's
                // 1-bit plane exist (rows have ceil(K/8) bytes; asserted).
                let z = _mm256_cvtepu8_epi16(unsafe { _mm_loadu_si128(hp.cast()) });
                let e = _mm256_or_si256(z, _mm256_and_si256(_mm256_slli_epi16::<4>(z), high_byte));
                let hi = [
                    _mm256_slli_epi16::<2>(e),
                    _mm256_slli_epi16::<1>(e),
                    e,
                    _mm256_srli_epi16::<1>(e),
                ];
                for (fl, h) in f.iter_mut().zip(hi) {
                    *fl = _mm256_or_si256(*fl, _mm256_and_si256(h, four));
                }
            }
            let pairs = _mm256_add_epi16(
                _mm256_add_epi16(
                    _mm256_maddubs_epi16(f[0], xs[0]),
                    _mm256_maddubs_epi16(f[1], xs[1]),
                ),
                _mm256_add_epi16(
                    _mm256_maddubs_epi16(f[2], xs[2]),
                    _mm256_maddubs_epi16(f[3], xs[3]),
                ),
            );
            let (s4, z4) = chunk_scales::<MODE, SYM>(w, n, c);
            let corr = if symmetric && B3 {
                _mm256_slli_epi32::<2>(neg)
            } else if symmetric {
                _mm256_slli_epi32::<1>(neg)
            } else {
                let z = _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(z4), spread);
                _mm256_mullo_epi32(neg, z)
            };
            let acc = _mm256_add_epi32(corr, _mm256_madd_epi16(pairs, ones16));
            let comb =
                _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(s4, sx4)), spread);
            *fa = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), comb, *fa);
        }
    }
    for (r, (o, fa)) in out.iter_mut().zip(facc).enumerate() {
        *o = super::hsum(fa) + row_from_block(w, x, n0 + r, 4 * chunks);
    }
}

/// Quantizes the whole 32-element blocks of `x` into the A8 layout (see [`crate::a8`]):
/// bitwise the codes, scales and sums of `lowbit_formats::act::quantize_block`
/// (the same `127 / amax` product, rounded to nearest-even by `vcvtps2dq` under the
/// default rounding mode Rust code never changes), from block `from` on. Returns the
/// first block not done: the number of whole blocks, or a block the scalar codec must
/// take (one holding a NaN or infinity, or whose `127 / amax` overflows).
pub(crate) fn quantize_blocks(x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
    let chunks = (x.len() / 32).div_ceil(4);
    assert!(out.codes.len() >= chunks * CHUNK && out.codes_nat.len() >= chunks * CHUNK);
    assert!(out.scales.len() >= chunks * 16 && out.negsum.len() >= chunks * 16);
    assert!(out.negsum4.len() >= chunks * 32);
    assert!(
        Isa::Avx2.is_available(),
        "AVX2 quantizer called without AVX2"
    );
    // SAFETY: AVX2 and FMA are present (asserted); the buffer lengths are asserted above
    // and every access inside is to a whole block of `x` or within chunk `b / 4`.
    unsafe { quantize_blocks_imp(x, from, out) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_blocks_imp(x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
    let inf = _mm256_set1_ps(f32::INFINITY);
    // After the two packs the 4-byte units are [0..4 8..12 16..20 24..28 | 4..8 12..16
    // 20..24 28..32]; this puts them in order.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    // Per 16-byte half: its 8 even elements, then its 8 odd ones.
    let split = _mm256_setr_epi8(
        0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5,
        7, 9, 11, 13, 15,
    );
    let ones8 = _mm256_set1_epi8(1);
    let ones16 = _mm256_set1_epi16(1);
    for b in from..x.len() / 32 {
        // SAFETY: 32 (b + 1) <= x.len().
        let v: [__m256; 4] =
            core::array::from_fn(|i| unsafe { _mm256_loadu_ps(x.as_ptr().add(32 * b + 8 * i)) });
        let a: [__m256; 4] = core::array::from_fn(|i| _mm256_and_ps(v[i], abs_mask));
        let finite = _mm256_and_ps(
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[0], inf),
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[1], inf),
            ),
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[2], inf),
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[3], inf),
            ),
        );
        if _mm256_movemask_ps(finite) != 0xFF {
            return b;
        }
        let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let (c, i) = (b / 4, b % 4);
        let (s, inv) = if amax == 0.0 {
            (0.0, 0.0)
        } else {
            (amax / 127.0, 127.0 / amax)
        };
        if inv.is_infinite() {
            return b;
        }
        let inv = _mm256_set1_ps(inv);
        let q: [__m256i; 4] =
            core::array::from_fn(|i| _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv)));
        let nat = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(
                _mm256_packs_epi32(q[0], q[1]),
                _mm256_packs_epi32(q[2], q[3]),
            ),
            order,
        );
        // [evens 0..16 | odds 0..16 | evens 16..32 | odds 16..32] in 8-byte units, then
        // the 16 evens followed by the 16 odds.
        let eo = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_shuffle_epi8(nat, split));
        // Lane j: minus the sum of the codes of elements 4j .. 4j + 4.
        let s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, nat), ones16);
        // Lane j of the low half: elements 8j .. 8j + 8.
        let h = _mm256_hadd_epi32(s4, s4);
        let s8 = _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(h));
        let base = CHUNK * c + 16 * i;
        let zero = _mm256_setzero_si256();
        // SAFETY: chunk c < chunks: base + 16 <= 128c + 64 and base + 64 + 16 <= 128 (c + 1)
        // are within `codes`; 32 (b + 1) <= 128 chunks within `codes_nat`; lanes
        // 16c + 4i .. + 4 within `scales` and `negsum`, 8b .. 8b + 8 within `negsum4`.
        unsafe {
            _mm_storeu_si128(
                out.codes.as_mut_ptr().add(base).cast(),
                _mm256_castsi256_si128(eo),
            );
            _mm_storeu_si128(
                out.codes.as_mut_ptr().add(base + 64).cast(),
                _mm256_extracti128_si256::<1>(eo),
            );
            _mm256_storeu_si256(out.codes_nat.as_mut_ptr().add(32 * b).cast(), nat);
            _mm256_storeu_si256(
                out.negsum4.as_mut_ptr().add(8 * b).cast(),
                _mm256_sub_epi32(zero, s4),
            );
            _mm_storeu_si128(
                out.negsum.as_mut_ptr().add(16 * c + 4 * i).cast(),
                _mm_sub_epi32(_mm_setzero_si128(), s8),
            );
            _mm_storeu_ps(out.scales.as_mut_ptr().add(16 * c + 4 * i), _mm_set1_ps(s));
        }
    }
    x.len() / 32
}
