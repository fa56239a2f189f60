//! The Rust API end to end: owned and borrowed matrices, row ranges, threads, errors.

use lowbit::{
    bf16, f16, Error, Format, GemvOptions, Group, Isa, MatrixRef, Precision, QuantizedMatrix,
};

fn data(n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let w = (0..n * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let x = (0..k)
        .map(|i| ((i * 104729) % 997) as f32 / 498.5 - 1.0)
        .collect();
    (w, x)
}

#[test]
fn gemv_equals_dequantized_product_within_bound() {
    let (n, k) = (37, 256);
    let (w, x) = data(n, k);
    for f in Format::catalog() {
        let q = QuantizedMatrix::quantize(&w, n, k, f).unwrap();
        let mut deq = vec![0.0; n * k];
        q.dequantize(&mut deq).unwrap();
        let mut y = vec![0.0; n];
        q.gemv(&x, &mut y).unwrap();
        for r in 0..n {
            let exact: f64 = (0..k)
                .map(|c| f64::from(deq[r * k + c]) * f64::from(x[c]))
                .sum();
            let mag: f64 = (0..k)
                .map(|c| (f64::from(deq[r * k + c]) * f64::from(x[c])).abs())
                .sum();
            assert!(
                (f64::from(y[r]) - exact).abs() <= 1e-5 * mag + 1e-6,
                "{f} row {r}"
            );
        }
    }
}

#[test]
fn results_are_bitwise_identical_for_any_thread_count_and_row_split() {
    let (n, k) = (301, 512);
    let (w, x) = data(n, k);
    let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(32))).unwrap();
    let mut one = vec![0.0; n];
    lowbit::gemv_with(
        q.view(),
        &x,
        &mut one,
        &GemvOptions {
            isa: None,
            single_thread: true,
            ..Default::default()
        },
    )
    .unwrap();
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut y = vec![0.0; n];
        pool.install(|| lowbit::gemv(q.view(), &x, &mut y)).unwrap();
        assert_eq!(y, one, "threads = {threads}");
    }
    let mut pieces = vec![0.0; n];
    let (a, b) = pieces.split_at_mut(100);
    lowbit::gemv_rows(q.view(), &x, 0..100, a, None).unwrap();
    lowbit::gemv_rows(q.view(), &x, 100..n, b, None).unwrap();
    assert_eq!(pieces, one);
}

/// The A8 kernels block rows (8 or 4 at a time, the rest singly): a row's result must not
/// depend on which block it lands in, so any split of the rows gives the same bits.
#[test]
fn a8_results_do_not_depend_on_the_row_split() {
    for (format, k) in [
        (Format::int4(Group::Size(32)), 640),
        (Format::int4(Group::Size(32)), 512),
        (Format::int(4, Group::Size(128), true), 512),
        (Format::int(8, Group::Size(32), false), 384),
        (Format::int(8, Group::Size(64), true), 384),
        (Format::int(2, Group::Size(32), false), 768),
        (Format::int(2, Group::Size(64), true), 640),
        (Format::int(3, Group::Size(128), false), 768),
        (Format::int(3, Group::Size(32), true), 544),
    ] {
        let n = 61;
        let (w, x) = data(n, k);
        let q = QuantizedMatrix::quantize(&w, n, k, format).unwrap();
        let xq = lowbit::quantize_activations(&x).unwrap();
        for isa in lowbit::Isa::available() {
            let mut one = vec![0.0; n];
            lowbit::gemv_rows_a8(q.view(), &xq, 0..n, &mut one, Some(isa)).unwrap();
            for cut in [1, 3, 7, 9, 17, 30] {
                let mut pieces = vec![0.0; n];
                let (a, b) = pieces.split_at_mut(cut);
                lowbit::gemv_rows_a8(q.view(), &xq, 0..cut, a, Some(isa)).unwrap();
                lowbit::gemv_rows_a8(q.view(), &xq, cut..n, b, Some(isa)).unwrap();
                assert_eq!(pieces, one, "{format} on {isa}, cut at {cut}");
            }
        }
    }
}

