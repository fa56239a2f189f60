//! Zero-copy views over caller buffers in the canonical layout, and the GEMV and
//! dequantize bodies shared by views and owned matrices.

use core::ffi::c_void;
use core::ops::Range;

use lowbit_rs::{bf16, f16, FpScale, FpScalesRef, MatrixRef};

use crate::boundary::{ref_in, slice_in, slice_out, status_call, Fail, Span};
use crate::format::{lowbit_format, to_fp_format, to_int_format};
use crate::status::lowbit_status;

/// A borrowed INT matrix over caller buffers in the canonical layout (see
/// `lowbit_int_layout` for the layout and `lowbit_int_sizes()` for every length). Nothing
/// is copied: the buffers must stay valid and unmodified during each call that uses the
/// view. Every length is checked against `format`, `n` and `k` on every call.
/// `plane1` is NULL with length 0 unless bits = 3; `zeros` is NULL with length 0 for
/// symmetric formats. Scales are IEEE binary16 values given by their bits.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lowbit_int_view {
    /// The format (`kind` must be `LOWBIT_FORMAT_INT`).
    pub format: lowbit_format,
    /// Rows (output channels).
    pub n: usize,
    /// Columns (the reduction length).
    pub k: usize,
    /// The main code plane.
    pub codes: *const u8,
    /// Bytes in `codes`.
    pub codes_len: usize,
    /// The 1-bit plane (3-bit formats only).
    pub plane1: *const u8,
    /// Bytes in `plane1`.
    pub plane1_len: usize,
    /// Scales, f16 bits, `[N][K / group_len]` (2-byte aligned).
    pub scales: *const u16,
    /// Number of scales.
    pub scales_len: usize,
    /// Zero-points, `[N][K / group_len]` (formats with `zero_point = 1` only).
    pub zeros: *const u8,
    /// Number of zero-points.
    pub zeros_len: usize,
}

/// A borrowed minifloat (FP4 / FP6) matrix over caller buffers in the canonical layout
/// (see `lowbit_fp_layout` for the layout and `lowbit_fp_sizes()` for every length).
/// Nothing is copied: the buffers must stay valid and unmodified during each call that
/// uses the view. Every length and every scale is checked against `format`, `n` and `k`
/// on every call: f16 scales must be finite (and positive powers of two under
/// `LOWBIT_FP_SCALE_F16_POW2`), E8M0 scales must not be the NaN byte 0xFF, E4M3 scales
/// not 0x7F or 0xFF, and `tensor_scale` must be finite for `LOWBIT_FP_SCALE_E4M3` and 0
/// for every other kind (`LOWBIT_ERR_INVALID_PARAMETER` otherwise). `high` is NULL with
/// length 0 for E2M1.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lowbit_fp_view {
    /// The format (`kind` must be `LOWBIT_FORMAT_FP`).
    pub format: lowbit_format,
    /// Rows (output channels).
    pub n: usize,
    /// Columns (the reduction length).
    pub k: usize,
    /// Plane 0: 4-bit codes (E2M1) or the low four bits of each 6-bit code (FP6).
    pub codes: *const u8,
    /// Bytes in `codes`.
    pub codes_len: usize,
    /// Plane 1 (FP6 only): the high two bits of each code.
    pub high: *const u8,
    /// Bytes in `high`.
    pub high_len: usize,
    /// Scales, `[N][K / group_len]`: `uint16_t` f16 bits (2-byte aligned) for the f16
    /// scale kinds, `uint8_t` E8M0 or E4M3 bytes for `LOWBIT_FP_SCALE_E8M0` and
    /// `LOWBIT_FP_SCALE_E4M3`.
    pub scales: *const c_void,
    /// Number of scales (elements, not bytes).
    pub scales_len: usize,
    /// The per-tensor scale of `LOWBIT_FP_SCALE_E4M3` (NVFP4: every group's scale is its
    /// E4M3 value times this, in f32); must be 0 for the other scale kinds.
    pub tensor_scale: f32,
}

/// Reinterprets f16 bit patterns as `f16` values.
pub(crate) fn f16_slice(bits: &[u16]) -> &[f16] {
    const _: () =
        assert!(size_of::<f16>() == size_of::<u16>() && align_of::<f16>() == align_of::<u16>());
    // SAFETY: `half::f16` is `#[repr(transparent)]` over `u16` (its only field, and it
    // implements bytemuck's `Pod` and zerocopy's `FromBytes` on that basis), so it has
    // the size and alignment of `u16` (also asserted above at compile time) and every
    // `u16` is a valid `f16`. The result borrows `bits`, so the lifetime is preserved.
    unsafe { std::slice::from_raw_parts(bits.as_ptr().cast::<f16>(), bits.len()) }
}

