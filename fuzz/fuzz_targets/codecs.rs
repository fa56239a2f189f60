//! Element codecs on arbitrary input: decode never panics, encode of a finite value
//! returns a code that decodes to a nearest representable value (never NaN/Inf), and
//! encode(decode(c)) == c for finite codes.
//!
//! OVP (OliVe, FORMATS.md "OVP (OliVe), 4-bit" and "OVP, 8-bit"): `ovp::decode4` /
//! `decode8` agree with a decoder written here from the FORMATS.md text; `encode_pair`
//! (both victim rules) decodes to points of the format, keeps each element's nearest point
//! when no outlier is involved, writes at most one outlier per pair and keeps the one the
//! victim rule names; `act::quantize_block_ovp4` (the W4A4 activation codec) returns a
//! finite non-negative scale and, per pair, the keep-left OVP-4 encoding of the block
//! under that scale (values in -96..=96), zero for an all-zero or tiny block, is never
//! worse than the no-outlier clip `amax / 7`, and refuses NaN/Inf at the first index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowbit_formats::act::{quantize_block_ovp4, MIN_AMAX};
use lowbit_formats::minifloat::{E2M1, E2M3, E3M2, E4M3, E5M2};
use lowbit_formats::ovp::{self, Victim};
use lowbit_formats::Error;

/// The OVP `bits`-bit (4 or 8) identifier code: the sign bit alone.
fn ovp_id(bits: u32) -> u8 {
    1 << (bits - 1)
}

/// The largest normal magnitude: 7 / 127.
fn ovp_nmax(bits: u32) -> i32 {
    (1 << (bits - 1)) - 1
}

/// FORMATS.md: a normal code is two's complement of `bits` bits.
fn ovp_normal_ref(bits: u32, c: u8) -> i32 {
    let c = i32::from(c);
    if c >= 1 << (bits - 1) {
        c - (1 << bits)
    } else {
        c
    }
}

/// FORMATS.md: an outlier code is sign-magnitude `s e1 e0 m..`, magnitude
/// `(2^mbits + m) << (e + 2)` with 1 (OVP-4) or 5 (OVP-8) mantissa bits; `e = m = 0` is
/// the reserved code (+-8 / +-128).
fn ovp_outlier_ref(bits: u32, c: u8) -> i32 {
    let mbits = bits - 3;
    let c = u32::from(c);
    let m = c & ((1 << mbits) - 1);
    let e = (c >> mbits) & 3;
    let mag = (((1 << mbits) + m) << (e + 2)) as i32;
    if c >> (bits - 1) & 1 == 1 {
        -mag
    } else {
        mag
    }
}

/// FORMATS.md pair rule: b = id -> (abf(a), 0); else a = id -> (0, abf(b)); else
/// (int(a), int(b)); both id -> (0, 0).
fn ovp_pair_ref(bits: u32, a: u8, b: u8) -> (i32, i32) {
    let id = ovp_id(bits);
    match (a == id, b == id) {
        (true, true) => (0, 0),
        (false, true) => (ovp_outlier_ref(bits, a), 0),
        (true, false) => (0, ovp_outlier_ref(bits, b)),
        (false, false) => (ovp_normal_ref(bits, a), ovp_normal_ref(bits, b)),
    }
}

/// The outlier magnitudes the encoder may write (the reserved one excluded), ascending.
fn ovp_outlier_points(bits: u32) -> Vec<i32> {
    let mbits = bits - 3;
    let mut v: Vec<i32> = (1..(4u8 << mbits))
        .map(|f| ovp_outlier_ref(bits, f))
        .collect();
    v.sort_unstable();
    v
}

/// Whether `v` is a point of the format (a normal value, 0 included, or an outlier).
fn ovp_is_point(bits: u32, v: i32) -> bool {
    v.abs() <= ovp_nmax(bits) || ovp_outlier_points(bits).contains(&v.abs())
}

/// The point of the format nearest to the finite `x` (ties to the smaller magnitude,
/// saturating) and whether it is an outlier.
fn ovp_nearest_ref(bits: u32, x: f32) -> (i32, bool) {
    // Past the largest outlier the nearest point is that outlier (and `a - m` in f64
    // would round for values near f32::MAX); below, `a - m` is exact where it matters.
    let omax = ovp_outlier_points(bits).last().copied().unwrap_or(0);
    let a = f64::from(x.abs()).min(f64::from(omax));
    let mut best = (0i32, false);
    let mut best_d = a;
    let cands = (1..=ovp_nmax(bits))
        .map(|m| (m, false))
        .chain(ovp_outlier_points(bits).into_iter().map(|m| (m, true)));
    // Candidates ascend, so a strict improvement keeps the smaller magnitude on a tie.
    for (m, out) in cands {
        let d = (a - f64::from(m)).abs();
        if d < best_d {
            best_d = d;
            best = (m, out);
        }
    }
    if x < 0.0 {
        (-best.0, best.1)
    } else {
        best
    }
}

