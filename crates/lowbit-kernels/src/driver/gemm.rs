//! Batched GEMM with f32 activations (`M >= 1` activation rows), written once for every
//! ISA variant ([`Simd`]) and format ([`GemmDecode`]).
//!
//! Numerics (see [`crate::reference::gemm`]): each weight is dequantized exactly by
//! the decode step (`fma(q, s, -(z*s))` = `s*(q - z)` for INT) and each output is one
//! chain of FMAs over `k` in increasing order, starting from `+0.0` (or from the old
//! output when accumulating). Tiling never changes that chain, so the result for
//! `(mi, n)` depends only on row `n` and activation row `mi`: any `m`, row split, thread
//! count or ISA gives the same bits.
//!
//! Vectors run along `N`: lane `i` of a vector belongs to weight row `n0 + i`. A "row
//! group" is `LANES` rows (lanes past the last row repeat the last row, and their results
//! are dropped). Codes are loaded 16 bytes per row (`NB` such blocks per row at once) and
//! transposed as dwords ([`Simd::rows16`]), so vector `c` holds dword `c` of every row; the
//! decode step turns code `t` of each dword into the lanes' weights.
//!
//! - Small M (`m <= SMALL_MAX`): one pass over the weights; each decoded vector is FMA'd
//!   into the accumulators of all `m` activation rows (`R` row groups per tile, from the
//!   variant's [`GemmShape`]). Rows go in super-tiles of 256; per 256-element chunk of `K`
//!   the chunk's activations are packed k-major on the stack (`256 x m` f32) and every tile
//!   of the super-tile runs over the chunk, its partial sums kept in `y` between chunks.
//!   (Packing matters: with `K` a power of two, the `m` activation rows read in place all
//!   fall into one L1 set.)
//! - Large M: per block of up to 96 activation rows and 128-element chunk of `K`, the
//!   activations are packed once (`128 x 96` f32, 48 KiB); per block of `NG` row groups the
//!   chunk is decoded once into a k-major panel and an `MR x NG` register-blocked
//!   micro-kernel runs over the packed rows, keeping partial sums in `y`.
//!
//! Stack use per call: at most about 120 KiB (large path: 48 KiB activations, up to
//! 64 KiB panel, parameters, an edge tile); nothing is allocated.

use core::ops::Range;

use crate::contract::{assert_gemm, Out, Weights};
use crate::decode::{GemmDecode, Planar};
use crate::simd::{Job, Simd};

/// Elements of `K` per chunk of the small-M path (and the largest chunk of all).
const KC: usize = 256;
/// Elements of `K` per chunk of the large-M path: the depth of the panel.
const KCL: usize = 128;
/// Most groups one chunk can touch (groups are at least 32 long, chunks start at
/// multiples of their length, and a per-row group is a single group).
pub(crate) const GPC: usize = KC / 32;
/// Blocks of 16 bytes loaded per row at once (one 64-byte line when rows are aligned):
/// rows of a power-of-two length share a few L1 sets, so each line is used up at once.
const NB: usize = 4;
/// Rows per super-tile of the small-M path when `m > 1` (with `m == 1` nothing is packed
/// and a super-tile is one tile: each tile runs over all of `K`).
const ST: usize = 256;
/// Activation rows packed per chunk by the large-M path.
const MC: usize = 96;
/// The most `m` any variant's small path takes.
const SMALL_LIMIT: usize = 16;

/// The register budget of a variant, as the GEMM uses it.
pub(crate) trait GemmShape: Simd {
    /// The largest `m` that takes the small-M path (at most 16).
    const SMALL_MAX: usize;
    /// Small path: 4 row groups per tile for `m` up to this, ...
    const R4_UP_TO: usize;
    /// ... else 2 row groups up to this, else 1.
    const R2_UP_TO: usize;
    /// Activation rows per micro-kernel tile of the large path (at most 12).
    const MR: usize;
    /// Row groups (vectors) per panel of the large path: 2 or 4.
    const NG: usize;
}

