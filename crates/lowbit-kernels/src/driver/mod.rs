//! Drivers, one per operation, written once over the vector trait ([`crate::simd::Simd`])
//! and a format's decode step ([`crate::decode`]): row blocks, prefetch, accumulator
//! chains, tails, the scale epilogue and the output. A registry entry is one driver
//! instantiated at one (ISA variant, format).
//!
//! - [`gemv`]: GEMV with f32 activations.
//! - [`gemv_a8`]: GEMV with int8 activations (integer dot products).
//! - [`gemm`]: batched GEMM with f32 activations.

pub(crate) mod gemm;
pub(crate) mod gemv;
pub(crate) mod gemv_a8;
