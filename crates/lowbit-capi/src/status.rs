//! Status codes, their messages, and the thread's last error message.

use std::ffi::{c_char, CStr};

use crate::boundary::{last_error_ptr, static_str, value_call};

/// The result of every fallible lowbit call. `LOWBIT_OK` is 0; every error is a
/// distinct positive value (values are stable: new codes are only ever appended).
/// `lowbit_status_string()` describes a code and `lowbit_last_error_message()` gives
/// the details of the last failure on the calling thread.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum lowbit_status {
    /// Success.
    LOWBIT_OK = 0,
    /// A required pointer is NULL, or a buffer pointer is NULL while its length is not 0.
    LOWBIT_ERR_NULL = 1,
    /// A pointer is not aligned for its element type (float: 4 bytes, uint16_t: 2).
    LOWBIT_ERR_MISALIGNED = 2,
    /// A dimension is zero, `N * K` overflows, or a row range is not within `0..N`.
    LOWBIT_ERR_INVALID_SHAPE = 3,
    /// The group size is not 32, 64, 128, 256 (dividing K), K itself, or 0 (per row).
    LOWBIT_ERR_BAD_GROUP_SIZE = 4,
    /// A buffer has the wrong length (see `lowbit_int_sizes()` and `lowbit_fp_sizes()` for
    /// the lengths).
    LOWBIT_ERR_BUFFER_LENGTH = 5,
    /// A weight to quantize or an activation is NaN or infinite (every call, every ISA
    /// and precision; nothing is written).
    LOWBIT_ERR_NON_FINITE = 6,
    /// A parameter is out of range (bit width, zero-point flag, zero-point value, an FP
    /// scale that is NaN, infinite, not a power of two where one is required, or the
    /// E8M0 NaN byte 0xFF, a format field that must be 0, an output overlapping an
    /// input...).
    LOWBIT_ERR_INVALID_PARAMETER = 7,
    /// The requested instruction set is not available on this CPU.
    LOWBIT_ERR_ISA_UNAVAILABLE = 8,
    /// An ISA code (or the `LOWBIT_ISA` environment variable) names no known ISA.
    LOWBIT_ERR_UNKNOWN_ISA = 9,
    /// The format kind or operation is not implemented by this version of lowbit.
    LOWBIT_ERR_UNSUPPORTED = 10,
    /// An error this version of the C ABI has no dedicated code for (see the message).
    LOWBIT_ERR_OTHER = 11,
    /// An internal error (a caught Rust panic): a bug in lowbit, please report it.
    LOWBIT_ERR_PANIC = 12,
}

impl lowbit_status {
    /// Every status, in code order.
    pub(crate) const ALL: [lowbit_status; 13] = [
        lowbit_status::LOWBIT_OK,
        lowbit_status::LOWBIT_ERR_NULL,
        lowbit_status::LOWBIT_ERR_MISALIGNED,
        lowbit_status::LOWBIT_ERR_INVALID_SHAPE,
        lowbit_status::LOWBIT_ERR_BAD_GROUP_SIZE,
        lowbit_status::LOWBIT_ERR_BUFFER_LENGTH,
        lowbit_status::LOWBIT_ERR_NON_FINITE,
        lowbit_status::LOWBIT_ERR_INVALID_PARAMETER,
        lowbit_status::LOWBIT_ERR_ISA_UNAVAILABLE,
        lowbit_status::LOWBIT_ERR_UNKNOWN_ISA,
        lowbit_status::LOWBIT_ERR_UNSUPPORTED,
        lowbit_status::LOWBIT_ERR_OTHER,
        lowbit_status::LOWBIT_ERR_PANIC,
    ];

    /// The status of a Rust API error. `lowbit::Error` is non-exhaustive: variants this
    /// version does not know map to `LOWBIT_ERR_OTHER`.
    pub fn from_error(e: &lowbit_rs::Error) -> lowbit_status {
        use lowbit_rs::Error as E;
        match e {
            E::InvalidShape { .. } => lowbit_status::LOWBIT_ERR_INVALID_SHAPE,
            E::BadGroupSize { .. } => lowbit_status::LOWBIT_ERR_BAD_GROUP_SIZE,
            E::BufferLength { .. } => lowbit_status::LOWBIT_ERR_BUFFER_LENGTH,
            E::NonFinite { .. } => lowbit_status::LOWBIT_ERR_NON_FINITE,
            E::InvalidParameter { .. } => lowbit_status::LOWBIT_ERR_INVALID_PARAMETER,
            E::IsaUnavailable { .. } => lowbit_status::LOWBIT_ERR_ISA_UNAVAILABLE,
            E::UnknownIsa { .. } => lowbit_status::LOWBIT_ERR_UNKNOWN_ISA,
            E::Unsupported { .. } => lowbit_status::LOWBIT_ERR_UNSUPPORTED,
            _ => lowbit_status::LOWBIT_ERR_OTHER,
        }
    }

    /// The status with this code, if there is one.
    pub fn from_code(code: i32) -> Option<lowbit_status> {
        lowbit_status::ALL.into_iter().find(|s| *s as i32 == code)
    }

    /// The static description of this status.
    pub fn description(self) -> &'static CStr {
        match self {
            lowbit_status::LOWBIT_OK => c"success",
            lowbit_status::LOWBIT_ERR_NULL => c"a required pointer argument is NULL",
            lowbit_status::LOWBIT_ERR_MISALIGNED => {
                c"a pointer argument is not aligned for its element type"
            }
            lowbit_status::LOWBIT_ERR_INVALID_SHAPE => c"invalid shape or row range",
            lowbit_status::LOWBIT_ERR_BAD_GROUP_SIZE => c"unsupported group size",
            lowbit_status::LOWBIT_ERR_BUFFER_LENGTH => c"a buffer has the wrong length",
            lowbit_status::LOWBIT_ERR_NON_FINITE => c"input contains NaN or infinity",
            lowbit_status::LOWBIT_ERR_INVALID_PARAMETER => c"invalid parameter",
            lowbit_status::LOWBIT_ERR_ISA_UNAVAILABLE => {
                c"instruction set not available on this CPU"
            }
            lowbit_status::LOWBIT_ERR_UNKNOWN_ISA => c"unknown instruction set",
            lowbit_status::LOWBIT_ERR_UNSUPPORTED => c"unsupported format or operation",
            lowbit_status::LOWBIT_ERR_OTHER => c"error (see lowbit_last_error_message)",
            lowbit_status::LOWBIT_ERR_PANIC => c"internal error in lowbit (caught panic)",
        }
    }
}

/// A static, NUL-terminated English description of a status code. Any integer is
/// accepted: codes this version does not know give "unknown status code". Never NULL.
#[no_mangle]
pub extern "C" fn lowbit_status_string(status: i32) -> *const c_char {
    value_call(
        "lowbit_status_string",
        static_str(c"unknown status code"),
        || match lowbit_status::from_code(status) {
            Some(s) => static_str(s.description()),
            None => static_str(c"unknown status code"),
        },
    )
}

/// The detailed message of the last failed lowbit call on the calling thread (for
/// example "lowbit_gemv: buffer `x` has length 63, the call needs 64"), or "" if none
/// failed yet. Successful calls do not clear it. The pointer stays valid until the next
/// failing lowbit call on this thread, or the thread's exit. Never NULL.
#[no_mangle]
pub extern "C" fn lowbit_last_error_message() -> *const c_char {
    value_call("lowbit_last_error_message", static_str(c""), last_error_ptr)
}
