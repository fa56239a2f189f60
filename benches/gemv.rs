//! GEMV throughput per format x ISA x shape, in weight bytes per second (criterion's
//! `Throughput::Bytes` is set to the bytes of weight data one call reads), with an f32
//! GEMV baseline in the same run. Weights are reused across iterations (cache-hot for
//! shapes that fit the cache; `lowbit bench` measures DRAM-streaming too).
//!
//! `cargo bench -p lowbit-benches` (filter with e.g. `-- int4_g32/avx512`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lowbit::{Format, GemvOptions, Group, Isa, QuantizedMatrix, Workspace};
use lowbit_benches::random_f32;
use std::hint::black_box;

const SHAPES: [(usize, usize); 2] = [(4096, 4096), (11008, 4096)];

fn f32_gemv(w: &[f32], x: &[f32], y: &mut [f32]) {
    for (row, out) in w.chunks_exact(x.len()).zip(y.iter_mut()) {
        // Eight partial sums so rustc can vectorize without reassociating a single chain.
        let mut acc = [0.0f32; 8];
        for (wc, xc) in row.chunks_exact(8).zip(x.chunks_exact(8)) {
            for i in 0..8 {
                acc[i] += wc[i] * xc[i];
            }
        }
        *out = acc.iter().sum();
    }
}

fn bench_gemv(c: &mut Criterion) {
    let formats = [
        Format::int4(Group::Size(32)),
        Format::int(4, Group::Size(128), true),
        Format::int(8, Group::PerRow, false),
        Format::int(2, Group::Size(64), false),
        Format::int(3, Group::Size(128), false),
    ];
    for (n, k) in SHAPES {
        let w = random_f32(n * k, 1);
        let x = random_f32(k, 2);
        let mut y = vec![0.0f32; n];
        let mut g = c.benchmark_group(format!("gemv/{n}x{k}"));
        g.sample_size(20);
        g.throughput(Throughput::Bytes((n * k * 4) as u64));
        g.bench_function("f32/rustc", |b| {
            b.iter(|| f32_gemv(black_box(&w), &x, &mut y))
        });
        for f in formats {
            let q = QuantizedMatrix::quantize(&w, n, k, f).unwrap();
            let v = q.view();
            g.throughput(Throughput::Bytes(v.weight_bytes() as u64));
            let mut ws = Workspace::new();
            for isa in Isa::available() {
                let id = BenchmarkId::new(f.name(), isa.name());
                let opts = GemvOptions {
                    isa: Some(isa),
                    single_thread: true,
                    ..Default::default()
                };
                g.bench_function(id, |b| {
                    b.iter(|| {
                        lowbit::gemv_rows_ws(v, black_box(&x), 0..n, &mut y, &opts, &mut ws)
                            .unwrap()
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench_gemv);
criterion_main!(benches);
