//! The process-wide ISA cap (its own test binary: it changes global state).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use lowbit::{
    bf16, f16, Format, GemvOptions, Group, Isa, KernelInfo, Precision, QuantizedMatrix, Workspace,
};

fn matrix(n: usize, k: usize) -> (QuantizedMatrix, Vec<f32>) {
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 131) % 199) as f32 / 99.0 - 1.0)
        .collect();
    let x = (0..k)
        .map(|i| ((i * 17) % 89) as f32 / 44.0 - 1.0)
        .collect();
    let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(32))).unwrap();
    (q, x)
}

#[test]
fn cap_lowers_every_call_and_is_safe_to_change_under_load() {
    let (q, x) = matrix(64, 512);
    let base = lowbit::active_isa().unwrap();
    assert_eq!(lowbit::isa_cap(), None);
    let plan = |isa: Option<Isa>, p: Precision| {
        let o = GemvOptions {
            isa,
            precision: p,
            ..Default::default()
        };
        lowbit::gemv_plan(q.view(), &o).unwrap()
    };

    // A cap lowers calls that name no ISA and calls that name a higher one.
    lowbit::set_isa_cap(Some(Isa::Scalar)).unwrap();
    assert_eq!(lowbit::isa_cap(), Some(Isa::Scalar));
    assert_eq!(lowbit::active_isa().unwrap(), Isa::Scalar);
    for isa in Isa::available() {
        for p in [Precision::F32, Precision::AllowA8] {
            assert_eq!(plan(Some(isa), p).isa, Isa::Scalar, "{isa} {p:?}");
        }
    }
    assert_eq!(plan(None, Precision::AllowA8).isa, Isa::Scalar);
    // An ISA the CPU lacks is refused and leaves the cap alone.
    if let Some(missing) = [Isa::Avx2, Isa::Avx512, Isa::Neon]
        .into_iter()
        .find(|i| !i.is_available())
    {
        assert!(lowbit::set_isa_cap(Some(missing)).is_err());
        assert_eq!(lowbit::isa_cap(), Some(Isa::Scalar));
    }
    // Removing it restores what the environment allows.
    lowbit::set_isa_cap(None).unwrap();
    assert_eq!(lowbit::active_isa().unwrap(), base);
    assert!(base.allows(plan(None, Precision::F32).isa));

    // 16 threads calling every entry point on one shared matrix and shared A8
    // activations while the cap changes under them: every call reports the kernel it
    // ran, and its result is bitwise the single-threaded result of that kernel.
    concurrent_calls_equal_single_threaded_ones(&q, &x);
    lowbit::set_isa_cap(None).unwrap();
    assert_eq!(lowbit::active_isa().unwrap(), base);
}

/// The entry points, by number: each runs one call with `opts` into `y` and returns the
/// kernel that ran.
const CALLS: usize = 7;

