//! AVX2 + FMA + F16C: 8 f32 lanes, 32-byte vectors.

use core::arch::x86_64::*;

use super::{Dot, Job, Simd};
use crate::dispatch::Variant;

/// Proof that the CPU has AVX2, FMA and F16C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Simd for Avx2 {
    const VARIANT: Variant = Variant::Avx2;
    const LANES: usize = 8;
    type F = __m256;
    type I = __m256i;
    type B = __m256i;

    fn detect() -> Option<Self> {
        Variant::Avx2.is_available().then_some(Avx2(()))
    }

    #[inline(always)]
    fn vectorize<J: Job<Self>>(self, job: J) -> J::Output {
        #[target_feature(enable = "avx2,fma,f16c")]
        fn run<J: Job<Avx2>>(job: J, s: Avx2) -> J::Output {
            job.run(s)
        }
        // SAFETY: the token proves the CPU has the features.
        unsafe { run(job, self) }
    }

    #[inline(always)]
    fn fzero(self) -> __m256 {
        // SAFETY: (every register-only operation of this impl) the token proves the CPU
        // has the instructions.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    fn fsplat(self, v: f32) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn fload(self, p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable f32; the token the instruction.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fstore(self, p: *mut f32, v: __m256) {
        // SAFETY: the caller guarantees 8 writable f32; the token the instruction.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn fadd(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn fsub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn fmul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn fbits(self, v: __m256i) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_castsi256_ps(v) }
    }
    #[inline(always)]
    fn fflip(self, v: __m256, bits: __m256i) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe {
            let sign = _mm256_and_si256(bits, _mm256_set1_epi32(i32::MIN));
            _mm256_xor_ps(v, _mm256_castsi256_ps(sign))
        }
    }
    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn fsum(self, v: __m256) -> f32 {
        // SAFETY: see `fzero`.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    unsafe fn f16_load(self, p: *const u16) -> __m256 {
        // SAFETY: the caller guarantees 8 readable u16; the token the instructions.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    fn i2f(self, v: __m256i) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_cvtepi32_ps(v) }
    }
    #[inline(always)]
    fn fpermute(self, table: __m256, idx: __m256i) -> __m256 {
        // SAFETY: see `fzero`.
        unsafe { _mm256_permutevar8x32_ps(table, idx) }
    }
    #[inline(always)]
    fn fpermute32(self, t: &[__m256; 4], idx: __m256i) -> __m256 {
        // SAFETY: see `fzero`. (`blendv_ps` reads bit 31: index bit 3, then bit 4.)
        unsafe {
            let b3 = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx));
            let b4 = _mm256_castsi256_ps(_mm256_slli_epi32::<27>(idx));
            let p = |v| _mm256_permutevar8x32_ps(v, idx);
            let lo = _mm256_blendv_ps(p(t[0]), p(t[1]), b3);
            let hi = _mm256_blendv_ps(p(t[2]), p(t[3]), b3);
            _mm256_blendv_ps(lo, hi, b4)
        }
    }
    const VPERM16: bool = false;
    const VPERM8: bool = true;

    #[inline(always)]
    fn isplat(self, v: i32) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_set1_epi32(v) }
    }
    #[inline(always)]
    unsafe fn iload(self, p: *const i32) -> __m256i {
        // SAFETY: the caller guarantees 8 readable i32; the token the instruction.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }
    #[inline(always)]
    fn iadd(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn isub(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn imul(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_mullo_epi32(a, b) }
    }
    #[inline(always)]
    fn iand(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_and_si256(a, b) }
    }
    #[inline(always)]
    fn ior(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_or_si256(a, b) }
    }
    #[inline(always)]
    fn isrl(self, v: __m256i, n: u32) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_srl_epi32(v, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn isll(self, v: __m256i, n: u32) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_sll_epi32(v, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn iselect(self, mask: __m256i, a: __m256i, b: __m256i) -> __m256i {
        // b ^ ((a ^ b) & mask)
        // SAFETY: see `fzero`.
        unsafe { _mm256_xor_si256(b, _mm256_and_si256(_mm256_xor_si256(a, b), mask)) }
    }
    #[inline(always)]
    unsafe fn u8_load_i32(self, p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 8 readable bytes; the token the instructions.
        unsafe { _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast())) }
    }
    #[inline(always)]
    unsafe fn u16_load_i32(self, p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 16 readable bytes; the token the instructions.
        unsafe { _mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    fn icmpeq(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_cmpeq_epi32(a, b) }
    }
    #[inline(always)]
    fn ibits(self, v: __m256) -> __m256i {
        // SAFETY: see `fzero`.
        unsafe { _mm256_castps_si256(v) }
    }

    #[inline(always)]
    unsafe fn nibble_lanes(self, p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 4 readable bytes; the token the instructions.
        unsafe {
            let d = _mm256_set1_epi32(p.cast::<i32>().read_unaligned());
            _mm256_srlv_epi32(d, _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28))
        }
    }

    #[inline(always)]
    unsafe fn rows16(self, p: *const u8, off: &[usize; 16]) -> [__m256i; 4] {
        // Rows i and i + 4 share a register (one per 128-bit half): a 4 x 4 dword
        // transpose inside each half leaves row 4h + i in lane 4h + i.
        let mut q = [self.isplat(0); 4];
        for (i, v) in q.iter_mut().enumerate() {
            // SAFETY: the caller guarantees 16 readable bytes at `p + off[l]`, l < 8.
            *v = unsafe {
                let r0 = _mm_loadu_si128(p.add(off[i]).cast());
                let r1 = _mm_loadu_si128(p.add(off[i + 4]).cast());
                _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(r0), r1)
            };
        }
        // SAFETY: see `fzero`.
        unsafe {
            let t0 = _mm256_unpacklo_epi32(q[0], q[1]);
            let t1 = _mm256_unpackhi_epi32(q[0], q[1]);
            let t2 = _mm256_unpacklo_epi32(q[2], q[3]);
            let t3 = _mm256_unpackhi_epi32(q[2], q[3]);
            [
                _mm256_unpacklo_epi64(t0, t2),
                _mm256_unpackhi_epi64(t0, t2),
                _mm256_unpacklo_epi64(t1, t3),
                _mm256_unpackhi_epi64(t1, t3),
            ]
        }
    }
    #[inline(always)]
    unsafe fn rows8(self, p: *const u8, off: &[usize; 16]) -> [__m256i; 2] {
        let mut q = [self.isplat(0); 4];
        for (i, v) in q.iter_mut().enumerate() {
            // SAFETY: the caller guarantees 8 readable bytes at `p + off[l]`, l < 8.
            *v = unsafe {
                let r0 = _mm_loadl_epi64(p.add(off[i]).cast());
                let r1 = _mm_loadl_epi64(p.add(off[i + 4]).cast());
                _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(r0), r1)
            };
        }
        // SAFETY: see `fzero`.
        unsafe {
            let t0 = _mm256_unpacklo_epi32(q[0], q[1]);
            let t2 = _mm256_unpacklo_epi32(q[2], q[3]);
            [_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2)]
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

