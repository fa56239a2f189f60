//! Decode steps, one per format and operation: how the packed bytes of a chunk become
//! lanes the drivers multiply, with the chunk's scales and zero-points. Each is generic
//! over the vector trait ([`crate::simd::Simd`]) where the ISAs can share it, or written
//! per ISA where their instructions differ; the drivers ([`crate::driver`]) call them.
//!
//! - [`A8Decode`]: a step of one row into exact i32 lanes of `sum (q - z) * x8` against
//!   int8 activations (integer dot products), with the step's per-lane scales.
//! - [`GemvDecode`]: a chunk of one row into f32 lanes in the order the activations were
//!   reordered to (the f32 GEMV).
//! - [`GemmDecode`]: lanes are weight rows (the batched GEMM's layout): code `t` of each
//!   lane's dword of 16 transposed bytes, dequantized exactly.

use core::ops::Range;

use crate::a8::A8Activations;
use crate::contract::Weights;
use crate::driver::gemm::{RowGroup, GPC};
use crate::simd::{Dot, Simd};

pub(crate) mod fp;
pub(crate) mod fp4;
pub(crate) mod fp6;
#[cfg(target_arch = "x86_64")]
pub(crate) mod fp8;
pub(crate) mod int;
#[cfg(target_arch = "aarch64")]
mod int_neon;
pub(crate) mod ovp;

/// What the drivers read of a matrix's shape and code planes.
pub(crate) trait Planar<'a>: Copy {
    /// Rows, columns, elements per group and groups per row.
    fn dims(&self) -> [usize; 4];
    /// Rows.
    #[inline(always)]
    fn n(&self) -> usize {
        self.dims()[0]
    }
    /// Columns.
    #[inline(always)]
    fn k(&self) -> usize {
        self.dims()[1]
    }
    /// Elements per group.
    #[inline(always)]
    fn group_len(&self) -> usize {
        self.dims()[2]
    }
    /// Groups per row.
    #[inline(always)]
    fn groups_per_row(&self) -> usize {
        self.dims()[3]
    }
    /// Code plane `i` (0: the main plane; 1: the second plane, or empty).
    fn plane(&self, i: usize) -> &'a [u8];
    /// Bytes per row of plane `i` (0 when there is no such plane).
    fn row_bytes(&self, i: usize) -> usize;
    /// Where the per-group scales start, and bytes per scale (for prefetching only).
    fn scale_ptr(&self) -> (*const u8, usize);
    /// Where the per-group zero-points start (one byte each), if there are any.
    fn zeros_ptr(&self) -> Option<*const u8>;
}

/// The batched GEMM's decode step: weights of `LANES` rows at once (lane `i` = row
/// `rg.rows[i]`), from 16-byte blocks of plane 0 (and 8-byte blocks of plane 1)
/// transposed to dwords by [`Simd::rows16`] / [`Simd::rows8`].
pub(crate) trait GemmDecode<S: Simd> {
    /// The view the decode reads.
    type W<'a>: Planar<'a>;
    /// The view of `w` (panics when `w` is another format: a registry precondition).
    fn view<'a>(w: &Weights<'a>) -> Self::W<'a>;
    /// Bits per code in plane 0.
    const MAIN_BITS: usize;
    /// Bits per code in plane 1 (0: no second plane).
    const PLANE1_BITS: usize;
    /// Whether the codes have a second plane.
    const PLANE1: bool = Self::PLANE1_BITS > 0;
    /// Codes per 16-byte block of plane 0.
    const CODES_PER_BLOCK: usize = 128 / Self::MAIN_BITS;
    /// Byte offsets of element `k` (a multiple of 8) in a row of plane 0 and of plane 1.
    #[inline(always)]
    fn block_bytes(k: usize) -> (usize, usize) {
        (k * Self::MAIN_BITS / 8, k * Self::PLANE1_BITS / 8)
    }
    /// Per-lane decode parameters of groups `j0 .. j0 + nj` (`nj <= GPC`) of the row group,
    /// into `out[..nj]`.
    fn params(
        s: S,
        w: &Self::W<'_>,
        rg: &RowGroup,
        j0: usize,
        nj: usize,
        out: &mut [(S::F, S::F); GPC],
    );
    /// The lanes' weights of code `t` of dword `c` of a block: `lo` is the block's plane-0
    /// dword `c`, `hi` its plane-1 dword `c / 2`; `p` the group's parameters.
    fn weight(s: S, lo: S::I, hi: S::I, ct: (usize, usize), p: (S::F, S::F)) -> S::F;
    /// Weight `(n, k)` exactly as [`GemmDecode::weight`] computes it (tails).
    fn scalar(w: &Self::W<'_>, n: usize, k: usize) -> f32;
}

