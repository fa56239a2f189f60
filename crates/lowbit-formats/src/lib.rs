//! # lowbit-formats
//!
//! What the bits mean. This crate is the specification of every lowbit format in code:
//! element codecs ([`minifloat`], [`int`]), bit packing ([`pack`]), the canonical
//! interchange layouts (for example [`int::IntMatrix`] and its borrowed view
//! [`int::IntMatrixRef`], or [`fp::FpMatrix`] and [`fp::FpMatrixRef`]), quantizers
//! from `f32` and scalar dequantizers.
//!
//! It contains no `unsafe` code and no SIMD; the kernels crate is tested against it.
//! See `FORMATS.md` in the repository for the prose definition of each layout.
#![forbid(unsafe_code)]

pub mod act;
pub mod error;
pub mod fp;
pub mod group;
pub mod import;
pub mod int;
pub mod minifloat;
pub mod ovp;
pub mod pack;

pub use error::{Error, Result};
pub use group::Group;
pub use half::{bf16, f16};