impl Avx2 {
    /// Shift left of every 16-bit lane by `n` (a constant after inlining).
    #[inline(always)]
    fn bsll16_dyn(self, v: __m256i, n: u32) -> __m256i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm256_sll_epi16(v, _mm_cvtsi32_si128(n as i32)) }
    }
}

impl Dot for Avx2 {
    #[inline(always)]
    unsafe fn bload(self, p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 32 readable bytes; the token the instruction.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }
    #[inline(always)]
    fn bsplat(self, v: u8) -> __m256i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm256_set1_epi8(v as i8) }
    }
    #[inline(always)]
    fn band(self, a: __m256i, b: __m256i) -> __m256i {
        self.iand(a, b)
    }
    #[inline(always)]
    fn bor(self, a: __m256i, b: __m256i) -> __m256i {
        self.ior(a, b)
    }
    #[inline(always)]
    fn btable(self, t: &[u8; 16]) -> __m256i {
        // SAFETY: `t` holds 16 bytes; the token the instructions.
        unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr().cast())) }
    }
    #[inline(always)]
    fn bsel_bit<const BIT: u32>(self, src: __m256i, a: __m256i, b: __m256i) -> __m256i {
        // `blendv` reads bit 7 of each byte: a 16-bit shift by 7 - BIT moves bit BIT of
        // both bytes there (bits crossing into the high byte land below bit 7).
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm256_blendv_epi8(a, b, self.bsll16_dyn(src, 7 - BIT)) }
    }
    #[inline(always)]
    fn bsel_eq<const V: u8>(self, src: __m256i, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm256_blendv_epi8(a, b, _mm256_cmpeq_epi8(src, _mm256_set1_epi8(V as i8))) }
    }
    #[inline(always)]
    fn bneg_bit<const BIT: u32>(self, src: __m256i, x: __m256i) -> __m256i {
        // `psignb` by a byte whose sign is the selected bit (and never zero).
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let m = _mm256_or_si256(self.bsll16_dyn(src, 7 - BIT), _mm256_set1_epi8(1));
            _mm256_sign_epi8(x, m)
        }
    }
    #[inline(always)]
    fn blookup(self, table: __m256i, idx: __m256i) -> __m256i {
        // SAFETY: see `Simd::fzero`. (`btable` repeats the table in each 128-bit half.)
        unsafe { _mm256_shuffle_epi8(table, idx) }
    }
    #[inline(always)]
    fn bsrl16<const N: u32>(self, v: __m256i) -> __m256i {
        // SAFETY: see `Simd::fzero`. (The match on the constant folds away.)
        unsafe {
            match N {
                1 => _mm256_srli_epi16::<1>(v),
                2 => _mm256_srli_epi16::<2>(v),
                3 => _mm256_srli_epi16::<3>(v),
                4 => _mm256_srli_epi16::<4>(v),
                6 => _mm256_srli_epi16::<6>(v),
                _ => _mm256_srl_epi16(v, _mm_cvtsi32_si128(N as i32)),
            }
        }
    }
    #[inline(always)]
    fn bsll16<const N: u32>(self, v: __m256i) -> __m256i {
        // SAFETY: see `Simd::fzero`. (The match on the constant folds away.)
        unsafe {
            match N {
                1 => _mm256_slli_epi16::<1>(v),
                2 => _mm256_slli_epi16::<2>(v),
                3 => _mm256_slli_epi16::<3>(v),
                4 => _mm256_slli_epi16::<4>(v),
                6 => _mm256_slli_epi16::<6>(v),
                _ => _mm256_sll_epi16(v, _mm_cvtsi32_si128(N as i32)),
            }
        }
    }
    #[inline(always)]
    unsafe fn bload_u8_as_u16(self, p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 16 readable bytes; the token the instructions.
        unsafe { _mm256_cvtepu8_epi16(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    fn bsplat16(self, v: u16) -> __m256i {
        // SAFETY: see `Simd::fzero`.
        unsafe { _mm256_set1_epi16(v as i16) }
    }
    #[inline(always)]
    unsafe fn fspread(self, p: *const f32, groups: usize) -> __m256 {
        // SAFETY: the caller guarantees `groups` readable f32; the token the instructions.
        unsafe {
            match groups {
                1 => _mm256_set1_ps(*p),
                2 => spread8(
                    _mm256_castps128_ps256(_mm_castpd_ps(_mm_load_sd(p.cast()))),
                    2,
                ),
                4 => spread8(_mm256_castps128_ps256(_mm_loadu_ps(p)), 4),
                _ => _mm256_loadu_ps(p),
            }
        }
    }
    #[inline(always)]
    unsafe fn f16_spread(self, p: *const u16, groups: usize) -> __m256 {
        // SAFETY: the caller guarantees `groups` readable u16; the token the instructions.
        unsafe {
            match groups {
                1 => _mm256_cvtph_ps(_mm_set1_epi16(*p as i16)),
                2 => spread8(
                    _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128(
                        p.cast::<i32>().read_unaligned(),
                    ))),
                    2,
                ),
                4 => spread8(
                    _mm256_castps128_ps256(_mm_cvtph_ps(_mm_loadl_epi64(p.cast()))),
                    4,
                ),
                _ => _mm256_cvtph_ps(_mm_loadu_si128(p.cast())),
            }
        }
    }
    #[inline(always)]
    unsafe fn u8_spread(self, p: *const u8, groups: usize) -> __m256i {
        // SAFETY: the caller guarantees `groups` readable bytes; the token the
        // instructions.
        unsafe {
            let w = |v: __m128i| _mm256_castsi256_ps(_mm256_castsi128_si256(_mm_cvtepu8_epi32(v)));
            match groups {
                1 => _mm256_set1_epi32(i32::from(*p)),
                2 => _mm256_castps_si256(spread8(
                    w(_mm_cvtsi32_si128(i32::from(
                        p.cast::<u16>().read_unaligned(),
                    ))),
                    2,
                )),
                4 => _mm256_castps_si256(spread8(
                    w(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned())),
                    4,
                )),
                _ => _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast())),
            }
        }
    }
    #[inline(always)]
    fn dot_small<const P: usize>(self, acc: __m256i, w: [__m256i; 4], x: [__m256i; 4]) -> __m256i {
        // The P pair sums fit i16 (the caller's bound), so they are added before the one
        // `vpmaddwd` that widens them.
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let mut pairs = _mm256_maddubs_epi16(w[0], x[0]);
            for p in 1..P {
                pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(w[p], x[p]));
            }
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }
    #[inline(always)]
    fn dot_wide<const Z128: bool>(
        self,
        negsum: __m256i,
        z: __m256i,
        w: __m256i,
        x: __m256i,
    ) -> __m256i {
        // |w - 128| x (x with the sign of w - 128): pair sums at most 2 * 128 * 127.
        // SAFETY: see `Simd::fzero`.
        unsafe {
            let ws = _mm256_xor_si256(w, _mm256_set1_epi8(-128));
            let p = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_abs_epi8(ws), _mm256_sign_epi8(x, ws)),
                _mm256_set1_epi16(1),
            );
            if Z128 {
                p
            } else {
                let zc = _mm256_sub_epi32(z, _mm256_set1_epi32(128));
                _mm256_add_epi32(p, _mm256_mullo_epi32(negsum, zc))
            }
        }
    }
}

/// Lanes `0 .. groups` of `v` spread over the 8 lanes, each over `8 / groups` of them.
#[inline(always)]
fn spread8(v: __m256, groups: usize) -> __m256 {
    // SAFETY: AVX2, which every caller's token proves.
    unsafe {
        let idx = match groups {
            2 => _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1),
            _ => _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3),
        };
        _mm256_permutevar8x32_ps(v, idx)
    }
}
