//! Minifloat weights (FP4 E2M1, FP6 E3M2 / E2M3, FP8 E4M3 / E5M2): a small
//! floating-point code per element and a scale per group.
//!
//! Element `(n, k)` of an `N x K` matrix has the code `c` of the format's element type
//! ([`FpElem`]: sign in the top bit, then exponent and mantissa bits) and the value
//!
//! ```text
//! w[n, k] = scale[n][k / g] * elem(c)
//! ```
//!
//! where `g` is the group length. The product is exact in `f32` for the `f16` and E8M0
//! scale kinds (a significand of at most 4 bits times an 11-bit one or a power of two), so
//! dequantization is exact; under [`FpScale::E4M3`] the group scale is the `f32` product
//! of the block's E4M3 value and the tensor scale (one rounding, none when the tensor
//! scale is a power of two), and the element times it rounds once more.
//!
//! Canonical layout (FORMATS.md, "FP4 E2M1" and "FP6 E3M2 and E2M3, in the 4+2 split"):
//! - plane 0, the code plane: `[N][ceil(K/2)]` bytes of 4-bit codes packed exactly like
//!   INT4 (element `2i` of a row in the low nibble of byte `i`, element `2i + 1` in the
//!   high nibble). For E2M1 it holds the whole code; for the FP6 elements it holds the
//!   low four bits `c & 0xF`. For the FP8 elements it is `[N][K]` bytes, one whole code
//!   per byte (INT8's layout).
//! - plane 1, FP6 only: `[N][ceil(K/4)]` bytes of the high two bits `c >> 4` (sign, and
//!   the top exponent bit) packed like INT2 (element `4i + t` at bits `2t` of byte `i`).
//! - Every row of every plane starts on a byte boundary; unused bits of a row's last byte
//!   are zero when written by lowbit and ignored when read.
//! - scales: one per (row, group), row-major `[N][K/g]`, stored as
//!   - [`FpScale::F16`]: `f16`, any finite value;
//!   - [`FpScale::F16Pow2`]: `f16` restricted to positive powers of two, `2^-24 ..= 2^15`
//!     (the ZeroQuant-FP variant: the scale multiply is an exponent add);
//!   - [`FpScale::E8M0`]: one byte `e` meaning `2^(e - 127)` (OCP MX); `0xFF` (NaN) is
//!     refused. The group must be [`Group::Size`]`(32)`: that is MXFP4 / MXFP6.
//!   - [`FpScale::E4M3`]: one E4M3 byte per group of 16 (NVIDIA NVFP4) times one `f32`
//!     scale for the whole tensor: the group's scale is `fl32(e4m3(b) * tensor)`. The
//!     NaN codes `0x7F` / `0xFF` and a non-finite tensor scale are refused.
//!
//! Groups follow the same rule as the INT formats ([`Group::resolve`]): 32, 64, 128 or 256
//! dividing `K`, or one group per row; E8M0 scales need groups of 32, E4M3 scales groups
//! of 16 (which must divide `K`).
//!
//! Scales are validated when a matrix or view is built (lengths, finiteness, powers of
//! two, the E8M0 NaN code), never later: a [`FpMatrixRef`] always holds finite scales.
//! Every FP4 and FP6 code is a finite value. FP8 has NaN codes (E4M3 `0x7F` / `0xFF`) and
//! infinities (E5M2): codes are not validated (that would read every weight on every view
//! built); such a code is a NaN or infinite weight, in the reference and in every kernel
//! (IEEE arithmetic carries it into the row's result). The quantizer never writes one.

use crate::error::{check_finite, check_len};
use crate::minifloat::{
    e8m0_decode, mx_shared_exponent, MiniFloat, E2M1, E2M3, E3M2, E4M3, E5M2, E8M0_NAN,
};
use crate::ovp::{self, Victim};
use crate::pack::{self, packed_len};
use crate::{f16, Error, Group, Result};

/// The element type of a minifloat matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FpElem {
    /// FP4 E2M1 (max 6): one 4-bit plane.
    E2M1,
    /// FP6 E3M2 (max 28, bias 3): the 4+2 split.
    E3M2,
    /// FP6 E2M3 (max 7.5, bias 1): the 4+2 split.
    E2M3,
    /// FP8 E4M3 ("fn": max 448, bias 7, NaN at `0x7F` / `0xFF`, no infinities): one
    /// byte per element.
    E4M3,
    /// FP8 E5M2 (IEEE-like: max 57344, bias 15, infinities and NaNs): one byte per
    /// element.
    E5M2,
    /// OVP-4 (OliVe outlier-victim pairs, [`crate::ovp`]): int4 normals `-7..=7` and
    /// abfloat outliers up to 96, decoded per pair of elements; one 4-bit plane.
    Ovp4,
    /// OVP-8: int8 normals `-127..=127` and abfloat outliers up to 2016, decoded per pair;
    /// one byte per element.
    Ovp8,
}

impl FpElem {
    /// The codec of a minifloat element type (`None` for the OVP elements, whose codes
    /// are decoded per pair by [`crate::ovp`]).
    pub const fn minifloat(self) -> Option<MiniFloat> {
        match self {
            FpElem::E2M1 => Some(E2M1),
            FpElem::E3M2 => Some(E3M2),
            FpElem::E2M3 => Some(E2M3),
            FpElem::E4M3 => Some(E4M3),
            FpElem::E5M2 => Some(E5M2),
            FpElem::Ovp4 | FpElem::Ovp8 => None,
        }
    }

    /// Whether the element is an OVP one (codes decoded per pair of elements).
    pub const fn is_ovp(self) -> bool {
        matches!(self, FpElem::Ovp4 | FpElem::Ovp8)
    }

    /// Bits per code (4, 6 or 8).
    pub const fn bits(self) -> u32 {
        match self {
            FpElem::E2M1 | FpElem::Ovp4 => 4,
            FpElem::E3M2 | FpElem::E2M3 => 6,
            FpElem::E4M3 | FpElem::E5M2 | FpElem::Ovp8 => 8,
        }
    }

    /// Bits per code of plane 0 (4, or 8 for the FP8 elements).
    pub const fn plane0_bits(self) -> u32 {
        match self.bits() {
            8 => 8,
            _ => 4,
        }
    }

    /// Bits per code of plane 1 (2 for the FP6 elements' high bits, else 0).
    pub const fn plane1_bits(self) -> u32 {
        self.bits() - self.plane0_bits()
    }

    /// The largest finite magnitude (6, 28, 7.5, 448, 57344; the largest outliers of
    /// OVP, 96 and 2016).
    pub const fn max(self) -> f32 {
        match self {
            FpElem::E2M1 => 6.0,
            FpElem::E3M2 => 28.0,
            FpElem::E2M3 => 7.5,
            FpElem::E4M3 => 448.0,
            FpElem::E5M2 => 57344.0,
            FpElem::Ovp4 => 96.0,
            FpElem::Ovp8 => 2016.0,
        }
    }

    /// The lower-case name, `e2m1`, `e3m2`, `e2m3`, `e4m3`, `e5m2`, `ovp4`, `ovp8`.
    pub const fn name(self) -> &'static str {
        match self {
            FpElem::E2M1 => "e2m1",
            FpElem::E3M2 => "e3m2",
            FpElem::E2M3 => "e2m3",
            FpElem::E4M3 => "e4m3",
            FpElem::E5M2 => "e5m2",
            FpElem::Ovp4 => "ovp4",
            FpElem::Ovp8 => "ovp8",
        }
    }

    /// The smallest power of two `2^-e` such that `2^e * elem(c)` is an integer for every
    /// finite code, as `e` (E2M1: 1, E2M3: 3, E3M2: 4, E4M3: 9, E5M2: 16): the A8 kernels
    /// multiply by `2^e`. (The FP8 elements have no A8 kernel: their integers do not fit
    /// the int8 or int16 lanes, nor E5M2's an i32. OVP values are integers: 0; OVP-4's
    /// fit int8, OVP-8's do not.)
    pub const fn int_shift(self) -> u32 {
        match self {
            FpElem::E2M1 => 1,
            FpElem::E2M3 => 3,
            FpElem::E3M2 => 4,
            FpElem::E4M3 => 9,
            FpElem::E5M2 => 16,
            FpElem::Ovp4 | FpElem::Ovp8 => 0,
        }
    }

    /// Whether the element fits the A8 kernels' integer lanes (FP4, FP6, OVP-4).
    pub const fn has_a8(self) -> bool {
        self.bits() <= 6
    }
}

/// How the scale of each group is stored and chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FpScale {
    /// An `f16` scale per group, any finite value. The quantizer picks `amax / max`
    /// rounded to the nearest `f16` (`max` the element type's largest magnitude).
    F16,
    /// An `f16` scale per group restricted to a positive power of two in
    /// `[2^-24, 2^15]` (ZeroQuant-FP). The quantizer picks the smallest such power of two
    /// that is at least `amax / max`, so no element saturates (below the `2^15` cap).
    /// Stored exactly like [`F16`](Self::F16): only the allowed values differ.
    F16Pow2,
    /// An E8M0 byte per group (OCP MX shared exponent, `2^(e - 127)`); the group must be
    /// 32 elements (MXFP4, MXFP6). The quantizer picks
    /// [`mx_shared_exponent`]`(amax, emax)` with the element type's `emax`.
    E8M0,
    /// An E4M3 byte per group of 16 elements and one `f32` scale per tensor (NVIDIA's
    /// NVFP4 for E2M1): the group's scale is `fl32(e4m3(b) * tensor)`. The quantizer picks
    /// `tensor = amax_tensor / (max * 448)` (1 for an all-zero tensor) and per group
    /// `b = e4m3(amax / max / tensor)` rounded to nearest even (saturating at 448).
    E4M3,
}

