//! INT-b GEMM with f32 activations (b = 2, 3, 4, 8), AVX2 + FMA + F16C.
//!
//! The structure and the numerics are those of the AVX-512 kernel
//! (`x86_64/avx512/gemm.rs`, where the design is described), with 8 rows per vector:
//! each weight is dequantized exactly (`fma(q, s, -(z*s))`) and each output is one chain
//! of FMAs over `k` in increasing order, so the bits match the AVX-512 and NEON kernels and
//! [`crate::reference::int_gemm::gemm_fused`] for any `m`, row split or thread count.
//!
//! Codes are loaded 16 bytes per row for 8 rows and transposed as dwords (4 x 4 inside
//! each 128-bit lane, rows `i` and `i + 4` sharing a register), so vector `c` holds dword
//! `c` of every row. Codes become f32 by mask and convert (b = 4, 8) or an 8-entry
//! `vpermps` table (b = 2, and b = 3 after merging the 1-bit plane's bit).
//!
//! - Small M (`m <= 8`): each decoded vector of 8 weights is FMA'd into the accumulators
//!   of all `m` activation rows (2 row groups per tile for `m <= 2`, else 1). Rows go in
//!   super-tiles of 256; per 256-element chunk of `K` the activations are packed k-major
//!   on the stack (`256 x m` f32) and every tile of the super-tile runs over the chunk,
//!   keeping its partial sums in `y` between chunks.
//! - Large M (`m > 8`): per block of up to 96 activation rows and 128-element chunk, the
//!   activations are packed (`128 x 96` f32, 48 KiB); per 16-row block of weights the
//!   chunk is decoded once into a k-major panel (`128 x 16` f32, 8 KiB) and a 6 x 16
//!   micro-kernel (12 ymm accumulators) runs over the packed rows.
//!
//! Stack use per call: at most about 60 KiB; nothing is allocated.

use core::arch::x86_64::*;
use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::dispatch::Isa;
use crate::gemv::assert_gemm_args;
use crate::reference::int_gemm::fused_weight;

/// Rows per vector (f32 lanes).
const V: usize = 8;
/// Elements of `K` per chunk of the small-M path (and the largest chunk of all).
const KC: usize = 256;
/// Elements of `K` per chunk of the large-M path: the depth of the panel.
const KCL: usize = 128;
/// Most groups one chunk can touch (groups are at least 32 long, chunks start at
/// multiples of their length, and a per-row group is a single group).
const GPC: usize = KC / 32;
/// Blocks of 16 bytes loaded per row at once (one 64-byte line when rows are aligned):
/// rows of a power-of-two length share a few L1 sets, so each line is used up at once.
const NB: usize = 4;
/// Rows per super-tile of the small-M path when `m > 1`: its chunk loop runs over these
/// rows, so the activations of a chunk are packed once per super-tile. (With `m == 1`
/// nothing is packed and a super-tile is one tile: each tile runs over all of `K`.)
const ST: usize = 256;
/// Activation rows per micro-kernel tile.
const MR: usize = 6;
/// Activation rows packed per chunk by the large-M path (the small path packs `m <= 8`).
const MC: usize = 96;
/// Weight rows per panel (two vectors).
const NR: usize = 2 * V;
/// Bits per code of the main plane: the 2-bit plane of INT3, else all `b` bits.
const fn main_bits(b: u32) -> usize {
    if b == 3 {
        2
    } else {
        b as usize
    }
}

/// Codes per 32-bit word of the main plane.
const fn codes_per_word(b: u32) -> usize {
    32 / main_bits(b)
}

/// The largest `m` that takes the small-M path.
const SMALL_MAX: usize = 8;

/// Registered as `gemm_int4_f32_avx2`.
pub(crate) fn gemm_int4(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    entry::<4>(w, x, m, rows, y, ldy);
}

/// Registered as `gemm_int8_f32_avx2`.
pub(crate) fn gemm_int8(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    entry::<8>(w, x, m, rows, y, ldy);
}

/// Registered as `gemm_int3_f32_avx2`.
pub(crate) fn gemm_int3(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    entry::<3>(w, x, m, rows, y, ldy);
}

/// Registered as `gemm_int2_f32_avx2`.
pub(crate) fn gemm_int2(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    entry::<2>(w, x, m, rows, y, ldy);
}

fn entry<const B: u32>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    assert_gemm_args(w, x, m, &rows, y, ldy);
    assert_eq!(
        u32::from(w.format().bits),
        B,
        "INT{B} kernel called on another width"
    );
    assert!(Isa::Avx2.is_available(), "AVX2 kernel called without AVX2");
    // SAFETY: the CPU has AVX2, FMA and F16C (asserted above), all the target features of
    // `gemm_imp`; its memory accesses rely only on the argument checks asserted above
    // (see the comments inside).
    unsafe { gemm_imp::<B>(w, x, m, rows, y, ldy) }
}