/// The rows of a row group: lane `i` is row `min(n0 + i, last)`, `off[i]` its byte
/// offset in the main code plane and `off1[i]` in the second plane.
#[derive(Clone, Copy)]
pub(crate) struct RowGroup {
    /// Row of each lane.
    pub(crate) rows: [usize; 16],
    /// Byte offset of each lane's row in plane 0.
    pub(crate) off: [usize; 16],
    /// Byte offset of each lane's row in plane 1.
    pub(crate) off1: [usize; 16],
}

impl RowGroup {
    /// No rows (a placeholder to be overwritten).
    const EMPTY: RowGroup = RowGroup {
        rows: [0; 16],
        off: [0; 16],
        off1: [0; 16],
    };

    /// Panics unless `last < N`, so that every lane's bytes are inside the code planes.
    #[inline(always)]
    fn new<S: Simd, D: GemmDecode<S>>(w: &D::W<'_>, n0: usize, last: usize) -> Self {
        let (n, rb0, rb1) = (w.n(), w.row_bytes(0), w.row_bytes(1));
        assert!(last < n, "row group past the last row");
        let mut g = RowGroup {
            rows: [0; 16],
            off: [0; 16],
            off1: [0; 16],
        };
        for i in 0..S::LANES {
            g.rows[i] = (n0 + i).min(last);
            g.off[i] = g.rows[i] * rb0;
            g.off1[i] = g.rows[i] * rb1;
        }
        g
    }
}

/// Fills `rg` with the `R` row groups from row `n0` on (rows past `last` repeat it) and
/// `params` with their parameters for groups `j0 .. j0 + nj` (in place, see
/// [`load_blocks`]).
#[inline(always)]
fn row_groups<S: Simd, D: GemmDecode<S>, const R: usize>(
    s: S,
    w: &D::W<'_>,
    (n0, last): (usize, usize),
    (j0, nj): (usize, usize),
    rg: &mut [RowGroup; R],
    params: &mut [Params<S>; R],
) {
    for r in 0..R {
        rg[r] = RowGroup::new::<S, D>(w, n0 + r * S::LANES, last);
        D::params(s, w, &rg[r], j0, nj, &mut params[r]);
    }
}