#[test]
fn borrowed_view_over_caller_buffers_equals_owned() {
    let (n, k) = (9, 128);
    let (w, x) = data(n, k);
    let f = lowbit::IntFormat::with_zero_point(4, Group::Size(64));
    let owned = lowbit::IntMatrix::quantize(&w, n, k, f).unwrap();
    let v = owned.view();
    let (codes, scales, zeros) = (
        v.plane0().to_vec(),
        v.scales().to_vec(),
        v.zeros().unwrap().to_vec(),
    );
    let view = MatrixRef::int(f, n, k, &codes, &[], &scales, Some(&zeros)).unwrap();
    let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
    lowbit::gemv(view, &x, &mut y1).unwrap();
    QuantizedMatrix::from_int(owned.clone())
        .gemv(&x, &mut y2)
        .unwrap();
    assert_eq!(y1, y2);
    assert_eq!(view.to_owned(), QuantizedMatrix::from_int(owned));
    assert!(MatrixRef::int(f, n, k, &codes[1..], &[], &scales, Some(&zeros)).is_err());
}

#[test]
fn every_available_isa_agrees_with_scalar() {
    let (n, k) = (33, 4096);
    let (w, x) = data(n, k);
    let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(128))).unwrap();
    let mut want = vec![0.0; n];
    lowbit::gemv_rows(q.view(), &x, 0..n, &mut want, Some(Isa::Scalar)).unwrap();
    for isa in Isa::available() {
        let mut y = vec![0.0; n];
        lowbit::gemv_with(
            q.view(),
            &x,
            &mut y,
            &GemvOptions {
                isa: Some(isa),
                single_thread: false,
                ..Default::default()
            },
        )
        .unwrap();
        for r in 0..n {
            assert!(
                (y[r] - want[r]).abs() <= 1e-3 * want[r].abs().max(1.0),
                "{isa} row {r}"
            );
        }
    }
}

#[test]
fn errors_are_clear_and_nothing_is_written() {
    let (w, x) = data(4, 64);
    assert!(matches!(
        QuantizedMatrix::quantize(&w, 4, 64, Format::int4(Group::Size(48))),
        Err(Error::BadGroupSize { group: 48, k: 64 })
    ));
    assert!(matches!(
        QuantizedMatrix::quantize(&w, 4, 65, Format::int4(Group::Size(32))),
        Err(Error::BadGroupSize { .. }) | Err(Error::BufferLength { .. })
    ));
    let mut bad = w.clone();
    bad[3] = f32::INFINITY;
    assert_eq!(
        QuantizedMatrix::quantize(&bad, 4, 64, Format::int4(Group::Size(32))),
        Err(Error::NonFinite { index: 3 })
    );
    let q = QuantizedMatrix::quantize(&w, 4, 64, Format::int4(Group::Size(32))).unwrap();
    let mut y = vec![7.0; 4];
    assert!(matches!(
        q.gemv(&x[..10], &mut y),
        Err(Error::BufferLength { what: "x", .. })
    ));
    assert!(matches!(
        q.gemv(&x, &mut y[..3]),
        Err(Error::BufferLength { what: "y", .. })
    ));
    assert_eq!(y, vec![7.0; 4]);
    let msg = Error::BadGroupSize { group: 48, k: 64 }.to_string();
    assert!(msg.contains("48") && msg.contains("64"));
}

#[test]
fn precision_a8_is_opt_in_and_bounded() {
    let (n, k) = (64, 1024);
    let (w, x) = data(n, k);
    let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(32))).unwrap();
    let mut exact = vec![0.0; n];
    lowbit::gemv(q.view(), &x, &mut exact).unwrap();
    let mut deq = vec![0.0; n * k];
    q.dequantize(&mut deq).unwrap();
    let xq = lowbit::quantize_activations(&x).unwrap();
    let exact_on = |isa: Isa, r: usize| {
        let mut y = vec![0.0; n];
        let opts = GemvOptions {
            isa: Some(isa),
            ..Default::default()
        };
        lowbit::gemv_with(q.view(), &x, &mut y, &opts).unwrap();
        y[r]
    };
    for isa in Isa::available() {
        let opts = GemvOptions {
            isa: Some(isa),
            precision: Precision::AllowA8,
            ..Default::default()
        };
        let mut y = vec![0.0; n];
        lowbit::gemv_with(q.view(), &x, &mut y, &opts).unwrap();
        let mut rows = vec![0.0; n];
        lowbit::gemv_rows_a8(q.view(), &xq, 0..n, &mut rows, Some(isa)).unwrap();
        let xd = xq.dequantize();
        for r in 0..n {
            // |x - xq| <= s/2 per element: the A8 result is within sum |w| s/2 of exact.
            let bound: f64 = (0..k)
                .map(|c| f64::from(deq[r * k + c]).abs() * f64::from((xd[c] - x[c]).abs()))
                .sum::<f64>()
                + 1e-4 * exact[r].abs() as f64
                + 1e-4;
            assert!(
                (f64::from(y[r]) - f64::from(exact[r])).abs() <= bound,
                "{isa} row {r}"
            );
            if lowbit::call_isa(Some(isa)).unwrap() == Isa::Scalar {
                // No integer-dot kernel beats the scalar f32 one: AllowA8 runs as F32.
                assert_eq!(y[r], exact_on(isa, r), "scalar: AllowA8 falls back to f32");
            } else {
                assert_eq!(
                    y[r], rows[r],
                    "{isa}: the API and gemv_rows_a8 agree bitwise"
                );
            }
        }
    }
}

