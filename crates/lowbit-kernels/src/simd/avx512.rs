//! AVX-512 F/BW/VL (with AVX2, FMA, F16C): 16 f32 lanes, 64-byte vectors. `VNNI`
//! selects `vpdpbusd` for the integer dots (the `avx512vnni` variant) over
//! `vpmaddubsw` + `vpmaddwd` (the `avx512bw` variant); everything else is shared.

use core::arch::x86_64::*;

use super::{Dot, Dot16, Job, Simd};
use crate::dispatch::Variant;

/// Proof that the CPU has AVX-512 F/BW/VL, AVX2, FMA and F16C (and VNNI when `VNNI`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512<const VNNI: bool>(());

impl<const VNNI: bool> Simd for Avx512<VNNI> {
    const VARIANT: Variant = if VNNI {
        Variant::Avx512Vnni
    } else {
        Variant::Avx512
    };
    const LANES: usize = 16;
    type F = __m512;
    type I = __m512i;
    type B = __m512i;

    fn detect() -> Option<Self> {
        Self::VARIANT.is_available().then_some(Avx512(()))
    }

    #[inline(always)]
    fn vectorize<J: Job<Self>>(self, job: J) -> J::Output {
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
        fn run<J: Job<S>, S: Simd>(job: J, s: S) -> J::Output {
            job.run(s)
        }
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        fn run_ext<J: Job<S>, S: Simd>(job: J, s: S) -> J::Output {
            job.run(s)
        }
        // SAFETY: the token proves the CPU has the features of the function run.
        unsafe {
            if VNNI {
                run_ext(job, self)
            } else {
                run(job, self)
            }
        }
    }

