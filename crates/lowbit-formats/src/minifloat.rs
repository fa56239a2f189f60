//! Minifloat element codecs: FP4 E2M1, FP6 E3M2 and E2M3, FP8 E4M3 ("fn") and E5M2,
//! plus the E8M0 shared-scale exponent of the OCP MX formats.
//!
//! A minifloat code is `sign | exponent | mantissa` (most significant bit first), with
//! `exp_bits` exponent bits, `man_bits` mantissa bits and an exponent `bias`:
//!
//! - exponent field `e > 0`: value `(-1)^s * (1 + m / 2^man_bits) * 2^(e - bias)`;
//! - exponent field `e = 0`: value `(-1)^s * (m / 2^man_bits) * 2^(1 - bias)` (subnormal).
//!
//! Which codes are *not* numbers depends on the format, see [`Specials`].
//!
//! This module is the scalar specification the SIMD kernels are tested against, so it
//! favours clarity:
//!
//! - [`MiniFloat::decode`] reads a 256-entry `f32` table that is computed at compile
//!   time (by a `const fn`) from the bit definition above.
//! - [`MiniFloat::encode`] works directly on the bits of the `f32` input: it finds the
//!   spacing of the format around the input, divides by it with round-to-nearest-even
//!   in integer arithmetic and saturates at the largest finite value. It never searches
//!   a table.
//!
//! All values of all five formats (and every midpoint between two neighbours) are
//! exactly representable as normal `f32`s, so decoding is exact and rounding is exact.

use crate::error::{check_finite, check_len};
use crate::{Error, Result};
use core::fmt;
use core::hash::{Hash, Hasher};

/// Which codes of a minifloat format are not finite numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Specials {
    /// Every code is a finite number; there is no Inf and no NaN (E2M1, E3M2, E2M3).
    None,
    /// No infinities; only the all-ones magnitude `S.1111.111` is NaN (E4M3 "fn":
    /// `0x7F` and `0xFF`). The code below it is the largest finite value.
    NanAllOnes,
    /// IEEE 754 style: an all-ones exponent field is ±Inf when the mantissa is zero and
    /// NaN otherwise (E5M2).
    Ieee,
}

/// A sign-magnitude binary floating-point format of at most 8 bits.
///
/// The five formats lowbit uses are the constants [`E2M1`], [`E3M2`], [`E2M3`], [`E4M3`]
/// and [`E5M2`]; there is no public constructor. Codes are handled one per `u8`, right
/// aligned (the sign is bit `bits() - 1`); packing several codes into a byte is the job
/// of [`crate::pack`].
#[derive(Clone, Copy)]
pub struct MiniFloat {
    name: &'static str,
    exp_bits: u32,
    man_bits: u32,
    bias: i32,
    specials: Specials,
    /// `table[c]` is the value of the code `c & mask`, for every byte `c`.
    table: &'static [f32; 256],
}

/// Builds a [`MiniFloat`] constant together with its decode table, so that the format
/// parameters are written once.
macro_rules! minifloat {
    ($name:expr, $exp_bits:expr, $man_bits:expr, $bias:expr, $specials:expr) => {
        MiniFloat {
            name: $name,
            exp_bits: $exp_bits,
            man_bits: $man_bits,
            bias: $bias,
            specials: $specials,
            table: &build_table($exp_bits, $man_bits, $bias, $specials),
        }
    };
}

/// FP4 E2M1 (OCP MX): bias 1, no Inf/NaN. Values 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their
/// negatives; max 6.
pub const E2M1: MiniFloat = minifloat!("E2M1", 2, 1, 1, Specials::None);

/// FP6 E3M2 (OCP MX): bias 3, no Inf/NaN, max 28, smallest subnormal 0.0625.
pub const E3M2: MiniFloat = minifloat!("E3M2", 3, 2, 3, Specials::None);

/// FP6 E2M3 (OCP MX): bias 1, no Inf/NaN, max 7.5, smallest subnormal 0.125.
pub const E2M3: MiniFloat = minifloat!("E2M3", 2, 3, 1, Specials::None);