impl FpScale {
    /// Bytes per stored scale: 2 for the `f16` kinds, 1 for E8M0.
    pub const fn bytes(self) -> usize {
        match self {
            FpScale::F16 | FpScale::F16Pow2 => 2,
            FpScale::E8M0 | FpScale::E4M3 => 1,
        }
    }

    /// The group length the scale kind requires, if it requires one (E8M0: 32, E4M3: 16).
    pub const fn required_group(self) -> Option<usize> {
        match self {
            FpScale::E8M0 => Some(32),
            FpScale::E4M3 => Some(16),
            FpScale::F16 | FpScale::F16Pow2 => None,
        }
    }

    /// `true` for the kinds stored as `f16` ([`F16`](Self::F16), [`F16Pow2`](Self::F16Pow2)).
    pub const fn is_f16(self) -> bool {
        matches!(self, FpScale::F16 | FpScale::F16Pow2)
    }
}

/// A minifloat format: element type, group size and scale kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FpFormat {
    /// The element type.
    pub elem: FpElem,
    /// Elements per scale along `K` (validated like the INT formats' groups).
    pub group: Group,
    /// How the scales are stored and chosen.
    pub scale: FpScale,
}

impl FpFormat {
    /// E2M1 with an `f16` scale per group.
    pub const fn f16(group: Group) -> Self {
        Self::new(FpElem::E2M1, group, FpScale::F16)
    }

    /// E2M1 with a power-of-two `f16` scale per group (ZeroQuant-FP).
    pub const fn f16_pow2(group: Group) -> Self {
        Self::new(FpElem::E2M1, group, FpScale::F16Pow2)
    }

    /// MXFP4: E2M1 with an E8M0 scale per group of 32.
    pub const fn mxfp4() -> Self {
        Self::mx(FpElem::E2M1)
    }

    /// An OCP MX format: `elem` with an E8M0 scale per group of 32 (MXFP4 for E2M1,
    /// MXFP6 for E3M2 and E2M3).
    pub const fn mx(elem: FpElem) -> Self {
        Self::new(elem, Group::Size(32), FpScale::E8M0)
    }

    /// NVFP4: E2M1 with an E4M3 scale per group of 16 and an `f32` scale per tensor.
    pub const fn nvfp4() -> Self {
        Self::new(FpElem::E2M1, Group::Size(16), FpScale::E4M3)
    }

    /// Any combination (checked by [`validate`](Self::validate)).
    pub const fn new(elem: FpElem, group: Group, scale: FpScale) -> Self {
        FpFormat { elem, group, scale }
    }

    /// Checks the combination of scale kind and group: E8M0 scales need
    /// `Group::Size(32)`, E4M3 scales `Group::Size(16)`, and only they accept those; the
    /// OVP elements take the `f16` kinds only.
    /// (Whether the group divides `K` is checked by [`layout`](Self::layout).)
    pub fn validate(&self) -> Result<()> {
        if self.elem.is_ovp() && !self.scale.is_f16() {
            return Err(Error::InvalidParameter {
                what: format!(
                    "OVP elements take f16 scales (F16 or F16Pow2), not {:?}",
                    self.scale
                ),
            });
        }
        match self.scale.required_group() {
            Some(g) if self.group != Group::Size(g) => Err(Error::InvalidParameter {
                what: format!(
                    "{:?} scales need groups of {g} elements, not {}",
                    self.scale, self.group
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The full layout of an `n x k` matrix in this format (validates everything).
    pub fn layout(&self, n: usize, k: usize) -> Result<FpLayout> {
        self.validate()?;
        if n == 0 {
            return Err(Error::InvalidShape {
                what: "N must be at least 1".into(),
            });
        }
        let g = match self.scale.required_group() {
            // Groups of 16 exist only with E4M3 scales (Group::resolve refuses them).
            Some(16) if k > 0 && k.is_multiple_of(16) => 16,
            Some(16) if k > 0 => return Err(Error::BadGroupSize { group: 16, k }),
            // K = 0: the shape error, as for every other format.
            _ => self.group.resolve(k)?,
        };
        if self.elem.is_ovp() && k % 2 == 1 {
            return Err(Error::InvalidShape {
                what: format!("OVP pairs elements along K: K = {k} must be even"),
            });
        }
        let too_big = || Error::InvalidShape {
            what: format!("{n} x {k} is too large to address"),
        };
        // Every buffer is at most N * K bytes or elements, and a Rust slice holds at most
        // isize::MAX bytes: past that, no buffer of this shape can exist.
        let elements = n.checked_mul(k).ok_or_else(too_big)?;
        if elements > isize::MAX as usize / 2 {
            return Err(too_big());
        }
        let row_bytes0 = packed_len(k, self.elem.plane0_bits());
        let row_bytes1 = match self.elem.plane1_bits() {
            0 => 0,
            b => packed_len(k, b),
        };
        let groups = k / g;
        Ok(FpLayout {
            format: *self,
            n,
            k,
            group_len: g,
            groups_per_row: groups,
            row_bytes0,
            row_bytes1,
            plane0_len: n.checked_mul(row_bytes0).ok_or_else(too_big)?,
            plane1_len: n.checked_mul(row_bytes1).ok_or_else(too_big)?,
            scales_len: n.checked_mul(groups).ok_or_else(too_big)?,
        })
    }
}

/// Sizes of every buffer of a minifloat matrix (see the module docs for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpLayout {
    /// The format.
    pub format: FpFormat,
    /// Rows (output channels).
    pub n: usize,
    /// Columns (reduction length).
    pub k: usize,
    /// Effective group length (`K` when per-row).
    pub group_len: usize,
    /// `K / group_len`.
    pub groups_per_row: usize,
    /// Bytes per row of plane 0, `ceil(K / 2)` (4-bit codes), or `K` (FP8).
    pub row_bytes0: usize,
    /// Bytes per row of plane 1 (FP6's 2-bit high bits), `ceil(K / 4)`; 0 for E2M1.
    pub row_bytes1: usize,
    /// Length of plane 0, `N * row_bytes0`.
    pub plane0_len: usize,
    /// Length of plane 1, `N * row_bytes1`.
    pub plane1_len: usize,
    /// Number of scales (`f16` values or E8M0 bytes), `N * K / g`.
    pub scales_len: usize,
}

impl FpLayout {
    /// Bytes of weight data a GEMV reads: both planes and the scales.
    pub fn weight_bytes(&self) -> usize {
        self.plane0_len + self.plane1_len + self.format.scale.bytes() * self.scales_len
    }
}

/// The scales of an owned minifloat matrix, `[N][K/g]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum FpScales {
    /// `f16` scales ([`FpScale::F16`] and [`FpScale::F16Pow2`]).
    F16(Vec<f16>),
    /// E8M0 bytes ([`FpScale::E8M0`]).
    E8M0(Vec<u8>),
    /// E4M3 bytes and the tensor scale ([`FpScale::E4M3`]).
    E4M3(Vec<u8>, f32),
}

impl FpScales {
    /// A borrowed view of the same scales.
    pub fn view(&self) -> FpScalesRef<'_> {
        match self {
            FpScales::F16(s) => FpScalesRef::F16(s),
            FpScales::E8M0(s) => FpScalesRef::E8M0(s),
            FpScales::E4M3(s, t) => FpScalesRef::E4M3(s, *t),
        }
    }
}

/// The scales of a minifloat matrix view, `[N][K/g]` row-major.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FpScalesRef<'a> {
    /// `f16` scales ([`FpScale::F16`] and [`FpScale::F16Pow2`]).
    F16(&'a [f16]),
    /// E8M0 bytes ([`FpScale::E8M0`]).
    E8M0(&'a [u8]),
    /// E4M3 bytes and the tensor scale ([`FpScale::E4M3`]).
    E4M3(&'a [u8], f32),
}

impl<'a> FpScalesRef<'a> {
    /// Number of scales.
    pub fn len(&self) -> usize {
        match self {
            FpScalesRef::F16(s) => s.len(),
            FpScalesRef::E8M0(s) | FpScalesRef::E4M3(s, _) => s.len(),
        }
    }

    /// `true` when there are no scales (never the case for a valid matrix).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `f16` scales, if that is how they are stored.
    pub fn f16(&self) -> Option<&'a [f16]> {
        match *self {
            FpScalesRef::F16(s) => Some(s),
            _ => None,
        }
    }

    /// The E8M0 bytes, if that is how the scales are stored.
    pub fn e8m0(&self) -> Option<&'a [u8]> {
        match *self {
            FpScalesRef::E8M0(s) => Some(s),
            _ => None,
        }
    }

    /// The E4M3 bytes and the tensor scale, if that is how the scales are stored.
    pub fn e4m3(&self) -> Option<(&'a [u8], f32)> {
        match *self {
            FpScalesRef::E4M3(s, t) => Some((s, t)),
            _ => None,
        }
    }

    /// Scale `i` (flat index) as `f32`: exact for the `f16` and E8M0 storages; for E4M3,
    /// `fl32(e4m3(b) * tensor)`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> f32 {
        match *self {
            FpScalesRef::F16(s) => s[i].to_f32(),
            FpScalesRef::E8M0(s) => e8m0_decode(s[i]),
            FpScalesRef::E4M3(s, t) => E4M3.decode(s[i]) * t,
        }
    }

    /// Copies the scales into owned storage.
    pub fn to_owned(&self) -> FpScales {
        match *self {
            FpScalesRef::F16(s) => FpScales::F16(s.to_vec()),
            FpScalesRef::E8M0(s) => FpScales::E8M0(s.to_vec()),
            FpScalesRef::E4M3(s, t) => FpScales::E4M3(s.to_vec(), t),
        }
    }
}

/// `true` for a positive power of two representable in `f16`: `2^-24 ..= 2^15`, normal
/// (exponent field 1..=30, mantissa 0) or subnormal (exponent field 0, one mantissa bit).
fn is_f16_pow2(s: f16) -> bool {
    let bits = s.to_bits();
    let exp = (bits >> 10) & 0x1F;
    let man = bits & 0x3FF;
    bits & 0x8000 == 0
        && match exp {
            0 => man.is_power_of_two(),
            31 => false,
            _ => man == 0,
        }
}

/// Checks the scales against the format: kind, length, and values (finite `f16`;
/// powers of two for [`FpScale::F16Pow2`]; no E8M0 NaN).
fn check_scales(format: FpFormat, expected: usize, scales: FpScalesRef<'_>) -> Result<()> {
    match (format.scale, scales) {
        (FpScale::F16 | FpScale::F16Pow2, FpScalesRef::F16(s)) => {
            check_len("scales", expected, s.len())?;
            if let Some(i) = s.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidParameter {
                    what: format!("f16 scale {i} is not finite ({})", s[i]),
                });
            }
            if format.scale == FpScale::F16Pow2 {
                if let Some(i) = s.iter().position(|&v| !is_f16_pow2(v)) {
                    return Err(Error::InvalidParameter {
                        what: format!("f16 scale {i} is {}, not a positive power of two", s[i]),
                    });
                }
            }
            Ok(())
        }
        (FpScale::E8M0, FpScalesRef::E8M0(s)) => {
            check_len("scales", expected, s.len())?;
            match s.iter().position(|&e| e == E8M0_NAN) {
                Some(i) => Err(Error::InvalidParameter {
                    what: format!("E8M0 scale {i} is the NaN code 0xFF"),
                }),
                None => Ok(()),
            }
        }
        (FpScale::E4M3, FpScalesRef::E4M3(s, t)) => {
            check_len("scales", expected, s.len())?;
            if !t.is_finite() {
                return Err(Error::InvalidParameter {
                    what: format!("the tensor scale is not finite ({t})"),
                });
            }
            match s.iter().position(|&e| e & 0x7F == 0x7F) {
                Some(i) => Err(Error::InvalidParameter {
                    what: format!("E4M3 scale {i} is a NaN code ({:#04x})", s[i]),
                }),
                None => Ok(()),
            }
        }
        (kind, _) => Err(Error::InvalidParameter {
            what: format!(
                "{kind:?} scales need {} storage",
                match kind {
                    FpScale::F16 | FpScale::F16Pow2 => "f16",
                    FpScale::E8M0 => "E8M0 byte",
                    FpScale::E4M3 => "E4M3 byte and tensor scale",
                }
            ),
        }),
    }
}

