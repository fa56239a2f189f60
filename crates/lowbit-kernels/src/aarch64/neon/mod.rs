//! NEON kernels.

pub(crate) mod a8;
pub(crate) mod gemm;
pub(crate) mod int;
