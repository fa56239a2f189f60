//! Bit packing of sub-byte codes, and the plane splits used by 3-bit and 6-bit formats.
//!
//! The convention (FORMATS.md): for `b`-bit codes, element `i` sits in byte `i*b/8` at bit
//! offset `(i*b) % 8`, little-endian within the byte. `b` is 1, 2, 4 or 8, so no code ever
//! straddles a byte. A packed row of `n` codes takes [`packed_len`]`(n, b)` bytes; unused
//! high bits of the last byte are zero when written by [`pack`].
//!
//! Codes that do not fit one of those widths are stored as planes:
//! - 3-bit codes (INT3): a 2-bit plane with the low two bits and a 1-bit plane with bit 2
//!   ([`split_2_1`] / [`join_2_1`]);
//! - 6-bit codes (FP6, the "4+2" split): a 2-bit plane with `c >> 4` and a 4-bit plane with
//!   `c & 0xF` ([`split_4_2`] / [`join_4_2`]).

use crate::error::check_len;
use crate::{Error, Result};

fn check_width(bits: u32) -> Result<()> {
    if matches!(bits, 1 | 2 | 4 | 8) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            what: format!("packed code width must be 1, 2, 4 or 8 bits, not {bits}"),
        })
    }
}

/// Bytes taken by `count` codes of `bits` bits each (rounded up to a whole byte), for
/// `bits <= 8`. Exact for every `count`: computed as `(count / 8) * bits` plus the bytes of
/// the last `count % 8` codes, so it never overflows (the result is at most `count`).
pub const fn packed_len(count: usize, bits: u32) -> usize {
    assert!(bits <= 8, "packed codes are at most 8 bits wide");
    let bits = bits as usize;
    (count / 8) * bits + ((count % 8) * bits).div_ceil(8)
}

/// Reads code `i` from a packed buffer of `bits`-bit codes. Panics if `i` is out of range.
#[inline(always)]
pub fn get(packed: &[u8], bits: u32, i: usize) -> u8 {
    let bit = i * bits as usize;
    let mask = ((1u32 << bits) - 1) as u8;
    (packed[bit / 8] >> (bit % 8)) & mask
}

/// Packs `codes` (each `< 2^bits`) into `out`, which must be exactly
/// [`packed_len`]`(codes.len(), bits)` bytes long.
pub fn pack(codes: &[u8], bits: u32, out: &mut [u8]) -> Result<()> {
    check_width(bits)?;
    check_len("packed output", packed_len(codes.len(), bits), out.len())?;
    if let Some(i) = codes.iter().position(|&c| u32::from(c) >> bits != 0) {
        return Err(Error::InvalidParameter {
            what: format!("code {} at index {i} does not fit in {bits} bits", codes[i]),
        });
    }
    out.fill(0);
    for (i, &c) in codes.iter().enumerate() {
        let bit = i * bits as usize;
        out[bit / 8] |= c << (bit % 8);
    }
    Ok(())
}

/// Unpacks `out.len()` codes of `bits` bits from `packed`, which must be exactly
/// [`packed_len`]`(out.len(), bits)` bytes long.
pub fn unpack(packed: &[u8], bits: u32, out: &mut [u8]) -> Result<()> {
    check_width(bits)?;
    check_len("packed input", packed_len(out.len(), bits), packed.len())?;
    for (i, o) in out.iter_mut().enumerate() {
        *o = get(packed, bits, i);
    }
    Ok(())
}

/// Splits 3-bit codes into a 2-bit plane (low two bits) and a 1-bit plane (bit 2).
pub fn split_2_1(codes: &[u8], plane2: &mut [u8], plane1: &mut [u8]) -> Result<()> {
    if let Some(i) = codes.iter().position(|&c| c > 7) {
        return Err(Error::InvalidParameter {
            what: format!("code {} at index {i} does not fit in 3 bits", codes[i]),
        });
    }
    let lo: Vec<u8> = codes.iter().map(|&c| c & 3).collect();
    let hi: Vec<u8> = codes.iter().map(|&c| c >> 2).collect();
    pack(&lo, 2, plane2)?;
    pack(&hi, 1, plane1)
}

/// Joins a 2-bit plane and a 1-bit plane back into `out.len()` 3-bit codes.
pub fn join_2_1(plane2: &[u8], plane1: &[u8], out: &mut [u8]) -> Result<()> {
    check_len("2-bit plane", packed_len(out.len(), 2), plane2.len())?;
    check_len("1-bit plane", packed_len(out.len(), 1), plane1.len())?;
    for (i, o) in out.iter_mut().enumerate() {
        *o = get(plane2, 2, i) | (get(plane1, 1, i) << 2);
    }
    Ok(())
}

/// Splits 6-bit codes into the "4+2" planes: a 2-bit plane holding `c >> 4` and a 4-bit
/// plane holding `c & 0xF`.
pub fn split_4_2(codes: &[u8], plane_hi2: &mut [u8], plane_lo4: &mut [u8]) -> Result<()> {
    if let Some(i) = codes.iter().position(|&c| c > 63) {
        return Err(Error::InvalidParameter {
            what: format!("code {} at index {i} does not fit in 6 bits", codes[i]),
        });
    }
    let hi: Vec<u8> = codes.iter().map(|&c| c >> 4).collect();
    let lo: Vec<u8> = codes.iter().map(|&c| c & 0xF).collect();
    pack(&hi, 2, plane_hi2)?;
    pack(&lo, 4, plane_lo4)
}