/// FP8 E4M3 "fn": bias 7, no Inf, NaN only at `0x7F` / `0xFF`, max 448, smallest
/// subnormal 2^-9.
pub const E4M3: MiniFloat = minifloat!("E4M3", 4, 3, 7, Specials::NanAllOnes);

/// FP8 E5M2: bias 15, IEEE-style Inf/NaN, max 57344, smallest subnormal 2^-16.
pub const E5M2: MiniFloat = minifloat!("E5M2", 5, 2, 15, Specials::Ieee);

/// `2^k` as an `f32`, for `k` in the normal range `-126..=127`.
const fn pow2(k: i32) -> f32 {
    assert!(k >= -126 && k <= 127);
    f32::from_bits(((k + 127) as u32) << 23)
}

/// The value of `code` by the bit definition; bits above the format width are ignored.
const fn decode_by_definition(
    exp_bits: u32,
    man_bits: u32,
    bias: i32,
    specials: Specials,
    code: u32,
) -> f32 {
    let negative = (code >> (exp_bits + man_bits)) & 1 == 1;
    let e = (code >> man_bits) & ((1 << exp_bits) - 1);
    let m = code & ((1 << man_bits) - 1);
    let e_all_ones = e == (1 << exp_bits) - 1;
    let m_all_ones = m == (1 << man_bits) - 1;

    let magnitude = match specials {
        Specials::NanAllOnes if e_all_ones && m_all_ones => f32::NAN,
        Specials::Ieee if e_all_ones && m == 0 => f32::INFINITY,
        Specials::Ieee if e_all_ones => f32::NAN,
        _ => {
            // value = significand * 2^(exponent - bias - man_bits), with the implicit
            // leading one only for normal codes. Both factors and the product are exact.
            let (significand, exponent) = if e == 0 {
                (m, 1)
            } else {
                (m | (1 << man_bits), e as i32)
            };
            significand as f32 * pow2(exponent - bias - man_bits as i32)
        }
    };
    // Negation flips the sign bit only: -0.0 for the negative zero, -NaN for 0xFF.
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// The decode table of a format: entry `c` is the value of `c` masked to the width.
const fn build_table(exp_bits: u32, man_bits: u32, bias: i32, specials: Specials) -> [f32; 256] {
    let mask = (1u32 << (1 + exp_bits + man_bits)) - 1;
    let mut table = [0.0f32; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = decode_by_definition(exp_bits, man_bits, bias, specials, c as u32 & mask);
        c += 1;
    }
    table
}

/// `floor(log2(x))` for a finite `x > 0` (subnormal `f32`s included), from the bits.
fn floor_log2(x: f32) -> i32 {
    debug_assert!(x.is_finite() && x > 0.0);
    let bits = x.to_bits() & 0x7FFF_FFFF;
    let biased = (bits >> 23) as i32;
    if biased == 0 {
        // Subnormal: x = frac * 2^-149 with frac != 0.
        let frac = bits & 0x7F_FFFF;
        (31 - frac.leading_zeros() as i32) - 149
    } else {
        biased - 127
    }
}

/// `sig / 2^shift` rounded to the nearest integer, ties to even, for `sig < 2^24` and
/// `shift >= 1`.
fn div_pow2_round_even(sig: u32, shift: u32) -> u32 {
    debug_assert!(sig < 1 << 24 && shift >= 1);
    if shift > 24 {
        // sig < 2^24 <= 2^(shift - 1): strictly less than half a unit.
        return 0;
    }
    let quotient = sig >> shift;
    let remainder = sig & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if remainder > half || (remainder == half && quotient & 1 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

impl MiniFloat {
    /// The name of the format, for example `"E4M3"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Total width of a code in bits (sign + exponent + mantissa): 4, 6 or 8.
    pub fn bits(&self) -> u32 {
        1 + self.exp_bits + self.man_bits
    }

    /// Number of exponent bits.
    pub fn exp_bits(&self) -> u32 {
        self.exp_bits
    }

    /// Number of (explicit) mantissa bits.
    pub fn man_bits(&self) -> u32 {
        self.man_bits
    }

    /// The exponent bias.
    pub fn bias(&self) -> i32 {
        self.bias
    }

    /// Which codes are Inf or NaN.
    pub fn specials(&self) -> Specials {
        self.specials
    }

    /// The code with only the sign bit set (the negative zero).
    pub fn sign_bit(&self) -> u8 {
        1 << (self.exp_bits + self.man_bits)
    }

    /// The largest finite value (6, 28, 7.5, 448, 57344).
    pub fn max(&self) -> f32 {
        self.table[usize::from(self.max_magnitude_code())]
    }

    /// `floor(log2(max()))`, the exponent of the largest finite value: the `emax_elem`
    /// of the OCP MX specification (E2M1 2, E3M2 4, E2M3 2, E4M3 8, E5M2 15). Pass it to
    /// [`mx_shared_exponent`].
    pub fn emax(&self) -> i32 {
        let biased = i32::from(self.max_magnitude_code() >> self.man_bits);
        biased - self.bias
    }

    /// The code of [`max`](Self::max): the largest finite positive code.
    fn max_magnitude_code(&self) -> u8 {
        let all_ones = (1u32 << (self.exp_bits + self.man_bits)) - 1;
        let code = match self.specials {
            Specials::None => all_ones,
            // One below S.1111.111.
            Specials::NanAllOnes => all_ones - 1,
            // Exponent field all ones minus one, mantissa all ones.
            Specials::Ieee => (((1 << self.exp_bits) - 1) << self.man_bits) - 1,
        };
        code as u8
    }

    /// The decode table: entry `c` is `decode(c)`, for the `2^bits()` codes of the format.
    /// Useful to build the register tables of SIMD kernels.
    pub fn table(&self) -> &'static [f32] {
        &self.table[..1 << self.bits()]
    }

    /// The value of a code.
    ///
    /// Bits above the format width are **ignored** (masked off), so a 4-bit code may be
    /// passed with garbage in the high nibble. NaN codes decode to the quiet NaN
    /// `0x7FC0_0000` with the code's sign; the E5M2 infinities decode to ±Inf.
    pub fn decode(&self, code: u8) -> f32 {
        self.table[usize::from(code)]
    }

    /// The code of the representable value nearest to `x`, ties to the even code (the
    /// one with mantissa bit 0 clear).
    ///
    /// Values beyond the largest finite value saturate to ±[`max`](Self::max), including
    /// values that would round up to an Inf or NaN code, so the result is always a
    /// finite code. The sign is kept, also for zero: `-0.0` and negative values that
    /// round to zero give the negative-zero code [`sign_bit`](Self::sign_bit).
    ///
    /// # Errors
    /// [`Error::NonFinite`] (with `index: 0`) if `x` is NaN or infinite.
    pub fn encode(&self, x: f32) -> Result<u8> {
        if !x.is_finite() {
            return Err(Error::NonFinite { index: 0 });
        }
        Ok(self.encode_finite(x))
    }

    /// [`encode`](Self::encode) for a finite `x`.
    fn encode_finite(&self, x: f32) -> u8 {
        let sign = if x.is_sign_negative() {
            self.sign_bit()
        } else {
            0
        };
        sign | self.encode_magnitude(x.abs())
    }

    /// The magnitude code (sign bit clear) for a finite `a >= 0`.
    fn encode_magnitude(&self, a: f32) -> u8 {
        if a == 0.0 {
            return 0;
        }
        // a = sig * 2^exp exactly, with sig an integer below 2^24.
        let bits = a.to_bits();
        let biased = (bits >> 23) as i32;
        let fraction = bits & 0x7F_FFFF;
        let (sig, exp) = if biased == 0 {
            (fraction, -149)
        } else {
            (fraction | 1 << 23, biased - 150)
        };

        // a lies in the binade [2^e, 2^(e+1)).
        let e = floor_log2(a);
        if e > self.emax() {
            // a >= 2^(emax+1) > max.
            return self.max_magnitude_code();
        }

        // In the binade of e the representable values are spaced by the quantum
        // 2^(e - man_bits); below the smallest normal binade (e < emin) the subnormals
        // keep the spacing of that binade.
        let emin = 1 - self.bias;
        let e_clamped = e.max(emin);
        let quantum_exp = e_clamped - self.man_bits as i32;

        // n = a / quantum, rounded to nearest, ties to even. The shift is at least
        // 23 - man_bits for a normal f32 (sig has 24 significant bits) and larger still
        // for a subnormal f32 (which is far below every format's emin).
        let shift = quantum_exp - exp;
        debug_assert!(shift >= 1);
        let n = div_pow2_round_even(sig, shift as u32);

        // Codes are contiguous in magnitude: the code of n quanta in the binade of
        // e_clamped is ((e_clamped - emin) << man_bits) + n. For a normal this puts
        // n - 2^man_bits in the mantissa field and (e_clamped - emin + 1) in the exponent
        // field; n = 2^(man_bits + 1) (rounded up to the next binade) and, for a
        // subnormal, n = 2^man_bits (rounded up to the smallest normal) carry into the
        // exponent field correctly. An even n is an even mantissa because man_bits >= 1.
        let code = (((e_clamped - emin) as u32) << self.man_bits) + n;

        // Rounding is monotone, so anything that went past the largest finite code
        // (into Inf/NaN codes or beyond the width) saturates to it.
        code.min(u32::from(self.max_magnitude_code())) as u8
    }

    /// Encodes `xs` element-wise into `out` (one code per byte, not packed), as
    /// [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`Error::BufferLength`] if `out.len() != xs.len()`; [`Error::NonFinite`] with the
    /// index of the first NaN or infinite element. On error `out` is not modified.
    pub fn encode_slice(&self, xs: &[f32], out: &mut [u8]) -> Result<()> {
        check_len("out", xs.len(), out.len())?;
        check_finite(xs)?;
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = self.encode_finite(x);
        }
        Ok(())
    }

    /// Decodes `codes` (one per byte, high bits ignored) element-wise into `out`, as
    /// [`decode`](Self::decode).
    ///
    /// # Errors
    /// [`Error::BufferLength`] if `out.len() != codes.len()`.
    pub fn decode_slice(&self, codes: &[u8], out: &mut [f32]) -> Result<()> {
        check_len("out", codes.len(), out.len())?;
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = self.decode(c);
        }
        Ok(())
    }
}

