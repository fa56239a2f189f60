//! INT2/3/4/8 x A8 (int8 activations per block of 32) GEMV throughput per ISA, in weight
//! bytes per second, next to the f32-activation kernel of the same format in the same
//! run. Activation quantization is timed separately (it is done once per GEMV call and
//! shared by all row tasks).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lowbit::{A8Activations, Format, GemvOptions, Group, Isa, QuantizedMatrix, Workspace};
use lowbit_benches::random_f32;
use std::hint::black_box;

fn bench_a8(c: &mut Criterion) {
    for (n, k) in [(4096usize, 4096usize), (11008, 4096)] {
        let w = random_f32(n * k, 1);
        let x = random_f32(k, 2);
        let mut y = vec![0.0f32; n];
        let mut g = c.benchmark_group(format!("gemv_a8/{n}x{k}"));
        g.sample_size(30);
        for f in [
            Format::int4(Group::Size(32)),
            Format::int(4, Group::Size(128), true),
            Format::int(8, Group::PerRow, false),
            Format::int(2, Group::Size(32), false),
            Format::int(3, Group::Size(128), false),
        ] {
            let q = QuantizedMatrix::quantize(&w, n, k, f).unwrap();
            let v = q.view();
            let xq = A8Activations::new(&x).unwrap();
            let mut ws = Workspace::new();
            g.throughput(Throughput::Bytes(v.weight_bytes() as u64));
            for isa in Isa::available() {
                let opts = GemvOptions {
                    isa: Some(isa),
                    single_thread: true,
                    ..Default::default()
                };
                g.bench_function(
                    BenchmarkId::new(format!("{}/a8", f.name()), isa.name()),
                    |b| {
                        b.iter(|| {
                            lowbit::gemv_rows_a8_with(v, black_box(&xq), 0..n, &mut y, &opts)
                                .unwrap()
                        })
                    },
                );
                g.bench_function(
                    BenchmarkId::new(format!("{}/f32", f.name()), isa.name()),
                    |b| {
                        b.iter(|| {
                            lowbit::gemv_rows_ws(v, black_box(&x), 0..n, &mut y, &opts, &mut ws)
                                .unwrap()
                        })
                    },
                );
            }
        }
        g.throughput(Throughput::Elements(k as u64));
        let mut xq = A8Activations::new(&x).unwrap();
        g.bench_function("quantize_activations", |b| {
            b.iter(|| xq.requantize(black_box(&x)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench_a8);
criterion_main!(benches);
