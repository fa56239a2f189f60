//! GEMV with f32 activations, written once for every ISA variant ([`GemvShape`]) and
//! format ([`GemvDecode`]).
//!
//! - Rows go `ROWS` at a time: each activation vector is loaded once per chunk and feeds
//!   every row, and each row keeps `ACC` independent FMA chains.
//! - A chunk of a row (`CHUNK` elements) is decoded into `PARTS` vectors of weights. The
//!   decode leaves codes where its instructions find them (e.g. all low nibbles, then all
//!   high nibbles), and the activations are reordered once per call to match
//!   ([`prepare`]: within every run of `RUN` elements, `x[P*i + t]` moves to
//!   `t*(RUN/P) + i`), so nothing is interleaved back per row.
//! - A decode either folds the group's scale into its table (`PRESCALED`: the
//!   accumulators then hold the row's sum), or the driver scales each group's sum once at
//!   the group's end (`tot = fma(s, sum of the chains, tot)`).
//! - Scales of a block of rows are widened a batch of groups at a time, before the group
//!   loop; groups that are not a multiple of the chunk (per-row groups of odd lengths)
//!   finish element by element.
//!
//! The summation order of a row never depends on the block it lands in, so any row split
//! gives the same bits. Nothing is allocated: the reordered activations live in the
//! caller's buffer.

use core::ops::Range;

use crate::contract::{assert_gemv, Out, Weights};
use crate::decode::{GemvDecode, Planar};
use crate::simd::{Job, Simd};

/// The register budget of a variant, as the f32 GEMV uses it.
pub(crate) trait GemvShape: Simd {
    /// Rows decoded together (2, 3 or 4).
    const ROWS: usize;
    /// Independent accumulators per row (1, 2 or 4).
    const ACC: usize;
}

/// Groups whose scales are widened per batch (a stack buffer of `ROWS x GB` f32).
const GB: usize = 64;

/// Reorders `x` into `xp` for the decode `D` (see the module docs): within each whole
/// chunk of each group, every run is transposed; elements after the last whole chunk of a
/// group keep their place. Returns `false` (and leaves `xp` alone) when `D` needs no
/// reordering, so the caller can use `x` itself.
pub(crate) fn prepare<S: Simd, D: GemvDecode<S>>(
    w: &Weights<'_>,
    x: &[f32],
    xp: &mut [f32],
) -> bool {
    if D::PER_BYTE == 1 {
        return false;
    }
    let g = D::view(w).group_len();
    assert!(x.len() == xp.len() && x.len().is_multiple_of(g));
    let (run, p) = (D::RUN, D::PER_BYTE);
    let lanes = run / p;
    let whole = g / D::CHUNK * D::CHUNK;
    for (dst, src) in xp.chunks_exact_mut(g).zip(x.chunks_exact(g)) {
        for (d, s) in dst[..whole]
            .chunks_exact_mut(run)
            .zip(src[..whole].chunks_exact(run))
        {
            for t in 0..p {
                for i in 0..lanes {
                    d[t * lanes + i] = s[p * i + t];
                }
            }
        }
        dst[whole..].copy_from_slice(&src[whole..]);
    }
    true
}

/// The GEMV kernel of variant `S` and format `D` (what a registry entry points at):
/// `y[i] = row rows.start + i of W times x`, written through `out`. `xp` is `x` as
/// [`prepare`] left it (or `x` itself when `prepare` returned `false`).
pub(crate) fn gemv<S: GemvShape, D: GemvDecode<S>>(
    w: &Weights<'_>,
    xp: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    out: &Out<'_>,
) {
    assert_gemv(w, xp, &rows, y, out, S::VARIANT);
    let s = S::detect().expect("variant checked above");
    let w = D::view(w);
    // One trampoline per (zero-points, tails) kind: each is a function of its own, which
    // keeps the register allocation of its loops local.
    let sym = w.zeros_ptr().is_none();
    let tail = !w.group_len().is_multiple_of(D::CHUNK);
    macro_rules! go {
        ($sym:literal, $tail:literal) => {
            s.vectorize(GemvJob::<S, D, $sym, $tail> {
                w,
                xp,
                rows,
                y,
                out,
            })
        };
    }
    match (sym, tail) {
        (true, false) => go!(true, false),
        (true, true) => go!(true, true),
        (false, false) => go!(false, false),
        (false, true) => go!(false, true),
    }
}

