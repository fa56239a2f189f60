//! A8: activations quantized to int8 per block of 32 along K, for integer-dot kernels.
//!
//! Block `b` covers `x[32b .. 32b + 32]` (the last block may be partial). Its scale is
//! `s = amax / 127` and its codes `q = rne(x * 127 / amax)` in `[-127, 127]`, so
//! `|x - s*q| <= s/2` for every element (up to the rounding of `127 / amax`, a few ulps
//! of `x`). An all-zero block has `s = 0` and zero codes, and so does a block whose
//! `amax` is below [`MIN_AMAX`] (`127 * f32::MIN_POSITIVE`, about 1.5e-36), where `s`
//! would be subnormal and `127 / amax` could overflow: its elements then move by less
//! than `MIN_AMAX` each, an absolute bound instead of the relative one.

use crate::error::check_len;
use crate::{Error, Result};

/// Elements per A8 block.
pub const BLOCK: usize = 32;

/// The smallest block maximum that gets a nonzero scale: below it the block is zero.
pub const MIN_AMAX: f32 = 127.0 * f32::MIN_POSITIVE;

/// The scale `amax / 127` of a block with maximum magnitude `amax` (finite, `>= 0`) and
/// the multiplier `127 / amax` its codes are computed with; both 0 when
/// `amax < MIN_AMAX`. Shared by the scalar codec and the SIMD quantizers, so they agree
/// bit for bit.
#[inline]
pub fn block_scale(amax: f32) -> (f32, f32) {
    if amax < MIN_AMAX {
        (0.0, 0.0)
    } else {
        (amax / 127.0, 127.0 / amax)
    }
}

/// Checks a block and its codes (`x.len() <= 32`, `q.len() == x.len()`, every element
/// finite: else the error, with the index within the block) and returns its largest
/// magnitude.
fn block_amax(x: &[f32], q: &[i8]) -> Result<f32> {
    check_len("a8 block codes", x.len(), q.len())?;
    if x.len() > BLOCK {
        return Err(Error::InvalidParameter {
            what: format!(
                "an A8 block holds at most {BLOCK} elements, not {}",
                x.len()
            ),
        });
    }
    let mut amax = 0.0f32;
    for (i, &v) in x.iter().enumerate() {
        if !v.is_finite() {
            return Err(Error::NonFinite { index: i });
        }
        amax = amax.max(v.abs());
    }
    Ok(amax)
}

