//! Decode steps of INT-b (`w = s * (q - z)`, f16 scale and u8 zero-point per group).

use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

#[cfg(target_arch = "x86_64")]
use super::GemvDecode;
use super::{A8Decode, GemmDecode, Planar};
use crate::a8::{A8Activations, CHUNK, SUPER};
use crate::contract::{int_weights, Weights};
use crate::driver::gemm::{RowGroup, GPC};
use crate::reference::gemm::fused_weight;
#[cfg(target_arch = "x86_64")]
use crate::simd::Iota;
use crate::simd::{Dot, Simd};

/// INT-`B` (B = 2, 3, 4, 8). INT3's codes are split into a 2-bit plane 0 and a 1-bit
/// plane 1 (bit 2 of the code).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int<const B: u32>;

impl<'a> Planar<'a> for IntMatrixRef<'a> {
    #[inline(always)]
    fn dims(&self) -> [usize; 4] {
        let l = self.layout();
        [l.n, l.k, l.group_len, l.groups_per_row]
    }
    #[inline(always)]
    fn plane(&self, i: usize) -> &'a [u8] {
        if i == 0 {
            self.plane0()
        } else {
            self.plane1()
        }
    }
    #[inline(always)]
    fn row_bytes(&self, i: usize) -> usize {
        if i == 0 {
            self.layout().row_bytes0
        } else {
            self.layout().row_bytes1
        }
    }
    #[inline(always)]
    fn scale_ptr(&self) -> (*const u8, usize) {
        (self.scales().as_ptr().cast(), 2)
    }
    #[inline(always)]
    fn zeros_ptr(&self) -> Option<*const u8> {
        self.zeros().map(<[u8]>::as_ptr)
    }
}

impl<S: Simd, const B: u32> GemmDecode<S> for Int<B> {
    type W<'a> = IntMatrixRef<'a>;

    #[inline(always)]
    fn view<'a>(w: &Weights<'a>) -> IntMatrixRef<'a> {
        int_weights(w, B as u8)
    }

    const MAIN_BITS: usize = if B == 3 { 2 } else { B as usize };
    const PLANE1_BITS: usize = if B == 3 { 1 } else { 0 };

    /// Scale `s` and `-(z * s)` per lane: the weight is `fma(q, s, -(z*s))`, exactly
    /// `s * (q - z)` (see [`fused_weight`]).
    #[inline(always)]
    fn params(
        s: S,
        w: &IntMatrixRef<'_>,
        rg: &RowGroup,
        j0: usize,
        nj: usize,
        p: &mut [(S::F, S::F); GPC],
    ) {
        let gpr = w.layout().groups_per_row;
        let nj = nj.min(GPC);
        let mut sb = [[0u16; 16]; GPC];
        let mut zb = [[w.format().symmetric_zero(); 16]; GPC];
        for i in 0..S::LANES {
            let base = rg.rows[i] * gpr + j0;
            for (jj, sv) in w.scales()[base..base + nj].iter().enumerate() {
                sb[jj][i] = sv.to_bits();
            }
            if let Some(z) = w.zeros() {
                for (jj, &zv) in z[base..base + nj].iter().enumerate() {
                    zb[jj][i] = zv;
                }
            }
        }
        for jj in 0..nj {
            // SAFETY: `sb[jj]` and `zb[jj]` hold 16 >= LANES values.
            let (sv, zv) = unsafe { (s.f16_load(sb[jj].as_ptr()), s.u8_load_f32(zb[jj].as_ptr())) };
            // -(z * s), exactly (subtraction from -0 flips only the sign).
            p[jj] = (sv, s.fsub(s.fsplat(-0.0), s.fmul(zv, sv)));
        }
    }

    #[inline(always)]
    fn weight(s: S, lo: S::I, hi: S::I, (c, t): (usize, usize), (sc, nzs): (S::F, S::F)) -> S::F {
        let q = if B == 3 {
            // Low two bits: bits 2t.. of `lo`; bit 2: bit 16 (c % 2) + t of `hi`.
            let lo_sh = s.isrl(lo, 2 * t as u32);
            let hs = 16 * (c % 2) + t;
            let hi_sh = if hs >= 2 {
                s.isrl(hi, (hs - 2) as u32)
            } else {
                s.isll(hi, (2 - hs) as u32)
            };
            s.ufield::<3>(s.iselect(s.isplat(3), lo_sh, hi_sh), 0)
        } else {
            s.ufield::<B>(lo, B * t as u32)
        };
        s.fma(q, sc, nzs)
    }

    #[inline(always)]
    fn scalar(w: &IntMatrixRef<'_>, n: usize, k: usize) -> f32 {
        let j = k / w.layout().group_len;
        fused_weight(w.code(n, k), w.scale(n, j), w.zero(n, j))
    }
}

