//! # lowbit
//!
//! Quantized matrix kernels for CPUs. Quantize an `N x K` f32 weight matrix into a
//! low-bit [`Format`], then multiply it by activations with [`gemv`] — on the fastest
//! instruction set this CPU has (AVX2, AVX-512, NEON), or a lower one you choose.
//!
//! ```
//! use lowbit::{Format, Group, QuantizedMatrix};
//! let (n, k) = (8, 64);
//! let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.01).sin()).collect();
//! let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(32)))?;
//! let x = vec![1.0f32; k];
//! let mut y = vec![0.0f32; n];
//! lowbit::gemv(q.view(), &x, &mut y)?;
//! # Ok::<(), lowbit::Error>(())
//! ```
//!
//! - Owned matrices ([`QuantizedMatrix`]) and zero-copy views over caller buffers
//!   ([`MatrixRef`], e.g. [`MatrixRef::int`]) in the canonical layouts of `FORMATS.md`.
//! - [`gemv_rows`] and [`gemm_rows`] compute a range of output rows on the calling
//!   thread, for engines with their own thread pool; [`gemv`] and [`gemm_with`] split rows
//!   over rayon (feature `rayon`, on by default). Every row is computed the same way
//!   whatever the split, so results are bitwise identical for any thread count.
//! - `y = W x`, `y += W x` and an optional bias ([`GemvOptions`]).
//! - Allocation: the calls ending in `_ws` take a [`Workspace`] and allocate nothing once
//!   it has grown to the largest shape seen (the reordered or quantized activations live
//!   there); the other calls allocate their scratch per call. Rayon's scheduler, when rows
//!   are split over threads, is outside this promise.
//! - Activations: NaN or infinity in the activations is an error on every ISA and
//!   precision ([`Error::NonFinite`]), detected before anything is written.
//! - Errors are values ([`Error`]); nothing is written to `y` unless the call succeeds.

pub use lowbit_formats::fp::{
    FpElem, FpFormat, FpMatrix, FpMatrixRef, FpScale, FpScales, FpScalesRef,
};
pub use lowbit_formats::import;
pub use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
pub use lowbit_formats::{bf16, f16, Error, Group, Result};
pub use lowbit_kernels::a8::A8Activations;
pub use lowbit_kernels::{
    active_isa, call_isa, cpu_features, isa_cap, set_isa_cap, CpuFeatures, Isa, Variant,
};

/// A weight format. Each variant's canonical layout is documented on its matrix type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// INT-b with a scale (and optionally a zero-point) per group: see [`IntFormat`].
    Int(IntFormat),
    /// Minifloat weights (FP4 E2M1, FP6 E3M2 / E2M3, FP8 E4M3 / E5M2) with an f16,
    /// power-of-two f16 or
    /// E8M0 scale per group, or an E4M3 scale per 16 and an f32 tensor scale (NVFP4): see
    /// [`FpFormat`].
    Fp(FpFormat),
}

impl Format {
    /// Symmetric INT4 (zero-point fixed at 8).
    pub const fn int4(group: Group) -> Format {
        Format::Int(IntFormat::symmetric(4, group))
    }

    /// INT-b, symmetric or with a zero-point per group.
    pub const fn int(bits: u8, group: Group, zero_point: bool) -> Format {
        Format::Int(IntFormat {
            bits,
            group,
            zero_point,
        })
    }

    /// FP4 E2M1 with an f16 scale per group.
    pub const fn fp4(group: Group) -> Format {
        Format::Fp(FpFormat::f16(group))
    }

    /// MXFP4 (OCP MX): FP4 E2M1 with an E8M0 scale per group of 32.
    pub const fn mxfp4() -> Format {
        Format::Fp(FpFormat::mxfp4())
    }

    /// NVFP4: FP4 E2M1 with an E4M3 scale per group of 16 and an f32 scale per tensor.
    pub const fn nvfp4() -> Format {
        Format::Fp(FpFormat::nvfp4())
    }

    /// FP6 (`elem` E3M2 or E2M3, in the 4+2 split) with an f16 scale per group.
    pub const fn fp6(elem: FpElem, group: Group) -> Format {
        Format::Fp(FpFormat::new(elem, group, FpScale::F16))
    }

    /// FP8 (`elem` E4M3 or E5M2, one byte per code) with an f16 scale per group.
    pub const fn fp8(elem: FpElem, group: Group) -> Format {
        Format::Fp(FpFormat::new(elem, group, FpScale::F16))
    }

