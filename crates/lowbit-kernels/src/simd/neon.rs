//! aarch64 Advanced SIMD: 4 f32 lanes, 16-byte vectors. `DOT` selects `sdot` for the
//! integer dots (the `neondot` variant) over `smull` + pairwise adds (the `neon`
//! variant); everything else is shared.

use core::arch::aarch64::*;
use core::arch::asm;

use super::{Dot, Dot16, Job, Simd};
use crate::dispatch::Variant;

/// Proof that the CPU has NEON (and dotprod when `DOT`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Neon<const DOT: bool>(());

impl<const DOT: bool> Simd for Neon<DOT> {
    const VARIANT: Variant = if DOT { Variant::NeonDot } else { Variant::Neon };
    const LANES: usize = 4;
    type F = float32x4_t;
    type I = int32x4_t;
    type B = uint8x16_t;

    fn detect() -> Option<Self> {
        Self::VARIANT.is_available().then_some(Neon(()))
    }

    #[inline(always)]
    fn vectorize<J: Job<Self>>(self, job: J) -> J::Output {
        #[target_feature(enable = "neon")]
        fn run<J: Job<S>, S: Simd>(job: J, s: S) -> J::Output {
            job.run(s)
        }
        #[target_feature(enable = "neon,dotprod")]
        fn run_ext<J: Job<S>, S: Simd>(job: J, s: S) -> J::Output {
            job.run(s)
        }
        // SAFETY: the token proves the CPU has the features of the function run.
        unsafe {
            if DOT {
                run_ext(job, self)
            } else {
                run(job, self)
            }
        }
    }

