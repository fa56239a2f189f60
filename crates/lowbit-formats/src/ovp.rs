//! OVP (OliVe) outlier-victim pairs: the element codec of [`FpElem::Ovp4`] and
//! [`FpElem::Ovp8`] (FORMATS.md, "OVP (OliVe), 4-bit" and "OVP, 8-bit").
//!
//! Elements pair along `K`: `(2p, 2p + 1)`. A pair holds either two normal integers
//! (OVP-4: two's complement int4 in `-7..=7`; OVP-8: int8 in `-127..=127`) or one outlier
//! and a zero, the *victim*. The identifier code (OVP-4 nibble `1000`, OVP-8 byte `0x80`,
//! never a normal value) in one slot marks the other slot as an outlier, stored as an
//! "abfloat": sign, a 2-bit exponent `e` and a mantissa `m` (1 bit for OVP-4, 5 for
//! OVP-8), magnitude `(2 + m) << (e + 2)` (12, 16, 24, .., 96) or `(32 + m) << (e + 2)`
//! (132, 136, .., 2016). The abfloat with `e = m = 0` is reserved (never written; it
//! decodes to `±8` / `±128`). Two identifiers decode to `(0, 0)`.
//!
//! Decoded values are integers (`|v| <= 96`, `<= 2016`); an element's weight is its
//! group's scale times the value. This module is the scalar specification the kernels
//! are tested against.
//!
//! [`FpElem::Ovp4`]: crate::fp::FpElem::Ovp4
//! [`FpElem::Ovp8`]: crate::fp::FpElem::Ovp8

/// The OVP-4 identifier nibble.
pub const OVP4_ID: u8 = 0x8;
/// The OVP-8 identifier byte.
pub const OVP8_ID: u8 = 0x80;

/// Which element of a pair stays when both are outliers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Victim {
    /// The left (even) element is kept, the right one becomes the victim (the OliVe
    /// reference rule).
    #[default]
    KeepLeft,
    /// The element of larger magnitude is kept (the left one on a tie).
    KeepLarger,
}

/// The two OVP widths' constants.
#[derive(Debug, Clone, Copy)]
struct Width {
    /// Bits per code (4 or 8).
    bits: u32,
    /// The identifier code.
    id: u8,
    /// Mantissa bits of an outlier.
    man_bits: u32,
    /// The largest normal magnitude (7, 127).
    nmax: i32,
}

const W4: Width = Width {
    bits: 4,
    id: OVP4_ID,
    man_bits: 1,
    nmax: 7,
};
const W8: Width = Width {
    bits: 8,
    id: OVP8_ID,
    man_bits: 5,
    nmax: 127,
};

const fn width(bits: u32) -> Width {
    if bits == 4 {
        W4
    } else {
        W8
    }
}

impl Width {
    /// The normal value of code `c` (the identifier reads as 0).
    const fn normal(self, c: u8) -> i32 {
        if c == self.id {
            0
        } else {
            // Two's complement of `bits` bits.
            let sh = 32 - self.bits;
            ((c as i32) << sh) >> sh
        }
    }

    /// The outlier value of code `c` (sign-magnitude abfloat; the identifier, which is
    /// the negative reserved code, reads as 0 so that two identifiers decode to 0).
    const fn outlier(self, c: u8) -> i32 {
        if c == self.id {
            return 0;
        }
        let m = (c as u32) & ((1 << self.man_bits) - 1);
        let e = ((c as u32) >> self.man_bits) & 3;
        let mag = (((1u32 << self.man_bits) + m) << (e + 2)) as i32;
        if (c as u32) >> (self.bits - 1) & 1 == 1 {
            -mag
        } else {
            mag
        }
    }

    /// The decoded pair of codes `(a, b)` (even element's code first).
    const fn pair(self, a: u8, b: u8) -> (i32, i32) {
        if b == self.id {
            (self.outlier(a), 0)
        } else if a == self.id {
            (0, self.outlier(b))
        } else {
            (self.normal(a), self.normal(b))
        }
    }

