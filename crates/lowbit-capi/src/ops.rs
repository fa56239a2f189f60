//! GEMV with options and 16-bit activations, and GEMM, for owned matrices and views.

use core::ops::Range;
use std::ffi::{c_char, c_void};

use lowbit_rs::{GemvOptions, MatrixRef, Precision};

use std::sync::{Mutex, TryLockError};

use crate::boundary::{
    ref_in, slice_in, slice_out, static_str, status_call, value_call, Fail, OutPtr, Span,
};
use crate::isa::{isa_choice, lowbit_isa};
use crate::matrix::{handle, lowbit_matrix};
use crate::status::lowbit_status;
use crate::view::{
    bf16_slice, f16_slice, fp_matrix_ref, lowbit_fp_view, lowbit_int_view, matrix_ref, matrix_spans,
};

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
/// `lowbit_gemv_options.precision`: W4A4 (OliVe): the call may quantize the activations
/// with the OVP-4 codec of `lowbit_activations_quantize_ovp4()` and use the same integer
/// dot products as `LOWBIT_PRECISION_ALLOW_A8`; otherwise it runs as
/// `LOWBIT_PRECISION_F32`. The activation error is OVP-4's, far above A8's.
pub const LOWBIT_PRECISION_ALLOW_A4_OVP: u32 = 2;

/// Options of the calls that take them (`lowbit_gemv_ex()`, `lowbit_gemv_rows_ex()`,
/// `lowbit_gemm()`, `lowbit_gemm_rows()`, `lowbit_gemv_rows_a8_ex()` and their view
/// variants). Passing NULL means all defaults, and so does a zero-initialized struct
/// (`lowbit_gemv_options opts = {0};`): the active ISA, f32 precision, rows split over
/// lowbit's thread pool, `y = W x`, no bias, scratch allocated per call.
/// `lowbit_gemv_options_default()` returns them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub struct lowbit_gemv_options {
    /// `LOWBIT_ISA_AUTO` (0): the active ISA (`lowbit_isa_active()`); else an ISA code to
    /// run on (lowered to the active ISA when above it, and to the best kernel of the
    /// format at or below it). An unknown code is `LOWBIT_ERR_UNKNOWN_ISA`, one this CPU
    /// lacks `LOWBIT_ERR_ISA_UNAVAILABLE`.
    pub isa: i32,
    /// `LOWBIT_PRECISION_F32` (0) or `LOWBIT_PRECISION_ALLOW_A8`; any other value is
    /// `LOWBIT_ERR_INVALID_PARAMETER`.
    pub precision: u32,
    /// 1: compute on the calling thread; 0: split rows over lowbit's thread pool.
    /// Results are bitwise identical either way. Other values are invalid.
    pub single_thread: u32,
    /// 0: `y = W x (+ bias)`; 1: `y += W x (+ bias)`. Other values are invalid. GEMV
    /// (and the A8 path of GEMM) rounds as `y_old + (W x + bias)`; the batched f32 GEMM
    /// kernels start each output's chain of fused multiply-adds from `y_old` and add the
    /// bias last.
    pub accumulate: u32,
    /// NULL, or a bias per output row: `bias_len` must then be N (indexed by the row,
    /// also for row-range calls). It must not overlap `y`.
    pub bias: *const f32,
    /// The length of `bias` (0 when `bias` is NULL).
    pub bias_len: usize,
    /// NULL (the call allocates its scratch), or a workspace from
    /// `lowbit_workspace_new()`: the call then allocates nothing once the workspace has
    /// grown to the shape. A workspace serves one call at a time: a call that finds it in
    /// use by another thread fails with `LOWBIT_ERR_INVALID_PARAMETER`.
    pub workspace: *mut lowbit_workspace,
}

/// The defaults, what NULL options mean (all zero).
pub(crate) const DEFAULT_OPTIONS: lowbit_gemv_options = lowbit_gemv_options {
    isa: lowbit_isa::LOWBIT_ISA_AUTO as i32,
    precision: LOWBIT_PRECISION_F32,
    single_thread: 0,
    accumulate: 0,
    bias: core::ptr::null(),
    bias_len: 0,
    workspace: core::ptr::null_mut(),
};

/// The default options, the same as passing NULL or a zero-initialized struct. Start
/// from these and change fields.
#[no_mangle]
pub extern "C" fn lowbit_gemv_options_default() -> lowbit_gemv_options {
    value_call("lowbit_gemv_options_default", DEFAULT_OPTIONS, || {
        DEFAULT_OPTIONS
    })
}

