//! What every minifloat decode step shares: the [`Planar`] view of an [`FpMatrixRef`]
//! (plane 0 the 4-bit codes, plane 1 FP6's high two bits) and the group scales as f32
//! (f16 widened, E8M0 through a 256-entry table).

use lowbit_formats::fp::{FpMatrixRef, FpScalesRef};
#[cfg(target_arch = "x86_64")]
use lowbit_formats::minifloat::e8m0_decode;

#[cfg(target_arch = "x86_64")]
use super::int::f16_widen;
use super::Planar;
#[cfg(target_arch = "x86_64")]
use crate::driver::gemm::{RowGroup, GPC};
use crate::simd::Dot;
#[cfg(target_arch = "x86_64")]
use crate::simd::Simd;

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
            FpScalesRef::E8M0(v) => (v.as_ptr(), 1),
        }
    }
    #[inline(always)]
    fn zeros_ptr(&self) -> Option<*const u8> {
        None
    }
}

/// The A8 scales of the step that starts at element `e0` of row `n`: its `GPS` groups
/// (starting at group `e0 >> gshift`) spread over the lanes, as f32 (the decode's
/// `2^int_shift` is undone by [`super::A8Decode::LANE_UNIT`]); no zero-points. An E8M0
/// byte `e` becomes `2^(e - 127)` in integer lanes: `e << 23` is its f32 bit pattern for
/// `e >= 1`, and `e = 0` (`2^-127`, subnormal) is bit 22, set by `(e - 1) >> 31` (logical).
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
            let sub = s.isll(s.isrl(s.isub(e, s.isplat(1)), 31), 22);
            s.fbits(s.ior(s.isll(e, 23), sub))
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