fn call(
    which: usize,
    q: &QuantizedMatrix,
    x: &[f32],
    xq: &lowbit::A8Activations,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> KernelInfo {
    let (n, k) = (q.n(), q.k());
    let w = q.view();
    let r = match which {
        0 => lowbit::gemv_ws(w, &x[..k], &mut y[..n], opts, ws),
        1 => lowbit::gemv_rows_ws(w, &x[..k], 5..n, &mut y[..n - 5], opts, ws),
        2 => lowbit::gemv_rows_a8_with(w, xq, 3..n, &mut y[..n - 3], opts),
        3 => lowbit::gemm_ws(w, x, M, y, opts, ws),
        4 => lowbit::gemm_rows(w, x, M, 2..n, y, n, opts, ws),
        5 => {
            let h: Vec<f16> = x[..k].iter().map(|&v| f16::from_f32(v)).collect();
            lowbit::gemv_f16_ws(w, &h, &mut y[..n], opts, ws)
        }
        _ => {
            let b: Vec<bf16> = x[..k].iter().map(|&v| bf16::from_f32(v)).collect();
            lowbit::gemv_bf16_ws(w, &b, &mut y[..n], opts, ws)
        }
    };
    r.unwrap()
}

/// Activation rows of the GEMM calls.
const M: usize = 3;

fn concurrent_calls_equal_single_threaded_ones(q: &QuantizedMatrix, x0: &[f32]) {
    let k = q.k();
    let x: Vec<f32> = (0..M)
        .flat_map(|_| x0.iter().copied())
        .enumerate()
        .map(|(i, v)| v + (i / k) as f32 * 0.25)
        .collect();
    let xq = lowbit::quantize_activations(&x[..k]).unwrap();
    let bias: Vec<f32> = (0..q.n()).map(|i| i as f32 / 32.0 - 1.0).collect();
    let opts_of = |p: Precision, isa: Option<Isa>, single_thread: bool| GemvOptions {
        isa,
        precision: p,
        single_thread,
        accumulate: true,
        bias: Some(&bias),
    };
    let y0: Vec<f32> = (0..M * q.n()).map(|i| (i % 7) as f32).collect();
    // Single-threaded results per (call, precision, kernel), from every ISA.
    let mut expected = HashMap::new();
    let mut ws = Workspace::new();
    // A call split over threads may pick another kernel (e.g. a few GEMM rows go
    // through the GEMV kernel); where both pick the same one, the bits must agree.
    for isa in Isa::available() {
        for p in [Precision::F32, Precision::AllowA8] {
            for c in 0..CALLS {
                for single_thread in [true, false] {
                    let mut y = y0.clone();
                    let o = opts_of(p, Some(isa), single_thread);
                    let kernel = call(c, q, &x, &xq, &mut y, &o, &mut ws);
                    let key = (c, p == Precision::AllowA8, kernel.name);
                    if let Some(prev) = expected.insert(key, y.clone()) {
                        assert!(
                            prev.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "call {c} on {}: threads change the bits",
                            kernel.name
                        );
                    }
                }
            }
        }
    }
    let isas = Isa::available();
    let done = AtomicBool::new(false);
    let changes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..16)
            .map(|t| {
                let (x, xq, expected, y0, changes) = (&x, &xq, &expected, &y0, &changes);
                s.spawn(move || {
                    let mut ws = Workspace::new();
                    let mut seen = 0;
                    let mut round = 0;
                    // At least 60 calls, and on until the cap has changed 100 times.
                    while round < 60 || changes.load(Ordering::Relaxed) < 100 && round < 20_000 {
                        let c = (t + round) % CALLS;
                        let p = if (t + round / CALLS).is_multiple_of(2) {
                            Precision::F32
                        } else {
                            Precision::AllowA8
                        };
                        // Odd threads split rows over rayon as well.
                        let o = opts_of(p, None, t % 2 == 0);
                        let mut y = y0.clone();
                        let kernel = call(c, q, x, xq, &mut y, &o, &mut ws);
                        let want = expected
                            .get(&(c, p == Precision::AllowA8, kernel.name))
                            .unwrap_or_else(|| panic!("call {c} ran {} unseen", kernel.name));
                        assert!(
                            y.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "thread {t} call {c} {p:?} on {}: not the single-threaded bits",
                            kernel.name
                        );
                        seen += 1;
                        round += 1;
                    }
                    seen
                })
            })
            .collect();
        // Stops the changer however the workers end (a panicking worker included).
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _done = Done(&done);
        let changer = s.spawn(|| {
            let mut round = 0usize;
            while !done.load(Ordering::Relaxed) {
                let cap = isas[round % isas.len()];
                lowbit::set_isa_cap(if round % 5 == 4 { None } else { Some(cap) }).unwrap();
                round += 1;
                changes.store(round, Ordering::Relaxed);
                std::thread::yield_now();
            }
        });
        let calls: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        done.store(true, Ordering::Relaxed);
        changer.join().unwrap();
        assert!(calls >= 16 * 60);
        assert!(
            changes.load(Ordering::Relaxed) >= 100,
            "the cap changed during the calls"
        );
    });
}