/// Scratch memory kept between calls (reordered, quantized or widened activations,
/// staging of batched outputs), opaque to C. Create it with `lowbit_workspace_new()`,
/// pass it in `lowbit_gemv_options.workspace`, release it with `lowbit_workspace_free()`.
/// Keep one per thread: a workspace serves one call at a time.
#[allow(non_camel_case_types)]
pub struct lowbit_workspace {
    inner: Mutex<lowbit_rs::Workspace>,
}

/// Creates an empty workspace and stores its handle in `*out` (it grows on first use).
///
/// # Safety
///
/// `out` must be NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn lowbit_workspace_new(out: *mut *mut lowbit_workspace) -> lowbit_status {
    status_call("lowbit_workspace_new", || {
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let ws = lowbit_workspace {
            inner: Mutex::new(lowbit_rs::Workspace::new()),
        };
        out.write(Box::into_raw(Box::new(ws)));
        Ok(())
    })
}

/// Bytes a workspace holds (0 for NULL).
///
/// # Safety
///
/// `ws` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lowbit_workspace_bytes(ws: *const lowbit_workspace) -> usize {
    value_call("lowbit_workspace_bytes", 0, || {
        // SAFETY: the caller guarantees `ws` is NULL or a live handle.
        match unsafe { ref_in("workspace", ws) } {
            Ok(w) => w.inner.try_lock().map_or(0, |g| g.capacity_bytes()),
            Err(_) => 0,
        }
    })
}

/// Releases a workspace (NULL is a no-op). The handle must not be used afterwards.
///
/// # Safety
///
/// `ws` must be NULL or a live handle that no call is using.
#[no_mangle]
pub unsafe extern "C" fn lowbit_workspace_free(ws: *mut lowbit_workspace) {
    if ws.is_null() {
        return;
    }
    value_call("lowbit_workspace_free", (), || {
        // SAFETY: `ws` came from `Box::into_raw` in `lowbit_workspace_new` (the caller
        // guarantees a live handle) and ownership returns here exactly once.
        drop(unsafe { Box::from_raw(ws) });
    });
}

/// Checked C options: the Rust options, the bias span (for overlap checks) and the
/// workspace, if one was given.
pub(crate) struct Options<'a> {
    pub(crate) rust: GemvOptions<'a>,
    pub(crate) bias: Span,
    workspace: Option<&'a lowbit_workspace>,
}

impl Options<'_> {
    /// Runs `f` with the caller's workspace (locked; an error if another call holds it)
    /// or a temporary one.
    pub(crate) fn with_ws<T>(
        &self,
        f: impl FnOnce(&mut lowbit_rs::Workspace) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        match self.workspace {
            None => f(&mut lowbit_rs::Workspace::new()),
            Some(ws) => {
                let mut guard = match ws.inner.try_lock() {
                    Ok(g) => g,
                    // A panic inside an earlier call poisoned the lock; the workspace is
                    // scratch (every call overwrites what it reads), so reuse it.
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => {
                        return Err(Fail::Lib(lowbit_rs::Error::InvalidParameter {
                            what: "the workspace is in use by another call (keep one per \
                                   thread)"
                                .into(),
                        }))
                    }
                };
                f(&mut guard)
            }
        }
    }
}