/// Reinterprets bf16 bit patterns as `bf16` values.
pub(crate) fn bf16_slice(bits: &[u16]) -> &[bf16] {
    const _: () =
        assert!(size_of::<bf16>() == size_of::<u16>() && align_of::<bf16>() == align_of::<u16>());
    // SAFETY: `half::bf16` is `#[repr(transparent)]` over `u16` (its only field; it
    // implements bytemuck's `Pod` on that basis), so it has the size and alignment of
    // `u16` (also asserted above at compile time) and every `u16` is a valid `bf16`. The
    // result borrows `bits`, so the lifetime is preserved.
    unsafe { std::slice::from_raw_parts(bits.as_ptr().cast::<bf16>(), bits.len()) }
}

/// Builds a validated Rust view from a C view.
///
/// # Safety
///
/// Every non-NULL pointer in `v` must be valid for reads of its length for `'a`, and the
/// memory must not be modified during `'a`.
pub(crate) unsafe fn matrix_ref<'a>(v: &lowbit_int_view) -> Result<MatrixRef<'a>, Fail> {
    let format = to_int_format(&v.format, "an INT view")?;
    // SAFETY: forwarded from this function's contract.
    let codes = unsafe { slice_in("codes", v.codes, v.codes_len) }?;
    // SAFETY: forwarded from this function's contract.
    let plane1 = unsafe { slice_in("plane1", v.plane1, v.plane1_len) }?;
    // SAFETY: forwarded from this function's contract.
    let scales = unsafe { slice_in("scales", v.scales, v.scales_len) }?;
    // SAFETY: forwarded from this function's contract.
    let zeros = unsafe { slice_in("zeros", v.zeros, v.zeros_len) }?;
    // Zero-points given for a symmetric format are an error the Rust API reports.
    let zeros = (format.zero_point || !zeros.is_empty()).then_some(zeros);
    Ok(MatrixRef::int(
        format,
        v.n,
        v.k,
        codes,
        plane1,
        f16_slice(scales),
        zeros,
    )?)
}

/// Builds a validated Rust view from a C FP view.
///
/// # Safety
///
/// Every non-NULL pointer in `v` must be valid for reads of its length (in elements of
/// the type its documentation names) for `'a`, and the memory must not be modified
/// during `'a`.
pub(crate) unsafe fn fp_matrix_ref<'a>(v: &lowbit_fp_view) -> Result<MatrixRef<'a>, Fail> {
    let format = to_fp_format(&v.format, "an FP view")?;
    // SAFETY: forwarded from this function's contract.
    let codes = unsafe { slice_in("codes", v.codes, v.codes_len) }?;
    // SAFETY: forwarded from this function's contract.
    let high = unsafe { slice_in("high", v.high, v.high_len) }?;
    if format.scale != FpScale::E4M3 && v.tensor_scale != 0.0 {
        return Err(Fail::Lib(lowbit_rs::Error::InvalidParameter {
            what: format!(
                "tensor_scale must be 0 for {:?} scales, not {}",
                format.scale, v.tensor_scale
            ),
        }));
    }
    let scales = if format.scale.is_f16() {
        // SAFETY: forwarded from this function's contract: for the f16 scale kinds
        // `scales` holds `scales_len` `uint16_t`s (alignment is checked by `slice_in`).
        let s = unsafe { slice_in("scales", v.scales.cast::<u16>(), v.scales_len) }?;
        FpScalesRef::F16(f16_slice(s))
    } else {
        // SAFETY: forwarded from this function's contract: for E8M0 and E4M3 `scales`
        // holds `scales_len` bytes.
        let s = unsafe { slice_in("scales", v.scales.cast::<u8>(), v.scales_len) }?;
        if format.scale == FpScale::E4M3 {
            FpScalesRef::E4M3(s, v.tensor_scale)
        } else {
            FpScalesRef::E8M0(s)
        }
    };
    Ok(MatrixRef::fp(format, v.n, v.k, codes, high, scales)?)
}

/// The memory spans a matrix reads, for overlap checks against outputs.
pub(crate) fn matrix_spans(w: &MatrixRef<'_>) -> [Span; 4] {
    match w {
        MatrixRef::Int(m) => [
            Span::of("codes", m.plane0()),
            Span::of("plane1", m.plane1()),
            Span::of("scales", m.scales()),
            m.zeros().map_or(Span::EMPTY, |z| Span::of("zeros", z)),
        ],
        MatrixRef::Fp(m) => [
            Span::of("codes", m.codes()),
            Span::of("high", m.high()),
            match m.scales() {
                FpScalesRef::F16(s) => Span::of("scales", s),
                FpScalesRef::E8M0(s) | FpScalesRef::E4M3(s, _) => Span::of("scales", s),
            },
            Span::EMPTY,
        ],
        // Formats added later must list their buffers here. Until then their matrices
        // cannot be used: an output could overlap a buffer this cannot see.
        _ => [Span::everything("a matrix buffer of an unknown format"); 4],
    }
}

