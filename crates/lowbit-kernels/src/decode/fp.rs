//! What every minifloat decode step shares: the [`Planar`] view of an [`FpMatrixRef`]
//! (plane 0 the 4-bit codes, plane 1 FP6's high two bits) and the group scales as f32
//! (f16 widened, E8M0 through a 256-entry table).

use lowbit_formats::fp::{FpMatrixRef, FpScalesRef};
#[cfg(target_arch = "x86_64")]
use lowbit_formats::minifloat::{e8m0_decode, E4M3};

#[cfg(target_arch = "x86_64")]
use super::int::f16_widen;
use super::Planar;
#[cfg(target_arch = "x86_64")]
use crate::driver::gemm::{RowGroup, GPC};
use crate::simd::Dot;
#[cfg(target_arch = "x86_64")]
use crate::simd::Simd;

/// `2^120`: an E4M3 byte's exponent and mantissa placed at f32 bits 20..27 read as an
/// f32 are its value times `2^-120`.
const E4M3_UNIT: f32 = f32::from_bits((127 + 120) << 23);

/// `2^(e - 127)` for every E8M0 byte (the NaN byte never reaches a kernel: views refuse it).
#[cfg(target_arch = "x86_64")]
pub(crate) static E8M0: [f32; 256] = {
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 255 {
        t[i] = e8m0_decode(i as u8);
        i += 1;
    }
    t
};

/// The scales of groups `j0 .. j0 + out.len()` of row `n`, as f32.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn scales_into<S: Simd>(
    s: S,
    w: &FpMatrixRef<'_>,
    n: usize,
    j0: usize,
    out: &mut [f32],
) {
    let i0 = n * w.layout().groups_per_row + j0;
    let len = out.len();
    match w.scales() {
        FpScalesRef::F16(v) => f16_widen(s, &v[i0..i0 + len], out),
        FpScalesRef::E8M0(v) => {
            for (d, &e) in out.iter_mut().zip(&v[i0..i0 + len]) {
                *d = E8M0[usize::from(e)];
            }
        }
        FpScalesRef::E4M3(v, t) => {
            for (d, &b) in out.iter_mut().zip(&v[i0..i0 + len]) {
                *d = E4M3.decode(b) * t;
            }
        }
    }
}

impl<'a> Planar<'a> for FpMatrixRef<'a> {
    #[inline(always)]
    fn dims(&self) -> [usize; 4] {
        let l = self.layout();
        [l.n, l.k, l.group_len, l.groups_per_row]
    }
    #[inline(always)]
    fn plane(&self, i: usize) -> &'a [u8] {
        if i == 0 {
            self.codes()
        } else {
            self.high()
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
        match self.scales() {
            FpScalesRef::F16(v) => (v.as_ptr().cast(), 2),
            FpScalesRef::E8M0(v) | FpScalesRef::E4M3(v, _) => (v.as_ptr(), 1),
        }
    }
    #[inline(always)]
    fn zeros_ptr(&self) -> Option<*const u8> {
        None
    }
}

/// The A8 scales of the step that starts at element `e0` of row `n`: its `GPS` groups
/// (starting at group `e0 >> gshift`) spread over the lanes, as f32 (the decode's
/// `2^int_shift` is undone by [`super::A8Decode::LANE_UNIT`]); no zero-points. E8M0
/// bytes are decoded in vector lanes ([`Dot::e8m0`]).
///
/// # Safety
/// The step's `GPS` groups lie within row `n`'s (the [`super::A8Decode::scales`]
/// contract).
#[inline(always)]
pub(crate) unsafe fn a8_scales<S: Dot, const GPS: usize>(
    s: S,
    w: &FpMatrixRef<'_>,
    n: usize,
    e0: usize,
    gshift: u32,
) -> (S::F, S::I) {
    let l = w.layout();
    let j = n * l.groups_per_row + (e0 >> gshift);
    debug_assert!(j + GPS <= l.scales_len);
    let sw = match w.scales() {
        // SAFETY: the step's GPS groups of row n exist (the caller's contract).
        FpScalesRef::F16(v) => unsafe { s.f16_spread(v.as_ptr().add(j).cast(), GPS) },
        FpScalesRef::E8M0(v) => {
            // SAFETY: as above (one byte per group).
            let e = unsafe { s.u8_spread(v.as_ptr().add(j), GPS) };
            s.e8m0(e)
        }
        FpScalesRef::E4M3(v, t) => {
            // SAFETY: as above (one byte per group).
            let b = unsafe { s.u8_spread(v.as_ptr().add(j), GPS) };
            // Exponent and mantissa to f32 bits 20..27 (sign to 31): the f32 with those
            // bits is the E4M3 value times 2^-120 exactly, subnormals included.
            let m = s.isll(s.iand(b, s.isplat(0x7F)), 20);
            let sign = s.isll(s.iand(b, s.isplat(0x80)), 24);
            let e4 = s.fmul(s.fbits(s.ior(m, sign)), s.fsplat(E4M3_UNIT));
            s.fmul(e4, s.fsplat(t))
        }
    };
    (sw, s.isplat(0))
}

