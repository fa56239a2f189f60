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