/// Converts C options (NULL = defaults) into the Rust ones, checking every field.
///
/// # Safety
///
/// `opts` must be NULL or point to a `lowbit_gemv_options` whose `bias` is NULL or valid
/// for reading `bias_len` floats and whose `workspace` is NULL or a live handle, for `'a`.
pub(crate) unsafe fn options<'a>(opts: *const lowbit_gemv_options) -> Result<Options<'a>, Fail> {
    if opts.is_null() {
        return Ok(Options {
            rust: GemvOptions::default(),
            bias: Span::EMPTY,
            workspace: None,
        });
    }
    // SAFETY: the caller guarantees `opts` points to options; every bit pattern of the
    // struct (integers and pointers) is valid.
    let o = unsafe { ref_in("opts", opts) }?;
    let bad = |what: String| Fail::Lib(lowbit_rs::Error::InvalidParameter { what });
    let isa = isa_choice(o.isa)?;
    let precision = match o.precision {
        LOWBIT_PRECISION_F32 => Precision::F32,
        LOWBIT_PRECISION_ALLOW_A8 => Precision::AllowA8,
        LOWBIT_PRECISION_ALLOW_A4_OVP => Precision::AllowA4Ovp,
        p => return Err(bad(format!("unknown precision {p}"))),
    };
    let flag = |v: u32, what: &str| match v {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(bad(format!("{what} must be 0 or 1, not {v}"))),
    };
    let single_thread = flag(o.single_thread, "single_thread")?;
    let accumulate = flag(o.accumulate, "accumulate")?;
    // SAFETY: the caller guarantees `bias` is NULL or valid for `bias_len` floats.
    let bias = unsafe { slice_in("bias", o.bias, o.bias_len) }?;
    let workspace = if o.workspace.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a live workspace handle.
        Some(unsafe { ref_in("workspace", o.workspace.cast_const()) }?)
    };
    Ok(Options {
        rust: GemvOptions {
            isa,
            precision,
            single_thread,
            accumulate,
            bias: (!o.bias.is_null()).then_some(bias),
        },
        bias: Span::of("bias", bias),
        workspace,
    })
}

/// The body of the `gemv_ex` entry points.
///
/// # Safety
///
/// `x` must be NULL or valid for reads of `x_len` elements of `x_type`, `y` NULL or valid
/// for reads and writes of `y_len` floats, and `opts` NULL or pointing to options, during
/// the call; `w`'s buffers stay valid for the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemv_ex(
    w: MatrixRef<'_>,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    rows: Option<Range<usize>>,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let opts = unsafe { options(opts) }?;
    let [a, b, c, d] = matrix_spans(&w);
    let o = &opts.rust;
    match x_type {
        LOWBIT_ACT_F32 => {
            // SAFETY: forwarded from this function's contract (`x_type` says floats).
            let x = unsafe { slice_in("x", x.cast::<f32>(), x_len) }?;
            let inputs = [Span::of("x", x), a, b, c, d, opts.bias];
            // SAFETY: forwarded from this function's contract; `slice_out` checks that
            // `y` overlaps none of the buffers borrowed for reading.
            let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
            opts.with_ws(|ws| {
                match rows {
                    None => lowbit_rs::gemv_ws(w, x, y, o, ws)?,
                    Some(r) => lowbit_rs::gemv_rows_ws(w, x, r, y, o, ws)?,
                };
                Ok(())
            })?;
        }
        LOWBIT_ACT_F16 | LOWBIT_ACT_BF16 => {
            // SAFETY: forwarded from this function's contract (`x_type` says 16-bit
            // values, read as their bits).
            let x = unsafe { slice_in("x", x.cast::<u16>(), x_len) }?;
            let inputs = [Span::of("x", x), a, b, c, d, opts.bias];
            // SAFETY: as above.
            let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
            opts.with_ws(|ws| {
                match (rows, x_type == LOWBIT_ACT_F16) {
                    (None, true) => lowbit_rs::gemv_f16_ws(w, f16_slice(x), y, o, ws)?,
                    (None, false) => lowbit_rs::gemv_bf16_ws(w, bf16_slice(x), y, o, ws)?,
                    (Some(r), f16) => {
                        // Row ranges widen into a temporary (one allocation of K floats).
                        let wide: Vec<f32> = if f16 {
                            f16_slice(x).iter().map(|v| v.to_f32()).collect()
                        } else {
                            bf16_slice(x).iter().map(|v| v.to_f32()).collect()
                        };
                        lowbit_rs::gemv_rows_ws(w, &wide, r, y, o, ws)?
                    }
                };
                Ok(())
            })?;
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
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    w: MatrixRef<'_>,
    x: *const f32,
    m: usize,
    x_len: usize,
    rows: Option<(Range<usize>, usize)>,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let opts = unsafe { options(opts) }?;
    // SAFETY: forwarded from this function's contract.
    let x = unsafe { slice_in("x", x, x_len) }?;
    let [a, b, c, d] = matrix_spans(&w);
    let inputs = [Span::of("x", x), a, b, c, d, opts.bias];
    // SAFETY: forwarded from this function's contract; `slice_out` checks that `y`
    // overlaps none of the buffers borrowed for reading.
    let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
    match rows {
        None => opts.with_ws(|ws| Ok(lowbit_rs::gemm_ws(w, x, m, y, &opts.rust, ws)?))?,
        Some((r, ldy)) => {
            opts.with_ws(|ws| Ok(lowbit_rs::gemm_rows(w, x, m, r, y, ldy, &opts.rust, ws)?))?
        }
    };
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
        unsafe { gemv_ex(m.inner.view(), x, x_len, x_type, None, y, y_len, opts) }
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
        unsafe { gemv_ex(w, x, x_len, x_type, None, y, y_len, opts) }
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
        unsafe { gemm(w.inner.view(), x, m, x_len, None, y, y_len, opts) }
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
        unsafe { gemm(w, x, m, x_len, None, y, y_len, opts) }
    })
}

