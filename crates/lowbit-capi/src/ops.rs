//! GEMV with options and 16-bit activations, and GEMM, for owned matrices and views.

use std::ffi::c_void;

use lowbit_rs::{GemvOptions, MatrixRef, Precision};

use crate::boundary::{ref_in, slice_in, slice_out, status_call, value_call, Fail, Span};
use crate::isa::{isa_of_code, LOWBIT_ISA_NO_CAP};
use crate::matrix::{handle, lowbit_matrix};
use crate::status::lowbit_status;
use crate::view::{bf16_slice, f16_slice, lowbit_int_view, matrix_ref, matrix_spans};

/// `x_type` of `lowbit_gemv_ex()`: `x` holds `float`s (4-byte aligned).
pub const LOWBIT_ACT_F32: i32 = 0;
/// `x_type` of `lowbit_gemv_ex()`: `x` holds IEEE binary16 values as their `uint16_t`
/// bits (2-byte aligned), widened exactly to f32.
pub const LOWBIT_ACT_F16: i32 = 1;
/// `x_type` of `lowbit_gemv_ex()`: `x` holds bfloat16 values as their `uint16_t` bits
/// (2-byte aligned), widened exactly to f32.
pub const LOWBIT_ACT_BF16: i32 = 2;

/// `lowbit_gemv_options.precision`: multiply the activations as given, in f32 (never
/// quantizes them). The default.
pub const LOWBIT_PRECISION_F32: u32 = 0;
/// `lowbit_gemv_options.precision`: the call may quantize the activations to int8 per
/// block of 32 (scale `amax / 127` per block, so each activation moves by at most half
/// its block's scale) and use integer dot products where a kernel for the format exists
/// at the ISA in use; otherwise it runs as `LOWBIT_PRECISION_F32`.
pub const LOWBIT_PRECISION_ALLOW_A8: u32 = 1;

/// Options of `lowbit_gemv_ex()` and `lowbit_gemm()`. Passing NULL instead of a pointer
/// to options means the defaults: `{ LOWBIT_ISA_NO_CAP, LOWBIT_PRECISION_F32, 0, 0 }`
/// (note that a zero-initialized struct asks for `LOWBIT_ISA_SCALAR`);
/// `lowbit_gemv_options_default()` returns them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub struct lowbit_gemv_options {
    /// An ISA code (`lowbit_isa`) to run on (or the best lower kernel of its family), or
    /// `LOWBIT_ISA_NO_CAP` (-1) for `lowbit_isa_active()`'s. An unknown code is
    /// `LOWBIT_ERR_UNKNOWN_ISA`, one this CPU lacks `LOWBIT_ERR_ISA_UNAVAILABLE`.
    pub isa: i32,
    /// `LOWBIT_PRECISION_F32` or `LOWBIT_PRECISION_ALLOW_A8`; any other value is
    /// `LOWBIT_ERR_INVALID_PARAMETER`.
    pub precision: u32,
    /// 1: compute on the calling thread; 0: split rows over lowbit's thread pool.
    /// Results are bitwise identical either way. Other values are invalid.
    pub single_thread: u32,
    /// Reserved, must be 0.
    pub reserved: u32,
}

/// The defaults, what NULL options mean.
pub(crate) const DEFAULT_OPTIONS: lowbit_gemv_options = lowbit_gemv_options {
    isa: LOWBIT_ISA_NO_CAP,
    precision: LOWBIT_PRECISION_F32,
    single_thread: 0,
    reserved: 0,
};

/// The default options, the same as passing NULL: the active ISA, f32 precision, rows
/// split over lowbit's thread pool. Start from these and change fields.
#[no_mangle]
pub extern "C" fn lowbit_gemv_options_default() -> lowbit_gemv_options {
    value_call("lowbit_gemv_options_default", DEFAULT_OPTIONS, || {
        DEFAULT_OPTIONS
    })
}

/// Converts C options (NULL = defaults) into the Rust ones, checking every field.
///
/// # Safety
///
/// `opts` must be NULL or point to a `lowbit_gemv_options`.
unsafe fn options(opts: *const lowbit_gemv_options) -> Result<GemvOptions, Fail> {
    if opts.is_null() {
        return Ok(GemvOptions::default());
    }
    // SAFETY: the caller guarantees `opts` points to options; every bit pattern of the
    // struct (four 32-bit integers) is valid.
    let o = unsafe { ref_in("opts", opts) }?;
    let bad = |what: String| Fail::Lib(lowbit_rs::Error::InvalidParameter { what });
    if o.reserved != 0 {
        return Err(bad(format!(
            "lowbit_gemv_options.reserved must be 0, not {}",
            o.reserved
        )));
    }
    let isa = if o.isa == LOWBIT_ISA_NO_CAP {
        None
    } else {
        Some(
            isa_of_code(o.isa).ok_or_else(|| lowbit_rs::Error::UnknownIsa {
                name: format!("code {}", o.isa),
            })?,
        )
    };
    let precision = match o.precision {
        LOWBIT_PRECISION_F32 => Precision::F32,
        LOWBIT_PRECISION_ALLOW_A8 => Precision::AllowA8,
        p => return Err(bad(format!("unknown precision {p}"))),
    };
    let single_thread = match o.single_thread {
        0 => false,
        1 => true,
        s => return Err(bad(format!("single_thread must be 0 or 1, not {s}"))),
    };
    Ok(GemvOptions {
        isa,
        precision,
        single_thread,
    })
}

