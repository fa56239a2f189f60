//! Vector operations, one implementation per ISA variant: the only code in the crate that
//! names an intrinsic on behalf of the drivers and decode steps.
//!
//! A zero-sized token type per variant ([`Avx2`](avx2::Avx2),
//! [`Avx512<VNNI>`](avx512::Avx512), [`Neon<DOT>`](neon::Neon)) implements [`Simd`]. A
//! token comes only from [`Simd::detect`], which checks the CPU's features, so holding
//! one proves that its instructions run here. That is the safety argument of every vector
//! operation: each is a safe `#[inline(always)]` method whose body calls its intrinsics
//! in an `unsafe` block (the memory operations take raw pointers and are `unsafe fn`;
//! their callers prove the ranges). The pattern is memchr's (`arch/generic` over a
//! `Vector` trait, a type per ISA that can only be built when the CPU has it).
//!
//! Drivers ([`crate::driver`]) and decode steps ([`crate::decode`]) are generic over
//! `S: Simd` and `#[inline(always)]`; a kernel is one driver instantiated at one token and
//! entered through [`Simd::vectorize`], a `#[target_feature]` trampoline, so that after
//! inlining every operation compiles to its instructions (intrinsics inline only into
//! functions that enable their features).
//!
//! Lanes: `F` holds [`Simd::LANES`] f32, `I` as many i32, `B` four times as many bytes
//! (NEON 4 / 16 bytes, AVX2 8 / 32 bytes, AVX-512 16 / 64 bytes).

use crate::dispatch::Variant;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
#[cfg(target_arch = "x86_64")]
mod quant_avx2;
#[cfg(target_arch = "aarch64")]
mod quant_neon;

/// Quantizes the whole 32-element blocks of `x` from block `from` on into the A8 layouts
/// with the SIMD quantizer of the best ISA the process-wide cap allows (bitwise the scalar
/// codec); returns the first block it did not do (`from` when no SIMD quantizer may run).
pub(crate) fn quantize_blocks(x: &[f32], from: usize, out: &mut crate::a8::Lanes<'_>) -> usize {
    let cap = crate::dispatch::active_isa().unwrap_or(crate::dispatch::Isa::Scalar);
    #[cfg(target_arch = "x86_64")]
    if cap.allows(crate::dispatch::Isa::Avx2) {
        if let Some(t) = avx2::Avx2::detect() {
            return t.quantize_blocks(x, from, out);
        }
    }
    #[cfg(target_arch = "aarch64")]
    if cap.allows(crate::dispatch::Isa::Neon) {
        if let Some(t) = neon::Neon::<false>::detect() {
            return t.quantize_blocks(x, from, out);
        }
    }
    let _ = (x, out, cap);
    from
}

/// `(i & (2^BITS - 1)) as f32` for `i < 16`: the values of a `BITS`-bit field for every
/// 4-bit index (a compile-time table).
pub(crate) struct Iota<const BITS: u32>;

impl<const BITS: u32> Iota<BITS> {
    /// The table.
    pub(crate) const T16: [f32; 16] = {
        let mut t = [0.0f32; 16];
        let mut i = 0;
        while i < 16 {
            t[i] = (i as u32 & ((1u32 << BITS) - 1)) as f32;
            i += 1;
        }
        t
    };
}

/// A computation a driver runs with a variant's features enabled ([`Simd::vectorize`]).
pub(crate) trait Job<S: Simd> {
    /// What it returns.
    type Output;
    /// The computation. Implementations must be `#[inline(always)]` (and so must every
    /// generic function they call), so the whole body lands in the trampoline.
    fn run(self, s: S) -> Self::Output;
}