    #[inline(always)]
    fn fzero(self) -> float32x4_t {
        self.fsplat(0.0)
    }
    #[inline(always)]
    fn fsplat(self, v: f32) -> float32x4_t {
        // SAFETY: (every register-only operation of this impl) the token proves the CPU
        // has the instructions.
        unsafe { vdupq_n_f32(v) }
    }
    #[inline(always)]
    unsafe fn fload(self, p: *const f32) -> float32x4_t {
        // SAFETY: the caller guarantees 4 readable f32; the token the instruction.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn fstore(self, p: *mut f32, v: float32x4_t) {
        // SAFETY: the caller guarantees 4 writable f32; the token the instruction.
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    fn fadd(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn fsub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn fmul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn fbits(self, v: int32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vreinterpretq_f32_s32(v) }
    }
    #[inline(always)]
    fn fflip(self, v: float32x4_t, bits: int32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe {
            let sign = vandq_u32(vreinterpretq_u32_s32(bits), vdupq_n_u32(1 << 31));
            vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(v), sign))
        }
    }
    #[inline(always)]
    fn fma(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn fsum(self, v: float32x4_t) -> f32 {
        // SAFETY: see `fsplat`.
        unsafe { vaddvq_f32(v) }
    }
    #[inline(always)]
    unsafe fn f16_load(self, p: *const u16) -> float32x4_t {
        // SAFETY: the caller guarantees 4 readable u16; the token the instruction.
        widen_f16(unsafe { vld1_u16(p) })
    }
    #[inline(always)]
    fn i2f(self, v: int32x4_t) -> float32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vcvtq_f32_s32(v) }
    }
    #[inline(always)]
    fn fpermute(self, table: float32x4_t, idx: int32x4_t) -> float32x4_t {
        unreachable!("NEON has no f32 permute ({table:?}, {idx:?}): check VPERM16/VPERM8")
    }
    const VPERM16: bool = false;
    const VPERM8: bool = false;

    #[inline(always)]
    fn isplat(self, v: i32) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vdupq_n_s32(v) }
    }
    #[inline(always)]
    unsafe fn iload(self, p: *const i32) -> int32x4_t {
        // SAFETY: the caller guarantees 4 readable i32; the token the instruction.
        unsafe { vld1q_s32(p) }
    }
    #[inline(always)]
    fn iadd(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    fn isub(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vsubq_s32(a, b) }
    }
    #[inline(always)]
    fn imul(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vmulq_s32(a, b) }
    }
    #[inline(always)]
    fn iand(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vandq_s32(a, b) }
    }
    #[inline(always)]
    fn ior(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vorrq_s32(a, b) }
    }
    #[inline(always)]
    fn isrl(self, v: int32x4_t, n: u32) -> int32x4_t {
        // `ushl` by a negative count shifts right (logically, on u32 lanes).
        // SAFETY: see `fsplat`.
        unsafe {
            vreinterpretq_s32_u32(vshlq_u32(
                vreinterpretq_u32_s32(v),
                vdupq_n_s32(-(n as i32)),
            ))
        }
    }
    #[inline(always)]
    fn isll(self, v: int32x4_t, n: u32) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vshlq_s32(v, vdupq_n_s32(n as i32)) }
    }
    #[inline(always)]
    fn iselect(self, mask: int32x4_t, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // SAFETY: see `fsplat`.
        unsafe { vbslq_s32(vreinterpretq_u32_s32(mask), a, b) }
    }
    #[inline(always)]
    unsafe fn u8_load_i32(self, p: *const u8) -> int32x4_t {
        // SAFETY: the caller guarantees 4 readable bytes; the token the instructions.
        unsafe {
            let word = p.cast::<u32>().read_unaligned();
            let b = vreinterpret_u8_u32(vdup_n_u32(word));
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(b))))
        }
    }

    #[inline(always)]
    unsafe fn nibble_lanes(self, p: *const u8) -> int32x4_t {
        // SAFETY: the caller guarantees 2 readable bytes; the token the instructions.
        unsafe {
            let h = i32::from(p.cast::<u16>().read_unaligned());
            let shifts = [0i32, -4, -8, -12];
            vshlq_s32(vdupq_n_s32(h), vld1q_s32(shifts.as_ptr()))
        }
    }

    #[inline(always)]
    unsafe fn rows16(self, p: *const u8, off: &[usize; 16]) -> [int32x4_t; 4] {
        // SAFETY: the caller guarantees 16 readable bytes at `p + off[l]`, l < 4.
        let [a, b, c, d] = unsafe {
            let ld = |i: usize| vreinterpretq_u32_u8(vld1q_u8(p.add(off[i])));
            [ld(0), ld(1), ld(2), ld(3)]
        };
        // SAFETY: see `fsplat`.
        unsafe {
            // t0 = a0 b0 a2 b2, t1 = a1 b1 a3 b3, t2 = c0 d0 c2 d2, t3 = c1 d1 c3 d3.
            let t0 = vreinterpretq_u64_u32(vtrn1q_u32(a, b));
            let t1 = vreinterpretq_u64_u32(vtrn2q_u32(a, b));
            let t2 = vreinterpretq_u64_u32(vtrn1q_u32(c, d));
            let t3 = vreinterpretq_u64_u32(vtrn2q_u32(c, d));
            [
                vreinterpretq_s32_u64(vtrn1q_u64(t0, t2)),
                vreinterpretq_s32_u64(vtrn1q_u64(t1, t3)),
                vreinterpretq_s32_u64(vtrn2q_u64(t0, t2)),
                vreinterpretq_s32_u64(vtrn2q_u64(t1, t3)),
            ]
        }
    }
    #[inline(always)]
    unsafe fn rows8(self, p: *const u8, off: &[usize; 16]) -> [int32x4_t; 2] {
        // SAFETY: the caller guarantees 8 readable bytes at `p + off[l]`, l < 4.
        let [a, b, c, d] = unsafe {
            let ld = |i: usize| vreinterpret_u32_u8(vld1_u8(p.add(off[i])));
            [ld(0), ld(1), ld(2), ld(3)]
        };
        // SAFETY: see `fsplat`.
        unsafe {
            [
                vreinterpretq_s32_u32(vcombine_u32(vzip1_u32(a, b), vzip1_u32(c, d))),
                vreinterpretq_s32_u32(vcombine_u32(vzip2_u32(a, b), vzip2_u32(c, d))),
            ]
        }
    }

    #[inline(always)]
    fn prefetch_l1(self, p: *const u8) {
        // SAFETY: `prfm` is a hint that never faults, whatever the address; it touches
        // no register but its address operand.
        unsafe { asm!("prfm pldl1keep, [{p}]", p = in(reg) p, options(nostack, preserves_flags)) }
    }
    #[inline(always)]
    fn prefetch_l2(self, p: *const u8) {
        // SAFETY: as for `prefetch_l1`.
        unsafe { asm!("prfm pldl2keep, [{p}]", p = in(reg) p, options(nostack, preserves_flags)) }
    }
}

