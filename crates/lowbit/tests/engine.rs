//! The engine-facing API: accumulate and bias, workspaces, GEMM row splits, the plan
//! query and the rule that non-finite activations are refused before anything is written.

use lowbit::{Error, Format, GemvOptions, Group, Isa, Precision, QuantizedMatrix, Workspace};

/// Deterministic pseudo-random values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Formats with SIMD kernels of every kind (A8 included), with zero-points and without.
fn formats() -> [Format; 4] {
    [
        Format::int4(Group::Size(32)),
        Format::int(4, Group::Size(128), true),
        Format::int(8, Group::Size(64), false),
        Format::int(2, Group::Size(64), true),
    ]
}

fn opts(isa: Isa, precision: Precision) -> GemvOptions<'static> {
    GemvOptions {
        isa: Some(isa),
        precision,
        ..Default::default()
    }
}

const PRECISIONS: [Precision; 2] = [Precision::F32, Precision::AllowA8];

#[test]
fn accumulate_and_bias_are_exactly_old_plus_product_plus_bias() {
    let (n, k, m) = (45, 256, 3);
    for f in formats() {
        let q = QuantizedMatrix::quantize(&values(n * k, 1), n, k, f).unwrap();
        let x = values(m * k, 2);
        let bias = values(n, 3);
        let old = values(m * n, 4);
        let xq = lowbit::quantize_activations(&x[..k]).unwrap();
        for isa in Isa::available() {
            for p in PRECISIONS {
                let plain = opts(isa, p);
                let full = GemvOptions {
                    accumulate: true,
                    bias: Some(&bias),
                    ..plain
                };
                let want = |y0: &[f32], r0: usize, v: &[f32]| -> Vec<f32> {
                    (0..v.len())
                        .map(|i| y0[i] + (v[i] + bias[(r0 + i) % n]))
                        .collect()
                };
                let ctx = format!("{f} {isa} {p:?}");
                // GEMV: all rows, threads or not.
                let mut v = vec![0.0; n];
                lowbit::gemv_with(q.view(), &x[..k], &mut v, &plain).unwrap();
                let mut y = old[..n].to_vec();
                lowbit::gemv_with(q.view(), &x[..k], &mut y, &full).unwrap();
                assert_eq!(y, want(&old[..n], 0, &v), "gemv {ctx}");
                // A row range: the bias is indexed by the row.
                let mut y = old[..n - 7].to_vec();
                let mut ws = Workspace::new();
                lowbit::gemv_rows_ws(q.view(), &x[..k], 7..n, &mut y, &full, &mut ws).unwrap();
                assert_eq!(y, want(&old[..n - 7], 7, &v[7..]), "gemv_rows {ctx}");
                // The A8 rows call.
                let mut va = vec![0.0; n];
                lowbit::gemv_rows_a8_with(q.view(), &xq, 0..n, &mut va, &plain).unwrap();
                let mut y = old[..n].to_vec();
                lowbit::gemv_rows_a8_with(q.view(), &xq, 0..n, &mut y, &full).unwrap();
                assert_eq!(y, want(&old[..n], 0, &va), "gemv_rows_a8 {ctx}");
                // GEMM: every activation row gets the bias, single thread and split.
                for single_thread in [true, false] {
                    let plain = GemvOptions {
                        single_thread,
                        ..plain
                    };
                    let full = GemvOptions {
                        single_thread,
                        ..full
                    };
                    let mut v = vec![0.0; m * n];
                    lowbit::gemm_with(q.view(), &x, m, &mut v, &plain).unwrap();
                    let mut y = old.clone();
                    let ran = lowbit::gemm_ws(q.view(), &x, m, &mut y, &full, &mut ws).unwrap();
                    let ctx = format!("gemm {ctx} single {single_thread}");
                    if ran.name.starts_with("gemm_") {
                        // The batched kernels start each output's FMA chain from its old
                        // value (then add the bias): the same sum, rounded differently.
                        for ((&a, &b), &o) in y.iter().zip(&want(&old, 0, &v)).zip(&old) {
                            let mag = o.abs() + b.abs() + 1.0;
                            assert!((a - b).abs() <= 1e-5 * mag, "{ctx}: {a} vs {b}");
                        }
                    } else {
                        assert_eq!(y, want(&old, 0, &v), "{ctx}");
                    }
                }
            }
        }
    }
}

