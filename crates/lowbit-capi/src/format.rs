//! Format descriptions and buffer-size queries.

use lowbit_rs::{Format, Group, IntFormat};

use crate::boundary::{ref_in, status_call, value_call, Fail, OutPtr};
use crate::status::lowbit_status;

/// `lowbit_format.kind` of INT-b formats: unsigned `bits`-bit codes `q` with an f16
/// scale `s` and a zero-point `z` per group, `w = s * (q - z)`.
pub const LOWBIT_FORMAT_INT: u32 = 1;

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
/// `lowbit_format_int()` builds one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct lowbit_format {
    /// The family: `LOWBIT_FORMAT_INT` (later versions add more kinds).
    pub kind: u32,
    /// Bits per weight code.
    pub bits: u32,
    /// Elements per scale along K; 0 = one group per row.
    pub group: u32,
    /// 1: a zero-point per group; 0: symmetric.
    pub zero_point: u32,
    /// A kind-specific sub-format (for example an element encoding); 0 for INT.
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
        kind => Err(Fail::Lib(lowbit_rs::Error::Unsupported {
            what: format!("format kind {kind} (this version knows INT = {LOWBIT_FORMAT_INT})"),
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
        Format::Int(i) => {
            let group = u32::try_from(i.group.to_raw()).map_err(|_| {
                Fail::Lib(lowbit_rs::Error::Unsupported {
                    what: format!("group size {} does not fit lowbit_format.group", i.group),
                })
            })?;
            Ok(lowbit_format {
                kind: LOWBIT_FORMAT_INT,
                bits: u32::from(i.bits),
                group,
                zero_point: u32::from(i.zero_point),
                variant: 0,
                reserved: 0,
            })
        }
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