/// The rows of a row group: lane `i` is row `min(n0 + i, last)`, `off[i]` its byte
/// offset in the main code plane and `off1[i]` in the 1-bit plane (INT3).
#[derive(Clone, Copy)]
struct RowGroup {
    rows: [usize; V],
    off: [usize; V],
    off1: [usize; V],
}

impl RowGroup {
    /// Panics unless `last < N`, so that every row's bytes are inside the code planes.
    #[inline(always)]
    fn new(w: &IntMatrixRef<'_>, n0: usize, last: usize) -> Self {
        assert!(last < w.n(), "row group past the last row");
        let (rb, rb1) = (w.layout().row_bytes0, w.layout().row_bytes1);
        let mut g = RowGroup {
            rows: [0; V],
            off: [0; V],
            off1: [0; V],
        };
        for i in 0..V {
            g.rows[i] = (n0 + i).min(last);
            g.off[i] = g.rows[i] * rb;
            g.off1[i] = g.rows[i] * rb1;
        }
        g
    }
}

/// Scales and negated `z * s` of up to [`GPC`] groups of one row group, lane per row.
#[repr(C, align(32))]
#[derive(Clone, Copy)]
struct Params {
    s: [[f32; V]; GPC],
    nzs: [[f32; V]; GPC],
}

const PARAMS0: Params = Params {
    s: [[0.0; V]; GPC],
    nzs: [[0.0; V]; GPC],
};

/// The chunk `kc0..kc1` of `K`: its first group and how many groups it touches.
#[inline(always)]
fn chunk_groups(g: usize, kc0: usize, kc1: usize) -> (usize, usize) {
    let j0 = kc0 / g;
    let nj = (kc1 - 1) / g - j0 + 1;
    debug_assert!(nj <= GPC);
    (j0, nj)
}

/// `log2(g)` when the group length is a power of two (then the group of offset `d` inside
/// a chunk is `d >> shift`); else the row has a single group and any shift of at least
/// `log2(KC)` maps every offset to group 0.
#[inline(always)]
fn group_shift(g: usize) -> u32 {
    if g.is_power_of_two() {
        g.trailing_zeros()
    } else {
        31
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn fill_params(w: &IntMatrixRef<'_>, rg: &RowGroup, j0: usize, nj: usize, p: &mut Params) {
    let gpr = w.layout().groups_per_row;
    let nj = nj.min(GPC);
    let mut sb = [[0u16; V]; GPC];
    let mut zb = [[w.format().symmetric_zero(); V]; GPC];
    for i in 0..V {
        let base = rg.rows[i] * gpr + j0;
        for (jj, sv) in w.scales()[base..base + nj].iter().enumerate() {
            sb[jj][i] = sv.to_bits();
        }
        if let Some(z) = w.zeros() {
            for (jj, &zv) in z[base..base + nj].iter().enumerate() {
                zb[jj][i] = zv;
            }
        }
    }
    for jj in 0..nj {
        // SAFETY: `sb[jj]` is 8 u16 (16 bytes) and `zb[jj]` 8 bytes, the sizes loaded.
        let (sh, zh) = unsafe {
            (
                _mm_loadu_si128(sb[jj].as_ptr().cast()),
                _mm_loadl_epi64(zb[jj].as_ptr().cast()),
            )
        };
        let s = _mm256_cvtph_ps(sh);
        let z = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(zh));
        // -(z * s), exactly (subtraction from -0 flips only the sign).
        let nzs = _mm256_sub_ps(_mm256_set1_ps(-0.0), _mm256_mul_ps(z, s));
        // SAFETY: jj < GPC, so both rows are inside the 32-byte aligned arrays.
        unsafe {
            _mm256_store_ps(p.s[jj].as_mut_ptr(), s);
            _mm256_store_ps(p.nzs[jj].as_mut_ptr(), nzs);
        }
    }
}

/// The 16 bytes at `byte` of the 8 rows, transposed: vector `c` lane `i` is dword `c` of
/// row `i`'s 16 bytes.
///
/// # Safety
/// `off[i] + byte + 16 <= plane.len()` for every lane `i`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load_block(plane: &[u8], off: &[usize; V], byte: usize) -> [__m256i; 4] {
    let p = plane.as_ptr();
    let mut q = [_mm256_setzero_si256(); 4];
    for (i, v) in q.iter_mut().enumerate() {
        // SAFETY: the caller guarantees 16 readable bytes at `off[l] + byte` for every
        // lane `l`.
        unsafe {
            let r0 = _mm_loadu_si128(p.add(off[i] + byte).cast());
            let r1 = _mm_loadu_si128(p.add(off[i + 4] + byte).cast());
            *v = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(r0), r1);
        }
    }
    // a = rows 0,4 (one per 128-bit lane), b = 1,5, c = 2,6, d = 3,7: a 4x4 dword
    // transpose inside each 128-bit lane leaves row 4L+i in lane 4L+i.
    let [a, b, c, d] = q;
    let t0 = _mm256_unpacklo_epi32(a, b);
    let t1 = _mm256_unpackhi_epi32(a, b);
    let t2 = _mm256_unpacklo_epi32(c, d);
    let t3 = _mm256_unpackhi_epi32(c, d);
    [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ]
}