/// The batched GEMM's per-lane parameters of groups `j0 .. j0 + nj` of the row group:
/// each lane's scale (no zero-points).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn gemm_params<S: Simd>(
    s: S,
    w: &FpMatrixRef<'_>,
    rg: &RowGroup,
    j0: usize,
    nj: usize,
    p: &mut [(S::F, S::F); GPC],
) {
    let nj = nj.min(GPC);
    let mut sb = [[0.0f32; 16]; GPC];
    for (i, &row) in rg.rows[..S::LANES].iter().enumerate() {
        let mut col = [0.0f32; GPC];
        scales_into(s, w, row, j0, &mut col[..nj]);
        for (lanes, &v) in sb.iter_mut().zip(&col[..nj]) {
            lanes[i] = v;
        }
    }
    for jj in 0..nj {
        // SAFETY: `sb[jj]` holds 16 >= LANES values.
        p[jj] = (unsafe { s.fload(sb[jj].as_ptr()) }, s.fzero());
    }
}

/// The view items every minifloat decode impl shares: the view type and its accessor.
macro_rules! fp_view_items {
    () => {
        type W<'a> = lowbit_formats::fp::FpMatrixRef<'a>;

        #[inline(always)]
        fn view<'a>(w: &$crate::contract::Weights<'a>) -> lowbit_formats::fp::FpMatrixRef<'a> {
            $crate::contract::fp_weights(w)
        }
    };
}
pub(crate) use fp_view_items;

/// The items every minifloat [`super::A8Decode`] impl shares (inside the impl): the view,
/// the reference's tail and [`a8_scales`].
macro_rules! fp_a8_items {
    () => {
        $crate::decode::fp::fp_view_items!();

        #[inline(always)]
        fn tail(
            w: &lowbit_formats::fp::FpMatrixRef<'_>,
            x: &$crate::a8::A8Activations,
            n: usize,
            first_block: usize,
        ) -> f32 {
            $crate::reference::gemv_a8::row_from_block(w, x, n, first_block)
        }

        #[inline(always)]
        unsafe fn scales<const GPS: usize, const SYM: bool>(
            s: S,
            w: &lowbit_formats::fp::FpMatrixRef<'_>,
            n: usize,
            st: usize,
            gshift: u32,
        ) -> (S::F, S::I) {
            let e0 = st * <Self as $crate::decode::A8Decode<S>>::STEP;
            // SAFETY: the caller's contract is a8_scales'.
            unsafe { $crate::decode::fp::a8_scales::<S, GPS>(s, w, n, e0, gshift) }
        }
    };
}
pub(crate) use fp_a8_items;

/// The items every minifloat x86 [`super::GemvDecode`] impl shares: the view, the group
/// scales ([`scales_into`]), no zero-points, and the element-by-element tail.
#[cfg(target_arch = "x86_64")]
macro_rules! fp_gemv_items {
    () => {
        $crate::decode::fp::fp_view_items!();

        #[inline(always)]
        fn scales(
            s: S,
            w: &lowbit_formats::fp::FpMatrixRef<'_>,
            n: usize,
            j0: usize,
            out: &mut [f32],
        ) {
            $crate::decode::fp::scales_into(s, w, n, j0, out)
        }

        #[inline(always)]
        fn zeros(_: S, _: &lowbit_formats::fp::FpMatrixRef<'_>, _: usize, _: usize, _: &mut [f32]) {
        }

        #[inline(always)]
        fn tail(
            w: &lowbit_formats::fp::FpMatrixRef<'_>,
            n: usize,
            _j: usize,
            ks: core::ops::Range<usize>,
            x: &[f32],
        ) -> f32 {
            use $crate::reference::Elements;
            let mut t = 0.0f32;
            for k in ks {
                t += w.elem(n, k) * x[k];
            }
            t
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use fp_gemv_items;

/// The items every minifloat x86 [`super::GemmDecode`] impl shares: the view, the lanes'
/// scales ([`gemm_params`]) and the reference's fused weight for tails.
#[cfg(target_arch = "x86_64")]
macro_rules! fp_gemm_items {
    () => {
        $crate::decode::fp::fp_view_items!();

        #[inline(always)]
        fn params(
            s: S,
            w: &lowbit_formats::fp::FpMatrixRef<'_>,
            rg: &$crate::driver::gemm::RowGroup,
            j0: usize,
            nj: usize,
            p: &mut [(S::F, S::F); $crate::driver::gemm::GPC],
        ) {
            $crate::decode::fp::gemm_params(s, w, rg, j0, nj, p)
        }

        #[inline(always)]
        fn scalar(w: &lowbit_formats::fp::FpMatrixRef<'_>, n: usize, k: usize) -> f32 {
            use $crate::reference::Elements;
            w.fused(n, k)
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use fp_gemm_items;
