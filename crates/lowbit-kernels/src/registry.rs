//! The one table of kernels.
//!
//! Every kernel family has a function-pointer type (one interface shape for all ISAs)
//! and a list of entries, best first. An entry names the kernel (grammar:
//! `<op>_<weights>_<activations>_<isa>`), the ISA it needs and the formats it handles.
//! [`select_int_gemv`] walks the list and returns the first entry the ISA cap allows.
//! Adding a kernel = one module per ISA plus one entry here; tests, benchmarks and
//! `lowbit info` walk the same lists.

use core::ops::Range;

use lowbit_formats::int::IntMatrixRef;

use crate::a8::A8Activations;
use crate::dispatch::Isa;
use crate::reference;

/// An INT GEMV kernel: `y[i] = sum_k W[rows.start + i, k] * x[k]` for `i < rows.len()`.
///
/// Preconditions (checked by [`crate::gemv`] before the call, and asserted again by
/// each kernel because its memory safety depends on them): `x.len() == K`,
/// `rows.end <= N`, `y.len() == rows.len()`, and the format's bit width is one the entry
/// lists.
pub type IntGemvFn = fn(&IntMatrixRef<'_>, &[f32], Range<usize>, &mut [f32]);

/// One registered kernel.
#[derive(Debug)]
pub struct Kernel<F: 'static> {
    /// Name, `<op>_<weights>_<activations>_<isa>`.
    pub name: &'static str,
    /// The ISA the kernel needs.
    pub isa: Isa,
    /// Bit widths (or other format variants) the kernel handles.
    pub bits: &'static [u8],
    /// The kernel.
    pub run: F,
}

/// Portable kernels, valid on every architecture (the last resort of every lookup).
static PORTABLE_INT_GEMV: &[Kernel<IntGemvFn>] = &[Kernel {
    name: "gemv_int_f32_scalar",
    isa: Isa::Scalar,
    bits: &[2, 3, 4, 8],
    run: reference::int::gemv,
}];

#[cfg(target_arch = "x86_64")]
static ARCH_INT_GEMV: &[Kernel<IntGemvFn>] = &[
    Kernel {
        name: "gemv_int4_f32_avx512",
        isa: Isa::Avx512,
        bits: &[4],
        run: crate::x86_64::avx512::int::gemv_int4,
    },
    Kernel {
        name: "gemv_int8_f32_avx512",
        isa: Isa::Avx512,
        bits: &[8],
        run: crate::x86_64::avx512::int::gemv_int8,
    },
    Kernel {
        name: "gemv_int2_f32_avx512",
        isa: Isa::Avx512,
        bits: &[2],
        run: crate::x86_64::avx512::int::gemv_int2,
    },
    Kernel {
        name: "gemv_int3_f32_avx512",
        isa: Isa::Avx512,
        bits: &[3],
        run: crate::x86_64::avx512::int::gemv_int3,
    },
    Kernel {
        name: "gemv_int4_f32_avx2",
        isa: Isa::Avx2,
        bits: &[4],
        run: crate::x86_64::avx2::int::gemv_int4,
    },
    Kernel {
        name: "gemv_int8_f32_avx2",
        isa: Isa::Avx2,
        bits: &[8],
        run: crate::x86_64::avx2::int::gemv_int8,
    },
    Kernel {
        name: "gemv_int2_f32_avx2",
        isa: Isa::Avx2,
        bits: &[2],
        run: crate::x86_64::avx2::int::gemv_int2,
    },
    Kernel {
        name: "gemv_int3_f32_avx2",
        isa: Isa::Avx2,
        bits: &[3],
        run: crate::x86_64::avx2::int::gemv_int3,
    },
];

#[cfg(target_arch = "aarch64")]
static ARCH_INT_GEMV: &[Kernel<IntGemvFn>] = &[
    Kernel {
        name: "gemv_int4_f32_neon",
        isa: Isa::Neon,
        bits: &[4],
        run: crate::aarch64::neon::int::gemv_int4,
    },
    Kernel {
        name: "gemv_int8_f32_neon",
        isa: Isa::Neon,
        bits: &[8],
        run: crate::aarch64::neon::int::gemv_int8,
    },
    Kernel {
        name: "gemv_int2_f32_neon",
        isa: Isa::Neon,
        bits: &[2],
        run: crate::aarch64::neon::int::gemv_int2,
    },
    Kernel {
        name: "gemv_int3_f32_neon",
        isa: Isa::Neon,
        bits: &[3],
        run: crate::aarch64::neon::int::gemv_int3,
    },
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
static ARCH_INT_GEMV: &[Kernel<IntGemvFn>] = &[];

/// Every INT GEMV kernel compiled for this architecture, best first.
pub fn int_gemv_kernels() -> impl Iterator<Item = &'static Kernel<IntGemvFn>> {
    ARCH_INT_GEMV.iter().chain(PORTABLE_INT_GEMV.iter())
}