/// The body of every GEMV entry point: `rows` `None` is the whole matrix on rayon's
/// pool, `Some` a row range on the calling thread.
///
/// # Safety
///
/// `x` must be NULL or valid for reads of `x_len` floats and `y` NULL or valid for reads
/// and writes of `y_len` floats, during the call; `w`'s buffers stay valid for the call.
pub(crate) unsafe fn gemv(
    w: MatrixRef<'_>,
    x: *const f32,
    x_len: usize,
    rows: Option<Range<usize>>,
    y: *mut f32,
    y_len: usize,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let x = unsafe { slice_in("x", x, x_len) }?;
    let [a, b, c, d] = matrix_spans(&w);
    let inputs = [Span::of("x", x), a, b, c, d];
    // SAFETY: forwarded from this function's contract; `slice_out` checks that `y`
    // overlaps none of the buffers borrowed for reading.
    let y = unsafe { slice_out("y", y, y_len, &inputs) }?;
    match rows {
        None => lowbit_rs::gemv(w, x, y)?,
        Some(rows) => {
            lowbit_rs::gemv_rows(w, x, rows, y, None)?;
        }
    }
    Ok(())
}

/// The body of every dequantize entry point.
///
/// # Safety
///
/// `out` must be NULL or valid for reads and writes of `out_len` floats during the call;
/// `w`'s buffers stay valid for the call.
pub(crate) unsafe fn dequantize(
    w: MatrixRef<'_>,
    out: *mut f32,
    out_len: usize,
) -> Result<(), Fail> {
    let inputs = matrix_spans(&w);
    // SAFETY: forwarded from this function's contract; `slice_out` checks that `out`
    // overlaps none of the buffers borrowed for reading.
    let out = unsafe { slice_out("out", out, out_len, &inputs) }?;
    w.dequantize(out)?;
    Ok(())
}

/// `y = W x` for a view: `x` has `k` floats, `y` has `n`. Rows are split over lowbit's
/// thread pool (rayon); results are bitwise identical to `lowbit_view_gemv_rows()` over
/// any split. `y` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `x` must be NULL or valid for reading `x_len` floats; `y` must be NULL
/// or valid for reading and writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemv(
    view: *const lowbit_int_view,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_view_gemv", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x` and `y` as `gemv` requires.
        unsafe { gemv(w, x, x_len, None, y, y_len) }
    })
}

/// Output rows `row_begin..row_end` of `W x` for a view, computed on the calling thread:
/// `y[i] = sum_j W[row_begin + i][j] * x[j]`, `y_len = row_end - row_begin` (an empty
/// range with `y` NULL is allowed). For engines that split rows over their own threads;
/// bitwise identical to the same rows of `lowbit_view_gemv()`. `y` is written only on
/// success.
///
/// # Safety
///
/// As for `lowbit_view_gemv()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemv_rows(
    view: *const lowbit_int_view,
    x: *const f32,
    x_len: usize,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_view_gemv_rows", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x` and `y` as `gemv` requires.
        unsafe { gemv(w, x, x_len, Some(row_begin..row_end), y, y_len) }
    })
}

/// Dequantizes a view into `out`, row-major `n x k` floats (`out_len = n * k`). `out`
/// is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `out` must be NULL or valid for reading and writing `out_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_dequantize(
    view: *const lowbit_int_view,
    out: *mut f32,
    out_len: usize,
) -> lowbit_status {
    status_call("lowbit_view_dequantize", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `out` as `dequantize` requires.
        unsafe { dequantize(w, out, out_len) }
    })
}

/// `y = W x` for an FP view: as `lowbit_view_gemv()`. `y` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `x` must be NULL or valid for reading `x_len` floats; `y` must be NULL
/// or valid for reading and writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemv(
    view: *const lowbit_fp_view,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemv", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x` and `y` as `gemv` requires.
        unsafe { gemv(w, x, x_len, None, y, y_len) }
    })
}

/// Output rows `row_begin..row_end` of `W x` for an FP view, on the calling thread: as
/// `lowbit_view_gemv_rows()`. `y` is written only on success.
///
/// # Safety
///
/// As for `lowbit_fp_view_gemv()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemv_rows(
    view: *const lowbit_fp_view,
    x: *const f32,
    x_len: usize,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemv_rows", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `x` and `y` as `gemv` requires.
        unsafe { gemv(w, x, x_len, Some(row_begin..row_end), y, y_len) }
    })
}

/// Dequantizes an FP view into `out`, row-major `n x k` floats (`out_len = n * k`);
/// exact (every weight is `scale * element` without rounding). `out` is written only on
/// success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `out` must be NULL or valid for reading and writing `out_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_dequantize(
    view: *const lowbit_fp_view,
    out: *mut f32,
    out_len: usize,
) -> lowbit_status {
    status_call("lowbit_fp_view_dequantize", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `out` as `dequantize` requires.
        unsafe { dequantize(w, out, out_len) }
    })
}
