//! Format descriptions and buffer-size queries.

use lowbit_rs::{Format, FpElem, FpFormat, FpScale, Group, IntFormat};

use crate::boundary::{ref_in, status_call, value_call, Fail, OutPtr};
use crate::status::lowbit_status;

/// `lowbit_format.kind` of INT-b formats: unsigned `bits`-bit codes `q` with an f16
/// scale `s` and a zero-point `z` per group, `w = s * (q - z)`.
pub const LOWBIT_FORMAT_INT: u32 = 1;

/// `lowbit_format.kind` of the minifloat formats (FP4 E2M1, FP6 E3M2 / E2M3): a small
/// floating-point code `c` per element and a scale `s` per group, `w = s * elem(c)`.
/// `variant` is an element code (`LOWBIT_FP_E2M1`...) OR-ed with a scale kind
/// (`LOWBIT_FP_SCALE_F16`...); see `lowbit_format`.
pub const LOWBIT_FORMAT_FP: u32 = 2;

/// FP element code (in `lowbit_format.variant`): FP4 E2M1 (max 6), one 4-bit plane.
pub const LOWBIT_FP_E2M1: u32 = 1;
/// FP element code (in `lowbit_format.variant`): FP6 E3M2 (max 28), in the 4+2 split.
pub const LOWBIT_FP_E3M2: u32 = 2;
/// FP element code (in `lowbit_format.variant`): FP6 E2M3 (max 7.5), in the 4+2 split.
pub const LOWBIT_FP_E2M3: u32 = 3;
/// FP element code (in `lowbit_format.variant`): FP8 E4M3 ("fn": max 448, NaN at 0x7F /
/// 0xFF), one byte per code.
pub const LOWBIT_FP_E4M3: u32 = 4;
/// FP element code (in `lowbit_format.variant`): FP8 E5M2 (max 57344, with infinities and
/// NaNs), one byte per code.
pub const LOWBIT_FP_E5M2: u32 = 5;
/// FP-family element code (in `lowbit_format.variant`): OVP-4 (OliVe outlier-victim
/// pairs): elements pair along K (K must be even), a byte per pair (the even element in
/// the low nibble); a nibble is an int4 in -7..7, or, when its partner is the identifier
/// `1000`, an outlier `s e1 e0 m` of magnitude `(2 + m) << (e + 2)` (12..96) and the
/// partner is 0. f16 scales only (`LOWBIT_FP_SCALE_F16` or `_F16_POW2`); 4 bits.
pub const LOWBIT_FP_OVP4: u32 = 6;
/// FP-family element code (in `lowbit_format.variant`): OVP-8: a byte per element, int8
/// in -127..127, or, when its partner is the identifier `0x80`, an outlier
/// `s e1 e0 m4..m0` of magnitude `(32 + m) << (e + 2)` (132..2016) and the partner 0.
/// K even, f16 scales only; 8 bits, no A8 kernel (`LOWBIT_ERR_UNSUPPORTED`).
pub const LOWBIT_FP_OVP8: u32 = 7;
/// The bits of `lowbit_format.variant` that hold the FP element code.
pub const LOWBIT_FP_ELEMENT_MASK: u32 = 0xFF;

/// FP scale kind (in `lowbit_format.variant`): an f16 scale per group, any finite value.
/// It is 0, so a `variant` holding only an element code means f16 scales.
pub const LOWBIT_FP_SCALE_F16: u32 = 0;
/// FP scale kind (in `lowbit_format.variant`): an f16 scale per group restricted to a
/// positive power of two, 2^-24 ..= 2^15 (ZeroQuant-FP). Stored as f16 like
/// `LOWBIT_FP_SCALE_F16`.
pub const LOWBIT_FP_SCALE_F16_POW2: u32 = 0x100;
/// FP scale kind (in `lowbit_format.variant`): an E8M0 byte per group meaning
/// 2^(e - 127) (OCP MX; 0xFF is NaN and refused). Needs `group = 32`: MXFP4 / MXFP6.
pub const LOWBIT_FP_SCALE_E8M0: u32 = 0x200;
/// FP scale kind (in `lowbit_format.variant`): an E4M3 byte per group of 16 (0x7F and
/// 0xFF are NaN and refused) times one f32 scale per tensor (`lowbit_fp_view.tensor_scale`);
/// the group's scale is the f32 product. Needs `group = 16`: NVFP4 with E2M1. The bytes
/// and the scale are ModelOpt's `weight_scale` and `weight_scale_2` unchanged, and its
/// `weight` bytes are the `codes` plane.
pub const LOWBIT_FP_SCALE_E4M3: u32 = 0x300;
/// The bits of `lowbit_format.variant` that hold the FP scale kind.
pub const LOWBIT_FP_SCALE_MASK: u32 = 0xFF00;

