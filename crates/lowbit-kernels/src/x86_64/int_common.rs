//! Pieces shared by the SIMD INT GEMV kernels (no SIMD in here, so `aarch64` includes
//! this file too): the argument checks every kernel repeats, the activation reordering
//! that lets the decode skip interleaving, and the scalar tail of per-row groups.
//!
//! The layout trick: a SIMD kernel widens a run of code bytes so that f32 lane `i` holds
//! byte `i`, which carries `p = 8 / b` codes (elements `p*i .. p*i + p`). Shifting the
//! lanes right by `b*t` puts element `p*i + t` at the bottom of lane `i`, so a run of
//! `lanes` bytes decodes into `p` vectors, vector `t` holding elements `p*i + t`. Rather
//! than shuffling the weights back into element order (per row), the kernels reorder `x`
//! once per call into the same order ([`permute_x`]).

use std::borrow::Cow;

use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::dispatch::Isa;
use crate::gemv::assert_gemv_args;

/// The checks every INT kernel asserts before entering its `#[target_feature]` code:
/// the GEMV preconditions (which every memory access relies on), the bit width and the
/// ISA.
pub(crate) fn assert_kernel_args(
    w: &IntMatrixRef<'_>,
    x: &[f32],
    rows: &Range<usize>,
    y: &[f32],
    bits: u8,
    isa: Isa,
) {
    assert_gemv_args(w, x, rows, y);
    assert_eq!(
        w.format().bits,
        bits,
        "INT{bits} kernel called on another width"
    );
    assert!(isa.is_available(), "{isa} kernel called without {isa}");
}

/// `x` in the order the kernels decode weights: within each whole `chunk` of each group
/// (starting at the group's start), every `run` of elements is reordered by
/// `transpose(src_run, dst_run)`, which writes `dst[t * lanes + i] = src[per_byte * i + t]`
/// (`lanes = run / per_byte`). Elements after the last whole chunk of a group (per-row
/// groups only) keep their place. `per_byte == 1` borrows `x`.
#[inline(always)]
pub(crate) fn permute_x<F: FnMut(&[f32], &mut [f32])>(
    x: &[f32],
    group: usize,
    chunk: usize,
    run: usize,
    per_byte: usize,
    mut transpose: F,
) -> Cow<'_, [f32]> {
    if per_byte == 1 {
        return Cow::Borrowed(x);
    }
    debug_assert!(chunk.is_multiple_of(run) && group > 0);
    let mut xp = x.to_vec();
    let whole = group / chunk * chunk;
    for (dst, src) in xp.chunks_exact_mut(group).zip(x.chunks_exact(group)) {
        for (d, s) in dst[..whole]
            .chunks_exact_mut(run)
            .zip(src[..whole].chunks_exact(run))
        {
            transpose(s, d);
        }
    }
    Cow::Owned(xp)
}

/// `sum_{k in ks} (q_k - z) * x_k` for row `n`, element by element (the part of a
/// per-row group after its last whole chunk; at most one chunk long).
pub(crate) fn tail_dot(w: &IntMatrixRef<'_>, n: usize, ks: Range<usize>, x: &[f32], z: f32) -> f32 {
    let mut t = 0.0f32;
    for k in ks {
        t += (f32::from(w.code(n, k)) - z) * x[k];
    }
    t
}

/// The zero-point of symmetric groups, as f32.
pub(crate) fn symmetric_zero(w: &IntMatrixRef<'_>) -> f32 {
    f32::from(w.format().symmetric_zero())
}