    #[inline(always)]
    fn fzero(self) -> __m512 {
        // SAFETY: (every register-only operation of this impl) the token proves the CPU
        // has the instructions.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    fn fsplat(self, v: f32) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn fload(self, p: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 16 readable f32; the token the instruction.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fstore(self, p: *mut f32, v: __m512) {
        // SAFETY: the caller guarantees 16 writable f32; the token the instruction.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn fadd(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn fsub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn fmul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn fbits(self, v: __m512i) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_castsi512_ps(v) }
    }
    #[inline(always)]
    fn fflip(self, v: __m512, bits: __m512i) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe {
            let sign = _mm512_and_si512(bits, _mm512_set1_epi32(i32::MIN));
            _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign))
        }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn fsum(self, v: __m512) -> f32 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_reduce_add_ps(v) }
    }
    #[inline(always)]
    unsafe fn f16_load(self, p: *const u16) -> __m512 {
        // SAFETY: the caller guarantees 16 readable u16; the token the instructions.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
    #[inline(always)]
    fn i2f(self, v: __m512i) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_cvtepi32_ps(v) }
    }
    #[inline(always)]
    fn fpermute(self, table: __m512, idx: __m512i) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_permutexvar_ps(idx, table) }
    }
    #[inline(always)]
    fn fpermute32(self, t: &[__m512; 4], idx: __m512i) -> __m512 {
        // SAFETY: see `fzero`.
        unsafe { _mm512_permutex2var_ps(t[0], idx, t[1]) }
    }
    const VPERM16: bool = true;
    const VPERM8: bool = false;

    #[inline(always)]
    fn isplat(self, v: i32) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_set1_epi32(v) }
    }
    #[inline(always)]
    unsafe fn iload(self, p: *const i32) -> __m512i {
        // SAFETY: the caller guarantees 16 readable i32; the token the instruction.
        unsafe { _mm512_loadu_si512(p.cast()) }
    }
    #[inline(always)]
    fn iadd(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    fn isub(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn imul(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_mullo_epi32(a, b) }
    }
    #[inline(always)]
    fn iand(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_and_si512(a, b) }
    }
    #[inline(always)]
    fn ior(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_or_si512(a, b) }
    }
    #[inline(always)]
    fn isrl(self, v: __m512i, n: u32) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_srl_epi32(v, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn isll(self, v: __m512i, n: u32) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_sll_epi32(v, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn iselect(self, mask: __m512i, a: __m512i, b: __m512i) -> __m512i {
        // imm 0xE4: bits of `a` where `mask` is set, of `b` elsewhere.
        // SAFETY: see `fzero`.
        unsafe { _mm512_ternarylogic_epi32::<0xE4>(a, b, mask) }
    }
    #[inline(always)]
    unsafe fn u8_load_i32(self, p: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 16 readable bytes; the token the instructions.
        unsafe { _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    unsafe fn u16_load_i32(self, p: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 32 readable bytes; the token the instructions.
        unsafe { _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())) }
    }
    #[inline(always)]
    fn icmpeq(self, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_maskz_mov_epi32(_mm512_cmpeq_epi32_mask(a, b), _mm512_set1_epi32(-1)) }
    }
    #[inline(always)]
    fn ibits(self, v: __m512) -> __m512i {
        // SAFETY: see `fzero`.
        unsafe { _mm512_castps_si512(v) }
    }

    #[inline(always)]
    unsafe fn nibble_lanes(self, p: *const u8) -> __m512i {
        // Lanes 0..8 take the low dword, 8..16 the high one.
        // SAFETY: the caller guarantees 8 readable bytes; the token the instructions.
        unsafe {
            let (lo, hi) = (
                p.cast::<i32>().read_unaligned(),
                p.add(4).cast::<i32>().read_unaligned(),
            );
            let d = _mm512_mask_set1_epi32(_mm512_set1_epi32(lo), 0xFF00, hi);
            _mm512_srlv_epi32(
                d,
                _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
            )
        }
    }

    #[inline(always)]
    unsafe fn rows16(self, p: *const u8, off: &[usize; 16]) -> [__m512i; 4] {
        // Rows i, i + 4, i + 8, i + 12 share a register (one per 128-bit lane): a 4 x 4
        // dword transpose inside each lane leaves row 4L + i in lane 4L + i.
        let mut q = [self.isplat(0); 4];
        for (i, v) in q.iter_mut().enumerate() {
            // SAFETY: the caller guarantees 16 readable bytes at `p + off[l]`, l < 16.
            *v = unsafe {
                let t = _mm512_castsi128_si512(_mm_loadu_si128(p.add(off[i]).cast()));
                let t = _mm512_inserti32x4::<1>(t, _mm_loadu_si128(p.add(off[i + 4]).cast()));
                let t = _mm512_inserti32x4::<2>(t, _mm_loadu_si128(p.add(off[i + 8]).cast()));
                _mm512_inserti32x4::<3>(t, _mm_loadu_si128(p.add(off[i + 12]).cast()))
            };
        }
        // SAFETY: see `fzero`.
        unsafe {
            let t0 = _mm512_unpacklo_epi32(q[0], q[1]);
            let t1 = _mm512_unpackhi_epi32(q[0], q[1]);
            let t2 = _mm512_unpacklo_epi32(q[2], q[3]);
            let t3 = _mm512_unpackhi_epi32(q[2], q[3]);
            [
                _mm512_unpacklo_epi64(t0, t2),
                _mm512_unpackhi_epi64(t0, t2),
                _mm512_unpacklo_epi64(t1, t3),
                _mm512_unpackhi_epi64(t1, t3),
            ]
        }
    }
    #[inline(always)]
    unsafe fn rows8(self, p: *const u8, off: &[usize; 16]) -> [__m512i; 2] {
        let mut q = [self.isplat(0); 4];
        for (i, v) in q.iter_mut().enumerate() {
            // SAFETY: the caller guarantees 8 readable bytes at `p + off[l]`, l < 16.
            *v = unsafe {
                let t = _mm512_castsi128_si512(_mm_loadl_epi64(p.add(off[i]).cast()));
                let t = _mm512_inserti32x4::<1>(t, _mm_loadl_epi64(p.add(off[i + 4]).cast()));
                let t = _mm512_inserti32x4::<2>(t, _mm_loadl_epi64(p.add(off[i + 8]).cast()));
                _mm512_inserti32x4::<3>(t, _mm_loadl_epi64(p.add(off[i + 12]).cast()))
            };
        }
        // SAFETY: see `fzero`.
        unsafe {
            let t0 = _mm512_unpacklo_epi32(q[0], q[1]);
            let t2 = _mm512_unpacklo_epi32(q[2], q[3]);
            [_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2)]
        }
    }

    #[inline(always)]
    fn prefetch_l1(self, p: *const u8) {
        // SAFETY: a prefetch is a hint that never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
    #[inline(always)]
    fn prefetch_l2(self, p: *const u8) {
        // SAFETY: as for `prefetch_l1`.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast()) }
    }
}

