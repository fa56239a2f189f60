//! Scalar reference kernels: the oracle every SIMD kernel is tested against, and the
//! `scalar` dispatch path. Written for clarity, once for every format: a format enters
//! through [`Elements`] (what a weight is, in the three forms the operations need), and
//! the summation order is the one stated in each function; every SIMD kernel's tolerance
//! is stated relative to it.

use lowbit_formats::fp::FpMatrixRef;
use lowbit_formats::int::IntMatrixRef;

use crate::contract::Weights;

pub mod gemm;
pub mod gemv;
pub mod gemv_a8;

/// A weight matrix as the reference kernels read it: `w[n, k] = scale(n, j) * elem(n, k)`
/// with `j = k / group_len` and `elem(n, k) = value(n, k) - offset(n, j)` (the offset is
/// read once per group: the scalar kernels are the `scalar` dispatch path too).
pub trait Elements {
    /// Rows.
    fn n(&self) -> usize;
    /// Columns.
    fn k(&self) -> usize;
    /// Elements per group.
    fn group_len(&self) -> usize;
    /// Group `j`'s scale in row `n`.
    fn scale(&self, n: usize, j: usize) -> f32;
    /// The code's value before the group's offset (INT: `q`; FP4: `e2m1(q)`).
    fn value(&self, n: usize, k: usize) -> f32;
    /// Group `j`'s offset in row `n` (INT: the zero-point; FP4: 0).
    fn offset(&self, n: usize, j: usize) -> f32;
    /// The unscaled element `value - offset` (exact in f32).
    fn elem(&self, n: usize, k: usize) -> f32 {
        self.value(n, k) - self.offset(n, k / self.group_len())
    }
    /// [`Elements::value`] as an integer against int8 activations (FP4: `2 e2m1(q)`).
    fn a8_value(&self, n: usize, k: usize) -> i32;
    /// [`Elements::offset`] as an integer against int8 activations.
    fn a8_offset(&self, n: usize, j: usize) -> i32;
    /// The element against int8 activations, `w = a8_scale * a8_elem`.
    fn a8_elem(&self, n: usize, k: usize) -> i32 {
        self.a8_value(n, k) - self.a8_offset(n, k / self.group_len())
    }
    /// The scale that goes with [`Elements::a8_elem`] (exact in f32).
    fn a8_scale(&self, n: usize, j: usize) -> f32;
    /// The dequantized weight exactly as the SIMD GEMM kernels compute it.
    fn fused(&self, n: usize, k: usize) -> f32;
}

/// INT-b: `elem = q - z`, the A8 element the same, and the GEMM's weight
/// [`gemm::fused_weight`].
impl Elements for IntMatrixRef<'_> {
    fn n(&self) -> usize {
        self.layout().n
    }
    fn k(&self) -> usize {
        self.layout().k
    }
    fn group_len(&self) -> usize {
        self.layout().group_len
    }
    fn scale(&self, n: usize, j: usize) -> f32 {
        IntMatrixRef::scale(self, n, j)
    }
    fn value(&self, n: usize, k: usize) -> f32 {
        f32::from(self.code(n, k))
    }
    fn offset(&self, n: usize, j: usize) -> f32 {
        f32::from(self.zero(n, j))
    }
    fn a8_value(&self, n: usize, k: usize) -> i32 {
        i32::from(self.code(n, k))
    }
    fn a8_offset(&self, n: usize, j: usize) -> i32 {
        i32::from(self.zero(n, j))
    }
    fn a8_scale(&self, n: usize, j: usize) -> f32 {
        IntMatrixRef::scale(self, n, j)
    }
    fn fused(&self, n: usize, k: usize) -> f32 {
        let j = k / self.layout().group_len;
        gemm::fused_weight(
            self.code(n, k),
            IntMatrixRef::scale(self, n, j),
            self.zero(n, j),
        )
    }
}

/// Minifloat and OVP weights: `elem = decode(code)` (for OVP the element's half of its
/// decoded pair, [`FpMatrixRef::value`], an integer: OVP-4 -96..=96); against int8 activations
/// the element is `2^e * decode(code)` with `e` = [`FpElem::int_shift`] (an integer:
/// E2M1 -12..=12, E2M3 -60..=60, E3M2 -448..=448; E3M2's SIMD A8 kernels dot i16 lanes) with
/// the scale times `2^-e` (exact: the scale is an f16 or a power of two); the GEMM's
/// weight is `scale * decode(code)`, exact in f32 (a significand of at most 4 bits times an
/// 11-bit one).
///
/// [`FpElem::int_shift`]: lowbit_formats::fp::FpElem::int_shift
impl Elements for FpMatrixRef<'_> {
    fn n(&self) -> usize {
        self.layout().n
    }
    fn k(&self) -> usize {
        self.layout().k
    }
    fn group_len(&self) -> usize {
        self.layout().group_len
    }
    fn scale(&self, n: usize, j: usize) -> f32 {
        FpMatrixRef::scale(self, n, j)
    }
    fn value(&self, n: usize, k: usize) -> f32 {
        FpMatrixRef::value(self, n, k)
    }
    fn offset(&self, _: usize, _: usize) -> f32 {
        0.0
    }
    fn a8_value(&self, n: usize, k: usize) -> i32 {
        // Exact: every value is a multiple of 2^-int_shift below 2^5.
        (self.value(n, k) * (1 << self.elem_type().int_shift()) as f32) as i32
    }
    fn a8_offset(&self, _: usize, _: usize) -> i32 {
        0
    }
    fn a8_scale(&self, n: usize, j: usize) -> f32 {
        FpMatrixRef::scale(self, n, j) / (1 << self.elem_type().int_shift()) as f32
    }
    fn fused(&self, n: usize, k: usize) -> f32 {
        FpMatrixRef::scale(self, n, k / self.layout().group_len) * self.value(n, k)
    }
}

/// Runs `f` on the reference view of `w`.
macro_rules! with_elements {
    ($w:expr, |$e:ident| $body:expr) => {
        match $w {
            crate::contract::Weights::Int($e) => $body,
            crate::contract::Weights::Fp($e) => $body,
        }
    };
}
pub(crate) use with_elements;

/// The reference view of `w`'s format, for code that takes any format.
pub fn elements<'a>(w: &'a Weights<'_>) -> &'a dyn Elements {
    with_elements!(w, |e| e)
}
