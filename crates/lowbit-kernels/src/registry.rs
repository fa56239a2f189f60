//! The one table of kernels.
//!
//! Every kernel family has a function-pointer type (one interface shape for all ISAs)
//! and a list of entries, best first. An entry names the kernel (grammar:
//! `<op>_<weights>_<activations>_<isa>`), the ISA it needs and the formats it handles.
//! [`Table::select`] walks the list and returns the first entry the ISA cap allows and
//! the format's key accepts. Adding a kernel = a decode step plus one entry here; tests,
//! benchmarks and `lowbit info` walk the same lists.

use core::ops::Range;

use lowbit_formats::fp::{FpElem, FpScale};

use crate::a8::A8Activations;
use crate::contract::{Out, Weights};
use crate::dispatch::{Isa, Variant};
use crate::reference;

/// What a kernel entry can take: the weight scheme and the group length (`K` for
/// per-row groups), the facts selection depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelKey {
    /// The weight scheme.
    pub scheme: Scheme,
    /// Elements per group along `K`.
    pub group_len: usize,
}

/// A weight scheme, as kernel selection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// INT-`bits`, with or without zero-points.
    Int {
        /// Bits per code.
        bits: u8,
        /// Whether groups carry a zero-point.
        zero_point: bool,
    },
    /// Minifloat weights (FP4 E2M1, FP6 E3M2 / E2M3), with the scale kind.
    Fp {
        /// The element type.
        elem: FpElem,
        /// How the group scales are stored.
        scale: FpScale,
    },
}

impl KernelKey {
    /// The key of a matrix.
    pub fn of(w: &Weights<'_>) -> KernelKey {
        match w {
            Weights::Int(m) => KernelKey {
                scheme: Scheme::Int {
                    bits: m.format().bits,
                    zero_point: m.format().zero_point,
                },
                group_len: m.layout().group_len,
            },
            Weights::Fp(m) => KernelKey {
                scheme: Scheme::Fp {
                    elem: m.format().elem,
                    scale: m.format().scale,
                },
                group_len: m.layout().group_len,
            },
        }
    }

    /// The INT bit width, for INT keys.
    pub fn int_bits(&self) -> Option<u8> {
        match self.scheme {
            Scheme::Int { bits, .. } => Some(bits),
            _ => None,
        }
    }
}

/// One registered kernel of any operation (`F` is the operation's function type).
#[derive(Debug)]
pub struct Entry<F: 'static> {
    /// Name, `<op>_<weights>_<activations>_<variant>`.
    pub name: &'static str,
    /// The ISA variant whose instructions the kernel uses.
    pub variant: Variant,
    /// Whether the kernel takes matrices of this key.
    pub accepts: fn(&KernelKey) -> bool,
    /// The kernel.
    pub run: F,
}

/// A registry table: the entries of one operation, best first (the architecture's
/// variants, best first, then the scalar reference).
#[derive(Debug)]
pub struct Table<F: 'static>(&'static [&'static [Entry<F>]]);

impl<F> Table<F> {
    /// Every entry, best first.
    pub fn iter(&self) -> impl Iterator<Item = &'static Entry<F>> + Clone {
        self.0.iter().flat_map(|t| t.iter())
    }

    /// The best entry that takes `key`, that `cap` allows and that this CPU can run.
    pub fn select(&self, cap: Isa, key: &KernelKey) -> Option<&'static Entry<F>> {
        self.iter()
            .find(|e| cap.allows(e.variant.isa()) && e.variant.is_available() && (e.accepts)(key))
    }
}

/// INT-`B` weights of any group length.
fn int_b<const B: u8>(key: &KernelKey) -> bool {
    key.int_bits() == Some(B)
}

/// Any INT weights.
fn any_int(key: &KernelKey) -> bool {
    key.int_bits().is_some()
}