/// The body of the `gemv_ex` entry points.
///
/// # Safety
///
/// `x` must be NULL or valid for reads of `x_len` elements of `x_type`, `y` NULL or valid
/// for reads and writes of `y_len` floats, and `opts` NULL or pointing to options, during
/// the call; `w`'s buffers stay valid for the call.
unsafe fn gemv_ex(
    w: MatrixRef<'_>,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let opts = unsafe { options(opts) }?;
    let [a, b, c, d] = matrix_spans(&w);
    match x_type {
        LOWBIT_ACT_F32 => {
            // SAFETY: forwarded from this function's contract (`x_type` says floats).
            let x = unsafe { slice_in("x", x.cast::<f32>(), x_len) }?;
            let inputs = [Span::of("x", x), a, b, c, d];
            // SAFETY: forwarded from this function's contract; `slice_out` checks that
            // `y` overlaps none of the buffers borrowed for reading.
            let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
            lowbit_rs::gemv_with(w, x, y, &opts)?;
        }
        LOWBIT_ACT_F16 | LOWBIT_ACT_BF16 => {
            // SAFETY: forwarded from this function's contract (`x_type` says 16-bit
            // values, read as their bits).
            let x = unsafe { slice_in("x", x.cast::<u16>(), x_len) }?;
            let inputs = [Span::of("x", x), a, b, c, d];
            // SAFETY: as above.
            let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
            if x_type == LOWBIT_ACT_F16 {
                lowbit_rs::gemv_f16(w, f16_slice(x), y, &opts)?;
            } else {
                lowbit_rs::gemv_bf16(w, bf16_slice(x), y, &opts)?;
            }
        }
        t => {
            return Err(Fail::Lib(lowbit_rs::Error::InvalidParameter {
                what: format!(
                    "unknown x_type {t} (LOWBIT_ACT_F32 = 0, LOWBIT_ACT_F16 = 1, \
                     LOWBIT_ACT_BF16 = 2)"
                ),
            }))
        }
    }
    Ok(())
}

/// The body of the `gemm` entry points.
///
/// # Safety
///
/// `x` must be NULL or valid for reads of `x_len` floats, `y` NULL or valid for reads and
/// writes of `y_len` floats, and `opts` NULL or pointing to options, during the call;
/// `w`'s buffers stay valid for the call.
unsafe fn gemm(
    w: MatrixRef<'_>,
    x: *const f32,
    m: usize,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let opts = unsafe { options(opts) }?;
    // SAFETY: forwarded from this function's contract.
    let x = unsafe { slice_in("x", x, x_len) }?;
    let [a, b, c, d] = matrix_spans(&w);
    let inputs = [Span::of("x", x), a, b, c, d];
    // SAFETY: forwarded from this function's contract; `slice_out` checks that `y`
    // overlaps none of the buffers borrowed for reading.
    let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
    lowbit_rs::gemm_with(w, x, m, y, &opts)?;
    Ok(())
}

/// `y = W x` with options and a choice of activation type. `x` has `k` elements of
/// `x_type` (`LOWBIT_ACT_F32`: floats, 4-byte aligned; `LOWBIT_ACT_F16` /
/// `LOWBIT_ACT_BF16`: `uint16_t` bits, 2-byte aligned, widened exactly to f32), `y` has
/// `n` floats. `opts` NULL means the defaults (as `lowbit_gemv()`). An unknown `x_type`,
/// precision, `single_thread` value or a nonzero `reserved` is
/// `LOWBIT_ERR_INVALID_PARAMETER`. With `LOWBIT_PRECISION_F32` the result equals
/// `lowbit_gemv()` on the widened activations, bit for bit. `y` must not overlap `x`.
/// `y` is written only on success.
///
/// # Safety
///
/// `m` must be NULL or a live handle; `x` must be NULL or valid for reading `x_len`
/// elements of `x_type`; `y` must be NULL or valid for reading and writing `y_len`
/// floats; `opts` must be NULL or point to a `lowbit_gemv_options`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemv_ex(
    m: *const lowbit_matrix,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_gemv_ex", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemv_ex` requires.
        unsafe { gemv_ex(m.inner.view(), x, x_len, x_type, y, y_len, opts) }
    })
}

/// `y = W x` for a view, with options and a choice of activation type: as
/// `lowbit_gemv_ex()`. `y` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemv_ex()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemv_ex(
    view: *const lowbit_int_view,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_view_gemv_ex", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemv_ex` requires.
        unsafe { gemv_ex(w, x, x_len, x_type, y, y_len, opts) }
    })
}

/// `Y = X W^T` for `m` activation rows: `x` is row-major `[m][K]` floats
/// (`x_len = m * K`), `y` row-major `[m][N]` (`y_len = m * N`):
/// `y[i*N + r] = sum_j W[r][j] * x[i*K + j]`. Row `i` of `y` equals `lowbit_gemv_ex()`
/// of row `i` of `x` up to float summation order (exactly for `m = 1`, and for every row
/// when the A8 path is taken). `m = 0` with empty buffers is a no-op. `opts` NULL means
/// the defaults. `y` must not overlap `x`. `y` is written only on success.
///
/// # Safety
///
/// `w` must be NULL or a live handle; `x` must be NULL or valid for reading `x_len`
/// floats; `y` must be NULL or valid for reading and writing `y_len` floats; `opts` must
/// be NULL or point to a `lowbit_gemv_options`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemm(
    w: *const lowbit_matrix,
    x: *const f32,
    m: usize,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_gemm", || {
        // SAFETY: the caller guarantees `w` is NULL or a live handle.
        let w = unsafe { handle(w) }?;
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemm` requires.
        unsafe { gemm(w.inner.view(), x, m, x_len, y, y_len, opts) }
    })
}

/// `Y = X W^T` for a view: as `lowbit_gemm()`. `y` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemm()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemm(
    view: *const lowbit_int_view,
    x: *const f32,
    m: usize,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_view_gemm", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemm` requires.
        unsafe { gemm(w, x, m, x_len, y, y_len, opts) }
    })
}