    /// MXFP6 (OCP MX): FP6 `elem` with an E8M0 scale per group of 32.
    pub const fn mxfp6(elem: FpElem) -> Format {
        Format::Fp(FpFormat::mx(elem))
    }

    /// OVP-4 (OliVe outlier-victim pairs: int4 normals, abfloat outliers up to 96) with
    /// an f16 scale per group (per row: `Group::PerRow`, the OliVe layout).
    pub const fn ovp4(group: Group) -> Format {
        Format::Fp(FpFormat::new(FpElem::Ovp4, group, FpScale::F16))
    }

    /// OVP-8 (int8 normals, abfloat outliers up to 2016) with an f16 scale per group.
    pub const fn ovp8(group: Group) -> Format {
        Format::Fp(FpFormat::new(FpElem::Ovp8, group, FpScale::F16))
    }

    /// A short stable name, e.g. `int4_g32`, `int4_g128_zp`, `int8_row`, `fp4_g32`,
    /// `fp4_g32_pow2` (power-of-two f16 scales), `mxfp4`, `fp6_e3m2_row`,
    /// `fp6_e2m3_g32_pow2`, `mxfp6_e2m3`, `nvfp4` (and `nvfp6_e2m3`: NVFP4's scales on
    /// an FP6 element), `fp8_e4m3_row`, `fp8_e5m2_g128`, `mxfp8_e4m3`, `ovp4_row`,
    /// `ovp8_g32_pow2`.
    pub fn name(&self) -> String {
        let group = |g: Group| match g {
            Group::Size(g) => format!("g{g}"),
            Group::PerRow => "row".into(),
        };
        match self {
            Format::Fp(f) => {
                let elem = match f.elem {
                    FpElem::E2M1 => "fp4".to_string(),
                    e if e.is_ovp() => e.name().to_string(),
                    e => format!("fp{}_{}", e.bits(), e.name()),
                };
                match f.scale {
                    FpScale::E8M0 => format!("mx{elem}"),
                    FpScale::E4M3 => format!("nv{elem}"),
                    FpScale::F16 => format!("{elem}_{}", group(f.group)),
                    FpScale::F16Pow2 => format!("{elem}_{}_pow2", group(f.group)),
                }
            }
            Format::Int(f) => {
                let zp = if f.zero_point { "_zp" } else { "" };
                format!("int{}_{}{zp}", f.bits, group(f.group))
            }
        }
    }

    /// Parses [`Format::name`].
    pub fn parse(name: &str) -> Result<Format> {
        let bad = || Error::InvalidParameter {
            what: format!(
                "unknown format name `{name}` (e.g. int4_g32, int4_g128_zp, int8_row, \
                 fp4_g32, fp4_g32_pow2, mxfp4, nvfp4, fp6_e3m2_row, fp6_e2m3_g32, mxfp6_e2m3, \
                 fp8_e4m3_row, ovp4_row, ovp8_g32)"
            ),
        };
        let group_of = |g: &str| -> Result<Group> {
            let group = match g {
                "row" => Group::PerRow,
                g => Group::Size(
                    g.strip_prefix('g')
                        .ok_or_else(bad)?
                        .parse()
                        .map_err(|_| bad())?,
                ),
            };
            if let Group::Size(g) = group {
                if !Group::SIZES.contains(&g) {
                    return Err(Error::BadGroupSize { group: g, k: g });
                }
            }
            Ok(group)
        };
        let name = name.trim();
        // Minifloats: `fp4`, `fp6_e3m2`, `fp6_e2m3`, then `_<group>[_pow2]`, or `mx` and
        // the element name alone.
        let fp_elem = |rest: &str| -> Option<(FpElem, String)> {
            if let Some(r) = rest.strip_prefix("fp4") {
                return Some((FpElem::E2M1, r.to_string()));
            }
            for e in [FpElem::Ovp4, FpElem::Ovp8] {
                if let Some(r) = rest.strip_prefix(e.name()) {
                    return Some((e, r.to_string()));
                }
            }
            [FpElem::E3M2, FpElem::E2M3, FpElem::E4M3, FpElem::E5M2]
                .into_iter()
                .find_map(|e| {
                    rest.strip_prefix(&format!("fp{}_", e.bits()))?
                        .strip_prefix(e.name())
                        .map(|r| (e, r.to_string()))
                })
        };
        if let Some((elem, rest)) = name.strip_prefix("mx").and_then(fp_elem) {
            if !rest.is_empty() {
                return Err(bad());
            }
            let f = FpFormat::mx(elem);
            f.validate()?;
            return Ok(Format::Fp(f));
        }
        if let Some((elem, rest)) = name.strip_prefix("nv").and_then(fp_elem) {
            if !rest.is_empty() {
                return Err(bad());
            }
            let f = FpFormat::new(elem, Group::Size(16), FpScale::E4M3);
            f.validate()?;
            return Ok(Format::Fp(f));
        }
        if let Some((elem, rest)) = fp_elem(name) {
            let rest = rest.strip_prefix('_').ok_or_else(bad)?;
            let f = match rest.strip_suffix("_pow2") {
                Some(g) => FpFormat::new(elem, group_of(g)?, FpScale::F16Pow2),
                None => FpFormat::new(elem, group_of(rest)?, FpScale::F16),
            };
            f.validate()?;
            return Ok(Format::Fp(f));
        }
        let rest = name.strip_prefix("int").ok_or_else(bad)?;
        let (bits, rest) = rest.split_once('_').ok_or_else(bad)?;
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        let (group, zp) = match rest.strip_suffix("_zp") {
            Some(g) => (g, true),
            None => (rest, false),
        };
        let f = IntFormat {
            bits,
            group: group_of(group)?,
            zero_point: zp,
        };
        f.validate()?;
        Ok(Format::Int(f))
    }