/// A GEMV kernel with activations quantized to int8 per block of 32
/// ([`A8Activations`], `x.k() == K`): `y[i] = sum_k W[rows.start + i, k] * x8[k]`,
/// written through the [`Out`]. Preconditions as for [`GemvF32::run`].
pub type GemvA8Fn = fn(&Weights<'_>, &A8Activations, Range<usize>, &mut [f32], &Out<'_>);

/// A GEMM kernel with f32 activations:
/// `y[mi*ldy + (n - rows.start)] = sum_k W[n, k] * x[mi*K + k]` for `mi < m`, `n` in `rows`
/// (`x` row-major `[m][K]`, `y` row-major with leading dimension `ldy`), written through
/// the [`Out`].
///
/// Preconditions (checked by [`crate::gemv::gemm`] before the call, and asserted again by
/// each kernel because its memory safety depends on them): those of
/// [`crate::contract::check_gemm_args`] and [`crate::contract::check_out`], a matrix the
/// entry accepts, and a CPU with the entry's variant.
pub type GemmFn = fn(&Weights<'_>, &[f32], usize, Range<usize>, &mut [f32], usize, &Out<'_>);

/// A GEMV kernel with f32 activations: `prepare` reorders the activations for the
/// kernel's decode (into a caller buffer of `K` values; `false` means "use them as
/// given"), once per activation vector; `run` computes
/// `y[i] = sum_k W[rows.start + i, k] * xp[k]` for `i < rows.len()` from the prepared
/// activations, written through the [`Out`].
///
/// Preconditions of `run` (checked by [`crate::gemv`] before the call, and asserted again
/// by each kernel because its memory safety depends on them): those of
/// [`crate::contract::check_gemv_args`] and [`crate::contract::check_out`], a matrix the
/// entry accepts, activations prepared by the same entry, and a CPU with its variant.
#[derive(Debug, Clone, Copy)]
pub struct GemvF32 {
    /// Reorders `x` into `xp` (same length), or returns `false`.
    pub prepare: fn(&Weights<'_>, &[f32], &mut [f32]) -> bool,
    /// Computes a row range from the prepared activations.
    pub run: fn(&Weights<'_>, &[f32], Range<usize>, &mut [f32], &Out<'_>),
}

/// The f32 GEMV of variant `S` and decode step `D`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const fn gemv_f32<S: crate::driver::gemv::GemvShape, D: crate::decode::GemvDecode<S>>() -> GemvF32 {
    GemvF32 {
        prepare: crate::driver::gemv::prepare::<S, D>,
        run: crate::driver::gemv::gemv::<S, D>,
    }
}

/// The batched GEMM of variant `S` and decode step `D`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const fn gemm_f32<S: crate::driver::gemm::GemmShape, D: crate::decode::GemmDecode<S>>() -> GemmFn {
    crate::driver::gemm::gemm::<S, D>
}

/// The element of a minifloat key's code in [`fp_elem`]: 0 E2M1, 1 E3M2, 2 E2M3, 3 E4M3,
/// 4 E5M2, 5 OVP-4, 6 OVP-8.
const fn elem_code(e: FpElem) -> u8 {
    match e {
        FpElem::E2M1 => 0,
        FpElem::E3M2 => 1,
        FpElem::E2M3 => 2,
        FpElem::E4M3 => 3,
        FpElem::E5M2 => 4,
        FpElem::Ovp4 => 5,
        FpElem::Ovp8 => 6,
        // Elements added later match no entry until they get one.
        _ => u8::MAX,
    }
}

/// Minifloat weights of element `E` ([`elem_code`]; any scale kind) with groups of at
/// least `MIN_G` elements. The f32 GEMV decodes chunks of `2 * LANES` elements (32 on
/// AVX-512, 16 on AVX2) and the GEMM reads one scale per 16-byte block (at least 16
/// codes), so their SIMD entries take groups of at least one chunk or block
/// ([`min_group`]); NVFP4's groups of 16 run on every A8 kernel (8-element lanes), on
/// AVX2's f32 GEMV, and on the reference GEMM.
fn fp_elem<const E: u8, const MIN_G: usize>(key: &KernelKey) -> bool {
    key.group_len >= MIN_G && matches!(key.scheme, Scheme::Fp { elem, .. } if elem_code(elem) == E)
}