/// Code `t` of each lane's dword, dequantized: `fma(q, s, -(z*s))`. For b = 2 the code is
/// turned into f32 by `vpermps` on a table of code values (the permute reads only the low
/// 3 bits of each lane: the code and one bit of the next, which the table ignores); for
/// b = 4 and 8 by mask and convert.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn decode<const B: u32>(v: __m256i, t: usize, s: __m256, nzs: __m256) -> __m256 {
    let sh = _mm_cvtsi32_si128((B as usize * t) as i32);
    let q = if B == 2 {
        let table = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0);
        let idx = if t == 0 { v } else { _mm256_srl_epi32(v, sh) };
        _mm256_permutevar8x32_ps(table, idx)
    } else {
        _mm256_cvtepi32_ps(_mm256_and_si256(
            _mm256_srl_epi32(v, sh),
            _mm256_set1_epi32((1 << B) - 1),
        ))
    };
    _mm256_fmadd_ps(q, s, nzs)
}

/// The 8 bytes at `byte` of the 8 rows' 1-bit planes (INT3), transposed: vector `c` lane
/// `i` is dword `c` (`c < 2`) of row `i`'s 8 bytes.
///
/// # Safety
/// `off[i] + byte + 8 <= plane.len()` for every lane `i`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load_block8(plane: &[u8], off: &[usize; V], byte: usize) -> [__m256i; 2] {
    let p = plane.as_ptr();
    let mut q = [_mm256_setzero_si256(); 4];
    for (i, v) in q.iter_mut().enumerate() {
        // SAFETY: the caller guarantees 8 readable bytes at `off[l] + byte` for every
        // lane `l`.
        unsafe {
            let r0 = _mm_loadl_epi64(p.add(off[i] + byte).cast());
            let r1 = _mm_loadl_epi64(p.add(off[i + 4] + byte).cast());
            *v = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(r0), r1);
        }
    }
    let [a, b, c, d] = q;
    let t0 = _mm256_unpacklo_epi32(a, b);
    let t2 = _mm256_unpacklo_epi32(c, d);
    [_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2)]
}

/// INT3 code `t` of word `c` of a block, dequantized: its low two bits are bits `2t..`
/// of `lo` (the 2-bit plane's word `c`), its high bit is bit `16*(c%2) + t` of `hi` (the
/// 1-bit plane's word `c/2`); the merged 3-bit code indexes an 8-entry `vpermps` table.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn decode3(lo: __m256i, hi: __m256i, (c, t): (usize, usize), s: __m256, nzs: __m256) -> __m256 {
    let lo_sh = _mm256_srl_epi32(lo, _mm_cvtsi32_si128((2 * t) as i32));
    let hs = 16 * (c % 2) + t;
    let hi_sh = if hs >= 2 {
        _mm256_srl_epi32(hi, _mm_cvtsi32_si128((hs - 2) as i32))
    } else {
        _mm256_sll_epi32(hi, _mm_cvtsi32_si128((2 - hs) as i32))
    };
    let idx = _mm256_or_si256(
        _mm256_and_si256(lo_sh, _mm256_set1_epi32(3)),
        _mm256_and_si256(hi_sh, _mm256_set1_epi32(4)),
    );
    let table = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    _mm256_fmadd_ps(_mm256_permutevar8x32_ps(table, idx), s, nzs)
}

/// [`decode`], or [`decode3`] for INT3 (`hi` is then the 1-bit plane's word `c/2`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dec<const B: u32>(
    lo: __m256i,
    hi: __m256i,
    ct: (usize, usize),
    s: __m256,
    nzs: __m256,
) -> __m256 {
    if B == 3 {
        decode3(lo, hi, ct, s, nzs)
    } else {
        decode::<B>(lo, ct.1, s, nzs)
    }
}

