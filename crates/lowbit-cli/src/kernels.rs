//! Per-format questions for the CLI: which kernel runs for a format on an ISA with
//! f32 or A8 activations (`lowbit::gemv_kernel`, the rule `lowbit::gemv_with` applies),
//! the distinct kernels over a list of ISAs, and whether a format can hold a shape.

use lowbit::{Format, Isa, KernelInfo};

use crate::args::Act;

/// The GEMV kernel that runs for `format` (rows of `k` elements) when `isa` is requested
/// with activations `act`, or `None` when the CPU lacks `isa` or the format has no kernel
/// there. For
/// [`Act::A8`] this is `None` unless an integer-dot (A8) kernel would run: otherwise the
/// call runs as f32, which the f32 row already measures.
pub fn gemv_kernel(format: Format, k: usize, isa: Isa, act: Act) -> Option<KernelInfo> {
    let precision = act.precision();
    let kernel = lowbit::gemv_kernel(format, k, isa, precision)?;
    (kernel.precision == precision).then_some(kernel)
}

/// Checks that `format` can hold an `n x k` matrix (e.g. its group size divides `k`),
/// without quantizing anything.
pub fn check_shape(format: Format, n: usize, k: usize) -> lowbit::Result<()> {
    format.weight_bytes(n, k).map(|_| ())
}

/// The distinct kernels that run for `format` (rows of `k` elements) over `isas` x `acts`
/// (ISA-major, in the given orders), each with the first ISA that selects it. ISAs that
/// fall back to an already-listed kernel add nothing.
pub fn distinct_kernels(
    format: Format,
    k: usize,
    isas: &[Isa],
    acts: &[Act],
) -> Vec<(Isa, Act, KernelInfo)> {
    let mut out: Vec<(Isa, Act, KernelInfo)> = Vec::new();
    for &isa in isas {
        for &act in acts {
            if let Some(k) = gemv_kernel(format, k, isa, act) {
                if out.iter().all(|(_, _, seen)| seen.name != k.name) {
                    out.push((isa, act, k));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowbit::Precision;

    #[test]
    fn every_catalog_format_has_an_f32_kernel_at_or_below_each_isa() {
        for f in Format::catalog() {
            for isa in Isa::available() {
                let k = gemv_kernel(f, 256, isa, Act::F32).expect("kernel");
                assert!(
                    isa.allows(k.isa) && k.precision == Precision::F32,
                    "{f} {isa} -> {}",
                    k.name
                );
                if let Some(a8) = gemv_kernel(f, 256, isa, Act::A8) {
                    assert!(
                        a8.precision == Precision::AllowA8 && isa.allows(a8.isa),
                        "{f} {isa}"
                    );
                }
            }
            let d = distinct_kernels(f, 256, &Isa::available(), &[Act::F32, Act::A8]);
            assert!(!d.is_empty() && d[0].0 == Isa::Scalar);
        }
    }

    #[test]
    fn repeated_or_fallback_isas_add_no_kernel() {
        let f = Format::parse("int4_g32").unwrap();
        let both = [Act::F32, Act::A8];
        let once = distinct_kernels(f, 64, &[Isa::Scalar], &both);
        assert_eq!(
            distinct_kernels(f, 64, &[Isa::Scalar, Isa::Scalar], &both),
            once
        );
        let all = distinct_kernels(f, 64, &Isa::available(), &both);
        let names: Vec<_> = all.iter().map(|(_, _, k)| k.name).collect();
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
