//! Decode steps of OVP (OliVe outlier-victim pairs, `lowbit_formats::ovp`): OVP-4
//! (`BITS = 4`, a pair per byte, the even element in the low nibble) and OVP-8
//! (`BITS = 8`, a pair per two bytes). A slot's value depends on its partner: the
//! partner's identifier code makes it an outlier; its own identifier makes it 0.
//!
//! - A8 (OVP-4): INT4's step shape and activation layout (low nibbles against the even
//!   half of the chunk, high nibbles against the odd half). Each nibble is looked up in
//!   two byte tables, its normal value and its outlier value (both plus 128, so every
//!   value is an unsigned byte; the identifier reads 128, i.e. 0), and the partner nibble
//!   picks one ([`Dot::bsel_eq`]): `-96..=96` does not fit the small dots' bound, so the
//!   codes go through [`Dot::dot_z128`] (one `vpdpbusd` chain from the activations'
//!   8-element sums times 128 with VNNI; recentred codes elsewhere).
//! - f32 GEMV and GEMM (x86): a pair per i32 lane (OVP-4: one byte; OVP-8: a u16) decodes
//!   to two f32 lanes. OVP-4 reads a 32-entry table, normal values then outlier values,
//!   at `code + 16 * (partner is the identifier)`; OVP-8 computes both (the normal byte
//!   sign-extended and converted; the outlier `s e1 e0 m4..m0` placed in an f32 as
//!   `1.m * 2^(7 + e)`) and selects. Every value is an integer below 2^11 times an `f16`
//!   scale, so every weight is exact, as in the reference.

use lowbit_formats::fp::FpMatrixRef;
use lowbit_formats::ovp;

use super::fp::fp_a8_items;
#[cfg(target_arch = "x86_64")]
use super::fp::{fp_gemm_items, fp_gemv_items};
use super::int::{Int, IntAct};
use super::A8Decode;
#[cfg(target_arch = "x86_64")]
use super::{GemmDecode, GemvDecode};
use crate::a8::A8Activations;
use crate::simd::Dot;
#[cfg(target_arch = "x86_64")]
use crate::simd::Simd;

/// OVP weights of `BITS` (4 or 8) bits per code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ovp<const BITS: u32>;

/// `value + 128` of every OVP-4 nibble read as a normal value (`outlier = false`) or as
/// an outlier (`true`); the identifier reads 128 both ways.
const fn a8_table(outlier: bool) -> [u8; 16] {
    let mut t = [0u8; 16];
    let mut c = 0;
    while c < 16 {
        let v = if outlier {
            ovp::outlier(4, c as u8)
        } else {
            ovp::normal(4, c as u8)
        };
        t[c] = (v + 128) as u8;
        c += 1;
    }
    t
}
const A8_NORMAL: [u8; 16] = a8_table(false);
const A8_OUTLIER: [u8; 16] = a8_table(true);

/// A8 (OVP-4 only: OVP-8 values do not fit int8, and the registry gives it no entry).
impl<S: Dot, const BITS: u32> A8Decode<S> for Ovp<BITS> {
    fp_a8_items!();

    const STEP: usize = <Int<4> as A8Decode<S>>::STEP;
    const STEP_BYTES: (usize, usize) = (<Self as A8Decode<S>>::STEP / 2, 0);
    type Act = IntAct<S>;

    /// INT4's activations, with the correction `128 * (negated 8-element sum)` (the
    /// tables' `+128`) computed once for all rows.
    #[inline(always)]
    fn act(s: S, x: &A8Activations, st: usize) -> IntAct<S> {
        let mut a = <Int<4> as A8Decode<S>>::act(s, x, st);
        a.corr = s.isll(a.neg[0], 7);
        a
    }

    #[inline(always)]
    unsafe fn dot<const SYM: bool>(
        s: S,
        w: &FpMatrixRef<'_>,
        n: usize,
        st: usize,
        act: &IntAct<S>,
        _z: S::I,
    ) -> S::I {
        debug_assert_eq!(BITS, 4);
        let b0 = <Self as A8Decode<S>>::STEP_BYTES.0;
        // SAFETY: n < N and (st + 1) STEP <= K (the caller's contract), so the step's
        // bytes st * b0 .. (st + 1) * b0 of row n lie within the row.
        let wv = unsafe { s.bload(w.codes().as_ptr().add(n * w.layout().row_bytes0 + st * b0)) };
        let m = s.bsplat(0x0F);
        let (lo, hi) = (s.band(wv, m), s.band(s.bsrl16::<4>(wv), m));
        let (tn, to) = (s.btable(&A8_NORMAL), s.btable(&A8_OUTLIER));
        let even = s.bsel_eq::<{ ovp::OVP4_ID }>(hi, s.blookup(tn, lo), s.blookup(to, lo));
        let odd = s.bsel_eq::<{ ovp::OVP4_ID }>(lo, s.blookup(tn, hi), s.blookup(to, hi));
        // Both halves' codes carry +128; the correction covers the lane's 8 activations
        // (4 even, 4 odd).
        s.dot_z128::<2>(act.corr, [even, odd, even, odd], act.x)
    }
}

/// The 32-entry table of OVP-4 values: normal values of codes 0..16, then outlier values.
#[cfg(target_arch = "x86_64")]
const OVP4_VALUES: [f32; 32] = {
    let mut t = [0.0f32; 32];
    let mut c = 0;
    while c < 16 {
        t[c] = ovp::normal(4, c as u8) as f32;
        t[c + 16] = ovp::outlier(4, c as u8) as f32;
        c += 1;
    }
    t
};

