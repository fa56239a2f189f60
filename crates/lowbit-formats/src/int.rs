//! INT-b: uniform integer quantization with a scale and a zero-point per group.
//!
//! A code `q` is unsigned in `[0, 2^b - 1]`; with the group's f16 scale `s` and u8
//! zero-point `z`, the value is `w = s * (q - z)`. Symmetric quantization fixes
//! `z = 2^(b-1)` for every group and omits the zero-point array.
//!
//! Canonical layout of an `N x K` matrix (rows are output channels, groups run along `K`):
//! - `b = 2, 4, 8`: one plane `[N][ceil(K*b/8)]` bytes, codes packed as in [`crate::pack`]
//!   (4-bit: even element in the low nibble). Every row starts on a byte boundary.
//! - `b = 3`: a 2-bit plane `[N][ceil(K/4)]` with the low two bits of each code and a
//!   1-bit plane `[N][ceil(K/8)]` with bit 2 (element `8i+j` at bit `j` of byte `i`).
//! - scales: f16 `[N][K/g]`; zero-points: u8 `[N][K/g]` (absent when symmetric), each in
//!   `[0, 2^b]` (`2^b` is allowed because GPTQ checkpoints store `z - 1`).

use crate::error::{check_finite, check_len};
use crate::pack::{self, packed_len};
use crate::{f16, Error, Group, Result};

/// An INT-b format: bit width, group size and whether groups carry a zero-point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntFormat {
    /// Bits per code: 2, 3, 4 or 8.
    pub bits: u8,
    /// Elements per scale along `K`.
    pub group: Group,
    /// `true`: asymmetric, a u8 zero-point per group. `false`: symmetric, `z = 2^(b-1)`.
    pub zero_point: bool,
}

impl IntFormat {
    /// A symmetric format (`z = 2^(b-1)`).
    pub const fn symmetric(bits: u8, group: Group) -> Self {
        IntFormat {
            bits,
            group,
            zero_point: false,
        }
    }

    /// An asymmetric format with a zero-point per group.
    pub const fn with_zero_point(bits: u8, group: Group) -> Self {
        IntFormat {
            bits,
            group,
            zero_point: true,
        }
    }

    /// Checks the bit width.
    pub fn validate(&self) -> Result<()> {
        if matches!(self.bits, 2 | 3 | 4 | 8) {
            Ok(())
        } else {
            Err(Error::InvalidParameter {
                what: format!("INT bit width must be 2, 3, 4 or 8, not {}", self.bits),
            })
        }
    }

    /// Largest code, `2^b - 1`.
    pub const fn max_code(&self) -> u8 {
        ((1u16 << self.bits) - 1) as u8
    }

    /// The implied zero-point of symmetric groups, `2^(b-1)`.
    pub const fn symmetric_zero(&self) -> u8 {
        1u8 << (self.bits - 1)
    }

    /// The full layout of an `n x k` matrix in this format (validates everything).
    pub fn layout(&self, n: usize, k: usize) -> Result<IntLayout> {
        self.validate()?;
        if n == 0 {
            return Err(Error::InvalidShape {
                what: "N must be at least 1".into(),
            });
        }
        let g = self.group.resolve(k)?;
        let (b0, b1) = if self.bits == 3 {
            (packed_len(k, 2), packed_len(k, 1))
        } else {
            (packed_len(k, u32::from(self.bits)), 0)
        };
        let too_big = || Error::InvalidShape {
            what: format!("{n} x {k} is too large to address"),
        };
        // Every buffer is at most N * K bytes or elements, and a Rust slice holds at most
        // isize::MAX bytes: past that, no buffer of this shape can exist.
        let elements = n.checked_mul(k).ok_or_else(too_big)?;
        if elements > isize::MAX as usize / 2 {
            return Err(too_big());
        }
        let groups = k / g;
        Ok(IntLayout {
            format: *self,
            n,
            k,
            group_len: g,
            groups_per_row: groups,
            row_bytes0: b0,
            row_bytes1: b1,
            plane0_len: n.checked_mul(b0).ok_or_else(too_big)?,
            plane1_len: n * b1,
            scales_len: n * groups,
            zeros_len: if self.zero_point { n * groups } else { 0 },
        })
    }
}

