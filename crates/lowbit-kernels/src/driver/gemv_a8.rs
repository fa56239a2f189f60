//! GEMV with int8 activations (A8), written once for every ISA variant ([`A8Shape`]) and
//! format ([`A8Decode`]).
//!
//! - Rows go `ROWS` at a time (8 on AVX-512, 4 on AVX2 and NEON): each step's activation
//!   vectors are loaded once and serve every row, and each row keeps its own accumulator.
//! - Per step and row, the decode step returns exact i32 lanes of `sum (q - z) * x8`; the
//!   lanes are converted to f32 (exact: below 2^24 in magnitude) and multiplied by the
//!   weight scale times the activation scale of their block:
//!   `acc = fma(lanes, s_w * s_x, acc)`.
//! - The group layout (groups per step) and whether there are zero-points are
//!   specialized once per call.
//! - Several rows read at once are several short streams that a hardware prefetcher
//!   learns anew at every row block; the next block of rows is prefetched into L2 front to
//!   back, as one linear stream, at the rate the current block is read (see DESIGN.md:
//!   without it a multi-row kernel streamed DRAM at half the speed of a one-row kernel).
//! - The blocks after the last whole step (and a partial last block) are summed as the
//!   reference sums them ([`crate::reference::gemv_a8::row_from_block`]).
//!
//! A row's result never depends on which block of rows it lands in, so any row split
//! gives the same bits.

use core::ops::Range;

use lowbit_formats::act::BLOCK;

use crate::a8::A8Activations;
use crate::contract::{assert_gemv_a8, Out, Weights};
use crate::decode::{A8Decode, Planar};
use crate::simd::{Dot, Job, Simd};

/// The register budget of a variant, as the A8 GEMV uses it.
pub(crate) trait A8Shape: Dot {
    /// Rows per block (4 or 8).
    const ROWS: usize;
}

/// The A8 GEMV kernel of variant `S` and format `D` (what a registry entry points at):
/// `y[i] = row rows.start + i of W times the A8 activations`, written through `out`.
pub(crate) fn gemv_a8<S: A8Shape, D: A8Decode<S>>(
    w: &Weights<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
    out: &Out<'_>,
) {
    assert_gemv_a8(w, x, &rows, y, out, S::VARIANT);
    let s = S::detect().expect("variant checked above");
    s.vectorize(A8Job::<S, D> {
        w: D::view(w),
        x,
        rows,
        y,
        out,
    })
}

/// The arguments of one A8 GEMV call (checked), run with the variant's features.
struct A8Job<'a, 'w, S: Dot, D: A8Decode<S>> {
    w: D::W<'w>,
    x: &'a A8Activations,
    rows: Range<usize>,
    y: &'a mut [f32],
    out: &'a Out<'a>,
}

impl<S: A8Shape, D: A8Decode<S>> Job<S> for A8Job<'_, '_, S, D> {
    type Output = ();

    #[inline(always)]
    fn run(self, s: S) {
        let A8Job { w, x, rows, y, out } = self;
        let (g, gpr) = (w.group_len(), w.groups_per_row());
        // Groups per step, and how a step's first element maps to its first group.
        let (gps, gshift) = if gpr == 1 {
            (1, 63)
        } else {
            ((D::STEP / g).max(1), g.trailing_zeros())
        };
        let sym = w.zeros_ptr().is_none();
        let ctx = Ctx::<S, D> {
            s,
            w: &w,
            x,
            gshift,
            out,
        };
        let mut n = rows.start;
        for ys in y.chunks_mut(S::ROWS) {
            if ys.len() == S::ROWS {
                match (gps, sym) {
                    // Per-row groups: every step reads the same scale, loaded once.
                    (1, true) if gpr == 1 => ctx.block::<1, true, true>(n, ys),
                    (1, false) if gpr == 1 => ctx.block::<1, false, true>(n, ys),
                    (1, true) => ctx.block::<1, true, false>(n, ys),
                    (1, false) => ctx.block::<1, false, false>(n, ys),
                    (2, true) => ctx.block::<2, true, false>(n, ys),
                    (2, false) => ctx.block::<2, false, false>(n, ys),
                    (4, true) => ctx.block::<4, true, false>(n, ys),
                    (4, false) => ctx.block::<4, false, false>(n, ys),
                    (_, true) => ctx.block::<8, true, false>(n, ys),
                    (_, false) => ctx.block::<8, false, false>(n, ys),
                }
            } else {
                for (i, yi) in ys.iter_mut().enumerate() {
                    ctx.row_any(gps, sym, n + i, yi);
                }
            }
            n += ys.len();
        }
    }
}