/// The arguments of one GEMV call (checked), run with the variant's features; `SYM`: no
/// zero-points; `TAIL`: groups end with fewer than `CHUNK` elements.
struct GemvJob<'a, 'w, S: Simd, D: GemvDecode<S>, const SYM: bool, const TAIL: bool> {
    w: D::W<'w>,
    xp: &'a [f32],
    rows: Range<usize>,
    y: &'a mut [f32],
    out: &'a Out<'a>,
}

impl<S: GemvShape, D: GemvDecode<S>, const SYM: bool, const TAIL: bool> Job<S>
    for GemvJob<'_, '_, S, D, SYM, TAIL>
{
    type Output = ();

    #[inline(always)]
    fn run(self, s: S) {
        let GemvJob {
            w,
            xp,
            rows,
            y,
            out,
        } = self;
        blocks_of::<S, D, SYM, TAIL>(s, &w, xp, rows, y, out)
    }
}

/// Every row of `rows`, `S::ROWS` at a time (then one at a time).
#[inline(always)]
fn blocks_of<S: GemvShape, D: GemvDecode<S>, const SYM: bool, const TAIL: bool>(
    s: S,
    w: &D::W<'_>,
    xp: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    out: &Out<'_>,
) {
    let mut n = rows.start;
    let mut p = Params {
        sc: [[0.0; GB]; 4],
        zf: [[0.0; GB]; 4],
    };
    for ys in y.chunks_mut(S::ROWS) {
        if ys.len() < S::ROWS {
            for (i, yi) in ys.iter_mut().enumerate() {
                let yi = core::slice::from_mut(yi);
                block::<S, D, SYM, TAIL, 1>(s, w, xp, n + i, yi, out, &mut p);
            }
        } else if const { S::ROWS == 4 } {
            block::<S, D, SYM, TAIL, 4>(s, w, xp, n, ys, out, &mut p);
        } else if const { S::ROWS == 3 } {
            block::<S, D, SYM, TAIL, 3>(s, w, xp, n, ys, out, &mut p);
        } else {
            block::<S, D, SYM, TAIL, 2>(s, w, xp, n, ys, out, &mut p);
        }
        n += ys.len();
    }
}

/// Sum of the first `S::ACC` accumulators, left to right.
#[inline(always)]
fn fold<S: GemvShape>(s: S, acc: &[S::F; 4]) -> S::F {
    match S::ACC {
        1 => acc[0],
        2 => s.fadd(acc[0], acc[1]),
        _ => s.fadd(s.fadd(s.fadd(acc[0], acc[1]), acc[2]), acc[3]),
    }
}

/// `acc[v % ACC] = fma(w[v], x[v], acc[v % ACC])` for `v < PARTS`, in order (written out,
/// so every index is a constant and the accumulators stay in registers).
#[inline(always)]
fn accumulate<S: GemvShape, const PARTS: usize>(
    s: S,
    acc: &mut [S::F; 4],
    w: &[S::F; 8],
    x: &[S::F; 8],
) {
    macro_rules! step {
        ($($v:literal)*) => {$(
            if $v < PARTS {
                let a = &mut acc[$v % S::ACC];
                *a = s.fma(w[$v], x[$v], *a);
            }
        )*};
    }
    step!(0 1 2 3 4 5 6 7);
}

/// A row block's scales and zero-points, widened a batch of groups at a time (kept across
/// blocks so nothing is cleared per block).
struct Params {
    sc: [[f32; GB]; 4],
    zf: [[f32; GB]; 4],
}

