//! # lowbit-kernels
//!
//! How fast: GEMV/GEMM kernels per format and instruction set, the scalar reference
//! kernels every SIMD path is tested against, and the dispatch that picks one.
//!
//! - [`Isa`] names an instruction-set path; [`dispatch`] detects the CPU once, applies
//!   the `LOWBIT_ISA` override or an API cap, and returns the active path.
//! - [`registry`] is the one table of kernels: each entry says what it computes, for which
//!   formats, and which ISA it needs. Adding a format or an ISA adds entries there.
//! - The safe entry points in [`gemv`] validate every argument, pick the best kernel
//!   allowed by the requested ISA and run it.
//!
//! All `unsafe` code of lowbit lives in this crate (and the C ABI layer); every `unsafe`
//! block says why it is sound.

pub mod a8;
pub mod contract;
mod decode;
pub mod dispatch;
mod driver;
pub mod gemv;
pub mod reference;
pub mod registry;
mod simd;

pub use contract::{Out, Weights, Workspace};
pub use dispatch::{
    active_isa, call_isa, cpu_features, isa_cap, set_isa_cap, CpuFeatures, Isa, Variant,
};
pub use lowbit_formats::{Error, Result};
