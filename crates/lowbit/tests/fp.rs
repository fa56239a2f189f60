//! FP4 and FP6 through the Rust API: names, quantize/dequantize, every ISA and precision, views.

use lowbit::{Format, FpElem, GemvOptions, Group, Isa, MatrixRef, Precision, QuantizedMatrix};

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

const FORMATS: [&str; 20] = [
    "fp8_e4m3_g32",
    "fp8_e5m2_row",
    "mxfp8_e4m3",
    "nvfp4",
    "nvfp6_e2m3",
    "fp4_g32",
    "fp4_g128",
    "fp4_row",
    "fp4_g32_pow2",
    "mxfp4",
    "fp6_e3m2_g32",
    "fp6_e3m2_row",
    "fp6_e2m3_g32",
    "fp6_e2m3_g128_pow2",
    "mxfp6_e3m2",
    "mxfp6_e2m3",
    "ovp4_row",
    "ovp4_g32",
    "ovp8_row",
    "ovp8_g128_pow2",
];

#[test]
fn names_roundtrip_and_bad_names_are_errors() {
    for name in FORMATS {
        let f = Format::parse(name).unwrap();
        assert!(matches!(f, Format::Fp(_)));
        assert_eq!(f.name(), name);
    }
    assert_eq!(Format::parse("mxfp4").unwrap(), Format::mxfp4());
    assert_eq!(
        Format::parse("fp4_g32").unwrap(),
        Format::fp4(Group::Size(32))
    );
    assert_eq!(
        Format::parse("mxfp6_e2m3").unwrap(),
        Format::mxfp6(FpElem::E2M3)
    );
    assert_eq!(
        Format::parse("fp6_e3m2_row").unwrap(),
        Format::fp6(FpElem::E3M2, Group::PerRow)
    );
    for bad in [
        "fp4_g33",
        "fp4_",
        "fp4_g32_pow3",
        "mxfp4_g64",
        "fp5_g32",
        "fp6_g32",
        "fp6_e2m1_g32",
        "fp6_e3m2",
        "mxfp6",
        "mxfp6_e3m2_g32",
        "fp6_e4m3_g32",
    ] {
        assert!(Format::parse(bad).is_err(), "{bad}");
    }
    assert!(Format::catalog().contains(&Format::mxfp4()));
    assert_eq!(Format::parse("nvfp4").unwrap(), Format::nvfp4());
    assert_eq!(
        Format::parse("fp8_e5m2_g128").unwrap(),
        Format::fp8(FpElem::E5M2, Group::Size(128))
    );
    for bad in [
        "nvfp4_g16",
        "nvfp6",
        "nvint4",
        "fp4_g16",
        "fp8_e2m1_g32",
        "fp8_e4m3",
        "ovp4",
        "ovp5_row",
        "ovp4_g16",
        "mxovp4",
        "nvovp4",
        "fp4_ovp4_row",
    ] {
        assert!(Format::parse(bad).is_err(), "{bad}");
    }
}

/// Every ISA and precision: the result is within the f32 rounding bound of the exact
/// product of the dequantized weights (f32), or within the A8 bound (half an activation
/// step per element) when an A8 kernel ran; views over the same bytes give the same bits.
#[test]
fn every_isa_and_precision_is_within_its_bound() {
    let (n, k) = (37, 384);
    let w = values(n * k, 3);
    let x = values(k, 4);
    for name in FORMATS {
        let f = Format::parse(name).unwrap();
        let q = QuantizedMatrix::quantize(&w, n, k, f).unwrap();
        let mut deq = vec![0.0; n * k];
        q.dequantize(&mut deq).unwrap();
        let exact: Vec<f64> = (0..n)
            .map(|r| {
                (0..k)
                    .map(|c| f64::from(deq[r * k + c]) * f64::from(x[c]))
                    .sum()
            })
            .collect();
        let absum: Vec<f64> = (0..n)
            .map(|r| (0..k).map(|c| f64::from(deq[r * k + c] * x[c]).abs()).sum())
            .collect();
        let xq = lowbit::quantize_activations(&x).unwrap();
        let xd = xq.dequantize();
        for isa in Isa::available() {
            for p in [Precision::F32, Precision::AllowA8] {
                let o = GemvOptions {
                    isa: Some(isa),
                    precision: p,
                    ..Default::default()
                };
                let mut y = vec![f32::NAN; n];
                lowbit::gemv_with(q.view(), &x, &mut y, &o).unwrap();
                let plan = lowbit::gemv_plan(q.view(), &o).unwrap();
                assert!(
                    plan.name.contains("_fp") || plan.name.contains("_ovp"),
                    "{}",
                    plan.name
                );
                for r in 0..n {
                    let mut bound = 1e-5 * absum[r] + 1e-6;
                    if plan.precision == Precision::AllowA8 {
                        bound += (0..k)
                            .map(|c| f64::from(deq[r * k + c].abs() * (xd[c] - x[c]).abs()))
                            .sum::<f64>();
                    }
                    let d = (f64::from(y[r]) - exact[r]).abs();
                    assert!(d <= bound, "{name} {isa} {p:?} row {r}: {d} > {bound}");
                }
                // The same bytes as a view give the same bits.
                let MatrixRef::Fp(v) = q.view() else {
                    unreachable!()
                };
                let view =
                    MatrixRef::fp(v.format(), n, k, v.codes(), v.high(), v.scales()).unwrap();
                let mut yv = vec![f32::NAN; n];
                lowbit::gemv_with(view, &x, &mut yv, &o).unwrap();
                assert_eq!(y, yv);
            }
        }
        // GEMM equals one GEMV per activation row up to summation order.
        let m = 3;
        let xs = values(m * k, 5);
        let mut ym = vec![0.0; m * n];
        lowbit::gemm_with(q.view(), &xs, m, &mut ym, &GemvOptions::default()).unwrap();
        for i in 0..m {
            let mut y = vec![0.0; n];
            lowbit::gemv_with(
                q.view(),
                &xs[i * k..(i + 1) * k],
                &mut y,
                &GemvOptions::default(),
            )
            .unwrap();
            for r in 0..n {
                assert!((y[r] - ym[i * n + r]).abs() <= 1e-4 * (1.0 + y[r].abs()));
            }
        }
    }
}