/// An owned minifloat matrix in the canonical layout.
#[derive(Debug, Clone, PartialEq)]
pub struct FpMatrix {
    layout: FpLayout,
    codes: Vec<u8>,
    high: Vec<u8>,
    scales: FpScales,
}

/// A borrowed, validated view of a minifloat matrix in the canonical layout (zero-copy
/// over caller buffers). Constructing one checks every length and every scale, so
/// kernels can rely on them: all scales are finite (E8M0 never `0xFF`).
#[derive(Debug, Clone, Copy)]
pub struct FpMatrixRef<'a> {
    layout: FpLayout,
    codes: &'a [u8],
    high: &'a [u8],
    scales: FpScalesRef<'a>,
}

impl<'a> FpMatrixRef<'a> {
    /// Wraps the buffers of a single-plane format (E2M1): `codes` is the `[N][ceil(K/2)]`
    /// nibble plane, `scales` the `[N][K/g]` scales in the storage the format's
    /// [`FpScale`] names. (An FP6 format needs [`with_planes`](Self::with_planes).)
    ///
    /// # Errors
    /// As [`with_planes`](Self::with_planes) with an empty plane 1.
    pub fn new(
        format: FpFormat,
        n: usize,
        k: usize,
        codes: &'a [u8],
        scales: FpScalesRef<'a>,
    ) -> Result<Self> {
        Self::with_planes(format, n, k, codes, &[], scales)
    }

    /// Wraps caller buffers: `codes` is plane 0 (`[N][ceil(K/2)]`, 4-bit codes or FP6's
    /// low four bits), `high` plane 1 (FP6: `[N][ceil(K/4)]` 2-bit high bits; empty for
    /// E2M1), `scales` the `[N][K/g]` scales in the storage the format's [`FpScale`]
    /// names.
    ///
    /// # Errors
    /// Everything [`FpFormat::layout`] refuses; [`Error::BufferLength`] for a buffer of
    /// the wrong length; [`Error::InvalidParameter`] for scales of the wrong storage kind,
    /// a non-finite `f16` scale, an `f16` scale that is not a positive power of two under
    /// [`FpScale::F16Pow2`], or the E8M0 NaN code `0xFF`.
    pub fn with_planes(
        format: FpFormat,
        n: usize,
        k: usize,
        codes: &'a [u8],
        high: &'a [u8],
        scales: FpScalesRef<'a>,
    ) -> Result<Self> {
        let layout = format.layout(n, k)?;
        check_len("codes", layout.plane0_len, codes.len())?;
        check_len("high plane", layout.plane1_len, high.len())?;
        check_scales(format, layout.scales_len, scales)?;
        Ok(FpMatrixRef {
            layout,
            codes,
            high,
            scales,
        })
    }

    /// The layout (shape, group length, buffer sizes).
    pub fn layout(&self) -> &FpLayout {
        &self.layout
    }
    /// The format.
    pub fn format(&self) -> FpFormat {
        self.layout.format
    }
    /// The element type.
    pub fn elem_type(&self) -> FpElem {
        self.layout.format.elem
    }
    /// Rows.
    pub fn n(&self) -> usize {
        self.layout.n
    }
    /// Columns.
    pub fn k(&self) -> usize {
        self.layout.k
    }
    /// Plane 0, `[N][ceil(K/2)]` bytes of 4-bit codes (INT4 nibble order): the whole E2M1
    /// code, or the low four bits of an FP6 code.
    pub fn codes(&self) -> &'a [u8] {
        self.codes
    }
    /// Plane 1, `[N][ceil(K/4)]` bytes of FP6's high two bits (INT2 order); empty for E2M1.
    pub fn high(&self) -> &'a [u8] {
        self.high
    }
    /// The scales, `[N][K/g]`.
    pub fn scales(&self) -> FpScalesRef<'a> {
        self.scales
    }

    /// The scale of group `j` of row `n`, as `f32` (exact).
    #[inline(always)]
    pub fn scale(&self, n: usize, j: usize) -> f32 {
        self.scales.get(n * self.layout.groups_per_row + j)
    }

    /// The code of element `(n, k)` (sign in the top bit of the element type's width).
    #[inline(always)]
    pub fn code(&self, n: usize, k: usize) -> u8 {
        let (r0, r1) = (self.layout.row_bytes0, self.layout.row_bytes1);
        let lo = if self.layout.format.elem.plane0_bits() == 8 {
            // One byte per code (FP8).
            self.codes[n * r0 + k]
        } else {
            pack::get(&self.codes[n * r0..(n + 1) * r0], 4, k)
        };
        if r1 == 0 {
            lo
        } else {
            lo | pack::get(&self.high[n * r1..(n + 1) * r1], 2, k) << 4
        }
    }

    /// The unscaled value of element `(n, k)`: `elem(code(n, k))` for a minifloat, the
    /// element's half of its pair's decoded values for OVP (exact).
    #[inline(always)]
    pub fn value(&self, n: usize, k: usize) -> f32 {
        let elem = self.elem_type();
        match elem.minifloat() {
            Some(e) => e.decode(self.code(n, k)),
            None => {
                // K is even for OVP: the partner exists.
                let p = k & !1;
                let (a, b) = ovp::decode_pair(elem.bits(), self.code(n, p), self.code(n, p + 1));
                (if k == p { a } else { b }) as f32
            }
        }
    }

    /// The value of element `(n, k)`: `scale(n, k / g) * value(n, k)`, exact.
    #[inline(always)]
    pub fn weight(&self, n: usize, k: usize) -> f32 {
        self.scale(n, k / self.layout.group_len) * self.value(n, k)
    }

    /// Dequantizes row `n` into `out` (length `K`).
    pub fn dequantize_row(&self, n: usize, out: &mut [f32]) -> Result<()> {
        let l = &self.layout;
        if n >= l.n {
            return Err(Error::InvalidShape {
                what: format!("row {n} out of range for N = {}", l.n),
            });
        }
        check_len("row output", l.k, out.len())?;
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.weight(n, k);
        }
        Ok(())
    }

    /// Dequantizes the whole matrix into `out` (length `N * K`, row-major).
    pub fn dequantize(&self, out: &mut [f32]) -> Result<()> {
        let l = &self.layout;
        check_len("output", l.n * l.k, out.len())?;
        for (n, row) in out.chunks_exact_mut(l.k).enumerate() {
            self.dequantize_row(n, row)?;
        }
        Ok(())
    }

    /// Copies the view into an owned matrix.
    pub fn to_owned(&self) -> FpMatrix {
        FpMatrix {
            layout: self.layout,
            codes: self.codes.to_vec(),
            high: self.high.to_vec(),
            scales: self.scales.to_owned(),
        }
    }
}

/// The smallest positive f16, `2^-24`: the scale of a nonzero group whose `amax / max`
/// rounds to zero (as in the INT quantizer).
const MIN_SCALE: f16 = f16::from_bits(1);