    /// The outlier magnitude of the code with exponent/mantissa field `f` (`f >= 1`).
    const fn out_mag(self, f: u32) -> i32 {
        let m = f & ((1 << self.man_bits) - 1);
        let e = f >> self.man_bits;
        (((1u32 << self.man_bits) + m) << (e + 2)) as i32
    }

    /// The largest outlier magnitude (96, 2016).
    const fn omax(self) -> i32 {
        self.out_mag((4 << self.man_bits) - 1)
    }

    /// The point nearest to `x` (finite): `(code, value, outlier)`, ties to the smaller
    /// magnitude, saturating at the largest outlier.
    fn nearest(self, x: f32) -> (u8, i32, bool) {
        let a = x.abs();
        let neg = x < 0.0;
        let first = self.out_mag(1);
        // Between the largest normal and the first outlier the midpoint decides.
        if a <= (self.nmax + first) as f32 / 2.0 {
            // Round half toward zero: the smaller magnitude on a tie.
            let r = a.floor();
            let m = if a - r > 0.5 { r + 1.0 } else { r };
            let m = (m as i32).min(self.nmax);
            let v = if neg { -m } else { m };
            let code = (v as u8) & ((1u16 << self.bits) - 1) as u8;
            return (code, v, false);
        }
        // The outlier magnitudes increase with the field `f = 1 ..`: find the last one
        // at most `a`, then compare with the next.
        let fields = 4u32 << self.man_bits;
        let mut f = 1;
        while f + 1 < fields && self.out_mag(f + 1) as f32 <= a {
            f += 1;
        }
        if f + 1 < fields {
            let (lo, hi) = (self.out_mag(f) as f32, self.out_mag(f + 1) as f32);
            if a - lo > hi - a {
                f += 1;
            }
        }
        let sign = if neg { 1u32 << (self.bits - 1) } else { 0 };
        let mag = self.out_mag(f);
        ((f | sign) as u8, if neg { -mag } else { mag }, true)
    }

    /// The codes of the pair `(xa, xb)` (values in units of the scale) under `victim`.
    fn encode_pair(self, xa: f32, xb: f32, victim: Victim) -> (u8, u8) {
        let (ca, _, oa) = self.nearest(xa);
        let (cb, _, ob) = self.nearest(xb);
        let keep_left = match (oa, ob) {
            (true, true) => match victim {
                Victim::KeepLeft => true,
                Victim::KeepLarger => xa.abs() >= xb.abs(),
            },
            (true, false) => true,
            (false, true) => false,
            (false, false) => return (ca, cb),
        };
        if keep_left {
            (ca, self.id)
        } else {
            (self.id, cb)
        }
    }
}

/// The decoded values of the OVP-4 byte `byte` (even element in the low nibble).
pub const fn decode4(byte: u8) -> (i32, i32) {
    W4.pair(byte & 0xF, byte >> 4)
}

/// The decoded values of the OVP-8 pair of bytes `(a, b)` (even element first).
pub const fn decode8(a: u8, b: u8) -> (i32, i32) {
    W8.pair(a, b)
}

/// The decoded values of the pair of `bits`-bit codes (4 or 8) `(a, b)`.
pub const fn decode_pair(bits: u32, a: u8, b: u8) -> (i32, i32) {
    width(bits).pair(a, b)
}

/// The normal value of a `bits`-bit code (the identifier reads as 0): what a slot
/// means when its partner is not the identifier.
pub const fn normal(bits: u32, c: u8) -> i32 {
    width(bits).normal(c)
}

/// The outlier value of a `bits`-bit code (the identifier reads as 0): what a slot means
/// when its partner is the identifier.
pub const fn outlier(bits: u32, c: u8) -> i32 {
    width(bits).outlier(c)
}

/// The largest normal magnitude of the `bits`-bit format (7, 127): the scale is
/// `clip / nmax`.
pub const fn normal_max(bits: u32) -> i32 {
    width(bits).nmax
}

/// The largest outlier magnitude of the `bits`-bit format (96, 2016).
pub const fn outlier_max(bits: u32) -> i32 {
    width(bits).omax()
}