/// A weight format. `kind` says which family; the other fields are read as that family
/// defines them. Fields that a kind does not use must be 0, so that later versions can
/// give them a meaning. For INT (`kind = LOWBIT_FORMAT_INT`):
/// - `bits`: 2, 3, 4 or 8;
/// - `group`: elements per scale along K: 32, 64, 128 or 256 (dividing K), or K
///   itself; 0 means one group per row;
/// - `zero_point`: 1 for a u8 zero-point per group (asymmetric), 0 for symmetric
///   (the zero-point is 2^(bits-1) and no zero-point buffer exists);
/// - `variant` and `reserved`: 0.
///
/// For the minifloats (`kind = LOWBIT_FORMAT_FP`):
/// - `bits`: bits per code, 4 for E2M1 and OVP-4, 6 for E3M2 and E2M3, 8 for E4M3, E5M2
///   and OVP-8 (any other value is `LOWBIT_ERR_INVALID_PARAMETER`);
/// - `group`: as for INT (32, 64, 128, 256 dividing K, K itself, or 0 for per row);
/// - `zero_point`: 0;
/// - `variant`: an element code (`LOWBIT_FP_E2M1`, `LOWBIT_FP_E3M2`, `LOWBIT_FP_E2M3`,
///   `LOWBIT_FP_E4M3`, `LOWBIT_FP_E5M2`, `LOWBIT_FP_OVP4`, `LOWBIT_FP_OVP8`)
///   OR-ed with a scale kind (`LOWBIT_FP_SCALE_F16` = 0, `LOWBIT_FP_SCALE_F16_POW2`,
///   `LOWBIT_FP_SCALE_E8M0`, `LOWBIT_FP_SCALE_E4M3`); element and scale codes this version
///   does not know are `LOWBIT_ERR_UNSUPPORTED`, bits outside the two masks
///   `LOWBIT_ERR_INVALID_PARAMETER`; E8M0 scales need `group = 32` and E4M3 scales
///   `group = 16` (`LOWBIT_ERR_INVALID_PARAMETER` otherwise);
/// - `reserved`: 0.
///
/// The names of the Rust API map as: `fp4_g32` = E2M1, group 32, f16 scales;
/// `fp4_g32_pow2` = the same with `LOWBIT_FP_SCALE_F16_POW2`; `mxfp4` = E2M1 with
/// `LOWBIT_FP_SCALE_E8M0` and group 32; `fp6_e3m2_row` = E3M2, group 0, f16 scales;
/// `mxfp6_e2m3` = E2M3, E8M0, group 32; `nvfp4` = E2M1, `LOWBIT_FP_SCALE_E4M3`, group 16.
///
/// `lowbit_format_int()` and `lowbit_format_fp()` build one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct lowbit_format {
    /// The family: `LOWBIT_FORMAT_INT` or `LOWBIT_FORMAT_FP` (later versions add more
    /// kinds).
    pub kind: u32,
    /// Bits per weight code.
    pub bits: u32,
    /// Elements per scale along K; 0 = one group per row.
    pub group: u32,
    /// 1: a zero-point per group; 0: symmetric (always 0 for FP).
    pub zero_point: u32,
    /// A kind-specific sub-format: 0 for INT; for FP the element code OR-ed with the
    /// scale kind.
    pub variant: u32,
    /// Reserved, must be 0.
    pub reserved: u32,
}