/// Codes per byte of INT-`b`'s plane 0.
pub(crate) const fn per_byte(b: u32) -> usize {
    match b {
        8 => 1,
        4 => 2,
        _ => 4,
    }
}

/// Byte offsets of element `k` in INT-`b`'s planes (INT3: the 2-bit and 1-bit planes).
#[inline(always)]
pub(crate) const fn int_bytes(b: u32, k: usize) -> (usize, usize) {
    if b == 3 {
        (k / 4, k / 8)
    } else {
        (k / (8 / b as usize), 0)
    }
}

/// The scales of groups `j0 .. j0 + out.len()` of row `n`, widened `LANES` at a time.
#[inline(always)]
pub(crate) fn int_scales<S: Simd>(
    s: S,
    w: &IntMatrixRef<'_>,
    n: usize,
    j0: usize,
    out: &mut [f32],
) {
    let gpr = w.layout().groups_per_row;
    f16_widen(s, &w.scales()[n * gpr + j0..n * gpr + j0 + out.len()], out)
}

/// `src` widened to f32 into `out` (same length), `LANES` at a time.
#[inline(always)]
pub(crate) fn f16_widen<S: Simd>(s: S, src: &[lowbit_formats::f16], out: &mut [f32]) {
    assert_eq!(src.len(), out.len());
    let mut i = 0;
    while i + S::LANES <= src.len() {
        // SAFETY: i + LANES <= len of both slices (`f16` is a transparent u16).
        unsafe {
            let v = s.f16_load(src.as_ptr().add(i).cast());
            s.fstore(out.as_mut_ptr().add(i), v);
        }
        i += S::LANES;
    }
    for (d, v) in out[i..].iter_mut().zip(&src[i..]) {
        *d = v.to_f32();
    }
}

/// The zero-points of groups `j0 .. j0 + out.len()` of row `n`, widened to f32 `LANES` at
/// a time (no library call: a `memcpy` in the group loop would make every vector
/// register be saved around it).
#[inline(always)]
pub(crate) fn int_zeros<S: Simd>(s: S, w: &IntMatrixRef<'_>, n: usize, j0: usize, out: &mut [f32]) {
    let gpr = w.layout().groups_per_row;
    let Some(z) = w.zeros() else { return };
    let src = &z[n * gpr + j0..n * gpr + j0 + out.len()];
    let mut i = 0;
    while i + S::LANES <= src.len() {
        // SAFETY: i + LANES <= the length of both.
        unsafe { s.fstore(out.as_mut_ptr().add(i), s.u8_load_f32(src.as_ptr().add(i))) };
        i += S::LANES;
    }
    for (d, &v) in out[i..].iter_mut().zip(&src[i..]) {
        *d = f32::from(v);
    }
}

/// `sum_{k in ks} (q_k - z_j) * x_k` for row `n`, element by element.
#[inline(always)]
pub(crate) fn int_tail(
    w: &IntMatrixRef<'_>,
    n: usize,
    j: usize,
    ks: Range<usize>,
    x: &[f32],
) -> f32 {
    let z = f32::from(w.zero(n, j));
    let mut t = 0.0f32;
    for k in ks {
        t += (f32::from(w.code(n, k)) - z) * x[k];
    }
    t
}