/// Minifloat weights of any element type.
fn any_fp(key: &KernelKey) -> bool {
    matches!(key.scheme, Scheme::Fp { .. })
}

/// Minifloat weights against int8 activations: every FP4 / FP6 element is a small integer
/// times a power of two ([`FpElem::int_shift`]: E2M1 as `2 e` in -12..=12, E2M3 as `8 e`
/// in -60..=60, E3M2 as `16 e` in -448..=448), so the scalar A8 kernel takes them all;
/// FP8 does not fit ([`FpElem::has_a8`]) and has no A8 kernel. The SIMD A8 kernels: E2M1
/// and E2M3 on every variant (byte dots); E3M2 on AVX-512 and NEON only (i16 dots after a
/// 64-entry i16 table lookup, [`crate::simd::Dot16`]: AVX2 has no such lookup, so E3M2
/// stays on its f32 kernel there).
fn fp_a8(key: &KernelKey) -> bool {
    matches!(key.scheme, Scheme::Fp { elem, .. } if elem.has_a8())
}

/// `a == b`, in a const context.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The smallest group the FP entry of `op` with activations `act` on variant `vname`
/// takes (see [`fp4`]): any for A8 (8-element lanes); 16 for AVX2's f32 GEMV (its chunks
/// are 16 elements, so a group of 16 is one whole chunk); 32 for the other f32 entries.
const fn min_group(op: &str, act: &str, vname: &str) -> usize {
    if str_eq(act, "a8") {
        1
    } else if str_eq(op, "gemv") && str_eq(vname, "avx2") {
        16
    } else {
        32
    }
}

/// One registry entry of `$op` for a minifloat element on one variant:
/// `$make::<$token, $decode>()`, named `<op>_<elem>_<act>_<variant>`, taking what
/// `$accepts` says.
macro_rules! fp_entry {
    ($op:literal, $elem:literal, $act:literal, $vname:literal, $variant:ident, $make:ident,
     $token:ty, $accepts:expr, $decode:ty) => {
        Entry {
            name: concat!($op, "_", $elem, "_", $act, "_", $vname),
            variant: Variant::$variant,
            accepts: $accepts,
            run: $make::<$token, $decode>(),
        }
    };
}

/// The entry of `$op` for FP4 E2M1 on one variant.
macro_rules! fp4_entry {
    ($op:literal, $act:literal, $vname:literal, $variant:ident, $make:ident, $token:ty) => {
        fp_entry!(
            $op,
            "fp4",
            $act,
            $vname,
            $variant,
            $make,
            $token,
            fp_elem::<0, { min_group($op, $act, $vname) }>,
            crate::decode::fp4::Fp4
        )
    };
}

/// The entries of `$op` for FP6 E3M2 and E2M3, FP8 E4M3 and E5M2, and OVP-4 and OVP-8
/// (f32 activations) on one variant.
#[cfg(target_arch = "x86_64")]
macro_rules! fp6_entries {
    ($op:literal, $vname:literal, $variant:ident, $make:ident, $token:ty) => {
        [
            fp_entry!(
                $op,
                "fp6e3m2",
                "f32",
                $vname,
                $variant,
                $make,
                $token,
                fp_elem::<1, { min_group($op, "f32", $vname) }>,
                crate::decode::fp6::Fp6<true>
            ),
            fp_entry!(
                $op,
                "fp6e2m3",
                "f32",
                $vname,
                $variant,
                $make,
                $token,
                fp_elem::<2, { min_group($op, "f32", $vname) }>,
                crate::decode::fp6::Fp6<false>
            ),
            fp_entry!(
                $op,
                "fp8e4m3",
                "f32",
                $vname,
                $variant,
                $make,
                $token,
                fp_elem::<3, { min_group($op, "f32", $vname) }>,
                crate::decode::fp8::Fp8<false>
            ),
            fp_entry!(
                $op,
                "fp8e5m2",
                "f32",
                $vname,
                $variant,
                $make,
                $token,
                fp_elem::<4, { min_group($op, "f32", $vname) }>,
                crate::decode::fp8::Fp8<true>
            ),
            fp_entry!(
                $op,
                "ovp4",
                "f32",
                $vname,
                $variant,
                $make,
                $token,
                fp_elem::<5, { min_group($op, "f32", $vname) }>,
                crate::decode::ovp::Ovp<4>
            ),
            fp_entry!(
                $op,
                "ovp8",
                "f32",
                $vname,
                $variant,
                $make,
                $token,
                fp_elem::<6, { min_group($op, "f32", $vname) }>,
                crate::decode::ovp::Ovp<8>
            ),
        ]
    };
}

