//! Scalar reference kernels: the oracle every SIMD kernel is tested against, and the
//! `scalar` dispatch path. Written for clarity: the summation order is the one stated in
//! each function, and every SIMD kernel's tolerance is stated relative to it.

pub mod int;
pub mod int_a8;
pub mod int_gemm;