/// Lengths of every buffer of an INT matrix in the canonical layout (all in elements of
/// the buffer's type), and the row geometry needed to fill them. Layout: rows are output
/// channels; groups run along K.
/// - `codes` (uint8): `N` rows of `codes_row_bytes` bytes. For 2, 4 and 8 bits it holds
///   every code, element `i` of a row at bit `(i*bits) % 8` of byte `i*bits/8` (4-bit:
///   even element in the low nibble); for 3 bits it holds the low two bits of each code
///   (2-bit packing).
/// - `plane1` (uint8, 3 bits only, else empty): `N` rows of `plane1_row_bytes` bytes
///   with bit 2 of each code (element `i` at bit `i % 8` of byte `i / 8`).
/// - `scales` (f16 bits as uint16): `[N][K / group_len]`.
/// - `zeros` (uint8, only with `zero_point = 1`, else empty): `[N][K / group_len]`,
///   each at most 2^bits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct lowbit_int_layout {
    /// Length of `codes` in bytes: `N * codes_row_bytes`.
    pub codes_len: usize,
    /// Length of `plane1` in bytes: `N * plane1_row_bytes` (0 unless bits = 3).
    pub plane1_len: usize,
    /// Number of f16 scales: `N * groups_per_row`.
    pub scales_len: usize,
    /// Number of zero-points: `N * groups_per_row`, or 0 when symmetric.
    pub zeros_len: usize,
    /// Elements per group (K when per-row).
    pub group_len: usize,
    /// `K / group_len`.
    pub groups_per_row: usize,
    /// Bytes per row of `codes`.
    pub codes_row_bytes: usize,
    /// Bytes per row of `plane1` (0 unless bits = 3).
    pub plane1_row_bytes: usize,
}

/// Lengths of every buffer of a minifloat (FP) matrix in the canonical layout, and the
/// row geometry needed to fill them. Layout (FORMATS.md): rows are output channels;
/// groups run along K.
/// - `codes` (uint8): `N` rows of `codes_row_bytes = ceil(K / 2)` bytes of 4-bit codes,
///   element `i` of a row in the low nibble of byte `i / 2` when `i` is even, the high
///   nibble when odd (INT4's order). For E2M1 the whole code (bit 3 the sign); for the
///   FP6 elements the low four bits of each 6-bit code. For FP8, `codes_row_bytes = K`
///   bytes, one code per byte (FP8 codes are not checked: a NaN or infinite code is a
///   NaN or infinite weight).
/// - `high` (uint8, FP6 only, else empty): `N` rows of `high_row_bytes = ceil(K / 4)`
///   bytes holding the top two bits of each 6-bit code (the sign and the top exponent
///   bit), element `i` at bits `2 * (i % 4)` of byte `i / 4` (INT2's order).
/// - `scales`: `[N][K / group_len]`, f16 bits as uint16 for the f16 scale kinds, E8M0
///   or E4M3 bytes as uint8 for `LOWBIT_FP_SCALE_E8M0` and `LOWBIT_FP_SCALE_E4M3`
///   (`scale_bytes` says which); E4M3 adds one f32 tensor scale (not counted here).
///
/// Unused bits of a row's last byte are written as zero by lowbit and ignored when read.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct lowbit_fp_layout {
    /// Length of `codes` in bytes: `N * codes_row_bytes`.
    pub codes_len: usize,
    /// Length of `high` in bytes: `N * high_row_bytes` (0 for E2M1).
    pub high_len: usize,
    /// Number of scales: `N * groups_per_row` (f16 values, E8M0 or E4M3 bytes).
    pub scales_len: usize,
    /// Bytes per scale: 2 (f16 kinds) or 1 (E8M0, E4M3).
    pub scale_bytes: usize,
    /// Elements per group (K when per-row).
    pub group_len: usize,
    /// `K / group_len`.
    pub groups_per_row: usize,
    /// Bytes per row of `codes`, `ceil(K / 2)` (FP8: `K`).
    pub codes_row_bytes: usize,
    /// Bytes per row of `high`, `ceil(K / 4)` for FP6 (0 for E2M1).
    pub high_row_bytes: usize,
}

