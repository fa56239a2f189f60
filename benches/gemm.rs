//! INT4 (group 32) GEMM with f32 activations at 4096 x 4096, per ISA and batch size M.
//!
//! Two groups over the same calls: `gemm_bytes` reports weight bytes per second
//! (`Throughput::Bytes` = the bytes of codes, scales and zero-points one call reads; the
//! weights are cache-warm, 9.4 MB against a 32 MB L3 here) and `gemm_flops` reports
//! `2*M*N*K` "elements" per second, i.e. FLOP/s. The scalar reference runs only for
//! M <= 4 (it takes seconds per call beyond). `f32/rustc` is a baseline with f32 weights
//! (64 MiB, DRAM-streaming) and the same loop shape as the small-M kernels: each weight
//! row is read once and dotted with the M activation rows.
//!
//! `cargo bench -p lowbit-benches --bench gemm` (filter with e.g. `-- gemm_flops/.*/avx512`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lowbit::{Format, GemvOptions, Group, Isa, QuantizedMatrix, Workspace};
use lowbit_benches::random_f32;
use std::hint::black_box;

const N: usize = 4096;
const K: usize = 4096;
const MS: [usize; 5] = [1, 4, 16, 64, 256];

fn f32_gemm_rows(w: &[f32], x: &[f32], m: usize, y: &mut [f32]) {
    let n = w.len() / K;
    for (r, row) in w.chunks_exact(K).enumerate() {
        for mi in 0..m {
            // Eight partial sums so rustc can vectorize without reassociating one chain.
            let mut acc = [0.0f32; 8];
            for (wc, xc) in row
                .chunks_exact(8)
                .zip(x[mi * K..(mi + 1) * K].chunks_exact(8))
            {
                for i in 0..8 {
                    acc[i] += wc[i] * xc[i];
                }
            }
            y[mi * n + r] = acc.iter().sum();
        }
    }
}

fn bench_gemm(c: &mut Criterion) {
    let wf = random_f32(N * K, 1);
    let q = QuantizedMatrix::quantize(&wf, N, K, Format::int4(Group::Size(32))).unwrap();
    let v = q.view();
    let bytes = v.weight_bytes() as u64;
    let mut ws = Workspace::new();
    let xs = random_f32(MS[MS.len() - 1] * K, 2);
    let mut y = vec![0.0f32; MS[MS.len() - 1] * N];
    for (group, flops) in [("gemm_bytes", false), ("gemm_flops", true)] {
        let mut g = c.benchmark_group(format!("{group}/int4_g32/{N}x{K}"));
        g.sample_size(10);
        for m in MS {
            let x = &xs[..m * K];
            g.throughput(if flops {
                Throughput::Elements((2 * m * N * K) as u64)
            } else {
                Throughput::Bytes(bytes)
            });
            for isa in Isa::available() {
                if isa == Isa::Scalar && m > 4 {
                    continue;
                }
                let opts = GemvOptions {
                    isa: Some(isa),
                    single_thread: true,
                    ..Default::default()
                };
                g.bench_function(BenchmarkId::new(format!("m{m}"), isa.name()), |b| {
                    b.iter(|| {
                        lowbit::gemm_rows(v, black_box(x), m, 0..N, &mut y, N, &opts, &mut ws)
                            .unwrap()
                    })
                });
            }
            if m <= 4 {
                if !flops {
                    g.throughput(Throughput::Bytes((N * K * 4) as u64));
                }
                g.bench_function(BenchmarkId::new(format!("m{m}"), "f32_rustc"), |b| {
                    b.iter(|| f32_gemm_rows(black_box(&wf), x, m, &mut y))
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);