/// The 8 lanes' weights at element `k` (any `k < K`), computed one by one.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn tail_weights(w: &IntMatrixRef<'_>, rg: &RowGroup, k: usize) -> __m256 {
    let j = k / w.layout().group_len;
    let mut v = [0.0f32; V];
    for (vi, &n) in v.iter_mut().zip(&rg.rows) {
        *vi = fused_weight(w.code(n, k), w.scale(n, j), w.zero(n, j));
    }
    // SAFETY: `v` holds 8 f32.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Prefetches (into L1) the code bytes `byte0 .. byte0 + nbytes` of rows `n0 .. n1`
/// (rows past `N` are skipped).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn prefetch_rows(w: &IntMatrixRef<'_>, (n0, n1): (usize, usize), byte0: usize, nbytes: usize) {
    let rb = w.layout().row_bytes0;
    let p = w.plane0().as_ptr();
    for n in n0..n1.min(w.n()) {
        let mut off = 0;
        while off < nbytes {
            // A prefetch is only a hint (it never faults); `wrapping_add` keeps the address
            // computation free of out-of-bounds pointer arithmetic.
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(n * rb + byte0 + off).cast());
            off += 64;
        }
    }
}

/// Broadcast of `x[i]`.
///
/// # Safety
/// `i < x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn bcast(x: &[f32], i: usize) -> __m256 {
    // SAFETY: the caller guarantees `i < x.len()`.
    _mm256_set1_ps(unsafe { *x.get_unchecked(i) })
}

/// Activations of one chunk, k-major: `xp[kk * m + mi] = x[mi][kc0 + kk]`. Packing makes
/// every broadcast of a k-step come from one or two cache lines; read in place, the `m`
/// rows of a power-of-two `K` all map to one L1 set and thrash it. Sized for the larger
/// of the two uses: 256 x 16 (small-M chunks) and 128 x 48 (large-M chunks).
#[repr(C, align(32))]
struct XPack([f32; XP_LEN]);

const XP_LEN: usize = KCL * MC;
const _: () = assert!(KC * SMALL_MAX <= XP_LEN);

/// Packs `x[mi*k + kc0 .. mi*k + kc1]` for `mi < m` into `xp` (k-major, stride `m`).
fn pack_x(x: &[f32], k: usize, m: usize, (kc0, kc1): (usize, usize), xp: &mut XPack) {
    assert!(m * (kc1 - kc0) <= XP_LEN);
    for mi in 0..m {
        let xr = &x[mi * k + kc0..mi * k + kc1];
        for (kk, &v) in xr.iter().enumerate() {
            xp.0[kk * m + mi] = v;
        }
    }
}

/// `y[at .. at + cnt]` as a vector (the other lanes zero).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load_y(y: &[f32], at: usize, cnt: usize) -> __m256 {
    let mut tmp = [0.0f32; V];
    tmp[..cnt].copy_from_slice(&y[at..at + cnt]);
    // SAFETY: `tmp` holds 8 f32.
    unsafe { _mm256_loadu_ps(tmp.as_ptr()) }
}

/// Writes the first `cnt` lanes of `v` to `y[at .. at + cnt]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn store_y(y: &mut [f32], at: usize, cnt: usize, v: __m256) {
    let mut tmp = [0.0f32; V];
    // SAFETY: `tmp` holds 8 f32.
    unsafe { _mm256_storeu_ps(tmp.as_mut_ptr(), v) };
    y[at..at + cnt].copy_from_slice(&tmp[..cnt]);
}