/// Joins the "4+2" planes back into `out.len()` 6-bit codes.
pub fn join_4_2(plane_hi2: &[u8], plane_lo4: &[u8], out: &mut [u8]) -> Result<()> {
    check_len("2-bit plane", packed_len(out.len(), 2), plane_hi2.len())?;
    check_len("4-bit plane", packed_len(out.len(), 4), plane_lo4.len())?;
    for (i, o) in out.iter_mut().enumerate() {
        *o = (get(plane_hi2, 2, i) << 4) | get(plane_lo4, 4, i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn packed_len_is_exact_up_to_usize_max() {
        for bits in 1..=8u32 {
            let counts =
                (0..100usize).chain([usize::MAX, usize::MAX - 1, usize::MAX / 8 + 3, 1 << 61]);
            for count in counts {
                let want = (count as u128 * u128::from(bits)).div_ceil(8);
                assert_eq!(
                    super::packed_len(count, bits) as u128,
                    want,
                    "{count} x {bits}"
                );
            }
        }
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_is_little_endian_within_bytes() {
        let mut out = [0u8; 2];
        pack(&[1, 2, 3, 0xF], 4, &mut out).unwrap();
        assert_eq!(out, [0x21, 0xF3]);
        let mut out = [0u8; 1];
        pack(&[1, 2, 3, 0], 2, &mut out).unwrap();
        assert_eq!(out, [0b00_11_10_01]);
        let mut out = [0u8; 2];
        pack(&[1, 0, 0, 0, 0, 0, 0, 1, 1], 1, &mut out).unwrap();
        assert_eq!(out, [0x81, 0x01]);
    }

    #[test]
    fn rejects_bad_widths_lengths_and_codes() {
        let mut out = [0u8; 4];
        assert!(pack(&[0; 8], 3, &mut out).is_err());
        assert!(pack(&[0; 8], 4, &mut out[..3]).is_err());
        assert!(pack(&[16, 0], 4, &mut out[..1]).is_err());
        assert!(unpack(&out, 4, &mut [0u8; 9]).is_err());
        assert!(unpack(&out, 4, &mut [0u8; 7]).is_ok());
        assert!(split_2_1(&[8], &mut [0], &mut [0]).is_err());
        assert!(split_4_2(&[64], &mut [0], &mut [0]).is_err());
    }

    #[test]
    fn planes_of_known_codes() {
        // 6-bit codes 0b10_0111 and 0b01_1000.
        let (mut hi, mut lo) = ([0u8; 1], [0u8; 1]);
        split_4_2(&[0b10_0111, 0b01_1000], &mut hi, &mut lo).unwrap();
        assert_eq!(hi, [0b01_10]);
        assert_eq!(lo, [0x87]);
        let (mut p2, mut p1) = ([0u8; 1], [0u8; 1]);
        split_2_1(&[0b101, 0b011, 0b110], &mut p2, &mut p1).unwrap();
        assert_eq!(p2, [0b10_11_01]);
        assert_eq!(p1, [0b101]);
    }

    proptest! {
        #[test]
        fn pack_roundtrip(bits in prop::sample::select(vec![1u32, 2, 4, 8]), seed in prop::collection::vec(any::<u8>(), 0..200)) {
            let codes: Vec<u8> = seed.iter().map(|&c| ((c as u32) & ((1u32 << bits) - 1)) as u8).collect();
            let mut packed = vec![0u8; packed_len(codes.len(), bits)];
            pack(&codes, bits, &mut packed).unwrap();
            let mut back = vec![0u8; codes.len()];
            unpack(&packed, bits, &mut back).unwrap();
            prop_assert_eq!(&back, &codes);
            for (i, &c) in codes.iter().enumerate() {
                prop_assert_eq!(get(&packed, bits, i), c);
            }
        }

        #[test]
        fn plane_roundtrips(seed in prop::collection::vec(any::<u8>(), 0..200)) {
            let c6: Vec<u8> = seed.iter().map(|&c| c & 63).collect();
            let mut hi = vec![0u8; packed_len(c6.len(), 2)];
            let mut lo = vec![0u8; packed_len(c6.len(), 4)];
            split_4_2(&c6, &mut hi, &mut lo).unwrap();
            let mut back = vec![0u8; c6.len()];
            join_4_2(&hi, &lo, &mut back).unwrap();
            prop_assert_eq!(&back, &c6);

            let c3: Vec<u8> = seed.iter().map(|&c| c & 7).collect();
            let mut p2 = vec![0u8; packed_len(c3.len(), 2)];
            let mut p1 = vec![0u8; packed_len(c3.len(), 1)];
            split_2_1(&c3, &mut p2, &mut p1).unwrap();
            let mut back = vec![0u8; c3.len()];
            join_2_1(&p2, &p1, &mut back).unwrap();
            prop_assert_eq!(&back, &c3);
        }
    }
}
