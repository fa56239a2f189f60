//! Views over untrusted buffers: arbitrary shapes, group sizes, lengths and bytes either
//! fail validation with an error or run on every ISA without panicking, with every ISA
//! within the stated float bound of the scalar reference (f32 and A8 paths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowbit_formats::int::{IntFormat, IntMatrixRef};
use lowbit_formats::{f16, Group};
use lowbit_kernels::a8::A8Activations;
use lowbit_kernels::gemv::{int_gemv, int_gemv_a8};
use lowbit_kernels::{reference, Isa};

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
    let x: Vec<f32> = (0..k).map(|i| (f32::from(body.get(i).copied().unwrap_or(0)) - 128.0) / 64.0).collect();
    let mut want = vec![0.0f32; n];
    reference::int::gemv(&w, &x, 0..n, &mut want);
    let xq = A8Activations::new(&x).unwrap();
    let mut want8 = vec![0.0f32; n];
    reference::int_a8::gemv(&w, &xq, 0..n, &mut want8);
    for isa in Isa::available() {
        let mut y = vec![0.0f32; n];
        int_gemv(isa, &w, &x, 0..n, &mut y).unwrap();
        let mut y8 = vec![0.0f32; n];
        int_gemv_a8(isa, &w, &xq, 0..n, &mut y8).unwrap();
        for r in 0..n {
            let mag: f64 = (0..k).map(|c| {
                let j = c / w.layout().group_len;
                (f64::from(w.scale(r, j)) * (f64::from(w.code(r, c)) - f64::from(w.zero(r, j))) * f64::from(x[c])).abs()
            }).sum();
            let tol = 2.0 * (k as f64 + 8.0) * f64::from(f32::EPSILON) * mag * 4.0 + 1e-30;
            assert!((f64::from(y[r]) - f64::from(want[r])).abs() <= tol, "{isa} f32 row {r}");
            assert!((f64::from(y8[r]) - f64::from(want8[r])).abs() <= tol + 1e-3 * mag, "{isa} a8 row {r}");
        }
    }
});
