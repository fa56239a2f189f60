//! Owned matrices behind an opaque handle.

use core::ffi::c_void;

use lowbit_rs::{FpScalesRef, MatrixRef, QuantizedMatrix};

use crate::boundary::{ref_in, slice_in, status_call, value_call, Fail, OutPtr};
use crate::format::{from_format, lowbit_format, to_format};
use crate::status::lowbit_status;
use crate::view::{self, lowbit_fp_view, lowbit_int_view};

/// An owned quantized matrix, opaque to C. Create it with `lowbit_quantize()`,
/// `lowbit_matrix_from_int_view()`, `lowbit_matrix_from_fp_view()` or an importer (`lowbit_import_q4_0()`...) and release
/// it with `lowbit_matrix_free()`. It is immutable: any number of threads may use one
/// matrix concurrently.
#[allow(non_camel_case_types)]
pub struct lowbit_matrix {
    pub(crate) inner: QuantizedMatrix,
}

/// Checks a matrix handle.
///
/// # Safety
///
/// `m` must be NULL or a live handle from this library.
pub(crate) unsafe fn handle<'a>(m: *const lowbit_matrix) -> Result<&'a lowbit_matrix, Fail> {
    // SAFETY: forwarded from this function's contract: a live handle points to a
    // `lowbit_matrix` that is only freed by `lowbit_matrix_free`.
    unsafe { ref_in("matrix", m) }
}

/// Boxes a matrix and stores the handle.
pub(crate) fn store(out: OutPtr<*mut lowbit_matrix>, inner: QuantizedMatrix) {
    out.write(Box::into_raw(Box::new(lowbit_matrix { inner })));
}

/// Quantizes a row-major `n x k` float matrix `w` (`n * k` floats) into `format` and
/// stores a new handle in `*out` (free it with `lowbit_matrix_free()`). Rounding is to
/// nearest-even with the scales described in FORMATS.md. Errors: NaN or infinite weights
/// (`LOWBIT_ERR_NON_FINITE`), zero or overflowing dimensions, bad group sizes or bit
/// widths. `*out` is written only on success.
///
/// # Safety
///
/// `format` must be NULL or point to a `lowbit_format`; `w` must be NULL or valid for
/// reading `n * k` floats; `out` must be NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn lowbit_quantize(
    format: *const lowbit_format,
    w: *const f32,
    n: usize,
    k: usize,
    out: *mut *mut lowbit_matrix,
) -> lowbit_status {
    status_call("lowbit_quantize", || {
        // SAFETY: the caller guarantees `format` is NULL or points to a format.
        let format = to_format(unsafe { ref_in("format", format) }?)?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let len = n
            .checked_mul(k)
            .ok_or_else(|| lowbit_rs::Error::InvalidShape {
                what: format!("{n} x {k} is too large to address"),
            })?;
        // SAFETY: the caller guarantees `w` is NULL or valid for reading `n * k` floats.
        let w = unsafe { slice_in("w", w, len) }?;
        let m = QuantizedMatrix::quantize(w, n, k, format)?;
        store(out, m);
        Ok(())
    })
}

/// Copies a view's buffers into a new owned matrix (every length and zero-point is
/// validated) and stores its handle in `*out`: how to load stored weights. `*out` is
/// written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `out` must be NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_from_int_view(
    view: *const lowbit_int_view,
    out: *mut *mut lowbit_matrix,
) -> lowbit_status {
    status_call("lowbit_matrix_from_int_view", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { view::matrix_ref(v) }?;
        store(out, w.to_owned());
        Ok(())
    })
}

/// Copies an FP view's buffers into a new owned matrix (every length and scale is
/// validated, as for the FP view calls) and stores its handle in `*out`: how to load
/// stored FP4 / FP6 weights. `*out` is written only on success.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `out` must be NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_from_fp_view(
    view: *const lowbit_fp_view,
    out: *mut *mut lowbit_matrix,
) -> lowbit_status {
    status_call("lowbit_matrix_from_fp_view", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { view::fp_matrix_ref(v) }?;
        store(out, w.to_owned());
        Ok(())
    })
}