/// The decoded values the OVP encoding of the pair `(xa, xb)` must have (FORMATS.md).
fn ovp_encode_ref(bits: u32, xa: f32, xb: f32, victim: Victim) -> (i32, i32) {
    let (na, oa) = ovp_nearest_ref(bits, xa);
    let (nb, ob) = ovp_nearest_ref(bits, xb);
    match (oa, ob) {
        (false, false) => (na, nb),
        (true, false) => (na, 0),
        (false, true) => (0, nb),
        (true, true) => match victim {
            Victim::KeepLeft => (na, 0),
            Victim::KeepLarger if xa.abs() >= xb.abs() => (na, 0),
            Victim::KeepLarger => (0, nb),
        },
    }
}

/// `encode_pair` of `(xa, xb)` under both victim rules against the reference.
fn check_encode_pair(bits: u32, xa: f32, xb: f32) {
    let nmax = ovp_nmax(bits);
    for victim in [Victim::KeepLeft, Victim::KeepLarger] {
        let (ca, cb) = ovp::encode_pair(bits, xa, xb, victim);
        if bits == 4 {
            assert!(
                ca < 16 && cb < 16,
                "ovp4 ({xa}, {xb}): codes {ca:#x} {cb:#x}"
            );
        }
        let id = ovp_id(bits);
        assert!(
            !(ca == id && cb == id),
            "ovp{bits} ({xa}, {xb}): two identifiers"
        );
        let (va, vb) = ovp_pair_ref(bits, ca, cb);
        let ctx =
            format!("ovp{bits} {victim:?} ({xa:e}, {xb:e}) -> {ca:#x} {cb:#x} = ({va}, {vb})");
        assert!(
            ovp_is_point(bits, va) && ovp_is_point(bits, vb),
            "{ctx}: not points"
        );
        assert!(va.abs() <= nmax || vb.abs() <= nmax, "{ctx}: two outliers");
        let (na, oa) = ovp_nearest_ref(bits, xa);
        let (nb, ob) = ovp_nearest_ref(bits, xb);
        if !oa && !ob {
            assert_eq!((va, vb), (na, nb), "{ctx}: normals move");
        }
        if oa && ob && victim == Victim::KeepLarger {
            let kept = if xa.abs() >= xb.abs() {
                (na, 0)
            } else {
                (0, nb)
            };
            assert_eq!((va, vb), kept, "{ctx}: keep-larger");
        }
        assert_eq!(
            (va, vb),
            ovp_encode_ref(bits, xa, xb, victim),
            "{ctx}: reference"
        );
    }
}

