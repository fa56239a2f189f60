//! Activations quantized once (A8) behind an opaque handle: for engines that multiply the
//! same input by several matrices (Q, K, V) or split rows over their own threads.

use lowbit_rs::{A8Activations, MatrixRef};

use core::ptr::null;

use crate::boundary::{ref_in, slice_in, slice_out, status_call, value_call, Fail, OutPtr};
use crate::matrix::{handle, lowbit_matrix};
use crate::ops::{lowbit_gemv_options, options};
use crate::status::lowbit_status;
use crate::view::{fp_matrix_ref, lowbit_fp_view, lowbit_int_view, matrix_ref, matrix_spans};

/// An activation vector quantized to int8 per block of 32 (scale `amax / 127` per block),
/// opaque to C. Create it with `lowbit_activations_quantize()`, refill it with
/// `lowbit_activations_requantize()` and release it with `lowbit_activations_free()`.
/// Any number of threads may read one handle concurrently (`lowbit_gemv_rows_a8()`);
/// requantizing it while another call reads it is a data race.
#[allow(non_camel_case_types)]
pub struct lowbit_activations {
    inner: A8Activations,
}

/// Checks an activations handle.
///
/// # Safety
///
/// `a` must be NULL or a live handle from this library.
unsafe fn activations<'a>(a: *const lowbit_activations) -> Result<&'a A8Activations, Fail> {
    // SAFETY: forwarded from this function's contract.
    unsafe { ref_in("activations", a) }.map(|a| &a.inner)
}

/// Quantizes `x` (`x_len` floats) and stores a new handle in `*out` (free it with
/// `lowbit_activations_free()`). NaN or infinite activations are
/// `LOWBIT_ERR_NON_FINITE`. `*out` is written only on success.
///
/// # Safety
///
/// `x` must be NULL or valid for reading `x_len` floats; `out` must be NULL or valid for
/// writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn lowbit_activations_quantize(
    x: *const f32,
    x_len: usize,
    out: *mut *mut lowbit_activations,
) -> lowbit_status {
    // SAFETY: the caller's guarantees are `new_handle`'s.
    unsafe {
        new_handle(
            "lowbit_activations_quantize",
            x,
            x_len,
            out,
            A8Activations::new,
        )
    }
}

/// As `lowbit_activations_quantize()` with the W4A4 codec: OliVe's OVP-4 per block of 32
/// (an f32 scale per block; normals within half a step of `clip / 7`, outliers up to 96
/// steps, the neighbour of an outlier zeroed), the decoded values used as the codes, so
/// the same `lowbit_*_gemv_rows_a8*` calls multiply them in integer dot products
/// (OVP-4 weights against them is OliVe's W4A4). `lowbit_activations_requantize()` keeps
/// the codec a handle was made with.
///
/// # Safety
///
/// As `lowbit_activations_quantize()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_activations_quantize_ovp4(
    x: *const f32,
    x_len: usize,
    out: *mut *mut lowbit_activations,
) -> lowbit_status {
    // SAFETY: the caller's guarantees are `new_handle`'s.
    unsafe {
        new_handle(
            "lowbit_activations_quantize_ovp4",
            x,
            x_len,
            out,
            A8Activations::new_ovp4,
        )
    }
}

/// A new handle of `quantize(x)` in `*out`.
///
/// # Safety
///
/// `x` must be NULL or valid for reading `x_len` floats; `out` must be NULL or valid for
/// writing one pointer.
unsafe fn new_handle(
    name: &'static str,
    x: *const f32,
    x_len: usize,
    out: *mut *mut lowbit_activations,
    quantize: fn(&[f32]) -> lowbit_rs::Result<A8Activations>,
) -> lowbit_status {
    status_call(name, || {
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        // SAFETY: the caller guarantees `x` is NULL or valid for reading `x_len` floats.
        let x = unsafe { slice_in("x", x, x_len) }?;
        let inner = quantize(x)?;
        out.write(Box::into_raw(Box::new(lowbit_activations { inner })));
        Ok(())
    })
}

