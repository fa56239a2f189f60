//! INT-b GEMV with f32 activations, AVX-512 (F/BW/VL): INT2, INT3, INT4 and INT8.
//!
//! Design (one driver, [`block`], shared by every width; the widths differ only in
//! [`table`] and [`fma_chunk`]):
//! - Rows go [`ROWS`] at a time: each activation vector is loaded once per chunk and
//!   feeds every row, and the rows' accumulators are independent FMA chains (two per row).
//! - A chunk is 16 code bytes widened to one byte per 32-bit lane (`vpmovzxbd`), so lane
//!   `i` holds the `8 / b` codes of elements `p*i ..`; a shift brings code `t` of every
//!   lane to the bottom. The activations are reordered once per call to match
//!   ([`permute_x`]), so nothing is interleaved back per row.
//! - INT2/INT3/INT4 decode with one `vpermps` per 16 codes from a 16-entry table that
//!   holds `s * (code - z)` for the group (`vpermps` reads only the low 4 bits of each
//!   lane, so the neighbouring codes above need no mask: INT2 tables repeat every 4
//!   entries, INT3 tables every 8). `s` is an f16 value (11 significant bits) and
//!   `code - z` a small integer, so every entry is exact and each term `w * x` is rounded
//!   once, as in the reference; no per-group scaling is left to do.
//!   INT3 inserts its high bit (from the 1-bit plane, spread to lanes with one variable
//!   shift) as bit 2 of the index with a `vpternlogd` select: still one `vpermps`.
//! - INT8 subtracts the zero-point in i32 (`q - z` in -255..255; an integer op can issue
//!   on any vector port, an f32 one would compete with the conversion), converts
//!   (`vcvtdq2ps`, exact) and scales each group's accumulators once at the group's end.
//! - Scales (and zero-points) of a block of rows are converted 16 at a time
//!   (`vcvtph2ps`) before the group loop, which then only broadcasts them.
//! - INT2/INT3 chunks are 64 elements; groups that are not a multiple of 64 (g = 32, or
//!   per-row groups of such a K) run the AVX2 kernel, whose chunks are 32. Per-row groups
//!   whose length is not a multiple of the chunk finish element by element
//!   ([`tail_dot`]).
//!
//! On Zen 4 the loop is bound by the vector pipes shared by `vpermps`/`vpmovzxbd` and
//! the FMAs (about 4 cycles per 32 INT4 codes and row), not by the FMA latency chains.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::f16;
use lowbit_formats::int::IntMatrixRef;

use crate::dispatch::Isa;
use crate::x86_64::avx2::f16_to_f32;
use crate::x86_64::int_common::{assert_kernel_args, permute_x, symmetric_zero, tail_dot};

/// Rows decoded together.
const ROWS: usize = 4;

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