/// The chunk `kc0..kc1` of `K`: its first group and how many groups it touches.
#[inline(always)]
fn chunk_groups(g: usize, kc0: usize, kc1: usize) -> (usize, usize) {
    let j0 = kc0 / g;
    let nj = (kc1 - 1) / g - j0 + 1;
    (j0, nj.min(GPC))
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

/// Per-group decode parameters of one row group (lane per row), for up to [`GPC`] groups.
type Params<S> = [(<S as Simd>::F, <S as Simd>::F); GPC];

/// Activations of one chunk, k-major: `xp[kk * m + mi] = x[mi][kc0 + kk]`, sized for the
/// larger of the two uses: 256 x 16 (small-M chunks) and 128 x 96 (large-M chunks).
#[repr(C, align(64))]
struct XPack([f32; XP_LEN]);

const XP_LEN: usize = KCL * MC;
const _: () = assert!(KC * SMALL_LIMIT <= XP_LEN);

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

/// Broadcast of `x[i]`.
///
/// # Safety
/// `i < x.len()`.
#[inline(always)]
unsafe fn bcast<S: Simd>(s: S, x: &[f32], i: usize) -> S::F {
    // SAFETY: the caller guarantees `i < x.len()`.
    s.fsplat(unsafe { *x.get_unchecked(i) })
}

/// `y[at .. at + cnt]` as a vector (the other lanes zero).
#[inline(always)]
fn load_y<S: Simd>(s: S, y: &[f32], at: usize, cnt: usize) -> S::F {
    let mut tmp = [0.0f32; 16];
    tmp[..cnt].copy_from_slice(&y[at..at + cnt]);
    // SAFETY: `tmp` holds 16 >= LANES f32.
    unsafe { s.fload(tmp.as_ptr()) }
}

/// Writes the first `cnt` lanes of `v` to `y[at .. at + cnt]`.
#[inline(always)]
fn store_y<S: Simd>(s: S, y: &mut [f32], at: usize, cnt: usize, v: S::F) {
    y[at..at + cnt].copy_from_slice(&s.to_array(v)[..cnt]);
}

/// The lanes' weights at element `k` (any `k < K`), computed one by one.
#[inline(always)]
fn tail_weights<S: Simd, D: GemmDecode<S>>(s: S, w: &D::W<'_>, rg: &RowGroup, k: usize) -> S::F {
    let mut v = [0.0f32; 16];
    for (vi, &n) in v.iter_mut().zip(&rg.rows[..S::LANES]) {
        *vi = D::scalar(w, n, k);
    }
    // SAFETY: `v` holds 16 >= LANES f32.
    unsafe { s.fload(v.as_ptr()) }
}

/// Loads the codes of `NBLK` consecutive 16-byte blocks of a row group at element `kb`
/// (a multiple of the block length, `kb + NBLK * cpb <= K`), plane 0 into `codes` and
/// plane 1 into `hi` (written in place: returning such arrays by value makes `memcpy`
/// calls, which force every vector register to be saved).
///
/// Bounds: every lane's row is `< N` ([`RowGroup::new`]), so its bytes are
/// `off .. off + row_bytes0` of plane 0 (and `off1 .. off1 + row_bytes1` of plane 1);
/// [`GemmDecode::block_bytes`] of a block inside `K` lies inside them.
#[inline(always)]
fn load_blocks<S: Simd, D: GemmDecode<S>, const NBLK: usize>(
    s: S,
    w: &D::W<'_>,
    rg: &RowGroup,
    kb: usize,
    codes: &mut [[S::I; 4]; NBLK],
    hi: &mut [[S::I; 2]; NBLK],
) {
    assert!(kb + NBLK * D::CODES_PER_BLOCK <= w.k());
    let (p0, p1) = (w.plane(0), w.plane(1));
    for q in 0..NBLK {
        let (b0, b1) = D::block_bytes(kb + q * D::CODES_PER_BLOCK);
        // SAFETY: see above: bytes b0 .. b0 + 16 of each lane's row of plane 0 exist.
        codes[q] = unsafe { s.rows16(p0.as_ptr().wrapping_add(b0), &rg.off) };
        if D::PLANE1 {
            // SAFETY: likewise bytes b1 .. b1 + 8 of each lane's row of plane 1.
            hi[q] = unsafe { s.rows8(p1.as_ptr().wrapping_add(b1), &rg.off1) };
        }
    }
}

/// The FMA steps of `NBLK` consecutive blocks at element `kb` for the `R` row groups:
/// every row's `16 * NBLK` bytes are loaded before any is decoded.
#[inline(always)]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
fn tile_blocks<S: Simd, D: GemmDecode<S>, const M: usize, const R: usize, const NBLK: usize>(
    s: S,
    w: &D::W<'_>,
    rg: &[RowGroup; R],
    params: &[Params<S>; R],
    gshift: u32,
    xs: &[f32],
    (kc0, kb): (usize, usize),
    acc: &mut [[S::F; M]; R],
) {
    let cpd = D::CODES_PER_BLOCK / 4;
    assert!(xs.len() >= (kb + NBLK * D::CODES_PER_BLOCK - kc0) * M);
    let mut codes = [[[s.isplat(0); 4]; NBLK]; R];
    let mut hi = [[[s.isplat(0); 2]; NBLK]; R];
    for r in 0..R {
        load_blocks::<S, D, NBLK>(s, w, &rg[r], kb, &mut codes[r], &mut hi[r]);
    }
    for q in 0..NBLK {
        for c in 0..4 {
            let k0 = kb + q * D::CODES_PER_BLOCK + c * cpd - kc0;
            let jj = (k0 >> gshift).min(GPC - 1);
            for t in 0..cpd {
                let mut wv = [s.fzero(); R];
                for r in 0..R {
                    wv[r] = D::weight(s, codes[r][q][c], hi[r][q][c / 2], (c, t), params[r][jj]);
                }
                for mi in 0..M {
                    // SAFETY: k0 + t < kb + NBLK * cpb - kc0 and mi < M: inside `xs`
                    // (asserted).
                    let xb = unsafe { bcast(s, xs, (k0 + t) * M + mi) };
                    for r in 0..R {
                        acc[r][mi] = s.fma(wv[r], xb, acc[r][mi]);
                    }
                }
            }
        }
    }
}

/// Where a tile's outputs go: `y[mi*ldy + n - ybase]` for rows `n` up to `last`.
#[derive(Clone, Copy)]
struct Dest {
    last: usize,
    ybase: usize,
    ldy: usize,
}

/// One chunk `kc0..kc1` of the small-M tile of rows `n0 .. min(n0 + LANES*R, last + 1)`:
/// `xs` holds the chunk's activations k-major (`xs[kk*M + mi]`); the partial sums are
/// read from `y` (unless this is the first chunk and the output is not accumulated) and
/// written back; after the last chunk the output's epilogue is applied.
#[inline(always)]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
fn small_tile<S: Simd, D: GemmDecode<S>, const M: usize, const R: usize>(
    s: S,
    w: &D::W<'_>,
    xs: &[f32],
    (kc0, kc1): (usize, usize),
    n0: usize,
    dst: Dest,
    y: &mut [f32],
    out: &Out<'_>,
) {
    let k = w.k();
    let v = S::LANES;
    let nend = (n0 + R * v).min(dst.last + 1);
    assert!(kc0 < kc1 && kc1 <= k && kc1 - kc0 <= KC && xs.len() >= (kc1 - kc0) * M);
    assert!(dst.ybase <= n0 && n0 <= dst.last && nend - dst.ybase <= dst.ldy);
    assert!(y.len() >= (M - 1) * dst.ldy + (nend - dst.ybase));
    let g = w.group_len();
    let gshift = group_shift(g);
    let (j0, nj) = chunk_groups(g, kc0, kc1);
    let mut rg = [RowGroup::EMPTY; R];
    let mut params = [[(s.fzero(), s.fzero()); GPC]; R];
    row_groups::<S, D, R>(s, w, (n0, dst.last), (j0, nj), &mut rg, &mut params);
    let mut acc = [[s.fzero(); M]; R];
    if kc0 > 0 || out.accumulate {
        for r in 0..R {
            let g0 = n0 + r * v;
            if g0 < nend {
                for mi in 0..M {
                    let at = mi * dst.ldy + g0 - dst.ybase;
                    acc[r][mi] = load_y(s, y, at, (nend - g0).min(v));
                }
            }
        }
    }
    let cpb = D::CODES_PER_BLOCK;
    let mut kb = kc0;
    while kb + NB * cpb <= kc1 {
        tile_blocks::<S, D, M, R, NB>(s, w, &rg, &params, gshift, xs, (kc0, kb), &mut acc);
        kb += NB * cpb;
    }
    while kb + cpb <= kc1 {
        tile_blocks::<S, D, M, R, 1>(s, w, &rg, &params, gshift, xs, (kc0, kb), &mut acc);
        kb += cpb;
    }
    for kg in kb..kc1 {
        let mut wv = [s.fzero(); R];
        for r in 0..R {
            wv[r] = tail_weights::<S, D>(s, w, &rg[r], kg);
        }
        for mi in 0..M {
            // SAFETY: kg - kc0 < kc1 - kc0 and mi < M: inside `xs` (asserted).
            let xb = unsafe { bcast(s, xs, (kg - kc0) * M + mi) };
            for r in 0..R {
                acc[r][mi] = s.fma(wv[r], xb, acc[r][mi]);
            }
        }
    }
    let fin = kc1 == k && out.bias.is_some();
    for r in 0..R {
        let g0 = n0 + r * v;
        if g0 >= nend {
            break;
        }
        let cnt = (nend - g0).min(v);
        for mi in 0..M {
            let at = mi * dst.ldy + (g0 - dst.ybase);
            if fin {
                let vals = s.to_array(acc[r][mi]);
                let b = &out.bias.unwrap_or(&[])[g0..g0 + cnt];
                for ((yv, &a), &bv) in y[at..at + cnt].iter_mut().zip(&vals).zip(b) {
                    *yv = a + bv;
                }
            } else if cnt == v {
                // SAFETY: g0 + LANES <= nend, so at + LANES <= (M-1)*ldy + (nend - ybase) <=
                // y.len() (asserted above).
                unsafe { s.fstore(y.as_mut_ptr().add(at), acc[r][mi]) };
            } else {
                store_y(s, y, at, cnt, acc[r][mi]);
            }
        }
    }
}

/// The small-M path for `M` activation rows and `R` row groups per tile. Rows go in
/// super-tiles of [`ST`]; within one, chunk by chunk, the chunk's activations are packed
/// (`M > 1`), then every tile of `R` row groups (then of one) runs over the chunk.
#[inline(always)]
fn small_rows<S: Simd, D: GemmDecode<S>, const M: usize, const R: usize>(
    s: S,
    w: &D::W<'_>,
    x: &[f32],
    rows: Range<usize>,
    (y, ldy): (&mut [f32], usize),
    out: &Out<'_>,
) {
    let k = w.k();
    let v = S::LANES;
    let mut xp = XPack([0.0; XP_LEN]);
    let st = if M == 1 { R * v } else { ST };
    let mut s0 = rows.start;
    while s0 < rows.end {
        let s1 = (s0 + st).min(rows.end);
        let dst = Dest {
            last: s1 - 1,
            ybase: rows.start,
            ldy,
        };
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
            while n0 + R * v <= s1 {
                small_tile::<S, D, M, R>(s, w, xs, (kc0, kc1), n0, dst, y, out);
                n0 += R * v;
            }
            while n0 < s1 {
                small_tile::<S, D, M, 1>(s, w, xs, (kc0, kc1), n0, dst, y, out);
                n0 += v;
            }
            kc0 = kc1;
        }
        s0 = s1;
    }
}