/// Quantizes `x` into an existing handle with the codec it was made with (int8, or the
/// W4A4 codec of `lowbit_activations_quantize_ovp4()`), reusing its buffers (no
/// allocation when `x_len` is not larger than before). On error the handle holds no activations (`k` = 0) and
/// every GEMV with it fails until it is requantized.
///
/// # Safety
///
/// `a` must be NULL or a live handle that no other call is using; `x` must be NULL or
/// valid for reading `x_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_activations_requantize(
    a: *mut lowbit_activations,
    x: *const f32,
    x_len: usize,
) -> lowbit_status {
    status_call("lowbit_activations_requantize", || {
        if a.is_null() {
            return Err(Fail::Null {
                what: "activations",
                len: 0,
            });
        }
        if !a.is_aligned() {
            return Err(Fail::Misaligned {
                what: "activations",
                align: core::mem::align_of::<lowbit_activations>(),
            });
        }
        // SAFETY: non-null and aligned (checked); the caller guarantees a live handle
        // that no other call uses, so this is the only reference to it.
        let a = unsafe { &mut *a };
        // The codec the handle was made with.
        let codec = if a.inner.is_ovp4() {
            A8Activations::requantize_ovp4
        } else {
            A8Activations::requantize
        };
        // SAFETY: the caller guarantees `x` is NULL or valid for reading `x_len` floats
        // (a Rust-owned handle cannot overlap it).
        match unsafe { slice_in("x", x, x_len) } {
            Ok(x) => codec(&mut a.inner, x).map_err(Fail::from),
            Err(e) => {
                codec(&mut a.inner, &[]).map_err(Fail::from)?;
                Err(e)
            }
        }
    })
}

/// Length (`K`) of the quantized activations; 0 if `a` is NULL.
///
/// # Safety
///
/// `a` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lowbit_activations_k(a: *const lowbit_activations) -> usize {
    value_call("lowbit_activations_k", 0, || {
        // SAFETY: the caller guarantees `a` is NULL or a live handle.
        unsafe { activations(a) }.map_or(0, A8Activations::k)
    })
}

/// Frees an activations handle. NULL is a no-op; the handle is invalid afterwards.
///
/// # Safety
///
/// `a` must be NULL or a live handle, not used by any other call, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn lowbit_activations_free(a: *mut lowbit_activations) {
    if a.is_null() || !a.is_aligned() {
        return;
    }
    value_call("lowbit_activations_free", (), || {
        // SAFETY: `a` came from `Box::into_raw` in `lowbit_activations_quantize` (the
        // caller guarantees a live handle) and ownership returns here exactly once.
        drop(unsafe { Box::from_raw(a) });
    });
}

/// The body of both row-range A8 entry points.
///
/// # Safety
///
/// `a` must be NULL or a live handle; `y` must be NULL or valid for reads and writes of
/// `y_len` floats during the call; `w`'s buffers stay valid for the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemv_rows_a8(
    w: MatrixRef<'_>,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let a = unsafe { activations(a) }?;
    // SAFETY: forwarded from this function's contract.
    let opts = unsafe { options(opts) }?;
    let [p, q, r, s] = matrix_spans(&w);
    // SAFETY: forwarded from this function's contract; `slice_out` checks that `y`
    // overlaps none of the matrix buffers and the bias (the activations are Rust-owned).
    let y = unsafe { slice_out("y", y, y_len, &[p, q, r, s, opts.bias]) }?;
    lowbit_rs::gemv_rows_a8_with(w, a, row_begin..row_end, y, &opts.rust)?;
    Ok(())
}

/// Output rows `row_begin..row_end` of `W x` with `x` already quantized (`a`), on the
/// calling thread and the active ISA's integer-dot kernel (the scalar reference where the
/// bit width has no SIMD one): `y_len = row_end - row_begin`. Bitwise identical to the
/// same rows of `lowbit_gemv_ex()` with `LOWBIT_PRECISION_ALLOW_A8` wherever that call
/// takes the A8 path, for any split of the rows. `y` is written only on success. A format
/// with no A8 kernel (FP8 weights: their values are not small integers) fails with
/// `LOWBIT_ERR_UNSUPPORTED` (`lowbit_gemv_ex()` runs such formats in f32).
///
/// # Safety
///
/// `m` must be NULL or a live matrix handle; `a` NULL or a live activations handle; `y`
/// NULL or valid for reading and writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemv_rows_a8(
    m: *const lowbit_matrix,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_gemv_rows_a8", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `a` and `y` as `gemv_rows_a8` requires.
        unsafe { gemv_rows_a8(m.inner.view(), a, row_begin, row_end, y, y_len, null()) }
    })
}