impl fmt::Debug for MiniFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniFloat")
            .field("name", &self.name)
            .field("exp_bits", &self.exp_bits)
            .field("man_bits", &self.man_bits)
            .field("bias", &self.bias)
            .field("specials", &self.specials)
            .finish()
    }
}

impl fmt::Display for MiniFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

// The table is a function of the other fields, so equality and hashing ignore it.
impl PartialEq for MiniFloat {
    fn eq(&self, other: &Self) -> bool {
        (self.exp_bits, self.man_bits, self.bias, self.specials)
            == (other.exp_bits, other.man_bits, other.bias, other.specials)
    }
}

impl Eq for MiniFloat {}

impl Hash for MiniFloat {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.exp_bits, self.man_bits, self.bias, self.specials).hash(state);
    }
}

/// The NaN code of E8M0.
pub const E8M0_NAN: u8 = 0xFF;

/// The E8M0 code of the scale 1.0 (`2^0`).
pub const E8M0_ONE: u8 = 127;

/// Decodes an E8M0 scale byte: `e` means `2^(e - 127)`, and `0xFF` is NaN.
///
/// Exact for every byte; `e = 0` is `2^-127`, an `f32` subnormal.
pub const fn e8m0_decode(e: u8) -> f32 {
    match e {
        E8M0_NAN => f32::NAN,
        // 2^-127 = 2^22 * 2^-149: the subnormal with only fraction bit 22 set.
        0 => f32::from_bits(1 << 22),
        // 2^(e - 127) has biased exponent e and a zero fraction.
        _ => f32::from_bits((e as u32) << 23),
    }
}

