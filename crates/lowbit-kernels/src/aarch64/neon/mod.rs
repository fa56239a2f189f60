//! NEON kernels.

pub(crate) mod int;