/// The exponent range of the power-of-two `f16` scales.
const POW2_MIN_EXP: i32 = -24;
const POW2_MAX_EXP: i32 = 15;

/// The smallest `2^e`, `-24 <= e <= 15`, with `max * 2^e >= amax`, or `2^15` if none is.
/// `max * 2^e` is exact in `f32`, so the comparison is exact.
fn pow2_scale(amax: f32, max: f32) -> f16 {
    let e = (POW2_MIN_EXP..=POW2_MAX_EXP)
        .find(|&e| max * 2f32.powi(e) >= amax)
        .unwrap_or(POW2_MAX_EXP);
    f16::from_f32(2f32.powi(e))
}

/// The scale of one group with largest magnitude `amax` (finite, `>= 0`), as documented
/// on [`FpMatrix::quantize`], in the format's storage, and as `f32` (`tensor` is the
/// tensor scale of [`FpScale::E4M3`], else unused).
fn group_scale(amax: f32, elem: FpElem, kind: FpScale, tensor: f32) -> Result<(ScaleCode, f32)> {
    let max = elem.max();
    Ok(match kind {
        FpScale::F16 => {
            let s = f16::from_f32((amax / max).min(f16::MAX.to_f32()));
            let s = if s.to_f32() == 0.0 && amax > 0.0 {
                MIN_SCALE
            } else {
                s
            };
            (ScaleCode::F16(s), s.to_f32())
        }
        FpScale::F16Pow2 => {
            let s = if amax == 0.0 {
                f16::ONE
            } else {
                pow2_scale(amax, max)
            };
            (ScaleCode::F16(s), s.to_f32())
        }
        FpScale::E8M0 => {
            // Minifloats only (`validate` refuses E8M0 scales for OVP).
            let emax = elem.minifloat().map_or(0, |m| m.emax());
            let e = mx_shared_exponent(amax, emax)?;
            (ScaleCode::E8M0(e), e8m0_decode(e))
        }
        FpScale::E4M3 => {
            // At most about 448 (the tensor scale covers the largest group), finite.
            let b = E4M3.encode(amax / max / tensor)?;
            let b = if E4M3.decode(b) == 0.0 && amax > 0.0 {
                1
            } else {
                b
            };
            (ScaleCode::E4M3(b), E4M3.decode(b) * tensor)
        }
    })
}

/// The quantizer's tensor scale for [`FpScale::E4M3`]: `amax / (max * 448)` over the
/// whole matrix, or 1 when that is zero.
fn tensor_scale(weights: &[f32], elem: FpElem) -> f32 {
    let amax = weights.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    let t = amax / (elem.max() * E4M3.max());
    if t > 0.0 {
        t
    } else {
        1.0
    }
}

/// One OVP group (`f16` scale kinds): [`ovp::search_scale`] with the scale of a clip
/// rounded to the nearest `f16` (at least `2^-24`), or to the nearest power of two in the
/// log domain (`2^-24 ..= 2^15`) under [`FpScale::F16Pow2`]; the codes land in `codes`.
/// An all-zero group gets codes 0 and scale 0 (`F16`) or 1 (`F16Pow2`).
fn ovp_group(
    grp: &[f32],
    format: FpFormat,
    victim: Victim,
    codes: &mut [u8],
    scratch: &mut Vec<u8>,
) -> f16 {
    let pow2 = format.scale == FpScale::F16Pow2;
    let stored = |s: f32| -> f32 {
        if pow2 {
            let e = (s.log2().round() as i32).clamp(POW2_MIN_EXP, POW2_MAX_EXP);
            2f32.powi(e)
        } else {
            let h = f16::from_f32(s.min(f16::MAX.to_f32()));
            if h.to_f32() == 0.0 {
                MIN_SCALE.to_f32()
            } else {
                h.to_f32()
            }
        }
    };
    match ovp::search_scale(format.elem.bits(), grp, victim, stored, codes, scratch) {
        // Exact: `stored` returned an f16 value.
        Some(s) => f16::from_f32(s),
        None if pow2 => f16::ONE,
        None => f16::ZERO,
    }
}

/// One stored scale, before it is pushed to its storage.
enum ScaleCode {
    F16(f16),
    E8M0(u8),
    E4M3(u8),
}

impl FpMatrix {
    /// Quantizes a row-major `n x k` f32 matrix.
    ///
    /// Per group, with `amax` the largest magnitude of its elements and `max` the element
    /// type's largest magnitude (E2M1 6, E3M2 28, E2M3 7.5):
    /// - [`FpScale::F16`]: `s = amax / max` rounded to the nearest `f16` (ties to even),
    ///   clamped to the `f16` maximum 65504 (so groups with `amax > 65504 max` saturate); a
    ///   nonzero group whose scale would round to zero gets the smallest `f16`, `2^-24`;
    ///   an all-zero group gets `s = 0`. Because `s` is rounded, `amax / s` may exceed
    ///   `max` slightly and the largest elements saturate at `max s`: by at most
    ///   `amax * 2^-11` for a normal `f16` scale, `max * 2^-25` for a subnormal one.
    /// - [`FpScale::F16Pow2`]: `s` is the smallest power of two `2^e >= amax / max` with
    ///   `-24 <= e <= 15` (so nothing saturates below `amax = max * 2^15`); an all-zero
    ///   group gets `s = 1`.
    /// - [`FpScale::E8M0`] (MXFP4, MXFP6): `s = 2^(floor(log2 amax) - emax)`, the byte of
    ///   [`mx_shared_exponent`]`(amax, emax)` (OCP MX v1.0; `emax` = 2 for E2M1 and E2M3,
    ///   4 for E3M2); an all-zero group gets [`E8M0_ONE`](crate::minifloat::E8M0_ONE)
    ///   (`s = 1`). Elements beyond `max s` saturate at `max s` as the specification says.
    /// - [`FpScale::E4M3`] (NVFP4): the tensor scale is `t = amax_tensor / (max * 448)`
    ///   (1 for an all-zero matrix), the group's byte `b` the E4M3 code of
    ///   `amax / max / t` (round to nearest even), raised to the smallest subnormal
    ///   `2^-9` for a nonzero group that would round to zero, and `s = fl32(e4m3(b) * t)`.
    ///
    /// Every element is then encoded as the element type's code of `v / s` (computed in
    /// `f32` with the stored scale), round to nearest, ties to even, saturating at
    /// `±max`; the sign is kept, so `-0.0` gets the negative-zero code. In an all-zero
    /// `F16` group (`s = 0`) the codes are those of the elements themselves (±0).
    ///
    /// # Errors
    /// Everything [`FpFormat::layout`] refuses; [`Error::BufferLength`] if
    /// `weights.len() != n * k`; [`Error::NonFinite`] with the index of the first NaN or
    /// infinite element.
    pub fn quantize(weights: &[f32], n: usize, k: usize, format: FpFormat) -> Result<Self> {
        Self::quantize_with(weights, n, k, format, Victim::KeepLeft)
    }

    /// [`quantize`](Self::quantize) with the OVP victim rule `victim` (which element of
    /// a pair stays when both are outliers; minifloat formats ignore it).
    ///
    /// # Errors
    /// As [`quantize`](Self::quantize).
    pub fn quantize_with(
        weights: &[f32],
        n: usize,
        k: usize,
        format: FpFormat,
        victim: Victim,
    ) -> Result<Self> {
        let layout = format.layout(n, k)?;
        check_len("weights", n * k, weights.len())?;
        check_finite(weights)?;
        let g = layout.group_len;
        let mut ovp_scratch = Vec::new();
        let mut f16_scales = Vec::new();
        let mut e8m0_scales = Vec::new();
        let tensor = if format.scale == FpScale::E4M3 {
            tensor_scale(weights, format.elem)
        } else {
            1.0
        };
        if format.scale.is_f16() {
            f16_scales.reserve_exact(layout.scales_len);
        } else {
            e8m0_scales.reserve_exact(layout.scales_len);
        }
        let mut row_codes = vec![0u8; k];
        let mut codes = vec![0u8; layout.plane0_len];
        let mut high = vec![0u8; layout.plane1_len];
        let (r0, r1) = (layout.row_bytes0, layout.row_bytes1);
        for (r, row) in weights.chunks_exact(k).enumerate() {
            for (j, grp) in row.chunks_exact(g).enumerate() {
                let Some(codec) = format.elem.minifloat() else {
                    let out = &mut row_codes[j * g..(j + 1) * g];
                    f16_scales.push(ovp_group(grp, format, victim, out, &mut ovp_scratch));
                    continue;
                };
                let amax = grp.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
                let (stored, s) = group_scale(amax, format.elem, format.scale, tensor)?;
                match stored {
                    ScaleCode::F16(v) => f16_scales.push(v),
                    ScaleCode::E8M0(e) | ScaleCode::E4M3(e) => e8m0_scales.push(e),
                }
                for (i, (c, &v)) in row_codes[j * g..(j + 1) * g]
                    .iter_mut()
                    .zip(grp)
                    .enumerate()
                {
                    // `s` is 0 only for an all-zero group; otherwise `|v / s|` is at most
                    // a few times `max` (or `f32::MAX / 65504` under the f16 clamp): finite.
                    let x = if s == 0.0 { v } else { v / s };
                    *c = codec.encode(x).map_err(|_| Error::NonFinite {
                        index: r * k + j * g + i,
                    })?;
                }
            }
            let out0 = &mut codes[r * r0..(r + 1) * r0];
            if r1 == 0 {
                pack::pack(&row_codes, format.elem.plane0_bits(), out0)?;
            } else {
                pack::split_4_2(&row_codes, &mut high[r * r1..(r + 1) * r1], out0)?;
            }
        }
        let scales = match format.scale {
            FpScale::F16 | FpScale::F16Pow2 => FpScales::F16(f16_scales),
            FpScale::E8M0 => FpScales::E8M0(e8m0_scales),
            FpScale::E4M3 => FpScales::E4M3(e8m0_scales, tensor),
        };
        Ok(FpMatrix {
            layout,
            codes,
            high,
            scales,
        })
    }

