//! Pieces shared by the x86 INT4 x A8 kernels: how the scales and zero-points of the
//! four 32-element blocks of one 128-element chunk are fetched, for each group layout.

use core::arch::x86_64::*;

use lowbit_formats::{f16, int::IntMatrixRef};

use crate::a8::{A8Activations, CHUNK};
use crate::reference::int_a8::row_from_block;

/// How a row's groups map onto the 4 blocks of a 128-element chunk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupMode {
    /// g = 32: the chunk's blocks have 4 consecutive groups.
    G32,
    /// g = 64: 2 consecutive groups, each over 2 blocks.
    G64,
    /// g a multiple of 128: one group for the whole chunk.
    Uniform,
    /// Anything else (per-row groups of odd multiples of 32, short rows): per block.
    Generic,
}

impl GroupMode {
    pub(crate) fn of(group_len: usize) -> GroupMode {
        match group_len {
            32 => GroupMode::G32,
            64 => GroupMode::G64,
            g if g % 128 == 0 => GroupMode::Uniform,
            _ => GroupMode::Generic,
        }
    }
}

/// Runs `$rows::<MODE, SYM, R>(w, x, n0, out)` over the rows `$range` (outputs `$y`) in
/// blocks of `$r` rows, with the group layout and zero-point kind specialized once per
/// call; the rows left over go one at a time through the generic layout (`MODE` 3),
/// which gives the same bits (see DESIGN.md: a row's result does not depend on its
/// block). Expand it inside a function with the features `$rows` needs.
macro_rules! a8_row_blocks {
    ($rows:ident, $r:expr, $w:expr, $x:expr, $range:expr, $y:expr) => {{
        let (w, x) = ($w, $x);
        let sym = w.zeros().is_none();
        let mode = $crate::x86_64::a8_common::GroupMode::of(w.layout().group_len);
        let mut n = $range.start;
        let mut blocks = $y.chunks_exact_mut($r);
        for out in &mut blocks {
            use $crate::x86_64::a8_common::GroupMode as M;
            match (mode, sym) {
                (M::G32, true) => $rows::<0, true, { $r }>(w, x, n, out),
                (M::G32, false) => $rows::<0, false, { $r }>(w, x, n, out),
                (M::G64, true) => $rows::<1, true, { $r }>(w, x, n, out),
                (M::G64, false) => $rows::<1, false, { $r }>(w, x, n, out),
                (M::Uniform, true) => $rows::<2, true, { $r }>(w, x, n, out),
                (M::Uniform, false) => $rows::<2, false, { $r }>(w, x, n, out),
                (M::Generic, _) => $rows::<3, false, { $r }>(w, x, n, out),
            }
            n += $r;
        }
        for out in blocks.into_remainder().chunks_mut(1) {
            $rows::<3, false, 1>(w, x, n, out);
            n += 1;
        }
    }};
}
pub(crate) use a8_row_blocks;

/// Prefetches into L2 the part of the next block of `r` rows that step `step` of the
/// current block mirrors: `buf` is row-major with `row` elements per row, the next block
/// starts at row `n_next`, and each step reads `bytes` bytes of every row. Called once per
/// step, it streams the next block in front to back, as one linear stream, at the rate
/// the current one is read (see DESIGN.md). Prefetches never fault, so the addresses need
/// not be in bounds (the last block prefetches past the end harmlessly).
#[target_feature(enable = "sse")]
#[inline]
pub(crate) fn prefetch_next_rows<T>(
    buf: &[T],
    row: usize,
    n_next: usize,
    r: usize,
    bytes: usize,
    step: usize,
) {
    let base = buf
        .as_ptr()
        .cast::<u8>()
        .wrapping_add(n_next * row * core::mem::size_of::<T>() + r * bytes * step);
    for i in 0..(r * bytes).div_ceil(64) {
        _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(64 * i).cast());
    }
}

/// Group index of 32-element block `b`.
#[inline(always)]
pub(crate) fn group_of_block(b: usize, group_len: usize) -> usize {
    // Every layout with several groups per row has a power-of-two group length, so the
    // hot loops shift instead of dividing; per-row groups of other lengths divide.
    if group_len.is_power_of_two() {
        (b * 32) >> group_len.trailing_zeros()
    } else {
        (b * 32) / group_len
    }
}

/// The 4 per-block scales (as f16) and zero-points of chunk `c` of row `n`.
#[inline(always)]
pub(crate) fn chunk_params(
    w: &IntMatrixRef<'_>,
    n: usize,
    c: usize,
    g: usize,
) -> ([f16; 4], [u8; 4]) {
    let gpr = w.layout().groups_per_row;
    let srow = &w.scales()[n * gpr..(n + 1) * gpr];
    let mut s = [f16::ZERO; 4];
    let mut z = [0u8; 4];
    for i in 0..4 {
        let j = group_of_block(4 * c + i, g);
        s[i] = srow[j];
        z[i] = w.zero(n, j);
    }
    (s, z)
}