/// Frees a matrix. NULL is a no-op. The handle, and every pointer obtained from
/// `lowbit_matrix_int_view()` or `lowbit_matrix_fp_view()`, is invalid afterwards.
///
/// # Safety
///
/// `m` must be NULL or a live handle from this library, not used by any other thread
/// during or after the call, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_free(m: *mut lowbit_matrix) {
    if m.is_null() || !m.is_aligned() {
        return;
    }
    value_call("lowbit_matrix_free", (), || {
        // SAFETY: `m` came from `Box::into_raw` in `store` (the caller guarantees a live
        // handle) and ownership returns here exactly once.
        drop(unsafe { Box::from_raw(m) });
    });
}

/// Rows (N) of a matrix; 0 if `m` is NULL.
///
/// # Safety
///
/// `m` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_n(m: *const lowbit_matrix) -> usize {
    value_call("lowbit_matrix_n", 0, || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        unsafe { handle(m) }.map_or(0, |m| m.inner.n())
    })
}

/// Columns (K) of a matrix; 0 if `m` is NULL.
///
/// # Safety
///
/// `m` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_k(m: *const lowbit_matrix) -> usize {
    value_call("lowbit_matrix_k", 0, || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        unsafe { handle(m) }.map_or(0, |m| m.inner.k())
    })
}

/// Stores a matrix's format in `*out` (written only on success).
///
/// # Safety
///
/// `m` must be NULL or a live handle; `out` must be NULL or valid for writing one
/// `lowbit_format`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_format(
    m: *const lowbit_matrix,
    out: *mut lowbit_format,
) -> lowbit_status {
    status_call("lowbit_matrix_format", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        out.write(from_format(m.inner.format())?);
        Ok(())
    })
}

/// Fills `*out` with a view of an INT matrix's own canonical buffers (pointers into the
/// matrix, valid until `lowbit_matrix_free()`; they must not be written through). Use it
/// to store quantized weights, and later rebuild the matrix with
/// `lowbit_matrix_from_int_view()` or use the stored buffers directly as a view. Empty
/// buffers (`plane1` unless 3 bits, `zeros` when symmetric) are NULL with length 0.
/// `LOWBIT_ERR_UNSUPPORTED` for matrices of other kinds. `*out` is written only on
/// success.
///
/// # Safety
///
/// `m` must be NULL or a live handle; `out` must be NULL or valid for writing one
/// `lowbit_int_view`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_int_view(
    m: *const lowbit_matrix,
    out: *mut lowbit_int_view,
) -> lowbit_status {
    status_call("lowbit_matrix_int_view", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let format = from_format(m.inner.format())?;
        let MatrixRef::Int(v) = m.inner.view() else {
            return Err(Fail::Lib(lowbit_rs::Error::Unsupported {
                what: format!("lowbit_matrix_int_view of a {} matrix", m.inner.format()),
            }));
        };
        let (codes, codes_len) = raw(v.plane0());
        let (plane1, plane1_len) = raw(v.plane1());
        let (scales, scales_len) = raw(v.scales());
        let (zeros, zeros_len) = raw(v.zeros().unwrap_or(&[]));
        out.write(lowbit_int_view {
            format,
            n: v.n(),
            k: v.k(),
            codes,
            codes_len,
            plane1,
            plane1_len,
            scales,
            scales_len,
            zeros,
            zeros_len,
        });
        Ok(())
    })
}

