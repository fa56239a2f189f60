//! x86-64 kernels: `avx2` (AVX2 + FMA + F16C) and `avx512` (F/BW/VL on top of those).
//!
//! Each kernel is a safe wrapper, registered in [`crate::registry`], that asserts the
//! ISA is present and the arguments are valid, then calls a `#[target_feature]`
//! implementation. Holding the assertion is what makes the `unsafe` call sound.

pub(crate) mod a8_common;
pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod int_common;