impl<const DOT: bool> Neon<DOT> {
    /// `acc + dot4(a, b)` per lane on signed bytes (lane `i` adds the products of bytes
    /// `4i .. 4i + 4`): `sdot` with dotprod; else `smull` (a product of two i8 is at most
    /// 2^14 in magnitude, exact in an i16 lane), `saddlp` (pairs widened to i32, exact)
    /// and one pairwise add of those pairs: the same sums, exactly.
    #[inline(always)]
    fn sdot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        if DOT {
            let mut acc = acc;
            // SAFETY: `sdot` reads two vector registers and updates the accumulator; it
            // touches no memory, and the token proves dotprod (the intrinsic is not
            // stable, hence `asm!`).
            unsafe {
                asm!(
                    "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                    acc = inout(vreg) acc,
                    a = in(vreg) a,
                    b = in(vreg) b,
                    options(pure, nomem, nostack, preserves_flags)
                );
            }
            acc
        } else {
            // SAFETY: see `Simd::fsplat`.
            unsafe {
                let lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
                let hi = vpaddlq_s16(vmull_high_s8(a, b));
                vaddq_s32(acc, vpaddq_s32(lo, hi))
            }
        }
    }
}

impl<const DOT: bool> Dot for Neon<DOT> {
    #[inline(always)]
    unsafe fn bload(self, p: *const u8) -> uint8x16_t {
        // SAFETY: the caller guarantees 16 readable bytes; the token the instruction.
        unsafe { vld1q_u8(p) }
    }
    #[inline(always)]
    fn bsplat(self, v: u8) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vdupq_n_u8(v) }
    }
    #[inline(always)]
    fn band(self, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vandq_u8(a, b) }
    }
    #[inline(always)]
    fn bor(self, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vorrq_u8(a, b) }
    }
    #[inline(always)]
    fn btable(self, t: &[u8; 16]) -> uint8x16_t {
        // SAFETY: `t` holds 16 bytes; the token the instructions.
        unsafe { vld1q_u8(t.as_ptr()) }
    }
    #[inline(always)]
    fn bsel_bit<const BIT: u32>(self, src: uint8x16_t, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vbslq_u8(vtstq_u8(src, vdupq_n_u8(1 << BIT)), b, a) }
    }
    #[inline(always)]
    fn bsel_eq<const V: u8>(self, src: uint8x16_t, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vbslq_u8(vceqq_u8(src, vdupq_n_u8(V)), b, a) }
    }
    #[inline(always)]
    fn bneg_bit<const BIT: u32>(self, src: uint8x16_t, x: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe {
            let m = vtstq_u8(src, vdupq_n_u8(1 << BIT));
            vbslq_u8(m, vreinterpretq_u8_s8(vnegq_s8(vreinterpretq_s8_u8(x))), x)
        }
    }
    #[inline(always)]
    fn blookup(self, table: uint8x16_t, idx: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vqtbl1q_u8(table, idx) }
    }
    #[inline(always)]
    fn bsrl16<const N: u32>(self, v: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe {
            let h = vreinterpretq_u16_u8(v);
            vreinterpretq_u8_u16(vshlq_u16(h, vdupq_n_s16(-(N as i16))))
        }
    }
    #[inline(always)]
    fn bsll16<const N: u32>(self, v: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe {
            let h = vreinterpretq_u16_u8(v);
            vreinterpretq_u8_u16(vshlq_u16(h, vdupq_n_s16(N as i16)))
        }
    }
    #[inline(always)]
    unsafe fn bload_u8_as_u16(self, p: *const u8) -> uint8x16_t {
        // SAFETY: the caller guarantees 8 readable bytes; the token the instructions.
        unsafe { vreinterpretq_u8_u16(vmovl_u8(vld1_u8(p))) }
    }
    #[inline(always)]
    fn bsplat16(self, v: u16) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe { vreinterpretq_u8_u16(vdupq_n_u16(v)) }
    }
    #[inline(always)]
    unsafe fn fspread(self, p: *const f32, groups: usize) -> float32x4_t {
        // SAFETY: the caller guarantees `groups` readable f32; the token the instructions.
        unsafe {
            match groups {
                1 => vld1q_dup_f32(p),
                2 => {
                    let v = vld1_f32(p);
                    vcombine_f32(vdup_lane_f32::<0>(v), vdup_lane_f32::<1>(v))
                }
                _ => vld1q_f32(p),
            }
        }
    }
    #[inline(always)]
    unsafe fn f16_spread(self, p: *const u16, groups: usize) -> float32x4_t {
        // SAFETY: the caller guarantees `groups` readable u16; the token the instructions.
        let h = unsafe {
            match groups {
                1 => vld1_dup_u16(p),
                2 => {
                    let v = vreinterpret_u16_u32(vld1_dup_u32(p.cast()));
                    vzip1_u16(v, v)
                }
                _ => vld1_u16(p),
            }
        };
        widen_f16(h)
    }
    #[inline(always)]
    unsafe fn u8_spread(self, p: *const u8, groups: usize) -> int32x4_t {
        // SAFETY: the caller guarantees `groups` readable bytes; the token the
        // instructions.
        unsafe {
            match groups {
                1 => vdupq_n_s32(i32::from(*p)),
                2 => {
                    let (a, b) = (i32::from(*p), i32::from(*p.add(1)));
                    vcombine_s32(vdup_n_s32(a), vdup_n_s32(b))
                }
                _ => self.u8_load_i32(p),
            }
        }
    }
    #[inline(always)]
    fn dot_small<const P: usize>(
        self,
        acc: int32x4_t,
        w: [uint8x16_t; 4],
        x: [uint8x16_t; 4],
    ) -> int32x4_t {
        let mut a = acc;
        for p in 0..P {
            // SAFETY: see `Simd::fsplat` (reinterpretations only); codes are at most 127
            // (the caller's bound), so they are the same value as i8.
            let (wp, xp) = unsafe { (vreinterpretq_s8_u8(w[p]), vreinterpretq_s8_u8(x[p])) };
            a = self.sdot(a, wp, xp);
        }
        a
    }
    #[inline(always)]
    fn dot_wide<const Z128: bool>(
        self,
        negsum: int32x4_t,
        z: int32x4_t,
        w: uint8x16_t,
        x: uint8x16_t,
    ) -> int32x4_t {
        // `w - 128` as i8 (exact), so the signed dot cannot overflow; the zero-point
        // correction is `(z - 128) * negsum`.
        let corr = if Z128 {
            self.isplat(0)
        } else {
            self.imul(negsum, self.isub(z, self.isplat(128)))
        };
        // SAFETY: see `Simd::fsplat`.
        let (ws, xs) = unsafe {
            (
                vreinterpretq_s8_u8(veorq_u8(w, vdupq_n_u8(0x80))),
                vreinterpretq_s8_u8(x),
            )
        };
        self.sdot(corr, ws, xs)
    }
}