#[test]
fn gemm_rows_any_split_and_stride_equals_gemm() {
    // m = 1 as well: gemm runs the GEMV kernel there, and so must gemm_rows (found by
    // the C-ABI fuzz target).
    let (n, k) = (50, 256);
    for (f, m) in formats().into_iter().flat_map(|f| [(f, 1), (f, 4)]) {
        let q = QuantizedMatrix::quantize(&values(n * k, 5), n, k, f).unwrap();
        let x = values(m * k, 6);
        let bias = values(n, 7);
        for isa in Isa::available() {
            for p in PRECISIONS {
                for bias in [None, Some(&bias[..])] {
                    let o = GemvOptions {
                        single_thread: true,
                        bias,
                        ..opts(isa, p)
                    };
                    let mut want = vec![0.0; m * n];
                    lowbit::gemm_with(q.view(), &x, m, &mut want, &o).unwrap();
                    let mut ws = Workspace::new();
                    for cut in [0, 1, 16, 17, 33, n] {
                        let mut y = vec![f32::NAN; m * n];
                        lowbit::gemm_rows(q.view(), &x, m, 0..cut, &mut y, n, &o, &mut ws).unwrap();
                        lowbit::gemm_rows(q.view(), &x, m, cut..n, &mut y[cut..], n, &o, &mut ws)
                            .unwrap();
                        assert_eq!(y, want, "{f} {isa} {p:?} m {m} cut {cut}");
                    }
                    // A stride wider than the range leaves the rest of each row alone.
                    let ldy = 9;
                    let mut y = vec![-5.0; (m - 1) * ldy + 6];
                    lowbit::gemm_rows(q.view(), &x, m, 10..16, &mut y, ldy, &o, &mut ws).unwrap();
                    for i in 0..m {
                        assert_eq!(&y[i * ldy..i * ldy + 6], &want[i * n + 10..i * n + 16]);
                        if i + 1 < m {
                            assert_eq!(&y[i * ldy + 6..(i + 1) * ldy], &[-5.0; 3]);
                        }
                    }
                }
            }
        }
    }
}

/// The plan query names exactly the kernel the calls run, including fallbacks.
#[test]
fn gemv_plan_names_the_kernel_that_runs() {
    let (n, k) = (16, 384);
    for f in formats() {
        let q = QuantizedMatrix::quantize(&values(n * k, 8), n, k, f).unwrap();
        let x = values(k, 9);
        for isa in Isa::available() {
            for p in PRECISIONS {
                let o = opts(isa, p);
                let plan = lowbit::gemv_plan(q.view(), &o).unwrap();
                let mut y = vec![0.0; n];
                let mut ws = Workspace::new();
                let ran = lowbit::gemv_ws(q.view(), &x, &mut y, &o, &mut ws).unwrap();
                assert_eq!(plan, ran, "{f} {isa} {p:?}");
                assert!(isa.allows(plan.isa), "{f}: {} above {isa}", plan.name);
                assert!(plan.name.ends_with(plan.variant.name()));
                assert_eq!(Some(plan), lowbit::gemv_kernel(f, k, isa, p));
                // AllowA8 picks an A8 kernel exactly when a SIMD one exists at this ISA.
                assert_eq!(
                    plan.precision == Precision::AllowA8,
                    p == Precision::AllowA8 && lowbit::call_isa(Some(isa)).unwrap() != Isa::Scalar,
                    "{f} {isa}: {}",
                    plan.name
                );
            }
        }
        let bias = vec![0.0; n + 1];
        let o = GemvOptions {
            bias: Some(&bias),
            ..Default::default()
        };
        assert!(matches!(
            lowbit::gemv_plan(q.view(), &o),
            Err(Error::BufferLength { .. })
        ));
    }
}