/// The FMA steps of `NBLK` consecutive 16-byte blocks starting at element `kb` (a
/// multiple of the block length, `kb + NBLK * cpb <= K`) for the `R` row groups: every
/// row's `16 * NBLK` bytes are loaded before any is decoded.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
fn tile_blocks<const B: u32, const M: usize, const R: usize, const NBLK: usize>(
    w: &IntMatrixRef<'_>,
    rg: &[RowGroup; R],
    params: &[Params; R],
    gshift: u32,
    xs: &[f32],
    (kc0, kb): (usize, usize),
    acc: &mut [[__m256; M]; R],
) {
    let cpd = codes_per_word(B);
    let cpb = 4 * cpd;
    assert!(kb + NBLK * cpb <= w.k() && xs.len() >= (kb + NBLK * cpb - kc0) * M);
    let byte = kb * main_bits(B) / 8;
    let mut codes = [[[_mm256_setzero_si256(); 4]; NBLK]; R];
    let mut hi = [[[_mm256_setzero_si256(); 2]; NBLK]; R];
    for r in 0..R {
        for q in 0..NBLK {
            // SAFETY: every lane's row is < N (RowGroup::new), so its bytes are
            // `off .. off + row_bytes0` of plane0; kb + NBLK*cpb <= K (asserted) gives
            // byte + 16*(q+1) <= ceil(K*main_bits/8) = row_bytes0.
            codes[r][q] = unsafe { load_block(w.plane0(), &rg[r].off, byte + 16 * q) };
            if B == 3 {
                // SAFETY: likewise the row's 1-bit plane is `off1 .. off1 + row_bytes1`
                // of plane1, and kb + 64*(q+1) <= K gives kb/8 + 8*(q+1) <= ceil(K/8).
                hi[r][q] = unsafe { load_block8(w.plane1(), &rg[r].off1, kb / 8 + 8 * q) };
            }
        }
    }
    for q in 0..NBLK {
        for c in 0..4 {
            let k0 = kb + q * cpb + c * cpd - kc0;
            let jj = (k0 >> gshift).min(GPC - 1);
            let mut s = [_mm256_setzero_ps(); R];
            let mut nzs = [_mm256_setzero_ps(); R];
            for r in 0..R {
                // SAFETY: jj < GPC, a whole aligned row of the arrays.
                unsafe {
                    s[r] = _mm256_load_ps(params[r].s[jj].as_ptr());
                    nzs[r] = _mm256_load_ps(params[r].nzs[jj].as_ptr());
                }
            }
            for t in 0..cpd {
                let mut wv = [_mm256_setzero_ps(); R];
                for r in 0..R {
                    wv[r] = if B == 3 {
                        decode3(codes[r][q][c], hi[r][q][c / 2], (c, t), s[r], nzs[r])
                    } else {
                        decode::<B>(codes[r][q][c], t, s[r], nzs[r])
                    };
                }
                for mi in 0..M {
                    // SAFETY: k0 + t < kb + NBLK*cpb - kc0 and mi < M: inside `xs`
                    // (asserted).
                    let xb = unsafe { bcast(xs, (k0 + t) * M + mi) };
                    for r in 0..R {
                        acc[r][mi] = _mm256_fmadd_ps(wv[r], xb, acc[r][mi]);
                    }
                }
            }
        }
    }
}

/// One chunk `kc0..kc1` of the small-M tile of rows `n0 .. min(n0 + 8*R, last + 1)`:
/// `xs` holds the chunk's activations k-major (`xs[kk*M + mi]`); the partial sums are read
/// from (unless `kc0 == 0`) and written to `y[mi*ldy + n - ybase]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)]
fn small_tile<const B: u32, const M: usize, const R: usize>(
    w: &IntMatrixRef<'_>,
    xs: &[f32],
    (kc0, kc1): (usize, usize),
    (n0, last, ybase): (usize, usize, usize),
    y: &mut [f32],
    ldy: usize,
) {
    let l = *w.layout();
    let nend = (n0 + R * V).min(last + 1);
    assert!(kc0 < kc1 && kc1 <= l.k && kc1 - kc0 <= KC && xs.len() >= (kc1 - kc0) * M);
    assert!(ybase <= n0 && n0 <= last && nend - ybase <= ldy);
    assert!(y.len() >= (M - 1) * ldy + (nend - ybase));
    let cpb = 4 * codes_per_word(B);
    let gshift = group_shift(l.group_len);
    let mut rg = [RowGroup::new(w, n0, last); R];
    for r in 1..R {
        rg[r] = RowGroup::new(w, n0 + r * V, last);
    }
    let mut params = [PARAMS0; R];
    let (j0, nj) = chunk_groups(l.group_len, kc0, kc1);
    for r in 0..R {
        fill_params(w, &rg[r], j0, nj, &mut params[r]);
    }
    let mut acc = [[_mm256_setzero_ps(); M]; R];
    if kc0 > 0 {
        for r in 0..R {
            let g0 = n0 + r * V;
            if g0 < nend {
                for mi in 0..M {
                    acc[r][mi] = load_y(y, mi * ldy + g0 - ybase, (nend - g0).min(V));
                }
            }
        }
    }
    let mut kb = kc0;
    while kb + NB * cpb <= kc1 {
        tile_blocks::<B, M, R, NB>(w, &rg, &params, gshift, xs, (kc0, kb), &mut acc);
        kb += NB * cpb;
    }
    while kb + cpb <= kc1 {
        tile_blocks::<B, M, R, 1>(w, &rg, &params, gshift, xs, (kc0, kb), &mut acc);
        kb += cpb;
    }
    for kg in kb..kc1 {
        let mut wv = [_mm256_setzero_ps(); R];
        for r in 0..R {
            wv[r] = tail_weights(w, &rg[r], kg);
        }
        for mi in 0..M {
            // SAFETY: kg - kc0 < kc1 - kc0 and mi < M: inside `xs` (asserted).
            let xb = unsafe { bcast(xs, (kg - kc0) * M + mi) };
            for r in 0..R {
                acc[r][mi] = _mm256_fmadd_ps(wv[r], xb, acc[r][mi]);
            }
        }
    }
    for r in 0..R {
        let g0 = n0 + r * V;
        if g0 >= nend {
            break;
        }
        let cnt = (nend - g0).min(V);
        for mi in 0..M {
            let at = mi * ldy + (g0 - ybase);
            if cnt == V {
                // SAFETY: g0 + 8 <= nend, so at + 8 <= (M-1)*ldy + (nend - ybase) <=
                // y.len() (asserted above).
                unsafe { _mm256_storeu_ps(y.as_mut_ptr().add(at), acc[r][mi]) };
            } else {
                store_y(y, at, cnt, acc[r][mi]);
            }
        }
    }
}