/// The operations the drivers and decode steps use, for one ISA variant.
///
/// Integer lane operations on `I` treat lanes as 32-bit; shifts named `16` act on 16-bit
/// lanes of a byte vector (the bits that cross a byte boundary are the caller's to mask).
pub(crate) trait Simd: Copy + Send + Sync + 'static {
    /// The registry's name for the variant.
    const VARIANT: Variant;
    /// f32 / i32 lanes per vector.
    const LANES: usize;
    /// `LANES` f32.
    type F: Copy;
    /// `LANES` i32.
    type I: Copy;
    /// `4 * LANES` bytes.
    type B: Copy;

    /// The token, when this CPU has every feature the variant needs (cached detection).
    fn detect() -> Option<Self>;

    /// Runs `job` inside a function compiled with the variant's target features: its
    /// `#[inline(always)]` [`Job::run`] is inlined there with everything it calls, so the
    /// vector operations become single instructions. (A closure would not do: LLVM may
    /// keep a large closure out of line, and there every operation stays a call.)
    fn vectorize<J: Job<Self>>(self, job: J) -> J::Output;

    // ---- f32 ----

    /// All lanes 0.0.
    fn fzero(self) -> Self::F;
    /// All lanes `v`.
    fn fsplat(self, v: f32) -> Self::F;
    /// Loads `LANES` f32.
    ///
    /// # Safety
    /// `p .. p + LANES` must be readable.
    unsafe fn fload(self, p: *const f32) -> Self::F;
    /// Stores `LANES` f32.
    ///
    /// # Safety
    /// `p .. p + LANES` must be writable.
    unsafe fn fstore(self, p: *mut f32, v: Self::F);
    /// `a + b`.
    fn fadd(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a - b`.
    fn fsub(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b`.
    fn fmul(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c`, rounded once.
    fn fma(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// The lanes' bit patterns read as f32 (a cast: no instruction).
    fn fbits(self, v: Self::I) -> Self::F;
    /// `v` with the sign of each lane flipped where bit 31 of the lane of `bits` is set
    /// (a sign-magnitude decode: exact).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn fflip(self, v: Self::F, bits: Self::I) -> Self::F;
    /// The sum of the lanes, in the variant's fixed order.
    fn fsum(self, v: Self::F) -> f32;
    /// The lanes as an array (lane `i` at index `i`; indices past `LANES` are 0).
    fn to_array(self, v: Self::F) -> [f32; 16] {
        let mut a = [0.0f32; 16];
        // SAFETY: `a` holds 16 >= LANES f32.
        unsafe { self.fstore(a.as_mut_ptr(), v) };
        a
    }
    /// `LANES` IEEE binary16 values (as bits) widened to f32 (exact).
    ///
    /// # Safety
    /// `p .. p + LANES` must be readable.
    unsafe fn f16_load(self, p: *const u16) -> Self::F;
    /// `LANES` bytes widened to f32 (exact).
    ///
    /// # Safety
    /// `p .. p + LANES` must be readable.
    #[inline(always)]
    unsafe fn u8_load_f32(self, p: *const u8) -> Self::F {
        // SAFETY: the caller guarantees what `u8_load_i32` needs.
        self.i2f(unsafe { self.u8_load_i32(p) })
    }
    /// Lanes converted from i32 (exact below 2^24 in magnitude).
    fn i2f(self, v: Self::I) -> Self::F;
    /// The unsigned `BITS`-bit field at bit `shift` of each lane, as f32. Bits above the
    /// field may hold anything.
    /// Fields that fit the variant's f32 permute index (3 bits with `VPERM8`, 4 with
    /// `VPERM16`) are looked up in a table of their values (one instruction); wider ones
    /// are masked and converted.
    #[inline(always)]
    fn ufield<const BITS: u32>(self, v: Self::I, shift: u32) -> Self::F {
        let v = if shift == 0 { v } else { self.isrl(v, shift) };
        let perm_bits = if Self::VPERM16 {
            4
        } else if Self::VPERM8 {
            3
        } else {
            0
        };
        if BITS <= perm_bits {
            // SAFETY: the table holds 16 f32, at least LANES (8 or 16) where a permute
            // exists.
            self.fpermute(unsafe { self.fload(Iota::<BITS>::T16.as_ptr()) }, v)
        } else {
            self.i2f(self.iand(v, self.isplat(((1u64 << BITS) - 1) as i32)))
        }
    }
    /// Lane `i` = `table[idx[i] & 15]` where the variant has a 16-entry f32 permute
    /// (`VPERM16`), else `table[idx[i] & 7]` with an 8-entry one (`VPERM8`). Call only
    /// when one of them is true.
    fn fpermute(self, table: Self::F, idx: Self::I) -> Self::F;
    /// Lane `i` = `table[idx[i] & 31]` of the 32 f32 `t[0][..LANES], t[1][..LANES], ...`
    /// (the first `32 / LANES` vectors are read): `vpermi2ps` on AVX-512, four 8-entry
    /// permutes and three blends on AVX2 (NEON has no f32 permute).
    #[cfg(target_arch = "x86_64")]
    fn fpermute32(self, t: &[Self::F; 4], idx: Self::I) -> Self::F;
    /// Whether [`Simd::fpermute`] indexes 16 entries (`vpermps` zmm).
    const VPERM16: bool;
    /// Whether [`Simd::fpermute`] indexes 8 entries (`vpermps` ymm).
    const VPERM8: bool;

    // ---- i32 ----

    /// All lanes `v`.
    fn isplat(self, v: i32) -> Self::I;
    /// Loads `LANES` i32.
    ///
    /// # Safety
    /// `p .. p + LANES` must be readable.
    unsafe fn iload(self, p: *const i32) -> Self::I;
    /// `a + b`.
    fn iadd(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a - b`.
    fn isub(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a * b` (low 32 bits).
    fn imul(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a & b`.
    fn iand(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a | b`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn ior(self, a: Self::I, b: Self::I) -> Self::I;
    /// Logical shift right of every lane by `n < 32`.
    fn isrl(self, v: Self::I, n: u32) -> Self::I;
    /// Shift left of every lane by `n < 32`.
    fn isll(self, v: Self::I, n: u32) -> Self::I;
    /// `(a & mask) | (b & !mask)`.
    fn iselect(self, mask: Self::I, a: Self::I, b: Self::I) -> Self::I;
    /// `LANES` bytes widened to i32 lanes.
    ///
    /// # Safety
    /// `p .. p + LANES` must be readable.
    unsafe fn u8_load_i32(self, p: *const u8) -> Self::I;
    /// `LANES` little-endian u16 widened to i32 lanes (lane `i` = bytes `2i`, `2i + 1`).
    ///
    /// # Safety
    /// `p .. p + 2 * LANES` must be readable.
    #[cfg(target_arch = "x86_64")]
    unsafe fn u16_load_i32(self, p: *const u8) -> Self::I;
    /// All ones where `a == b`, else zero.
    #[cfg(target_arch = "x86_64")]
    fn icmpeq(self, a: Self::I, b: Self::I) -> Self::I;
    /// The bits of `v` (a cast).
    #[cfg(target_arch = "x86_64")]
    fn ibits(self, v: Self::F) -> Self::I;

    /// The `LANES / 2` bytes at `p` spread over the lanes: lane `i` holds their bits
    /// from bit `4i` up (bits `4i .. 4i + 4` at its bottom; the bits above are
    /// unspecified).
    ///
    /// # Safety
    /// `p .. p + LANES / 2` must be readable.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    unsafe fn nibble_lanes(self, p: *const u8) -> Self::I;

    // ---- rows as lanes (the batched GEMM's layout) ----

    /// The 16 bytes at `p + off[i]` for each lane `i < LANES`, transposed: vector `c`
    /// lane `i` holds bytes `4c .. 4c + 4` of lane `i`'s 16.
    ///
    /// # Safety
    /// `p + off[i] .. + 16` must be readable for every `i < LANES`.
    unsafe fn rows16(self, p: *const u8, off: &[usize; 16]) -> [Self::I; 4];
    /// As [`Simd::rows16`] for 8 bytes per lane: two vectors.
    ///
    /// # Safety
    /// `p + off[i] .. + 8` must be readable for every `i < LANES`.
    unsafe fn rows8(self, p: *const u8, off: &[usize; 16]) -> [Self::I; 2];

    // ---- hints ----

    /// Asks for the line at `p` in L1 (a hint; never faults, any address).
    fn prefetch_l1(self, p: *const u8);
    /// Asks for the line at `p` in L2 (a hint; never faults, any address).
    fn prefetch_l2(self, p: *const u8);
}

/// Integer dot products of bytes: what the A8 (int8 activation) driver multiplies with.
///
/// Every product is `u8 weight code x i8 activation`, summed in groups of 4 consecutive
/// bytes into the i32 lane that holds them (`vpdpbusd` / `vpmaddubsw` + `vpmaddwd` /
/// `sdot` lane pattern).
pub(crate) trait Dot: Simd {
    /// Loads `4 * LANES` bytes.
    ///
    /// # Safety
    /// `p .. p + 4 * LANES` must be readable.
    unsafe fn bload(self, p: *const u8) -> Self::B;
    /// All bytes `v`.
    fn bsplat(self, v: u8) -> Self::B;
    /// `a & b`.
    fn band(self, a: Self::B, b: Self::B) -> Self::B;
    /// `a | b`.
    fn bor(self, a: Self::B, b: Self::B) -> Self::B;
    /// Logical shift right of every 16-bit lane by `N`.
    fn bsrl16<const N: u32>(self, v: Self::B) -> Self::B;
    /// Shift left of every 16-bit lane by `N`.
    fn bsll16<const N: u32>(self, v: Self::B) -> Self::B;
    /// Bytes `p .. p + 2 * LANES` widened to 16-bit lanes (the byte vector holds them as
    /// `2 * LANES` little-endian u16).
    ///
    /// # Safety
    /// `p .. p + 2 * LANES` must be readable.
    unsafe fn bload_u8_as_u16(self, p: *const u8) -> Self::B;
    /// All 16-bit lanes `v`.
    fn bsplat16(self, v: u16) -> Self::B;
    /// A 16-entry byte table for [`Dot::blookup`].
    fn btable(self, t: &[u8; 16]) -> Self::B;
    /// Byte `i` = `table[idx[i]]` for indices `0..16` (`pshufb` / `vqtbl1q`): the
    /// table-lookup decode of 4-bit codes.
    fn blookup(self, table: Self::B, idx: Self::B) -> Self::B;
    /// Per byte: `b` where bit `BIT` of `src` is set, else `a` (`BIT < 8`).
    fn bsel_bit<const BIT: u32>(self, src: Self::B, a: Self::B, b: Self::B) -> Self::B;
    /// Per byte: `b` where `src` equals `V`, else `a`.
    fn bsel_eq<const V: u8>(self, src: Self::B, a: Self::B, b: Self::B) -> Self::B;
    /// Per byte: `-x` where bit `BIT` of `src` is set, else `x`, for `x` in `-127..=127`
    /// (the activation codes; `BIT < 8`).
    fn bneg_bit<const BIT: u32>(self, src: Self::B, x: Self::B) -> Self::B;
    /// `groups` f32 at `p`, each spread over `LANES / groups` consecutive lanes (`groups`
    /// a power of two up to `LANES`).
    ///
    /// # Safety
    /// `p .. p + groups` must be readable.
    unsafe fn fspread(self, p: *const f32, groups: usize) -> Self::F;
    /// As [`Dot::fspread`] for `groups` IEEE binary16 values (as bits), widened exactly.
    ///
    /// # Safety
    /// `p .. p + groups` must be readable.
    unsafe fn f16_spread(self, p: *const u16, groups: usize) -> Self::F;
    /// As [`Dot::fspread`] for `groups` bytes, widened to i32.
    ///
    /// # Safety
    /// `p .. p + groups` must be readable.
    unsafe fn u8_spread(self, p: *const u8, groups: usize) -> Self::I;
    /// `2^(e - 127)` per lane for E8M0 bytes `e` in `0..=254` (exact; `e = 0` is the
    /// subnormal `2^-127`). By default in integer lanes: `e << 23` is the f32 bit pattern
    /// for `e >= 1`, and `e = 0` gets bit 22 from `(e - 1) >> 31` (logical).
    #[inline(always)]
    fn e8m0(self, e: Self::I) -> Self::F {
        let sub = self.isll(self.isrl(self.isub(e, self.isplat(1)), 31), 22);
        self.fbits(self.ior(self.isll(e, 23), sub))
    }
    /// `acc + sum over p < P of dot4(w[p], x[p])` per lane, for unsigned codes `w` small
    /// enough that the `P` pair sums of `vpmaddubsw` stay in i16: `2 * P * max(w) * 127 <=
    /// 32767`, and (for the signed `sdot`) `max(w) <= 127`.
    fn dot_small<const P: usize>(self, acc: Self::I, w: [Self::B; 4], x: [Self::B; 4]) -> Self::I;
    /// `sum (w - z) * x` over each lane's 4 bytes for any unsigned codes `w` (0..=255),
    /// given `negsum` = minus the sum of each lane's 4 activation codes and the lanes'
    /// zero-points `z` (with `Z128`, `z` is 128 and the argument is ignored). Paths
    /// without an unsigned-by-signed dot recentre the codes to `w - 128` (an i8, whose
    /// products cannot saturate) and correct by `(z - 128) * negsum`.
    fn dot_wide<const Z128: bool>(
        self,
        negsum: Self::I,
        z: Self::I,
        w: Self::B,
        x: Self::B,
    ) -> Self::I;
    /// `sum over p < P of sum (w[p] - 128) * x[p]` per lane, for any unsigned codes, given
    /// `corr128` = 128 times minus the sum of the lane's activation codes over all `P`
    /// parts. With an unsigned-by-signed dot (VNNI) that is one chain of dots from
    /// `corr128`; the other paths recentre the codes ([`Dot::dot_wide`] with zero-point
    /// 128, which does not read the sums) and ignore it: this default, which VNNI
    /// overrides.
    #[inline(always)]
    fn dot_z128<const P: usize>(
        self,
        _corr128: Self::I,
        w: [Self::B; 4],
        x: [Self::B; 4],
    ) -> Self::I {
        let z = self.isplat(0);
        let mut acc = self.dot_wide::<true>(z, z, w[0], x[0]);
        for p in 1..P {
            acc = self.iadd(acc, self.dot_wide::<true>(z, z, w[p], x[p]));
        }
        acc
    }
}

/// Integer dot products of 16-bit lanes, for weights whose integers do not fit a byte
/// (FP6 E3M2 as `16 e3m2`, up to 448): a 64-entry i16 table lookup decodes the 6-bit
/// codes, and the products `i16 weight x i16 activation` are summed in pairs of
/// consecutive 16-bit lanes into the i32 lane that holds them (`vpmaddwd` / `vpdpwssd`
/// lane pattern). Implemented where the lookup is a few instructions: AVX-512
/// (`vpermi2w`) and NEON (`tbl` / `tbx` on four registers); AVX2 has no such lookup.
pub(crate) trait Dot16: Dot {
    /// A 64-entry i16 table for [`Dot16::wlookup64`].
    type T64: Copy;
    /// The table `t` in registers.
    fn wtable64(self, t: &[i16; 64]) -> Self::T64;
    /// 16-bit lane `i` = `t[idx[i] & 63]` (the bits of `idx[i]` above bit 5 are ignored).
    fn wlookup64(self, t: Self::T64, idx: Self::B) -> Self::B;
    /// Arithmetic shift right of every 16-bit lane by `N` (`0 < N < 16`).
    fn bsra16<const N: u32>(self, v: Self::B) -> Self::B;
    /// `acc + sum over p < P of (w[p] * x[p])` per i32 lane, each product the sum of the
    /// two i16 x i16 products of the lane's pair of 16-bit lanes (exact while the sums fit
    /// i32: `2 * P * max|w| * max|x| < 2^31`).
    fn dot16<const P: usize>(self, acc: Self::I, w: [Self::B; 4], x: [Self::B; 4]) -> Self::I;
}