/// The table as its low bytes and its high bytes, four registers each: a lookup is one
/// `tbl` of the low bytes and one `tbx` of the high bytes. `smull` / `smlal` over the low
/// and high halves, then one pairwise add.
impl<const DOT: bool> Dot16 for Neon<DOT> {
    type T64 = (uint8x16x4_t, uint8x16x4_t);
    #[inline(always)]
    fn wtable64(self, t: &[i16; 64]) -> (uint8x16x4_t, uint8x16x4_t) {
        // SAFETY: `t` holds 128 bytes: four de-interleaving loads of 32 (entries
        // 16k .. 16k + 16, little-endian: low bytes, high bytes); the token the
        // instructions.
        unsafe {
            let p = t.as_ptr().cast::<u8>();
            let [a, b, c, d] = [0, 1, 2, 3].map(|k| vld2q_u8(p.add(32 * k)));
            (
                uint8x16x4_t(a.0, b.0, c.0, d.0),
                uint8x16x4_t(a.1, b.1, c.1, d.1),
            )
        }
    }
    #[inline(always)]
    fn wlookup64(self, t: (uint8x16x4_t, uint8x16x4_t), idx: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe {
            // Per 16-bit lane: low byte `i = idx & 63`, high byte `i + 64`.
            let i = vandq_u16(vreinterpretq_u16_u8(idx), vdupq_n_u16(63));
            let ib = vreinterpretq_u8_u16(vorrq_u16(vsliq_n_u16::<8>(i, i), vdupq_n_u16(0x4000)));
            // Low bytes from the low table; the high bytes' indices (64..) give 0.
            let r = vqtbl4q_u8(t.0, ib);
            // Minus 64: the high bytes' indices become `i`, the low bytes' 192.. (out of
            // range: `tbx` keeps them).
            vqtbx4q_u8(r, t.1, vsubq_u8(ib, vdupq_n_u8(64)))
        }
    }
    #[inline(always)]
    fn bsra16<const N: u32>(self, v: uint8x16_t) -> uint8x16_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe {
            let h = vreinterpretq_s16_u8(v);
            vreinterpretq_u8_s16(vshlq_s16(h, vdupq_n_s16(-(N as i16))))
        }
    }
    #[inline(always)]
    fn dot16<const P: usize>(
        self,
        acc: int32x4_t,
        w: [uint8x16_t; 4],
        x: [uint8x16_t; 4],
    ) -> int32x4_t {
        // SAFETY: see `Simd::fsplat`.
        unsafe {
            let (w0, x0) = (vreinterpretq_s16_u8(w[0]), vreinterpretq_s16_u8(x[0]));
            // Lane `m` of `lo` / `hi`: the products of 16-bit lane `m` / `4 + m`.
            let mut lo = vmull_s16(vget_low_s16(w0), vget_low_s16(x0));
            let mut hi = vmull_high_s16(w0, x0);
            for p in 1..P {
                let (wp, xp) = (vreinterpretq_s16_u8(w[p]), vreinterpretq_s16_u8(x[p]));
                lo = vmlal_s16(lo, vget_low_s16(wp), vget_low_s16(xp));
                hi = vmlal_high_s16(hi, wp, xp);
            }
            // Lane `j` = 16-bit lanes `2j` and `2j + 1`.
            vaddq_s32(acc, vpaddq_s32(lo, hi))
        }
    }
}

/// Four f16 (as their bits) widened to f32 exactly with `fcvtl` (base Advanced SIMD; the
/// f16 intrinsics are not stable, hence `asm!`).
#[inline(always)]
fn widen_f16(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: `fcvtl` reads and writes vector registers only; Advanced SIMD is part of
    // the aarch64 baseline.
    unsafe {
        asm!(
            "fcvtl {o:v}.4s, {i:v}.4h",
            o = lateout(vreg) out,
            i = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}