/// The best INT GEMV kernel for `bits` that `cap` allows and the CPU can run.
pub fn select_int_gemv(cap: Isa, bits: u8) -> Option<&'static Kernel<IntGemvFn>> {
    int_gemv_kernels().find(|k| k.bits.contains(&bits) && cap.allows(k.isa) && k.isa.is_available())
}

/// An INT x A8 GEMV kernel: like [`IntGemvFn`] with activations quantized to int8 per
/// block of 32 (`x.k() == K`).
pub type IntA8GemvFn = fn(&IntMatrixRef<'_>, &A8Activations, Range<usize>, &mut [f32]);

static PORTABLE_INT_A8_GEMV: &[Kernel<IntA8GemvFn>] = &[Kernel {
    name: "gemv_int_a8_scalar",
    isa: Isa::Scalar,
    bits: &[2, 3, 4, 8],
    run: reference::int_a8::gemv,
}];

#[cfg(target_arch = "x86_64")]
static ARCH_INT_A8_GEMV: &[Kernel<IntA8GemvFn>] = &[
    Kernel {
        name: "gemv_int4_a8_avx512",
        isa: Isa::Avx512,
        bits: &[4],
        run: crate::x86_64::avx512::a8::gemv_int4,
    },
    Kernel {
        name: "gemv_int2_a8_avx512",
        isa: Isa::Avx512,
        bits: &[2],
        run: crate::x86_64::avx512::a8::gemv_int2,
    },
    Kernel {
        name: "gemv_int3_a8_avx512",
        isa: Isa::Avx512,
        bits: &[3],
        run: crate::x86_64::avx512::a8::gemv_int3,
    },
    Kernel {
        name: "gemv_int8_a8_avx512",
        isa: Isa::Avx512,
        bits: &[8],
        run: crate::x86_64::avx512::a8::gemv_int8,
    },
    Kernel {
        name: "gemv_int4_a8_avx2",
        isa: Isa::Avx2,
        bits: &[4],
        run: crate::x86_64::avx2::a8::gemv_int4,
    },
    Kernel {
        name: "gemv_int2_a8_avx2",
        isa: Isa::Avx2,
        bits: &[2],
        run: crate::x86_64::avx2::a8::gemv_int2,
    },
    Kernel {
        name: "gemv_int3_a8_avx2",
        isa: Isa::Avx2,
        bits: &[3],
        run: crate::x86_64::avx2::a8::gemv_int3,
    },
    Kernel {
        name: "gemv_int8_a8_avx2",
        isa: Isa::Avx2,
        bits: &[8],
        run: crate::x86_64::avx2::a8::gemv_int8,
    },
];

#[cfg(target_arch = "aarch64")]
static ARCH_INT_A8_GEMV: &[Kernel<IntA8GemvFn>] = &[
    Kernel {
        name: "gemv_int4_a8_neon",
        isa: Isa::Neon,
        bits: &[4],
        run: crate::aarch64::neon::a8::gemv_int4,
    },
    Kernel {
        name: "gemv_int2_a8_neon",
        isa: Isa::Neon,
        bits: &[2],
        run: crate::aarch64::neon::a8::gemv_int2,
    },
    Kernel {
        name: "gemv_int3_a8_neon",
        isa: Isa::Neon,
        bits: &[3],
        run: crate::aarch64::neon::a8::gemv_int3,
    },
    Kernel {
        name: "gemv_int8_a8_neon",
        isa: Isa::Neon,
        bits: &[8],
        run: crate::aarch64::neon::a8::gemv_int8,
    },
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
static ARCH_INT_A8_GEMV: &[Kernel<IntA8GemvFn>] = &[];

/// Every INT x A8 GEMV kernel compiled for this architecture, best first.
pub fn int_a8_gemv_kernels() -> impl Iterator<Item = &'static Kernel<IntA8GemvFn>> {
    ARCH_INT_A8_GEMV.iter().chain(PORTABLE_INT_A8_GEMV.iter())
}

/// The best INT x A8 GEMV kernel for `bits` that `cap` allows and the CPU can run.
pub fn select_int_a8_gemv(cap: Isa, bits: u8) -> Option<&'static Kernel<IntA8GemvFn>> {
    int_a8_gemv_kernels()
        .find(|k| k.bits.contains(&bits) && cap.allows(k.isa) && k.isa.is_available())
}

