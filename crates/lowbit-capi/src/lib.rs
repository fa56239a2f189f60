//! # lowbit C ABI
//!
//! `extern "C"` functions over the `lowbit` Rust API (the dependency `lowbit_rs`), built
//! as `liblowbit.a` and `liblowbit.so` and declared in the generated header
//! `include/lowbit.h` (cbindgen; the test `tests/header.rs` checks that the committed
//! header is fresh).
//!
//! Conventions, the same for every function:
//! - Fallible functions return a [`lowbit_status`]; [`lowbit_status_string`] describes a
//!   code and [`lowbit_last_error_message`] gives the details of the thread's last
//!   failure.
//! - Buffers are `(pointer, length)` pairs with lengths in elements. NULL with length 0 is
//!   an empty buffer; NULL with a nonzero length is `LOWBIT_ERR_NULL`; a misaligned
//!   pointer is `LOWBIT_ERR_MISALIGNED`; an output overlapping an input is an error.
//! - Outputs are written only when the call succeeds.
//! - No panic crosses the boundary: a panic (a lowbit bug) becomes `LOWBIT_ERR_PANIC`,
//!   and functions that return values return a documented safe value.
//!
//! All `unsafe` code sits in small blocks in the `boundary` module's helpers and at each
//! entry point's pointer conversions, each with the reason it is sound.

// The order of the modules is the order of the header's declarations.
mod boundary;

mod status;

mod version;

mod isa;

mod format;

mod matrix;

mod view;

mod ops;

mod import;

mod activations;

pub use activations::{
    lowbit_activations, lowbit_activations_free, lowbit_activations_k, lowbit_activations_quantize,
    lowbit_activations_quantize_ovp4, lowbit_activations_requantize, lowbit_fp_view_gemv_rows_a8,
    lowbit_fp_view_gemv_rows_a8_ex, lowbit_gemv_rows_a8, lowbit_gemv_rows_a8_ex,
    lowbit_view_gemv_rows_a8, lowbit_view_gemv_rows_a8_ex,
};
pub use format::{
    lowbit_format, lowbit_format_fp, lowbit_format_int, lowbit_fp_layout, lowbit_fp_sizes,
    lowbit_int_layout, lowbit_int_sizes, LOWBIT_FORMAT_FP, LOWBIT_FORMAT_INT, LOWBIT_FP_E2M1,
    LOWBIT_FP_E2M3, LOWBIT_FP_E3M2, LOWBIT_FP_E4M3, LOWBIT_FP_E5M2, LOWBIT_FP_ELEMENT_MASK,
    LOWBIT_FP_OVP4, LOWBIT_FP_OVP8, LOWBIT_FP_SCALE_E4M3, LOWBIT_FP_SCALE_E8M0,
    LOWBIT_FP_SCALE_F16, LOWBIT_FP_SCALE_F16_POW2, LOWBIT_FP_SCALE_MASK,
};
pub use import::{lowbit_import_awq, lowbit_import_gptq, lowbit_import_q4_0, lowbit_import_q8_0};
pub use isa::{
    lowbit_isa, lowbit_isa_active, lowbit_isa_best, lowbit_isa_is_available, lowbit_isa_name,
    lowbit_set_isa_cap,
};
pub use matrix::{
    lowbit_dequantize, lowbit_gemv, lowbit_gemv_rows, lowbit_matrix, lowbit_matrix_format,
    lowbit_matrix_fp_view, lowbit_matrix_free, lowbit_matrix_from_fp_view,
    lowbit_matrix_from_int_view, lowbit_matrix_int_view, lowbit_matrix_k, lowbit_matrix_n,
    lowbit_quantize,
};
pub use ops::{
    lowbit_fp_view_gemm, lowbit_fp_view_gemm_rows, lowbit_fp_view_gemv_ex,
    lowbit_fp_view_gemv_kernel_name, lowbit_fp_view_gemv_rows_ex, lowbit_gemm, lowbit_gemm_rows,
    lowbit_gemv_ex, lowbit_gemv_kernel_name, lowbit_gemv_options, lowbit_gemv_options_default,
    lowbit_gemv_rows_ex, lowbit_view_gemm, lowbit_view_gemm_rows, lowbit_view_gemv_ex,
    lowbit_view_gemv_kernel_name, lowbit_view_gemv_rows_ex, lowbit_workspace,
    lowbit_workspace_bytes, lowbit_workspace_free, lowbit_workspace_new, LOWBIT_ACT_BF16,
    LOWBIT_ACT_F16, LOWBIT_ACT_F32, LOWBIT_PRECISION_ALLOW_A4_OVP, LOWBIT_PRECISION_ALLOW_A8,
    LOWBIT_PRECISION_F32,
};
pub use status::{lowbit_last_error_message, lowbit_status, lowbit_status_string};
pub use version::{lowbit_version, lowbit_version_string};
pub use view::{
    lowbit_fp_view, lowbit_fp_view_dequantize, lowbit_fp_view_gemv, lowbit_fp_view_gemv_rows,
    lowbit_int_view, lowbit_view_dequantize, lowbit_view_gemv, lowbit_view_gemv_rows,
};

#[cfg(test)]
mod tests;
