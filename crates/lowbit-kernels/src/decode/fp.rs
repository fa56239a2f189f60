//! What every minifloat decode step shares: the [`Planar`] view of an [`FpMatrixRef`]
//! (plane 0 the 4-bit codes, plane 1 FP6's high two bits) and the group scales as f32
//! (f16 widened, E8M0 through a 256-entry table).

use lowbit_formats::fp::{FpMatrixRef, FpScalesRef};
use lowbit_formats::minifloat::e8m0_decode;

#[cfg(target_arch = "x86_64")]
use super::int::f16_widen;
use super::Planar;
#[cfg(target_arch = "x86_64")]
use crate::simd::Simd;

/// `2^(e - 127)` for every E8M0 byte (the NaN byte never reaches a kernel: views refuse it).
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