/// [`small_rows`] with the variant's row groups per tile for `M`.
#[inline(always)]
fn small_m<S: GemmShape, D: GemmDecode<S>, const M: usize>(
    s: S,
    w: &D::W<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: (&mut [f32], usize),
    out: &Out<'_>,
) {
    if const { M <= S::R4_UP_TO } {
        small_rows::<S, D, M, 4>(s, w, x, rows, y, out)
    } else if const { M <= S::R2_UP_TO } {
        small_rows::<S, D, M, 2>(s, w, x, rows, y, out)
    } else {
        small_rows::<S, D, M, 1>(s, w, x, rows, y, out)
    }
}

/// The decoded weights of an `NG`-vector block of rows over one chunk, k-major.
#[repr(C, align(64))]
struct Panel<F, const NG: usize>([[F; NG]; KCL]);

/// Decodes `NBLK` blocks of row group `rg` (vector `r` of the panel) at element `kb`
/// into the panel rows `kb - kc0 ..`.
#[inline(always)]
fn panel_blocks<S: Simd, D: GemmDecode<S>, const NBLK: usize, const NG: usize>(
    s: S,
    w: &D::W<'_>,
    (rg, p, r): (&RowGroup, &Params<S>, usize),
    gshift: u32,
    (kc0, kb): (usize, usize),
    panel: &mut Panel<S::F, NG>,
) {
    let cpb = D::CODES_PER_BLOCK;
    let cpd = cpb / 4;
    assert!(r < NG && kc0 <= kb && kb + NBLK * cpb - kc0 <= KCL);
    let mut codes = [[s.isplat(0); 4]; NBLK];
    let mut hi = [[s.isplat(0); 2]; NBLK];
    load_blocks::<S, D, NBLK>(s, w, rg, kb, &mut codes, &mut hi);
    for q in 0..NBLK {
        for c in 0..4 {
            let k0 = kb + q * cpb + c * cpd - kc0;
            let jj = (k0 >> gshift).min(GPC - 1);
            for t in 0..cpd {
                panel.0[k0 + t][r] = D::weight(s, codes[q][c], hi[q][c / 2], (c, t), p[jj]);
            }
        }
    }
}

