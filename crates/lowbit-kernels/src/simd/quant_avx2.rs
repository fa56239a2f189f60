//! The AVX2 A8 activation quantizer (also used on AVX-512 machines): bitwise the scalar
//! block codec, about 13x faster.

use core::arch::x86_64::*;

use super::avx2::Avx2;
use crate::a8::{Lanes, CHUNK};

impl Avx2 {
    /// Quantizes the whole 32-element blocks of `x` into the A8 layouts (see [`crate::a8`]):
    /// bitwise the codes, scales and sums of `lowbit_formats::act::quantize_block`
    /// (the same `block_scale` and product, rounded to nearest-even by `vcvtps2dq` under
    /// the default rounding mode Rust code never changes), from block `from` on. Returns
    /// the first block not done: the number of whole blocks, or a block holding a NaN or
    /// an infinity (for the scalar codec to report).
    pub(crate) fn quantize_blocks(self, x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
        out.assert_fits(x.len());
        // SAFETY: the token proves AVX2, FMA and F16C; the buffer lengths are asserted
        // above and every access inside is to a whole block of `x` or within its layouts.
        unsafe { quantize_blocks_imp(x, from, out) }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_blocks_imp(x: &[f32], from: usize, out: &mut Lanes<'_>) -> usize {
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
    let inf = _mm256_set1_ps(f32::INFINITY);
    // After the two packs the 4-byte units are [0..4 8..12 16..20 24..28 | 4..8 12..16
    // 20..24 28..32]; this puts them in order.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    // Per 16-byte half: its 8 even elements, then its 8 odd ones.
    let split = _mm256_setr_epi8(
        0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5,
        7, 9, 11, 13, 15,
    );
    let ones8 = _mm256_set1_epi8(1);
    let ones16 = _mm256_set1_epi16(1);
    for b in from..x.len() / 32 {
        // SAFETY: 32 (b + 1) <= x.len().
        let v: [__m256; 4] =
            core::array::from_fn(|i| unsafe { _mm256_loadu_ps(x.as_ptr().add(32 * b + 8 * i)) });
        let a: [__m256; 4] = core::array::from_fn(|i| _mm256_and_ps(v[i], abs_mask));
        let finite = _mm256_and_ps(
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[0], inf),
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[1], inf),
            ),
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[2], inf),
                _mm256_cmp_ps::<_CMP_LT_OQ>(a[3], inf),
            ),
        );
        if _mm256_movemask_ps(finite) != 0xFF {
            return b;
        }
        let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let (c, i) = (b / 4, b % 4);
        let (s, inv) = lowbit_formats::act::block_scale(amax);
        let inv = _mm256_set1_ps(inv);
        let q: [__m256i; 4] =
            core::array::from_fn(|i| _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv)));
        let nat = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(
                _mm256_packs_epi32(q[0], q[1]),
                _mm256_packs_epi32(q[2], q[3]),
            ),
            order,
        );
        // [evens 0..16 | odds 0..16 | evens 16..32 | odds 16..32] in 8-byte units, then
        // the 16 evens followed by the 16 odds.
        let eo = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_shuffle_epi8(nat, split));
        // Lane j: minus the sum of the codes of elements 4j .. 4j + 4.
        let s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, nat), ones16);
        // Lane j of the low half: elements 8j .. 8j + 8.
        let h = _mm256_hadd_epi32(s4, s4);
        let s8 = _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(h));
        let base = CHUNK * c + 16 * i;
        let zero = _mm256_setzero_si256();
        // SAFETY: 32 (b + 1) <= x.len() and the layouts hold x.len() rounded up to 256
        // elements (asserted by the caller): base + 64 + 16 <= 128 (c + 1) within `codes`,
        // 32 (b + 1) within `codes_nat`, 4b + 4 within `negsum8`, 8b + 8 within `negsum4`,
        // b within `scales`.
        unsafe {
            _mm_storeu_si128(
                out.codes.as_mut_ptr().add(base).cast(),
                _mm256_castsi256_si128(eo),
            );
            _mm_storeu_si128(
                out.codes.as_mut_ptr().add(base + 64).cast(),
                _mm256_extracti128_si256::<1>(eo),
            );
            _mm256_storeu_si256(out.codes_nat.as_mut_ptr().add(32 * b).cast(), nat);
            _mm256_storeu_si256(
                out.negsum4.as_mut_ptr().add(8 * b).cast(),
                _mm256_sub_epi32(zero, s4),
            );
            _mm_storeu_si128(
                out.negsum8.as_mut_ptr().add(4 * b).cast(),
                _mm_sub_epi32(_mm_setzero_si128(), s8),
            );
            *out.scales.get_unchecked_mut(b) = s;
        }
    }
    x.len() / 32
}