/// The E8M0 code of an exact power of two `x = 2^k`, `-127 <= k <= 127`.
///
/// # Errors
/// [`Error::NonFinite`] (`index: 0`) for NaN or Inf; [`Error::InvalidParameter`] if `x`
/// is not a positive power of two in `[2^-127, 2^127]`.
pub fn e8m0_encode_pow2(x: f32) -> Result<u8> {
    if !x.is_finite() {
        return Err(Error::NonFinite { index: 0 });
    }
    if x > 0.0 {
        let k = floor_log2(x);
        if (-127..=127).contains(&k) {
            let e = (k + 127) as u8;
            if e8m0_decode(e) == x {
                return Ok(e);
            }
        }
    }
    Err(Error::InvalidParameter {
        what: format!("E8M0 scale must be a power of two in [2^-127, 2^127], got {x:e}"),
    })
}

/// The E8M0 shared exponent of an OCP MX block whose largest magnitude is `amax`.
///
/// Returns the byte of `X = 2^(floor(log2(amax)) - elem_emax)`, clamped to the E8M0
/// range `[0, 254]` (never the NaN code). `elem_emax` is the element format's
/// [`MiniFloat::emax`]: 2 for E2M1 (MXFP4), 4 for E3M2, 2 for E2M3, 8 for E4M3, 15 for
/// E5M2. Elements are then encoded as `v / X`, saturating as usual. Subnormal `amax` is
/// handled exactly.
///
/// An all-zero block (`amax == 0`, either sign of zero) gets [`E8M0_ONE`] (scale 1.0):
/// every element encodes to zero whatever the scale, and 1.0 keeps the scale a normal
/// number that a kernel may fold or multiply without flushing or overflowing.
///
/// # Errors
/// [`Error::NonFinite`] (`index: 0`) if `amax` is NaN or infinite;
/// [`Error::InvalidParameter`] if `amax` is negative (it is a magnitude).
pub fn mx_shared_exponent(amax: f32, elem_emax: i32) -> Result<u8> {
    if !amax.is_finite() {
        return Err(Error::NonFinite { index: 0 });
    }
    if amax == 0.0 {
        return Ok(E8M0_ONE);
    }
    if amax < 0.0 {
        return Err(Error::InvalidParameter {
            what: format!("MX block amax must be non-negative, got {amax:e}"),
        });
    }
    let biased = i64::from(floor_log2(amax)) - i64::from(elem_emax) + 127;
    Ok(biased.clamp(0, 254) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [MiniFloat; 5] = [E2M1, E3M2, E2M3, E4M3, E5M2];

    fn enc(f: &MiniFloat, x: f32) -> u8 {
        f.encode(x).unwrap()
    }

    /// Finite non-negative values of a format with their codes, ascending.
    fn positive_values(f: &MiniFloat) -> Vec<(f32, u8)> {
        let mut v: Vec<(f32, u8)> = (0..f.sign_bit())
            .map(|c| (f.decode(c), c))
            .filter(|(x, _)| x.is_finite())
            .collect();
        v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        v
    }

    /// Independent reference: search the sorted finite non-negative `values` (from
    /// [`positive_values`]) and compare against the exact midpoints of neighbours.
    fn encode_by_search(f: &MiniFloat, values: &[(f32, u8)], x: f32) -> u8 {
        let a = x.abs();
        let sign = if x.is_sign_negative() {
            f.sign_bit()
        } else {
            0
        };
        let (max, max_code) = *values.last().unwrap();
        if a >= max {
            return sign | max_code;
        }
        let i = values.partition_point(|&(v, _)| v <= a);
        let (lo, lo_code) = values[i - 1];
        let (hi, hi_code) = values[i];
        // Midpoints of neighbours are exact in f64 (and in f32).
        let mid = (f64::from(lo) + f64::from(hi)) / 2.0;
        let a = f64::from(a);
        let code = if a < mid {
            lo_code
        } else if a > mid {
            hi_code
        } else if lo_code & 1 == 0 {
            lo_code
        } else {
            hi_code
        };
        sign | code
    }

    #[test]
    fn parameters() {
        let expect = [
            (E2M1, 4, 6.0, 2),
            (E3M2, 6, 28.0, 4),
            (E2M3, 6, 7.5, 2),
            (E4M3, 8, 448.0, 8),
            (E5M2, 8, 57344.0, 15),
        ];
        for (f, bits, max, emax) in expect {
            assert_eq!(f.bits(), bits, "{f}");
            assert_eq!(f.max(), max, "{f}");
            assert_eq!(f.emax(), emax, "{f}");
            assert_eq!(f.table().len(), 1 << bits);
            assert_eq!(
                f.max(),
                f.table()
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0, f32::max)
            );
        }
        assert_ne!(E2M1, E2M3);
        assert_eq!(E4M3, E4M3);
    }

    #[test]
    fn e2m1_values() {
        let expect = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
        for (c, &v) in expect.iter().enumerate() {
            assert_eq!(E2M1.decode(c as u8).to_bits(), f32::to_bits(v));
            assert_eq!(E2M1.decode(c as u8 | 8).to_bits(), f32::to_bits(-v));
            // High bits are masked off.
            assert_eq!(E2M1.decode(c as u8 | 0xF0).to_bits(), f32::to_bits(v));
            assert_eq!(E2M1.decode(c as u8 | 0xF8).to_bits(), f32::to_bits(-v));
        }
    }

    #[test]
    fn specials() {
        assert!(E4M3.decode(0x7F).is_nan() && E4M3.decode(0x7F).is_sign_positive());
        assert!(E4M3.decode(0xFF).is_nan() && E4M3.decode(0xFF).is_sign_negative());
        assert_eq!(E4M3.decode(0x7E), 448.0);
        assert_eq!(E4M3.decode(0x78), 256.0); // exponent all ones is finite in E4M3
        assert_eq!(E5M2.decode(0x7C), f32::INFINITY);
        assert_eq!(E5M2.decode(0xFC), f32::NEG_INFINITY);
        for c in [0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF] {
            assert!(E5M2.decode(c).is_nan());
        }
        assert_eq!(E5M2.decode(0x7B), 57344.0);
        for f in [E2M1, E3M2, E2M3] {
            assert!(f.table().iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn e2m1_ties() {
        // (input, code): ties go to the even code.
        let cases = [
            (0.25, 0),  // 0 | 0.5
            (0.75, 2),  // 0.5 | 1.0
            (1.25, 2),  // 1.0 | 1.5
            (1.75, 4),  // 1.5 | 2.0
            (2.5, 4),   // 2 | 3
            (3.5, 6),   // 3 | 4
            (5.0, 6),   // 4 | 6
            (-0.25, 8), // -0
            (-2.5, 12), // -2
            (-5.0, 14), // -4
        ];
        for (x, code) in cases {
            assert_eq!(enc(&E2M1, x), code, "{x}");
        }
    }

    #[test]
    fn saturation() {
        for f in ALL {
            let max_code = enc(&f, f.max());
            assert_eq!(f.decode(max_code), f.max());
            for x in [1e30, f32::MAX, f.max() * 1.5, f.max() * 2.0, 1e10] {
                assert_eq!(enc(&f, x), max_code, "{f} {x}");
                assert_eq!(enc(&f, -x), max_code | f.sign_bit(), "{f} {x}");
            }
        }
        // Ties at the saturation boundary.
        assert_eq!(enc(&E2M1, 7.0), 7); // 6 | (8): would round to 8
        assert_eq!(enc(&E4M3, 464.0), 0x7E); // 448 | (480 = NaN code)
        assert_eq!(enc(&E4M3, 480.0), 0x7E);
        assert_eq!(enc(&E4M3, -479.9), 0xFE);
        assert_eq!(enc(&E5M2, 59392.0), 0x7B); // 57344 | (61440 = Inf code)
        assert_eq!(enc(&E5M2, 65536.0), 0x7B);
        assert_eq!(enc(&E3M2, 30.0), 0x1F);
        assert_eq!(enc(&E2M3, 7.75), 0x1F);
    }

    #[test]
    fn signed_zero() {
        for f in ALL {
            assert_eq!(enc(&f, 0.0), 0);
            assert_eq!(enc(&f, -0.0), f.sign_bit());
            assert_eq!(enc(&f, -1e-30), f.sign_bit());
            assert_eq!(enc(&f, -f32::from_bits(1)), f.sign_bit());
            assert_eq!(enc(&f, f32::from_bits(1)), 0);
            assert_eq!(f.decode(f.sign_bit()).to_bits(), (-0.0f32).to_bits());
        }
    }

    #[test]
    fn non_finite_is_an_error() {
        for f in ALL {
            for x in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                assert_eq!(f.encode(x), Err(Error::NonFinite { index: 0 }));
            }
        }
    }

    #[test]
    fn subnormals() {
        let min_sub = [
            (E2M1, 0.5),
            (E3M2, 0.0625),
            (E2M3, 0.125),
            (E4M3, 2f32.powi(-9)),
            (E5M2, 2f32.powi(-16)),
        ];
        for (f, min) in min_sub {
            assert_eq!(f.decode(1), min, "{f}");
            assert_eq!(enc(&f, min), 1);
            assert_eq!(enc(&f, -min), f.sign_bit() | 1);
            // Half the smallest subnormal is a tie with zero: goes to zero.
            assert_eq!(enc(&f, min / 2.0), 0);
            assert_eq!(enc(&f, (min / 2.0).next_up()), 1);
            assert_eq!(enc(&f, -(min / 2.0).next_up()), f.sign_bit() | 1);
            // 1.5 * min is a tie between codes 1 and 2: goes to 2.
            assert_eq!(enc(&f, 1.5 * min), 2);
            assert_eq!(enc(&f, (1.5 * min).next_down()), 1);
            // Every subnormal is exact.
            for m in 1..(1u8 << f.man_bits()) {
                assert_eq!(f.decode(m), f32::from(m) * min);
                assert_eq!(enc(&f, f32::from(m) * min), m);
            }
        }
    }

    #[test]
    fn exhaustive_round_trip() {
        for f in ALL {
            for c in 0..(1u16 << f.bits()) {
                let c = c as u8;
                let v = f.decode(c);
                if v.is_finite() {
                    assert_eq!(enc(&f, v), c, "{f} code {c:#x}");
                } else {
                    assert!(f.encode(v).is_err());
                }
            }
        }
    }

    #[test]
    fn exhaustive_midpoints() {
        for f in ALL {
            let values = positive_values(&f);
            for pair in values.windows(2) {
                let ((lo, lo_code), (hi, hi_code)) = (pair[0], pair[1]);
                let mid = (lo + hi) / 2.0;
                assert_eq!(f64::from(mid), (f64::from(lo) + f64::from(hi)) / 2.0);
                let even = if lo_code & 1 == 0 { lo_code } else { hi_code };
                assert_eq!(hi_code, lo_code + 1);
                for (sign, x) in [(0, mid), (f.sign_bit(), -mid)] {
                    assert_eq!(enc(&f, x), sign | even, "{f} midpoint {x}");
                }
                assert_eq!(enc(&f, mid.next_up()), hi_code, "{f} above {mid}");
                assert_eq!(enc(&f, mid.next_down()), lo_code, "{f} below {mid}");
                assert_eq!(enc(&f, -mid.next_up()), f.sign_bit() | hi_code);
                assert_eq!(enc(&f, -mid.next_down()), f.sign_bit() | lo_code);
            }
            // Above max: the would-be next value's midpoint and beyond all saturate.
            let (max, max_code) = *values.last().unwrap();
            assert_eq!(enc(&f, max.next_up()), max_code);
        }
    }

    #[test]
    fn matches_table_search() {
        for f in ALL {
            let values = positive_values(&f);
            let check = |bits: u32| {
                let x = f32::from_bits(bits);
                if x.is_finite() {
                    let want = encode_by_search(&f, &values, x);
                    assert_eq!(enc(&f, x), want, "{f} {x:e} ({bits:#010x})");
                }
            };
            // A coarse sweep over all f32 bit patterns (both signs, all exponents)...
            (0..=u32::MAX).step_by(65_521).for_each(check);
            // ...and a fine one over the format's range, from a quarter of the smallest
            // subnormal to four times the max.
            let lo = (f.decode(1) / 4.0).to_bits();
            let hi = (f.max() * 4.0).to_bits();
            let step = ((hi - lo) / 200_000).max(1) as usize;
            for bits in (lo..=hi).step_by(step) {
                check(bits);
                check(bits | 0x8000_0000);
            }
        }
    }

    #[test]
    fn slices() {
        let xs = [0.3, -7.0, 2.5, -0.0];
        let mut out = [0u8; 4];
        E2M1.encode_slice(&xs, &mut out).unwrap();
        assert_eq!(out, [1, 15, 4, 8]);
        let mut back = [0.0f32; 4];
        E2M1.decode_slice(&out, &mut back).unwrap();
        assert_eq!(back, [0.5, -6.0, 2.0, -0.0]);
        assert!(back[3].is_sign_negative());

        let mut out = [0xAAu8; 4];
        let bad = [1.0, 2.0, f32::NAN, f32::INFINITY];
        assert_eq!(
            E4M3.encode_slice(&bad, &mut out),
            Err(Error::NonFinite { index: 2 })
        );
        assert_eq!(out, [0xAA; 4], "output untouched on error");
        assert!(matches!(
            E4M3.encode_slice(&xs, &mut [0u8; 3]),
            Err(Error::BufferLength {
                expected: 4,
                got: 3,
                ..
            })
        ));
        assert!(matches!(
            E4M3.decode_slice(&[0u8; 2], &mut [0.0f32; 3]),
            Err(Error::BufferLength {
                expected: 2,
                got: 3,
                ..
            })
        ));
    }

    #[test]
    fn e8m0() {
        assert_eq!(e8m0_decode(127), 1.0);
        assert_eq!(e8m0_decode(0).to_bits(), 0x0040_0000);
        assert_eq!(f64::from(e8m0_decode(0)), 2f64.powi(-127));
        assert_eq!(e8m0_decode(254), 2f32.powi(127));
        assert!(e8m0_decode(0xFF).is_nan());
        for e in 0..=254u8 {
            let v = e8m0_decode(e);
            assert_eq!(f64::from(v), 2f64.powi(i32::from(e) - 127));
            assert_eq!(e8m0_encode_pow2(v), Ok(e));
        }
        for x in [
            3.0,
            0.0,
            -1.0,
            -0.0,
            0.75,
            f32::from_bits(1 << 21),
            f32::MAX,
            f32::from_bits(1),
        ] {
            assert!(
                matches!(e8m0_encode_pow2(x), Err(Error::InvalidParameter { .. })),
                "{x:e}"
            );
        }
        assert_eq!(
            e8m0_encode_pow2(f32::NAN),
            Err(Error::NonFinite { index: 0 })
        );
    }

    #[test]
    fn mx_exponent() {
        let e = E2M1.emax();
        assert_eq!(mx_shared_exponent(6.0, e), Ok(127));
        assert_eq!(mx_shared_exponent(4.0, e), Ok(127));
        assert_eq!(mx_shared_exponent(7.99, e), Ok(127));
        assert_eq!(mx_shared_exponent(8.0, e), Ok(128));
        assert_eq!(mx_shared_exponent(1.0, e), Ok(125));
        assert_eq!(mx_shared_exponent(0.0, e), Ok(E8M0_ONE));
        assert_eq!(mx_shared_exponent(-0.0, e), Ok(E8M0_ONE));
        assert_eq!(mx_shared_exponent(448.0, E4M3.emax()), Ok(127));
        assert_eq!(mx_shared_exponent(57344.0, E5M2.emax()), Ok(127));
        assert_eq!(mx_shared_exponent(f32::MAX, e), Ok(127 + 127 - 2));
        // Subnormal amax: floor(log2) from the bits, then clamped.
        assert_eq!(mx_shared_exponent(f32::from_bits(1), -200), Ok(178)); // -149 + 200 + 127
        assert_eq!(mx_shared_exponent(f32::from_bits(1), e), Ok(0));
        assert_eq!(mx_shared_exponent(f32::MAX, -200), Ok(254));
        assert_eq!(mx_shared_exponent(2f32.powi(-120), 8), Ok(0));
        assert_eq!(
            mx_shared_exponent(f32::NAN, e),
            Err(Error::NonFinite { index: 0 })
        );
        assert_eq!(
            mx_shared_exponent(f32::INFINITY, e),
            Err(Error::NonFinite { index: 0 })
        );
        assert!(matches!(
            mx_shared_exponent(-1.0, e),
            Err(Error::InvalidParameter { .. })
        ));

        // After scaling, the block max lies in [2^emax, 2^(emax+1)) when not clamped.
        for f in ALL {
            for amax in [1e-3f32, 0.37, 1.0, 5.9, 100.0, 3e7] {
                let x = e8m0_decode(mx_shared_exponent(amax, f.emax()).unwrap());
                assert_eq!(floor_log2(amax / x), f.emax());
            }
        }
    }
}