/// The A8 entry for FP6 E2M3 on one variant.
macro_rules! e2m3_a8_entry {
    ($vname:literal, $variant:ident, $token:ty) => {
        fp_entry!(
            "gemv",
            "fp6e2m3",
            "a8",
            $vname,
            $variant,
            gemv_a8,
            $token,
            fp_elem::<2, 1>,
            crate::decode::fp6::Fp6<false>
        )
    };
}

/// The A8 entry for OVP-4 on one variant.
macro_rules! ovp4_a8_entry {
    ($vname:literal, $variant:ident, $token:ty) => {
        fp_entry!(
            "gemv",
            "ovp4",
            "a8",
            $vname,
            $variant,
            gemv_a8,
            $token,
            fp_elem::<5, 1>,
            crate::decode::ovp::Ovp<4>
        )
    };
}

/// The A8 entry for FP6 E3M2 on one variant (AVX-512 and NEON: see [`fp_a8`]).
macro_rules! e3m2_a8_entry {
    ($vname:literal, $variant:ident, $token:ty) => {
        fp_entry!(
            "gemv",
            "fp6e3m2",
            "a8",
            $vname,
            $variant,
            gemv_a8,
            $token,
            fp_elem::<1, 1>,
            crate::decode::fp6::Fp6<true>
        )
    };
}

/// INT-`B` weights whose group length is a multiple of 64.
#[cfg(target_arch = "x86_64")]
fn int_b_g64<const B: u8>(key: &KernelKey) -> bool {
    int_b::<B>(key) && key.group_len.is_multiple_of(64)
}

/// Registry entries of `$op` for INT-`b` (each `b` of the list) on one variant:
/// `$make::<$token, Int<b>>()`, taking matrices `$accepts::<b>` says; then the `$extra`
/// entries (other formats on the same variant).
macro_rules! int_entries {
    ($op:literal, $act:literal, $vname:literal, $variant:ident, $make:ident, $token:ty,
     [$($b:literal: $accepts:ident),*] $(, $extra:expr)*) => {
        [$(
            Entry {
                name: concat!($op, "_int", $b, "_", $act, "_", $vname),
                variant: Variant::$variant,
                accepts: $accepts::<$b>,
                run: $make::<$token, crate::decode::int::Int<$b>>(),
            }
        ),* $(, $extra)*]
    };
}

