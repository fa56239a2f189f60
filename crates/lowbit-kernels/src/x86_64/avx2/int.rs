//! INT-b GEMV with f32 activations, AVX2 + FMA + F16C: INT2, INT3, INT4 and INT8.
//!
//! Same plan as the AVX-512 kernels (see `x86_64::avx512::int`), on 8 lanes:
//! - Rows go [`ROWS`] at a time, sharing every activation load; a chunk is 8 code bytes
//!   widened to one byte per lane (`vpmovzxbd`), and `x` is reordered once per call to
//!   the decode order ([`permute_x`]).
//! - INT2/INT3 decode with `vpermps` from an 8-entry table of `s * (c - z)` per group
//!   (`vpermps` reads the low 3 bits of each lane; the INT2 table repeats every 4
//!   entries so the neighbouring code in bit 2 needs no mask). The entries are exact
//!   (`s` has 11 significant bits, `c - z` is a small integer). INT3 puts the bit from
//!   its 1-bit plane (spread to lanes with one `vpsrlvd`) at bit 2 of the index: still
//!   one `vpermps`.
//! - INT4 (no 16-entry permute on AVX2) and INT8 subtract the zero-point in i32 (any
//!   vector port, where an f32 subtraction would compete with the conversion), convert
//!   (`vcvtdq2ps`, exact) and scale each group's sum once at its end.
//! - Scales and zero-points of a block of rows are converted 8 at a time first.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::f16;
use lowbit_formats::int::IntMatrixRef;

use super::{f16_to_f32, hsum};
use crate::dispatch::Isa;
use crate::x86_64::int_common::{assert_kernel_args, permute_x, symmetric_zero, tail_dot};

/// Rows decoded together (with two accumulators each, a fourth row spills: 16 ymm).
const ROWS: usize = 3;

/// Independent accumulators per row (1 or 2).
const ACC: usize = 2;

/// Codes per byte of the main plane (INT3: of its 2-bit plane).
const fn per_byte(bits: u8) -> usize {
    match bits {
        8 => 1,
        4 => 2,
        _ => 4,
    }
}

/// Elements per chunk: 16 for INT8 (two 8-byte runs) and INT4, 32 for INT2/INT3.
const fn chunk_len(bits: u8) -> usize {
    if bits >= 4 {
        16
    } else {
        32
    }
}

/// Bits per element of the main plane.
const fn plane0_bits(bits: u8) -> usize {
    if bits == 3 {
        2
    } else {
        bits as usize
    }
}

/// Whether the group's scale is folded into the decode table (INT2/INT3) rather than
/// applied to the group's sum (INT4/INT8).
const fn prescaled(bits: u8) -> bool {
    bits < 4
}

/// Registered as `gemv_int2_f32_avx2` (and run by the AVX-512 entry for 32-groups).
pub(crate) fn gemv_int2(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<2>(w, x, rows, y);
}

/// Registered as `gemv_int3_f32_avx2` (and run by the AVX-512 entry for 32-groups).
pub(crate) fn gemv_int3(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<3>(w, x, rows, y);
}

/// Registered as `gemv_int4_f32_avx2`.
pub(crate) fn gemv_int4(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<4>(w, x, rows, y);
}

/// Registered as `gemv_int8_f32_avx2`.
pub(crate) fn gemv_int8(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<8>(w, x, rows, y);
}

