//! Per-format questions the `lowbit` API does not answer directly: which kernel runs
//! for a format on an ISA (asked of the kernel registry, the same lookup
//! `lowbit::gemv_rows` does), and whether a format can hold a shape.

use lowbit::{Format, Isa};
use lowbit_kernels::registry;

/// The kernel that runs for a (format, requested ISA) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelInfo {
    /// Registry name, `<op>_<weights>_<activations>_<isa>`.
    pub name: &'static str,
    /// The ISA the kernel is written for (at or below the requested one).
    pub isa: Isa,
}

/// The GEMV kernel that runs for `format` when `isa` is requested, or `None` when the
/// format has no kernel on that ISA.
pub fn gemv_kernel(format: Format, isa: Isa) -> Option<KernelInfo> {
    match format {
        Format::Int(f) => registry::select_int_gemv(isa, f.bits).map(|k| KernelInfo {
            name: k.name,
            isa: k.isa,
        }),
        // A format family this CLI does not know yet (`Format` is non-exhaustive).
        _ => None,
    }
}

/// Checks that `format` can hold an `n x k` matrix (e.g. its group size divides `k`),
/// without quantizing anything.
pub fn check_shape(format: Format, n: usize, k: usize) -> lowbit::Result<()> {
    match format {
        Format::Int(f) => f.layout(n, k).map(|_| ()),
        // Unknown families are checked when quantizing.
        _ => Ok(()),
    }
}

/// The distinct kernels that run for `format` over `isas` (in order), each with the
/// first ISA that selects it. ISAs that fall back to an already-listed kernel add nothing.
pub fn distinct_gemv_kernels(format: Format, isas: &[Isa]) -> Vec<(Isa, KernelInfo)> {
    let mut out: Vec<(Isa, KernelInfo)> = Vec::new();
    for &isa in isas {
        if let Some(k) = gemv_kernel(format, isa) {
            if out.iter().all(|(_, seen)| seen.name != k.name) {
                out.push((isa, k));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_format_has_a_kernel_at_or_below_each_isa() {
        for f in Format::catalog() {
            for isa in Isa::available() {
                let k = gemv_kernel(f, isa).expect("kernel");
                assert!(isa.allows(k.isa), "{f} {isa} -> {}", k.name);
            }
            let d = distinct_gemv_kernels(f, &Isa::available());
            assert!(!d.is_empty() && d[0].0 == Isa::Scalar);
        }
    }

    #[test]
    fn repeated_or_fallback_isas_add_no_kernel() {
        let f = Format::parse("int4_g32").unwrap();
        let once = distinct_gemv_kernels(f, &[Isa::Scalar]);
        assert_eq!(distinct_gemv_kernels(f, &[Isa::Scalar, Isa::Scalar]), once);
        let all = distinct_gemv_kernels(f, &Isa::available());
        let names: Vec<_> = all.iter().map(|(_, k)| k.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "{n} listed twice");
        }
    }

    #[test]
    fn shape_check_follows_the_group_size() {
        let g32 = Format::parse("int4_g32").unwrap();
        assert!(check_shape(g32, 8, 64).is_ok());
        assert!(check_shape(g32, 8, 48).is_err());
        assert!(check_shape(Format::parse("int4_row").unwrap(), 8, 48).is_ok());
    }
}