#[test]
fn quantization_error_is_small_and_bad_input_is_refused() {
    let (n, k) = (8, 256);
    let w = values(n * k, 7);
    for name in FORMATS {
        let q = QuantizedMatrix::quantize(&w, n, k, Format::parse(name).unwrap()).unwrap();
        let mut deq = vec![0.0; n * k];
        q.dequantize(&mut deq).unwrap();
        // E2M1's largest step is 2 (between 4 and 6) over a max of 6: at most a sixth of
        // the group's largest magnitude (a third for MX, whose scale may leave the top
        // element saturated at twice the step); the FP6 steps are finer.
        for (a, b) in w.iter().zip(&deq) {
            assert!((a - b).abs() <= 1.0 / 3.0 + 1e-6, "{name}: {a} vs {b}");
        }
    }
    let mut bad = w.clone();
    bad[5] = f32::NAN;
    assert!(QuantizedMatrix::quantize(&bad, n, k, Format::mxfp4()).is_err());
    assert!(QuantizedMatrix::quantize(&w, n, k + 1, Format::mxfp4()).is_err());
    assert!(
        QuantizedMatrix::quantize(&w[..n * k - 1], n, k, Format::fp4(Group::Size(32))).is_err()
    );
}

/// W4A4 (`Precision::AllowA4Ovp`): OVP-4 weights against OVP-4 activations. On every ISA
/// with a SIMD A8 kernel, the result is the exact product of the dequantized weights and
/// the W4A4 codec's dequantized activations (to f32 rounding); its error against the f32
/// product of the original activations is stated (printed) and bounded.
#[test]
fn w4a4_is_the_product_of_the_ovp4_activations() {
    let (n, k) = (24, 512);
    // Heavy-ish tails: cubes of uniforms.
    let w: Vec<f32> = values(n * k, 11).iter().map(|v| v * v * v).collect();
    let x: Vec<f32> = values(k, 12).iter().map(|v| v * v * v).collect();
    let q = QuantizedMatrix::quantize(&w, n, k, Format::parse("ovp4_row").unwrap()).unwrap();
    let mut deq = vec![0.0; n * k];
    q.dequantize(&mut deq).unwrap();
    let xd = lowbit::A8Activations::new_ovp4(&x).unwrap().dequantize();
    for isa in Isa::available() {
        let o = GemvOptions {
            isa: Some(isa),
            precision: Precision::AllowA4Ovp,
            ..Default::default()
        };
        let plan = lowbit::gemv_plan(q.view(), &o).unwrap();
        let mut y = vec![f32::NAN; n];
        lowbit::gemv_with(q.view(), &x, &mut y, &o).unwrap();
        let (mut e2, mut f2) = (0.0f64, 0.0f64);
        for r in 0..n {
            let row = &deq[r * k..(r + 1) * k];
            let dot = |a: &[f32]| -> (f64, f64) {
                row.iter().zip(a).fold((0.0, 0.0), |(s, m), (&wv, &xv)| {
                    let p = f64::from(wv) * f64::from(xv);
                    (s + p, m + p.abs())
                })
            };
            let (exact_f32, _) = dot(&x);
            let (want, mag) = if plan.precision == Precision::AllowA4Ovp {
                dot(&xd)
            } else {
                dot(&x)
            };
            let d = (f64::from(y[r]) - want).abs();
            assert!(d <= 1e-5 * mag + 1e-6, "{isa} row {r}: {} vs {want}", y[r]);
            e2 += (f64::from(y[r]) - exact_f32).powi(2);
            f2 += exact_f32 * exact_f32;
        }
        let rel = (e2 / f2).sqrt();
        println!(
            "W4A4 on {isa} ({}): relative RMS error against f32 activations {rel:.3e}",
            plan.name
        );
        // OVP-4 activations: about 7 levels per block plus outliers.
        assert!(rel < 0.2, "{isa}: {rel}");
        // Every SIMD variant has an OVP-4 A8 kernel (a LOWBIT_ISA cap may make the plan
        // scalar, which runs f32).
        if plan.isa != Isa::Scalar {
            assert_eq!(
                plan.precision,
                Precision::AllowA4Ovp,
                "{isa}: {}",
                plan.name
            );
        }
    }
}
