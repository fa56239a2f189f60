//! Safe, validating GEMV entry points over the canonical layouts.

use core::ops::Range;

use lowbit_formats::error::check_len;
use lowbit_formats::int::IntMatrixRef;
use lowbit_formats::{Error, Result};

use crate::dispatch::Isa;
use crate::registry::{self, IntGemvFn, Kernel};

/// Checks the GEMV preconditions shared by every kernel family.
pub fn check_gemv_args(
    n: usize,
    k: usize,
    x_len: usize,
    rows: &Range<usize>,
    y_len: usize,
) -> Result<()> {
    check_len("x", k, x_len)?;
    if rows.start > rows.end || rows.end > n {
        return Err(Error::InvalidShape {
            what: format!(
                "row range {}..{} is not within 0..{n}",
                rows.start, rows.end
            ),
        });
    }
    check_len("y", rows.end - rows.start, y_len)
}

/// Panicking form of [`check_gemv_args`], for kernels whose soundness depends on it.
#[inline]
pub(crate) fn assert_gemv_args(w: &IntMatrixRef<'_>, x: &[f32], rows: &Range<usize>, y: &[f32]) {
    if let Err(e) = check_gemv_args(w.n(), w.k(), x.len(), rows, y.len()) {
        panic!("kernel precondition violated: {e}");
    }
}

/// `y[i] = sum_k W[rows.start + i, k] * x[k]` on the best kernel `isa` allows.
/// Returns the kernel that ran. `y` is written only if every check passes.
pub fn int_gemv(
    isa: Isa,
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
) -> Result<&'static Kernel<IntGemvFn>> {
    isa.require()?;
    check_gemv_args(w.n(), w.k(), x.len(), &rows, y.len())?;
    let bits = w.format().bits;
    let kernel = registry::select_int_gemv(isa, bits).ok_or_else(|| Error::Unsupported {
        what: format!("INT{bits} GEMV on {isa}"),
    })?;
    (kernel.run)(w, x, rows, y);
    Ok(kernel)
}

/// Panicking check of the A8 GEMV preconditions, for kernels whose soundness depends on
/// them (the activation length must equal `K`).
#[inline]
pub(crate) fn assert_a8_args(
    w: &IntMatrixRef<'_>,
    x: &crate::a8::A8Activations,
    rows: &Range<usize>,
    y: &[f32],
) {
    if let Err(e) = check_gemv_args(w.n(), w.k(), x.k(), rows, y.len()) {
        panic!("kernel precondition violated: {e}");
    }
}

/// Every A8 kernel's preconditions: the argument checks, its bit width and its ISA
/// (panics name the broken one; the kernels' memory safety depends on them).
pub(crate) fn assert_a8_kernel(
    w: &IntMatrixRef<'_>,
    x: &crate::a8::A8Activations,
    rows: &Range<usize>,
    y: &[f32],
    bits: u8,
    isa: Isa,
) {
    assert_a8_args(w, x, rows, y);
    assert_eq!(
        w.format().bits,
        bits,
        "INT{bits} kernel called on another width"
    );
    assert!(isa.is_available(), "{isa} kernel called without {isa}");
}

/// `y[i] = sum_k W[rows.start + i, k] * xq[k]` with activations quantized to int8 per
/// block of 32 ([`crate::a8::A8Activations`]), on the best integer-dot kernel `isa`
/// allows. Returns the kernel that ran. `y` is written only if every check passes.
pub fn int_gemv_a8(
    isa: Isa,
    w: &IntMatrixRef<'_>,
    x: &crate::a8::A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
) -> Result<&'static Kernel<registry::IntA8GemvFn>> {
    isa.require()?;
    check_gemv_args(w.n(), w.k(), x.k(), &rows, y.len())?;
    let bits = w.format().bits;
    let kernel = registry::select_int_a8_gemv(isa, bits).ok_or_else(|| Error::Unsupported {
        what: format!("INT{bits} x A8 GEMV on {isa}"),
    })?;
    (kernel.run)(w, x, rows, y);
    Ok(kernel)
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
    if rows.start > rows.end || rows.end > n {
        return Err(Error::InvalidShape {
            what: format!(
                "row range {}..{} is not within 0..{n}",
                rows.start, rows.end
            ),
        });
    }
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

/// Panicking form of [`check_gemm_args`], for kernels whose soundness depends on it.
#[inline]
pub(crate) fn assert_gemm_args(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: &Range<usize>,
    y: &[f32],
    ldy: usize,
) {
    if let Err(e) = check_gemm_args(w.n(), w.k(), x.len(), m, rows, y.len(), ldy) {
        panic!("kernel precondition violated: {e}");
    }
}

/// INT GEMM with f32 activations on the best kernel `isa` allows:
/// `y[mi*ldy + (n - rows.start)] = sum_k W[n,k] * x[mi*K + k]` for `mi < m`, `n` in `rows`.
///
/// `x` is row-major `[m][K]` (exactly `m * K` values); `y` is row-major with leading
/// dimension `ldy >= rows.len()` and at least `(m - 1) * ldy + rows.len()` values; the
/// `ldy - rows.len()` values after each output row are left untouched. Returns the kernel
/// that ran. `y` is written only if every check passes.
///
/// Every output depends only on its weight row and its activation row (see
/// [`crate::reference::int_gemm`]): results are bitwise identical for any `m`, row split
/// or thread count on one ISA, and the SIMD ISAs agree with each other bitwise.
pub fn int_gemm(
    isa: Isa,
    w: &IntMatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
) -> Result<&'static Kernel<registry::IntGemmFn>> {
    isa.require()?;
    check_gemm_args(w.n(), w.k(), x.len(), m, &rows, y.len(), ldy)?;
    let bits = w.format().bits;
    let kernel = registry::select_int_gemm(isa, bits).ok_or_else(|| Error::Unsupported {
        what: format!("INT{bits} GEMM on {isa}"),
    })?;
    (kernel.run)(w, x, m, rows, y, ldy);
    Ok(kernel)
}