/// Sizes of every buffer of an INT matrix (see the module docs for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntLayout {
    /// The format.
    pub format: IntFormat,
    /// Rows (output channels).
    pub n: usize,
    /// Columns (reduction length).
    pub k: usize,
    /// Effective group length (`K` when per-row).
    pub group_len: usize,
    /// `K / group_len`.
    pub groups_per_row: usize,
    /// Bytes per row of the main plane (all codes for b = 2, 4, 8; low two bits for b = 3).
    pub row_bytes0: usize,
    /// Bytes per row of the 1-bit plane (b = 3 only, else 0).
    pub row_bytes1: usize,
    /// Length of the main plane, `N * row_bytes0`.
    pub plane0_len: usize,
    /// Length of the 1-bit plane, `N * row_bytes1`.
    pub plane1_len: usize,
    /// Number of f16 scales, `N * K / g`.
    pub scales_len: usize,
    /// Number of zero-points (0 when symmetric).
    pub zeros_len: usize,
}

impl IntLayout {
    /// Bytes of weight data a GEMV reads: codes, scales and zero-points.
    pub fn weight_bytes(&self) -> usize {
        self.plane0_len + self.plane1_len + 2 * self.scales_len + self.zeros_len
    }
}

/// Round-to-nearest-even quantization of one value: `clamp(rne(x / s) + z, 0, max_code)`.
/// A zero scale maps everything to `z`. `x` must be finite (callers check).
#[inline]
pub fn encode(x: f32, scale: f32, zero: u8, max_code: u8) -> u8 {
    if scale == 0.0 {
        return zero.min(max_code);
    }
    let q = (x / scale).round_ties_even() + f32::from(zero);
    q.clamp(0.0, f32::from(max_code)) as u8
}

/// Dequantizes one code: `s * (q - z)`.
#[inline(always)]
pub fn decode(q: u8, scale: f32, zero: u8) -> f32 {
    scale * (f32::from(q) - f32::from(zero))
}

/// An owned INT matrix in the canonical layout.
#[derive(Debug, Clone, PartialEq)]
pub struct IntMatrix {
    layout: IntLayout,
    plane0: Vec<u8>,
    plane1: Vec<u8>,
    scales: Vec<f16>,
    zeros: Vec<u8>,
}

/// A borrowed, validated view of an INT matrix in the canonical layout (zero-copy over
/// caller buffers). Constructing one checks every length, so kernels can rely on them.
#[derive(Debug, Clone, Copy)]
pub struct IntMatrixRef<'a> {
    layout: IntLayout,
    plane0: &'a [u8],
    plane1: &'a [u8],
    scales: &'a [f16],
    zeros: Option<&'a [u8]>,
}

impl<'a> IntMatrixRef<'a> {
    /// Wraps caller buffers. `plane1` must be empty unless `bits == 3`; `zeros` must be
    /// `Some` exactly when the format has zero-points. Every length is checked, and so is
    /// the range of every zero-point.
    pub fn new(
        format: IntFormat,
        n: usize,
        k: usize,
        plane0: &'a [u8],
        plane1: &'a [u8],
        scales: &'a [f16],
        zeros: Option<&'a [u8]>,
    ) -> Result<Self> {
        let layout = format.layout(n, k)?;
        check_len("codes", layout.plane0_len, plane0.len())?;
        check_len("1-bit plane", layout.plane1_len, plane1.len())?;
        check_len("scales", layout.scales_len, scales.len())?;
        match (format.zero_point, zeros) {
            (true, Some(z)) => {
                check_len("zeros", layout.zeros_len, z.len())?;
                let zmax = u16::from(format.max_code()) + 1;
                if let Some(i) = z.iter().position(|&v| u16::from(v) > zmax) {
                    return Err(Error::InvalidParameter {
                        what: format!(
                            "zero-point {} at index {i} exceeds 2^{} = {zmax}",
                            z[i], format.bits
                        ),
                    });
                }
            }
            (false, None) => {}
            (true, None) => {
                return Err(Error::InvalidParameter {
                    what: "the format has zero-points but none were given".into(),
                })
            }
            (false, Some(_)) => {
                return Err(Error::InvalidParameter {
                    what: "zero-points given for a symmetric format".into(),
                })
            }
        }
        Ok(IntMatrixRef {
            layout,
            plane0,
            plane1,
            scales,
            zeros,
        })
    }

