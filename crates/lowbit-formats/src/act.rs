//! A8: activations quantized to int8 per block of 32 along K, for integer-dot kernels.
//!
//! Block `b` covers `x[32b .. 32b + 32]` (the last block may be partial). Its scale is
//! `s = amax / 127` and its codes `q = rne(x * 127 / amax)` in `[-127, 127]`, so
//! `|x - s*q| <= s/2` for every element. An all-zero block has `s = 0` and zero codes.

use crate::error::check_len;
use crate::{Error, Result};

/// Elements per A8 block.
pub const BLOCK: usize = 32;

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
    if amax == 0.0 {
        q.fill(0);
        return Ok(0.0);
    }
    let inv = 127.0 / amax;
    for (o, &v) in q.iter_mut().zip(x) {
        *o = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    Ok(amax / 127.0)
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
}
