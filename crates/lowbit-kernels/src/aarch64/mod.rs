//! aarch64 kernels: `neon` (Advanced SIMD; dotprod where present).

/// The arch-neutral helpers of the INT kernels (argument checks, activation reordering,
/// scalar tails), shared with the x86-64 kernels.
#[path = "../x86_64/int_common.rs"]
pub(crate) mod int_common;
pub(crate) mod neon;