/// What every row block of one call shares.
struct Ctx<'c, 'w, S: Dot, D: A8Decode<S>> {
    s: S,
    w: &'c D::W<'w>,
    x: &'c A8Activations,
    gshift: u32,
    out: &'c Out<'c>,
}

impl<S: A8Shape, D: A8Decode<S>> Ctx<'_, '_, S, D> {
    /// One row (the rows left after the whole blocks), with the same arithmetic (per-row
    /// groups included: a row's bits never depend on which block it falls in).
    #[inline(always)]
    fn row_any(&self, gps: usize, sym: bool, n: usize, y: &mut f32) {
        let y = core::slice::from_mut(y);
        let per_row = self.w.groups_per_row() == 1;
        match (gps, sym) {
            (1, true) if per_row => self.rows::<1, true, 1, true>(n, y),
            (1, false) if per_row => self.rows::<1, false, 1, true>(n, y),
            (1, true) => self.rows::<1, true, 1, false>(n, y),
            (1, false) => self.rows::<1, false, 1, false>(n, y),
            (2, true) => self.rows::<2, true, 1, false>(n, y),
            (2, false) => self.rows::<2, false, 1, false>(n, y),
            (4, true) => self.rows::<4, true, 1, false>(n, y),
            (4, false) => self.rows::<4, false, 1, false>(n, y),
            (_, true) => self.rows::<8, true, 1, false>(n, y),
            (_, false) => self.rows::<8, false, 1, false>(n, y),
        }
    }

    /// A whole block of `S::ROWS` rows (`ROW_SCALE`: one group per row).
    #[inline(always)]
    fn block<const GPS: usize, const SYM: bool, const ROW_SCALE: bool>(
        &self,
        n: usize,
        y: &mut [f32],
    ) {
        if const { S::ROWS == 8 } {
            self.rows::<GPS, SYM, 8, ROW_SCALE>(n, y)
        } else {
            self.rows::<GPS, SYM, 4, ROW_SCALE>(n, y)
        }
    }