/// The small-M path for `M` activation rows. Rows go in super-tiles of [`ST`]; within
/// one, chunk by chunk, the chunk's activations are packed (`M > 1`), then every tile of
/// `R` row groups (then of one) runs over the chunk.
#[target_feature(enable = "avx2,fma,f16c")]
fn small_rows<const B: u32, const M: usize, const R: usize>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    let k = w.k();
    let mut xp = XPack([0.0; XP_LEN]);
    let st = if M == 1 { R * V } else { ST };
    let mut s0 = rows.start;
    while s0 < rows.end {
        let s1 = (s0 + st).min(rows.end);
        let mut kc0 = 0;
        while kc0 < k {
            let kc1 = (kc0 + KC).min(k);
            let xs: &[f32] = if M == 1 {
                &x[kc0..kc1]
            } else {
                pack_x(x, k, M, (kc0, kc1), &mut xp);
                &xp.0
            };
            let mut n0 = s0;
            while n0 + R * V <= s1 {
                small_tile::<B, M, R>(w, xs, (kc0, kc1), (n0, s1 - 1, rows.start), y, ldy);
                n0 += R * V;
            }
            while n0 < s1 {
                small_tile::<B, M, 1>(w, xs, (kc0, kc1), (n0, s1 - 1, rows.start), y, ldy);
                n0 += V;
            }
            kc0 = kc1;
        }
        s0 = s1;
    }
}

/// The small-M path for `1 <= m <= 8`. Two row groups per tile for `m <= 2`, one beyond
/// (measured: with 16 registers, more row groups only spill).
#[target_feature(enable = "avx2,fma,f16c")]
fn small<const B: u32>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    match m {
        1 => small_rows::<B, 1, 2>(w, x, rows, y, ldy),
        2 => small_rows::<B, 2, 2>(w, x, rows, y, ldy),
        3 => small_rows::<B, 3, 1>(w, x, rows, y, ldy),
        4 => small_rows::<B, 4, 1>(w, x, rows, y, ldy),
        5 => small_rows::<B, 5, 1>(w, x, rows, y, ldy),
        6 => small_rows::<B, 6, 1>(w, x, rows, y, ldy),
        7 => small_rows::<B, 7, 1>(w, x, rows, y, ldy),
        8 => small_rows::<B, 8, 1>(w, x, rows, y, ldy),
        _ => unreachable!("small-M path called with m = {m}"),
    }
}

/// The decoded weights of a 16-row block over one chunk, k-major: `w[kk][0..16]`.
#[repr(C, align(32))]
struct Panel([f32; KCL * NR]);

