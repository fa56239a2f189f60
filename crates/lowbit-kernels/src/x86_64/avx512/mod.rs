//! AVX-512 (F/BW/VL + FMA/F16C) kernels.

pub(crate) mod a8;
pub(crate) mod gemm;
pub(crate) mod int;