#[cfg(target_arch = "x86_64")]
static GEMV_AVX512: [Entry<GemvF32>; 5] = int_entries!(
    "gemv", "f32", "avx512", Avx512, gemv_f32, crate::simd::avx512::Avx512<false>,
    // INT2/3 chunks are 64 elements: other groups take the AVX2 entries.
    [4: int_b, 8: int_b, 2: int_b_g64, 3: int_b_g64],
    fp4_entry!("gemv", "f32", "avx512", Avx512, gemv_f32, crate::simd::avx512::Avx512<false>)
);
#[cfg(target_arch = "x86_64")]
static GEMV_AVX2: [Entry<GemvF32>; 5] = int_entries!(
    "gemv", "f32", "avx2", Avx2, gemv_f32, crate::simd::avx2::Avx2,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemv", "f32", "avx2", Avx2, gemv_f32, crate::simd::avx2::Avx2)
);
#[cfg(target_arch = "aarch64")]
static GEMV_NEON: [Entry<GemvF32>; 4] = int_entries!(
    "gemv", "f32", "neon", Neon, gemv_f32, crate::simd::neon::Neon<false>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b]
);
#[cfg(target_arch = "x86_64")]
static GEMV_FP68_AVX512: [Entry<GemvF32>; 6] = fp6_entries!(
    "gemv",
    "avx512",
    Avx512,
    gemv_f32,
    crate::simd::avx512::Avx512<false>
);
#[cfg(target_arch = "x86_64")]
static GEMV_FP68_AVX2: [Entry<GemvF32>; 6] =
    fp6_entries!("gemv", "avx2", Avx2, gemv_f32, crate::simd::avx2::Avx2);
/// The reference f32 GEMV (every format).
const GEMV_REF: GemvF32 = GemvF32 {
    prepare: reference::gemv::no_prepare,
    run: reference::gemv::gemv,
};
static GEMV_SCALAR: [Entry<GemvF32>; 2] = [
    Entry {
        name: "gemv_int_f32_scalar",
        variant: Variant::Scalar,
        accepts: any_int,
        run: GEMV_REF,
    },
    Entry {
        name: "gemv_fp_f32_scalar",
        variant: Variant::Scalar,
        accepts: any_fp,
        run: GEMV_REF,
    },
];

/// The GEMV kernels with f32 activations.
pub static GEMV: Table<GemvF32> = Table(&[
    #[cfg(target_arch = "x86_64")]
    &GEMV_AVX512,
    #[cfg(target_arch = "x86_64")]
    &GEMV_FP68_AVX512,
    #[cfg(target_arch = "x86_64")]
    &GEMV_AVX2,
    #[cfg(target_arch = "x86_64")]
    &GEMV_FP68_AVX2,
    #[cfg(target_arch = "aarch64")]
    &GEMV_NEON,
    &GEMV_SCALAR,
]);

#[cfg(target_arch = "x86_64")]
static GEMM_AVX512: [Entry<GemmFn>; 5] = int_entries!(
    "gemm", "f32", "avx512", Avx512, gemm_f32, crate::simd::avx512::Avx512<false>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemm", "f32", "avx512", Avx512, gemm_f32, crate::simd::avx512::Avx512<false>)
);
#[cfg(target_arch = "x86_64")]
static GEMM_AVX2: [Entry<GemmFn>; 5] = int_entries!(
    "gemm", "f32", "avx2", Avx2, gemm_f32, crate::simd::avx2::Avx2,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemm", "f32", "avx2", Avx2, gemm_f32, crate::simd::avx2::Avx2)
);
#[cfg(target_arch = "aarch64")]
static GEMM_NEON: [Entry<GemmFn>; 4] = int_entries!(
    "gemm", "f32", "neon", Neon, gemm_f32, crate::simd::neon::Neon<false>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b]
);
#[cfg(target_arch = "x86_64")]
static GEMM_FP68_AVX512: [Entry<GemmFn>; 6] = fp6_entries!(
    "gemm",
    "avx512",
    Avx512,
    gemm_f32,
    crate::simd::avx512::Avx512<false>
);
#[cfg(target_arch = "x86_64")]
static GEMM_FP68_AVX2: [Entry<GemmFn>; 6] =
    fp6_entries!("gemm", "avx2", Avx2, gemm_f32, crate::simd::avx2::Avx2);
static GEMM_SCALAR: [Entry<GemmFn>; 2] = [
    Entry {
        name: "gemm_int_f32_scalar",
        variant: Variant::Scalar,
        accepts: any_int,
        run: reference::gemm::gemm,
    },
    Entry {
        name: "gemm_fp_f32_scalar",
        variant: Variant::Scalar,
        accepts: any_fp,
        run: reference::gemm::gemm,
    },
];