/// Quantizes one block (`x.len() <= 32`, `q.len() == x.len()`) and returns its scale.
/// NaN or Inf in `x` is an error (index within the block).
pub fn quantize_block(x: &[f32], q: &mut [i8]) -> Result<f32> {
    let amax = block_amax(x, q)?;
    let (s, inv) = block_scale(amax);
    for (o, &v) in q.iter_mut().zip(x) {
        *o = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    Ok(s)
}

/// The W4A4 activation codec (OliVe's OVP-4 applied to activations): one block
/// (`x.len() <= 32`, `q.len() == x.len()`) encoded as OVP-4 pairs (elements `2i`, `2i + 1`
/// of the block; an odd last element pairs with a zero) under the clip search of
/// [`crate::ovp::search_scale`] with an f32 scale, keep-left victims. `q` receives the
/// decoded values (integers in `-96..=96`, so the A8 kernels multiply them as int8
/// codes) and the scale is returned: element `i` is `s * q[i]`. A block whose `amax` is
/// below [`MIN_AMAX`] is zero (scale 0). NaN or Inf is an error (index within the block).
///
/// The error is OVP-4's: normals within `s/2` (`s = clip/7`), outliers within half the
/// spacing of the outliers around them (at most 27% of the value: just above 9.5 s rounds up
/// to 12 s), values past `96 s` saturate, and a victim
/// loses its whole value (the price of keeping the outlier next to it).
pub fn quantize_block_ovp4(x: &[f32], q: &mut [i8]) -> Result<f32> {
    let amax = block_amax(x, q)?;
    if amax < MIN_AMAX {
        q.fill(0);
        return Ok(0.0);
    }
    let len = x.len().next_multiple_of(2);
    let mut xs = [0.0f32; BLOCK];
    xs[..x.len()].copy_from_slice(x);
    let mut codes = [0u8; BLOCK];
    let mut scratch = Vec::with_capacity(BLOCK);
    let s = crate::ovp::search_scale(
        4,
        &xs[..len],
        crate::ovp::Victim::KeepLeft,
        |s| s,
        &mut codes[..len],
        &mut scratch,
    )
    .unwrap_or(0.0);
    for (p, pair) in codes[..len].chunks_exact(2).enumerate() {
        let (a, b) = crate::ovp::decode4(pair[0] | pair[1] << 4);
        for (i, v) in [(2 * p, a), (2 * p + 1, b)] {
            if let Some(o) = q.get_mut(i) {
                // |v| <= 96.
                *o = v as i8;
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_codec() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 4.0).collect();
        let mut q = [0i8; 32];
        let s = quantize_block(&x, &mut q).unwrap();
        assert_eq!(s, 3.875 / 127.0);
        assert_eq!(q[0], -127);
        assert_eq!(q[31], 127);
        for (v, c) in x.iter().zip(q) {
            assert!((v - s * f32::from(c)).abs() <= s / 2.0 * 1.0001);
        }
        let mut q0 = [5i8; 3];
        assert_eq!(quantize_block(&[0.0, -0.0, 0.0], &mut q0).unwrap(), 0.0);
        assert_eq!(q0, [0, 0, 0]);
        assert_eq!(
            quantize_block(&[1.0, f32::NAN], &mut [0; 2]),
            Err(Error::NonFinite { index: 1 })
        );
        assert!(quantize_block(&[0.0; 33], &mut [0; 33]).is_err());
        // Ties round to even: x*127/amax = 0.5 -> 0, 1.5 -> 2.
        let mut q2 = [0i8; 3];
        quantize_block(&[127.0, 0.5, 1.5], &mut q2).unwrap();
        assert_eq!(q2, [127, 0, 2]);
    }

    /// Tiny and huge blocks: the bound holds wherever the scale is normal, the block is
    /// zero below `MIN_AMAX`, and the largest finite values do not overflow.
    #[test]
    fn extreme_magnitudes() {
        let bound = |x: &[f32]| {
            let mut q = vec![0i8; x.len()];
            let s = quantize_block(x, &mut q).unwrap();
            for (&v, &c) in x.iter().zip(&q) {
                let err = (f64::from(v) - f64::from(s) * f64::from(c)).abs();
                if s == 0.0 {
                    assert!(c == 0 && v.abs() < MIN_AMAX, "{v:e}");
                } else {
                    assert!(
                        err <= f64::from(s) / 2.0 * 1.0001,
                        "{v:e}: {err:e} (s {s:e})"
                    );
                }
            }
            (s, q)
        };
        for amax in [MIN_AMAX, MIN_AMAX * 1.5, 1e-30, 1.0, 3e38, f32::MAX] {
            let x: Vec<f32> = (0..32).map(|i| amax * ((i as f32 - 16.0) / 16.0)).collect();
            let (s, q) = bound(&x);
            assert!(s > 0.0 && s.is_normal(), "{amax:e}");
            assert_eq!(q[0], -127);
        }
        for amax in [MIN_AMAX * 0.99, 1e-37, 1e-40, f32::from_bits(1)] {
            let x = [amax, -amax / 3.0, amax / 2.0];
            assert_eq!(bound(&x), (0.0, vec![0, 0, 0]), "{amax:e}");
        }
    }

    /// The W4A4 codec: every value is the OVP-4 decode of the block's codes times the
    /// scale, normals within half a step, victims next to outliers, zero and tiny blocks
    /// zero, huge blocks finite.
    #[test]
    fn ovp4_block_codec() {
        let mut x: Vec<f32> = (0..32)
            .map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.5)
            .collect();
        x[4] = 9.0; // an outlier: x[5] is its victim
        let mut q = [0i8; 32];
        let s = quantize_block_ovp4(&x, &mut q).unwrap();
        assert!(s > 0.0 && 9.0 / s > 9.5, "scale {s}");
        assert_eq!(q[5], 0);
        assert!(q[4] >= 12 && (f32::from(q[4]) * s - 9.0).abs() <= 0.2 * 9.0);
        for i in (0..32).filter(|&i| i / 2 != 2) {
            assert!(q[i].abs() <= 7, "{i}");
            assert!(
                (x[i] - s * f32::from(q[i])).abs() <= s / 2.0 * 1.0001,
                "{i}"
            );
        }
        // Odd length: the last element pairs with a zero.
        let mut q3 = [0i8; 3];
        let s3 = quantize_block_ovp4(&[1.0, -2.0, 0.5], &mut q3).unwrap();
        assert!((s3 * f32::from(q3[1]) + 2.0).abs() <= s3 / 2.0 * 1.0001);
        assert_eq!(quantize_block_ovp4(&[0.0; 4], &mut [1; 4]).unwrap(), 0.0);
        let mut qt = [1i8; 2];
        assert_eq!(quantize_block_ovp4(&[1e-40, 0.0], &mut qt).unwrap(), 0.0);
        assert_eq!(qt, [0, 0]);
        let mut qh = [0i8; 4];
        let sh = quantize_block_ovp4(&[f32::MAX, -f32::MAX, 1.0, 0.0], &mut qh).unwrap();
        assert!(sh.is_finite() && sh > 0.0);
        assert_eq!(
            quantize_block_ovp4(&[1.0, f32::INFINITY], &mut [0; 2]),
            Err(Error::NonFinite { index: 1 })
        );
    }
}