/// The codes of the pair `(xa, xb)` (values in units of the scale, finite) in the
/// `bits`-bit format: each value goes to its nearest point of the normals and outliers
/// (ties to the smaller magnitude, saturating at the largest outlier); an element on an
/// outlier takes the pair and its partner becomes the victim (0); when both land on
/// outliers `victim` decides which stays.
pub fn encode_pair(bits: u32, xa: f32, xb: f32, victim: Victim) -> (u8, u8) {
    width(bits).encode_pair(xa, xb, victim)
}

/// The relative clips [`search_scale`] tries, times `3 * rms`: 0.75 to 2.5 in steps of
/// 1/16 (the range OliVe's reference scans).
const CLIPS: core::ops::RangeInclusive<u32> = 12..=40;

/// The clip search of one group `xs` (even length, finite) in the `bits`-bit format: the
/// scale `stored(clip / nmax)` (`nmax` 7 or 127; `stored` rounds to what the caller can
/// store, and must return a positive finite value) of least squared error among the
/// clips `amax` (no outliers: the INT-like clip), the clip that puts `amax` on the
/// largest outlier (nothing saturates), and `f * 3 * rms` for `f` in 0.75, 0.8125, ..,
/// 2.5; the first of equal errors wins. Its codes (one per element) land in `codes`.
/// `None` for an all-zero group (codes 0).
pub fn search_scale(
    bits: u32,
    xs: &[f32],
    victim: Victim,
    stored: impl Fn(f32) -> f32,
    codes: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Option<f32> {
    let nmax = normal_max(bits) as f32;
    let omax = outlier_max(bits) as f32;
    let amax = xs.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    if amax == 0.0 {
        codes.fill(0);
        return None;
    }
    let ms = xs.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / xs.len() as f64;
    let rms = ms.sqrt() as f32;
    let candidates = [amax, amax * nmax / omax]
        .into_iter()
        .chain(CLIPS.map(|i| 3.0 * rms * i as f32 / 16.0));
    scratch.resize(xs.len(), 0);
    let mut best = (f64::INFINITY, 0.0f32);
    for clip in candidates {
        let s = stored(clip / nmax);
        if !(s > 0.0 && s.is_finite()) {
            // A clip past f32's range (inputs near f32::MAX): `amax / nmax` never is.
            continue;
        }
        let err = encode_run(bits, xs, s, victim, scratch);
        if err < best.0 {
            best = (err, s);
            codes.copy_from_slice(scratch);
        }
    }
    Some(best.1)
}

/// Encodes `xs` (even length, values in units of `scale`) into `codes` (one code per
/// element, unpacked) and returns the sum of squared errors `sum (x - scale * v)^2` in
/// the original units (in f64: no overflow). `scale > 0`.
pub(crate) fn encode_run(
    bits: u32,
    xs: &[f32],
    scale: f32,
    victim: Victim,
    codes: &mut [u8],
) -> f64 {
    let w = width(bits);
    let inv = 1.0 / scale;
    let mut err = 0.0f64;
    for (x, c) in xs.chunks_exact(2).zip(codes.chunks_exact_mut(2)) {
        let (ca, cb) = w.encode_pair(x[0] * inv, x[1] * inv, victim);
        let (va, vb) = w.pair(ca, cb);
        let s = f64::from(scale);
        let (ea, eb) = (
            f64::from(x[0]) - s * f64::from(va),
            f64::from(x[1]) - s * f64::from(vb),
        );
        err += ea * ea + eb * eb;
        c[0] = ca;
        c[1] = cb;
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlier_magnitudes() {
        let m4: Vec<i32> = (1..8).map(|f| W4.out_mag(f)).collect();
        assert_eq!(m4, [12, 16, 24, 32, 48, 64, 96]);
        assert_eq!((outlier_max(4), outlier_max(8)), (96, 2016));
        assert_eq!(
            (W8.out_mag(1), W8.out_mag(31), W8.out_mag(32)),
            (132, 252, 256)
        );
        // Increasing: the nearest-point search relies on it.
        assert!((1..127).all(|f| W8.out_mag(f) < W8.out_mag(f + 1)));
        // The reserved code and the identifier.
        assert_eq!(
            (outlier(4, 0), outlier(4, 8), decode4(0x88)),
            (8, 0, (0, 0))
        );
        assert_eq!((outlier(8, 0), decode8(0x80, 0x80)), (128, (0, 0)));
        assert_eq!(decode8(0x7F, 0x81), (127, -127));
        assert_eq!(decode8(0xFF, 0x80), (-2016, 0));
        assert_eq!(decode8(0x80, 0x01), (0, 132));
    }

    #[test]
    fn nearest_points() {
        // Normals round half toward zero; 9.5 is the midpoint of 7 and 12.
        assert_eq!(W4.nearest(2.5), (2, 2, false));
        assert_eq!(W4.nearest(2.51), (3, 3, false));
        assert_eq!(W4.nearest(-6.7), (0x9, -7, false));
        assert_eq!(W4.nearest(9.5), (7, 7, false));
        assert_eq!(W4.nearest(9.6), (1, 12, true));
        assert_eq!(W4.nearest(-14.0), (0x9, -12, true));
        assert_eq!(W4.nearest(14.1), (2, 16, true));
        assert_eq!(W4.nearest(80.0), (6, 64, true));
        assert_eq!(W4.nearest(1e9), (7, 96, true));
        assert_eq!(W4.nearest(-1e9), (0xF, -96, true));
        assert_eq!(W8.nearest(129.5), (127, 127, false));
        assert_eq!(W8.nearest(-130.0), (0x81, -132, true));
        assert_eq!(W8.nearest(5000.0), (0x7F, 2016, true));
        assert_eq!(W8.nearest(-0.2), (0, 0, false));
    }

    /// Every code the encoder writes decodes to the value `nearest` reports, and every
    /// representable value encodes to itself.
    #[test]
    fn every_point_round_trips() {
        for w in [W4, W8] {
            for v in -w.omax()..=w.omax() {
                let (c, got, out) = w.nearest(v as f32);
                let decoded = if out { w.outlier(c) } else { w.normal(c) };
                assert_eq!(decoded, got, "{} bits, {v}", w.bits);
                let representable =
                    v.abs() <= w.nmax || (1..4 << w.man_bits).any(|f| w.out_mag(f) == v.abs());
                if representable {
                    assert_eq!(got, v, "{} bits", w.bits);
                }
            }
        }
    }

    /// Hand-worked pairs (scale 1).
    #[test]
    fn hand_worked_pairs() {
        let e4 = |a, b, v| {
            let (ca, cb) = encode_pair(4, a, b, v);
            decode4(ca | cb << 4)
        };
        // Two normals.
        assert_eq!(e4(3.0, -2.0, Victim::KeepLeft), (3, -2));
        // An outlier next to a normal value: the normal one is the victim, either side.
        assert_eq!(e4(20.0, 5.0, Victim::KeepLeft), (16, 0));
        assert_eq!(e4(-5.0, -30.0, Victim::KeepLeft), (0, -32));
        // Two adjacent outliers: keep-left keeps the left, keep-larger the larger.
        assert_eq!(e4(13.0, -90.0, Victim::KeepLeft), (12, 0));
        assert_eq!(e4(13.0, -90.0, Victim::KeepLarger), (0, -96));
        assert_eq!(e4(-50.0, 50.0, Victim::KeepLarger), (-48, 0));
        // Past the largest outlier: saturates.
        assert_eq!(e4(500.0, 1.0, Victim::KeepLeft), (96, 0));
        assert_eq!(e4(0.0, -1e30, Victim::KeepLeft), (0, -96));
        // All zeros (and negative zero) are normal zeros.
        assert_eq!(encode_pair(4, 0.0, -0.0, Victim::KeepLeft), (0, 0));
        // OVP-8.
        let e8 = |a, b, v| {
            let (ca, cb) = encode_pair(8, a, b, v);
            decode8(ca, cb)
        };
        assert_eq!(e8(127.0, -127.4, Victim::KeepLeft), (127, -127));
        assert_eq!(e8(-200.0, 3.0, Victim::KeepLeft), (-200, 0));
        // 300 is the midpoint of 296 and 304: the smaller magnitude.
        assert_eq!(e8(300.0, -2100.0, Victim::KeepLeft), (296, 0));
        assert_eq!(e8(301.0, -2100.0, Victim::KeepLarger), (0, -2016));
    }
}