/// The batched GEMM kernels (f32 activations).
pub static GEMM: Table<GemmFn> = Table(&[
    #[cfg(target_arch = "x86_64")]
    &GEMM_AVX512,
    #[cfg(target_arch = "x86_64")]
    &GEMM_FP68_AVX512,
    #[cfg(target_arch = "x86_64")]
    &GEMM_AVX2,
    #[cfg(target_arch = "x86_64")]
    &GEMM_FP68_AVX2,
    #[cfg(target_arch = "aarch64")]
    &GEMM_NEON,
    &GEMM_SCALAR,
]);

/// The A8 GEMV of variant `S` and decode step `D`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const fn gemv_a8<S: crate::driver::gemv_a8::A8Shape, D: crate::decode::A8Decode<S>>() -> GemvA8Fn {
    crate::driver::gemv_a8::gemv_a8::<S, D>
}

#[cfg(target_arch = "x86_64")]
static GEMV_A8_AVX512VNNI: [Entry<GemvA8Fn>; 8] = int_entries!(
    "gemv", "a8", "avx512vnni", Avx512Vnni, gemv_a8, crate::simd::avx512::Avx512<true>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemv", "a8", "avx512vnni", Avx512Vnni, gemv_a8, crate::simd::avx512::Avx512<true>),
    ovp4_a8_entry!("avx512vnni", Avx512Vnni, crate::simd::avx512::Avx512<true>),
    e2m3_a8_entry!("avx512vnni", Avx512Vnni, crate::simd::avx512::Avx512<true>),
    e3m2_a8_entry!("avx512vnni", Avx512Vnni, crate::simd::avx512::Avx512<true>)
);
#[cfg(target_arch = "x86_64")]
static GEMV_A8_AVX512: [Entry<GemvA8Fn>; 8] = int_entries!(
    "gemv", "a8", "avx512", Avx512, gemv_a8, crate::simd::avx512::Avx512<false>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemv", "a8", "avx512", Avx512, gemv_a8, crate::simd::avx512::Avx512<false>),
    ovp4_a8_entry!("avx512", Avx512, crate::simd::avx512::Avx512<false>),
    e2m3_a8_entry!("avx512", Avx512, crate::simd::avx512::Avx512<false>),
    e3m2_a8_entry!("avx512", Avx512, crate::simd::avx512::Avx512<false>)
);
#[cfg(target_arch = "x86_64")]
static GEMV_A8_AVX2: [Entry<GemvA8Fn>; 7] = int_entries!(
    "gemv", "a8", "avx2", Avx2, gemv_a8, crate::simd::avx2::Avx2,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemv", "a8", "avx2", Avx2, gemv_a8, crate::simd::avx2::Avx2),
    ovp4_a8_entry!("avx2", Avx2, crate::simd::avx2::Avx2),
    e2m3_a8_entry!("avx2", Avx2, crate::simd::avx2::Avx2)
);
#[cfg(target_arch = "aarch64")]
static GEMV_A8_NEONDOT: [Entry<GemvA8Fn>; 8] = int_entries!(
    "gemv", "a8", "neondot", NeonDot, gemv_a8, crate::simd::neon::Neon<true>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemv", "a8", "neondot", NeonDot, gemv_a8, crate::simd::neon::Neon<true>),
    ovp4_a8_entry!("neondot", NeonDot, crate::simd::neon::Neon<true>),
    e2m3_a8_entry!("neondot", NeonDot, crate::simd::neon::Neon<true>),
    e3m2_a8_entry!("neondot", NeonDot, crate::simd::neon::Neon<true>)
);
#[cfg(target_arch = "aarch64")]
static GEMV_A8_NEON: [Entry<GemvA8Fn>; 8] = int_entries!(
    "gemv", "a8", "neon", Neon, gemv_a8, crate::simd::neon::Neon<false>,
    [4: int_b, 8: int_b, 2: int_b, 3: int_b],
    fp4_entry!("gemv", "a8", "neon", Neon, gemv_a8, crate::simd::neon::Neon<false>),
    ovp4_a8_entry!("neon", Neon, crate::simd::neon::Neon<false>),
    e2m3_a8_entry!("neon", Neon, crate::simd::neon::Neon<false>),
    e3m2_a8_entry!("neon", Neon, crate::simd::neon::Neon<false>)
);
static GEMV_A8_SCALAR: [Entry<GemvA8Fn>; 2] = [
    Entry {
        name: "gemv_int_a8_scalar",
        variant: Variant::Scalar,
        accepts: any_int,
        run: reference::gemv_a8::gemv,
    },
    Entry {
        name: "gemv_fp_a8_scalar",
        variant: Variant::Scalar,
        accepts: fp_a8,
        run: reference::gemv_a8::gemv,
    },
];