impl<const VNNI: bool> Dot for Avx512<VNNI> {
    #[inline(always)]
    unsafe fn bload(self, p: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 64 readable bytes; the token the instruction.
        unsafe { _mm512_loadu_si512(p.cast()) }
    }
    #[inline(always)]
    fn bsplat(self, v: u8) -> __m512i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm512_set1_epi8(v as i8) }
    }
    #[inline(always)]
    fn band(self, a: __m512i, b: __m512i) -> __m512i {
        self.iand(a, b)
    }
    #[inline(always)]
    fn bor(self, a: __m512i, b: __m512i) -> __m512i {
        self.ior(a, b)
    }
    #[inline(always)]
    fn btable(self, t: &[u8; 16]) -> __m512i {
        // SAFETY: `t` holds 16 bytes; the token the instructions.
        unsafe { _mm512_broadcast_i32x4(_mm_loadu_si128(t.as_ptr().cast())) }
    }
    #[inline(always)]
    fn bsel_bit<const BIT: u32>(self, src: __m512i, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let k = _mm512_test_epi8_mask(src, _mm512_set1_epi8((1u8 << BIT) as i8));
            _mm512_mask_blend_epi8(k, a, b)
        }
    }
    #[inline(always)]
    fn bsel_eq<const V: u8>(self, src: __m512i, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let k = _mm512_cmpeq_epi8_mask(src, _mm512_set1_epi8(V as i8));
            _mm512_mask_blend_epi8(k, a, b)
        }
    }
    #[inline(always)]
    fn bneg_bit<const BIT: u32>(self, src: __m512i, x: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let k = _mm512_test_epi8_mask(src, _mm512_set1_epi8((1u8 << BIT) as i8));
            _mm512_mask_sub_epi8(x, k, _mm512_setzero_si512(), x)
        }
    }
    #[inline(always)]
    fn blookup(self, table: __m512i, idx: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`. (`btable` repeats the table in each 128-bit lane.)
        unsafe { _mm512_shuffle_epi8(table, idx) }
    }
    #[inline(always)]
    fn bsrl16<const N: u32>(self, v: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`. (The match on the constant folds away.)
        unsafe {
            match N {
                1 => _mm512_srli_epi16::<1>(v),
                2 => _mm512_srli_epi16::<2>(v),
                3 => _mm512_srli_epi16::<3>(v),
                4 => _mm512_srli_epi16::<4>(v),
                6 => _mm512_srli_epi16::<6>(v),
                8 => _mm512_srli_epi16::<8>(v),
                12 => _mm512_srli_epi16::<12>(v),
                _ => _mm512_srl_epi16(v, _mm_cvtsi32_si128(N as i32)),
            }
        }
    }
    #[inline(always)]
    fn bsll16<const N: u32>(self, v: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`. (The match on the constant folds away.)
        unsafe {
            match N {
                1 => _mm512_slli_epi16::<1>(v),
                2 => _mm512_slli_epi16::<2>(v),
                3 => _mm512_slli_epi16::<3>(v),
                4 => _mm512_slli_epi16::<4>(v),
                6 => _mm512_slli_epi16::<6>(v),
                8 => _mm512_slli_epi16::<8>(v),
                12 => _mm512_slli_epi16::<12>(v),
                _ => _mm512_sll_epi16(v, _mm_cvtsi32_si128(N as i32)),
            }
        }
    }
    #[inline(always)]
    unsafe fn bload_u8_as_u16(self, p: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 32 readable bytes; the token the instructions.
        unsafe { _mm512_cvtepu8_epi16(_mm256_loadu_si256(p.cast())) }
    }
    #[inline(always)]
    fn bsplat16(self, v: u16) -> __m512i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm512_set1_epi16(v as i16) }
    }
    #[inline(always)]
    unsafe fn fspread(self, p: *const f32, groups: usize) -> __m512 {
        // SAFETY: the caller guarantees `groups` readable f32; the token the instructions.
        unsafe {
            match groups {
                1 => _mm512_set1_ps(*p),
                2 => spread16(
                    _mm512_castps128_ps512(_mm_castpd_ps(_mm_load_sd(p.cast()))),
                    2,
                ),
                4 => spread16(_mm512_castps128_ps512(_mm_loadu_ps(p)), 4),
                8 => spread16(_mm512_castps256_ps512(_mm256_loadu_ps(p)), 8),
                _ => _mm512_loadu_ps(p),
            }
        }
    }
    #[inline(always)]
    unsafe fn f16_spread(self, p: *const u16, groups: usize) -> __m512 {
        // SAFETY: the caller guarantees `groups` readable u16; the token the instructions.
        unsafe {
            let h4 = |v: __m128i| _mm512_castps128_ps512(_mm_cvtph_ps(v));
            match groups {
                1 => _mm512_cvtph_ps(_mm256_set1_epi16(*p as i16)),
                2 => spread16(h4(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned())), 2),
                4 => spread16(h4(_mm_loadl_epi64(p.cast())), 4),
                8 => spread16(
                    _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(p.cast()))),
                    8,
                ),
                _ => _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())),
            }
        }
    }
    #[inline(always)]
    fn e8m0(self, e: __m512i) -> __m512 {
        // 1.0 * 2^(e - 127) by `vscalefps` (exact, subnormal 2^-127 included): three
        // instructions where the bit pattern takes five.
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let x = _mm512_cvtepi32_ps(_mm512_sub_epi32(e, _mm512_set1_epi32(127)));
            _mm512_scalef_ps(_mm512_set1_ps(1.0), x)
        }
    }
    #[inline(always)]
    unsafe fn u8_spread(self, p: *const u8, groups: usize) -> __m512i {
        // SAFETY: the caller guarantees `groups` readable bytes; the token the
        // instructions.
        unsafe {
            let w = |v: __m128i| {
                _mm512_castps_si512(_mm512_castps128_ps512(_mm_castsi128_ps(_mm_cvtepu8_epi32(
                    v,
                ))))
            };
            let sp = |v: __m512i, g| _mm512_castps_si512(spread16(_mm512_castsi512_ps(v), g));
            match groups {
                1 => _mm512_set1_epi32(i32::from(*p)),
                2 => sp(
                    w(_mm_cvtsi32_si128(i32::from(
                        p.cast::<u16>().read_unaligned(),
                    ))),
                    2,
                ),
                4 => sp(w(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned())), 4),
                8 => sp(
                    _mm512_castsi256_si512(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast()))),
                    8,
                ),
                _ => _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast())),
            }
        }
    }
    #[inline(always)]
    fn dot_small<const P: usize>(self, acc: __m512i, w: [__m512i; 4], x: [__m512i; 4]) -> __m512i {
        // SAFETY: see `Simd::fzero`; `vpdpbusd` only with VNNI, which the token proves.
        unsafe {
            if VNNI {
                let mut a = acc;
                for p in 0..P {
                    a = _mm512_dpbusd_epi32(a, w[p], x[p]);
                }
                a
            } else {
                // The P pair sums fit i16 (the caller's bound): added before one
                // `vpmaddwd`.
                let mut pairs = _mm512_maddubs_epi16(w[0], x[0]);
                for p in 1..P {
                    pairs = _mm512_add_epi16(pairs, _mm512_maddubs_epi16(w[p], x[p]));
                }
                _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)))
            }
        }
    }
    #[inline(always)]
    fn dot_z128<const P: usize>(
        self,
        corr128: __m512i,
        w: [__m512i; 4],
        x: [__m512i; 4],
    ) -> __m512i {
        if VNNI {
            let mut acc = corr128;
            for p in 0..P {
                // SAFETY: see `Simd::fzero`; `vpdpbusd` only with VNNI, which the token
                // proves.
                acc = unsafe { _mm512_dpbusd_epi32(acc, w[p], x[p]) };
            }
            acc
        } else {
            let z = self.isplat(0);
            let mut acc = self.dot_wide::<true>(z, z, w[0], x[0]);
            for p in 1..P {
                acc = self.iadd(acc, self.dot_wide::<true>(z, z, w[p], x[p]));
            }
            acc
        }
    }
    #[inline(always)]
    fn dot_wide<const Z128: bool>(
        self,
        negsum: __m512i,
        z: __m512i,
        w: __m512i,
        x: __m512i,
    ) -> __m512i {
        // SAFETY: see `Simd::fzero`; `vpdpbusd` only with VNNI, which the token proves.
        unsafe {
            if VNNI {
                let corr = if Z128 {
                    _mm512_slli_epi32::<7>(negsum)
                } else {
                    _mm512_mullo_epi32(negsum, z)
                };
                _mm512_dpbusd_epi32(corr, w, x)
            } else {
                // |w - 128| x (x with the sign of w - 128): pair sums at most 2 * 128 * 127.
                let ws = _mm512_xor_si512(w, _mm512_set1_epi8(-128));
                let neg = _mm512_movepi8_mask(ws);
                let xs = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
                let p = _mm512_madd_epi16(
                    _mm512_maddubs_epi16(_mm512_abs_epi8(ws), xs),
                    _mm512_set1_epi16(1),
                );
                if Z128 {
                    p
                } else {
                    let zc = _mm512_sub_epi32(z, _mm512_set1_epi32(128));
                    _mm512_add_epi32(p, _mm512_mullo_epi32(negsum, zc))
                }
            }
        }
    }
}

/// `vpermi2w` over two registers of 32 i16 each; `vpdpwssd` with VNNI, else `vpmaddwd` +
/// `vpaddd`.
impl<const VNNI: bool> Dot16 for Avx512<VNNI> {
    type T64 = [__m512i; 2];
    #[inline(always)]
    fn wtable64(self, t: &[i16; 64]) -> [__m512i; 2] {
        // SAFETY: `t` holds 64 i16 (two 64-byte loads); the token the instructions.
        unsafe {
            [
                _mm512_loadu_si512(t.as_ptr().cast()),
                _mm512_loadu_si512(t.as_ptr().add(32).cast()),
            ]
        }
    }
    #[inline(always)]
    fn wlookup64(self, t: [__m512i; 2], idx: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`. (`vpermi2w` reads bits 0-4 of each index for the
        // entry and bit 5 for the register, and ignores the rest.)
        unsafe { _mm512_permutex2var_epi16(t[0], idx, t[1]) }
    }
    #[inline(always)]
    fn bsra16<const N: u32>(self, v: __m512i) -> __m512i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm512_srai_epi16::<N>(v) }
    }
    #[inline(always)]
    fn dot16<const P: usize>(self, acc: __m512i, w: [__m512i; 4], x: [__m512i; 4]) -> __m512i {
        // SAFETY: see `Simd::fzero`; `vpdpwssd` only with VNNI, which the token proves.
        unsafe {
            let mut a = acc;
            for p in 0..P {
                a = if VNNI {
                    _mm512_dpwssd_epi32(a, w[p], x[p])
                } else {
                    _mm512_add_epi32(a, _mm512_madd_epi16(w[p], x[p]))
                };
            }
            a
        }
    }
}

/// Lanes `0 .. groups` of `v` spread over the 16 lanes, each over `16 / groups` of them.
#[inline(always)]
fn spread16(v: __m512, groups: usize) -> __m512 {
    // SAFETY: AVX-512F, which every caller's token proves.
    unsafe {
        let idx = match groups {
            2 => _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
            4 => _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
            _ => _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
        };
        _mm512_permutexvar_ps(idx, v)
    }
}