    /// Checks that an `n x k` matrix can be stored in this format (group size divides
    /// `K`, bit width valid, ...) and returns the bytes of weight data one GEMV reads.
    pub fn weight_bytes(&self, n: usize, k: usize) -> Result<usize> {
        match self {
            Format::Int(f) => Ok(f.layout(n, k)?.weight_bytes()),
            Format::Fp(f) => Ok(f.layout(n, k)?.weight_bytes()),
        }
    }

    /// Every format lowbit implements, at its common group sizes (what benches walk).
    pub fn catalog() -> Vec<Format> {
        let mut v = Vec::new();
        for bits in [4u8, 8, 2, 3] {
            for g in [Group::Size(32), Group::Size(128), Group::PerRow] {
                v.push(Format::int(bits, g, false));
                v.push(Format::int(bits, g, true));
            }
        }
        v.extend([
            Format::fp4(Group::Size(32)),
            Format::Fp(FpFormat::f16_pow2(Group::Size(32))),
            Format::mxfp4(),
            Format::nvfp4(),
            Format::fp4(Group::Size(128)),
        ]);
        v.extend([
            Format::fp8(FpElem::E4M3, Group::PerRow),
            Format::fp8(FpElem::E4M3, Group::Size(32)),
            Format::fp8(FpElem::E5M2, Group::PerRow),
            Format::Fp(FpFormat::mx(FpElem::E4M3)),
            Format::ovp4(Group::PerRow),
            Format::ovp4(Group::Size(128)),
            Format::ovp8(Group::PerRow),
        ]);
        for elem in [FpElem::E2M3, FpElem::E3M2] {
            v.extend([
                Format::fp6(elem, Group::Size(32)),
                Format::fp6(elem, Group::PerRow),
                Format::Fp(FpFormat::new(elem, Group::Size(32), FpScale::F16Pow2)),
                Format::mxfp6(elem),
            ]);
        }
        v
    }
}

impl core::fmt::Display for Format {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.name())
    }
}

/// An owned quantized matrix in its format's canonical layout.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix {
    repr: Owned,
}

#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Int(IntMatrix),
    Fp(FpMatrix),
}

/// A borrowed quantized matrix: an owned one's [`QuantizedMatrix::view`], or a
/// zero-copy view over caller buffers in the canonical layout.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum MatrixRef<'a> {
    /// An INT-b matrix.
    Int(IntMatrixRef<'a>),
    /// An FP4 E2M1 matrix.
    Fp(FpMatrixRef<'a>),
}

impl QuantizedMatrix {
    /// Quantizes a row-major `n x k` f32 matrix (round-to-nearest-even; see each format's
    /// quantizer for how scales are chosen). NaN/Inf input, wrong lengths and bad group
    /// sizes are errors.
    pub fn quantize(weights: &[f32], n: usize, k: usize, format: Format) -> Result<Self> {
        let repr = match format {
            Format::Int(f) => Owned::Int(IntMatrix::quantize(weights, n, k, f)?),
            Format::Fp(f) => Owned::Fp(FpMatrix::quantize(weights, n, k, f)?),
        };
        Ok(QuantizedMatrix { repr })
    }

    /// Wraps an owned INT matrix.
    pub fn from_int(m: IntMatrix) -> Self {
        QuantizedMatrix {
            repr: Owned::Int(m),
        }
    }

    /// Wraps an owned minifloat (FP4 / FP6) matrix.
    pub fn from_fp(m: FpMatrix) -> Self {
        QuantizedMatrix { repr: Owned::Fp(m) }
    }

    /// A borrowed view (cheap).
    pub fn view(&self) -> MatrixRef<'_> {
        match &self.repr {
            Owned::Int(m) => MatrixRef::Int(m.view()),
            Owned::Fp(m) => MatrixRef::Fp(m.view()),
        }
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.view().n()
    }
    /// Columns.
    pub fn k(&self) -> usize {
        self.view().k()
    }
    /// The format.
    pub fn format(&self) -> Format {
        self.view().format()
    }
    /// Dequantizes into a row-major `n x k` buffer.
    pub fn dequantize(&self, out: &mut [f32]) -> Result<()> {
        self.view().dequantize(out)
    }
    /// `y = W x`, see [`gemv`].
    pub fn gemv(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        gemv(self.view(), x, y)
    }
}

