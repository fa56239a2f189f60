//! Instruction-set queries and the process-wide ISA cap.

use std::ffi::c_char;

use lowbit_rs::Isa;

use crate::boundary::{static_str, status_call, value_call, OutPtr};
use crate::status::lowbit_status;

/// An instruction-set path. The codes are stable. `LOWBIT_ISA_AUTO` (0) means "the
/// active ISA" where an ISA is asked for, so a zero-initialized `lowbit_gemv_options`
/// runs the best kernel allowed. Functions that take an ISA take a plain `int32_t`, so any
/// value can be passed safely; unknown values are reported, never undefined behaviour.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum lowbit_isa {
    /// No particular ISA: the active one (`lowbit_isa_active()`); for
    /// `lowbit_set_isa_cap()`, no cap.
    LOWBIT_ISA_AUTO = 0,
    /// Portable scalar code: the reference kernels. Always available.
    LOWBIT_ISA_SCALAR = 1,
    /// x86-64 AVX2 with FMA and F16C.
    LOWBIT_ISA_AVX2 = 2,
    /// x86-64 AVX-512 F/BW/VL.
    LOWBIT_ISA_AVX512 = 3,
    /// aarch64 Advanced SIMD (NEON).
    LOWBIT_ISA_NEON = 4,
}

impl lowbit_isa {
    /// The C code of a Rust ISA.
    pub fn from_isa(isa: Isa) -> lowbit_isa {
        match isa {
            Isa::Scalar => lowbit_isa::LOWBIT_ISA_SCALAR,
            Isa::Avx2 => lowbit_isa::LOWBIT_ISA_AVX2,
            Isa::Avx512 => lowbit_isa::LOWBIT_ISA_AVX512,
            Isa::Neon => lowbit_isa::LOWBIT_ISA_NEON,
        }
    }
}

/// The Rust ISA of a C code, if the code names one (not `LOWBIT_ISA_AUTO`).
pub(crate) fn isa_of_code(code: i32) -> Option<Isa> {
    match code {
        1 => Some(Isa::Scalar),
        2 => Some(Isa::Avx2),
        3 => Some(Isa::Avx512),
        4 => Some(Isa::Neon),
        _ => None,
    }
}

/// `None` for `LOWBIT_ISA_AUTO`, the ISA of another known code, or the error of an
/// unknown one.
pub(crate) fn isa_choice(code: i32) -> Result<Option<Isa>, lowbit_rs::Error> {
    if code == lowbit_isa::LOWBIT_ISA_AUTO as i32 {
        return Ok(None);
    }
    isa_of_code(code)
        .map(Some)
        .ok_or_else(|| lowbit_rs::Error::UnknownIsa {
            name: format!("code {code}"),
        })
}

/// The best ISA this CPU supports (detected once, ignoring any cap and `LOWBIT_ISA`).
#[no_mangle]
pub extern "C" fn lowbit_isa_best() -> lowbit_isa {
    value_call("lowbit_isa_best", lowbit_isa::LOWBIT_ISA_SCALAR, || {
        lowbit_isa::from_isa(Isa::best())
    })
}

/// Stores in `*out` the ISA that calls run on when they ask for none: the best ISA of
/// this CPU, lowered by the `LOWBIT_ISA` environment variable (scalar, avx2, avx512 or
/// neon; read once), then by the cap of `lowbit_set_isa_cap()`. Fails with
/// `LOWBIT_ERR_UNKNOWN_ISA` or `LOWBIT_ERR_ISA_UNAVAILABLE` when `LOWBIT_ISA` is bad and no
/// cap is set (every GEMV then fails the same way). `*out` is written only on success.
///
/// # Safety
///
/// `out` must be NULL or valid for writing one `lowbit_isa`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_isa_active(out: *mut lowbit_isa) -> lowbit_status {
    status_call("lowbit_isa_active", || {
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let isa = lowbit_rs::active_isa()?;
        out.write(lowbit_isa::from_isa(isa));
        Ok(())
    })
}

/// Whether this CPU can run the ISA with code `isa` (false for `LOWBIT_ISA_AUTO` and
/// unknown codes).
#[no_mangle]
pub extern "C" fn lowbit_isa_is_available(isa: i32) -> bool {
    value_call("lowbit_isa_is_available", false, || {
        isa_of_code(isa).is_some_and(Isa::is_available)
    })
}

/// The lower-case name of an ISA code ("scalar", "avx2", "avx512", "neon", the names
/// `LOWBIT_ISA` accepts, or "auto"); "unknown" for any other value. A static string, never
/// NULL.
#[no_mangle]
pub extern "C" fn lowbit_isa_name(isa: i32) -> *const c_char {
    value_call("lowbit_isa_name", static_str(c"unknown"), || {
        static_str(match isa_choice(isa) {
            Ok(None) => c"auto",
            Ok(Some(Isa::Scalar)) => c"scalar",
            Ok(Some(Isa::Avx2)) => c"avx2",
            Ok(Some(Isa::Avx512)) => c"avx512",
            Ok(Some(Isa::Neon)) => c"neon",
            Err(_) => c"unknown",
        })
    })
}

/// Caps the ISA of every later call, process-wide: calls run kernels of that ISA or a
/// lower one of the same family, never above what `LOWBIT_ISA` and the CPU allow (a cap
/// only lowers; calls that ask for an ISA in their options are lowered to it too, and so
/// is the activation quantizer). `LOWBIT_ISA_AUTO` (0) removes the cap. An ISA this CPU
/// lacks gives `LOWBIT_ERR_ISA_UNAVAILABLE` and an unknown code `LOWBIT_ERR_UNKNOWN_ISA`;
/// on error nothing changes. Thread-safe, but a cap changed while another thread is inside
/// a GEMV may or may not apply to that call (its results are those of one ISA or the
/// other, never a mix).
#[no_mangle]
pub extern "C" fn lowbit_set_isa_cap(isa: i32) -> lowbit_status {
    status_call("lowbit_set_isa_cap", || {
        lowbit_rs::set_isa_cap(isa_choice(isa)?)?;
        Ok(())
    })
}
