//! What every kernel may assume, below the kernels: the argument checks (fallible for the
//! entry points, asserting inside the kernels whose memory safety rests on them), the
//! kernel-side view of a weight matrix ([`Weights`]), how results are written
//! ([`Out`]) and the scratch memory a caller lends ([`Workspace`]).

use core::ops::Range;

use lowbit_formats::error::check_len;
use lowbit_formats::fp::FpMatrixRef;
use lowbit_formats::int::IntMatrixRef;
use lowbit_formats::{Error, Result};

use crate::a8::A8Activations;
use crate::dispatch::Variant;

/// A weight matrix as the kernels see it: one variant per format family, each a
/// validated view in its canonical layout (so every length is already checked).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Weights<'a> {
    /// INT-b with f16 scales and optional zero-points per group.
    Int(IntMatrixRef<'a>),
    /// FP4 E2M1 with an f16 or E8M0 scale per group.
    Fp(FpMatrixRef<'a>),
}

impl<'a> Weights<'a> {
    /// Rows (output channels).
    #[inline]
    pub fn n(&self) -> usize {
        match self {
            Weights::Int(w) => w.n(),
            Weights::Fp(w) => w.n(),
        }
    }
    /// Columns (the reduction length).
    #[inline]
    pub fn k(&self) -> usize {
        match self {
            Weights::Int(w) => w.k(),
            Weights::Fp(w) => w.k(),
        }
    }
    /// Elements per scale along `K`.
    #[inline]
    pub fn group_len(&self) -> usize {
        match self {
            Weights::Int(w) => w.layout().group_len,
            Weights::Fp(w) => w.layout().group_len,
        }
    }
    /// The INT view, if these are INT weights.
    #[inline]
    pub fn as_int(&self) -> Option<&IntMatrixRef<'a>> {
        match self {
            Weights::Int(w) => Some(w),
            _ => None,
        }
    }
    /// The INT bit width, if these are INT weights.
    #[inline]
    pub fn int_bits(&self) -> Option<u8> {
        self.as_int().map(|w| w.format().bits)
    }
    /// Bytes of weight data one pass over the matrix reads.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Weights::Int(w) => w.layout().weight_bytes(),
            Weights::Fp(w) => w.layout().weight_bytes(),
        }
    }
}

/// How a kernel writes output `i` (row `n = rows.start + i`, value `v` computed from the
/// weights and activations): `y[i] = v`, then `+ bias[n]` when there is a bias, then
/// `y_old + that` when accumulating. `bias`, when given, holds `N` values (indexed by the
/// row, whatever the row range).
#[derive(Debug, Clone, Copy, Default)]
pub struct Out<'b> {
    /// Add to `y` instead of overwriting it.
    pub accumulate: bool,
    /// A bias per output row (`N` values).
    pub bias: Option<&'b [f32]>,
}

impl Out<'_> {
    /// Overwrite `y`, no bias.
    pub const STORE: Out<'static> = Out {
        accumulate: false,
        bias: None,
    };

    /// The final value of an output: `v (+ bias[n]) (+ old)`.
    #[inline(always)]
    pub fn apply(&self, n: usize, v: f32, old: f32) -> f32 {
        let v = match self.bias {
            Some(b) => v + b[n],
            None => v,
        };
        if self.accumulate {
            old + v
        } else {
            v
        }
    }
}

/// Scratch memory a caller lends the kernels (the f32 GEMV's reordered activations):
/// kernels never allocate except to grow a workspace that is too small, so a caller that
/// keeps one per thread allocates only on the first call of a new, larger shape.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    f32s: Vec<f32>,
}

impl Workspace {
    /// An empty workspace (it grows on first use).
    pub const fn new() -> Self {
        Workspace { f32s: Vec::new() }
    }
    /// `len` f32 of scratch (contents unspecified) starting on a 64-byte boundary (so
    /// full-width vector loads from it never split a cache line), growing the workspace
    /// if needed.
    pub fn f32s(&mut self, len: usize) -> &mut [f32] {
        if self.f32s.len() < len + 16 {
            self.f32s.resize(len + 16, 0.0);
        }
        let skip = self.f32s.as_ptr().align_offset(64).min(16);
        &mut self.f32s[skip..skip + len]
    }
    /// Bytes held.
    pub fn capacity_bytes(&self) -> usize {
        self.f32s.capacity() * 4
    }
}

/// Checks the GEMV preconditions shared by every kernel family.
pub fn check_gemv_args(
    n: usize,
    k: usize,
    x_len: usize,
    rows: &Range<usize>,
    y_len: usize,
) -> Result<()> {
    check_len("x", k, x_len)?;
    check_rows(n, rows)?;
    check_len("y", rows.end - rows.start, y_len)
}