/// Fills `*out` with a view of an FP matrix's own canonical buffers (pointers into the
/// matrix, valid until `lowbit_matrix_free()`; they must not be written through): the
/// FP counterpart of `lowbit_matrix_int_view()`. `high` is NULL with length 0 for E2M1;
/// `scales` points to f16 bits (`uint16_t`) or E8M0 bytes as the format's scale kind
/// says. `LOWBIT_ERR_UNSUPPORTED` for matrices of other kinds. `*out` is written only on
/// success.
///
/// # Safety
///
/// `m` must be NULL or a live handle; `out` must be NULL or valid for writing one
/// `lowbit_fp_view`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_matrix_fp_view(
    m: *const lowbit_matrix,
    out: *mut lowbit_fp_view,
) -> lowbit_status {
    status_call("lowbit_matrix_fp_view", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let MatrixRef::Fp(v) = m.inner.view() else {
            return Err(Fail::Lib(lowbit_rs::Error::Unsupported {
                what: format!("lowbit_matrix_fp_view of a {} matrix", m.inner.format()),
            }));
        };
        let format = from_format(m.inner.format())?;
        let (codes, codes_len) = raw(v.codes());
        let (high, high_len) = raw(v.high());
        let ((scales, scales_len), tensor_scale) = match v.scales() {
            FpScalesRef::F16(s) => (raw::<_, c_void>(s), 0.0),
            FpScalesRef::E8M0(s) => (raw::<_, c_void>(s), 0.0),
            FpScalesRef::E4M3(s, t) => (raw::<_, c_void>(s), t),
        };
        out.write(lowbit_fp_view {
            format,
            n: v.n(),
            k: v.k(),
            codes,
            codes_len,
            high,
            high_len,
            scales,
            scales_len,
            tensor_scale,
        });
        Ok(())
    })
}

/// A buffer as a C `(pointer, length)` pair: NULL with length 0 when empty.
fn raw<T, U>(s: &[T]) -> (*const U, usize) {
    if s.is_empty() {
        (core::ptr::null(), 0)
    } else {
        (s.as_ptr().cast::<U>(), s.len())
    }
}

/// Dequantizes a matrix into `out`, row-major `n x k` floats (`out_len = n * k`).
/// `out` is written only on success.
///
/// # Safety
///
/// `m` must be NULL or a live handle; `out` must be NULL or valid for reading and
/// writing `out_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_dequantize(
    m: *const lowbit_matrix,
    out: *mut f32,
    out_len: usize,
) -> lowbit_status {
    status_call("lowbit_dequantize", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `out` as `view::dequantize` requires.
        unsafe { view::dequantize(m.inner.view(), out, out_len) }
    })
}

/// `y = W x`: `x` has `k` floats, `y` has `n`. Rows are split over lowbit's thread pool
/// (rayon); results are bitwise identical to `lowbit_gemv_rows()` over any split. The
/// ISA is `lowbit_isa_active()`'s. `y` must not overlap `x` (that is an error). NaN or
/// infinity in `x` is `LOWBIT_ERR_NON_FINITE` (on every ISA and precision, for every GEMV
/// and GEMM call). `y` is written only on success.
///
/// # Safety
///
/// `m` must be NULL or a live handle; `x` must be NULL or valid for reading `x_len`
/// floats; `y` must be NULL or valid for reading and writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemv(
    m: *const lowbit_matrix,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_gemv", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `x` and `y` as `view::gemv` requires.
        unsafe { view::gemv(m.inner.view(), x, x_len, None, y, y_len) }
    })
}

/// Output rows `row_begin..row_end` of `W x`, computed on the calling thread:
/// `y[i] = sum_j W[row_begin + i][j] * x[j]`, `y_len = row_end - row_begin` (an empty
/// range with `y` NULL is allowed). For engines that split rows over their own threads;
/// bitwise identical to the same rows of `lowbit_gemv()`. `y` is written only on
/// success.
///
/// # Safety
///
/// As for `lowbit_gemv()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemv_rows(
    m: *const lowbit_matrix,
    x: *const f32,
    x_len: usize,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_gemv_rows", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `x` and `y` as `view::gemv` requires.
        unsafe { view::gemv(m.inner.view(), x, x_len, Some(row_begin..row_end), y, y_len) }
    })
}