/// The element of an FP element code.
fn fp_elem(code: u32) -> Option<FpElem> {
    match code {
        LOWBIT_FP_E2M1 => Some(FpElem::E2M1),
        LOWBIT_FP_E3M2 => Some(FpElem::E3M2),
        LOWBIT_FP_E2M3 => Some(FpElem::E2M3),
        LOWBIT_FP_E4M3 => Some(FpElem::E4M3),
        LOWBIT_FP_E5M2 => Some(FpElem::E5M2),
        LOWBIT_FP_OVP4 => Some(FpElem::Ovp4),
        LOWBIT_FP_OVP8 => Some(FpElem::Ovp8),
        _ => None,
    }
}

/// The element code of an FP element.
fn fp_elem_code(e: FpElem) -> Result<u32, Fail> {
    match e {
        FpElem::E2M1 => Ok(LOWBIT_FP_E2M1),
        FpElem::E3M2 => Ok(LOWBIT_FP_E3M2),
        FpElem::E2M3 => Ok(LOWBIT_FP_E2M3),
        FpElem::E4M3 => Ok(LOWBIT_FP_E4M3),
        FpElem::E5M2 => Ok(LOWBIT_FP_E5M2),
        FpElem::Ovp4 => Ok(LOWBIT_FP_OVP4),
        FpElem::Ovp8 => Ok(LOWBIT_FP_OVP8),
        #[allow(unreachable_patterns)]
        other => Err(Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!("FP element {other:?} has no C code in this version"),
        })),
    }
}

/// The scale kind of an FP scale code.
fn fp_scale(code: u32) -> Option<FpScale> {
    match code {
        LOWBIT_FP_SCALE_F16 => Some(FpScale::F16),
        LOWBIT_FP_SCALE_F16_POW2 => Some(FpScale::F16Pow2),
        LOWBIT_FP_SCALE_E8M0 => Some(FpScale::E8M0),
        LOWBIT_FP_SCALE_E4M3 => Some(FpScale::E4M3),
        _ => None,
    }
}

/// The scale code of an FP scale kind.
fn fp_scale_code(s: FpScale) -> u32 {
    match s {
        FpScale::F16 => LOWBIT_FP_SCALE_F16,
        FpScale::F16Pow2 => LOWBIT_FP_SCALE_F16_POW2,
        FpScale::E8M0 => LOWBIT_FP_SCALE_E8M0,
        FpScale::E4M3 => LOWBIT_FP_SCALE_E4M3,
    }
}

/// The C group encoding of a Rust group.
fn group_code(g: Group) -> Result<u32, Fail> {
    u32::try_from(g.to_raw()).map_err(|_| {
        Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!("group size {g} does not fit lowbit_format.group"),
        })
    })
}