/// Decodes `NBLK` blocks of 16 bytes of row group `g` (lanes `16*r ..` of the panel) at
/// element `kb` into the panel rows `kb - kc0 ..`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn panel_blocks<const B: u32, const NBLK: usize>(
    w: &IntMatrixRef<'_>,
    (g, p, r): (&RowGroup, &Params, usize),
    gshift: u32,
    (kc0, kb): (usize, usize),
    panel: &mut Panel,
) {
    let cpd = codes_per_word(B);
    let cpb = 4 * cpd;
    assert!(r < 2 && kc0 <= kb && kb + NBLK * cpb <= w.k() && kb + NBLK * cpb - kc0 <= KCL);
    let byte = kb * main_bits(B) / 8;
    let mut codes = [[_mm256_setzero_si256(); 4]; NBLK];
    let mut hi = [[_mm256_setzero_si256(); 2]; NBLK];
    for (q, (cq, hq)) in codes.iter_mut().zip(hi.iter_mut()).enumerate() {
        // SAFETY: rows < N (RowGroup::new) and kb + NBLK*cpb <= K (asserted), so
        // byte + 16*(q+1) <= row_bytes0.
        *cq = unsafe { load_block(w.plane0(), &g.off, byte + 16 * q) };
        if B == 3 {
            // SAFETY: likewise kb/8 + 8*(q+1) <= ceil(K/8) = row_bytes1.
            *hq = unsafe { load_block8(w.plane1(), &g.off1, kb / 8 + 8 * q) };
        }
    }
    let out = panel.0.as_mut_ptr();
    for (q, (cq, hq)) in codes.iter().zip(&hi).enumerate() {
        for (c, &cv) in cq.iter().enumerate() {
            let k0 = kb + q * cpb + c * cpd - kc0;
            let jj = (k0 >> gshift).min(GPC - 1);
            // SAFETY: jj < GPC, a whole aligned row of the arrays.
            let (s, nzs) = unsafe {
                (
                    _mm256_load_ps(p.s[jj].as_ptr()),
                    _mm256_load_ps(p.nzs[jj].as_ptr()),
                )
            };
            for t in 0..cpd {
                // SAFETY: k0 + t < kb + NBLK*cpb - kc0 <= KCL (asserted), so
                // (k0+t)*16 + r*8 + 8 <= KCL*16: inside the panel, and 32-byte aligned
                // (the panel is, and both offsets are multiples of 8 f32).
                unsafe {
                    _mm256_store_ps(
                        out.add((k0 + t) * NR + r * V),
                        dec::<B>(cv, hq[c / 2], (c, t), s, nzs),
                    )
                };
            }
        }
    }
}

/// Decodes rows `rg[0]` and `rg[1]` over `kc0..kc1` into `panel` (with `params` filled
/// for the chunk).
#[target_feature(enable = "avx2,fma,f16c")]
fn decode_panel<const B: u32>(
    w: &IntMatrixRef<'_>,
    rg: &[RowGroup; 2],
    params: &[Params; 2],
    (kc0, kc1): (usize, usize),
    panel: &mut Panel,
) {
    let l = *w.layout();
    assert!(kc0 < kc1 && kc1 <= l.k && kc1 - kc0 <= KCL);
    let cpb = 4 * codes_per_word(B);
    let gshift = group_shift(l.group_len);
    let mut kt = kc0;
    for (r, g) in rg.iter().enumerate() {
        let mut kb = kc0;
        while kb + NB * cpb <= kc1 {
            panel_blocks::<B, NB>(w, (g, &params[r], r), gshift, (kc0, kb), panel);
            kb += NB * cpb;
        }
        while kb + cpb <= kc1 {
            panel_blocks::<B, 1>(w, (g, &params[r], r), gshift, (kc0, kb), panel);
            kb += cpb;
        }
        kt = kb;
    }
    let out = panel.0.as_mut_ptr();
    for kk in kt..kc1 {
        for (r, g) in rg.iter().enumerate() {
            let wv = tail_weights(w, g, kk);
            // SAFETY: kk - kc0 < KCL, so the 16 lanes at (kk-kc0)*32 + r*16 are inside
            // the panel, 64-byte aligned.
            unsafe { _mm256_store_ps(out.add((kk - kc0) * NR + r * V), wv) };
        }
    }
}

/// `C[mi][0..16] (+)= sum_kk panel[kk][0..16] * xs[kk*ldx + mi]` for `mi < T`, `kk < kc`,
/// with `C[mi]` at `c[mi*ldc..]`; the sums start from zero when `first`, else from `C`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn micro<const T: usize>(
    panel: &Panel,
    (kc, first): (usize, bool),
    (xs, ldx): (&[f32], usize),
    c: &mut [f32],
    ldc: usize,
) {
    assert!((1..=KCL).contains(&kc) && xs.len() >= (kc - 1) * ldx + T);
    assert!(c.len() >= (T - 1) * ldc + NR);
    let cp = c.as_mut_ptr();
    let mut acc = [[_mm256_setzero_ps(); 2]; T];
    if !first {
        for (mi, a) in acc.iter_mut().enumerate() {
            // SAFETY: mi*ldc + 16 <= (T-1)*ldc + 16 <= c.len() (asserted).
            unsafe {
                a[0] = _mm256_loadu_ps(cp.add(mi * ldc));
                a[1] = _mm256_loadu_ps(cp.add(mi * ldc + V));
            }
        }
    }
    let pp = panel.0.as_ptr();
    for kk in 0..kc {
        // SAFETY: kk < kc <= KCL: the panel's row kk, 32-byte aligned.
        let (w0, w1) = unsafe {
            (
                _mm256_load_ps(pp.add(kk * NR)),
                _mm256_load_ps(pp.add(kk * NR + V)),
            )
        };
        for (mi, a) in acc.iter_mut().enumerate() {
            // SAFETY: kk*ldx + mi <= (kc-1)*ldx + T - 1 < xs.len() (asserted).
            let xb = unsafe { bcast(xs, kk * ldx + mi) };
            a[0] = _mm256_fmadd_ps(w0, xb, a[0]);
            a[1] = _mm256_fmadd_ps(w1, xb, a[1]);
        }
    }
    for (mi, a) in acc.iter().enumerate() {
        // SAFETY: as for the loads above.
        unsafe {
            _mm256_storeu_ps(cp.add(mi * ldc), a[0]);
            _mm256_storeu_ps(cp.add(mi * ldc + V), a[1]);
        }
    }
}