/// The GEMV kernels with A8 activations (integer dot products).
pub static GEMV_A8: Table<GemvA8Fn> = Table(&[
    #[cfg(target_arch = "x86_64")]
    &GEMV_A8_AVX512VNNI,
    #[cfg(target_arch = "x86_64")]
    &GEMV_A8_AVX512,
    #[cfg(target_arch = "x86_64")]
    &GEMV_A8_AVX2,
    #[cfg(target_arch = "aarch64")]
    &GEMV_A8_NEONDOT,
    #[cfg(target_arch = "aarch64")]
    &GEMV_A8_NEON,
    &GEMV_A8_SCALAR,
]);

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bits: u8, group_len: usize) -> KernelKey {
        KernelKey {
            scheme: Scheme::Int {
                bits,
                zero_point: false,
            },
            group_len,
        }
    }

    #[test]
    fn every_width_has_a_kernel_on_every_available_isa() {
        for isa in Isa::available() {
            for bits in [2u8, 3, 4, 8] {
                for g in [32, 64, 96, 128] {
                    let k = GEMV.select(isa, &key(bits, g)).expect("a kernel");
                    assert!(isa.allows(k.variant.isa()));
                    let k = GEMV_A8.select(isa, &key(bits, g)).expect("an A8 kernel");
                    assert!(isa.allows(k.variant.isa()));
                    let k = GEMM.select(isa, &key(bits, g)).expect("a GEMM kernel");
                    assert!(isa.allows(k.variant.isa()));
                }
            }
        }
    }

    #[test]
    fn names_follow_the_grammar_and_are_unique() {
        fn check<F>(table: &Table<F>, op: &str, act: &str) {
            let names: Vec<_> = table.iter().map(|k| k.name).collect();
            for e in table.iter() {
                let want_end = format!("_{act}_{}", e.variant.name());
                assert!(
                    e.name.starts_with(op) && e.name.ends_with(&want_end),
                    "{}",
                    e.name
                );
                assert_eq!(names.iter().filter(|m| **m == e.name).count(), 1);
            }
        }
        check(&GEMV, "gemv_", "f32");
        check(&GEMV_A8, "gemv_", "a8");
        check(&GEMM, "gemm_", "f32");
    }

    #[test]
    fn tables_end_with_the_scalar_reference() {
        assert_eq!(GEMV.iter().last().unwrap().variant, Variant::Scalar);
        assert_eq!(GEMV_A8.iter().last().unwrap().variant, Variant::Scalar);
        assert_eq!(GEMM.iter().last().unwrap().variant, Variant::Scalar);
    }

    #[test]
    fn the_scalar_cap_selects_the_reference() {
        let k = key(4, 32);
        assert_eq!(
            GEMV.select(Isa::Scalar, &k).unwrap().variant,
            Variant::Scalar
        );
        assert_eq!(
            GEMV_A8.select(Isa::Scalar, &k).unwrap().variant,
            Variant::Scalar
        );
    }
}