/// `quantize_block_ovp4` on one block (at most 32 elements).
fn check_block_ovp4(x: &[f32]) {
    let mut q = vec![0x55i8; x.len()];
    let r = quantize_block_ovp4(x, &mut q);
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        assert_eq!(r, Err(Error::NonFinite { index: i }), "{x:?}");
        return;
    }
    let s = r.unwrap_or_else(|e| panic!("{x:?}: {e:?}"));
    assert!(s.is_finite() && s >= 0.0, "{x:?}: scale {s:e}");
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    if amax < MIN_AMAX {
        assert_eq!(s, 0.0, "{x:?}: tiny block");
        assert!(q.iter().all(|&c| c == 0), "{x:?}: tiny block codes {q:?}");
        return;
    }
    assert!(s > 0.0, "{x:?}: zero scale for amax {amax:e}");
    // Every pair (an odd last element pairs with 0) is a decoded OVP-4 pair, and exactly
    // the keep-left encoding of the block divided by `s`.
    let mut xs = x.to_vec();
    let mut qs: Vec<i32> = q.iter().map(|&c| i32::from(c)).collect();
    if xs.len() % 2 == 1 {
        xs.push(0.0);
        qs.push(0);
    }
    let pairs: Vec<(i32, i32)> = (0..=255u8)
        .map(|b| ovp_pair_ref(4, b & 0xF, b >> 4))
        .collect();
    let inv = 1.0 / s;
    let sse = |scale: f32, vals: &[i32]| -> f64 {
        xs.iter()
            .zip(vals)
            .map(|(&v, &c)| {
                let e = f64::from(v) - f64::from(scale) * f64::from(c);
                e * e
            })
            .sum()
    };
    for (p, (xp, qp)) in xs.chunks_exact(2).zip(qs.chunks_exact(2)).enumerate() {
        assert!(
            qp.iter().all(|c| (-96..=96).contains(c)),
            "{x:?}: pair {p} {qp:?}"
        );
        assert!(
            pairs.contains(&(qp[0], qp[1])),
            "{x:?}: pair {p} {qp:?} is no OVP-4 pair"
        );
        let want = ovp_encode_ref(4, xp[0] * inv, xp[1] * inv, Victim::KeepLeft);
        assert_eq!((qp[0], qp[1]), want, "{x:?} scale {s:e}: pair {p}");
    }
    // Never worse than the clip amax (scale amax / 7: every element normal).
    let s7 = amax / 7.0;
    if s7 > 0.0 {
        let inv7 = 1.0 / s7;
        let q7: Vec<i32> = xs
            .chunks_exact(2)
            .flat_map(|xp| {
                let (a, b) = ovp_encode_ref(4, xp[0] * inv7, xp[1] * inv7, Victim::KeepLeft);
                [a, b]
            })
            .collect();
        let (got, int4) = (sse(s, &qs), sse(s7, &q7));
        assert!(
            got <= int4 * (1.0 + 1e-9),
            "{x:?}: error {got:e} with scale {s:e} above {int4:e} with amax / 7"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    for chunk in data.chunks_exact(4) {
        let x = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        for f in [E2M1, E3M2, E2M3, E4M3, E5M2] {
            let c = chunk[0];
            let d = f.decode(c);
            if d.is_finite() {
                let back = f.encode(d).expect("finite decodes re-encode");
                assert_eq!(f.decode(back).to_bits(), d.to_bits(), "{f} code {c:#x}");
            }
            match f.encode(x) {
                Ok(code) => {
                    assert!(x.is_finite());
                    let v = f.decode(code);
                    assert!(v.is_finite());
                    if x.abs() <= f.max() {
                        // No representable value is strictly closer than the chosen one.
                        for other in 0..(1u16 << f.bits()) {
                            let o = f.decode(other as u8);
                            if o.is_finite() {
                                assert!(
                                    (o - x).abs() >= (v - x).abs(),
                                    "{f} x={x} got {v} but {o} closer"
                                );
                            }
                        }
                    } else {
                        assert_eq!(v.abs(), f.max());
                    }
                }
                Err(_) => assert!(!x.is_finite()),
            }
        }
        // OVP decode: both nibbles of two bytes, and two byte pairs.
        for b in [chunk[0], chunk[3]] {
            let want = ovp_pair_ref(4, b & 0xF, b >> 4);
            assert_eq!(ovp::decode4(b), want, "decode4 {b:#x}");
            assert_eq!(
                ovp::decode_pair(4, b & 0xF, b >> 4),
                want,
                "decode_pair 4 {b:#x}"
            );
        }
        for (a, b) in [(chunk[0], chunk[1]), (chunk[2], chunk[3])] {
            let want = ovp_pair_ref(8, a, b);
            assert_eq!(ovp::decode8(a, b), want, "decode8 {a:#x} {b:#x}");
            assert_eq!(
                ovp::decode_pair(8, a, b),
                want,
                "decode_pair 8 {a:#x} {b:#x}"
            );
            assert_eq!(
                ovp::normal(8, a),
                if a == 0x80 { 0 } else { ovp_normal_ref(8, a) }
            );
            assert_eq!(
                ovp::outlier(8, a),
                if a == 0x80 { 0 } else { ovp_outlier_ref(8, a) }
            );
        }
    }
    // OVP encode_pair on consecutive finite values: as they are, and folded into the
    // ranges where the points are (x % 1.15 * the largest outlier).
    let xs: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    for p in xs.chunks_exact(2) {
        let (xa, xb) = (p[0], p[1]);
        if !(xa.is_finite() && xb.is_finite()) {
            continue;
        }
        for bits in [4, 8] {
            let r = 1.15 * ovp::outlier_max(bits) as f32;
            check_encode_pair(bits, xa, xb);
            check_encode_pair(bits, xa % r, xb % r);
        }
    }
    // quantize_block_ovp4 on blocks of 1..=32 elements (the first byte picks the length;
    // the last block may be shorter), also with NaN/Inf elements.
    if let Some(&first) = data.first() {
        for block in xs.chunks(1 + usize::from(first) % 32) {
            check_block_ovp4(block);
        }
    }
});