/// Decodes the row groups `rg` over `kc0..kc1` into `panel`.
#[inline(always)]
fn decode_panel<S: Simd, D: GemmDecode<S>, const NG: usize>(
    s: S,
    w: &D::W<'_>,
    rg: &[RowGroup; NG],
    params: &[Params<S>; NG],
    (kc0, kc1): (usize, usize),
    panel: &mut Panel<S::F, NG>,
) {
    assert!(kc0 < kc1 && kc1 <= w.k() && kc1 - kc0 <= KCL);
    let cpb = D::CODES_PER_BLOCK;
    let gshift = group_shift(w.group_len());
    let mut kt = kc0;
    for (r, g) in rg.iter().enumerate() {
        let mut kb = kc0;
        while kb + NB * cpb <= kc1 {
            panel_blocks::<S, D, NB, NG>(s, w, (g, &params[r], r), gshift, (kc0, kb), panel);
            kb += NB * cpb;
        }
        while kb + cpb <= kc1 {
            panel_blocks::<S, D, 1, NG>(s, w, (g, &params[r], r), gshift, (kc0, kb), panel);
            kb += cpb;
        }
        kt = kb;
    }
    for kk in kt..kc1 {
        for (r, g) in rg.iter().enumerate() {
            panel.0[kk - kc0][r] = tail_weights::<S, D>(s, w, g, kk);
        }
    }
}

