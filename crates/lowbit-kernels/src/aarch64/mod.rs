//! aarch64 kernels: `neon` (Advanced SIMD; dotprod where present).

pub(crate) mod neon;