/// x86: one widening load (`vpmovzxbd`) puts byte `i` of the chunk in lane `i`; shifts
/// bring its codes to the bottom. INT2/3 (and INT4 with a 16-entry permute) decode with
/// one `vpermps` per vector from a table of `s * (code - z)` per group (the permute reads
/// only the index's low bits, so neighbouring codes above need no mask); `s` is an f16
/// value and `code - z` a small integer, so every entry is exact and each term `w * x` is
/// rounded once, as in the reference. INT3 inserts its high bit from plane 1
/// ([`Simd::nibble_lanes`]) under the code with a bit select: still one permute. INT8 (and
/// INT4 without the 16-entry permute) subtract the zero-point in i32 and convert (exact);
/// the driver scales each group's sum.
#[cfg(target_arch = "x86_64")]
impl<S: Simd, const B: u32> GemvDecode<S> for Int<B> {
    type W<'a> = IntMatrixRef<'a>;

    #[inline(always)]
    fn view<'a>(w: &Weights<'a>) -> IntMatrixRef<'a> {
        int_weights(w, B as u8)
    }

    const CHUNK: usize = if B == 8 {
        2 * S::LANES
    } else {
        S::LANES * per_byte(B)
    };
    const PARTS: usize = <Self as GemvDecode<S>>::CHUNK / S::LANES;
    const PER_BYTE: usize = per_byte(B);
    const RUN: usize = <Self as GemvDecode<S>>::CHUNK;
    const PRESCALED: bool = (S::VPERM16 && B <= 4) || (S::VPERM8 && B <= 3);
    type Tbl = (S::F, S::I);

    #[inline(always)]
    fn chunk_bytes(k: usize) -> (usize, usize) {
        int_bytes(B, k)
    }

    #[inline(always)]
    fn scales(s: S, w: &IntMatrixRef<'_>, n: usize, j0: usize, out: &mut [f32]) {
        int_scales(s, w, n, j0, out)
    }

    #[inline(always)]
    fn zeros(s: S, w: &IntMatrixRef<'_>, n: usize, j0: usize, out: &mut [f32]) {
        int_zeros(s, w, n, j0, out)
    }

    #[inline(always)]
    fn table<const SYM: bool>(s: S, scale: f32, zero: f32) -> (S::F, S::I) {
        let zf = if SYM { f32::from(1u8 << (B - 1)) } else { zero };
        let a = if <Self as GemvDecode<S>>::PRESCALED {
            // SAFETY: the table holds 16 >= LANES f32.
            let iota = unsafe { s.fload(Iota::<B>::T16.as_ptr()) };
            s.fmul(s.fsub(iota, s.fsplat(zf)), s.fsplat(scale))
        } else {
            s.fzero()
        };
        // `zf` is a small whole number: exact as i32.
        (a, s.isplat(zf as i32))
    }

    #[inline(always)]
    unsafe fn decode(s: S, p0: *const u8, p1: *const u8, &(a, zi): &(S::F, S::I)) -> [S::F; 8] {
        let mut w = [s.fzero(); 8];
        // SAFETY: the caller guarantees the chunk's bytes: LANES (INT8: 2 LANES) at p0,
        // and for INT3 LANES / 2 at p1.
        let v = unsafe { s.u8_load_i32(p0) };
        match B {
            8 => {
                // SAFETY: as above.
                let v1 = unsafe { s.u8_load_i32(p0.add(S::LANES)) };
                w[0] = s.i2f(s.isub(v, zi));
                w[1] = s.i2f(s.isub(v1, zi));
            }
            4 if <Self as GemvDecode<S>>::PRESCALED => {
                w[0] = s.fpermute(a, v);
                w[1] = s.fpermute(a, s.isrl(v, 4));
            }
            4 => {
                w[0] = s.i2f(s.isub(s.iand(v, s.isplat(0xF)), zi));
                w[1] = s.i2f(s.isub(s.isrl(v, 4), zi));
            }
            _ => {
                let mut idx = [v, s.isrl(v, 2), s.isrl(v, 4), s.isrl(v, 6)];
                if B == 3 {
                    // The high bit of element 4i + t (lane i of vector t) is bit 4i + t of
                    // the chunk's plane-1 bits: shifting lane i's nibble by 2 - t puts it
                    // at bit 2 of the index, under the code's two bits.
                    // SAFETY: as above.
                    let h = unsafe { s.nibble_lanes(p1) };
                    let hs = [s.isll(h, 2), s.isll(h, 1), h, s.isrl(h, 1)];
                    for (i, hi) in idx.iter_mut().zip(hs) {
                        *i = s.iselect(s.isplat(3), *i, hi);
                    }
                }
                for t in 0..4 {
                    w[t] = s.fpermute(a, idx[t]);
                }
            }
        }
        w
    }

    #[inline(always)]
    fn tail(w: &IntMatrixRef<'_>, n: usize, j: usize, ks: Range<usize>, x: &[f32]) -> f32 {
        int_tail(w, n, j, ks, x)
    }
}