fn run<const BITS: u8>(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    assert_kernel_args(w, x, &rows, y, BITS, Isa::Avx2);
    // SAFETY: the CPU has AVX2, FMA and F16C (asserted above), all the implementation's
    // target features; its memory accesses rely on the GEMV preconditions and the bit
    // width, asserted above (see the comments inside).
    unsafe {
        if w.zeros().is_some() {
            imp::<BITS, true>(w, x, rows, y);
        } else {
            imp::<BITS, false>(w, x, rows, y);
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn imp<const BITS: u8, const ZP: bool>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
) {
    let l = *w.layout();
    let (p, ch) = (per_byte(BITS), chunk_len(BITS));
    let xp = permute_x(x, l.group_len, ch, 8 * p, p, |s, d| transpose_run(s, d));
    let mut sbuf = vec![0.0f32; ROWS * l.groups_per_row];
    let mut zbuf = vec![0.0f32; if ZP { ROWS * l.groups_per_row } else { 0 }];
    let mut n = rows.start;
    for ys in y.chunks_mut(ROWS) {
        if ys.len() == ROWS {
            block::<BITS, ZP, ROWS>(w, &xp, x, n, ys, &mut sbuf, &mut zbuf);
        } else {
            for (i, yi) in ys.iter_mut().enumerate() {
                let one = core::slice::from_mut(yi);
                block::<BITS, ZP, 1>(w, &xp, x, n + i, one, &mut sbuf, &mut zbuf);
            }
        }
        n += ys.len();
    }
}

/// One run of the activation reordering: `dst[t * 8 + i] = src[p * i + t]` for
/// `p = src.len() / 8` (2 or 4).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn transpose_run(src: &[f32], dst: &mut [f32]) {
    assert!(src.len() == dst.len() && (src.len() == 16 || src.len() == 32));
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    if src.len() == 16 {
        // SAFETY: both slices hold 16 f32 (asserted above).
        unsafe {
            let (a, b) = (_mm256_loadu_ps(sp), _mm256_loadu_ps(sp.add(8)));
            // [a0 a2 b0 b2 | a4 a6 b4 b6], then 64-bit pieces in order 0, 2, 1, 3.
            let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let fix = |v: __m256| {
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
            };
            _mm256_storeu_ps(dp, fix(e));
            _mm256_storeu_ps(dp.add(8), fix(o));
        }
    } else {
        // Rows r_j = src[4j .. 4j + 4]: 4x4 transposes inside each 128-bit half give
        // column t as [r0 r2 r4 r6 | r1 r3 r5 r7], put in row order by one permute.
        // SAFETY: both slices hold 32 f32 (asserted above): reads at sp .. sp + 32,
        // writes at dp + 8 t .. dp + 8 t + 8 for t < 4.
        unsafe {
            let (a, b) = (_mm256_loadu_ps(sp), _mm256_loadu_ps(sp.add(8)));
            let (c, d) = (_mm256_loadu_ps(sp.add(16)), _mm256_loadu_ps(sp.add(24)));
            let (t0, t1) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
            let (t2, t3) = (_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
            let cols = [
                _mm256_shuffle_ps::<0b01_00_01_00>(t0, t2),
                _mm256_shuffle_ps::<0b11_10_11_10>(t0, t2),
                _mm256_shuffle_ps::<0b01_00_01_00>(t1, t3),
                _mm256_shuffle_ps::<0b11_10_11_10>(t1, t3),
            ];
            let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
            for (t, col) in cols.into_iter().enumerate() {
                _mm256_storeu_ps(dp.add(8 * t), _mm256_permutevar8x32_ps(col, order));
            }
        }
    }
}

/// f16 scales to f32, 8 at a time.
#[target_feature(enable = "avx2,fma,f16c")]
fn scales_to_f32(src: &[f16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    let mut i = 0;
    while i + 8 <= src.len() {
        // SAFETY: i + 8 <= len of both slices; `f16` is a transparent u16.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
        i += 8;
    }
    for (d, s) in dst[i..].iter_mut().zip(&src[i..]) {
        *d = f16_to_f32(s.to_bits());
    }
}

/// u8 zero-points to f32, 8 at a time.
#[target_feature(enable = "avx2,fma,f16c")]
fn zeros_to_f32(src: &[u8], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    let mut i = 0;
    while i + 8 <= src.len() {
        // SAFETY: i + 8 <= len of both slices.
        unsafe {
            let z = _mm256_cvtepu8_epi32(_mm_loadl_epi64(src.as_ptr().add(i).cast()));
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtepi32_ps(z));
        }
        i += 8;
    }
    for (d, &s) in dst[i..].iter_mut().zip(&src[i..]) {
        *d = f32::from(s);
    }
}

/// Per (row, group) decode state. INT2/INT3: `a` is the 8-entry table of `s * (c - z)`
/// (INT2: repeating every 4 entries, as the index bit above the code is not masked).
/// INT4/INT8: `zi = z` (as i32) and `s`.
#[derive(Clone, Copy)]
struct Tbl {
    a: __m256,
    s: __m256,
    zi: __m256i,
}

/// The decode state of one group with scale `s` and zero-point `z`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn table<const BITS: u8>(s: f32, z: f32) -> Tbl {
    let sv = _mm256_set1_ps(s);
    let zv = _mm256_set1_ps(z);
    let iota = if BITS == 2 {
        _mm256_setr_ps(0., 1., 2., 3., 0., 1., 2., 3.)
    } else {
        _mm256_setr_ps(0., 1., 2., 3., 4., 5., 6., 7.)
    };
    Tbl {
        a: _mm256_mul_ps(_mm256_sub_ps(iota, zv), sv),
        s: sv,
        zi: _mm256_cvtps_epi32(zv),
    }
}

/// The activations of the chunk at `xp` (4 vectors for INT2/INT3, 2 otherwise; the
/// rest are zero and unused).
///
/// # Safety
/// `xp` must have `chunk_len(BITS)` readable f32.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load_x<const BITS: u8>(xp: *const f32) -> [__m256; 4] {
    let z = _mm256_setzero_ps();
    // SAFETY: the caller guarantees chunk_len(BITS) = 16 (or 32) readable f32.
    unsafe {
        if chunk_len(BITS) == 32 {
            [
                _mm256_loadu_ps(xp),
                _mm256_loadu_ps(xp.add(8)),
                _mm256_loadu_ps(xp.add(16)),
                _mm256_loadu_ps(xp.add(24)),
            ]
        } else {
            [_mm256_loadu_ps(xp), _mm256_loadu_ps(xp.add(8)), z, z]
        }
    }
}