/// `y[r] = row n + r of W times xp` for `r < R` (`y.len() == R`); `SYM`: no zero-points;
/// `TAIL`: groups end with fewer than `CHUNK` elements, summed element by element.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn block<S: GemvShape, D: GemvDecode<S>, const SYM: bool, const TAIL: bool, const R: usize>(
    s: S,
    w: &D::W<'_>,
    xp: &[f32],
    n: usize,
    y: &mut [f32],
    out: &Out<'_>,
    p: &mut Params,
) {
    let (g, gpr, k) = (w.group_len(), w.groups_per_row(), w.k());
    let Params { sc, zf } = p;
    let whole = g / D::CHUNK;
    // Every pointer below is derived from these (checked again here so that the unsafe
    // blocks depend only on this function).
    assert!(n + R <= w.n() && y.len() == R && xp.len() == k && g * gpr == k);
    assert!(TAIL || whole * D::CHUNK == g);
    let (rb0, rb1) = (w.row_bytes(0), w.row_bytes(1));
    assert!(D::chunk_bytes(k).0 <= rb0 && D::chunk_bytes(k).1 <= rb1);
    let (p0, p1) = (w.plane(0), w.plane(1));
    assert!(p0.len() >= (n + R) * rb0 && p1.len() >= (n + R) * rb1);
    let zero = s.fzero();
    let mut acc = [[zero; 4]; R];
    let mut tot = [zero; R];
    let mut tails = [0.0f32; R];
    // Row n's bytes of plane 0 start at rp0 (of plane 1 at rp1); row n + r's r row
    // strides later.
    let rp0 = p0[n * rb0..].as_ptr();
    let rp1 = p1.as_ptr().wrapping_add(n * rb1);
    let mut tb = [D::table::<SYM>(s, 0.0, 0.0); R];
    for jb in (0..gpr).step_by(GB) {
        let nb = GB.min(gpr - jb);
        for r in 0..R {
            D::scales(s, w, n + r, jb, &mut sc[r][..nb]);
            if !SYM {
                D::zeros(s, w, n + r, jb, &mut zf[r][..nb]);
            }
        }
        for jj in 0..nb {
            let j = jb + jj;
            for r in 0..R {
                tb[r] = D::table::<SYM>(s, sc[r][jj], zf[r][jj]);
            }
            for c in 0..whole {
                let kc = j * g + c * D::CHUNK;
                let mut xv = [zero; 8];
                macro_rules! load {
                    ($($v:literal)*) => {$(
                        if $v < D::PARTS {
                            // SAFETY: kc + CHUNK <= (j + 1) g <= K = xp.len(), and
                            // PARTS * LANES = CHUNK.
                            xv[$v] = unsafe { s.fload(xp.as_ptr().add(kc + $v * S::LANES)) };
                        }
                    )*};
                }
                load!(0 1 2 3 4 5 6 7);
                let (b0, b1) = D::chunk_bytes(kc);
                for r in 0..R {
                    // SAFETY: kc + CHUNK <= K, so the chunk's bytes b0 ..
                    // chunk_bytes(kc + CHUNK).0 of plane 0 lie within the row's row_bytes0
                    // (asserted for K above), and likewise for plane 1; rows n + r < N
                    // (asserted).
                    let wv = unsafe {
                        D::decode(
                            s,
                            rp0.add(r * rb0 + b0),
                            rp1.wrapping_add(r * rb1 + b1),
                            &tb[r],
                        )
                    };
                    match D::PARTS {
                        2 => accumulate::<S, 2>(s, &mut acc[r], &wv, &xv),
                        4 => accumulate::<S, 4>(s, &mut acc[r], &wv, &xv),
                        _ => accumulate::<S, 8>(s, &mut acc[r], &wv, &xv),
                    }
                }
            }
            if !D::PRESCALED {
                for r in 0..R {
                    tot[r] = s.fma(s.fsplat(sc[r][jj]), fold(s, &acc[r]), tot[r]);
                    acc[r] = [zero; 4];
                }
            }
            if TAIL {
                let ks = j * g + whole * D::CHUNK..(j + 1) * g;
                for r in 0..R {
                    tails[r] += sc[r][jj] * D::tail(w, n + r, j, ks.clone(), xp);
                }
            }
        }
    }
    for r in 0..R {
        let v = if D::PRESCALED {
            fold(s, &acc[r])
        } else {
            tot[r]
        };
        y[r] = out.apply(n + r, s.fsum(v) + tails[r], y[r]);
    }
}

#[cfg(target_arch = "x86_64")]
impl GemvShape for crate::simd::avx2::Avx2 {
    // With two accumulators each, a fourth row spills (16 ymm).
    const ROWS: usize = 3;
    const ACC: usize = 2;
}

#[cfg(target_arch = "x86_64")]
impl<const VNNI: bool> GemvShape for crate::simd::avx512::Avx512<VNNI> {
    const ROWS: usize = 4;
    const ACC: usize = 2;
}

#[cfg(target_arch = "aarch64")]
impl<const DOT: bool> GemvShape for crate::simd::neon::Neon<DOT> {
    // 2 rows x 4 accumulators: 8 FMA chains in flight (latency 4 x 2 per cycle), and
    // registers left for a chunk's 8 activation vectors.
    const ROWS: usize = 2;
    const ACC: usize = 4;
}