/// As `lowbit_gemv_rows_a8()` for a view over caller buffers.
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_int_view` whose buffers satisfy its
/// documentation; `a` NULL or a live activations handle; `y` NULL or valid for reading
/// and writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemv_rows_a8(
    view: *const lowbit_int_view,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_view_gemv_rows_a8", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `a` and `y` as `gemv_rows_a8` requires.
        unsafe { gemv_rows_a8(w, a, row_begin, row_end, y, y_len, null()) }
    })
}

/// `lowbit_gemv_rows_a8()` with options: the ISA (`isa`), `accumulate` and `bias` apply;
/// `precision`, `single_thread` and `workspace` are ignored (the call is A8, on the
/// calling thread, and allocates nothing).
///
/// # Safety
///
/// As for `lowbit_gemv_rows_a8()`; `opts` must be NULL or point to a
/// `lowbit_gemv_options`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_gemv_rows_a8_ex(
    m: *const lowbit_matrix,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_gemv_rows_a8_ex", || {
        // SAFETY: the caller guarantees `m` is NULL or a live handle.
        let m = unsafe { handle(m) }?;
        // SAFETY: the caller guarantees `a`, `y` and `opts` as `gemv_rows_a8` requires.
        unsafe { gemv_rows_a8(m.inner.view(), a, row_begin, row_end, y, y_len, opts) }
    })
}

/// As `lowbit_gemv_rows_a8_ex()` for a view.
///
/// # Safety
///
/// As for `lowbit_view_gemv_rows_a8()`; `opts` must be NULL or point to a
/// `lowbit_gemv_options`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_view_gemv_rows_a8_ex(
    view: *const lowbit_int_view,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_view_gemv_rows_a8_ex", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { matrix_ref(v) }?;
        // SAFETY: the caller guarantees `a`, `y` and `opts` as `gemv_rows_a8` requires.
        unsafe { gemv_rows_a8(w, a, row_begin, row_end, y, y_len, opts) }
    })
}

/// As `lowbit_gemv_rows_a8()` for an FP view over caller buffers. As for matrices, a
/// format that has no A8 kernel at or below the ISA in use fails with
/// `LOWBIT_ERR_UNSUPPORTED` (with `LOWBIT_PRECISION_ALLOW_A8`, `lowbit_gemv_ex()` runs
/// such a format in f32 instead).
///
/// # Safety
///
/// `view` must be NULL or point to a `lowbit_fp_view` whose buffers satisfy its
/// documentation; `a` NULL or a live activations handle; `y` NULL or valid for reading
/// and writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemv_rows_a8(
    view: *const lowbit_fp_view,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemv_rows_a8", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `a` and `y` as `gemv_rows_a8` requires.
        unsafe { gemv_rows_a8(w, a, row_begin, row_end, y, y_len, null()) }
    })
}

/// As `lowbit_gemv_rows_a8_ex()` for an FP view.
///
/// # Safety
///
/// As for `lowbit_fp_view_gemv_rows_a8()`; `opts` must be NULL or point to a
/// `lowbit_gemv_options`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_view_gemv_rows_a8_ex(
    view: *const lowbit_fp_view,
    a: *const lowbit_activations,
    row_begin: usize,
    row_end: usize,
    y: *mut f32,
    y_len: usize,
    opts: *const lowbit_gemv_options,
) -> lowbit_status {
    status_call("lowbit_fp_view_gemv_rows_a8_ex", || {
        // SAFETY: the caller guarantees `view` is NULL or points to a view.
        let v = unsafe { ref_in("view", view) }?;
        // SAFETY: the caller guarantees the view's buffers are valid for the call.
        let w = unsafe { fp_matrix_ref(v) }?;
        // SAFETY: the caller guarantees `a`, `y` and `opts` as `gemv_rows_a8` requires.
        unsafe { gemv_rows_a8(w, a, row_begin, row_end, y, y_len, opts) }
    })
}