/// Decodes one chunk of one row and accumulates `w_t * x_t` into `acc[t % ACC]`.
///
/// # Safety
/// `p0` must have the chunk's 8 (INT8: 16) bytes of the main plane readable; for INT3,
/// `p1` must have the chunk's 4 bytes of the 1-bit plane (otherwise it is unused).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn fma_chunk<const BITS: u8>(
    p0: *const u8,
    p1: *const u8,
    tb: &Tbl,
    xv: &[__m256; 4],
    acc: &mut [__m256; 2],
) {
    // SAFETY: reads 8 bytes at p0 (INT8: also p0 + 8) and, for INT3, 4 bytes at p1,
    // within what the caller guarantees.
    let v = _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p0.cast()) });
    match BITS {
        8 => {
            // SAFETY: see above (INT8 chunks are 16 bytes).
            let v1 = _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p0.add(8).cast()) });
            let w0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(v, tb.zi));
            let w1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(v1, tb.zi));
            acc[0] = _mm256_fmadd_ps(w0, xv[0], acc[0]);
            acc[ACC - 1] = _mm256_fmadd_ps(w1, xv[1], acc[ACC - 1]);
        }
        4 => {
            let lo = _mm256_and_si256(v, _mm256_set1_epi32(0xF));
            let w0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(lo, tb.zi));
            let w1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32::<4>(v), tb.zi));
            acc[0] = _mm256_fmadd_ps(w0, xv[0], acc[0]);
            acc[ACC - 1] = _mm256_fmadd_ps(w1, xv[1], acc[ACC - 1]);
        }
        _ => {
            let mut idx = [
                v,
                _mm256_srli_epi32::<2>(v),
                _mm256_srli_epi32::<4>(v),
                _mm256_srli_epi32::<6>(v),
            ];
            if BITS == 3 {
                // The high bit of element 4i + t (lane i of vector t) is bit 4i + t of
                // the chunk's 32-bit plane word: lane i of `h` gets bits 4i .. 4i + 4 at
                // its bottom, and shifting by 2 - t puts the bit of vector t at bit 2 of
                // the index, under the code's two bits.
                // SAFETY: see above (4 bytes at p1).
                let d = _mm256_set1_epi32(unsafe { p1.cast::<i32>().read_unaligned() });
                let h = _mm256_srlv_epi32(d, _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
                let hs = [
                    _mm256_slli_epi32::<2>(h),
                    _mm256_slli_epi32::<1>(h),
                    h,
                    _mm256_srli_epi32::<1>(h),
                ];
                let four = _mm256_set1_epi32(4);
                for (i, hi) in idx.iter_mut().zip(hs) {
                    // Bit 2 from h, bits 0-1 from the code (vpermps reads bits 0-2).
                    *i = _mm256_xor_si256(*i, _mm256_and_si256(_mm256_xor_si256(*i, hi), four));
                }
            }
            let w = [
                _mm256_permutevar8x32_ps(tb.a, idx[0]),
                _mm256_permutevar8x32_ps(tb.a, idx[1]),
                _mm256_permutevar8x32_ps(tb.a, idx[2]),
                _mm256_permutevar8x32_ps(tb.a, idx[3]),
            ];
            acc[0] = _mm256_fmadd_ps(w[0], xv[0], acc[0]);
            acc[ACC - 1] = _mm256_fmadd_ps(w[1], xv[1], acc[ACC - 1]);
            acc[0] = _mm256_fmadd_ps(w[2], xv[2], acc[0]);
            acc[ACC - 1] = _mm256_fmadd_ps(w[3], xv[3], acc[ACC - 1]);
        }
    }
}