    /// Rows `n0 .. n0 + R` into `y[..R]`, with `GPS` groups per step and no zero-points
    /// when `SYM`; with `ROW_SCALE` (one group per row) each row's scale and zero-point
    /// are read once, and the scale multiplies the row's lanes once after the last step
    /// instead of every step's (one rounding per lane more or less, within the A8
    /// bound).
    #[inline(always)]
    fn rows<const GPS: usize, const SYM: bool, const R: usize, const ROW_SCALE: bool>(
        &self,
        n0: usize,
        y: &mut [f32],
    ) {
        if const { GPS > S::LANES } {
            unreachable!("more groups than lanes per step");
        }
        let (s, w, x) = (self.s, self.w, self.x);
        let (k, nrows) = (w.k(), w.n());
        assert!(y.len() == R && n0 + R <= nrows && x.k() == k);
        let steps = k / D::STEP;
        let nb = D::STEP / BLOCK;
        let prefetch = R > 1 && n0 + 2 * R <= nrows;
        let (sb0, sb1) = D::STEP_BYTES;
        let (rb0, rb1) = (w.row_bytes(0), w.row_bytes(1));
        let (p0, p1) = (w.plane(0).as_ptr(), w.plane(1).as_ptr());
        let gpr = w.groups_per_row();
        let ((scales, sbytes), zeros) = (w.scale_ptr(), w.zeros_ptr());
        let xs = x.scales();
        assert!(xs.len() >= steps * nb);
        // Every step's groups lie within its row (what `D::scales` relies on): the last
        // step's GPS groups end at or before the row's last group.
        assert!(steps == 0 || (((steps - 1) * D::STEP) >> self.gshift) + GPS <= gpr);
        let mut facc = [s.fzero(); R];
        let mut row_scale = [(s.fzero(), s.isplat(0)); R];
        if ROW_SCALE && steps > 0 {
            debug_assert_eq!(gpr, 1);
            for (r, rs) in row_scale.iter_mut().enumerate() {
                // SAFETY: n0 + r < N (asserted), step 0 exists (steps > 0), and its one
                // group is the row's.
                *rs = unsafe { D::scales::<GPS, SYM>(s, w, n0 + r, 0, self.gshift) };
            }
        }
        for st in 0..steps {
            if prefetch {
                // The next block of rows, front to back at the rate this block is read:
                // its codes (R x STEP_BYTES per step), scales and zero-points (at most
                // one per block).
                prefetch_rows(s, p0, rb0, n0 + R, R * sb0, st);
                if sb1 > 0 {
                    prefetch_rows(s, p1, rb1, n0 + R, R * sb1, st);
                }
                let spr = R * sbytes * nb.max(GPS);
                prefetch_rows(s, scales, sbytes * gpr, n0 + R, spr, st);
                if let Some(z) = zeros.filter(|_| !SYM) {
                    prefetch_rows(s, z, gpr, n0 + R, R * nb, st);
                }
            }
            let act = D::act(s, x, st);
            // SAFETY: the activation scales hold nb values per step beyond the last whole
            // one (asserted: they are padded to 256 elements).
            let mut sx = unsafe { s.fspread(xs.as_ptr().add(st * nb), nb) };
            if D::LANE_UNIT != 1.0 {
                sx = s.fmul(sx, s.fsplat(D::LANE_UNIT));
            }
            for (r, fa) in facc.iter_mut().enumerate() {
                let n = n0 + r;
                if ROW_SCALE {
                    // The row's scale multiplies the row's sum once, at the end.
                    // SAFETY: n < N (asserted) and (st + 1) STEP <= K.
                    let acc = unsafe { D::dot::<SYM>(s, w, n, st, &act, row_scale[r].1) };
                    *fa = s.fma(s.i2f(acc), sx, *fa);
                } else {
                    // SAFETY: n < N (asserted), (st + 1) STEP <= K, and the step's groups
                    // are within the row (asserted above).
                    let (sw, z) = unsafe { D::scales::<GPS, SYM>(s, w, n, st, self.gshift) };
                    // SAFETY: n < N (asserted) and (st + 1) STEP <= K.
                    let acc = unsafe { D::dot::<SYM>(s, w, n, st, &act, z) };
                    *fa = s.fma(s.i2f(acc), s.fmul(sw, sx), *fa);
                }
            }
        }
        for (r, (yv, mut fa)) in y.iter_mut().zip(facc).enumerate() {
            let n = n0 + r;
            if ROW_SCALE {
                fa = s.fmul(fa, row_scale[r].0);
            }
            let tail = D::tail(w, x, n, steps * nb);
            *yv = self.out.apply(n, s.fsum(fa) + tail, *yv);
        }
    }
}

/// Prefetches into L2 the part of the block of `r` rows from row `n_next` that step `st`
/// of the current block mirrors: `bytes` (= r x the bytes per row and step) from
/// `base + n_next * row + bytes * st`. Prefetches never fault, so the addresses need not
/// be in bounds (the last block prefetches past the end harmlessly).
#[inline(always)]
fn prefetch_rows<S: Simd>(
    s: S,
    base: *const u8,
    row: usize,
    n_next: usize,
    bytes: usize,
    st: usize,
) {
    let p = base.wrapping_add(n_next * row + bytes * st);
    for i in 0..bytes.div_ceil(64) {
        s.prefetch_l2(p.wrapping_add(64 * i));
    }
}

#[cfg(target_arch = "x86_64")]
impl A8Shape for crate::simd::avx2::Avx2 {
    // 16 ymm: 4 accumulators, the step's activations and the decode.
    const ROWS: usize = 4;
}

#[cfg(target_arch = "x86_64")]
impl<const VNNI: bool> A8Shape for crate::simd::avx512::Avx512<VNNI> {
    const ROWS: usize = 8;
}

#[cfg(target_arch = "aarch64")]
impl<const DOT: bool> A8Shape for crate::simd::neon::Neon<DOT> {
    const ROWS: usize = 4;
}
