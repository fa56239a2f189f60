//! Rust-side tests of the boundary: panics are caught, every error maps to its code,
//! misaligned, oversized and overlapping buffers are refused. The C programs in
//! `csrc/` (run by `tests/c.rs`) test the same ABI from C.

use std::ffi::CStr;
use std::ptr;

use crate::boundary::{status_call, test_hooks, value_call, Fail};
use crate::*;

const N: usize = 4;
const K: usize = 64;

fn cstr(p: *const std::ffi::c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: every string function of the ABI returns a valid NUL-terminated string
    // that stays valid at least until the next call on this thread.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

fn last_error() -> String {
    cstr(lowbit_last_error_message())
}

/// An owned INT4 g32 matrix with zero-points, freed on drop.
struct Matrix(*mut lowbit_matrix);

impl Matrix {
    fn new() -> Matrix {
        let w: Vec<f32> = (0..N * K)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let f = lowbit_format_int(4, 32, true);
        let mut m = ptr::null_mut();
        // SAFETY: valid format, `w` has N * K floats, `m` is a valid out pointer.
        let s = unsafe { lowbit_quantize(&f, w.as_ptr(), N, K, &mut m) };
        assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
        Matrix(m)
    }

    fn view(&self) -> lowbit_int_view {
        let mut v = std::mem::MaybeUninit::<lowbit_int_view>::uninit();
        // SAFETY: live handle; `v` is valid for one write.
        let s = unsafe { lowbit_matrix_int_view(self.0, v.as_mut_ptr()) };
        assert_eq!(s, lowbit_status::LOWBIT_OK);
        // SAFETY: written on success.
        unsafe { v.assume_init() }
    }

    fn gemv(&self, x: &[f32], y: &mut [f32]) -> lowbit_status {
        // SAFETY: live handle, slices valid for their lengths.
        unsafe { lowbit_gemv(self.0, x.as_ptr(), x.len(), y.as_mut_ptr(), y.len()) }
    }
}

impl Drop for Matrix {
    fn drop(&mut self) {
        // SAFETY: a live handle, freed once.
        unsafe { lowbit_matrix_free(self.0) }
    }
}

#[test]
fn a_panic_inside_an_entry_point_becomes_a_status() {
    let m = Matrix::new();
    let x = vec![1.0f32; K];
    let mut y = vec![7.0f32; N];
    test_hooks::panic_in_next_call();
    assert_eq!(m.gemv(&x, &mut y), lowbit_status::LOWBIT_ERR_PANIC);
    assert!(last_error().contains("lowbit_gemv"), "{}", last_error());
    assert!(last_error().contains("panic"), "{}", last_error());
    assert_eq!(y, vec![7.0; N], "the panic happened before any output");
    // The next call works normally.
    assert_eq!(m.gemv(&x, &mut y), lowbit_status::LOWBIT_OK);

    // Value-returning functions return their documented fallback.
    test_hooks::panic_in_next_call();
    // SAFETY: live handle.
    assert_eq!(unsafe { lowbit_matrix_n(m.0) }, 0);
    test_hooks::panic_in_next_call();
    assert_eq!(cstr(lowbit_isa_name(0)), "unknown");
    test_hooks::panic_in_next_call();
    assert_eq!(cstr(lowbit_status_string(0)), "unknown status code");
    test_hooks::panic_in_next_call();
    assert!(!lowbit_isa_is_available(0));
}

#[test]
fn panics_with_any_payload_are_caught() {
    assert_eq!(
        status_call("t", || panic!("boom {}", 42)),
        lowbit_status::LOWBIT_ERR_PANIC
    );
    assert!(last_error().contains("boom 42"), "{}", last_error());
    assert_eq!(
        status_call("t", || std::panic::panic_any(17u32)),
        lowbit_status::LOWBIT_ERR_PANIC
    );
    // A payload whose destructor panics again must not abort either.
    struct Nasty;
    impl Drop for Nasty {
        fn drop(&mut self) {
            panic!("drop of the payload");
        }
    }
    assert_eq!(
        status_call("t", || std::panic::panic_any(Nasty)),
        lowbit_status::LOWBIT_ERR_PANIC
    );
    assert_eq!(value_call("t", 5, || -> i32 { panic!("x") }), 5);
    // A real out-of-bounds bug inside the body is caught as well.
    let v: Vec<u8> = Vec::new();
    let i = std::hint::black_box(3);
    assert_eq!(
        status_call("t", || {
            let _ = v[i];
            Ok(())
        }),
        lowbit_status::LOWBIT_ERR_PANIC
    );
}

#[test]
fn every_error_variant_has_its_code() {
    use lowbit_rs::Error as E;
    use lowbit_status as S;
    let cases = [
        (
            E::InvalidShape { what: "x".into() },
            S::LOWBIT_ERR_INVALID_SHAPE,
        ),
        (
            E::BadGroupSize { group: 48, k: 96 },
            S::LOWBIT_ERR_BAD_GROUP_SIZE,
        ),
        (
            E::BufferLength {
                what: "x",
                expected: 1,
                got: 2,
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (E::NonFinite { index: 3 }, S::LOWBIT_ERR_NON_FINITE),
        (
            E::InvalidParameter { what: "x".into() },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            E::IsaUnavailable { isa: "neon" },
            S::LOWBIT_ERR_ISA_UNAVAILABLE,
        ),
        (
            E::UnknownIsa { name: "x".into() },
            S::LOWBIT_ERR_UNKNOWN_ISA,
        ),
        (
            E::Unsupported { what: "x".into() },
            S::LOWBIT_ERR_UNSUPPORTED,
        ),
    ];
    for (e, s) in cases {
        assert_eq!(lowbit_status::from_error(&e), s, "{e:?}");
        assert_eq!(Fail::Lib(e).status(), s);
    }
    assert_eq!(
        Fail::Null { what: "x", len: 1 }.status(),
        S::LOWBIT_ERR_NULL
    );
    assert_eq!(
        Fail::Misaligned {
            what: "x",
            align: 4
        }
        .status(),
        S::LOWBIT_ERR_MISALIGNED
    );
}

#[test]
fn status_codes_are_dense_stable_and_described() {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in lowbit_status::ALL.into_iter().enumerate() {
        assert_eq!(s as i32, i as i32, "codes are dense, in order");
        assert_eq!(lowbit_status::from_code(i as i32), Some(s));
        let text = cstr(lowbit_status_string(s as i32));
        assert!(!text.is_empty() && text != "unknown status code");
        assert!(seen.insert(text), "descriptions are distinct");
    }
    assert_eq!(lowbit_status::LOWBIT_OK as i32, 0);
    for bad in [-1, 13, i32::MIN, i32::MAX] {
        assert_eq!(cstr(lowbit_status_string(bad)), "unknown status code");
    }
}

#[test]
fn version_agrees_with_cargo() {
    let parts: Vec<u32> = env!("CARGO_PKG_VERSION")
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(
        lowbit_version(),
        parts[0] * 10000 + parts[1] * 100 + parts[2]
    );
    assert_eq!(cstr(lowbit_version_string()), env!("CARGO_PKG_VERSION"));
}

#[test]
fn isa_codes_are_stable_and_zero_is_auto() {
    use lowbit_rs::Isa;
    for (isa, code) in [
        (Isa::Scalar, 1),
        (Isa::Avx2, 2),
        (Isa::Avx512, 3),
        (Isa::Neon, 4),
    ] {
        let c = lowbit_isa::from_isa(isa);
        assert_eq!(c as i32, code);
        assert_eq!(cstr(lowbit_isa_name(c as i32)), isa.name());
        assert_eq!(lowbit_isa_is_available(c as i32), isa.is_available());
    }
    assert_eq!(lowbit_isa::LOWBIT_ISA_AUTO as i32, 0);
    assert_eq!(cstr(lowbit_isa_name(0)), "auto");
    assert!(!lowbit_isa_is_available(0));
    assert_eq!(lowbit_isa_best(), lowbit_isa::from_isa(Isa::best()));
    assert_eq!(cstr(lowbit_isa_name(-1)), "unknown");
    assert_eq!(cstr(lowbit_isa_name(5)), "unknown");
    assert!(!lowbit_isa_is_available(i32::MIN));
    // Only errors here: the cap is process-wide and other tests run concurrently.
    assert_eq!(
        lowbit_set_isa_cap(99),
        lowbit_status::LOWBIT_ERR_UNKNOWN_ISA
    );
    assert_eq!(
        lowbit_set_isa_cap(-2),
        lowbit_status::LOWBIT_ERR_UNKNOWN_ISA
    );
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        assert_eq!(
            lowbit_set_isa_cap(lowbit_isa::from_isa(isa) as i32),
            lowbit_status::LOWBIT_ERR_ISA_UNAVAILABLE
        );
    }
}

#[test]
fn misaligned_pointers_are_refused() {
    let m = Matrix::new();
    // Room for K + 1 floats, addressed through a byte offset of 1.
    let mut xbuf = vec![0.0f32; K + 1];
    let mut ybuf = vec![9.0f32; N + 1];
    let xmis = xbuf.as_mut_ptr().cast::<u8>().wrapping_add(1).cast::<f32>();
    let ymis = ybuf.as_mut_ptr().cast::<u8>().wrapping_add(1).cast::<f32>();
    let x = vec![1.0f32; K];
    let mut y = vec![0.0f32; N];
    // SAFETY: the pointers are misaligned, which the call checks before any access.
    unsafe {
        let s = lowbit_gemv(m.0, xmis, K, y.as_mut_ptr(), N);
        assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
        assert!(last_error().contains("`x`"), "{}", last_error());
        let s = lowbit_gemv(m.0, x.as_ptr(), K, ymis, N);
        assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
        let s = lowbit_dequantize(m.0, ymis, N * K);
        assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
        // A misaligned pointer is refused even with length 0.
        let s = lowbit_gemv_rows(m.0, x.as_ptr(), K, 0, 0, ymis, 0);
        assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
    }
    assert_eq!(ybuf, vec![9.0; N + 1]);

    // f16 scales must be 2-byte aligned.
    let v = m.view();
    let mut scales = vec![0u16; v.scales_len + 1];
    let mut bv = v;
    bv.scales = scales
        .as_mut_ptr()
        .cast::<u8>()
        .wrapping_add(1)
        .cast::<u16>();
    // SAFETY: every buffer of `bv` is valid or refused before access.
    let s = unsafe { lowbit_view_gemv(&bv, x.as_ptr(), K, y.as_mut_ptr(), N) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
    assert!(last_error().contains("scales"), "{}", last_error());

    // Struct and handle pointers too.
    let f = [lowbit_format_int(4, 32, false); 2];
    let fmis = f
        .as_ptr()
        .cast::<u8>()
        .wrapping_add(2)
        .cast::<lowbit_format>();
    let mut out = std::mem::MaybeUninit::<lowbit_int_layout>::uninit();
    // SAFETY: misaligned pointers are refused before access.
    let s = unsafe { lowbit_int_sizes(fmis, N, K, out.as_mut_ptr()) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
    let mut holder = [ptr::null_mut::<lowbit_matrix>(); 2];
    let omis = holder
        .as_mut_ptr()
        .cast::<u8>()
        .wrapping_add(4)
        .cast::<*mut lowbit_matrix>();
    // SAFETY: misaligned pointers are refused before access.
    let s = unsafe { lowbit_quantize(&f[0], x.as_ptr(), 1, K, omis) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
    assert!(holder.iter().all(|p| p.is_null()));
}

#[test]
fn lengths_that_cannot_be_buffers_are_refused_without_access() {
    let m = Matrix::new();
    let x = vec![1.0f32; K];
    let mut y = vec![0.0f32; N];
    // SAFETY: the absurd lengths are refused before any access.
    unsafe {
        let s = lowbit_gemv(m.0, x.as_ptr(), usize::MAX / 2, y.as_mut_ptr(), N);
        assert_eq!(s, lowbit_status::LOWBIT_ERR_BUFFER_LENGTH);
        let s = lowbit_gemv(m.0, x.as_ptr(), K, y.as_mut_ptr(), usize::MAX);
        assert_eq!(s, lowbit_status::LOWBIT_ERR_BUFFER_LENGTH);
        assert!(last_error().contains("too large"), "{}", last_error());
    }
}

#[test]
fn outputs_overlapping_inputs_are_refused() {
    let m = Matrix::new();
    let v = m.view();
    // A caller buffer holding both the codes (as bytes) and the output floats.
    let mut buf = vec![0.0f32; v.codes_len / 4 + N * K];
    let bytes = buf.as_mut_ptr().cast::<u8>();
    // SAFETY: `buf` has at least `codes_len` bytes; the source is a live matrix.
    unsafe { ptr::copy_nonoverlapping(v.codes, bytes, v.codes_len) };
    let mut bv = v;
    bv.codes = bytes;
    // SAFETY: `out` overlaps `codes`, which the call detects before creating slices.
    let s = unsafe { lowbit_view_dequantize(&bv, buf.as_mut_ptr(), N * K) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_INVALID_PARAMETER);
    assert!(
        last_error().contains("overlaps input `codes`"),
        "{}",
        last_error()
    );
    // Right after the codes it is fine.
    let after = buf.as_mut_ptr().wrapping_add(v.codes_len.div_ceil(4));
    // SAFETY: `after` has N * K floats of `buf` and is disjoint from the codes.
    let s = unsafe { lowbit_view_dequantize(&bv, after, N * K) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
}

#[test]
fn last_error_is_per_thread_and_kept_across_successes() {
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        assert_eq!(
            lowbit_set_isa_cap(77),
            lowbit_status::LOWBIT_ERR_UNKNOWN_ISA
        );
        let e = last_error();
        assert!(e.starts_with("lowbit_set_isa_cap: unknown ISA"), "{e}");
        assert!(!lowbit_version_string().is_null());
        let mut out = lowbit_isa::LOWBIT_ISA_SCALAR;
        // SAFETY: `out` is valid for one write.
        let _ = unsafe { lowbit_isa_active(&mut out) };
        assert_eq!(last_error(), e);
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn failed_calls_write_no_output() {
    let f = lowbit_format_int(4, 48, false);
    let before = lowbit_int_layout {
        codes_len: 1,
        ..Default::default()
    };
    let mut out = before;
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_int_sizes(&f, 2, 96, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_BAD_GROUP_SIZE);
    assert_eq!(out, before);
    let f = lowbit_format_int(4, 32, false);
    let mut w = vec![0.5f32; 2 * 64];
    w[100] = f32::INFINITY;
    let sentinel = ptr::dangling_mut::<lowbit_matrix>();
    let mut m = sentinel;
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_quantize(&f, w.as_ptr(), 2, 64, &mut m) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_NON_FINITE);
    assert_eq!(m, sentinel);
}

#[test]
fn concurrent_row_ranges_on_one_matrix_match_gemv() {
    let m = Matrix::new();
    let x: Vec<f32> = (0..K).map(|i| (i as f32 * 0.3).cos()).collect();
    let mut y = vec![0.0f32; N];
    assert_eq!(m.gemv(&x, &mut y), lowbit_status::LOWBIT_OK);
    let handle = m.0 as usize;
    let rows: Vec<Vec<f32>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..N)
            .map(|r| {
                let x = &x;
                s.spawn(move || {
                    let mut yr = [0.0f32; 1];
                    // SAFETY: the matrix outlives the scope and is immutable.
                    let st = unsafe {
                        lowbit_gemv_rows(
                            handle as *const lowbit_matrix,
                            x.as_ptr(),
                            K,
                            r,
                            r + 1,
                            yr.as_mut_ptr(),
                            1,
                        )
                    };
                    assert_eq!(st, lowbit_status::LOWBIT_OK);
                    yr.to_vec()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let joined: Vec<f32> = rows.concat();
    assert_eq!(
        joined.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn formats_roundtrip_and_unknown_kinds_are_unsupported() {
    for f in lowbit_rs::Format::catalog() {
        let c = crate::format::from_format(f).unwrap();
        assert_eq!(crate::format::to_format(&c).unwrap(), f, "{f}");
        let want_kind = match f {
            lowbit_rs::Format::Int(_) => LOWBIT_FORMAT_INT,
            _ => LOWBIT_FORMAT_FP,
        };
        assert_eq!(c.kind, want_kind, "{f}");
    }
    // A kind no version has defined yet: a clear error, not a guess.
    for kind in [0, 3, 99, u32::MAX] {
        let mut f = lowbit_format_int(4, 0, true);
        f.kind = kind;
        let mut out = lowbit_int_layout::default();
        // SAFETY: valid pointers.
        let s = unsafe { lowbit_int_sizes(&f, 1, 64, &mut out) };
        assert_eq!(s, lowbit_status::LOWBIT_ERR_UNSUPPORTED, "kind {kind}");
        assert_eq!(out, lowbit_int_layout::default());
        let mut out = lowbit_fp_layout::default();
        // SAFETY: valid pointers.
        let s = unsafe { lowbit_fp_sizes(&f, 1, 64, &mut out) };
        assert_eq!(s, lowbit_status::LOWBIT_ERR_UNSUPPORTED, "kind {kind}");
        assert_eq!(out, lowbit_fp_layout::default());
        let w = vec![0.5f32; 64];
        let mut m = ptr::null_mut();
        // SAFETY: valid pointers; `w` has 64 floats.
        let s = unsafe { lowbit_quantize(&f, w.as_ptr(), 1, 64, &mut m) };
        assert_eq!(s, lowbit_status::LOWBIT_ERR_UNSUPPORTED, "kind {kind}");
        assert!(m.is_null());
        assert!(last_error().contains("format kind"), "{}", last_error());
    }
}

#[test]
fn matrix_from_view_copies() {
    let m = Matrix::new();
    let v = m.view();
    let mut m2 = ptr::null_mut();
    // SAFETY: `v` points into the live matrix `m`; `m2` is a valid out pointer.
    let s = unsafe { lowbit_matrix_from_int_view(&v, &mut m2) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    let m2 = Matrix(m2);
    let x = vec![0.25f32; K];
    let (mut y1, mut y2) = (vec![0.0; N], vec![0.0; N]);
    assert_eq!(m.gemv(&x, &mut y1), lowbit_status::LOWBIT_OK);
    drop(m);
    assert_eq!(m2.gemv(&x, &mut y2), lowbit_status::LOWBIT_OK);
    assert_eq!(y1, y2);
}

// ---- gemv_ex, gemm and the importers ----

fn f32_to_f16_bits(v: f32) -> u16 {
    lowbit_rs::f16::from_f32(v).to_bits()
}

fn f32_to_bf16_bits(v: f32) -> u16 {
    lowbit_rs::bf16::from_f32(v).to_bits()
}

fn test_x() -> Vec<f32> {
    (0..K)
        .map(|i| ((i * 13 % 29) as f32 - 14.0) / 8.0)
        .collect()
}

fn gemv_ex(
    m: &Matrix,
    x: *const std::ffi::c_void,
    x_len: usize,
    x_type: i32,
    y: &mut [f32],
    opts: Option<&lowbit_gemv_options>,
) -> lowbit_status {
    let opts = opts.map_or(ptr::null(), |o| o as *const _);
    // SAFETY: live handle; the callers pass `x` valid for `x_len` elements of `x_type`.
    unsafe { lowbit_gemv_ex(m.0, x, x_len, x_type, y.as_mut_ptr(), y.len(), opts) }
}

#[test]
fn gemv_ex_widens_16_bit_activations_exactly() {
    let m = Matrix::new();
    let x = test_x();
    let h: Vec<u16> = x.iter().map(|&v| f32_to_f16_bits(v)).collect();
    let b: Vec<u16> = x.iter().map(|&v| f32_to_bf16_bits(v)).collect();
    let xh: Vec<f32> = h
        .iter()
        .map(|&v| lowbit_rs::f16::from_bits(v).to_f32())
        .collect();
    let xb: Vec<f32> = b
        .iter()
        .map(|&v| f32::from_bits(u32::from(v) << 16))
        .collect();
    let single = lowbit_gemv_options {
        single_thread: 1,
        ..lowbit_gemv_options_default()
    };
    for (bits, wide, ty) in [(&h, &xh, LOWBIT_ACT_F16), (&b, &xb, LOWBIT_ACT_BF16)] {
        let mut want = vec![0.0f32; N];
        assert_eq!(m.gemv(wide, &mut want), lowbit_status::LOWBIT_OK);
        for opts in [None, Some(&single)] {
            let mut y = vec![7.0f32; N];
            let s = gemv_ex(&m, bits.as_ptr().cast(), K, ty, &mut y, opts);
            assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
            assert_eq!(y, want, "type {ty}");
        }
        let v = m.view();
        let mut y = vec![7.0f32; N];
        // SAFETY: a view of a live matrix; buffers valid for their lengths.
        let s = unsafe {
            lowbit_view_gemv_ex(&v, bits.as_ptr().cast(), K, ty, y.as_mut_ptr(), N, &single)
        };
        assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
        assert_eq!(y, want);
    }
    let mut want = vec![0.0f32; N];
    assert_eq!(m.gemv(&x, &mut want), lowbit_status::LOWBIT_OK);
    let mut y = vec![0.0f32; N];
    let s = gemv_ex(&m, x.as_ptr().cast(), K, LOWBIT_ACT_F32, &mut y, None);
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    assert_eq!(y, want);
}

#[test]
fn gemv_ex_allow_a8_stays_within_the_quantization_bound() {
    let m = Matrix::new();
    let x = test_x();
    let mut w = vec![0.0f32; N * K];
    // SAFETY: live handle, `w` has N * K floats.
    let s = unsafe { lowbit_dequantize(m.0, w.as_mut_ptr(), w.len()) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    let mut exact = vec![0.0f32; N];
    assert_eq!(m.gemv(&x, &mut exact), lowbit_status::LOWBIT_OK);
    let opts = lowbit_gemv_options {
        precision: LOWBIT_PRECISION_ALLOW_A8,
        ..lowbit_gemv_options_default()
    };
    let mut y = vec![0.0f32; N];
    let s = gemv_ex(
        &m,
        x.as_ptr().cast(),
        K,
        LOWBIT_ACT_F32,
        &mut y,
        Some(&opts),
    );
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    for r in 0..N {
        let mut bound = 0.0f64;
        for (wb, xb) in w[r * K..(r + 1) * K].chunks(32).zip(x.chunks(32)) {
            let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let wsum: f32 = wb.iter().map(|v| v.abs()).sum();
            bound += f64::from(wsum) * f64::from(amax) / 254.0;
        }
        let diff = f64::from((y[r] - exact[r]).abs());
        assert!(diff <= bound * 1.01 + 1e-4, "row {r}: {diff} > {bound}");
    }
}

#[test]
fn gemv_ex_refuses_bad_arguments_without_writing() {
    use lowbit_status as S;
    let m = Matrix::new();
    let x = test_x();
    let h: Vec<u16> = x.iter().map(|&v| f32_to_f16_bits(v)).collect();
    let mut y = vec![7.0f32; N];
    let xp = x.as_ptr().cast::<std::ffi::c_void>();
    let d = lowbit_gemv_options_default();
    // SAFETY: the options are integers and raw pointers, for which all-zero bits are
    // valid values (0 and NULL).
    assert_eq!(d, unsafe { core::mem::zeroed::<lowbit_gemv_options>() });
    let cases: [(i32, Option<lowbit_gemv_options>, S); 7] = [
        (3, None, S::LOWBIT_ERR_INVALID_PARAMETER),
        (-1, None, S::LOWBIT_ERR_INVALID_PARAMETER),
        (
            LOWBIT_ACT_F32,
            Some(lowbit_gemv_options { accumulate: 2, ..d }),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            LOWBIT_ACT_F32,
            Some(lowbit_gemv_options { precision: 3, ..d }),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            LOWBIT_ACT_F32,
            Some(lowbit_gemv_options {
                single_thread: 2,
                ..d
            }),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            LOWBIT_ACT_F32,
            Some(lowbit_gemv_options { isa: 42, ..d }),
            S::LOWBIT_ERR_UNKNOWN_ISA,
        ),
        (
            LOWBIT_ACT_F32,
            Some(lowbit_gemv_options { isa: -2, ..d }),
            S::LOWBIT_ERR_UNKNOWN_ISA,
        ),
    ];
    for (ty, opts, want) in cases {
        assert_eq!(gemv_ex(&m, xp, K, ty, &mut y, opts.as_ref()), want);
        assert_eq!(y, vec![7.0; N]);
    }
    // Wrong lengths, NULL with a nonzero length.
    assert_eq!(
        gemv_ex(&m, xp, K - 1, LOWBIT_ACT_F32, &mut y, None),
        S::LOWBIT_ERR_BUFFER_LENGTH
    );
    assert_eq!(
        gemv_ex(
            &m,
            h.as_ptr().cast(),
            K + 1,
            LOWBIT_ACT_F16,
            &mut y[..N - 1],
            None
        ),
        S::LOWBIT_ERR_BUFFER_LENGTH
    );
    assert_eq!(
        gemv_ex(&m, ptr::null(), K, LOWBIT_ACT_BF16, &mut y, None),
        S::LOWBIT_ERR_NULL
    );
    assert_eq!(y, vec![7.0; N]);
    // Alignment depends on the type: 2 bytes for 16-bit activations, 4 for f32.
    let bytes = vec![0u32; K];
    let odd = bytes.as_ptr().cast::<u8>().wrapping_add(1).cast();
    let two = bytes.as_ptr().cast::<u8>().wrapping_add(2).cast();
    assert_eq!(
        gemv_ex(&m, odd, K, LOWBIT_ACT_F16, &mut y, None),
        S::LOWBIT_ERR_MISALIGNED
    );
    assert_eq!(
        gemv_ex(&m, two, K - 1, LOWBIT_ACT_F32, &mut y, None),
        S::LOWBIT_ERR_MISALIGNED
    );
    assert_eq!(
        gemv_ex(&m, two, K, LOWBIT_ACT_BF16, &mut y, None),
        S::LOWBIT_OK
    );
    assert_eq!(y, vec![0.0; N]);
    // y overlapping x.
    let mut buf = x.clone();
    // SAFETY: live handle; `buf` holds K floats, y the first N of them.
    let s = unsafe {
        lowbit_gemv_ex(
            m.0,
            buf.as_ptr().cast(),
            K,
            LOWBIT_ACT_F32,
            buf.as_mut_ptr(),
            N,
            ptr::null(),
        )
    };
    assert_eq!(s, S::LOWBIT_ERR_INVALID_PARAMETER);
    assert_eq!(buf, x);
}

#[test]
fn gemm_matches_gemv_per_row() {
    let m = Matrix::new();
    let v = m.view();
    let rows = 5;
    let x: Vec<f32> = (0..rows * K)
        .map(|i| ((i * 7 % 23) as f32 - 11.0) / 4.0)
        .collect();
    let mut want = vec![0.0f32; rows * N];
    for (xi, yi) in x.chunks(K).zip(want.chunks_mut(N)) {
        assert_eq!(m.gemv(xi, yi), lowbit_status::LOWBIT_OK);
    }
    let single = lowbit_gemv_options {
        single_thread: 1,
        ..lowbit_gemv_options_default()
    };
    for opts in [ptr::null(), &single as *const _] {
        let mut y = vec![7.0f32; rows * N];
        // SAFETY: live handle, buffers valid for their lengths.
        let s = unsafe {
            lowbit_gemm(
                m.0,
                x.as_ptr(),
                rows,
                x.len(),
                y.as_mut_ptr(),
                y.len(),
                opts,
            )
        };
        assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
        let mut yv = vec![7.0f32; rows * N];
        // SAFETY: a view of a live matrix, buffers valid for their lengths.
        let s = unsafe {
            lowbit_view_gemm(
                &v,
                x.as_ptr(),
                rows,
                x.len(),
                yv.as_mut_ptr(),
                yv.len(),
                opts,
            )
        };
        assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
        assert_eq!(y, yv);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
    // Wrong lengths leave y untouched; m = 0 with empty buffers is a no-op.
    let mut y = vec![7.0f32; rows * N];
    // SAFETY: live handle, buffers valid for the lengths passed.
    let s = unsafe {
        lowbit_gemm(
            m.0,
            x.as_ptr(),
            rows,
            x.len() - 1,
            y.as_mut_ptr(),
            y.len(),
            ptr::null(),
        )
    };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_BUFFER_LENGTH);
    // SAFETY: as above.
    let s = unsafe {
        lowbit_gemm(
            m.0,
            x.as_ptr(),
            rows,
            x.len(),
            y.as_mut_ptr(),
            y.len() - 1,
            ptr::null(),
        )
    };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_BUFFER_LENGTH);
    assert_eq!(y, vec![7.0; rows * N]);
    // SAFETY: empty buffers.
    let s = unsafe { lowbit_gemm(m.0, ptr::null(), 0, 0, ptr::null_mut(), 0, ptr::null()) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
}

/// Takes ownership of a handle an importer returned.
fn owned(p: *mut lowbit_matrix) -> Matrix {
    assert!(!p.is_null());
    Matrix(p)
}

fn dequantized(m: &Matrix) -> Vec<f32> {
    // SAFETY: live handle.
    let (n, k) = unsafe { (lowbit_matrix_n(m.0), lowbit_matrix_k(m.0)) };
    let mut w = vec![0.0f32; n * k];
    // SAFETY: live handle, `w` has n * k floats.
    let s = unsafe { lowbit_dequantize(m.0, w.as_mut_ptr(), w.len()) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    w
}

#[test]
fn llama_cpp_blocks_import_exactly() {
    // One Q4_0 block: d = 0.5, element j = j and element j + 16 = 15 - j.
    let mut q4 = vec![0x00u8, 0x38];
    q4.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let mut out = ptr::null_mut();
    // SAFETY: `q4` has 18 bytes; `out` is valid for one write.
    let s = unsafe { lowbit_import_q4_0(q4.as_ptr(), q4.len(), 1, 32, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    let m = owned(out);
    let want: Vec<f32> = (0..32)
        .map(|i| {
            let q = if i < 16 { i } else { 31 - i };
            0.5 * (q as f32 - 8.0)
        })
        .collect();
    assert_eq!(dequantized(&m), want);

    // One Q8_0 block: d = 1, q = -16..16.
    let mut q8 = vec![0x00u8, 0x3C];
    q8.extend((0..32i8).map(|j| (j - 16) as u8));
    let mut out = ptr::null_mut();
    // SAFETY: `q8` has 34 bytes; `out` is valid for one write.
    let s = unsafe { lowbit_import_q8_0(q8.as_ptr(), q8.len(), 1, 32, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    let m = owned(out);
    let want: Vec<f32> = (0..32).map(|j| (j - 16) as f32).collect();
    assert_eq!(dequantized(&m), want);

    // Wrong length or shape: nothing is created.
    let mut out = ptr::null_mut();
    // SAFETY: `q4` has 18 bytes (one short is passed).
    let s = unsafe { lowbit_import_q4_0(q4.as_ptr(), q4.len() - 1, 1, 32, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_BUFFER_LENGTH);
    // SAFETY: as above.
    let s = unsafe { lowbit_import_q8_0(q8.as_ptr(), q8.len(), 1, 16, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_INVALID_SHAPE);
    // SAFETY: NULL data with a nonzero length.
    let s = unsafe { lowbit_import_q8_0(ptr::null(), 34, 1, 32, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_NULL);
    // SAFETY: NULL out.
    let s = unsafe { lowbit_import_q8_0(q8.as_ptr(), q8.len(), 1, 32, ptr::null_mut()) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_NULL);
    assert!(out.is_null());
}

#[test]
fn awq_import_unpacks_its_order() {
    let (n, k) = (8usize, 32usize);
    let mut qweight = vec![0i32; k];
    qweight[0] = 0x73; // nibble 0: channel 0 = 3, nibble 1: channel 2 = 7
    let qzeros = [0x0000_0010i32]; // nibble 1: channel 2 has z = 1
    let scales = vec![0x3C00u16; n]; // 1.0
    let mut out = ptr::null_mut();
    // SAFETY: buffers valid for their lengths; `out` valid for one write.
    let s = unsafe {
        lowbit_import_awq(
            n,
            k,
            32,
            qweight.as_ptr(),
            qweight.len(),
            qzeros.as_ptr(),
            qzeros.len(),
            scales.as_ptr(),
            scales.len(),
            &mut out,
        )
    };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    let w = dequantized(&owned(out));
    let mut want = vec![0.0f32; n * k];
    want[0] = 3.0;
    for c in 0..k {
        want[2 * k + c] = -1.0;
    }
    want[2 * k] = 6.0;
    assert_eq!(w, want);
    let mut out = ptr::null_mut();
    // SAFETY: as above, with a short scales length.
    let s = unsafe {
        lowbit_import_awq(
            n,
            k,
            0,
            qweight.as_ptr(),
            qweight.len(),
            qzeros.as_ptr(),
            qzeros.len(),
            scales.as_ptr(),
            scales.len() - 1,
            &mut out,
        )
    };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_BUFFER_LENGTH);
    assert!(out.is_null());
}

#[test]
fn gptq_import_reports_its_permutation() {
    // 4 bits, N = 8, K = 64, g = 32; v1 zero fields 0 (z = 1), scales 1.0, and feature 1
    // of channel 0 holds code 5: W[0][1] = 4, everything else -1.
    let (n, k) = (8usize, 64usize);
    let mut qweight = vec![0i32; k * 4 / 32 * n];
    qweight[0] = 5 << 4; // row 0 (features 0..8), column 0, feature 1
    let qzeros = [0i32; 2];
    let scales = vec![0x3C00u16; 2 * n];
    let g_idx: Vec<i32> = (0..k as i32).map(|i| i % 2).collect();
    let import = |g_idx: Option<&[i32]>,
                  perm: Option<&mut [u32]>,
                  out: &mut *mut lowbit_matrix,
                  has: &mut u32| {
        let (gp, gl) = g_idx.map_or((ptr::null(), 0), |g| (g.as_ptr(), g.len()));
        let (pp, pl) = perm.map_or((ptr::null_mut(), 0), |p| (p.as_mut_ptr(), p.len()));
        // SAFETY: every buffer is valid for its length; `out` and `has` for one write.
        unsafe {
            lowbit_import_gptq(
                n,
                k,
                4,
                32,
                0,
                qweight.as_ptr(),
                qweight.len(),
                qzeros.as_ptr(),
                qzeros.len(),
                scales.as_ptr(),
                scales.len(),
                gp,
                gl,
                out,
                pp,
                pl,
                has,
            )
        }
    };
    let mut want = vec![-1.0f32; n * k];
    want[1] = 4.0;

    // No g_idx: no permutation, perm_out may be NULL.
    let (mut out, mut has) = (ptr::null_mut(), 7u32);
    assert_eq!(
        import(None, None, &mut out, &mut has),
        lowbit_status::LOWBIT_OK
    );
    assert_eq!(has, 0);
    assert_eq!(dequantized(&owned(out)), want);

    // Act-order without room for the permutation: nothing is created.
    let (mut out, mut has) = (ptr::null_mut(), 7u32);
    let mut short = vec![9u32; k - 1];
    for perm in [None, Some(&mut short[..])] {
        assert_eq!(
            import(Some(&g_idx), perm, &mut out, &mut has),
            lowbit_status::LOWBIT_ERR_BUFFER_LENGTH
        );
    }
    assert!(out.is_null());
    assert_eq!(has, 7);
    assert_eq!(short, vec![9; k - 1]);

    // With room: even features first, then odd ones; W'[0][32] = W[0][1].
    let mut perm = vec![0u32; k + 3];
    assert_eq!(
        import(Some(&g_idx), Some(&mut perm), &mut out, &mut has),
        lowbit_status::LOWBIT_OK,
        "{}",
        last_error()
    );
    assert_eq!(has, 1);
    let expect: Vec<u32> = (0..k as u32 / 2)
        .map(|j| 2 * j)
        .chain((0..k as u32 / 2).map(|j| 2 * j + 1))
        .chain([0; 3])
        .collect();
    assert_eq!(perm, expect);
    let mut want_p = vec![-1.0f32; n * k];
    want_p[32] = 4.0;
    assert_eq!(dequantized(&owned(out)), want_p);
}

#[test]
fn a_panic_inside_the_new_entry_points_becomes_a_status() {
    let m = Matrix::new();
    let x = test_x();
    let mut y = vec![7.0f32; N];
    test_hooks::panic_in_next_call();
    assert_eq!(
        gemv_ex(&m, x.as_ptr().cast(), K, LOWBIT_ACT_F32, &mut y, None),
        lowbit_status::LOWBIT_ERR_PANIC
    );
    assert!(last_error().contains("lowbit_gemv_ex"), "{}", last_error());
    test_hooks::panic_in_next_call();
    // SAFETY: live handle, buffers valid for their lengths.
    let s = unsafe { lowbit_gemm(m.0, x.as_ptr(), 1, K, y.as_mut_ptr(), N, ptr::null()) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_PANIC);
    assert_eq!(y, vec![7.0; N]);
    let q4 = [0u8; 18];
    let mut out = ptr::null_mut();
    test_hooks::panic_in_next_call();
    // SAFETY: `q4` has 18 bytes; `out` is valid for one write.
    let s = unsafe { lowbit_import_q4_0(q4.as_ptr(), q4.len(), 1, 32, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_PANIC);
    assert!(out.is_null());
    test_hooks::panic_in_next_call();
    assert_eq!(lowbit_gemv_options_default(), crate::ops::DEFAULT_OPTIONS);
    // Everything works normally afterwards.
    assert_eq!(
        gemv_ex(&m, x.as_ptr().cast(), K, LOWBIT_ACT_F32, &mut y, None),
        lowbit_status::LOWBIT_OK
    );
    // SAFETY: as above.
    let s = unsafe { lowbit_import_q4_0(q4.as_ptr(), q4.len(), 1, 32, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    drop(owned(out));
}

#[test]
fn activations_entry_points_catch_panics_and_check_handles() {
    let m = Matrix::new();
    let x = test_x();
    let mut y = vec![7.0f32; N];
    let mut a = ptr::null_mut();
    test_hooks::panic_in_next_call();
    // SAFETY: `x` has K floats; `a` is valid for one write.
    let s = unsafe { lowbit_activations_quantize(x.as_ptr(), K, &mut a) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_PANIC);
    assert!(a.is_null());
    // SAFETY: as above.
    let s = unsafe { lowbit_activations_quantize(x.as_ptr(), K, &mut a) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    test_hooks::panic_in_next_call();
    // SAFETY: live handles; `y` has N floats.
    let s = unsafe { lowbit_gemv_rows_a8(m.0, a, 0, N, y.as_mut_ptr(), N) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_PANIC);
    assert_eq!(y, vec![7.0; N]);
    test_hooks::panic_in_next_call();
    // SAFETY: live handle.
    assert_eq!(unsafe { lowbit_activations_k(a) }, 0, "the fallback value");
    // SAFETY: live handle.
    assert_eq!(unsafe { lowbit_activations_k(a) }, K);
    // A misaligned handle is refused, not dereferenced.
    let bad = (a as usize + 1) as *mut lowbit_activations;
    // SAFETY: the entry point checks alignment before any use.
    let s = unsafe { lowbit_activations_requantize(bad, x.as_ptr(), K) };
    assert_eq!(s, lowbit_status::LOWBIT_ERR_MISALIGNED);
    // SAFETY: live handles; `y` has N floats.
    let s = unsafe { lowbit_gemv_rows_a8(m.0, a, 0, N, y.as_mut_ptr(), N) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    // SAFETY: `a` is live and freed once.
    unsafe { lowbit_activations_free(a) };
}

// ---- FP4 / FP6 formats, matrices and views ----

/// The C descriptions of the Rust API's FP format names.
fn fp_formats() -> Vec<(&'static str, lowbit_format)> {
    vec![
        (
            "fp4_g32",
            lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_F16),
        ),
        (
            "fp4_g32_pow2",
            lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_F16_POW2),
        ),
        (
            "fp4_row",
            lowbit_format_fp(LOWBIT_FP_E2M1, 0, LOWBIT_FP_SCALE_F16),
        ),
        (
            "mxfp4",
            lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_E8M0),
        ),
        (
            "fp6_e3m2_g32",
            lowbit_format_fp(LOWBIT_FP_E3M2, 32, LOWBIT_FP_SCALE_F16),
        ),
        (
            "fp6_e2m3_g64",
            lowbit_format_fp(LOWBIT_FP_E2M3, 64, LOWBIT_FP_SCALE_F16),
        ),
        (
            "fp6_e2m3_row",
            lowbit_format_fp(LOWBIT_FP_E2M3, 0, LOWBIT_FP_SCALE_F16),
        ),
        (
            "fp6_e3m2_g32_pow2",
            lowbit_format_fp(LOWBIT_FP_E3M2, 32, LOWBIT_FP_SCALE_F16_POW2),
        ),
        (
            "mxfp6_e2m3",
            lowbit_format_fp(LOWBIT_FP_E2M3, 32, LOWBIT_FP_SCALE_E8M0),
        ),
        (
            "mxfp6_e3m2",
            lowbit_format_fp(LOWBIT_FP_E3M2, 32, LOWBIT_FP_SCALE_E8M0),
        ),
        (
            "nvfp4",
            lowbit_format_fp(LOWBIT_FP_E2M1, 16, LOWBIT_FP_SCALE_E4M3),
        ),
        (
            "fp8_e4m3_g32",
            lowbit_format_fp(LOWBIT_FP_E4M3, 32, LOWBIT_FP_SCALE_F16),
        ),
        (
            "fp8_e5m2_row",
            lowbit_format_fp(LOWBIT_FP_E5M2, 0, LOWBIT_FP_SCALE_F16),
        ),
        (
            "mxfp8_e4m3",
            lowbit_format_fp(LOWBIT_FP_E4M3, 32, LOWBIT_FP_SCALE_E8M0),
        ),
        (
            "nvfp6_e3m2",
            lowbit_format_fp(LOWBIT_FP_E3M2, 16, LOWBIT_FP_SCALE_E4M3),
        ),
    ]
}

/// Weights with a wide spread of magnitudes per group (so FP codes of every size occur).
fn fp_weights(n: usize, k: usize) -> Vec<f32> {
    (0..n * k)
        .map(|i| {
            let v = ((i * 37 % 101) as f32 - 50.0) / 9.0;
            if i % 7 == 0 {
                v * 0.01
            } else {
                v
            }
        })
        .collect()
}

fn quantize_c(f: &lowbit_format, w: &[f32], n: usize, k: usize) -> Matrix {
    let mut m = ptr::null_mut();
    // SAFETY: valid format, `w` has n * k floats, `m` is a valid out pointer.
    let s = unsafe { lowbit_quantize(f, w.as_ptr(), n, k, &mut m) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    owned(m)
}

fn fp_view_of(m: &Matrix) -> lowbit_fp_view {
    let mut v = std::mem::MaybeUninit::<lowbit_fp_view>::uninit();
    // SAFETY: live handle; `v` is valid for one write.
    let s = unsafe { lowbit_matrix_fp_view(m.0, v.as_mut_ptr()) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    // SAFETY: written on success.
    unsafe { v.assume_init() }
}

fn fp_view_gemv(v: &lowbit_fp_view, x: &[f32], y: &mut [f32]) -> lowbit_status {
    // SAFETY: the view's buffers are valid or refused before access; slices valid.
    unsafe { lowbit_fp_view_gemv(v, x.as_ptr(), x.len(), y.as_mut_ptr(), y.len()) }
}

fn fp_view_dequantize(v: &lowbit_fp_view, out: &mut [f32]) -> lowbit_status {
    // SAFETY: as above.
    unsafe { lowbit_fp_view_dequantize(v, out.as_mut_ptr(), out.len()) }
}

#[test]
fn fp_format_descriptions_match_the_rust_names() {
    for (name, f) in fp_formats() {
        let want = lowbit_rs::Format::parse(name).unwrap();
        assert_eq!(crate::format::to_format(&f).unwrap(), want, "{name}");
        assert_eq!(crate::format::from_format(want).unwrap(), f, "{name}");
        assert_eq!(
            f.bits,
            if name.starts_with("fp4") || name.ends_with("fp4") {
                4
            } else if name.contains("fp8") {
                8
            } else {
                6
            }
        );
    }
    // Sizes: FP6 per row, K = 66 (odd number of nibble pairs, a partial 2-bit byte).
    let f = lowbit_format_fp(LOWBIT_FP_E3M2, 0, LOWBIT_FP_SCALE_F16);
    let mut out = lowbit_fp_layout::default();
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_fp_sizes(&f, 3, 66, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    assert_eq!(
        out,
        lowbit_fp_layout {
            codes_len: 3 * 33,
            high_len: 3 * 17,
            scales_len: 3,
            scale_bytes: 2,
            group_len: 66,
            groups_per_row: 1,
            codes_row_bytes: 33,
            high_row_bytes: 17,
        }
    );
    let f = lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_E8M0);
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_fp_sizes(&f, 2, 96, &mut out) };
    assert_eq!(s, lowbit_status::LOWBIT_OK, "{}", last_error());
    assert_eq!(
        (out.codes_len, out.high_len, out.scales_len, out.scale_bytes),
        (96, 0, 6, 1)
    );
}

#[test]
fn bad_fp_format_fields_have_their_status_and_write_nothing() {
    use lowbit_status as S;
    let ok = lowbit_format_fp(LOWBIT_FP_E2M3, 32, LOWBIT_FP_SCALE_F16);
    let with = |g: &dyn Fn(&mut lowbit_format)| {
        let mut f = ok;
        g(&mut f);
        f
    };
    let cases: Vec<(&str, lowbit_format, S)> = vec![
        (
            "bits 4 for E2M3",
            with(&|f| f.bits = 4),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "bits 0",
            with(&|f| f.bits = 0),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "zero_point",
            with(&|f| f.zero_point = 1),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "reserved",
            with(&|f| f.reserved = 7),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "element 0",
            with(&|f| f.variant = 0),
            S::LOWBIT_ERR_UNSUPPORTED,
        ),
        (
            "element 8",
            with(&|f| f.variant = 8),
            S::LOWBIT_ERR_UNSUPPORTED,
        ),
        (
            "scale kind 4",
            with(&|f| f.variant = LOWBIT_FP_E2M3 | 0x400),
            S::LOWBIT_ERR_UNSUPPORTED,
        ),
        (
            "E4M3 with group 32",
            lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_E4M3),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "group 16 with f16 scales",
            lowbit_format_fp(LOWBIT_FP_E2M1, 16, LOWBIT_FP_SCALE_F16),
            S::LOWBIT_ERR_BAD_GROUP_SIZE,
        ),
        (
            "bits outside the masks",
            with(&|f| f.variant = LOWBIT_FP_E2M3 | 0x1_0000),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "E8M0 with group 64",
            lowbit_format_fp(LOWBIT_FP_E2M1, 64, LOWBIT_FP_SCALE_E8M0),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "E8M0 per row",
            lowbit_format_fp(LOWBIT_FP_E3M2, 0, LOWBIT_FP_SCALE_E8M0),
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "group 48",
            with(&|f| f.group = 48),
            S::LOWBIT_ERR_BAD_GROUP_SIZE,
        ),
        (
            "group 256 > K",
            with(&|f| f.group = 256),
            S::LOWBIT_ERR_BAD_GROUP_SIZE,
        ),
    ];
    let (n, k) = (2usize, 64usize);
    let w = fp_weights(n, k);
    for (what, f, want) in cases {
        let before = lowbit_fp_layout {
            codes_len: 1,
            ..Default::default()
        };
        let mut out = before;
        // SAFETY: valid pointers.
        let s = unsafe { lowbit_fp_sizes(&f, n, k, &mut out) };
        assert_eq!(s, want, "{what}: {}", last_error());
        assert_eq!(out, before, "{what}");
        let sentinel = ptr::dangling_mut::<lowbit_matrix>();
        let mut m = sentinel;
        // SAFETY: valid pointers; `w` has n * k floats.
        let s = unsafe { lowbit_quantize(&f, w.as_ptr(), n, k, &mut m) };
        assert_eq!(s, want, "{what}: {}", last_error());
        assert_eq!(m, sentinel, "{what}");
    }
    // Each family's size query refuses the other's formats.
    let mut out = lowbit_fp_layout::default();
    let int = lowbit_format_int(4, 32, false);
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_fp_sizes(&int, n, k, &mut out) };
    assert_eq!(s, S::LOWBIT_ERR_UNSUPPORTED);
    let mut iout = lowbit_int_layout::default();
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_int_sizes(&ok, n, k, &mut iout) };
    assert_eq!(s, S::LOWBIT_ERR_UNSUPPORTED);
    assert_eq!(iout, lowbit_int_layout::default());
    // NaN weights are refused for FP as for INT.
    let mut bad = w.clone();
    bad[5] = f32::NAN;
    let mut m = ptr::null_mut();
    // SAFETY: valid pointers.
    let s = unsafe { lowbit_quantize(&ok, bad.as_ptr(), n, k, &mut m) };
    assert_eq!(s, S::LOWBIT_ERR_NON_FINITE);
    assert!(m.is_null());
}

#[test]
fn fp_matrices_and_views_agree_on_every_operation() {
    use lowbit_status as S;
    let (n, k) = (5usize, 128usize);
    let w = fp_weights(n, k);
    let x: Vec<f32> = (0..k)
        .map(|i| ((i * 13 % 29) as f32 - 14.0) / 8.0)
        .collect();
    let single = lowbit_gemv_options {
        single_thread: 1,
        ..lowbit_gemv_options_default()
    };
    let a8 = lowbit_gemv_options {
        precision: LOWBIT_PRECISION_ALLOW_A8,
        ..lowbit_gemv_options_default()
    };
    let mut act = ptr::null_mut();
    // SAFETY: `x` has k floats; `act` is valid for one write.
    let s = unsafe { lowbit_activations_quantize(x.as_ptr(), k, &mut act) };
    assert_eq!(s, S::LOWBIT_OK);
    for (name, f) in fp_formats() {
        let m = quantize_c(&f, &w, n, k);
        // The format read back is the one given, and the matrix is what Rust quantizes.
        let mut got = lowbit_format::default();
        // SAFETY: live handle; `got` valid for one write.
        let s = unsafe { lowbit_matrix_format(m.0, &mut got) };
        assert_eq!(s, S::LOWBIT_OK, "{name}");
        assert_eq!(got, f, "{name}");
        let rust =
            lowbit_rs::QuantizedMatrix::quantize(&w, n, k, lowbit_rs::Format::parse(name).unwrap())
                .unwrap();
        let mut want_w = vec![0.0f32; n * k];
        rust.dequantize(&mut want_w).unwrap();
        assert_eq!(dequantized(&m), want_w, "{name}");

        // The exported planes as a view.
        let v = fp_view_of(&m);
        assert_eq!(v.format, f);
        assert_eq!((v.n, v.k), (n, k));
        let per_byte = if f.bits == 8 { 1 } else { 2 };
        assert_eq!(v.codes_len, n * k / per_byte, "{name}");
        if f.bits != 6 {
            assert!(v.high.is_null() && v.high_len == 0, "{name}");
        } else {
            assert_eq!(v.high_len, n * k / 4, "{name}");
        }
        let mut vw = vec![0.0f32; n * k];
        assert_eq!(fp_view_dequantize(&v, &mut vw), S::LOWBIT_OK);
        assert_eq!(vw, want_w, "{name}");
        let mut int_out = std::mem::MaybeUninit::<lowbit_int_view>::uninit();
        // SAFETY: live handle; `int_out` valid for one write.
        let s = unsafe { lowbit_matrix_int_view(m.0, int_out.as_mut_ptr()) };
        assert_eq!(s, S::LOWBIT_ERR_UNSUPPORTED, "{name}");

        // GEMV: handle, view, row ranges, options, against f64 over the weights.
        let mut y = vec![0.0f32; n];
        assert_eq!(m.gemv(&x, &mut y), S::LOWBIT_OK, "{name}: {}", last_error());
        for r in 0..n {
            let exact: f64 = (0..k)
                .map(|j| f64::from(want_w[r * k + j]) * f64::from(x[j]))
                .sum();
            let mag: f64 = (0..k)
                .map(|j| f64::from(want_w[r * k + j].abs() * x[j].abs()))
                .sum();
            assert!(
                (f64::from(y[r]) - exact).abs() <= 1e-5 * mag + 1e-6,
                "{name} row {r}: {} vs {exact}",
                y[r]
            );
        }
        let mut yv = vec![7.0f32; n];
        assert_eq!(fp_view_gemv(&v, &x, &mut yv), S::LOWBIT_OK, "{name}");
        assert_eq!(yv, y, "{name}: view vs matrix");
        let mut yr = vec![7.0f32; n - 1];
        // SAFETY: a view of a live matrix; buffers valid for their lengths.
        let s =
            unsafe { lowbit_fp_view_gemv_rows(&v, x.as_ptr(), k, 1, n, yr.as_mut_ptr(), n - 1) };
        assert_eq!(s, S::LOWBIT_OK, "{name}");
        assert_eq!(yr, y[1..], "{name}: rows");
        for opts in [&single, &a8] {
            let (mut ym, mut yv) = (vec![7.0f32; n], vec![8.0f32; n]);
            let s = gemv_ex(
                &m,
                x.as_ptr().cast(),
                k,
                LOWBIT_ACT_F32,
                &mut ym,
                Some(opts),
            );
            assert_eq!(s, S::LOWBIT_OK, "{name}: {}", last_error());
            // SAFETY: a view of a live matrix; buffers valid for their lengths.
            let s = unsafe {
                lowbit_fp_view_gemv_ex(
                    &v,
                    x.as_ptr().cast(),
                    k,
                    LOWBIT_ACT_F32,
                    yv.as_mut_ptr(),
                    n,
                    opts,
                )
            };
            assert_eq!(s, S::LOWBIT_OK, "{name}: {}", last_error());
            assert_eq!(ym, yv, "{name}: gemv_ex view vs matrix");
            let (mut ymr, mut yvr) = (vec![7.0f32; 2], vec![8.0f32; 2]);
            // SAFETY: live handle / view; buffers valid for their lengths.
            let (s1, s2) = unsafe {
                (
                    lowbit_gemv_rows_ex(
                        m.0,
                        x.as_ptr().cast(),
                        k,
                        LOWBIT_ACT_F32,
                        2,
                        4,
                        ymr.as_mut_ptr(),
                        2,
                        opts,
                    ),
                    lowbit_fp_view_gemv_rows_ex(
                        &v,
                        x.as_ptr().cast(),
                        k,
                        LOWBIT_ACT_F32,
                        2,
                        4,
                        yvr.as_mut_ptr(),
                        2,
                        opts,
                    ),
                )
            };
            assert_eq!((s1, s2), (S::LOWBIT_OK, S::LOWBIT_OK), "{name}");
            assert_eq!(ymr, ym[2..4], "{name}: rows_ex");
            assert_eq!(yvr, ymr, "{name}: rows_ex view");
        }
        // Kernel names: the same kernel for the view and the matrix, an FP one.
        // SAFETY: live handle / view; NULL options.
        let (km, kv) = unsafe {
            (
                cstr(lowbit_gemv_kernel_name(m.0, ptr::null())),
                cstr(lowbit_fp_view_gemv_kernel_name(&v, ptr::null())),
            )
        };
        assert_eq!(km, kv, "{name}");
        assert!(km.starts_with("gemv_fp"), "{name}: {km}");

        // GEMM: 3 activation rows, matrix vs view, row ranges with a stride.
        let rows = 3;
        let xs: Vec<f32> = (0..rows * k)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 4.0)
            .collect();
        let (mut gm, mut gv) = (vec![7.0f32; rows * n], vec![8.0f32; rows * n]);
        // SAFETY: live handle / view; buffers valid for their lengths.
        let (s1, s2) = unsafe {
            (
                lowbit_gemm(
                    m.0,
                    xs.as_ptr(),
                    rows,
                    xs.len(),
                    gm.as_mut_ptr(),
                    gm.len(),
                    ptr::null(),
                ),
                lowbit_fp_view_gemm(
                    &v,
                    xs.as_ptr(),
                    rows,
                    xs.len(),
                    gv.as_mut_ptr(),
                    gv.len(),
                    ptr::null(),
                ),
            )
        };
        assert_eq!(
            (s1, s2),
            (S::LOWBIT_OK, S::LOWBIT_OK),
            "{name}: {}",
            last_error()
        );
        assert_eq!(gm, gv, "{name}: gemm view vs matrix");
        for (xi, yi) in xs.chunks(k).zip(gm.chunks(n)) {
            let mut y1 = vec![0.0f32; n];
            assert_eq!(m.gemv(xi, &mut y1), S::LOWBIT_OK);
            for (a, b) in yi.iter().zip(&y1) {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                    "{name}: {a} vs {b}"
                );
            }
        }
        let ldy = 4;
        let mut gr = vec![9.0f32; (rows - 1) * ldy + 3];
        // SAFETY: a view of a live matrix; buffers valid for their lengths.
        let s = unsafe {
            lowbit_fp_view_gemm_rows(
                &v,
                xs.as_ptr(),
                rows,
                xs.len(),
                1,
                4,
                gr.as_mut_ptr(),
                gr.len(),
                ldy,
                ptr::null(),
            )
        };
        assert_eq!(s, S::LOWBIT_OK, "{name}: {}", last_error());
        for i in 0..rows {
            assert_eq!(gr[i * ldy..i * ldy + 3], gm[i * n + 1..i * n + 4], "{name}");
        }

        // A8 with prepared activations: the C calls give what the Rust API gives (a
        // format without an A8 kernel is LOWBIT_ERR_UNSUPPORTED and writes nothing).
        let xa = lowbit_rs::quantize_activations(&x).unwrap();
        let mut yr = vec![7.0f32; n];
        let rust = lowbit_rs::gemv_rows_a8(rust.view(), &xa, 0..n, &mut yr, None);
        let (mut ya, mut yva) = (vec![7.0f32; n], vec![8.0f32; n]);
        // SAFETY: live handles / view; `y` buffers have n floats.
        let (s1, s2) = unsafe {
            (
                lowbit_gemv_rows_a8(m.0, act, 0, n, ya.as_mut_ptr(), n),
                lowbit_fp_view_gemv_rows_a8_ex(&v, act, 0, n, yva.as_mut_ptr(), n, &single),
            )
        };
        match rust {
            Err(e) => {
                let want = lowbit_status::from_error(&e);
                assert_eq!(want, S::LOWBIT_ERR_UNSUPPORTED, "{name}: {e}");
                assert_eq!((s1, s2), (want, want), "{name}");
                assert_eq!((ya, yva), (vec![7.0; n], vec![8.0; n]), "{name}");
            }
            Ok(_) => {
                assert_eq!(
                    (s1, s2),
                    (S::LOWBIT_OK, S::LOWBIT_OK),
                    "{name}: {}",
                    last_error()
                );
                assert_eq!(ya, yr, "{name}: A8 matrix vs Rust");
                assert_eq!(yva, yr, "{name}: A8 view vs Rust");
                for r in 0..n {
                    let mag: f32 = (0..k).map(|j| (want_w[r * k + j] * x[j]).abs()).sum();
                    assert!(
                        (ya[r] - y[r]).abs() <= 0.02 * mag + 1e-4,
                        "{name} row {r}: {} vs {}",
                        ya[r],
                        y[r]
                    );
                }
            }
        }

        // A copy through lowbit_matrix_from_fp_view outlives the source.
        let mut m2 = ptr::null_mut();
        // SAFETY: a view of a live matrix; `m2` valid for one write.
        let s = unsafe { lowbit_matrix_from_fp_view(&v, &mut m2) };
        assert_eq!(s, S::LOWBIT_OK, "{name}");
        let m2 = owned(m2);
        drop(m);
        let mut y2 = vec![0.0f32; n];
        assert_eq!(m2.gemv(&x, &mut y2), S::LOWBIT_OK);
        assert_eq!(y2, y, "{name}: copy");
        assert_eq!(dequantized(&m2), want_w, "{name}: copy");
    }
    // An INT matrix has no FP view.
    let im = Matrix::new();
    let mut out = std::mem::MaybeUninit::<lowbit_fp_view>::uninit();
    // SAFETY: live handle; `out` valid for one write.
    let s = unsafe { lowbit_matrix_fp_view(im.0, out.as_mut_ptr()) };
    assert_eq!(s, S::LOWBIT_ERR_UNSUPPORTED);
    // SAFETY: `act` is live and freed once.
    unsafe { lowbit_activations_free(act) };
}

/// Runs every FP view entry point on `v`; each must return `want` and write nothing.
fn all_fp_view_calls_fail(what: &str, v: &lowbit_fp_view, want: lowbit_status) {
    let (n, k) = (v.n.max(1), v.k.max(1));
    let x = vec![0.5f32; k];
    let mut y = vec![7.0f32; n];
    let check = |call: &str, s: lowbit_status, y: &[f32]| {
        assert_eq!(s, want, "{what}: {call}: {}", last_error());
        assert!(
            y.iter().all(|&v| v == 7.0),
            "{what}: {call} wrote its output"
        );
        if s != lowbit_status::LOWBIT_OK {
            assert!(last_error().starts_with(call), "{what}: {}", last_error());
        }
    };
    check("lowbit_fp_view_gemv", fp_view_gemv(v, &x, &mut y), &y);
    let mut out = vec![7.0f32; n * k];
    check(
        "lowbit_fp_view_dequantize",
        fp_view_dequantize(v, &mut out),
        &out,
    );
    let mut act = ptr::null_mut();
    // SAFETY: `x` has k floats; `act` valid for one write.
    let s = unsafe { lowbit_activations_quantize(x.as_ptr(), k, &mut act) };
    assert_eq!(s, lowbit_status::LOWBIT_OK);
    // SAFETY: for every call below, the view's buffers are valid for their lengths or
    // are refused before access; `x`, `y`, `out` are valid for the lengths passed; `act`
    // is live until freed at the end.
    unsafe {
        let s = lowbit_fp_view_gemv_rows(v, x.as_ptr(), k, 0, n, y.as_mut_ptr(), n);
        check("lowbit_fp_view_gemv_rows", s, &y);
        let s = lowbit_fp_view_gemv_ex(
            v,
            x.as_ptr().cast(),
            k,
            LOWBIT_ACT_F32,
            y.as_mut_ptr(),
            n,
            ptr::null(),
        );
        check("lowbit_fp_view_gemv_ex", s, &y);
        let s = lowbit_fp_view_gemv_rows_ex(
            v,
            x.as_ptr().cast(),
            k,
            LOWBIT_ACT_F32,
            0,
            n,
            y.as_mut_ptr(),
            n,
            ptr::null(),
        );
        check("lowbit_fp_view_gemv_rows_ex", s, &y);
        let s = lowbit_fp_view_gemm(v, x.as_ptr(), 1, k, y.as_mut_ptr(), n, ptr::null());
        check("lowbit_fp_view_gemm", s, &y);
        let s =
            lowbit_fp_view_gemm_rows(v, x.as_ptr(), 1, k, 0, n, y.as_mut_ptr(), n, n, ptr::null());
        check("lowbit_fp_view_gemm_rows", s, &y);
        let s = lowbit_fp_view_gemv_rows_a8(v, act, 0, n, y.as_mut_ptr(), n);
        check("lowbit_fp_view_gemv_rows_a8", s, &y);
        let s = lowbit_fp_view_gemv_rows_a8_ex(v, act, 0, n, y.as_mut_ptr(), n, ptr::null());
        check("lowbit_fp_view_gemv_rows_a8_ex", s, &y);
        let name = cstr(lowbit_fp_view_gemv_kernel_name(v, ptr::null()));
        assert!(name.is_empty(), "{what}: kernel name {name}");
        assert!(
            last_error().starts_with("lowbit_fp_view_gemv_kernel_name"),
            "{what}: {}",
            last_error()
        );
        let sentinel = ptr::dangling_mut::<lowbit_matrix>();
        let mut m = sentinel;
        let s = lowbit_matrix_from_fp_view(v, &mut m);
        assert_eq!(s, want, "{what}: lowbit_matrix_from_fp_view");
        assert_eq!(m, sentinel, "{what}: lowbit_matrix_from_fp_view wrote *out");
        lowbit_activations_free(act);
    }
}

#[test]
fn every_bad_fp_view_has_its_status_and_writes_nothing() {
    use lowbit_status as S;
    let (n, k) = (3usize, 64usize);
    let w = fp_weights(n, k);
    // An FP6 matrix with f16 scales, one with E8M0 scales, an FP4 one and a pow2 one;
    // bad views are edits of their exported views pointing at local copies.
    let f6 = quantize_c(
        &lowbit_format_fp(LOWBIT_FP_E2M3, 32, LOWBIT_FP_SCALE_F16),
        &w,
        n,
        k,
    );
    let mx6 = quantize_c(
        &lowbit_format_fp(LOWBIT_FP_E3M2, 32, LOWBIT_FP_SCALE_E8M0),
        &w,
        n,
        k,
    );
    let f4 = quantize_c(
        &lowbit_format_fp(LOWBIT_FP_E2M1, 0, LOWBIT_FP_SCALE_F16),
        &w,
        n,
        k,
    );
    let p4 = quantize_c(
        &lowbit_format_fp(LOWBIT_FP_E2M1, 64, LOWBIT_FP_SCALE_F16_POW2),
        &w,
        n,
        k,
    );
    let (v6, vmx, v4, vp) = (
        fp_view_of(&f6),
        fp_view_of(&mx6),
        fp_view_of(&f4),
        fp_view_of(&p4),
    );
    // SAFETY: the scales of these views are live f16 / E8M0 buffers of the lengths given.
    let (s6, smx, sp) = unsafe {
        (
            std::slice::from_raw_parts(v6.scales.cast::<u16>(), v6.scales_len).to_vec(),
            std::slice::from_raw_parts(vmx.scales.cast::<u8>(), vmx.scales_len).to_vec(),
            std::slice::from_raw_parts(vp.scales.cast::<u16>(), vp.scales_len).to_vec(),
        )
    };
    // Sanity: the untouched views work.
    for v in [&v6, &vmx, &v4, &vp] {
        let mut y = vec![0.0f32; n];
        assert_eq!(
            fp_view_gemv(v, &vec![1.0; k], &mut y),
            S::LOWBIT_OK,
            "{}",
            last_error()
        );
    }

    let mut nan6 = s6.clone();
    nan6[2] = 0x7E00;
    let mut inf6 = s6.clone();
    inf6[0] = 0xFC00;
    let mut nanmx = smx.clone();
    nanmx[smx.len() - 1] = 0xFF;
    let mut notpow2 = sp.clone();
    notpow2[1] = 0x3E00; // 1.5
    let mut negpow2 = sp.clone();
    negpow2[0] = 0xBC00; // -1.0
    let mut mis = vec![0u16; s6.len() + 1];
    let mis_ptr = mis.as_mut_ptr().cast::<u8>().wrapping_add(1);
    // SAFETY: `mis` has room for `s6.len()` u16s after its first byte.
    unsafe { ptr::copy_nonoverlapping(s6.as_ptr().cast::<u8>(), mis_ptr, 2 * s6.len()) };
    let extra_high = [0u8; 16];

    let cases: Vec<(&str, lowbit_fp_view, S)> = vec![
        (
            "codes one short",
            lowbit_fp_view {
                codes_len: v6.codes_len - 1,
                ..v6
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "codes one long",
            lowbit_fp_view {
                codes_len: v4.codes_len + 1,
                ..v4
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "high one short",
            lowbit_fp_view {
                high_len: v6.high_len - 1,
                ..v6
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "high missing (FP6)",
            lowbit_fp_view {
                high: ptr::null(),
                high_len: 0,
                ..vmx
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "high given for FP4",
            lowbit_fp_view {
                high: extra_high.as_ptr(),
                high_len: 16,
                ..v4
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "scales one long",
            lowbit_fp_view {
                scales_len: vmx.scales_len + 1,
                ..vmx
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "scales empty",
            lowbit_fp_view {
                scales: ptr::null(),
                scales_len: 0,
                ..v6
            },
            S::LOWBIT_ERR_BUFFER_LENGTH,
        ),
        (
            "codes NULL",
            lowbit_fp_view {
                codes: ptr::null(),
                ..v6
            },
            S::LOWBIT_ERR_NULL,
        ),
        (
            "high NULL",
            lowbit_fp_view {
                high: ptr::null(),
                ..v6
            },
            S::LOWBIT_ERR_NULL,
        ),
        (
            "scales NULL",
            lowbit_fp_view {
                scales: ptr::null(),
                ..vmx
            },
            S::LOWBIT_ERR_NULL,
        ),
        (
            "NaN f16 scale",
            lowbit_fp_view {
                scales: nan6.as_ptr().cast(),
                ..v6
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "Inf f16 scale",
            lowbit_fp_view {
                scales: inf6.as_ptr().cast(),
                ..v6
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "E8M0 NaN byte",
            lowbit_fp_view {
                scales: nanmx.as_ptr().cast(),
                ..vmx
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "pow2 scale 1.5",
            lowbit_fp_view {
                scales: notpow2.as_ptr().cast(),
                ..vp
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "pow2 scale -1",
            lowbit_fp_view {
                scales: negpow2.as_ptr().cast(),
                ..vp
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "misaligned f16 scales",
            lowbit_fp_view {
                scales: mis_ptr.cast_const().cast(),
                ..v6
            },
            S::LOWBIT_ERR_MISALIGNED,
        ),
        (
            "unknown element",
            lowbit_fp_view {
                format: lowbit_format {
                    variant: 9,
                    ..v6.format
                },
                ..v6
            },
            S::LOWBIT_ERR_UNSUPPORTED,
        ),
        (
            "element of the wrong width",
            lowbit_fp_view {
                format: lowbit_format {
                    variant: LOWBIT_FP_E2M1,
                    ..v6.format
                },
                ..v6
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "nonzero reserved",
            lowbit_fp_view {
                format: lowbit_format {
                    reserved: 1,
                    ..v6.format
                },
                ..v6
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "nonzero zero_point",
            lowbit_fp_view {
                format: lowbit_format {
                    zero_point: 1,
                    ..vmx.format
                },
                ..vmx
            },
            S::LOWBIT_ERR_INVALID_PARAMETER,
        ),
        (
            "an INT format",
            lowbit_fp_view {
                format: lowbit_format_int(4, 32, false),
                ..v4
            },
            S::LOWBIT_ERR_UNSUPPORTED,
        ),
        (
            "N = 0",
            lowbit_fp_view { n: 0, ..v6 },
            S::LOWBIT_ERR_INVALID_SHAPE,
        ),
        (
            "K not a multiple of the group",
            lowbit_fp_view { k: 48, ..v6 },
            S::LOWBIT_ERR_BAD_GROUP_SIZE,
        ),
    ];
    for (what, v, want) in &cases {
        all_fp_view_calls_fail(what, v, *want);
    }
    // A NULL view.
    let mut y = vec![7.0f32; n];
    let x = vec![1.0f32; k];
    // SAFETY: a NULL view is refused before any access.
    let s = unsafe { lowbit_fp_view_gemv(ptr::null(), x.as_ptr(), k, y.as_mut_ptr(), n) };
    assert_eq!(s, S::LOWBIT_ERR_NULL);
    assert_eq!(y, vec![7.0; n]);

    // An output overlapping a plane or the scales is refused (FP buffers are checked).
    for (which, src, len) in [
        ("codes", v6.codes, v6.codes_len),
        ("high", v6.high, v6.high_len),
    ] {
        let mut buf = vec![0.0f32; len.div_ceil(4) + n * k];
        let bytes = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `buf` has at least `len` bytes; the source is a live matrix.
        unsafe { ptr::copy_nonoverlapping(src, bytes, len) };
        let bv = if which == "codes" {
            lowbit_fp_view { codes: bytes, ..v6 }
        } else {
            lowbit_fp_view { high: bytes, ..v6 }
        };
        // SAFETY: `out` overlaps a view buffer, which the call detects before writing.
        let s = unsafe { lowbit_fp_view_dequantize(&bv, buf.as_mut_ptr(), n * k) };
        assert_eq!(s, S::LOWBIT_ERR_INVALID_PARAMETER, "{which}");
        assert!(
            last_error().contains(&format!("overlaps input `{which}`")),
            "{}",
            last_error()
        );
    }
    let mut sbuf = vec![0.0f32; n * k + smx.len()];
    // SAFETY: `sbuf` has room for the E8M0 bytes at its start.
    unsafe { ptr::copy_nonoverlapping(smx.as_ptr(), sbuf.as_mut_ptr().cast::<u8>(), smx.len()) };
    let bv = lowbit_fp_view {
        scales: sbuf.as_ptr().cast(),
        ..vmx
    };
    // SAFETY: `y` overlaps the scales, which the call detects before writing.
    let s = unsafe { lowbit_fp_view_gemv(&bv, x.as_ptr(), k, sbuf.as_mut_ptr(), n) };
    assert_eq!(s, S::LOWBIT_ERR_INVALID_PARAMETER);
    assert!(
        last_error().contains("overlaps input `scales`"),
        "{}",
        last_error()
    );
}