    /// The layout (shape, group length, buffer sizes).
    pub fn layout(&self) -> &IntLayout {
        &self.layout
    }
    /// The format.
    pub fn format(&self) -> IntFormat {
        self.layout.format
    }
    /// Rows.
    pub fn n(&self) -> usize {
        self.layout.n
    }
    /// Columns.
    pub fn k(&self) -> usize {
        self.layout.k
    }
    /// The main code plane.
    pub fn plane0(&self) -> &'a [u8] {
        self.plane0
    }
    /// The 1-bit plane (INT3 only; empty otherwise).
    pub fn plane1(&self) -> &'a [u8] {
        self.plane1
    }
    /// The scales, `[N][K/g]`.
    pub fn scales(&self) -> &'a [f16] {
        self.scales
    }
    /// The zero-points, `[N][K/g]`, when the format has them.
    pub fn zeros(&self) -> Option<&'a [u8]> {
        self.zeros
    }

    /// The zero-point of group `j` of row `n`.
    #[inline(always)]
    pub fn zero(&self, n: usize, j: usize) -> u8 {
        match self.zeros {
            Some(z) => z[n * self.layout.groups_per_row + j],
            None => self.layout.format.symmetric_zero(),
        }
    }

    /// The scale of group `j` of row `n`, as f32.
    #[inline(always)]
    pub fn scale(&self, n: usize, j: usize) -> f32 {
        self.scales[n * self.layout.groups_per_row + j].to_f32()
    }

    /// The code of element `(n, k)`.
    #[inline(always)]
    pub fn code(&self, n: usize, k: usize) -> u8 {
        let l = &self.layout;
        let row0 = &self.plane0[n * l.row_bytes0..(n + 1) * l.row_bytes0];
        match l.format.bits {
            3 => {
                let row1 = &self.plane1[n * l.row_bytes1..(n + 1) * l.row_bytes1];
                pack::get(row0, 2, k) | (pack::get(row1, 1, k) << 2)
            }
            b => pack::get(row0, u32::from(b), k),
        }
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
            let j = k / l.group_len;
            *o = decode(self.code(n, k), self.scale(n, j), self.zero(n, j));
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
    pub fn to_owned(&self) -> IntMatrix {
        IntMatrix {
            layout: self.layout,
            plane0: self.plane0.to_vec(),
            plane1: self.plane1.to_vec(),
            scales: self.scales.to_vec(),
            zeros: self.zeros.map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }
}

/// The smallest positive f16, `2^-24`: the scale of a nonzero group whose scale would
/// round to zero.
const MIN_SCALE: f16 = f16::from_bits(1);

/// Scale and zero-point of one group, chosen as documented on [`IntMatrix::quantize`].
fn group_params(xs: &[f32], format: &IntFormat) -> (f16, u8) {
    let max_code = f32::from(format.max_code());
    if format.zero_point {
        let lo = xs.iter().copied().fold(0.0f32, f32::min);
        let hi = xs.iter().copied().fold(0.0f32, f32::max);
        let s = f16::from_f32(((hi - lo) / max_code).min(f16::MAX.to_f32()));
        // A nonzero range whose scale rounds to zero keeps the smallest f16 scale.
        let s = if s.to_f32() == 0.0 && hi > lo {
            MIN_SCALE
        } else {
            s
        };
        let sf = s.to_f32();
        let z = if sf == 0.0 {
            0.0
        } else {
            (-lo / sf).round_ties_even().clamp(0.0, max_code)
        };
        (s, z as u8)
    } else {
        // The element of largest magnitude, with its sign, maps exactly onto code 0:
        // s = m / -2^(b-1). The opposite side reaches 2^(b-1) - 1 (saturating).
        let m = xs
            .iter()
            .copied()
            .fold(0.0f32, |a, x| if x.abs() > a.abs() { x } else { a });
        let half = f32::from(format.symmetric_zero());
        let s = f16::from_f32((m / -half).clamp(-f16::MAX.to_f32(), f16::MAX.to_f32()));
        // A nonzero group whose scale rounds to zero keeps the smallest f16 scale (with
        // the sign of `-m`), so its larger elements survive instead of all becoming 0.
        let s = match (s.to_f32() == 0.0, m > 0.0, m < 0.0) {
            (true, true, _) => -MIN_SCALE,
            (true, _, true) => MIN_SCALE,
            _ => s,
        };
        (s, format.symmetric_zero())
    }
}

impl IntMatrix {
    /// Quantizes a row-major `n x k` f32 matrix.
    ///
    /// Per group: with a zero-point, `s = (max - min) / (2^b - 1)` over the group's range
    /// widened to include 0, and `z = rne(-min / s)`; symmetric, `s = m / -2^(b-1)` where
    /// `m` is the group's element of largest magnitude (so it is represented exactly and
    /// `s` may be negative). The scale is rounded to f16 first and codes are computed with
    /// the rounded scale: `q = clamp(rne(x / s) + z, 0, 2^b - 1)`. Scales saturate at the
    /// f16 maximum; a nonzero group whose scale would round to zero (for INT4, a group
    /// whose largest magnitude is below about 2.4e-7) gets the smallest f16, `2^-24`, so its
    /// error stays within `2^-25` per element instead of the group becoming all zeros.
    /// Scales below the f16 normal range (`6.1e-5`; INT4 groups whose largest magnitude is
    /// below about 4.9e-4) have fewer significant bits, so such groups are quantized more
    /// coarsely than the format's step suggests. NaN or Inf input is an error.
    pub fn quantize(weights: &[f32], n: usize, k: usize, format: IntFormat) -> Result<Self> {
        let layout = format.layout(n, k)?;
        check_len("weights", n * k, weights.len())?;
        check_finite(weights)?;
        let g = layout.group_len;
        let mut scales = Vec::with_capacity(layout.scales_len);
        let mut zeros = Vec::with_capacity(layout.zeros_len);
        let mut codes = vec![0u8; k];
        let mut plane0 = vec![0u8; layout.plane0_len];
        let mut plane1 = vec![0u8; layout.plane1_len];
        for (r, row) in weights.chunks_exact(k).enumerate() {
            for (j, grp) in row.chunks_exact(g).enumerate() {
                let (s, z) = group_params(grp, &format);
                scales.push(s);
                if format.zero_point {
                    zeros.push(z);
                }
                for (c, &x) in codes[j * g..(j + 1) * g].iter_mut().zip(grp) {
                    *c = encode(x, s.to_f32(), z, format.max_code());
                }
            }
            let out0 = &mut plane0[r * layout.row_bytes0..(r + 1) * layout.row_bytes0];
            if format.bits == 3 {
                let out1 = &mut plane1[r * layout.row_bytes1..(r + 1) * layout.row_bytes1];
                pack::split_2_1(&codes, out0, out1)?;
            } else {
                pack::pack(&codes, u32::from(format.bits), out0)?;
            }
        }
        Ok(IntMatrix {
            layout,
            plane0,
            plane1,
            scales,
            zeros,
        })
    }

    /// Builds an owned matrix from canonical buffers (validated like [`IntMatrixRef::new`]).
    pub fn from_parts(
        format: IntFormat,
        n: usize,
        k: usize,
        plane0: Vec<u8>,
        plane1: Vec<u8>,
        scales: Vec<f16>,
        zeros: Option<Vec<u8>>,
    ) -> Result<Self> {
        let layout =
            *IntMatrixRef::new(format, n, k, &plane0, &plane1, &scales, zeros.as_deref())?.layout();
        Ok(IntMatrix {
            layout,
            plane0,
            plane1,
            scales,
            zeros: zeros.unwrap_or_default(),
        })
    }

    /// A borrowed view.
    pub fn view(&self) -> IntMatrixRef<'_> {
        IntMatrixRef {
            layout: self.layout,
            plane0: &self.plane0,
            plane1: &self.plane1,
            scales: &self.scales,
            zeros: if self.layout.format.zero_point {
                Some(&self.zeros)
            } else {
                None
            },
        }
    }

    /// The layout.
    pub fn layout(&self) -> &IntLayout {
        &self.layout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Groups so small that their scale rounds to zero in f16 keep the smallest f16 scale:
    /// every element within `2^-25` (half that scale) of its value, and elements of at
    /// least `2^-24` in magnitude nonzero. An all-zero group stays exactly zero.
    #[test]
    fn tiny_groups_stay_representable() {
        let min = f16::from_bits(1).to_f32();
        for bits in [2u8, 3, 4, 8] {
            for zp in [false, true] {
                let f = IntFormat {
                    bits,
                    group: Group::Size(32),
                    zero_point: zp,
                };
                for amax in [2.3e-7f32, 1e-7, 4e-8, 1e-9] {
                    let w: Vec<f32> = (0..64)
                        .map(|i| {
                            if i < 32 {
                                amax * ((i as f32 - 13.0) / 18.0)
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let q = IntMatrix::quantize(&w, 1, 64, f).unwrap();
                    let mut d = vec![0.0; 64];
                    q.view().dequantize(&mut d).unwrap();
                    let s = q.view().scales()[0].to_f32().abs();
                    assert!(s >= min, "{f:?} {amax:e}: the scale became 0");
                    for (i, (&x, &y)) in w.iter().zip(&d).enumerate() {
                        // Saturation aside (the far side of a symmetric range), within
                        // half the group's scale.
                        let far = !zp && x * w[31] < 0.0;
                        let ok = (x - y).abs() <= s / 2.0 * 1.0001;
                        assert!(far || ok, "{f:?} {amax:e} [{i}] {x:e} -> {y:e} (s {s:e})");
                        if x.abs() >= 2.0 * min && !far {
                            assert!(y != 0.0, "{f:?} {amax:e} [{i}] {x:e} became 0");
                        }
                    }
                    assert!(d[32..].iter().all(|&y| y == 0.0));
                    assert_eq!(q.view().scales()[1].to_f32(), 0.0, "the zero group");
                }
            }
        }
    }

    /// Sizes near the top of `usize` are exact or an error, never wrapped.
    #[test]
    fn huge_shapes_are_exact_or_refused() {
        let f8 = IntFormat::symmetric(8, Group::PerRow);
        let l = f8.layout(1, 1 << 61).unwrap();
        assert_eq!(
            (l.row_bytes0, l.plane0_len, l.scales_len),
            (1 << 61, 1 << 61, 1)
        );
        let l = IntFormat::symmetric(3, Group::Size(32))
            .layout(2, 1 << 60)
            .unwrap();
        assert_eq!((l.row_bytes0, l.row_bytes1), (1 << 58, 1 << 57));
        assert_eq!(
            (l.plane0_len, l.plane1_len, l.scales_len),
            (1 << 59, 1 << 58, 1 << 56)
        );
        for (n, k) in [
            (8, 1usize << 61),
            (1, 1 << 63),
            (usize::MAX, 2),
            (3, usize::MAX / 2),
        ] {
            assert!(
                matches!(f8.layout(n, k), Err(Error::InvalidShape { .. })),
                "{n} x {k}"
            );
        }
    }

    #[test]
    fn element_codec_every_code_point() {
        for bits in [2u8, 3, 4, 8] {
            let f = IntFormat::with_zero_point(bits, Group::PerRow);
            for z in [0u8, 1, f.symmetric_zero(), f.max_code()] {
                for q in 0..=f.max_code() {
                    let s = 0.37f32;
                    let x = decode(q, s, z);
                    assert_eq!(x, s * (f32::from(q) - f32::from(z)));
                    assert_eq!(encode(x, s, z, f.max_code()), q, "b{bits} z{z} q{q}");
                }
            }
        }
    }

    #[test]
    fn element_codec_ties_and_saturation() {
        // x/s = 0.5 -> 0 (even), 1.5 -> 2, 2.5 -> 2, -0.5 -> -0 -> z.
        assert_eq!(encode(0.5, 1.0, 8, 15), 8);
        assert_eq!(encode(1.5, 1.0, 8, 15), 10);
        assert_eq!(encode(2.5, 1.0, 8, 15), 10);
        assert_eq!(encode(-0.5, 1.0, 8, 15), 8);
        assert_eq!(encode(-1.5, 1.0, 8, 15), 6);
        assert_eq!(encode(1e30, 1.0, 8, 15), 15);
        assert_eq!(encode(-1e30, 1.0, 8, 15), 0);
        assert_eq!(encode(f32::MAX, 1e-30, 0, 255), 255);
        assert_eq!(encode(3.0, 0.0, 8, 15), 8);
    }

    #[test]
    fn rejects_bad_input() {
        let f = IntFormat::symmetric(4, Group::Size(32));
        assert!(matches!(
            IntMatrix::quantize(&[0.0; 48], 1, 48, f),
            Err(Error::BadGroupSize { .. })
        ));
        assert!(matches!(
            IntMatrix::quantize(&[0.0; 63], 1, 64, f),
            Err(Error::BufferLength { .. })
        ));
        let mut w = vec![0.0; 64];
        w[40] = f32::NAN;
        assert_eq!(
            IntMatrix::quantize(&w, 1, 64, f),
            Err(Error::NonFinite { index: 40 })
        );
        w[40] = f32::NEG_INFINITY;
        assert_eq!(
            IntMatrix::quantize(&w, 1, 64, f),
            Err(Error::NonFinite { index: 40 })
        );
        assert!(IntMatrix::quantize(&[], 0, 64, f).is_err());
        assert!(
            IntMatrix::quantize(&[0.0; 64], 1, 64, IntFormat::symmetric(5, Group::PerRow)).is_err()
        );
        let s = [f16::ONE; 2];
        assert!(IntMatrixRef::new(f, 1, 64, &[0; 31], &[], &s, None).is_err());
        assert!(IntMatrixRef::new(f, 1, 64, &[0; 32], &[], &s[..1], None).is_err());
        assert!(IntMatrixRef::new(f, 1, 64, &[0; 32], &[], &s, Some(&[0, 0])).is_err());
        let fz = IntFormat::with_zero_point(4, Group::Size(32));
        assert!(IntMatrixRef::new(fz, 1, 64, &[0; 32], &[], &s, None).is_err());
        assert!(IntMatrixRef::new(fz, 1, 64, &[0; 32], &[], &s, Some(&[16, 17])).is_err());
        assert!(IntMatrixRef::new(fz, 1, 64, &[0; 32], &[], &s, Some(&[16, 0])).is_ok());
    }

    #[test]
    fn symmetric_keeps_the_extreme_exact() {
        let mut w: Vec<f32> = (0..32).map(|i| (i as f32 - 10.0) * 0.1).collect();
        w[5] = -4.0;
        let m = IntMatrix::quantize(&w, 1, 32, IntFormat::symmetric(4, Group::Size(32))).unwrap();
        let mut back = vec![0.0; 32];
        m.view().dequantize(&mut back).unwrap();
        assert_eq!(back[5], -4.0);
        assert_eq!(m.view().code(0, 5), 0);
    }

    fn max_err_bound(w: &[f32], k: usize, g: usize, bits: u8) -> Vec<f32> {
        // Half a step of the group's scale (plus f16 rounding slack), per element.
        w.chunks(k)
            .flat_map(|row| {
                row.chunks(g).flat_map(|grp| {
                    let amax = grp.iter().fold(0.0f32, |a, &x| a.max(x.abs()));
                    let step = 2.0 * amax / (f32::from(1u16 << bits) - 1.0);
                    std::iter::repeat_n(step * 0.5 * 1.01 + 1e-6, grp.len())
                })
            })
            .collect()
    }

    proptest! {
        #[test]
        fn quantize_dequantize_roundtrip(
            bits in prop::sample::select(vec![2u8, 3, 4, 8]),
            zp in any::<bool>(),
            gi in 0usize..5,
            n in 1usize..5,
            kmul in 1usize..4,
            seed in any::<u64>(),
        ) {
            let group = if gi == 4 { Group::PerRow } else { Group::Size(Group::SIZES[gi]) };
            let k = match group { Group::Size(g) => g * kmul, Group::PerRow => 17 * kmul + 3 };
            let mut state = seed | 1;
            let w: Vec<f32> = (0..n * k).map(|_| {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            }).collect();
            let f = IntFormat { bits, group, zero_point: zp };
            let m = IntMatrix::quantize(&w, n, k, f).unwrap();
            let v = m.view();
            let g = v.layout().group_len;
            let mut back = vec![0.0; n * k];
            v.dequantize(&mut back).unwrap();
            let bound = max_err_bound(&w, k, g, bits);
            for i in 0..n * k {
                // Symmetric INT saturates one step early on the side opposite the extreme.
                let slack = if zp { 1.0 } else { 2.0 };
                prop_assert!((back[i] - w[i]).abs() <= bound[i] * slack * 2.0,
                    "i={} w={} back={} bound={}", i, w[i], back[i], bound[i]);
            }
            // Codes are re-derivable from the view and round-trip through from_parts.
            let again = IntMatrix::from_parts(f, n, k, v.plane0().to_vec(), v.plane1().to_vec(),
                v.scales().to_vec(), v.zeros().map(|z| z.to_vec())).unwrap();
            prop_assert_eq!(&again, &m);
        }
    }
}