/// `C[mi][..] (+)= sum_kk panel[kk][..] * xs[kk*ldx + mi]` for `mi < T`, `kk < kc`, with
/// `C[mi]` at `c[mi*ldc..]` (`NG * LANES` values); the sums start from zero when
/// `first`, else from `C`.
#[inline(always)]
fn micro<S: Simd, const T: usize, const NG: usize>(
    s: S,
    panel: &Panel<S::F, NG>,
    (kc, first): (usize, bool),
    (xs, ldx): (&[f32], usize),
    c: &mut [f32],
    ldc: usize,
) {
    let v = S::LANES;
    assert!((1..=KCL).contains(&kc) && xs.len() >= (kc - 1) * ldx + T);
    assert!(c.len() >= (T - 1) * ldc + NG * v);
    let cp = c.as_mut_ptr();
    let mut acc = [[s.fzero(); NG]; T];
    if !first {
        for (mi, a) in acc.iter_mut().enumerate() {
            for (r, ar) in a.iter_mut().enumerate() {
                // SAFETY: mi*ldc + NG*LANES <= (T-1)*ldc + NG*LANES <= c.len() (asserted).
                *ar = unsafe { s.fload(cp.add(mi * ldc + r * v)) };
            }
        }
    }
    for (kk, wk) in panel.0[..kc].iter().enumerate() {
        for (mi, a) in acc.iter_mut().enumerate() {
            // SAFETY: kk*ldx + mi <= (kc-1)*ldx + T - 1 < xs.len() (asserted).
            let xb = unsafe { bcast(s, xs, kk * ldx + mi) };
            for (ar, &wr) in a.iter_mut().zip(wk) {
                *ar = s.fma(wr, xb, *ar);
            }
        }
    }
    for (mi, a) in acc.iter().enumerate() {
        for (r, &ar) in a.iter().enumerate() {
            // SAFETY: as for the loads above.
            unsafe { s.fstore(cp.add(mi * ldc + r * v), ar) };
        }
    }
}