/// Checks that `rows` lies within `0..n`.
pub fn check_rows(n: usize, rows: &Range<usize>) -> Result<()> {
    if rows.start > rows.end || rows.end > n {
        return Err(Error::InvalidShape {
            what: format!(
                "row range {}..{} is not within 0..{n}",
                rows.start, rows.end
            ),
        });
    }
    Ok(())
}

/// Checks an output's bias: `N` values when present.
pub fn check_out(n: usize, out: &Out<'_>) -> Result<()> {
    match out.bias {
        Some(b) => check_len("bias", n, b.len()),
        None => Ok(()),
    }
}

/// Checks the GEMM preconditions: `x.len() == m * K`, `rows` within `0..N`,
/// `ldy >= rows.len()` and, when `m > 0`, `y.len() >= (m - 1) * ldy + rows.len()`
/// (with `m == 0` any `y`, even empty, is accepted and nothing is written).
pub fn check_gemm_args(
    n: usize,
    k: usize,
    x_len: usize,
    m: usize,
    rows: &Range<usize>,
    y_len: usize,
    ldy: usize,
) -> Result<()> {
    let too_big = || Error::InvalidShape {
        what: format!("M = {m} activation rows are too large to address"),
    };
    check_len("x", m.checked_mul(k).ok_or_else(too_big)?, x_len)?;
    check_rows(n, rows)?;
    let nr = rows.end - rows.start;
    if ldy < nr {
        return Err(Error::InvalidShape {
            what: format!("ldy = {ldy} is smaller than the {nr} rows of the row range"),
        });
    }
    if m == 0 {
        return Ok(());
    }
    let need = (m - 1)
        .checked_mul(ldy)
        .and_then(|v| v.checked_add(nr))
        .ok_or_else(too_big)?;
    if y_len < need {
        return Err(Error::BufferLength {
            what: "y",
            expected: need,
            got: y_len,
        });
    }
    Ok(())
}

/// Panics with the broken precondition (kernels call these before any unsafe access).
fn hold(r: Result<()>) {
    if let Err(e) = r {
        panic!("kernel precondition violated: {e}");
    }
}

/// Every precondition of an f32 GEMV kernel: arguments, output and the variant.
pub(crate) fn assert_gemv(
    w: &Weights<'_>,
    x: &[f32],
    rows: &Range<usize>,
    y: &[f32],
    out: &Out<'_>,
    variant: Variant,
) {
    hold(check_gemv_args(w.n(), w.k(), x.len(), rows, y.len()));
    hold(check_out(w.n(), out));
    assert_variant(variant);
}

/// Every precondition of an A8 GEMV kernel: arguments, output and the variant.
pub(crate) fn assert_gemv_a8(
    w: &Weights<'_>,
    x: &A8Activations,
    rows: &Range<usize>,
    y: &[f32],
    out: &Out<'_>,
    variant: Variant,
) {
    hold(check_gemv_args(w.n(), w.k(), x.k(), rows, y.len()));
    hold(check_out(w.n(), out));
    assert_variant(variant);
}

/// Every precondition of a GEMM kernel: arguments, output and the variant.
#[allow(clippy::too_many_arguments)]
pub(crate) fn assert_gemm(
    w: &Weights<'_>,
    x: &[f32],
    m: usize,
    rows: &Range<usize>,
    y: &[f32],
    ldy: usize,
    out: &Out<'_>,
    variant: Variant,
) {
    hold(check_gemm_args(
        w.n(),
        w.k(),
        x.len(),
        m,
        rows,
        y.len(),
        ldy,
    ));
    hold(check_out(w.n(), out));
    assert_variant(variant);
}

fn assert_variant(variant: Variant) {
    assert!(
        variant.is_available(),
        "{variant} kernel called on a CPU without {variant}"
    );
}

/// The FP4 view of `w` (panics otherwise).
#[inline]
pub(crate) fn fp_weights<'a>(w: &Weights<'a>) -> FpMatrixRef<'a> {
    match w {
        Weights::Fp(m) => *m,
        _ => panic!("kernel precondition violated: an FP4 kernel got other weights"),
    }
}

/// The INT view of `w` with the bit width a kernel was written for (panics otherwise).
#[inline]
pub(crate) fn int_weights<'a>(w: &Weights<'a>, bits: u8) -> IntMatrixRef<'a> {
    match w.as_int() {
        Some(m) if m.format().bits == bits => *m,
        Some(m) => panic!(
            "kernel precondition violated: an INT{bits} kernel got INT{} weights",
            m.format().bits
        ),
        None => panic!("kernel precondition violated: an INT{bits} kernel got other weights"),
    }
}