/// Output rows `row_begin..row_end` of `W x` with options, on the calling thread (the
/// options' `single_thread` is ignored): `y_len = row_end - row_begin`, bias (if any)
/// indexed by the row. For engines that split rows over their own threads; bitwise
/// identical to the same rows of `lowbit_gemv_ex()` with the same options. With
/// `LOWBIT_PRECISION_ALLOW_A8` the activations are quantized per call: quantize once with
/// `lowbit_activations_quantize()` and use `lowbit_gemv_rows_a8_ex()` instead. 16-bit
/// activations are widened into a temporary per call. `y` is written only on success.
///
/// # Safety
///
/// As for `lowbit_gemv_ex()`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lowbit_gemv_rows_ex(
    m: *const lowbit_matrix,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_gemv_rows_ex", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        let rows = Some(row_begin..row_end);
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemv_ex` requires.
        unsafe { gemv_ex(m.inner.view(), x, x_len, x_type, rows, y, y_len, opts) }
    })
}

/// As `lowbit_gemv_rows_ex()` for a view.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemv_ex()`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lowbit_view_gemv_rows_ex(
    view: *const lowbit_int_view,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_view_gemv_rows_ex", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        let rows = Some(row_begin..row_end);
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemv_ex` requires.
        unsafe { gemv_ex(w, x, x_len, x_type, rows, y, y_len, opts) }
    })
}

/// Output rows `row_begin..row_end` of `Y = X W^T` for `m` activation rows, on the
/// calling thread: `x` is row-major `[m][K]` (`x_len = m * K`), and output `(i, r)` goes
/// to `y[i*ldy + (r - row_begin)]` (`ldy >= row_end - row_begin`, `y_len >= (m - 1) * ldy
/// + (row_end - row_begin)` when `m > 0`; the values after each row's range are left
/// alone). Bitwise identical to the same outputs of `lowbit_gemm()` with the same
/// options for any split of the rows (the A8 path runs each activation row's A8 GEMV). An
/// engine with its own threads splits rows with this; with a workspace per thread it
/// allocates nothing. `y` is written only on success.
///
/// # Safety
///
/// `w` must be NULL or a live handle; `x` must be NULL or valid for reading `x_len`
/// floats; `y` must be NULL or valid for reading and writing `y_len` floats; `opts` must
/// be NULL or point to a `lowbit_gemv_options`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lowbit_gemm_rows(
    w: *const lowbit_matrix,
    x: *const f32,
    m: usize,
    x_len: usize,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    ldy: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_gemm_rows", || {
        // SAFETY: the caller guarantees `w` is NULL or a live handle.
        let w = unsafe { handle(w) }?;
        let rows = Some((row_begin..row_end, ldy));
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemm` requires.
        unsafe { gemm(w.inner.view(), x, m, x_len, rows, y, y_len, opts) }
    })
}

/// As `lowbit_gemm_rows()` for a view.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemm_rows()`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lowbit_view_gemm_rows(
    view: *const lowbit_int_view,
    x: *const f32,
    m: usize,
    x_len: usize,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    ldy: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_view_gemm_rows", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        let rows = Some((row_begin..row_end, ldy));
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemm` requires.
        unsafe { gemm(w, x, m, x_len, rows, y, y_len, opts) }
    })
}

/// Runs the body of a kernel-name entry point: the name as a static C string, or "" with
/// the reason recorded as this thread's last error.
fn name_call(
    function: &'static str,
    body: impl FnOnce() -> Result<&'static str, Fail>,
) -> *const c_char {
    value_call(function, static_str(c""), || match body() {
        Ok(name) => crate::boundary::static_name(name),
        Err(e) => {
            crate::boundary::record_error(function, &e.to_string());
            static_str(c"")
        }
    })
}

/// The kernel a GEMV call on `w` with `opts` runs.
///
/// # Safety
///
/// `opts` must be NULL or point to options as the GEMV calls require.
unsafe fn kernel_name(
    w: MatrixRef<'_>,
    opts: *const lowbit_gemv_options,
) -> Result<&'static str, Fail> {
    // SAFETY: forwarded from this function's contract.
    let o = unsafe { options(opts) }?;
    Ok(lowbit_rs::gemv_plan(w, &o.rust)?.name)
}

/// The registry name of the kernel `lowbit_gemv_ex()` and `lowbit_gemv_rows_ex()` on `m`
/// with `opts` (NULL: the defaults) run: `<op>_<weights>_<activations>_<variant>`, e.g.
/// `gemv_int4_a8_avx512vnni` or `gemv_int4_f32_avx2`. The same resolution of ISA and
/// precision as the calls, with the same errors. A static string, never NULL: "" when `m`
/// or the options are invalid (the reason is in `lowbit_last_error_message()`).
///
/// # Safety
///
/// `m` must be NULL or a live handle; `opts` NULL or pointing to a `lowbit_gemv_options`
/// (with `bias` and `workspace` valid as the GEMV calls require).
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemv_kernel_name(
    m: *const lowbit_matrix,
    opts: *const lowbit_gemv_options,
) -> *const c_char {
    name_call("lowbit_gemv_kernel_name", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `opts` as `kernel_name` requires.
        unsafe { kernel_name(m.inner.view(), opts) }
    })
}

/// `lowbit_gemv_kernel_name()` for a borrowed view (its buffers are not read).
///
/// # Safety
///
/// `view` must be NULL or point to a view whose buffers are valid for the call; `opts`
/// as in `lowbit_gemv_kernel_name()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemv_kernel_name(
    view: *const lowbit_int_view,
    opts: *const lowbit_gemv_options,
) -> *const c_char {
    name_call("lowbit_view_gemv_kernel_name", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `opts` as `kernel_name` requires.
        unsafe { kernel_name(w, opts) }
    })
}

/// `y = W x` for an FP view, with options and a choice of activation type: as
/// `lowbit_gemv_ex()`. `y` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemv_ex()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemv_ex(
    view: *const lowbit_fp_view,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemv_ex", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemv_ex` requires.
        unsafe { gemv_ex(w, x, x_len, x_type, None, y, y_len, opts) }
    })
}