    /// Builds an owned single-plane (E2M1) matrix from canonical buffers (validated like
    /// [`FpMatrixRef::new`]).
    pub fn from_parts(
        format: FpFormat,
        n: usize,
        k: usize,
        codes: Vec<u8>,
        scales: FpScales,
    ) -> Result<Self> {
        Self::from_planes(format, n, k, codes, Vec::new(), scales)
    }

    /// Builds an owned matrix from canonical buffers (validated like
    /// [`FpMatrixRef::with_planes`]).
    pub fn from_planes(
        format: FpFormat,
        n: usize,
        k: usize,
        codes: Vec<u8>,
        high: Vec<u8>,
        scales: FpScales,
    ) -> Result<Self> {
        let layout =
            *FpMatrixRef::with_planes(format, n, k, &codes, &high, scales.view())?.layout();
        Ok(FpMatrix {
            layout,
            codes,
            high,
            scales,
        })
    }

    /// A borrowed view.
    pub fn view(&self) -> FpMatrixRef<'_> {
        FpMatrixRef {
            layout: self.layout,
            codes: &self.codes,
            high: &self.high,
            scales: self.scales.view(),
        }
    }

    /// The layout.
    pub fn layout(&self) -> &FpLayout {
        &self.layout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minifloat::E8M0_ONE;
    use proptest::prelude::*;

    const KINDS: [FpScale; 3] = [FpScale::F16, FpScale::F16Pow2, FpScale::E8M0];

    fn quantize_view(w: &[f32], n: usize, k: usize, f: FpFormat) -> (FpMatrix, Vec<f32>) {
        let m = FpMatrix::quantize(w, n, k, f).unwrap();
        let mut d = vec![0.0; n * k];
        m.view().dequantize(&mut d).unwrap();
        (m, d)
    }

    /// Every FP6 code: the 4+2 planes packed by hand (low nibbles in INT4 order, high
    /// bits in INT2 order), read back by `code`, valued through the codec, and produced
    /// again by quantizing the decoded values with scale 1.
    #[test]
    fn every_fp6_code_round_trips_through_the_planes() {
        for elem in [FpElem::E3M2, FpElem::E2M3] {
            let k = 64;
            let mut lo = [0u8; 32];
            let mut hi = [0u8; 16];
            for c in 0..64u8 {
                let i = usize::from(c);
                lo[i / 2] |= (c & 0xF) << (4 * (i % 2));
                hi[i / 4] |= (c >> 4) << (2 * (i % 4));
            }
            let f = FpFormat::new(elem, Group::PerRow, FpScale::F16Pow2);
            let one = [f16::ONE];
            let v = FpMatrixRef::with_planes(f, 1, k, &lo, &hi, FpScalesRef::F16(&one)).unwrap();
            let l = v.layout();
            assert_eq!((l.row_bytes0, l.row_bytes1, l.weight_bytes()), (32, 16, 50));
            let table = elem.minifloat().unwrap().table();
            for c in 0..64u8 {
                assert_eq!(v.code(0, usize::from(c)), c);
                assert_eq!(
                    v.weight(0, usize::from(c)).to_bits(),
                    table[usize::from(c)].to_bits()
                );
            }
            let m = FpMatrix::quantize(table, 1, k, f).unwrap();
            assert_eq!(
                (m.view().codes(), m.view().high()),
                (&lo[..], &hi[..]),
                "{elem:?}"
            );
            // A single-plane constructor cannot describe FP6.
            assert!(matches!(
                FpMatrixRef::new(f, 1, k, &lo, FpScalesRef::F16(&one)),
                Err(Error::BufferLength { .. })
            ));
        }
    }

    #[test]
    fn layout_sizes() {
        let l = FpFormat::f16(Group::Size(32)).layout(3, 64).unwrap();
        assert_eq!(
            (
                l.group_len,
                l.groups_per_row,
                l.row_bytes0,
                l.plane0_len,
                l.scales_len
            ),
            (32, 2, 32, 96, 6)
        );
        assert_eq!(l.weight_bytes(), 96 + 12);
        // Odd K, one group per row: rows round up to whole bytes.
        let l = FpFormat::f16(Group::PerRow).layout(2, 33).unwrap();
        assert_eq!(
            (
                l.group_len,
                l.groups_per_row,
                l.row_bytes0,
                l.plane0_len,
                l.scales_len
            ),
            (33, 1, 17, 34, 2)
        );
        let l = FpFormat::f16_pow2(Group::Size(33)).layout(5, 33).unwrap();
        assert_eq!((l.group_len, l.row_bytes0, l.plane0_len), (33, 17, 85));
        let l = FpFormat::f16(Group::PerRow).layout(1, 1).unwrap();
        assert_eq!((l.row_bytes0, l.plane0_len, l.scales_len), (1, 1, 1));
        let l = FpFormat::f16(Group::Size(256)).layout(4, 768).unwrap();
        assert_eq!((l.row_bytes0, l.scales_len), (384, 12));
        // MXFP4: E8M0 bytes per 32.
        let l = FpFormat::mxfp4().layout(2, 96).unwrap();
        assert_eq!(
            (
                l.group_len,
                l.groups_per_row,
                l.row_bytes0,
                l.plane0_len,
                l.scales_len
            ),
            (32, 3, 48, 96, 6)
        );
        assert_eq!(l.weight_bytes(), 96 + 6);
    }

    #[test]
    fn group_rules() {
        // The F16 kinds accept exactly the groups the INT formats accept.
        for kind in [FpScale::F16, FpScale::F16Pow2] {
            let f = |group| FpFormat::new(FpElem::E2M1, group, kind);
            assert!(matches!(
                f(Group::Size(32)).layout(1, 48),
                Err(Error::BadGroupSize { .. })
            ));
            assert!(matches!(
                f(Group::Size(48)).layout(1, 96),
                Err(Error::BadGroupSize { .. })
            ));
            assert!(f(Group::Size(0)).layout(1, 64).is_err());
            assert!(f(Group::Size(64)).layout(1, 64).is_ok());
        }
        // MXFP4 needs exactly Size(32).
        let mx = |group| FpFormat {
            elem: FpElem::E2M1,
            group,
            scale: FpScale::E8M0,
        };
        for g in [Group::PerRow, Group::Size(64), Group::Size(16)] {
            assert!(matches!(
                mx(g).layout(1, 64),
                Err(Error::InvalidParameter { .. })
            ));
            assert!(mx(g).validate().is_err());
        }
        assert!(matches!(
            FpFormat::mxfp4().layout(1, 48),
            Err(Error::BadGroupSize { .. })
        ));
        assert!(FpFormat::mxfp4().layout(1, 32).is_ok());
        for f in [FpFormat::mxfp4(), FpFormat::f16(Group::PerRow)] {
            assert!(matches!(f.layout(0, 32), Err(Error::InvalidShape { .. })));
            assert!(matches!(f.layout(1, 0), Err(Error::InvalidShape { .. })));
        }
    }

    /// Sizes near the top of `usize` are exact or an error, never wrapped.
    #[test]
    fn huge_shapes_are_exact_or_refused() {
        let f = FpFormat::f16(Group::PerRow);
        let l = f.layout(1, (1 << 61) + 1).unwrap();
        assert_eq!(
            (l.row_bytes0, l.plane0_len, l.scales_len),
            ((1 << 60) + 1, (1 << 60) + 1, 1)
        );
        let l = FpFormat::mxfp4().layout(2, 1 << 60).unwrap();
        assert_eq!(
            (l.row_bytes0, l.plane0_len, l.scales_len),
            (1 << 59, 1 << 60, 1 << 56)
        );
        for (n, k) in [
            (8, 1usize << 61),
            (1, 1 << 63),
            (usize::MAX, 2),
            (3, usize::MAX / 2),
            (2, usize::MAX),
        ] {
            assert!(
                matches!(f.layout(n, k), Err(Error::InvalidShape { .. })),
                "{n} x {k}"
            );
        }
    }

    /// All 16 codes: packed by hand in INT4 nibble order, read back by `code`, valued by
    /// `weight`, and reproduced by the quantizer.
    #[test]
    fn every_code_round_trips() {
        // Codes 0..16 in order: byte i = code 2i | code (2i+1) << 4.
        let packed: Vec<u8> = (0..8u8).map(|i| (2 * i) | ((2 * i + 1) << 4)).collect();
        assert_eq!(packed[0], 0x10);
        assert_eq!(packed[7], 0xFE);
        let s = 0.75f32;
        let scales = [f16::from_f32(s)];
        let v = FpMatrixRef::new(
            FpFormat::f16(Group::PerRow),
            1,
            16,
            &packed,
            FpScalesRef::F16(&scales),
        )
        .unwrap();
        let mut d = [0.0f32; 16];
        v.dequantize_row(0, &mut d).unwrap();
        for c in 0..16u8 {
            let k = usize::from(c);
            assert_eq!(v.code(0, k), c);
            let want = s * E2M1.decode(c);
            assert_eq!(v.weight(0, k).to_bits(), want.to_bits(), "code {c}");
            assert_eq!(d[k].to_bits(), want.to_bits());
        }
        assert!(d[8].is_sign_negative() && d[8] == 0.0, "code 8 is -0");
        let (m, back) = quantize_view(&d, 1, 16, FpFormat::f16(Group::PerRow));
        assert_eq!(m.view().codes(), &packed[..]);
        assert_eq!(m.view().scale(0, 0), s);
        assert!(back.iter().zip(&d).all(|(a, b)| a.to_bits() == b.to_bits()));

        // The same 16 codes twice in an MXFP4 group with scale 2^-3.
        let packed2: Vec<u8> = packed.iter().chain(&packed).copied().collect();
        let e = [124u8];
        let v =
            FpMatrixRef::new(FpFormat::mxfp4(), 1, 32, &packed2, FpScalesRef::E8M0(&e)).unwrap();
        for k in 0..32 {
            let c = (k % 16) as u8;
            assert_eq!(v.code(0, k), c);
            assert_eq!(v.weight(0, k), 0.125 * E2M1.decode(c));
        }
        let mut d = vec![0.0; 32];
        v.dequantize(&mut d).unwrap();
        let (m, _) = quantize_view(&d, 1, 32, FpFormat::mxfp4());
        assert_eq!(m.view().codes(), &packed2[..]);
        assert_eq!(m.view().scales().e8m0(), Some(&e[..]));
    }

    /// A group of 32 worked by hand. The largest magnitude is 3.0 (elements 7 and 15),
    /// so every scale kind picks s = 0.5:
    /// - F16: 3 / 6 = 0.5, exact in f16 (0x3800);
    /// - F16Pow2: the smallest power of two >= 0.5 is 0.5;
    /// - E8M0: floor(log2 3) - 2 = -1, byte 126, 2^-1 = 0.5.
    ///
    /// Each code is E2M1-RNE of v / 0.5 (E2M1 magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6 are
    /// codes 0..7, the negatives 8..15):
    /// ```text
    ///  k   v       v/s    code      k   v      v/s    code
    ///  0   0       0      0         16  0.125  0.25   0  tie 0|0.5 -> 0 (even)
    ///  1   0.25    0.5    1         17  0.375  0.75   2  tie 0.5|1 -> 1
    ///  2   0.5     1      2         18  0.625  1.25   2  tie 1|1.5 -> 1
    ///  3   0.75    1.5    3         19  0.875  1.75   4  tie 1.5|2 -> 2
    ///  4   1       2      4         20  1.25   2.5    4  tie 2|3 -> 2
    ///  5   1.5     3      5         21  1.75   3.5    6  tie 3|4 -> 4
    ///  6   2       4      6         22  2.5    5      6  tie 4|6 -> 4
    ///  7   3       6      7         23 -0.1   -0.2    8  -> -0
    ///  8  -0      -0      8         24  0.3    0.6    1  -> 0.5
    ///  9  -0.25   -0.5    9         25 -0.4   -0.8    A  -> -1
    /// 10  -0.5    -1      A         26  1.1    2.2    4  -> 2
    /// 11  -0.75   -1.5    B         27 -1.3   -2.6    D  -> -3
    /// 12  -1      -2      C         28  2.2    4.4    6  -> 4
    /// 13  -1.5    -3      D         29 -2.6   -5.2    F  -> -6
    /// 14  -2      -4      E         30  2.9    5.8    7  -> 6
    /// 15  -3      -6      F         31  0.01   0.02   0  -> 0
    /// ```
    /// Bytes (even element low nibble): 10 32 54 76 98 BA DC FE 20 42 64 86 A1 D4 F6 07.
    #[test]
    fn hand_worked_group() {
        #[rustfmt::skip]
        let w: [f32; 32] = [
            0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
            -0.0, -0.25, -0.5, -0.75, -1.0, -1.5, -2.0, -3.0,
            0.125, 0.375, 0.625, 0.875, 1.25, 1.75, 2.5, -0.1,
            0.3, -0.4, 1.1, -1.3, 2.2, -2.6, 2.9, 0.01,
        ];
        #[rustfmt::skip]
        let codes: [u8; 32] = [
            0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7,
            0x8, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF,
            0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x8,
            0x1, 0xA, 0x4, 0xD, 0x6, 0xF, 0x7, 0x0,
        ];
        let bytes = [
            0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0x20, 0x42, 0x64, 0x86, 0xA1, 0xD4,
            0xF6, 0x07,
        ];
        let formats = [
            FpFormat::f16(Group::Size(32)),
            FpFormat::f16_pow2(Group::Size(32)),
            FpFormat::mxfp4(),
        ];
        for f in formats {
            let (m, d) = quantize_view(&w, 1, 32, f);
            let v = m.view();
            assert_eq!(v.codes(), &bytes[..], "{f:?}");
            for (k, &c) in codes.iter().enumerate() {
                assert_eq!(v.code(0, k), c, "{f:?} [{k}]");
                assert_eq!(d[k], 0.5 * E2M1.decode(c));
            }
            assert_eq!(v.scale(0, 0), 0.5);
            match v.scales() {
                FpScalesRef::F16(s) => assert_eq!(s, [f16::from_bits(0x3800)]),
                FpScalesRef::E8M0(e) => assert_eq!(e, [126]),
                FpScalesRef::E4M3(..) => unreachable!(),
            }
        }
    }

    /// FP8 by hand, one byte per code: E4M3 per row with an f16 scale `448 / 448 = 1`:
    /// 448 -> 0x7E; -0.3 lies between -0.28125 (0xA9) and -0.3125 (0xAA; exponent field 5,
    /// mantissa 2) and is nearer -0.3125 (0.0125 vs 0.01875); 3 = 1.5 * 2^1 -> 0x44; the
    /// zeros keep their signs. E5M2 per row with a power-of-two scale.
    #[test]
    fn fp8_by_hand() {
        let f = FpFormat::new(FpElem::E4M3, Group::PerRow, FpScale::F16);
        let (m, d) = quantize_view(&[448.0, -0.3, 0.0, -0.0, 3.0], 1, 5, f);
        let v = m.view();
        assert_eq!(v.scale(0, 0), 1.0);
        assert_eq!(v.codes(), &[0x7E, 0xAA, 0x00, 0x80, 0x44]);
        assert_eq!(m.layout().row_bytes0, 5);
        assert_eq!((d[0], d[1], d[4]), (448.0, -0.3125, 3.0));
        // E5M2, per-row power-of-two scale: amax 2^20 needs 2^20 / 57344 -> 2^5 = 32;
        // 2^20 / 32 = 32768 (0x78), 1.0 / 32 = 2^-5 (0x28), 3 / 32 = 0.09375 =
        // 1.5 * 2^-4 (0x2E).
        let f = FpFormat::new(FpElem::E5M2, Group::PerRow, FpScale::F16Pow2);
        let (m, d) = quantize_view(&[1048576.0, 1.0, -3.0], 1, 3, f);
        assert_eq!(m.view().scale(0, 0), 32.0);
        assert_eq!(m.view().codes(), &[0x78, 0x28, 0xAE]);
        assert_eq!(d, [1048576.0, 1.0, -3.0]);
        // NaN and infinite codes are weights like any other (views do not read codes).
        let f = FpFormat::new(FpElem::E5M2, Group::PerRow, FpScale::F16);
        let one = [f16::ONE];
        let v = FpMatrixRef::new(f, 1, 3, &[0x7C, 0xFC, 0x7D], FpScalesRef::F16(&one)).unwrap();
        assert_eq!(
            (v.weight(0, 0), v.weight(0, 1)),
            (f32::INFINITY, f32::NEG_INFINITY)
        );
        assert!(v.weight(0, 2).is_nan());
        let f = FpFormat::new(FpElem::E4M3, Group::PerRow, FpScale::F16);
        let v = FpMatrixRef::new(f, 1, 2, &[0x7F, 0x7E], FpScalesRef::F16(&one)).unwrap();
        assert!(v.weight(0, 0).is_nan());
        assert_eq!(v.weight(0, 1), 448.0);
    }

    /// NVFP4 by hand: two groups of 16, tensor amax 10.5, so the tensor scale is
    /// `10.5 / (6 * 448) = 2^-8` (exact). Group 0 (amax 10.5): `10.5 / 6 / 2^-8 = 448`,
    /// E4M3 0x7E, `s = 1.75`, 10.5 -> 6 (code 7). Group 1 (amax 3): `3 / 6 / 2^-8 = 128`,
    /// E4M3 0x70 (exponent 14), `s = 0.5`: 3 -> 6 (code 7), 1.1 -> 2.2 -> 2 (code 4),
    /// -0.3 -> -0.6 -> -0.5 (code 9).
    #[test]
    fn nvfp4_by_hand() {
        let mut w = [0.0f32; 32];
        w[0] = 10.5;
        w[16] = 3.0;
        w[17] = 1.1;
        w[18] = -0.3;
        let (m, d) = quantize_view(&w, 1, 32, FpFormat::nvfp4());
        let v = m.view();
        assert_eq!(v.scales().e4m3(), Some((&[0x7E, 0x70][..], 2f32.powi(-8))));
        assert_eq!((v.scale(0, 0), v.scale(0, 1)), (1.75, 0.5));
        assert_eq!(
            (v.code(0, 0), v.code(0, 16), v.code(0, 17), v.code(0, 18)),
            (7, 7, 4, 9)
        );
        assert_eq!((d[0], d[16], d[17], d[18]), (10.5, 3.0, 1.0, -0.25));
        assert_eq!(m.layout().weight_bytes(), 16 + 2);
        // A tiny group next to a large one gets the smallest subnormal, 2^-9.
        let mut w2 = [0.0f32; 32];
        w2[0] = 1.0e4;
        w2[20] = 1.0e-6;
        let (m, _) = quantize_view(&w2, 1, 32, FpFormat::nvfp4());
        assert_eq!(m.view().scales().e4m3().unwrap().0, &[0x7E, 0x01]);
        // The tensor scale of an all-zero matrix is 1, its block scales 0.
        let (m, d) = quantize_view(&[0.0; 16], 1, 16, FpFormat::nvfp4());
        assert_eq!(m.view().scales().e4m3(), Some((&[0u8][..], 1.0)));
        assert!(d.iter().all(|&x| x == 0.0));
    }

    /// NVFP4 validation: groups of 16 only (and only with E4M3), K a multiple of 16, no
    /// E4M3 NaN code, a finite tensor scale, byte storage.
    #[test]
    fn nvfp4_rejects_bad_input() {
        let f = FpFormat::nvfp4();
        let codes = [0u8; 16];
        assert!(FpMatrixRef::new(f, 1, 32, &codes, FpScalesRef::E4M3(&[0x7E, 0x01], 0.5)).is_ok());
        for bad in [[0x7F, 0], [0, 0xFF]] {
            assert!(FpMatrixRef::new(f, 1, 32, &codes, FpScalesRef::E4M3(&bad, 1.0)).is_err());
        }
        // A negative E4M3 scale is a finite value: accepted.
        assert!(FpMatrixRef::new(f, 1, 32, &codes, FpScalesRef::E4M3(&[0xB8, 0], 1.0)).is_ok());
        for t in [f32::NAN, f32::INFINITY] {
            assert!(FpMatrixRef::new(f, 1, 32, &codes, FpScalesRef::E4M3(&[0, 0], t)).is_err());
        }
        assert!(FpMatrixRef::new(f, 1, 32, &codes, FpScalesRef::E4M3(&[0], 1.0)).is_err());
        assert!(FpMatrixRef::new(f, 1, 32, &codes, FpScalesRef::E8M0(&[0, 0])).is_err());
        assert!(matches!(
            f.layout(1, 40),
            Err(Error::BadGroupSize { group: 16, k: 40 })
        ));
        assert!(FpFormat::new(FpElem::E2M1, Group::Size(32), FpScale::E4M3)
            .validate()
            .is_err());
        assert!(FpFormat::f16(Group::Size(16)).layout(1, 32).is_err());
        assert_eq!(f.layout(3, 48).unwrap().scales_len, 9);
        assert!(matches!(f.layout(3, 0), Err(Error::InvalidShape { .. })));
    }

    /// Where the three scale rules differ: a group with amax = 7 (and a -1).
    /// - F16: 7/6 = 1.1666.. -> f16 1195 * 2^-10 = 1.1669921875; 7 / s = 5.998 -> 6,
    ///   dequantized 6 s = 7.001953125; -1 / s = -0.857 -> -1, dequantized -s.
    /// - F16Pow2: the smallest power of two >= 7/6 is 2; 7/2 = 3.5 ties 3|4 -> 4, value 8;
    ///   -1/2 = -0.5 is exact.
    /// - E8M0: floor(log2 7) - 2 = 0, s = 1; 7 saturates to 6; -1 is exact.
    #[test]
    fn scale_rules_differ() {
        let mut w = [0.0f32; 32];
        w[3] = 7.0;
        w[4] = -1.0;
        let s16 = 1195.0 / 1024.0;
        let cases = [
            (FpFormat::f16(Group::Size(32)), s16, 6.0 * s16, -s16),
            (FpFormat::f16_pow2(Group::Size(32)), 2.0, 8.0, -1.0),
            (FpFormat::mxfp4(), 1.0, 6.0, -1.0),
        ];
        for (f, s, top, minus_one) in cases {
            let (m, d) = quantize_view(&w, 1, 32, f);
            assert_eq!(m.view().scale(0, 0), s, "{f:?}");
            assert_eq!(d[3], top, "{f:?}");
            assert_eq!(d[4], minus_one, "{f:?}");
        }
        assert_eq!(f16::from_f32(7.0 / 6.0).to_f32(), s16);
    }

    #[test]
    fn zero_groups() {
        let mut w = vec![0.0f32; 64];
        w[33] = -0.0;
        w[40] = 1.5;
        for kind in KINDS {
            let f = FpFormat {
                elem: FpElem::E2M1,
                group: Group::Size(32),
                scale: kind,
            };
            let (m, d) = quantize_view(&w, 1, 64, f);
            let v = m.view();
            let want = match kind {
                FpScale::F16 => 0.0,
                _ => 1.0,
            };
            assert_eq!(v.scale(0, 0), want, "{kind:?}");
            if kind == FpScale::E8M0 {
                assert_eq!(v.scales().e8m0().unwrap()[0], E8M0_ONE);
            }
            assert!(d[..32].iter().all(|&x| x == 0.0));
            assert_eq!(v.code(0, 0), 0);
            // A negative zero in a nonzero group keeps its sign.
            assert_eq!(v.code(0, 33), 8);
            assert_eq!(d[40], 1.5, "{kind:?}");
        }
        let (m, d) = quantize_view(&[-0.0, 0.0], 1, 2, FpFormat::f16(Group::PerRow));
        assert_eq!(m.view().codes(), &[0x08]);
        assert_eq!(m.view().scale(0, 0), 0.0);
        assert!(d[0].is_sign_negative() && d[0] == 0.0);
    }

    /// Tiny and huge groups: F16 keeps the smallest f16 instead of 0 and clamps at the
    /// f16 maximum; F16Pow2 clamps to 2^-24 / 2^15; E8M0 is exact down to 2^-127.
    #[test]
    fn extreme_groups() {
        let min = f16::from_bits(1).to_f32();
        let f = FpFormat::f16(Group::PerRow);
        let p = FpFormat::f16_pow2(Group::PerRow);
        for amax in [1e-9f32, 2.9e-7, 1e-30, f32::from_bits(1)] {
            let w = [amax, -amax / 2.0, 0.0];
            let (m, _) = quantize_view(&w, 1, 3, f);
            assert_eq!(m.view().scale(0, 0), min, "{amax:e}");
            let (m, _) = quantize_view(&w, 1, 3, p);
            assert_eq!(m.view().scale(0, 0), min, "{amax:e}");
        }
        // f16 subnormal scale: 1e-6 / 6 rounds to 3 * 2^-24.
        let (m, _) = quantize_view(&[1e-6], 1, 1, f);
        assert_eq!(m.view().scale(0, 0), 3.0 * min);
        let (m, d) = quantize_view(&[1e6, -1e5, 3e38], 1, 3, f);
        assert_eq!(m.view().scale(0, 0), 65504.0);
        // 1e6 / 65504 = 15.3 -> 6; -1e5 / 65504 = -1.53 -> -1.5.
        assert_eq!(d, [65504.0 * 6.0, -65504.0 * 1.5, 65504.0 * 6.0]);
        let (m, d) = quantize_view(&[1e6, 196608.0, -98304.0], 1, 3, p);
        assert_eq!(m.view().scale(0, 0), 32768.0);
        assert_eq!(d, [196608.0, 196608.0, -98304.0]);
        // E8M0 bottoms out at 2^-127 (an f32 subnormal); the top is never reached.
        let mut w = [0.0f32; 32];
        w[0] = 1e-38;
        w[1] = f32::from_bits(1);
        let (m, d) = quantize_view(&w, 1, 32, FpFormat::mxfp4());
        assert_eq!(m.view().scales().e8m0(), Some(&[0u8][..]));
        // 1e-38 / 2^-127 = 1.70 -> 1.5.
        assert_eq!(f64::from(d[0]), 1.5 * 2f64.powi(-127));
        assert_eq!(d[1], 0.0);
        w[0] = f32::MAX;
        let (m, d) = quantize_view(&w, 1, 32, FpFormat::mxfp4());
        assert_eq!(m.view().scales().e8m0(), Some(&[252u8][..]));
        assert_eq!(d[0], 6.0 * 2f32.powi(125));
    }

    #[test]
    fn rejects_bad_input() {
        let f = FpFormat::f16(Group::Size(32));
        let mut w = vec![0.0f32; 64];
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN] {
            w[40] = bad;
            for kind in KINDS {
                let f = FpFormat {
                    elem: FpElem::E2M1,
                    group: Group::Size(32),
                    scale: kind,
                };
                assert_eq!(
                    FpMatrix::quantize(&w, 1, 64, f),
                    Err(Error::NonFinite { index: 40 })
                );
            }
        }
        assert!(matches!(
            FpMatrix::quantize(&[0.0; 63], 1, 64, f),
            Err(Error::BufferLength { .. })
        ));
        assert!(matches!(
            FpMatrix::quantize(&[0.0; 65], 1, 64, f),
            Err(Error::BufferLength { .. })
        ));
        assert!(FpMatrix::quantize(&[], 0, 64, f).is_err());

        let codes = [0u8; 32];
        let ok = [f16::ONE; 2];
        fn sref(s: &[f16]) -> FpScalesRef<'_> {
            FpScalesRef::F16(s)
        }
        assert!(FpMatrixRef::new(f, 1, 64, &codes, sref(&ok)).is_ok());
        // Short and long buffers.
        assert!(matches!(
            FpMatrixRef::new(f, 1, 64, &codes[..31], sref(&ok)),
            Err(Error::BufferLength {
                what: "codes",
                expected: 32,
                got: 31
            })
        ));
        assert!(matches!(
            FpMatrixRef::new(f, 1, 64, &codes, sref(&ok[..1])),
            Err(Error::BufferLength {
                what: "scales",
                expected: 2,
                got: 1
            })
        ));
        assert!(matches!(
            FpMatrixRef::new(f, 1, 64, &[0; 33], sref(&ok)),
            Err(Error::BufferLength { .. })
        ));
        // Non-finite f16 scales.
        for bad in [f16::NAN, f16::INFINITY, f16::NEG_INFINITY] {
            let s = [f16::ONE, bad];
            for fm in [f, FpFormat::f16_pow2(Group::Size(32))] {
                assert!(matches!(
                    FpMatrixRef::new(fm, 1, 64, &codes, sref(&s)),
                    Err(Error::InvalidParameter { .. })
                ));
                assert!(
                    FpMatrix::from_parts(fm, 1, 64, codes.to_vec(), FpScales::F16(s.to_vec()))
                        .is_err()
                );
            }
        }
        // Any finite f16 is a valid F16 scale (the INT convention), but not a valid
        // power-of-two scale.
        let p = FpFormat::f16_pow2(Group::Size(32));
        for x in [0.0f32, -0.0, -1.0, 0.75, 3.0, -0.5, 65504.0] {
            let s = [f16::ONE, f16::from_f32(x)];
            assert!(FpMatrixRef::new(f, 1, 64, &codes, sref(&s)).is_ok());
            assert!(
                matches!(
                    FpMatrixRef::new(p, 1, 64, &codes, sref(&s)),
                    Err(Error::InvalidParameter { .. })
                ),
                "{x}"
            );
        }
        // E8M0: the NaN code, wrong storage kinds.
        let mx = FpFormat::mxfp4();
        assert!(FpMatrixRef::new(mx, 1, 64, &codes, FpScalesRef::E8M0(&[0, 254])).is_ok());
        assert!(matches!(
            FpMatrixRef::new(mx, 1, 64, &codes, FpScalesRef::E8M0(&[127, 0xFF])),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(
            FpMatrix::from_parts(mx, 1, 64, codes.to_vec(), FpScales::E8M0(vec![0xFF, 1])).is_err()
        );
        assert!(matches!(
            FpMatrixRef::new(mx, 1, 64, &codes, FpScalesRef::E8M0(&[127])),
            Err(Error::BufferLength { .. })
        ));
        assert!(matches!(
            FpMatrixRef::new(mx, 1, 64, &codes, sref(&ok)),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            FpMatrixRef::new(f, 1, 64, &codes, FpScalesRef::E8M0(&[127, 127])),
            Err(Error::InvalidParameter { .. })
        ));
        // Output buffers and rows.
        let v = FpMatrixRef::new(f, 1, 64, &codes, sref(&ok)).unwrap();
        assert!(v.dequantize_row(1, &mut [0.0; 64]).is_err());
        assert!(v.dequantize_row(0, &mut [0.0; 63]).is_err());
        assert!(v.dequantize(&mut [0.0; 65]).is_err());
    }

    #[test]
    fn f16_pow2_recognizer() {
        let mut n = 0;
        for bits in 0..=u16::MAX {
            let s = f16::from_bits(bits);
            let x = s.to_f32();
            let want = x > 0.0 && x.is_finite() && x.log2().fract() == 0.0;
            assert_eq!(is_f16_pow2(s), want, "{bits:#06x}");
            n += usize::from(want);
        }
        assert_eq!(n, 40, "2^-24 ..= 2^15");
    }

    /// Half the gap between the neighbouring magnitudes of `codec` around `x = |v| / s`,
    /// or the overshoot past the largest one.
    fn step_bound(codec: MiniFloat, x: f64) -> f64 {
        let max = f64::from(codec.max());
        if x > max {
            return x - max;
        }
        let mags = codec
            .table()
            .iter()
            .map(|&c| f64::from(c))
            .filter(|&c| c >= 0.0);
        let lo = mags.clone().filter(|&c| c <= x).fold(0.0, f64::max);
        let hi = mags.filter(|&c| c >= x).fold(max, f64::min);
        (hi - lo) / 2.0
    }

    fn random_weights(n: usize, seed: u64, spread: i32) -> Vec<f32> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let r = next();
                let u = (r >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                // Magnitudes over several binades, so groups differ in scale.
                let e = (r & 0xFF) as i32 % (2 * spread + 1) - spread;
                u * 4.0 * 2f32.powi(e)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn quantize_dequantize_roundtrip(
            elem in prop::sample::select(vec![
                FpElem::E2M1, FpElem::E3M2, FpElem::E2M3, FpElem::E4M3, FpElem::E5M2,
            ]),
            kind in prop::sample::select(vec![
                FpScale::F16, FpScale::F16Pow2, FpScale::E8M0, FpScale::E4M3,
            ]),
            gi in 0usize..5,
            n in 1usize..5,
            kmul in 1usize..4,
            spread in 0i32..12,
            shift in -30i32..24,
            seed in any::<u64>(),
        ) {
            let group = match (kind, gi) {
                (FpScale::E8M0, _) => Group::Size(32),
                (FpScale::E4M3, _) => Group::Size(16),
                (_, 4) => Group::PerRow,
                (_, gi) => Group::Size(Group::SIZES[gi]),
            };
            let k = match group { Group::Size(g) => g * kmul, Group::PerRow => 17 * kmul };
            let f = FpFormat::new(elem, group, kind);
            let codec = elem.minifloat().unwrap();
            let max = elem.max();
            // Shifted so that groups reach subnormal f16 scales and the f16 clamps.
            let w: Vec<f32> = random_weights(n * k, seed, spread)
                .into_iter()
                .map(|x| x * 2f32.powi(shift))
                .collect();
            let (m, back) = quantize_view(&w, n, k, f);
            let v = m.view();
            let g = v.layout().group_len;
            for r in 0..n {
                for j in 0..k / g {
                    let grp = &w[r * k + j * g..r * k + (j + 1) * g];
                    let amax = grp.iter().fold(0.0f32, |a, &x| a.max(x.abs()));
                    let s = v.scale(r, j);
                    // The scale each rule promises.
                    match kind {
                        FpScale::F16 => {
                            let want = f16::from_f32((amax / max).min(65504.0)).to_f32();
                            let tiny = want == 0.0 && amax > 0.0;
                            prop_assert_eq!(s, if tiny { 2f32.powi(-24) } else { want });
                        }
                        FpScale::F16Pow2 => {
                            prop_assert!(is_f16_pow2(f16::from_f32(s)));
                            prop_assert!(max * s >= amax || s == 32768.0);
                            prop_assert!(max / 2.0 * s < amax || s == 2f32.powi(-24) || amax == 0.0,
                                "not the smallest: s {} amax {}", s, amax);
                        }
                        FpScale::E8M0 => {
                            let e = v.scales().e8m0().unwrap()[r * (k / g) + j];
                            prop_assert_eq!(Ok(e), mx_shared_exponent(amax, codec.emax()));
                            prop_assert_eq!(s, e8m0_decode(e));
                        }
                        FpScale::E4M3 => {
                            let (b, t) = v.scales().e4m3().unwrap();
                            let tamax = w.iter().fold(0.0f32, |a, &x| a.max(x.abs()));
                            let want_t = tamax / (max * 448.0);
                            prop_assert_eq!(t, if want_t > 0.0 { want_t } else { 1.0 });
                            let want = E4M3.encode(amax / max / t).unwrap();
                            let want = if want == 0 && amax > 0.0 { 1 } else { want };
                            let b = b[r * (k / g) + j];
                            prop_assert_eq!(b, want);
                            prop_assert_eq!(s, E4M3.decode(b) * t);
                        }
                    }
                    for (i, &x) in grp.iter().enumerate() {
                        let kk = j * g + i;
                        let y = back[r * k + kk];
                        prop_assert_eq!(y, v.weight(r, kk));
                        prop_assert_eq!(y, s * codec.decode(v.code(r, kk)));
                        let err = (f64::from(x) - f64::from(y)).abs();
                        if s == 0.0 {
                            prop_assert_eq!(y, 0.0);
                            continue;
                        }
                        let s64 = f64::from(s);
                        let xs = f64::from(x).abs() / s64;
                        // Half a step at that magnitude (or the saturation overshoot),
                        // times the scale, plus the f32 rounding of x / s.
                        let bound = step_bound(codec, xs) * s64 + f64::from(x).abs() * 1e-6;
                        prop_assert!(
                            err <= bound,
                            "{:?} [{},{}] x={:e} y={:e} s={:e} bound={:e}",
                            f, r, kk, x, y, s, bound
                        );
                        // And no representable value is nearer (ties aside).
                        let best = codec.table().iter()
                            .map(|&c| (f64::from(x) - s64 * f64::from(c)).abs())
                            .fold(f64::INFINITY, f64::min);
                        prop_assert!(err <= best + f64::from(x).abs() * 1e-6);
                        // The sign is kept.
                        prop_assert!(y == 0.0 || (y > 0.0) == (x > 0.0));
                    }
                }
            }
            // Unused bits of every row's last byte are zero.
            let l = v.layout();
            for r in 0..n {
                if k % 2 == 1 && elem.plane0_bits() == 4 {
                    prop_assert_eq!(v.codes()[(r + 1) * l.row_bytes0 - 1] >> 4, 0);
                }
                if l.row_bytes1 > 0 && k % 4 != 0 {
                    let last = v.high()[(r + 1) * l.row_bytes1 - 1];
                    prop_assert_eq!(last >> (2 * (k % 4)), 0);
                }
            }
            // Round trip through from_planes and to_owned.
            let (codes, high) = (v.codes().to_vec(), v.high().to_vec());
            let again = FpMatrix::from_planes(f, n, k, codes, high, v.scales().to_owned()).unwrap();
            prop_assert_eq!(&again, &m);
            prop_assert_eq!(&v.to_owned(), &m);
        }
    }
}