#[test]
fn a_workspace_stops_growing_and_changes_no_bits() {
    let (n, k, m) = (40, 512, 3);
    let q =
        QuantizedMatrix::quantize(&values(n * k, 10), n, k, Format::int4(Group::Size(32))).unwrap();
    let x = values(m * k, 11);
    let mut ws = Workspace::new();
    assert_eq!(ws.capacity_bytes(), 0);
    let mut grown = 0;
    for round in 0..3 {
        for p in PRECISIONS {
            for single_thread in [true, false] {
                let o = GemvOptions {
                    precision: p,
                    single_thread,
                    ..Default::default()
                };
                let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
                lowbit::gemv_with(q.view(), &x[..k], &mut a, &o).unwrap();
                lowbit::gemv_ws(q.view(), &x[..k], &mut b, &o, &mut ws).unwrap();
                assert_eq!(a, b);
                let (mut a, mut b) = (vec![0.0; m * n], vec![0.0; m * n]);
                lowbit::gemm_with(q.view(), &x, m, &mut a, &o).unwrap();
                lowbit::gemm_ws(q.view(), &x, m, &mut b, &o, &mut ws).unwrap();
                assert_eq!(a, b);
            }
        }
        if round == 0 {
            grown = ws.capacity_bytes();
            assert!(grown > 0);
        }
        assert_eq!(ws.capacity_bytes(), grown, "round {round}");
    }
}

/// NaN or Inf anywhere in the activations is `NonFinite` on every path (the f32 kernels
/// would propagate it, the A8 quantizer cannot represent it), and nothing is written.
#[test]
fn non_finite_activations_are_refused_before_writing() {
    let (n, k, m) = (24, 128, 3);
    let q =
        QuantizedMatrix::quantize(&values(n * k, 12), n, k, Format::int4(Group::Size(32))).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for p in PRECISIONS {
            let o = GemvOptions {
                precision: p,
                ..Default::default()
            };
            let mut x = values(m * k, 13);
            // In the last activation row, so a GEMM that wrote row by row would have
            // written the first rows already.
            x[(m - 1) * k + 77] = bad;
            let xl = &x[(m - 1) * k..];
            let mut y = vec![3.0; m * n];
            let mut ws = Workspace::new();
            let non_finite =
                |r: lowbit::Result<lowbit::KernelInfo>| matches!(r, Err(Error::NonFinite { .. }));
            assert!(non_finite(lowbit::gemv_ws(
                q.view(),
                xl,
                &mut y[..n],
                &o,
                &mut ws
            )));
            assert!(non_finite(lowbit::gemv_rows_ws(
                q.view(),
                xl,
                2..9,
                &mut y[..7],
                &o,
                &mut ws
            )));
            assert!(non_finite(lowbit::gemm_ws(
                q.view(),
                &x,
                m,
                &mut y,
                &o,
                &mut ws
            )));
            assert!(non_finite(lowbit::gemm_rows(
                q.view(),
                &x,
                m,
                0..n,
                &mut y,
                n,
                &o,
                &mut ws
            )));
            assert!(matches!(
                lowbit::quantize_activations(xl),
                Err(Error::NonFinite { index: 77 })
            ));
            assert_eq!(y, vec![3.0; m * n], "{bad} {p:?}");
        }
    }
}

#[test]
fn option_errors_write_nothing() {
    let (n, k) = (8, 64);
    let q =
        QuantizedMatrix::quantize(&values(n * k, 14), n, k, Format::int4(Group::Size(32))).unwrap();
    let x = values(k, 15);
    let short = vec![1.0; n - 1];
    let o = GemvOptions {
        bias: Some(&short),
        ..Default::default()
    };
    let mut y = vec![9.0; n];
    assert!(matches!(
        lowbit::gemv_with(q.view(), &x, &mut y, &o),
        Err(Error::BufferLength { what: "bias", .. })
    ));
    assert!(lowbit::gemm_with(q.view(), &x, 1, &mut y, &o).is_err());
    let mut ws = Workspace::new();
    assert!(lowbit::gemm_rows(q.view(), &x, 1, 0..n, &mut y, n, &o, &mut ws).is_err());
    let xq = lowbit::quantize_activations(&x).unwrap();
    assert!(lowbit::gemv_rows_a8_with(q.view(), &xq, 0..n, &mut y, &o).is_err());
    assert_eq!(y, vec![9.0; n]);
    // An ISA this CPU lacks is an error, not a silent fallback.
    let missing = [Isa::Avx2, Isa::Avx512, Isa::Neon]
        .into_iter()
        .find(|i| !i.is_available());
    if let Some(isa) = missing {
        let o = opts(isa, Precision::F32);
        assert!(lowbit::gemv_with(q.view(), &x, &mut y, &o).is_err());
        assert!(lowbit::gemv_plan(q.view(), &o).is_err());
        assert_eq!(y, vec![9.0; n]);
    }
}