impl<'a> MatrixRef<'a> {
    /// A zero-copy view of an INT matrix over caller buffers (see [`IntMatrixRef::new`]
    /// for the layout; every length is checked).
    pub fn int(
        format: IntFormat,
        n: usize,
        k: usize,
        codes: &'a [u8],
        plane1: &'a [u8],
        scales: &'a [f16],
        zeros: Option<&'a [u8]>,
    ) -> Result<Self> {
        Ok(MatrixRef::Int(IntMatrixRef::new(
            format, n, k, codes, plane1, scales, zeros,
        )?))
    }

    /// A zero-copy view of an FP4 matrix over caller buffers (see [`FpMatrixRef::new`]
    /// for the layout; every length and scale is checked).
    pub fn fp4(
        format: FpFormat,
        n: usize,
        k: usize,
        codes: &'a [u8],
        scales: FpScalesRef<'a>,
    ) -> Result<Self> {
        Ok(MatrixRef::Fp(FpMatrixRef::new(
            format, n, k, codes, scales,
        )?))
    }

    /// A zero-copy view of a minifloat matrix of any element type over caller buffers:
    /// for FP6, `codes` holds the low four bits and `high` the high two bits of each code
    /// (the 4+2 split; see [`FpMatrixRef::with_planes`]).
    pub fn fp(
        format: FpFormat,
        n: usize,
        k: usize,
        codes: &'a [u8],
        high: &'a [u8],
        scales: FpScalesRef<'a>,
    ) -> Result<Self> {
        Ok(MatrixRef::Fp(FpMatrixRef::with_planes(
            format, n, k, codes, high, scales,
        )?))
    }

    /// Rows.
    pub fn n(&self) -> usize {
        match self {
            MatrixRef::Int(m) => m.n(),
            MatrixRef::Fp(m) => m.n(),
        }
    }
    /// Columns.
    pub fn k(&self) -> usize {
        match self {
            MatrixRef::Int(m) => m.k(),
            MatrixRef::Fp(m) => m.k(),
        }
    }
    /// The format.
    pub fn format(&self) -> Format {
        match self {
            MatrixRef::Int(m) => Format::Int(m.format()),
            MatrixRef::Fp(m) => Format::Fp(m.format()),
        }
    }
    /// Bytes of weight data one GEMV reads (codes, scales, zero-points).
    pub fn weight_bytes(&self) -> usize {
        match self {
            MatrixRef::Int(m) => m.layout().weight_bytes(),
            MatrixRef::Fp(m) => m.layout().weight_bytes(),
        }
    }
    /// Dequantizes into a row-major `n x k` buffer.
    pub fn dequantize(&self, out: &mut [f32]) -> Result<()> {
        match self {
            MatrixRef::Int(m) => m.dequantize(out),
            MatrixRef::Fp(m) => m.dequantize(out),
        }
    }
    /// Copies the view into an owned matrix.
    pub fn to_owned(&self) -> QuantizedMatrix {
        match self {
            MatrixRef::Int(m) => QuantizedMatrix::from_int(m.to_owned()),
            MatrixRef::Fp(m) => QuantizedMatrix::from_fp(m.to_owned()),
        }
    }
}

mod ops;
pub use ops::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_roundtrip() {
        for f in Format::catalog() {
            assert_eq!(Format::parse(&f.name()), Ok(f), "{f}");
        }
        assert!(Format::parse("int5_g32").is_err());
        assert!(Format::parse("fp4").is_err());
        assert!(Format::parse("int4_x32").is_err());
    }
}