#[test]
fn f16_and_bf16_activations_equal_widened_f32() {
    let (n, k) = (17, 256);
    let (w, x) = data(n, k);
    let q = QuantizedMatrix::quantize(&w, n, k, Format::int(8, Group::PerRow, false)).unwrap();
    let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
    let xb: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
    let opts = GemvOptions::default();
    for (name, widened, y) in [
        ("f16", xh.iter().map(|v| v.to_f32()).collect::<Vec<_>>(), {
            let mut y = vec![0.0; n];
            lowbit::gemv_f16(q.view(), &xh, &mut y, &opts).unwrap();
            y
        }),
        ("bf16", xb.iter().map(|v| v.to_f32()).collect::<Vec<_>>(), {
            let mut y = vec![0.0; n];
            lowbit::gemv_bf16(q.view(), &xb, &mut y, &opts).unwrap();
            y
        }),
    ] {
        let mut want = vec![0.0; n];
        lowbit::gemv_with(q.view(), &widened, &mut want, &opts).unwrap();
        assert_eq!(y, want, "{name}");
    }
    let mut y = vec![0.0; n];
    assert!(lowbit::gemv_f16(q.view(), &xh[1..], &mut y, &opts).is_err());
}

#[test]
fn gemm_equals_gemv_per_activation_row() {
    let (n, k, m) = (33, 256, 5);
    let (w, _) = data(n, k);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 31) % 113) as f32 / 56.0 - 1.0)
        .collect();
    let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(32))).unwrap();
    let opts = GemvOptions::default();
    let mut y = vec![0.0; m * n];
    lowbit::gemm_with(q.view(), &x, m, &mut y, &opts).unwrap();
    for i in 0..m {
        let mut yi = vec![0.0; n];
        lowbit::gemv_with(q.view(), &x[i * k..(i + 1) * k], &mut yi, &opts).unwrap();
        for r in 0..n {
            assert!((y[i * n + r] - yi[r]).abs() <= 1e-4 * yi[r].abs().max(1.0));
        }
    }
    // The batched kernels' order is fixed: any thread count gives the same bits.
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut yt = vec![0.0; m * n];
        pool.install(|| lowbit::gemm_with(q.view(), &x, m, &mut yt, &opts))
            .unwrap();
        assert_eq!(yt, y, "threads = {threads}");
    }
    let mut short = vec![0.0; m * n - 1];
    assert!(lowbit::gemm_with(q.view(), &x, m, &mut short, &opts).is_err());
    assert!(lowbit::gemm_with(q.view(), &x[1..], m, &mut y, &opts).is_err());
}

#[test]
fn kernel_query_matches_what_runs() {
    let f = Format::int4(Group::Size(32));
    for isa in Isa::available() {
        let k = lowbit::gemv_kernel(f, 64, isa, Precision::F32).unwrap();
        assert_eq!(k.precision, Precision::F32);
        assert!(isa.allows(k.isa));
        let (w, x) = data(4, 64);
        let q = QuantizedMatrix::quantize(&w, 4, 64, f).unwrap();
        let mut y = vec![0.0; 4];
        assert_eq!(
            lowbit::gemv_rows(q.view(), &x, 0..4, &mut y, Some(isa)).unwrap(),
            k.name
        );
        let a8 = lowbit::gemv_kernel(f, 64, isa, Precision::AllowA8).unwrap();
        assert_eq!(
            a8.precision == Precision::AllowA8,
            // LOWBIT_ISA lowers a per-call ISA too.
            lowbit::call_isa(Some(isa)).unwrap() != Isa::Scalar,
            "{isa}: {}",
            a8.name
        );
    }
    assert_eq!(
        f.weight_bytes(4096, 4096).unwrap(),
        4096 * 2048 + 4096 * 128 * 2
    );
    assert!(f.weight_bytes(4, 48).is_err());
    assert!(Format::parse("int4_g48").is_err());
}
