//! Safe, validating GEMV entry points over the canonical layouts.

use core::ops::Range;

use lowbit_formats::{Error, Result};

use crate::a8::A8Activations;
use crate::contract::{check_out, Out, Weights, Workspace};
use crate::dispatch::Isa;
use crate::registry::{self, Entry, GemmFn, GemvA8Fn, GemvF32, KernelKey};

pub use crate::contract::{check_gemm_args, check_gemv_args};

/// The kernel key of `w`, and `isa` checked.
fn key(isa: Isa, w: &Weights<'_>) -> Result<KernelKey> {
    isa.require()?;
    Ok(KernelKey::of(w))
}

/// The f32 GEMV entry `isa` selects for `w`.
pub fn select_gemv(isa: Isa, w: &Weights<'_>) -> Result<&'static Entry<GemvF32>> {
    let key = key(isa, w)?;
    registry::GEMV
        .select(isa, &key)
        .ok_or_else(|| Error::Unsupported {
            what: format!("{key:?} GEMV on {isa}"),
        })
}

/// `y[i] = sum_k W[rows.start + i, k] * x[k]` (written through `out`) on the best kernel
/// `isa` allows, reordering `x` into `ws` first where the kernel needs it. Returns the
/// kernel that ran. `y` is written only if every check passes.
pub fn gemv(
    isa: Isa,
    w: &Weights<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    out: &Out<'_>,
    ws: &mut Workspace,
) -> Result<&'static Entry<GemvF32>> {
    let e = select_gemv(isa, w)?;
    check_gemv_args(w.n(), w.k(), x.len(), &rows, y.len())?;
    check_out(w.n(), out)?;
    let xp = ws.f32s(x.len());
    let xp: &[f32] = if (e.run.prepare)(w, x, xp) { xp } else { x };
    (e.run.run)(w, xp, rows, y, out);
    Ok(e)
}

/// `y[i] = sum_k W[rows.start + i, k] * x8[k]` (written through `out`) with activations
/// quantized to int8 per block of 32 ([`A8Activations`]), on the best integer-dot kernel
/// `isa` allows. Returns the kernel that ran. `y` is written only if every check passes.
pub fn gemv_a8(
    isa: Isa,
    w: &Weights<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
    out: &Out<'_>,
) -> Result<&'static Entry<GemvA8Fn>> {
    let key = key(isa, w)?;
    check_gemv_args(w.n(), w.k(), x.k(), &rows, y.len())?;
    check_out(w.n(), out)?;
    let e = registry::GEMV_A8
        .select(isa, &key)
        .ok_or_else(|| Error::Unsupported {
            what: format!("{key:?} x A8 GEMV on {isa}"),
        })?;
    (e.run)(w, x, rows, y, out);
    Ok(e)
}

/// GEMM with f32 activations on the best kernel `isa` allows:
/// `y[mi*ldy + (n - rows.start)] = sum_k W[n,k] * x[mi*K + k]` for `mi < m`, `n` in `rows`,
/// written through `out`.
///
/// `x` is row-major `[m][K]` (exactly `m * K` values); `y` is row-major with leading
/// dimension `ldy >= rows.len()` and at least `(m - 1) * ldy + rows.len()` values; the
/// `ldy - rows.len()` values after each output row are left untouched. Returns the kernel
/// that ran. `y` is written only if every check passes.
///
/// Every output depends only on its weight row and its activation row (see
/// [`crate::reference::gemm`]): results are bitwise identical for any `m`, row split
/// or thread count on one ISA, and the SIMD ISAs agree with each other bitwise.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    isa: Isa,
    w: &Weights<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
    out: &Out<'_>,
) -> Result<&'static Entry<GemmFn>> {
    let key = key(isa, w)?;
    check_gemm_args(w.n(), w.k(), x.len(), m, &rows, y.len(), ldy)?;
    check_out(w.n(), out)?;
    let e = registry::GEMM
        .select(isa, &key)
        .ok_or_else(|| Error::Unsupported {
            what: format!("{key:?} GEMM on {isa}"),
        })?;
    (e.run)(w, x, m, rows, y, ldy, out);
    Ok(e)
}