/// The shared activation vectors of one A8 step: up to 4 byte vectors, up to 2 vectors of
/// negated code sums, and those sums times the symmetric zero-point.
#[derive(Clone, Copy)]
pub(crate) struct IntAct<S: Simd> {
    pub(crate) x: [S::B; 4],
    pub(crate) neg: [S::I; 2],
    pub(crate) corr: S::I,
}

/// A8: integer dot products of the codes against int8 activations, the zero-point folded
/// in exactly through the activations' negated code sums.
/// - INT4 (`8 * LANES` elements per step): low nibbles against the even half of the
///   activation chunk, high nibbles against the odd half, no shuffle; lane = 8 elements.
/// - INT8 (`max(32, 4 * LANES)`): bytes in natural order against the natural-order codes;
///   the vectors of a step (two on NEON) are summed in i32; recentred where the dot is
///   signed x signed (see [`Dot::dot_wide`]).
/// - INT2 / INT3 (`16 * LANES`): the `t`-th 2-bit field of every byte against plane `t`
///   of the 2-bit-weight activation layout; INT3 ORs bit 2 in from plane 1 (widen the
///   step's plane-1 bytes to 16 bits, move each high nibble into the high byte, shift
///   bit `t` to bit 2, mask).
impl<S: Dot, const B: u32> A8Decode<S> for Int<B> {
    type W<'a> = IntMatrixRef<'a>;