/// The f32 GEMV's decode step: one chunk of `CHUNK` elements of a row into `PARTS`
/// vectors of weights (`PARTS * LANES == CHUNK`), vector `v` meeting activations
/// `kc + v*LANES ..` of the reordered activations ([`crate::driver::gemv::prepare`]).
pub(crate) trait GemvDecode<S: Simd> {
    /// The view the decode reads.
    type W<'a>: Planar<'a>;
    /// The view of `w` (panics when `w` is another format: a registry precondition).
    fn view<'a>(w: &Weights<'a>) -> Self::W<'a>;
    /// Elements per chunk.
    const CHUNK: usize;
    /// Weight vectors per chunk (at most 8).
    const PARTS: usize;
    /// Codes per byte (1: the activations are used as given).
    const PER_BYTE: usize;
    /// Elements per run of the reordering: `x[P*i + t]` moves to `t*(RUN/P) + i`.
    const RUN: usize;
    /// Whether [`GemvDecode::decode`] applies the group's scale (else the driver scales
    /// each group's sum).
    const PRESCALED: bool;
    /// Per (row, group) decode state.
    type Tbl: Copy;
    /// Byte offsets of element `k` (a chunk start) in a row of plane 0 and of plane 1.
    fn chunk_bytes(k: usize) -> (usize, usize);
    /// The scales of groups `j0 .. j0 + out.len()` of row `n`, as f32.
    fn scales(s: S, w: &Self::W<'_>, n: usize, j0: usize, out: &mut [f32]);
    /// The zero-points of groups `j0 .. j0 + out.len()` of row `n`, as f32 (a format with
    /// zero-points).
    fn zeros(s: S, w: &Self::W<'_>, n: usize, j0: usize, out: &mut [f32]);
    /// The decode state of a group with scale `scale` and zero-point `zero` (with `SYM`,
    /// the format's symmetric zero-point, and `zero` is ignored).
    fn table<const SYM: bool>(s: S, scale: f32, zero: f32) -> Self::Tbl;
    /// The chunk's weights (unscaled unless `PRESCALED`); vectors past `PARTS` are unused.
    ///
    /// # Safety
    /// The chunk's bytes must be readable: `chunk_bytes(CHUNK).0` bytes at `p0`, and
    /// `chunk_bytes(CHUNK).1` at `p1`.
    unsafe fn decode(s: S, p0: *const u8, p1: *const u8, tb: &Self::Tbl) -> [S::F; 8];
    /// `sum_{k in ks} (unscaled weight(n, k)) * x[k]`, element by element, for the part of
    /// group `j` after its last whole chunk.
    fn tail(w: &Self::W<'_>, n: usize, j: usize, ks: Range<usize>, x: &[f32]) -> f32;
}

/// The A8 GEMV's decode step: `STEP` elements of a row (whole blocks of 32) against the
/// int8 activations, as `LANES` exact i32 lanes; lane `l` covers `STEP / LANES`
/// consecutive elements, so block `b` of the step is lanes `b * LPB .. (b + 1) * LPB` with
/// `LPB = LANES * 32 / STEP`.
pub(crate) trait A8Decode<S: Dot> {
    /// The view the decode reads.
    type W<'a>: Planar<'a>;
    /// The view of `w` (panics when `w` is another format: a registry precondition).
    fn view<'a>(w: &Weights<'a>) -> Self::W<'a>;
    /// Elements per step: a multiple of 32, at most 256 (the activations' padding).
    const STEP: usize;
    /// Bytes per row and step of planes 0 and 1 (what the prefetch of the next row block
    /// covers).
    const STEP_BYTES: (usize, usize);
    /// What one unit of the integer lanes stands for, per unit of weight scale: a power
    /// of two (exact) for formats whose decode multiplies every code to make it an
    /// integer (FP4 doubles, FP6 E2M3 multiplies by 8). The driver folds it into the
    /// step's activation scales, once for all rows.
    const LANE_UNIT: f32 = 1.0;
    /// The activation vectors of one step, shared by every row.
    type Act: Copy;
    /// The activations of step `st` (`(st + 1) * STEP` within the activations' padding).
    fn act(s: S, x: &A8Activations, st: usize) -> Self::Act;
    /// Row `n`'s lanes of step `st`: `sum (q - z) * x8` over each lane's elements, exactly.
    /// `z` holds the lanes' zero-points; with `SYM` the format's symmetric zero is used
    /// and `z` is ignored.
    ///
    /// # Safety
    /// `n < N` and `(st + 1) * STEP <= K`.
    unsafe fn dot<const SYM: bool>(
        s: S,
        w: &Self::W<'_>,
        n: usize,
        st: usize,
        act: &Self::Act,
        z: S::I,
    ) -> S::I;
    /// Row `n`'s sum over blocks `first_block ..` to the end of the row, exactly as the
    /// reference sums it (the blocks after the last whole step).
    fn tail(w: &Self::W<'_>, x: &A8Activations, n: usize, first_block: usize) -> f32;
    /// Row `n`'s weight scales and zero-points of step `st`, per lane: the step's
    /// `GPS` groups (`GPS = max(1, STEP / g)`, or 1 for per-row groups) start at group
    /// `(st * STEP) >> gshift`. With `SYM` the zero-points are not read (0).
    ///
    /// # Safety
    /// `n < N`, `(st + 1) * STEP <= K`, and `GPS` and `gshift` as above (so the step's
    /// groups lie within row `n`'s).
    unsafe fn scales<const GPS: usize, const SYM: bool>(
        s: S,
        w: &Self::W<'_>,
        n: usize,
        st: usize,
        gshift: u32,
    ) -> (S::F, S::I);
}