/// Converts a C format description into the Rust one, checking every field.
pub(crate) fn to_format(f: &lowbit_format) -> Result<Format, Fail> {
    let bad = |what: String| Fail::Lib(lowbit_rs::Error::InvalidParameter { what });
    match f.kind {
        LOWBIT_FORMAT_INT => {
            let bits = u8::try_from(f.bits).map_err(|_| {
                bad(format!(
                    "INT bit width must be 2, 3, 4 or 8, not {}",
                    f.bits
                ))
            })?;
            let zero_point = match f.zero_point {
                0 => false,
                1 => true,
                z => return Err(bad(format!("zero_point must be 0 or 1, not {z}"))),
            };
            if f.variant != 0 || f.reserved != 0 {
                return Err(bad(format!(
                    "variant and reserved must be 0 for INT formats, not {} and {}",
                    f.variant, f.reserved
                )));
            }
            let group = usize::try_from(f.group)
                .map_err(|_| bad(format!("group size {} is not addressable", f.group)))?;
            let group = Group::from_raw(group);
            let int = IntFormat {
                bits,
                group,
                zero_point,
            };
            int.validate()?;
            Ok(Format::Int(int))
        }
        LOWBIT_FORMAT_FP => {
            let unsupported = |what: String| Fail::Lib(lowbit_rs::Error::Unsupported { what });
            let stray = f.variant & !(LOWBIT_FP_ELEMENT_MASK | LOWBIT_FP_SCALE_MASK);
            if stray != 0 {
                return Err(bad(format!(
                    "FP variant {:#x} has bits outside the element and scale fields ({stray:#x})",
                    f.variant
                )));
            }
            let elem_code = f.variant & LOWBIT_FP_ELEMENT_MASK;
            let elem = fp_elem(elem_code).ok_or_else(|| {
                unsupported(format!(
                    "FP element code {elem_code} (this version knows E2M1 = {LOWBIT_FP_E2M1}, \
                     E3M2 = {LOWBIT_FP_E3M2}, E2M3 = {LOWBIT_FP_E2M3}, E4M3 = {LOWBIT_FP_E4M3}, \
                     E5M2 = {LOWBIT_FP_E5M2}, OVP4 = {LOWBIT_FP_OVP4}, OVP8 = {LOWBIT_FP_OVP8})"
                ))
            })?;
            let scale_code = f.variant & LOWBIT_FP_SCALE_MASK;
            let scale = fp_scale(scale_code).ok_or_else(|| {
                unsupported(format!(
                    "FP scale kind {scale_code:#x} (this version knows F16 = 0, \
                     F16_POW2 = {LOWBIT_FP_SCALE_F16_POW2:#x}, E8M0 = {LOWBIT_FP_SCALE_E8M0:#x}, \
                     E4M3 = {LOWBIT_FP_SCALE_E4M3:#x})"
                ))
            })?;
            if f.bits != elem.bits() {
                return Err(bad(format!(
                    "bits must be {} for FP element {}, not {}",
                    elem.bits(),
                    elem.name().to_uppercase(),
                    f.bits
                )));
            }
            if f.zero_point != 0 || f.reserved != 0 {
                return Err(bad(format!(
                    "zero_point and reserved must be 0 for FP formats, not {} and {}",
                    f.zero_point, f.reserved
                )));
            }
            let group = usize::try_from(f.group)
                .map_err(|_| bad(format!("group size {} is not addressable", f.group)))?;
            let fp = FpFormat::new(elem, Group::from_raw(group), scale);
            fp.validate()?;
            Ok(Format::Fp(fp))
        }
        kind => Err(Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!(
                "format kind {kind} (this version knows INT = {LOWBIT_FORMAT_INT}, \
                 FP = {LOWBIT_FORMAT_FP})"
            ),
        })),
    }
}

/// The FP format of a C description, or `LOWBIT_ERR_UNSUPPORTED` for other kinds.
pub(crate) fn to_fp_format(f: &lowbit_format, needed_by: &str) -> Result<FpFormat, Fail> {
    match to_format(f)? {
        Format::Fp(fp) => Ok(fp),
        other => Err(Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!("{needed_by} needs an FP format, not {other}"),
        })),
    }
}

/// The INT format of a C description, or `LOWBIT_ERR_UNSUPPORTED` for other kinds.
pub(crate) fn to_int_format(f: &lowbit_format, needed_by: &str) -> Result<IntFormat, Fail> {
    match to_format(f)? {
        Format::Int(i) => Ok(i),
        other => Err(Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!("{needed_by} needs an INT format, not {other}"),
        })),
    }
}

/// Converts a Rust format into its C description.
pub(crate) fn from_format(f: Format) -> Result<lowbit_format, Fail> {
    match f {
        Format::Int(i) => Ok(lowbit_format {
            kind: LOWBIT_FORMAT_INT,
            bits: u32::from(i.bits),
            group: group_code(i.group)?,
            zero_point: u32::from(i.zero_point),
            variant: 0,
            reserved: 0,
        }),
        Format::Fp(fp) => Ok(lowbit_format {
            kind: LOWBIT_FORMAT_FP,
            bits: fp.elem.bits(),
            group: group_code(fp.group)?,
            zero_point: 0,
            variant: fp_elem_code(fp.elem)? | fp_scale_code(fp.scale),
            reserved: 0,
        }),
        other => Err(Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!("format {other} has no C description in this version"),
        })),
    }
}

/// An INT format description: `bits` 2, 3, 4 or 8; `group` 32, 64, 128, 256, K, or 0
/// for one group per row; `zero_point` selects asymmetric groups. Nothing is validated
/// here: the functions that take the format do that.
#[no_mangle]
pub extern "C" fn lowbit_format_int(bits: u32, group: u32, zero_point: bool) -> lowbit_format {
    value_call("lowbit_format_int", lowbit_format::default(), || {
        lowbit_format {
            kind: LOWBIT_FORMAT_INT,
            bits,
            group,
            zero_point: u32::from(zero_point),
            variant: 0,
            reserved: 0,
        }
    })
}

