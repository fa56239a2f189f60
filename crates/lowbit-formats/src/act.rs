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

/// Quantizes one block (`x.len() <= 32`, `q.len() == x.len()`) and returns its scale.
/// NaN or Inf in `x` is an error (index within the block).
pub fn quantize_block(x: &[f32], q: &mut [i8]) -> Result<f32> {
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
    let (s, inv) = block_scale(amax);
    for (o, &v) in q.iter_mut().zip(x) {
        *o = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
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
}