/// The weight scales (as f32) and zero-points of the 4 blocks of chunk `c` of row `n`.
/// `MODE` is the row's [`GroupMode`] (0 G32, 1 G64, 2 Uniform, 3 Generic); with `SYM`
/// (never with Generic) the zero-points are not read and come back as 0.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(crate) fn chunk_scales<const MODE: u8, const SYM: bool>(
    w: &IntMatrixRef<'_>,
    n: usize,
    c: usize,
) -> (__m128, __m128i) {
    let l = w.layout();
    let (g, gpr) = (l.group_len, l.groups_per_row);
    assert!(n < l.n && CHUNK * (c + 1) <= l.k);
    let (scales, zeros) = (w.scales(), w.zeros());
    match MODE {
        // SAFETY: 128 (c + 1) <= K (asserted) and g = 32, so groups 4c .. 4c + 4 of row
        // n < N exist among its scales and zero-points.
        0 => unsafe {
            let p = n * gpr + 4 * c;
            (
                _mm_cvtph_ps(_mm_loadl_epi64(scales.as_ptr().add(p).cast())),
                match zeros {
                    Some(z) if !SYM => _mm_cvtepu8_epi32(_mm_cvtsi32_si128(
                        z.as_ptr().add(p).cast::<i32>().read_unaligned(),
                    )),
                    _ => _mm_setzero_si128(),
                },
            )
        },
        // SAFETY: as above with g = 64: groups 2c .. 2c + 2.
        1 => unsafe {
            let p = n * gpr + 2 * c;
            let s2 = _mm_cvtph_ps(_mm_cvtsi32_si128(
                scales.as_ptr().add(p).cast::<i32>().read_unaligned(),
            ));
            let z2 = match zeros {
                Some(z) if !SYM => _mm_cvtepu8_epi32(_mm_cvtsi32_si128(i32::from(
                    z.as_ptr().add(p).cast::<u16>().read_unaligned(),
                ))),
                _ => _mm_setzero_si128(),
            };
            (_mm_unpacklo_ps(s2, s2), _mm_unpacklo_epi32(z2, z2))
        },
        2 => {
            let j = n * gpr + group_of_block(4 * c, g);
            let z = if SYM { 0 } else { zeros.map_or(0, |z| z[j]) };
            (
                _mm_cvtph_ps(_mm_set1_epi16(scales[j].to_bits() as i16)),
                _mm_set1_epi32(z.into()),
            )
        }
        _ => {
            let (s, z) = chunk_params(w, n, c, g);
            (
                _mm_cvtph_ps(_mm_setr_epi16(
                    s[0].to_bits() as i16,
                    s[1].to_bits() as i16,
                    s[2].to_bits() as i16,
                    s[3].to_bits() as i16,
                    0,
                    0,
                    0,
                    0,
                )),
                _mm_setr_epi32(z[0].into(), z[1].into(), z[2].into(), z[3].into()),
            )
        }
    }
}

/// Block scales of activation chunk `c` as 4 lanes (lanes 0, 4, 8, 12 of its scale lanes).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(crate) fn act_scales4(x: &A8Activations, c: usize) -> __m128 {
    let sl = &x.scale_lanes()[16 * c..16 * c + 16];
    _mm_setr_ps(sl[0], sl[4], sl[8], sl[12])
}

/// The A8 dot product of row `n` over blocks `first_block..` to the end of the row, on
/// 16-byte vectors (one block per step, `vpmaddubsw`): what is left after a kernel's
/// wide steps. A partial last block (K not a multiple of 32) is summed in scalar code.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn tail_blocks(
    w: &IntMatrixRef<'_>,
    x: &A8Activations,
    n: usize,
    first_block: usize,
) -> f32 {
    let l = w.layout();
    let (g, rb, k) = (l.group_len, l.row_bytes0, l.k);
    let row = &w.plane0()[n * rb..(n + 1) * rb];
    let (xc, sl, nl) = (x.codes(), x.scale_lanes(), x.negsum_lanes());
    let mask = _mm_set1_epi8(0x0F);
    let blocks = k / 32;
    let mut f = _mm_setzero_ps();
    for b in first_block..blocks {
        let (c, i) = (b / 4, b % 4);
        let j = group_of_block(b, g);
        let lane0 = CHUNK * c + 16 * i;
        // SAFETY: 32 * (b + 1) <= K, so row bytes 16b .. 16b + 16 exist (the row has
        // ceil(K/2) bytes); activation chunk c exists (ceil(K/128) chunks of 128 codes
        // and 16 lanes) and lane0 + 64 + 16 <= 128 (c + 1).
        let (wv, xe, xo, neg, sx) = unsafe {
            (
                _mm_loadu_si128(row.as_ptr().add(16 * b).cast()),
                _mm_loadu_si128(xc.as_ptr().add(lane0).cast()),
                _mm_loadu_si128(xc.as_ptr().add(lane0 + 64).cast()),
                _mm_loadu_si128(nl.as_ptr().add(16 * c + 4 * i).cast()),
                _mm_loadu_ps(sl.as_ptr().add(16 * c + 4 * i)),
            )
        };
        let lo = _mm_and_si128(wv, mask);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(wv), mask);
        let corr = _mm_mullo_epi32(neg, _mm_set1_epi32(w.zero(n, j).into()));
        let acc = dot128(dot128(corr, lo, xe), hi, xo);
        let comb = _mm_mul_ps(_mm_set1_ps(w.scale(n, j)), sx);
        f = _mm_fmadd_ps(_mm_cvtepi32_ps(acc), comb, f);
    }
    let f = _mm_add_ps(f, _mm_movehl_ps(f, f));
    let f = _mm_add_ss(f, _mm_movehdup_ps(f));
    _mm_cvtss_f32(f) + row_from_block(w, x, n, blocks)
}

/// `acc + sum of 4 adjacent u8 x i8 products` per i32 lane. Codes are at most 15 and
/// activations at most 127 in magnitude, so the i16 pair sums of `vpmaddubsw`
/// (at most 2 * 15 * 127) never saturate.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(crate) fn dot128(acc: __m128i, a: __m128i, b: __m128i) -> __m128i {
    _mm_add_epi32(
        acc,
        _mm_madd_epi16(_mm_maddubs_epi16(a, b), _mm_set1_epi16(1)),
    )
}