/// As `lowbit_gemv_rows_ex()` for an FP view.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemv_ex()`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lowbit_fp_view_gemv_rows_ex(
    view: *const lowbit_fp_view,
    x: *const c_void,
    x_len: usize,
    x_type: i32,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemv_rows_ex", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        let rows = Some(row_begin..row_end);
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemv_ex` requires.
        unsafe { gemv_ex(w, x, x_len, x_type, rows, y, y_len, opts) }
    })
}

/// `Y = X W^T` for an FP view: as `lowbit_gemm()`. `y` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemm()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemm(
    view: *const lowbit_fp_view,
    x: *const f32,
    m: usize,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemm", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemm` requires.
        unsafe { gemm(w, x, m, x_len, None, y, y_len, opts) }
    })
}

/// As `lowbit_gemm_rows()` for an FP view.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `x`, `y` and `opts` as for `lowbit_gemm_rows()`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lowbit_fp_view_gemm_rows(
    view: *const lowbit_fp_view,
    x: *const f32,
    m: usize,
    x_len: usize,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    ldy: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemm_rows", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        let rows = Some((row_begin..row_end, ldy));
        // SAFETY: the caller guarantees `x`, `y` and `opts` as `gemm` requires.
        unsafe { gemm(w, x, m, x_len, rows, y, y_len, opts) }
    })
}

/// `lowbit_gemv_kernel_name()` for a borrowed FP view (its buffers are checked, not
/// multiplied).
///
/// # Safety
///
/// `view` must be NULL or point to an FP view whose buffers are valid for the call;
/// `opts` as in `lowbit_gemv_kernel_name()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemv_kernel_name(
    view: *const lowbit_fp_view,
    opts: *const lowbit_gemv_options,
) -> *const c_char {
    name_call("lowbit_fp_view_gemv_kernel_name", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `opts` as `kernel_name` requires.
        unsafe { kernel_name(w, opts) }
    })
}
