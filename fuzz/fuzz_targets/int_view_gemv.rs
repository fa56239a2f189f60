//! Views over untrusted buffers: arbitrary shapes, group sizes, lengths and bytes either
//! fail validation with an error or run on every registry entry this CPU can run (f32
//! GEMV, A8 GEMV, batched GEMM) without panicking, each within the stated float bound of
//! the scalar reference, with a random output epilogue (accumulate, bias).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowbit_formats::int::{IntFormat, IntMatrixRef};
use lowbit_formats::{f16, Group};
use lowbit_kernels::a8::A8Activations;
use lowbit_kernels::registry::{self, KernelKey};
use lowbit_kernels::{reference, Out, Weights};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let bits = [2u8, 3, 4, 8, 5][usize::from(data[0]) % 5];
    let group = match data[1] % 6 {
        0 => Group::PerRow,
        i => Group::Size([32, 64, 128, 256, 48][usize::from(i) - 1]),
    };
    let zp = data[2] & 1 == 1;
    let n = usize::from(data[3] % 9);
    let k = usize::from(u16::from_le_bytes([data[4], data[5]]) % 600);
    let body = &data[8..];
    let format = IntFormat { bits, group, zero_point: zp };
    let Ok(layout) = format.layout(n, k) else { return };
    let take = |len: usize, off: usize| -> Vec<u8> { (0..len).map(|i| body.get(off + i).copied().unwrap_or(i as u8)).collect() };
    // Lengths may be off by one on purpose (data[6]) to exercise validation.
    let skew = usize::from(data[6] % 3);
    let plane0 = take(layout.plane0_len + usize::from(skew == 1), 0);
    let plane1 = take(layout.plane1_len, 7);
    let scales: Vec<f16> = (0..layout.scales_len + usize::from(skew == 2))
        .map(|i| f16::from_bits(u16::from(body.get(i).copied().unwrap_or(1)) | 0x3000))
        .collect();
    let zeros: Vec<u8> = take(layout.zeros_len, 3).iter().map(|z| z % 20).collect();
    let Ok(w) = IntMatrixRef::new(format, n, k, &plane0, &plane1, &scales, zp.then_some(zeros.as_slice())) else { return };
    let m = 2;
    let x: Vec<f32> = (0..m * k).map(|i| (f32::from(body.get(i % body.len().max(1)).copied().unwrap_or(0)) - 128.0) / 64.0).collect();
    let x0 = &x[..k];
    let bias: Vec<f32> = (0..n).map(|i| f32::from(body.get(i + 5).copied().unwrap_or(0)) / 16.0).collect();
    let out = Out { accumulate: data[7] & 1 == 1, bias: (data[7] & 2 == 2).then_some(bias.as_slice()) };
    let old: Vec<f32> = (0..m * n).map(|i| i as f32 / 8.0).collect();
    let wt = Weights::Int(w);
    let key = KernelKey::of(&wt);
    let mag = |r: usize, xr: &[f32]| -> f64 {
        (0..k).map(|c| {
            let j = c / w.layout().group_len;
            (f64::from(w.scale(r, j)) * (f64::from(w.code(r, c)) - f64::from(w.zero(r, j))) * f64::from(xr[c])).abs()
        }).sum::<f64>() + old.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max) + bias.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max)
    };
    let tol = |a: f64| 2.0 * (k as f64 + 8.0) * f64::from(f32::EPSILON) * a * 4.0 + 1e-30;

    let mut want = old[..n].to_vec();
    reference::gemv::gemv(&wt, x0, 0..n, &mut want, &out);
    let xq = A8Activations::new(x0).unwrap();
    let mut want8 = old[..n].to_vec();
    reference::gemv_a8::gemv(&wt, &xq, 0..n, &mut want8, &out);
    let mut want_mm = old.clone();
    reference::gemm::gemm(&wt, &x, m, 0..n, &mut want_mm, n, &out);

    let mut xp = vec![0.0f32; k];
    for e in registry::GEMV.iter().filter(|e| e.variant.is_available() && (e.accepts)(&key)) {
        let xs: &[f32] = if (e.run.prepare)(&wt, x0, &mut xp) { &xp } else { x0 };
        let mut y = old[..n].to_vec();
        (e.run.run)(&wt, xs, 0..n, &mut y, &out);
        for r in 0..n {
            assert!((f64::from(y[r]) - f64::from(want[r])).abs() <= tol(mag(r, x0)), "{} row {r}", e.name);
        }
    }
    for e in registry::GEMV_A8.iter().filter(|e| e.variant.is_available() && (e.accepts)(&key)) {
        let mut y = old[..n].to_vec();
        (e.run)(&wt, &xq, 0..n, &mut y, &out);
        for r in 0..n {
            let a = mag(r, x0);
            assert!((f64::from(y[r]) - f64::from(want8[r])).abs() <= tol(a) + 1e-3 * a, "{} row {r}", e.name);
        }
    }
    for e in registry::GEMM.iter().filter(|e| e.variant.is_available() && (e.accepts)(&key)) {
        let mut y = old.clone();
        (e.run)(&wt, &x, m, 0..n, &mut y, n, &out);
        for i in 0..m * n {
            let a = mag(i % n.max(1), &x[(i / n.max(1)) * k..][..k]);
            assert!((f64::from(y[i]) - f64::from(want_mm[i])).abs() <= tol(a), "{} out {i}", e.name);
        }
    }
});