/// `y[r] = row n + r of W times x` for `r < R` (`y.len() == R`). `xp` is `x` reordered by
/// [`permute_x`]; `sbuf`/`zbuf` are scratch for the rows' scales and zero-points.
#[target_feature(enable = "avx2,fma,f16c")]
fn block<const BITS: u8, const ZP: bool, const R: usize>(
    w: &IntMatrixRef<'_>,
    xp: &[f32],
    x: &[f32],
    n: usize,
    y: &mut [f32],
    sbuf: &mut [f32],
    zbuf: &mut [f32],
) {
    let l = *w.layout();
    let (g, gpr, rb0, rb1) = (l.group_len, l.groups_per_row, l.row_bytes0, l.row_bytes1);
    let ch = chunk_len(BITS);
    let whole = g / ch;
    // Every pointer below is derived from these (checked again here so that the unsafe
    // blocks depend only on this function).
    assert!(n + R <= l.n && y.len() == R && xp.len() == l.k && x.len() == l.k);
    assert!(g * gpr == l.k && (BITS != 3 || rb1 * 8 >= l.k));
    let sc = &mut sbuf[..R * gpr];
    scales_to_f32(&w.scales()[n * gpr..(n + R) * gpr], sc);
    let zc: &[f32] = match w.zeros() {
        Some(z) if ZP => {
            zeros_to_f32(&z[n * gpr..(n + R) * gpr], &mut zbuf[..R * gpr]);
            &zbuf[..R * gpr]
        }
        _ => &[],
    };
    let zsym = symmetric_zero(w);
    let mut p0: [&[u8]; R] = [&[]; R];
    let mut p1: [&[u8]; R] = [&[]; R];
    for r in 0..R {
        p0[r] = &w.plane0()[(n + r) * rb0..(n + r + 1) * rb0];
        p1[r] = &w.plane1()[(n + r) * rb1..(n + r + 1) * rb1];
    }
    let zero = _mm256_setzero_ps();
    let mut acc = [[zero; 2]; R];
    let mut tot = [zero; R];
    let mut tails = [0.0f32; R];
    let mut tb = [Tbl {
        a: zero,
        s: zero,
        zi: _mm256_setzero_si256(),
    }; R];
    for j in 0..gpr {
        for r in 0..R {
            let z = if ZP { zc[r * gpr + j] } else { zsym };
            tb[r] = table::<BITS>(sc[r * gpr + j], z);
        }
        for c in 0..whole {
            let k = j * g + c * ch;
            // SAFETY: k + ch <= (j + 1) * g <= K = xp.len().
            let xv = unsafe { load_x::<BITS>(xp.as_ptr().add(k)) };
            for r in 0..R {
                // SAFETY: k + ch <= K, so the chunk's main-plane bytes
                // k*b0/8 .. (k + ch)*b0/8 lie within the row's ceil(K*b0/8) bytes, and
                // for INT3 its 1-bit-plane bytes k/8 .. (k + ch)/8 within ceil(K/8).
                unsafe {
                    let q0 = p0[r].as_ptr().add(k * plane0_bits(BITS) / 8);
                    let q1 = if BITS == 3 {
                        p1[r].as_ptr().add(k / 8)
                    } else {
                        core::ptr::null()
                    };
                    fma_chunk::<BITS>(q0, q1, &tb[r], &xv, &mut acc[r]);
                }
            }
        }
        if !prescaled(BITS) {
            for r in 0..R {
                let a = _mm256_add_ps(acc[r][0], acc[r][1]);
                tot[r] = _mm256_fmadd_ps(tb[r].s, a, tot[r]);
                acc[r] = [zero; 2];
            }
        }
        if whole * ch < g {
            let ks = j * g + whole * ch..(j + 1) * g;
            for r in 0..R {
                let z = if ZP { zc[r * gpr + j] } else { zsym };
                tails[r] += sc[r * gpr + j] * tail_dot(w, n + r, ks.clone(), x, z);
            }
        }
    }
    for r in 0..R {
        let v = if prescaled(BITS) {
            _mm256_add_ps(acc[r][0], acc[r][1])
        } else {
            tot[r]
        };
        y[r] = hsum(v) + tails[r];
    }
}