/// An FP format description: `element` one of `LOWBIT_FP_E2M1`, `LOWBIT_FP_E3M2`,
/// `LOWBIT_FP_E2M3`, `LOWBIT_FP_E4M3`, `LOWBIT_FP_E5M2`, `LOWBIT_FP_OVP4`, `LOWBIT_FP_OVP8`;
/// `group` 32, 64, 128, 256, K, or 0 for one group per row; `scale`
/// one of `LOWBIT_FP_SCALE_F16`, `LOWBIT_FP_SCALE_F16_POW2`, `LOWBIT_FP_SCALE_E8M0`
/// (which needs group 32), `LOWBIT_FP_SCALE_E4M3` (group 16). `bits` is set from the
/// element (4, 6 or 8; 0 for an unknown element). Nothing is validated here: the functions
/// that take the format do that. MXFP4 is
/// `lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_E8M0)`, NVFP4
/// `lowbit_format_fp(LOWBIT_FP_E2M1, 16, LOWBIT_FP_SCALE_E4M3)`.
#[no_mangle]
pub extern "C" fn lowbit_format_fp(element: u32, group: u32, scale: u32) -> lowbit_format {
    value_call("lowbit_format_fp", lowbit_format::default(), || {
        lowbit_format {
            kind: LOWBIT_FORMAT_FP,
            bits: fp_elem(element).map_or(0, FpElem::bits),
            group,
            zero_point: 0,
            variant: element | scale,
            reserved: 0,
        }
    })
}

/// Stores in `*out` the buffer lengths and row geometry of an `n x k` matrix in INT
/// format `format` (which is validated: bad bit widths, group sizes and shapes are
/// errors, exactly as `lowbit_quantize()` would report them). `*out` is written only on
/// success.
///
/// # Safety
///
/// `format` must be NULL or point to a `lowbit_format`; `out` must be NULL or valid for
/// writing one `lowbit_int_layout`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_int_sizes(
    format: *const lowbit_format,
    n: usize,
    k: usize,
    out: *mut lowbit_int_layout,
) -> lowbit_status {
    status_call("lowbit_int_sizes", || {
        // SAFETY: the caller guarantees `format` is NULL or points to a format.
        let format = unsafe { ref_in("format", format) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let l = to_int_format(format, "lowbit_int_sizes")?.layout(n, k)?;
        out.write(lowbit_int_layout {
            codes_len: l.plane0_len,
            plane1_len: l.plane1_len,
            scales_len: l.scales_len,
            zeros_len: l.zeros_len,
            group_len: l.group_len,
            groups_per_row: l.groups_per_row,
            codes_row_bytes: l.row_bytes0,
            plane1_row_bytes: l.row_bytes1,
        });
        Ok(())
    })
}

/// Stores in `*out` the buffer lengths and row geometry of an `n x k` matrix in FP
/// format `format` (which is validated: unknown elements or scale kinds, bad group
/// sizes and shapes are errors, exactly as `lowbit_quantize()` would report them; an
/// INT format is `LOWBIT_ERR_UNSUPPORTED`). `*out` is written only on success.
///
/// # Safety
///
/// `format` must be NULL or point to a `lowbit_format`; `out` must be NULL or valid for
/// writing one `lowbit_fp_layout`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_fp_sizes(
    format: *const lowbit_format,
    n: usize,
    k: usize,
    out: *mut lowbit_fp_layout,
) -> lowbit_status {
    status_call("lowbit_fp_sizes", || {
        // SAFETY: the caller guarantees `format` is NULL or points to a format.
        let format = unsafe { ref_in("format", format) }?;
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        let fp = to_fp_format(format, "lowbit_fp_sizes")?;
        let l = fp.layout(n, k)?;
        out.write(lowbit_fp_layout {
            codes_len: l.plane0_len,
            high_len: l.plane1_len,
            scales_len: l.scales_len,
            scale_bytes: fp.scale.bytes(),
            group_len: l.group_len,
            groups_per_row: l.groups_per_row,
            codes_row_bytes: l.row_bytes0,
            high_row_bytes: l.row_bytes1,
        });
        Ok(())
    })
}