/// `micro::<t>` for a run-time `t` in `1..=S::MR`.
#[inline(always)]
fn micro_dyn<S: GemmShape, const NG: usize>(
    s: S,
    t: usize,
    panel: &Panel<S::F, NG>,
    kcf: (usize, bool),
    xs: (&[f32], usize),
    c: &mut [f32],
    ldc: usize,
) {
    macro_rules! arms {
        ($($n:literal)*) => {
            match t {
                $($n if const { $n <= S::MR } => micro::<S, $n, NG>(s, panel, kcf, xs, c, ldc),)*
                _ => unreachable!("micro-kernel tile of {t} rows"),
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12)
}

/// The large-M path. For each block of up to 96 activation rows and each chunk of `K`,
/// the activations are packed once; then for each block of `NG` row groups the chunk is
/// decoded once into the panel and the micro-kernel runs over the activation rows, `MR` at
/// a time. A last block of fewer rows decodes duplicates of the last row and goes through
/// a stack tile, so nothing past `rows.end` is written.
#[inline(always)]
fn large<S: GemmShape, D: GemmDecode<S>, const NG: usize>(
    s: S,
    w: &D::W<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    (y, ldy): (&mut [f32], usize),
    out: &Out<'_>,
) {
    let (k, g, v) = (w.k(), w.group_len(), S::LANES);
    let nr = NG * v;
    let last = rows.end - 1;
    let mut xp = XPack([0.0; XP_LEN]);
    let mut panel = Panel([[s.fzero(); NG]; KCL]);
    let mut rg = [RowGroup::EMPTY; NG];
    let mut params = [[(s.fzero(), s.fzero()); GPC]; NG];
    let mut mc0 = 0;
    while mc0 < m {
        let mc = (m - mc0).min(MC);
        let mut kc0 = 0;
        while kc0 < k {
            let kc1 = (kc0 + KCL).min(k);
            pack_x(&x[mc0 * k..], k, mc, (kc0, kc1), &mut xp);
            let (j0, nj) = chunk_groups(g, kc0, kc1);
            let kcf = (kc1 - kc0, kc0 == 0 && !out.accumulate);
            let mut nb = rows.start;
            while nb < rows.end {
                let cnt = (rows.end - nb).min(nr);
                row_groups::<S, D, NG>(s, w, (nb, last), (j0, nj), &mut rg, &mut params);
                // The next block's codes of this chunk, into L1 (rows past N are skipped).
                let nxt = (nb + nr).min(last);
                let (span, b0) = (D::block_bytes(kc1 - kc0).0, D::block_bytes(kc0).0);
                let (p0, rb0) = (w.plane(0), w.row_bytes(0));
                for n in nxt..(nxt + nr).min(last + 1) {
                    for off in (0..span).step_by(64) {
                        s.prefetch_l1(p0.as_ptr().wrapping_add(n * rb0 + b0 + off));
                    }
                }
                decode_panel::<S, D, NG>(s, w, &rg, &params, (kc0, kc1), &mut panel);
                let mut m0 = 0;
                while m0 < mc {
                    let t = (mc - m0).min(S::MR);
                    let xs = (&xp.0[m0..], mc);
                    let at = (mc0 + m0) * ldy + (nb - rows.start);
                    if cnt == nr {
                        micro_dyn::<S, NG>(s, t, &panel, kcf, xs, &mut y[at..], ldy);
                    } else {
                        // A partial block: go through a full-width tile on the stack.
                        let mut tile = [0.0f32; 12 * 64];
                        if !kcf.1 {
                            for i in 0..t {
                                let src = &y[at + i * ldy..at + i * ldy + cnt];
                                tile[i * nr..i * nr + cnt].copy_from_slice(src);
                            }
                        }
                        micro_dyn::<S, NG>(s, t, &panel, kcf, xs, &mut tile, nr);
                        for i in 0..t {
                            let dst = &mut y[at + i * ldy..at + i * ldy + cnt];
                            dst.copy_from_slice(&tile[i * nr..i * nr + cnt]);
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
    if let Some(b) = out.bias {
        for mi in 0..m {
            for (i, yv) in y[mi * ldy..mi * ldy + rows.len()].iter_mut().enumerate() {
                *yv += b[rows.start + i];
            }
        }
    }
}

/// The GEMM kernel of variant `S` and format `D` (what a registry entry points at):
/// `y[mi*ldy + (n - rows.start)] = sum_k W[n, k] * x[mi*K + k]` for `mi < m`, `n` in
/// `rows`, written through `out` (see [`crate::contract::Out`]; accumulation starts each
/// output's FMA chain from its old value, and the bias is added after the chain).
pub(crate) fn gemm<S: GemmShape, D: GemmDecode<S>>(
    w: &Weights<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
    out: &Out<'_>,
) {
    assert_gemm(w, x, m, &rows, y, ldy, out, S::VARIANT);
    let s = S::detect().expect("variant checked above");
    if m == 0 || rows.is_empty() {
        return;
    }
    s.vectorize(GemmJob::<S, D> {
        w: D::view(w),
        x,
        m,
        rows,
        y,
        ldy,
        out,
    })
}

/// The arguments of one GEMM call (checked), run with the variant's features.
struct GemmJob<'a, 'w, S: Simd, D: GemmDecode<S>> {
    w: D::W<'w>,
    x: &'a [f32],
    m: usize,
    rows: Range<usize>,
    y: &'a mut [f32],
    ldy: usize,
    out: &'a Out<'a>,
}

impl<S: GemmShape, D: GemmDecode<S>> Job<S> for GemmJob<'_, '_, S, D> {
    type Output = ();

    #[inline(always)]
    fn run(self, s: S) {
        let GemmJob {
            w,
            x,
            m,
            rows,
            y,
            ldy,
            out,
        } = self;
        if m > S::SMALL_MAX {
            if const { S::NG == 4 } {
                large::<S, D, 4>(s, &w, x, m, rows, (y, ldy), out)
            } else {
                large::<S, D, 2>(s, &w, x, m, rows, (y, ldy), out)
            }
            return;
        }
        macro_rules! arms {
            ($($n:literal)*) => {
                match m {
                    $($n if const { $n <= S::SMALL_MAX } =>
                        small_m::<S, D, $n>(s, &w, x, rows, (y, ldy), out),)*
                    _ => unreachable!("small-M path called with m = {m}"),
                }
            };
        }
        arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }
}

#[cfg(target_arch = "x86_64")]
impl GemmShape for crate::simd::avx2::Avx2 {
    // 16 ymm: 2 row groups x 2 activation rows of accumulators beside the decoded codes.
    const SMALL_MAX: usize = 8;
    const R4_UP_TO: usize = 0;
    const R2_UP_TO: usize = 2;
    const MR: usize = 6;
    const NG: usize = 2;
}

#[cfg(target_arch = "x86_64")]
impl<const VNNI: bool> GemmShape for crate::simd::avx512::Avx512<VNNI> {
    // Two row groups per tile for m <= 2 (more independent chains), one beyond: measured
    // faster than filling the 32 registers, as the decoded codes of more row groups spill.
    const SMALL_MAX: usize = 16;
    const R4_UP_TO: usize = 0;
    const R2_UP_TO: usize = 2;
    const MR: usize = 12;
    const NG: usize = 2;
}

#[cfg(target_arch = "aarch64")]
impl<const DOT: bool> GemmShape for crate::simd::neon::Neon<DOT> {
    // At least 8 independent accumulator chains where 32 registers allow (not tuned on
    // hardware).
    const SMALL_MAX: usize = 16;
    const R4_UP_TO: usize = 4;
    const R2_UP_TO: usize = 8;
    const MR: usize = 4;
    const NG: usize = 4;
}