/// `micro::<t>` for a run-time `t` in `1..=MR`.
#[target_feature(enable = "avx2,fma,f16c")]
fn micro_dyn(
    t: usize,
    panel: &Panel,
    kcf: (usize, bool),
    xs: (&[f32], usize),
    c: &mut [f32],
    ldc: usize,
) {
    match t {
        1 => micro::<1>(panel, kcf, xs, c, ldc),
        2 => micro::<2>(panel, kcf, xs, c, ldc),
        3 => micro::<3>(panel, kcf, xs, c, ldc),
        4 => micro::<4>(panel, kcf, xs, c, ldc),
        5 => micro::<5>(panel, kcf, xs, c, ldc),
        _ => micro::<MR>(panel, kcf, xs, c, ldc),
    }
}

/// The large-M path. For each block of up to 96 activation rows and each chunk of `K`,
/// the activations are packed once; then for each 16-row block of weights the chunk is
/// decoded once into the panel and the micro-kernel runs over the activation rows, 6 at
/// a time. A last block of fewer than 16 rows decodes duplicates of the last row and goes
/// through a small stack tile so that nothing past `rows.end` is written.
#[target_feature(enable = "avx2,fma,f16c")]
fn large<const B: u32>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    let k = w.k();
    let g = w.layout().group_len;
    let last = rows.end - 1;
    let mut xp = XPack([0.0; XP_LEN]);
    let mut panel = Panel([0.0; KCL * NR]);
    let mut params = [PARAMS0; 2];
    let mut mc0 = 0;
    while mc0 < m {
        let mc = (m - mc0).min(MC);
        let mut kc0 = 0;
        while kc0 < k {
            let kc1 = (kc0 + KCL).min(k);
            pack_x(&x[mc0 * k..], k, mc, (kc0, kc1), &mut xp);
            let (j0, nj) = chunk_groups(g, kc0, kc1);
            let kcf = (kc1 - kc0, kc0 == 0);
            let mut nb = rows.start;
            while nb < rows.end {
                let cnt = (rows.end - nb).min(NR);
                let rg = [RowGroup::new(w, nb, last), RowGroup::new(w, nb + V, last)];
                let span = (kc1 - kc0) * main_bits(B) / 8;
                let nxt = (nb + NR).min(last);
                prefetch_rows(
                    w,
                    (nxt, (nxt + NR).min(last + 1)),
                    kc0 * main_bits(B) / 8,
                    span,
                );
                fill_params(w, &rg[0], j0, nj, &mut params[0]);
                fill_params(w, &rg[1], j0, nj, &mut params[1]);
                decode_panel::<B>(w, &rg, &params, (kc0, kc1), &mut panel);
                let mut m0 = 0;
                while m0 < mc {
                    let t = (mc - m0).min(MR);
                    let xs = (&xp.0[m0..], mc);
                    let at = (mc0 + m0) * ldy + (nb - rows.start);
                    if cnt == NR {
                        micro_dyn(t, &panel, kcf, xs, &mut y[at..], ldy);
                    } else {
                        // A partial block: go through a full-width tile on the stack.
                        let mut tile = [0.0f32; MR * NR];
                        if kc0 > 0 {
                            for i in 0..t {
                                let src = &y[at + i * ldy..at + i * ldy + cnt];
                                tile[i * NR..i * NR + cnt].copy_from_slice(src);
                            }
                        }
                        micro_dyn(t, &panel, kcf, xs, &mut tile, NR);
                        for i in 0..t {
                            let dst = &mut y[at + i * ldy..at + i * ldy + cnt];
                            dst.copy_from_slice(&tile[i * NR..i * NR + cnt]);
                        }
                    }
                    m0 += t;
                }
                nb += cnt;
            }
            kc0 = kc1;
        }
        mc0 += mc;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn gemm_imp<const B: u32>(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) {
    if m == 0 || rows.is_empty() {
        return;
    }
    if m <= SMALL_MAX {
        small::<B>(w, x, m, rows, y, ldy);
    } else {
        large::<B>(w, x, m, rows, y, ldy);
    }
}