/// An INT GEMM kernel with f32 activations:
/// `y[mi*ldy + (n - rows.start)] = sum_k W[n, k] * x[mi*K + k]` for `mi < m`, `n` in `rows`
/// (`x` row-major `[m][K]`, `y` row-major with leading dimension `ldy`).
///
/// Preconditions (checked by [`crate::gemv::int_gemm`] before the call, and asserted
/// again by each kernel because its memory safety depends on them): `x.len() == m * K`,
/// `rows.end <= N`, `ldy >= rows.len()`, `y.len() >= (m - 1) * ldy + rows.len()` when
/// `m > 0`, and the format's bit width is one the entry lists.
pub type IntGemmFn = fn(&IntMatrixRef<'_>, &[f32], usize, Range<usize>, &mut [f32], usize);

static PORTABLE_INT_GEMM: &[Kernel<IntGemmFn>] = &[Kernel {
    name: "gemm_int_f32_scalar",
    isa: Isa::Scalar,
    bits: &[2, 3, 4, 8],
    run: reference::int_gemm::gemm,
}];

#[cfg(target_arch = "x86_64")]
static ARCH_INT_GEMM: &[Kernel<IntGemmFn>] = &[
    Kernel {
        name: "gemm_int4_f32_avx512",
        isa: Isa::Avx512,
        bits: &[4],
        run: crate::x86_64::avx512::gemm::gemm_int4,
    },
    Kernel {
        name: "gemm_int8_f32_avx512",
        isa: Isa::Avx512,
        bits: &[8],
        run: crate::x86_64::avx512::gemm::gemm_int8,
    },
    Kernel {
        name: "gemm_int2_f32_avx512",
        isa: Isa::Avx512,
        bits: &[2],
        run: crate::x86_64::avx512::gemm::gemm_int2,
    },
    Kernel {
        name: "gemm_int3_f32_avx512",
        isa: Isa::Avx512,
        bits: &[3],
        run: crate::x86_64::avx512::gemm::gemm_int3,
    },
    Kernel {
        name: "gemm_int4_f32_avx2",
        isa: Isa::Avx2,
        bits: &[4],
        run: crate::x86_64::avx2::gemm::gemm_int4,
    },
    Kernel {
        name: "gemm_int8_f32_avx2",
        isa: Isa::Avx2,
        bits: &[8],
        run: crate::x86_64::avx2::gemm::gemm_int8,
    },
    Kernel {
        name: "gemm_int2_f32_avx2",
        isa: Isa::Avx2,
        bits: &[2],
        run: crate::x86_64::avx2::gemm::gemm_int2,
    },
    Kernel {
        name: "gemm_int3_f32_avx2",
        isa: Isa::Avx2,
        bits: &[3],
        run: crate::x86_64::avx2::gemm::gemm_int3,
    },
];

#[cfg(target_arch = "aarch64")]
static ARCH_INT_GEMM: &[Kernel<IntGemmFn>] = &[
    Kernel {
        name: "gemm_int4_f32_neon",
        isa: Isa::Neon,
        bits: &[4],
        run: crate::aarch64::neon::gemm::gemm_int4,
    },
    Kernel {
        name: "gemm_int8_f32_neon",
        isa: Isa::Neon,
        bits: &[8],
        run: crate::aarch64::neon::gemm::gemm_int8,
    },
    Kernel {
        name: "gemm_int2_f32_neon",
        isa: Isa::Neon,
        bits: &[2],
        run: crate::aarch64::neon::gemm::gemm_int2,
    },
    Kernel {
        name: "gemm_int3_f32_neon",
        isa: Isa::Neon,
        bits: &[3],
        run: crate::aarch64::neon::gemm::gemm_int3,
    },
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
static ARCH_INT_GEMM: &[Kernel<IntGemmFn>] = &[];

/// Every INT GEMM kernel compiled for this architecture, best first.
pub fn int_gemm_kernels() -> impl Iterator<Item = &'static Kernel<IntGemmFn>> {
    ARCH_INT_GEMM.iter().chain(PORTABLE_INT_GEMM.iter())
}

/// The best INT GEMM kernel for `bits` that `cap` allows and the CPU can run.
pub fn select_int_gemm(cap: Isa, bits: u8) -> Option<&'static Kernel<IntGemmFn>> {
    int_gemm_kernels().find(|k| k.bits.contains(&bits) && cap.allows(k.isa) && k.isa.is_available())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_has_a_kernel_on_every_available_isa() {
        for isa in Isa::available() {
            for bits in [2u8, 3, 4, 8] {
                let k = select_int_gemv(isa, bits).expect("a kernel");
                assert!(isa.allows(k.isa));
            }
        }
    }

    #[test]
    fn names_follow_the_grammar_and_are_unique() {
        let names: Vec<_> = int_gemv_kernels().map(|k| k.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(
                n.starts_with("gemv_")
                    && n.ends_with(int_gemv_kernels().nth(i).unwrap().isa.name())
            );
            assert_eq!(names.iter().filter(|m| *m == n).count(), 1);
        }
    }
}