    #[inline(always)]
    fn view<'a>(w: &Weights<'a>) -> IntMatrixRef<'a> {
        int_weights(w, B as u8)
    }

    const STEP: usize = match B {
        4 => 8 * S::LANES,
        8 => {
            if 4 * S::LANES > 32 {
                4 * S::LANES
            } else {
                32
            }
        }
        _ => 16 * S::LANES,
    };
    const STEP_BYTES: (usize, usize) = {
        let st = <Self as A8Decode<S>>::STEP;
        int_bytes(B, st)
    };
    type Act = IntAct<S>;

    #[inline(always)]
    fn act(s: S, x: &A8Activations, st: usize) -> IntAct<S> {
        let step = <Self as A8Decode<S>>::STEP;
        let e0 = st * step;
        let z = s.isplat(0);
        let mut a = IntAct {
            x: [s.bsplat(0); 4],
            neg: [z; 2],
            corr: z,
        };
        assert!(e0 + step <= x.codes_nat().len());
        // SAFETY: (every load below) the layouts hold K rounded up to 256 elements and
        // e0 + STEP is within that (asserted; STEP <= 256 divides 256 on every variant).
        unsafe {
            match B {
                4 => {
                    let (c, o) = (e0 / CHUNK, e0 % CHUNK);
                    let p = x.codes().as_ptr().cast::<u8>().add(CHUNK * c + o / 2);
                    a.x[0] = s.bload(p);
                    a.x[1] = s.bload(p.add(64));
                    a.neg[0] = s.iload(x.negsum8().as_ptr().add(e0 / 8));
                    a.corr = s.isll(a.neg[0], 3);
                }
                8 => {
                    for p in 0..step / (4 * S::LANES) {
                        let e = e0 + 4 * S::LANES * p;
                        a.x[p] = s.bload(x.codes_nat().as_ptr().cast::<u8>().add(e));
                        a.neg[p] = s.iload(x.negsum4().as_ptr().add(e / 4));
                    }
                }
                _ => {
                    let (codes, n16) = x.m4();
                    let (sup, o) = (e0 / SUPER, e0 % SUPER);
                    let p = codes.as_ptr().cast::<u8>().add(SUPER * sup + o / 4);
                    for t in 0..4 {
                        a.x[t] = s.bload(p.add(64 * t));
                    }
                    a.neg[0] = s.iload(n16.as_ptr().add(e0 / 16));
                    a.corr = s.isll(a.neg[0], if B == 3 { 2 } else { 1 });
                }
            }
        }
        a
    }

    #[inline(always)]
    unsafe fn dot<const SYM: bool>(
        s: S,
        w: &IntMatrixRef<'_>,
        n: usize,
        st: usize,
        act: &IntAct<S>,
        z: S::I,
    ) -> S::I {
        let (b0, b1) = <Self as A8Decode<S>>::STEP_BYTES;
        let l = w.layout();
        // SAFETY: (every load below) n < N and (st + 1) STEP <= K (the caller's
        // contract), so the step's bytes st * b0 .. (st + 1) * b0 of row n's plane 0 (and
        // of plane 1) lie within the row.
        let p0 = unsafe { w.plane0().as_ptr().add(n * l.row_bytes0 + st * b0) };
        let corr = if SYM { act.corr } else { s.imul(act.neg[0], z) };
        match B {
            4 => {
                // SAFETY: see above.
                let wv = unsafe { s.bload(p0) };
                let m = s.bsplat(0x0F);
                let (lo, hi) = (s.band(wv, m), s.band(s.bsrl16::<4>(wv), m));
                s.dot_small::<2>(corr, [lo, hi, lo, hi], act.x)
            }
            8 => {
                let parts = <Self as A8Decode<S>>::STEP / (4 * S::LANES);
                let mut acc = s.isplat(0);
                for p in 0..parts {
                    // SAFETY: see above.
                    let wv = unsafe { s.bload(p0.add(4 * S::LANES * p)) };
                    let d = s.dot_wide::<SYM>(act.neg[p], z, wv, act.x[p]);
                    acc = if p == 0 { d } else { s.iadd(acc, d) };
                }
                acc
            }
            _ => {
                // SAFETY: see above.
                let wv = unsafe { s.bload(p0) };
                let m = s.bsplat(3);
                let mut f = [
                    s.band(wv, m),
                    s.band(s.bsrl16::<2>(wv), m),
                    s.band(s.bsrl16::<4>(wv), m),
                    s.band(s.bsrl16::<6>(wv), m),
                ];
                if B == 3 {
                    // Bit 2 of element 4j + t is bit 4 (j % 2) + t of plane-1 byte j / 2:
                    // widened to 16 bits, with each high nibble moved into the high byte,
                    // byte j holds those bits at bit t.
                    // SAFETY: see above (2 LANES bytes of plane 1).
                    let z16 = unsafe {
                        s.bload_u8_as_u16(w.plane1().as_ptr().add(n * l.row_bytes1 + st * b1))
                    };
                    let e = s.bor(z16, s.band(s.bsll16::<4>(z16), s.bsplat16(0xFF00)));
                    let hi = [s.bsll16::<2>(e), s.bsll16::<1>(e), e, s.bsrl16::<1>(e)];
                    let four = s.bsplat(4);
                    for (fl, h) in f.iter_mut().zip(hi) {
                        *fl = s.bor(*fl, s.band(h, four));
                    }
                }
                s.dot_small::<4>(corr, f, act.x)
            }
        }
    }

    #[inline(always)]
    fn tail(w: &IntMatrixRef<'_>, x: &A8Activations, n: usize, first_block: usize) -> f32 {
        crate::reference::gemv_a8::row_from_block(w, x, n, first_block)
    }

    #[inline(always)]
    unsafe fn scales<const GPS: usize, const SYM: bool>(
        s: S,
        w: &IntMatrixRef<'_>,
        n: usize,
        st: usize,
        gshift: u32,
    ) -> (S::F, S::I) {
        let l = w.layout();
        let j = n * l.groups_per_row + ((st * <Self as A8Decode<S>>::STEP) >> gshift);
        debug_assert!(j + GPS <= l.scales_len);
        // SAFETY: the step's GPS groups of row n exist (the caller's contract).
        let sw = unsafe { s.f16_spread(w.scales().as_ptr().add(j).cast(), GPS) };
        let z = match w.zeros() {
            _ if SYM => s.isplat(0),
            // SAFETY: zero-points are laid out like the scales.
            Some(z) => unsafe { s.u8_spread(z.as_ptr().add(j), GPS) },
            None => s.isplat(i32::from(w.format().symmetric_zero())),
        };
        (sw, z)
    }
}