/// The values (unscaled) of the pairs in each lane: `v` holds code `a` (the even
/// element) in bits `0..BITS` and code `b` in bits `BITS..2 BITS` (bits above ignored
/// for OVP-4, zero for OVP-8); `t4` is [`OVP4_VALUES`] in registers (OVP-4).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn pair_lanes<S: Simd, const BITS: u32>(s: S, v: S::I, t4: &[S::F; 4]) -> (S::F, S::F) {
    let mask = s.isplat((1 << BITS) - 1);
    let (a, b) = (s.iand(v, mask), s.iand(s.isrl(v, BITS), mask));
    if BITS == 4 {
        let id = s.isplat(i32::from(ovp::OVP4_ID));
        let sixteen = s.isplat(16);
        let a_out = s.iand(s.icmpeq(b, id), sixteen);
        let b_out = s.iand(s.icmpeq(a, id), sixteen);
        (
            s.fpermute32(t4, s.ior(a, a_out)),
            s.fpermute32(t4, s.ior(b, b_out)),
        )
    } else {
        let id = s.isplat(i32::from(ovp::OVP8_ID));
        let (a_id, b_id) = (s.icmpeq(a, id), s.icmpeq(b, id));
        (ovp8_value(s, a, a_id, b_id), ovp8_value(s, b, b_id, a_id))
    }
}

/// The OVP-8 value of codes `c` (one per lane) whose own identifier test is `own_id` and
/// whose partner's is `partner_id` (all-ones lanes). A function, not a closure: a
/// closure's body is not compiled with the caller's target features (DESIGN.md).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ovp8_value<S: Simd>(s: S, c: S::I, own_id: S::I, partner_id: S::I) -> S::F {
    let sign = s.iand(c, s.isplat(0x80));
    // Two's complement byte: c - 256 * (bit 7).
    let normal = s.ibits(s.i2f(s.isub(c, s.isll(sign, 1))));
    // `s e1 e0 m4..m0` = (32 + m) << (e + 2) = 1.m * 2^(7 + e): e:m at f32 bits 18..24,
    // exponent bias 127 + 7.
    let out = s.ior(
        s.iadd(s.isll(s.iand(c, s.isplat(0x7F)), 18), s.isplat(134 << 23)),
        s.isll(sign, 24),
    );
    let v = s.iselect(partner_id, out, normal);
    s.fbits(s.iselect(own_id, s.isplat(0), v))
}

/// [`OVP4_VALUES`] in registers (the first `32 / LANES` vectors are read), times `scale`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn values4<S: Simd>(s: S, scale: f32) -> [S::F; 4] {
    let mut t = [s.fzero(); 4];
    for (i, v) in t.iter_mut().enumerate().take(32 / S::LANES) {
        // SAFETY: 32 / LANES vectors of LANES f32 lie within the 32-entry table.
        *v = s.fmul(
            unsafe { s.fload(OVP4_VALUES.as_ptr().add(i * S::LANES)) },
            s.fsplat(scale),
        );
    }
    t
}

/// x86 f32 GEMV: a pair per lane (OVP-4: a byte, loaded like FP4's; OVP-8: a u16), so
/// the activations are reordered like FP4's (even elements, then odd, per `2 * LANES`).
/// The OVP-4 table is scaled per group; OVP-8 values are multiplied by the scale.
#[cfg(target_arch = "x86_64")]
impl<S: Simd, const BITS: u32> GemvDecode<S> for Ovp<BITS> {
    fp_gemv_items!();

    const CHUNK: usize = 2 * S::LANES;
    const PARTS: usize = 2;
    const PER_BYTE: usize = 2;
    const RUN: usize = 2 * S::LANES;
    const PRESCALED: bool = true;
    /// OVP-4: the scaled table; OVP-8: the scale in vector 0.
    type Tbl = [S::F; 4];

    #[inline(always)]
    fn chunk_bytes(k: usize) -> (usize, usize) {
        (k * BITS as usize / 8, 0)
    }

    #[inline(always)]
    fn table<const SYM: bool>(s: S, scale: f32, _zero: f32) -> [S::F; 4] {
        if BITS == 4 {
            values4(s, scale)
        } else {
            [s.fsplat(scale); 4]
        }
    }

    #[inline(always)]
    unsafe fn decode(s: S, p0: *const u8, _p1: *const u8, tb: &[S::F; 4]) -> [S::F; 8] {
        let mut w = [s.fzero(); 8];
        // SAFETY: the caller guarantees the chunk's LANES * BITS / 4 bytes at p0.
        let v = unsafe {
            if BITS == 4 {
                s.u8_load_i32(p0)
            } else {
                s.u16_load_i32(p0)
            }
        };
        let (even, odd) = pair_lanes::<S, BITS>(s, v, tb);
        if BITS == 4 {
            w[0] = even;
            w[1] = odd;
        } else {
            w[0] = s.fmul(even, tb[0]);
            w[1] = s.fmul(odd, tb[0]);
        }
        w
    }
}

/// x86 GEMM: code `t` of each lane's dword and its partner (`t ^ 1`, the same dword),
/// decoded as a pair, times the lane's scale: exactly the reference's fused weight.
#[cfg(target_arch = "x86_64")]
impl<S: Simd, const BITS: u32> GemmDecode<S> for Ovp<BITS> {
    fp_gemm_items!();

    const MAIN_BITS: usize = BITS as usize;
    const PLANE1_BITS: usize = 0;

    #[inline(always)]
    fn weight(s: S, lo: S::I, _hi: S::I, (_c, t): (usize, usize), (sc, _): (S::F, S::F)) -> S::F {
        let pair = s.isrl(lo, 2 * BITS * (t / 2) as u32);
        let (even, odd) = pair_lanes::<S, BITS>(s, pair, &values4(s, 1.0));
        s.fmul(if t % 2 == 0 { even } else { odd }, sc)
    }
}