/// Elements per chunk: 32 for INT8 (two 16-byte runs) and INT4, 64 for INT2/INT3.
const fn chunk_len(bits: u8) -> usize {
    if bits >= 4 {
        32
    } else {
        64
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

/// Registered as `gemv_int2_f32_avx512`.
pub(crate) fn gemv_int2(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<2>(w, x, rows, y);
}

/// Registered as `gemv_int3_f32_avx512`.
pub(crate) fn gemv_int3(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<3>(w, x, rows, y);
}

/// Registered as `gemv_int4_f32_avx512`.
pub(crate) fn gemv_int4(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<4>(w, x, rows, y);
}

/// Registered as `gemv_int8_f32_avx512`.
pub(crate) fn gemv_int8(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    run::<8>(w, x, rows, y);
}

fn run<const BITS: u8>(w: &IntMatrixRef<'_>, x: &[f32], rows: Range<usize>, y: &mut [f32]) {
    assert_kernel_args(w, x, &rows, y, BITS, Isa::Avx512);
    if !w.layout().group_len.is_multiple_of(chunk_len(BITS)) && chunk_len(BITS) == 64 {
        // INT2/INT3 with 32-element groups: the AVX2 kernel's chunks fit them.
        match BITS {
            2 => crate::x86_64::avx2::int::gemv_int2(w, x, rows, y),
            _ => crate::x86_64::avx2::int::gemv_int3(w, x, rows, y),
        }
        return;
    }
    // SAFETY: the CPU has AVX-512 F/BW/VL, AVX2, FMA and F16C (asserted above), all the
    // implementation's target features; its memory accesses rely on the GEMV
    // preconditions and the bit width, asserted above (see the comments inside).
    unsafe {
        if w.zeros().is_some() {
            imp::<BITS, true>(w, x, rows, y);
        } else {
            imp::<BITS, false>(w, x, rows, y);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn imp<const BITS: u8, const ZP: bool>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
) {
    let l = *w.layout();
    let (p, ch) = (per_byte(BITS), chunk_len(BITS));
    let xp = permute_x(x, l.group_len, ch, 16 * p, p, |s, d| transpose_run(s, d));
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

/// One run of the activation reordering: `dst[t * 16 + i] = src[p * i + t]` for
/// `p = src.len() / 16` (2 or 4).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
fn transpose_run(src: &[f32], dst: &mut [f32]) {
    assert!(src.len() == dst.len() && (src.len() == 32 || src.len() == 64));
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    if src.len() == 32 {
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        // SAFETY: both slices hold 32 f32 (asserted above).
        unsafe {
            let (a, b) = (_mm512_loadu_ps(sp), _mm512_loadu_ps(sp.add(16)));
            _mm512_storeu_ps(dp, _mm512_permutex2var_ps(a, even, b));
            _mm512_storeu_ps(dp.add(16), _mm512_permutex2var_ps(a, odd, b));
        }
    } else {
        // Lanes 0..8 of `ab` take elements 4i + t of the first 32, those of `cd` of the
        // last 32; one 128-bit shuffle joins the two halves.
        let mut idx = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        // SAFETY: both slices hold 64 f32 (asserted above): reads at sp .. sp + 64,
        // writes at dp + 16 t .. dp + 16 t + 16 for t < 4.
        unsafe {
            let (a, b) = (_mm512_loadu_ps(sp), _mm512_loadu_ps(sp.add(16)));
            let (c, d) = (_mm512_loadu_ps(sp.add(32)), _mm512_loadu_ps(sp.add(48)));
            for t in 0..4 {
                let ab = _mm512_permutex2var_ps(a, idx, b);
                let cd = _mm512_permutex2var_ps(c, idx, d);
                _mm512_storeu_ps(dp.add(16 * t), _mm512_shuffle_f32x4::<0b0100_0100>(ab, cd));
                idx = _mm512_add_epi32(idx, _mm512_set1_epi32(1));
            }
        }
    }
}

/// f16 scales to f32, 16 at a time.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn scales_to_f32(src: &[f16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    let mut i = 0;
    while i + 16 <= src.len() {
        // SAFETY: i + 16 <= len of both slices; `f16` is a transparent u16.
        unsafe {
            let h = _mm256_loadu_si256(src.as_ptr().add(i).cast());
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
        }
        i += 16;
    }
    for (d, s) in dst[i..].iter_mut().zip(&src[i..]) {
        *d = f16_to_f32(s.to_bits());
    }
}

/// u8 zero-points to f32, 16 at a time.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn zeros_to_f32(src: &[u8], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    let mut i = 0;
    while i + 16 <= src.len() {
        // SAFETY: i + 16 <= len of both slices.
        unsafe {
            let z = _mm512_cvtepu8_epi32(_mm_loadu_si128(src.as_ptr().add(i).cast()));
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtepi32_ps(z));
        }
        i += 16;
    }
    for (d, &s) in dst[i..].iter_mut().zip(&src[i..]) {
        *d = f32::from(s);
    }
}

/// Per (row, group) decode state. INT2/3/4: `a` is the 16-entry table of `s * (c - z)`
/// (INT2: repeating every 4 entries, INT3: every 8, as the index bits above the code are
/// not masked). INT8: `zi = z` (as i32) and `s`.
#[derive(Clone, Copy)]
struct Tbl {
    a: __m512,
    s: __m512,
    zi: __m512i,
}

/// The decode state of one group with scale `s` and zero-point `z`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
fn table<const BITS: u8>(s: f32, z: f32) -> Tbl {
    let sv = _mm512_set1_ps(s);
    let zv = _mm512_set1_ps(z);
    let iota = match BITS {
        2 => _mm512_setr_ps(
            0., 1., 2., 3., 0., 1., 2., 3., 0., 1., 2., 3., 0., 1., 2., 3.,
        ),
        3 => _mm512_setr_ps(
            0., 1., 2., 3., 4., 5., 6., 7., 0., 1., 2., 3., 4., 5., 6., 7.,
        ),
        _ => _mm512_setr_ps(
            0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15.,
        ),
    };
    Tbl {
        a: _mm512_mul_ps(_mm512_sub_ps(iota, zv), sv),
        s: sv,
        zi: _mm512_cvtps_epi32(zv),
    }
}

/// The activations of the chunk at `xp` (4 vectors for INT2/INT3, 2 otherwise; the
/// rest are zero and unused).
///
/// # Safety
/// `xp` must have `chunk_len(BITS)` readable f32.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
unsafe fn load_x<const BITS: u8>(xp: *const f32) -> [__m512; 4] {
    let z = _mm512_setzero_ps();
    // SAFETY: the caller guarantees chunk_len(BITS) = 32 (or 64) readable f32.
    unsafe {
        if chunk_len(BITS) == 64 {
            [
                _mm512_loadu_ps(xp),
                _mm512_loadu_ps(xp.add(16)),
                _mm512_loadu_ps(xp.add(32)),
                _mm512_loadu_ps(xp.add(48)),
            ]
        } else {
            [_mm512_loadu_ps(xp), _mm512_loadu_ps(xp.add(16)), z, z]
        }
    }
}

/// Decodes one chunk of one row and accumulates `w_t * x_t` into `acc[t % ACC]`.
///
/// # Safety
/// `p0` must have the chunk's bytes of the main plane readable (`chunk_len * b / 8`,
/// INT3: `chunk_len / 4`); for INT3, `p1` must have `chunk_len / 8` readable bytes of the
/// 1-bit plane (otherwise it is unused).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
unsafe fn fma_chunk<const BITS: u8>(
    p0: *const u8,
    p1: *const u8,
    tb: &Tbl,
    xv: &[__m512; 4],
    acc: &mut [__m512; 2],
) {
    // SAFETY: every load below reads 16 bytes at p0 (INT8: also p0 + 16) and, for INT3,
    // 8 bytes at p1, within what the caller guarantees.
    let v = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(p0.cast()) });
    match BITS {
        8 => {
            // SAFETY: see above (INT8 chunks are 32 bytes).
            let v1 = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(p0.add(16).cast()) });
            let w0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(v, tb.zi));
            let w1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(v1, tb.zi));
            acc[0] = _mm512_fmadd_ps(w0, xv[0], acc[0]);
            acc[ACC - 1] = _mm512_fmadd_ps(w1, xv[1], acc[ACC - 1]);
        }
        4 => {
            let w0 = _mm512_permutexvar_ps(v, tb.a);
            let w1 = _mm512_permutexvar_ps(_mm512_srli_epi32::<4>(v), tb.a);
            acc[0] = _mm512_fmadd_ps(w0, xv[0], acc[0]);
            acc[ACC - 1] = _mm512_fmadd_ps(w1, xv[1], acc[ACC - 1]);
        }
        _ => {
            let mut idx = [
                v,
                _mm512_srli_epi32::<2>(v),
                _mm512_srli_epi32::<4>(v),
                _mm512_srli_epi32::<6>(v),
            ];
            if BITS == 3 {
                // The high bit of element 4i + t (lane i of vector t) is bit 4i + t of
                // the chunk's 64-bit plane word. Lane i of `h` gets bits 4i .. 4i + 4 at
                // its bottom (lanes 0..8 from the low dword, 8..16 from the high one);
                // shifting by 2 - t puts the bit of vector t at bit 2 of the index,
                // under the code's two bits (`vpternlogd` select; bit 3 is don't-care).
                // SAFETY: see above (8 bytes at p1).
                let (lo, hi) = unsafe {
                    (
                        p1.cast::<i32>().read_unaligned(),
                        p1.add(4).cast::<i32>().read_unaligned(),
                    )
                };
                let d = _mm512_mask_set1_epi32(_mm512_set1_epi32(lo), 0xFF00, hi);
                let h = _mm512_srlv_epi32(
                    d,
                    _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                );
                let m = _mm512_set1_epi32(3);
                // (m & code) | (!m & high): imm 0xE4 = "c ? a : b" with c = m.
                idx[0] = _mm512_ternarylogic_epi32::<0xE4>(idx[0], _mm512_slli_epi32::<2>(h), m);
                idx[1] = _mm512_ternarylogic_epi32::<0xE4>(idx[1], _mm512_slli_epi32::<1>(h), m);
                idx[2] = _mm512_ternarylogic_epi32::<0xE4>(idx[2], h, m);
                idx[3] = _mm512_ternarylogic_epi32::<0xE4>(idx[3], _mm512_srli_epi32::<1>(h), m);
            }
            let w = [
                _mm512_permutexvar_ps(idx[0], tb.a),
                _mm512_permutexvar_ps(idx[1], tb.a),
                _mm512_permutexvar_ps(idx[2], tb.a),
                _mm512_permutexvar_ps(idx[3], tb.a),
            ];
            acc[0] = _mm512_fmadd_ps(w[0], xv[0], acc[0]);
            acc[ACC - 1] = _mm512_fmadd_ps(w[1], xv[1], acc[ACC - 1]);
            acc[0] = _mm512_fmadd_ps(w[2], xv[2], acc[0]);
            acc[ACC - 1] = _mm512_fmadd_ps(w[3], xv[3], acc[ACC - 1]);
        }
    }
}

/// `y[r] = row n + r of W times x` for `r < R` (`y.len() == R`). `xp` is `x` reordered by
/// [`permute_x`]; `sbuf`/`zbuf` are scratch for the rows' scales and zero-points.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
    let zero = _mm512_setzero_ps();
    let mut acc = [[zero; 2]; R];
    let mut tot = [zero; R];
    let mut tails = [0.0f32; R];
    let mut tb = [Tbl {
        a: zero,
        s: zero,
        zi: _mm512_setzero_si512(),
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
        if BITS == 8 {
            for r in 0..R {
                let sv = tb[r].s;
                let a = _mm512_add_ps(acc[r][0], acc[r][1]);
                tot[r] = _mm512_fmadd_ps(sv, a, tot[r]);
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
        let v = if BITS == 8 {
            tot[r]
        } else {
            _mm512_add_ps(acc[r][0], acc[r][1])
        };
        y[r] = _mm512_reduce_add_ps(v) + tails[r];
    }
}
