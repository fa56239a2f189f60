//! The C ABI (`crates/lowbit-capi`, declared in `include/lowbit.h`) called with arbitrary
//! arguments, the way a C program calls it.
//!
//! Each input builds one or two weight matrices through the ABI: quantized from f32
//! (`lowbit_quantize`, after `lowbit_int_sizes`), a view and a matrix over raw packed
//! buffers (`lowbit_int_view`, `lowbit_matrix_from_int_view`), or an import of llama.cpp
//! Q4_0 / Q8_0, AWQ or GPTQ tensors; with every INT bit width (and invalid ones), every
//! group size (and invalid ones), zero-points on and off, shapes including 0 and odd K,
//! buffers of the wrong length, NULL and misaligned pointers, NaN/Inf weights and wild f16
//! scales. FP4 / FP6 / FP8 formats (`LOWBIT_FORMAT_FP`: every element, E2M1, E3M2, E2M3,
//! E4M3 and E5M2, with every scale kind, and invalid element, scale, bits, group and
//! reserved fields) are quantized too (`lowbit_fp_sizes`, `lowbit_quantize`, exported
//! with `lowbit_matrix_fp_view`; FP8 codes from the quantizer are never NaN or infinite)
//! and viewed over raw buffers (`lowbit_fp_view`, `lowbit_matrix_from_fp_view`) with wrong
//! plane lengths, a high plane given for FP4 or FP8, NaN/Inf or non-power-of-two f16
//! scales, the E8M0 NaN byte, and NVFP4-style E4M3 scales (`LOWBIT_FP_SCALE_E4M3`: one
//! E4M3 byte per group of 16, every element type, and other groups, which are refused)
//! with their NaN bytes 0x7F / 0xFF, negative bytes and `lowbit_fp_view.tensor_scale`
//! (tame, zero, negative, tiny, huge, NaN, Inf; and nonzero for the other scale kinds,
//! which must pass 0). FP8 codes (one byte each) are not validated: views hold mostly
//! finite codes, sometimes a few NaN / infinite ones (E4M3 0x7F / 0xFF, E5M2 exponent 31)
//! or rows full of them, which must be accepted and give NaN / infinite weights. OVP
//! (OliVe) weights, `LOWBIT_FP_OVP4` / `LOWBIT_FP_OVP8`, come the same two ways, with the
//! f16 scale kinds and sometimes the byte kinds (refused) or an odd K (refused); views
//! hold random codes with extra identifiers (outliers, the reserved code, two identifiers
//! in a pair), decoded here per pair from FORMATS.md, and the quantizer must never write
//! two identifiers nor the reserved outlier. The
//! `lowbit_fp_view_*` variants run every operation below. It then runs a few
//! operations on the matrix, alternating with a view of the same buffers: every GEMV,
//! GEMM and A8 entry point (`lowbit_gemv*`, `lowbit_gemm*`, `lowbit_activations_*`, the
//! `_view_` variants; activations from `lowbit_activations_quantize` or the W4A4
//! `lowbit_activations_quantize_ovp4`), `lowbit_*_kernel_name` and `lowbit_*dequantize`,
//! with fuzzer-chosen ISA codes (unknown ones, and ones this CPU lacks), precisions (W4A4
//! `LOWBIT_PRECISION_ALLOW_A4_OVP` included), thread
//! flags, accumulation, biases (also of the wrong length), f16/bf16 and NaN/Inf
//! activations, row ranges (also empty, reversed and out of range), output strides,
//! outputs overlapping an input, a workspace, and a process-wide ISA cap.
//!
//! Every pointer passed is NULL or points into a live Rust buffer that is valid for the
//! length passed with it, also when that length is "wrong" for the call: a misaligned
//! pointer is a live buffer's address plus 1-3 bytes with room for the whole length
//! after it. Handles are NULL or live.
//!
//! Oracles (a violation panics, which libFuzzer reports as a crash):
//! 1. no call returns `LOWBIT_ERR_PANIC`;
//! 2. every status is a known code, with a description from `lowbit_status_string()`;
//! 3. on failure every byte the call could reach (outputs, inputs, the guard bytes around
//!    them, `*out` handles) is unchanged; on success nothing changed outside the
//!    documented outputs (guards, the gaps of a strided output, the inputs);
//! 4. on failure `lowbit_last_error_message()` is this call's message: a different failure
//!    is recorded right before every call, so a stale message is caught;
//! 5. the status is the documented one: success when every argument is valid, the
//!    documented code when exactly one argument is invalid, an error when several are;
//! 6. results agree with the same call forced to `LOWBIT_ISA_SCALAR` and with an f64
//!    evaluation from weights decoded here from the documented layout, within the bound of
//!    the accuracy contract (see `verify`), and every bitwise equality the header promises
//!    holds (see `same`): dequantize, row splits, threads, views vs matrices, f16/bf16 vs
//!    widened f32, GEMM rows vs GEMV, the A8 row calls vs the A8 path of GEMV. Rows
//!    whose weights hold NaN or an infinity (FP8 NaN / Inf codes, the NaN / Inf f16
//!    scales an INT view accepts) are not compared numerically: where IEEE arithmetic
//!    fixes the outcome whatever the evaluation order (see `verify_special`), the result
//!    and the scalar reference must both be NaN, or both that infinity. FP8 and OVP-8
//!    have no A8 path: `lowbit_*gemv_rows_a8*` refuse them with `LOWBIT_ERR_UNSUPPORTED`
//!    once every argument is valid, and `LOWBIT_PRECISION_ALLOW_A8` runs their f32
//!    kernels. A W4A4 result is held to the exact product of the weights decoded here and
//!    the activations of the OVP-4 codec (`lowbit_formats::act::quantize_block_ovp4`, the
//!    codec the handle documents), and a W4A4 handle's rows to `lowbit_gemv_ex` with
//!    `LOWBIT_PRECISION_ALLOW_A4_OVP` bit for bit.
//!
//! What the fuzzer found is in `fuzz/FINDINGS.md`. To turn a crash into a reproduction,
//! run the target on the crashing input with `CAPI_DEBUG=1`: it prints the calls of the
//! input.
#![no_main]
#![allow(clippy::too_many_arguments)]

use core::ffi::{c_char, c_void};
use core::ops::Range;
use core::ptr::{null, null_mut, NonNull};
use std::ffi::CStr;
use std::sync::Once;

use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use lowbit::lowbit_status as St;
use lowbit::*;
use lowbit_formats::{bf16, f16};

const OK: St = St::LOWBIT_OK;
const E_NULL: St = St::LOWBIT_ERR_NULL;
const E_MIS: St = St::LOWBIT_ERR_MISALIGNED;
const E_SHAPE: St = St::LOWBIT_ERR_INVALID_SHAPE;
const E_GROUP: St = St::LOWBIT_ERR_BAD_GROUP_SIZE;
const E_LEN: St = St::LOWBIT_ERR_BUFFER_LENGTH;
const E_NONFINITE: St = St::LOWBIT_ERR_NON_FINITE;
const E_PARAM: St = St::LOWBIT_ERR_INVALID_PARAMETER;
const E_UNAVAILABLE: St = St::LOWBIT_ERR_ISA_UNAVAILABLE;
const E_UNKNOWN_ISA: St = St::LOWBIT_ERR_UNKNOWN_ISA;
const E_UNSUPPORTED: St = St::LOWBIT_ERR_UNSUPPORTED;

const AUTO: i32 = lowbit_isa::LOWBIT_ISA_AUTO as i32;
const SCALAR: i32 = lowbit_isa::LOWBIT_ISA_SCALAR as i32;
const AVX2: i32 = lowbit_isa::LOWBIT_ISA_AVX2 as i32;

/// Shapes stay small so that the fuzzer runs many inputs per second.
const MAX_N: usize = 300;
const MAX_K: usize = 300;
const MAX_NK: usize = 24_000;

// ---------------------------------------------------------------------------------------
// Choices driven by the input
// ---------------------------------------------------------------------------------------

/// `CAPI_DEBUG` set: print what each input does (to reproduce a crash by hand).
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CAPI_DEBUG").is_some())
}

/// True about once in `one_in` (false once the input is used up).
fn chance(u: &mut Unstructured, one_in: u32) -> bool {
    u.int_in_range(0..=one_in - 1).unwrap_or(0) == one_in - 1
}

/// One of `xs` (the first once the input is used up).
fn pick<T: Copy>(u: &mut Unstructured, xs: &[T]) -> T {
    xs[u.choose_index(xs.len()).unwrap_or(0)]
}

/// A number in `lo..=hi` (`lo` once the input is used up).
fn range(u: &mut Unstructured, lo: usize, hi: usize) -> usize {
    u.int_in_range(lo..=hi).unwrap_or(lo)
}

/// Bulk data (codes, activations) comes from a generator seeded by the input, so that
/// short inputs still fill large buffers; the input picks its shape and special values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// State of one input.
struct Cx {
    rng: Rng,
    /// This input's workspace (`lowbit_workspace_new`), passed in some options.
    ws: *mut lowbit_workspace,
}

/// `2^e` for `e` in `-149..=127`, exactly.
fn pow2(e: i32) -> f32 {
    let e = e.clamp(-149, 127);
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (e + 149))
    }
}

/// `len` floats around a magnitude the input picks, with a few special values (NaN, Inf,
/// subnormals, huge) at positions the input picks.
fn gen_floats(cx: &mut Cx, u: &mut Unstructured, len: usize) -> Vec<f32> {
    let e = pick(u, &[0, 0, 0, -3, 5, -12, -40, -100, -127, -135, 12]);
    let kind = range(u, 0, 3);
    let mut v: Vec<f32> = (0..len)
        .map(|_| {
            let r = cx.rng.next();
            match kind {
                0 | 1 => f32::from((r >> 16) as i16) * pow2(e - 15),
                2 => f32::from((r % 7) as i8 - 3) * pow2(e),
                _ if r.is_multiple_of(3) => pow2(e),
                _ => 0.0,
            }
        })
        .collect();
    if len > 0 && chance(u, 4) {
        for _ in 0..range(u, 1, 3) {
            let i = range(u, 0, len - 1);
            v[i] = pick(
                u,
                &[
                    f32::NAN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -0.0,
                    f32::from_bits(1),
                    f32::MIN_POSITIVE,
                    3.0e38,
                    -65504.0,
                    1e-37,
                ],
            );
        }
    }
    v
}

/// `len` bytes: random, all 0, all 0xFF, or the input's own bytes repeated.
fn bulk_bytes(cx: &mut Cx, u: &mut Unstructured, len: usize) -> Vec<u8> {
    match range(u, 0, 5) {
        3 => vec![0; len],
        4 => vec![0xFF; len],
        5 => {
            let take = u.len().min(len).min(64);
            let src = u.bytes(take).unwrap_or(&[]).to_vec();
            if src.is_empty() {
                vec![0x5A; len]
            } else {
                (0..len).map(|i| src[i % src.len()]).collect()
            }
        }
        _ => (0..len).map(|_| cx.rng.next() as u8).collect(),
    }
}

/// An f16 scale of moderate magnitude (2^-10 .. 2^6, either sign), as bits.
fn tame_f16(cx: &mut Cx) -> u16 {
    let r = cx.rng.next();
    let sign = ((r >> 20) & 1) as u16;
    let exp = 5 + (r % 16) as u16;
    (sign << 15) | (exp << 10) | ((r >> 8) as u16 & 0x3FF)
}

/// `len` f16 scales: tame, or any bits (NaN, Inf, subnormals, zero).
fn gen_scales(cx: &mut Cx, u: &mut Unstructured, len: usize) -> Vec<u16> {
    if chance(u, 4) {
        (0..len).map(|_| cx.rng.next() as u16).collect()
    } else {
        (0..len).map(|_| tame_f16(cx)).collect()
    }
}

/// A buffer length: usually `exact`, sometimes off.
fn gen_len(u: &mut Unstructured, exact: usize) -> usize {
    if !chance(u, 12) {
        return exact;
    }
    pick(
        u,
        &[0, exact + 1, exact.saturating_sub(1), exact * 2 + 1, 1],
    )
}

/// A row range: usually within `0..n` (also empty), sometimes reversed or past the end.
fn gen_rows(u: &mut Unstructured, n: usize) -> (usize, usize) {
    match range(u, 0, 11) {
        0 => (n, n),
        1 => {
            let a = range(u, 0, n);
            (a, a)
        }
        2 => {
            let a = range(u, 1, n.max(1));
            (a, a - 1)
        }
        3 => (range(u, 0, n), n + range(u, 1, 3)),
        4 => pick(
            u,
            &[(usize::MAX, usize::MAX), (usize::MAX, 0), (0, usize::MAX)],
        ),
        _ => {
            let a = range(u, 0, n);
            (a, range(u, a, n))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Statuses and their oracles
// ---------------------------------------------------------------------------------------

/// A static string the library returned.
fn cstr(p: *const c_char, what: &str) -> String {
    assert!(!p.is_null(), "{what} returned NULL");
    // SAFETY: the header documents every string the library returns as a non-NULL,
    // NUL-terminated string that stays valid at least until the next failing call on
    // this thread; it is copied before any other call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn last_error() -> String {
    cstr(lowbit_last_error_message(), "lowbit_last_error_message")
}

/// Records a known failure as this thread's last error, so that a failing call must
/// replace it with its own message.
fn mark() {
    // SAFETY: a NULL `out` is documented to fail with LOWBIT_ERR_NULL; nothing is written.
    let st = unsafe { lowbit_isa_active(null_mut()) };
    assert_eq!(st, E_NULL, "lowbit_isa_active(NULL)");
}

/// The invalid arguments of a call, each with the status it is documented to give
/// (`None`: an error whose code this test does not predict).
#[derive(Clone, Debug, Default)]
struct Defects(Vec<Option<St>>);

/// What a call must return.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    Ok,
    Code(St),
    Fail,
}

impl Defects {
    fn add(&mut self, cond: bool, s: St) {
        if cond {
            self.0.push(Some(s));
        }
    }
    fn add_unknown(&mut self, cond: bool) {
        if cond {
            self.0.push(None);
        }
    }
    fn add_opt(&mut self, s: Option<St>) {
        if let Some(s) = s {
            self.0.push(Some(s));
        }
    }
    fn extend(&mut self, o: &Defects) {
        self.0.extend_from_slice(&o.0);
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn want(&self) -> Want {
        match self.0.as_slice() {
            [] => Want::Ok,
            [Some(s)] => Want::Code(*s),
            _ => Want::Fail,
        }
    }
}

/// Oracles 1-5 for a call that returned `st`; `unchanged` says whether everything the
/// call could write is as before. Returns whether the call succeeded.
fn check(func: &str, st: St, want: Want, unchanged: bool) -> bool {
    let code = st as i32;
    assert_eq!(
        St::from_code(code),
        Some(st),
        "{func}: unknown status {code}"
    );
    let text = cstr(lowbit_status_string(code), "lowbit_status_string");
    assert!(
        !text.is_empty() && text != "unknown status code",
        "{func}: status {code} has no description"
    );
    assert!(
        st != St::LOWBIT_ERR_PANIC,
        "{func}: LOWBIT_ERR_PANIC (a caught panic): {}",
        last_error()
    );
    if st != OK {
        let msg = last_error();
        assert!(
            msg.starts_with(&format!("{func}: ")) && msg.len() > func.len() + 2,
            "{func} failed with {st:?} but the last error message is {msg:?}"
        );
        assert!(
            unchanged,
            "{func} failed with {st:?} ({msg}) but wrote to memory"
        );
    }
    match want {
        Want::Ok => assert!(
            st == OK,
            "{func}: valid arguments failed with {st:?}: {}",
            last_error()
        ),
        Want::Code(c) => assert!(
            st == c,
            "{func}: expected {c:?}, got {st:?} ({})",
            if st == OK {
                "no error".to_string()
            } else {
                last_error()
            }
        ),
        Want::Fail => assert!(st != OK, "{func}: invalid arguments succeeded"),
    }
    st == OK
}

/// The documented error of an ISA code in options or caps, if any.
fn isa_defect(code: i32) -> Option<St> {
    match code {
        0 => None,
        1..=4 if lowbit_isa_is_available(code) => None,
        1..=4 => Some(E_UNAVAILABLE),
        _ => Some(E_UNKNOWN_ISA),
    }
}

/// Bitwise equality, with any NaN equal to any NaN (the bits of a NaN are not promised).
fn same(func: &str, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{func} vs {what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{func} vs {what}: element {i} is {g:e} ({:#010x}), not {w:e} ({:#010x})",
            g.to_bits(),
            w.to_bits()
        );
    }
}

/// Checks that hold for the whole process, once.
fn init_checks() {
    let s = cstr(lowbit_version_string(), "lowbit_version_string");
    let nums: Vec<u32> = s
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| p.parse().expect("numeric version component"))
        .collect();
    assert_eq!(
        lowbit_version(),
        nums[0] * 10000 + nums[1] * 100 + nums[2],
        "{s}"
    );
    for code in -3..=20 {
        let t = cstr(lowbit_status_string(code), "lowbit_status_string");
        assert_eq!(
            t == "unknown status code",
            !(0..=12).contains(&code),
            "status {code}: {t}"
        );
    }
    for (code, name) in [
        (0, "auto"),
        (1, "scalar"),
        (2, "avx2"),
        (3, "avx512"),
        (4, "neon"),
        (5, "unknown"),
        (-1, "unknown"),
    ] {
        assert_eq!(cstr(lowbit_isa_name(code), "lowbit_isa_name"), name);
    }
    assert!(lowbit_isa_is_available(SCALAR));
    assert!(
        !lowbit_isa_is_available(AUTO)
            && !lowbit_isa_is_available(9)
            && !lowbit_isa_is_available(-1)
    );
    assert!(lowbit_isa_is_available(lowbit_isa_best() as i32));
    let d = lowbit_gemv_options_default();
    assert!(
        d.isa == 0
            && d.precision == 0
            && d.single_thread == 0
            && d.accumulate == 0
            && d.bias.is_null()
            && d.bias_len == 0
            && d.workspace.is_null()
    );
    // SAFETY: NULL handles are documented to give 0 / be no-ops.
    unsafe {
        assert_eq!(lowbit_matrix_n(null()), 0);
        assert_eq!(lowbit_matrix_k(null()), 0);
        assert_eq!(lowbit_activations_k(null()), 0);
        assert_eq!(lowbit_workspace_bytes(null()), 0);
        lowbit_matrix_free(null_mut());
        lowbit_activations_free(null_mut());
        lowbit_workspace_free(null_mut());
    }
}

// ---------------------------------------------------------------------------------------
// Buffers handed to the library
// ---------------------------------------------------------------------------------------

/// Guard bytes around and between the buffers of a call.
const GUARD: u8 = 0xA7;

/// Where a buffer of a call lives in its frame: byte offset, elements, element size, and
/// whether NULL is passed instead.
#[derive(Clone, Copy, Debug, Default)]
struct Place {
    off: usize,
    len: usize,
    size: usize,
    null: bool,
}

impl Place {
    fn bytes(&self) -> usize {
        self.len * self.size
    }
    /// The pointer passed for this buffer (the frame's base is 4-aligned).
    fn ptr<T>(&self, base: *mut u8) -> *mut T {
        if self.null {
            null_mut()
        } else {
            base.wrapping_add(self.off).cast()
        }
    }
    fn misaligned(&self) -> bool {
        !self.null && !self.off.is_multiple_of(self.size)
    }
    fn overlaps(&self, o: &Place) -> bool {
        !self.null
            && !o.null
            && self.len > 0
            && o.len > 0
            && self.off < o.off + o.bytes()
            && o.off < self.off + self.bytes()
    }
}

/// Contents of an input buffer.
struct Region {
    bytes: Vec<u8>,
    size: usize,
    len: usize,
    null: bool,
    mis: usize,
}

impl Region {
    fn none() -> Region {
        Region {
            bytes: vec![],
            size: 4,
            len: 0,
            null: true,
            mis: 0,
        }
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// Lays out buffers in one allocation, each after guard bytes.
struct Builder(Vec<u8>);

impl Builder {
    fn new() -> Self {
        Builder(vec![GUARD; 16])
    }
    /// Appends a 4-aligned region holding `data` at byte `mis` of it; returns the offset
    /// of the data. Spare guard bytes follow, so a misaligned pointer keeps its length.
    fn region(&mut self, data: &[u8], mis: usize) -> usize {
        let start = self.0.len().next_multiple_of(4) + 16;
        self.0.resize(start + mis + data.len() + 16, GUARD);
        self.0[start + mis..start + mis + data.len()].copy_from_slice(data);
        start + mis
    }
    fn place(&mut self, r: &Region) -> Place {
        let off = if r.null {
            0
        } else {
            self.region(&r.bytes, r.mis)
        };
        Place {
            off,
            len: r.len,
            size: r.size,
            null: r.null,
        }
    }
    fn ensure(&mut self, end: usize) {
        if self.0.len() < end + 16 {
            self.0.resize(end + 16, GUARD);
        }
    }
    /// The bytes as 4-aligned words.
    fn finish(mut self) -> Vec<u32> {
        self.0.resize(self.0.len().next_multiple_of(4), GUARD);
        self.0
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

fn word_bytes(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// The output of a call: length, NULL, misalignment, and whether it overlaps an input.
#[derive(Clone, Copy, Debug)]
struct YSpec {
    len: usize,
    null: bool,
    mis: usize,
    /// 0: its own region; 1: inside `x`; 2: inside the bias.
    overlap: u8,
    at: usize,
}

fn gen_y(u: &mut Unstructured, exact: usize) -> YSpec {
    YSpec {
        len: gen_len(u, exact),
        null: chance(u, 32),
        mis: if chance(u, 32) {
            pick(u, &[1, 2, 3])
        } else {
            0
        },
        overlap: if chance(u, 16) { pick(u, &[1, 2]) } else { 0 },
        at: range(u, 0, 8),
    }
}

/// The memory of one call: x, the bias and y in one allocation with guards.
struct Frame {
    words: Vec<u32>,
    before: Vec<u32>,
    x: Place,
    bias: Place,
    y: Place,
}

impl Frame {
    fn build(x: &Region, bias: &Region, y: &YSpec, y_old: &[f32]) -> Frame {
        let mut b = Builder::new();
        let xp = b.place(x);
        let bp = b.place(bias);
        // An output placed inside a non-empty input starts at or before one of its bytes,
        // so (aligned and non-empty) it overlaps it: such a call must fail, and the output
        // needs no previous contents.
        let target = match y.overlap {
            1 => Some(xp),
            2 => Some(bp),
            _ => None,
        };
        let off = match target.filter(|p| !p.null && p.len > 0) {
            Some(p) => (p.off & !3) + 4 * y.at.min((p.bytes() - 1) / 4) + y.mis,
            None => b.region(&f32_bytes(y_old), y.mis),
        };
        b.ensure(off + 4 * y.len);
        let yp = Place {
            off,
            len: y.len,
            size: 4,
            null: y.null,
        };
        let words = b.finish();
        Frame {
            before: words.clone(),
            words,
            x: xp,
            bias: bp,
            y: yp,
        }
    }
    fn base(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }
    fn unchanged(&self) -> bool {
        self.words == self.before
    }
    /// After a success: every byte outside `written` (offset, bytes) is as before.
    fn untouched_outside(&self, func: &str, written: &[(usize, usize)]) {
        let (now, was) = (word_bytes(&self.words), word_bytes(&self.before));
        let mut mask = vec![false; now.len()];
        for &(o, l) in written {
            mask[o..o + l].iter_mut().for_each(|m| *m = true);
        }
        for i in 0..now.len() {
            assert!(
                mask[i] || now[i] == was[i],
                "{func} succeeded but wrote byte {i} outside its output"
            );
        }
    }
    fn read_f32(&self, off: usize, len: usize) -> Vec<f32> {
        let b = word_bytes(&self.words);
        (0..len)
            .map(|i| f32::from_ne_bytes(b[off + 4 * i..off + 4 * i + 4].try_into().unwrap()))
            .collect()
    }
}

/// Activations: f32, or f16/bf16 bits; `ty` may be an unknown `x_type` (stored as f32).
#[derive(Clone, Debug)]
struct XBuf {
    ty: i32,
    f32s: Vec<f32>,
    halfs: Vec<u16>,
}

impl XBuf {
    fn f32(v: Vec<f32>) -> XBuf {
        XBuf {
            ty: LOWBIT_ACT_F32,
            f32s: v,
            halfs: vec![],
        }
    }
    fn is_half(&self) -> bool {
        self.ty == LOWBIT_ACT_F16 || self.ty == LOWBIT_ACT_BF16
    }
    fn len(&self) -> usize {
        if self.is_half() {
            self.halfs.len()
        } else {
            self.f32s.len()
        }
    }
    fn ptr(&self) -> *const c_void {
        if self.is_half() {
            self.halfs.as_ptr().cast()
        } else {
            self.f32s.as_ptr().cast()
        }
    }
    /// The values the library multiplies (exact widening).
    fn widened(&self) -> Vec<f32> {
        match self.ty {
            LOWBIT_ACT_F16 => self
                .halfs
                .iter()
                .map(|&b| f16::from_bits(b).to_f32())
                .collect(),
            LOWBIT_ACT_BF16 => self
                .halfs
                .iter()
                .map(|&b| bf16::from_bits(b).to_f32())
                .collect(),
            _ => self.f32s.clone(),
        }
    }
}

/// Activations with how they are passed.
struct XSpec {
    buf: XBuf,
    null: bool,
    mis: usize,
}

impl XSpec {
    fn region(&self) -> Region {
        let (bytes, size) = if self.buf.is_half() {
            (
                self.buf
                    .halfs
                    .iter()
                    .flat_map(|h| h.to_ne_bytes())
                    .collect(),
                2,
            )
        } else {
            (f32_bytes(&self.buf.f32s), 4)
        };
        Region {
            bytes,
            size,
            len: self.buf.len(),
            null: self.null,
            mis: self.mis,
        }
    }
}

fn gen_xtype(u: &mut Unstructured) -> i32 {
    if chance(u, 16) {
        pick(u, &[3, -1, 1000])
    } else {
        pick(
            u,
            &[
                LOWBIT_ACT_F32,
                LOWBIT_ACT_F32,
                LOWBIT_ACT_F32,
                LOWBIT_ACT_F16,
                LOWBIT_ACT_BF16,
            ],
        )
    }
}

fn gen_x(cx: &mut Cx, u: &mut Unstructured, exact: usize, ty: i32) -> XSpec {
    let len = gen_len(u, exact);
    let vals = gen_floats(cx, u, len);
    let buf = if ty == LOWBIT_ACT_F16 || ty == LOWBIT_ACT_BF16 {
        let halfs = if chance(u, 8) {
            (0..len).map(|_| cx.rng.next() as u16).collect()
        } else if ty == LOWBIT_ACT_F16 {
            vals.iter().map(|&v| f16::from_f32(v).to_bits()).collect()
        } else {
            vals.iter().map(|&v| bf16::from_f32(v).to_bits()).collect()
        };
        XBuf {
            ty,
            f32s: vec![],
            halfs,
        }
    } else {
        XBuf {
            ty,
            f32s: vals,
            halfs: vec![],
        }
    };
    XSpec {
        buf,
        null: chance(u, 32),
        mis: if chance(u, 32) {
            pick(u, &[1, 2, 3])
        } else {
            0
        },
    }
}

/// The defects of activations passed at `p` where the call needs `want_len` elements.
fn x_defects(d: &mut Defects, p: &Place, x: &XBuf, want_len: usize) {
    d.add(p.null && p.len > 0, E_NULL);
    d.add(p.misaligned(), E_MIS);
    d.add(p.len != want_len, E_LEN);
    d.add(x.widened().iter().any(|v| !v.is_finite()), E_NONFINITE);
}

/// The defects of an output at `p` whose length must be `exact` (if given).
fn y_defects(d: &mut Defects, p: &Place, exact: Option<usize>) {
    d.add(p.null && p.len > 0, E_NULL);
    d.add(p.misaligned(), E_MIS);
    if let Some(e) = exact {
        d.add(p.len != e, E_LEN);
    }
}

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

/// `lowbit_gemv_options` as generated (possibly invalid), or absent (NULL).
struct OptSpec {
    present: bool,
    isa: i32,
    precision: u32,
    single: u32,
    acc: u32,
    bias: Vec<f32>,
    bias_null: bool,
    bias_mis: usize,
    ws: *mut lowbit_workspace,
}

impl OptSpec {
    fn absent() -> OptSpec {
        OptSpec {
            present: false,
            isa: 0,
            precision: 0,
            single: 0,
            acc: 0,
            bias: vec![],
            bias_null: true,
            bias_mis: 0,
            ws: null_mut(),
        }
    }
    fn bias_region(&self) -> Region {
        if !self.present {
            return Region::none();
        }
        Region {
            bytes: f32_bytes(&self.bias),
            size: 4,
            len: self.bias.len(),
            null: self.bias_null,
            mis: self.bias_mis,
        }
    }
    fn defects(&self, n: usize, bias: &Place) -> Defects {
        let mut d = Defects::default();
        if !self.present {
            return d;
        }
        d.add_opt(isa_defect(self.isa));
        d.add(self.precision > 2, E_PARAM);
        d.add(self.single > 1, E_PARAM);
        d.add(self.acc > 1, E_PARAM);
        d.add(bias.null && bias.len > 0, E_NULL);
        d.add(bias.misaligned(), E_MIS);
        d.add(!bias.null && bias.len != n, E_LEN);
        d
    }
    /// The struct passed, with the bias at `bias` in the frame at `base`.
    fn raw(&self, bias: &Place, base: *mut u8) -> lowbit_gemv_options {
        lowbit_gemv_options {
            isa: self.isa,
            precision: self.precision,
            single_thread: self.single,
            accumulate: self.acc,
            bias: bias.ptr::<f32>(base).cast_const(),
            bias_len: bias.len,
            workspace: self.ws,
        }
    }
    /// The same options, once a call accepted them.
    fn clean(&self) -> Clean {
        if !self.present {
            return Clean::default();
        }
        Clean {
            isa: self.isa,
            precision: self.precision,
            single: self.single,
            acc: self.acc,
            bias: (!self.bias_null).then(|| self.bias.clone()),
            ws: self.ws,
        }
    }
}

fn gen_opts(cx: &mut Cx, u: &mut Unstructured, n: usize) -> OptSpec {
    let present = !chance(u, 8);
    let isa = if chance(u, 10) {
        pick(u, &[4, 5, -1, i32::MAX])
    } else {
        pick(u, &[0, 0, 1, 2, 3])
    };
    let precision = if chance(u, 24) {
        pick(u, &[3, u32::MAX])
    } else {
        // 2 is W4A4 (LOWBIT_PRECISION_ALLOW_A4_OVP): the OVP-4 activation codec.
        pick(u, &[0, 1, 1, 2])
    };
    let single = if chance(u, 24) { 2 } else { pick(u, &[0, 1]) };
    let acc = if chance(u, 24) {
        pick(u, &[2, 0x100])
    } else {
        pick(u, &[0, 1])
    };
    let (blen, bias_null, bias_mis) = match range(u, 0, 11) {
        0..=4 => (0, true, 0),
        5..=7 => (n, false, 0),
        8 => (
            pick(u, &[0, n + 1, n.saturating_sub(1), 2 * n + 3]),
            false,
            0,
        ),
        9 => (n, true, 0),
        10 => (n, false, pick(u, &[1, 2, 3])),
        _ => (0, false, 0),
    };
    let bias = gen_floats(cx, u, blen);
    let ws = if chance(u, 2) { cx.ws } else { null_mut() };
    OptSpec {
        present,
        isa,
        precision,
        single,
        acc,
        bias,
        bias_null,
        bias_mis,
        ws,
    }
}

/// Valid options, owning their bias, for the calls made to compare results.
#[derive(Clone, Debug)]
struct Clean {
    isa: i32,
    precision: u32,
    single: u32,
    acc: u32,
    bias: Option<Vec<f32>>,
    ws: *mut lowbit_workspace,
}

impl Default for Clean {
    fn default() -> Self {
        Clean {
            isa: 0,
            precision: 0,
            single: 0,
            acc: 0,
            bias: None,
            ws: null_mut(),
        }
    }
}

impl Clean {
    fn raw(&self) -> lowbit_gemv_options {
        let (bias, bias_len) = self
            .bias
            .as_ref()
            .map_or((null(), 0), |b| (b.as_ptr(), b.len()));
        lowbit_gemv_options {
            isa: self.isa,
            precision: self.precision,
            single_thread: self.single,
            accumulate: self.acc,
            bias,
            bias_len,
            workspace: self.ws,
        }
    }
    /// The same call forced to the scalar ISA.
    fn scalar(&self) -> Clean {
        Clean {
            isa: SCALAR,
            single: 1,
            ws: null_mut(),
            ..self.clone()
        }
    }
}

// ---------------------------------------------------------------------------------------
// Weight handles and the entry points, by handle kind
// ---------------------------------------------------------------------------------------

/// A weight handle: an owned matrix, an INT view struct or an FP view struct (any may be
/// NULL on purpose).
#[derive(Clone, Copy, Debug)]
enum H {
    M(*const lowbit_matrix),
    V(*const lowbit_int_view),
    F(*const lowbit_fp_view),
}

impl H {
    fn null(self) -> H {
        match self {
            H::M(_) => H::M(null()),
            H::V(_) => H::V(null()),
            H::F(_) => H::F(null()),
        }
    }
}

// Each of these calls the matrix or the view variant of an entry point and returns its
// status and name. Safety (all of them): `h` is NULL or live (a matrix handle, or a view
// struct whose buffers are valid for their lengths); every other pointer is NULL or valid
// for the length passed with it; `opts` is NULL or points to options whose bias is NULL or
// valid for `bias_len` floats and whose workspace is NULL or live and unused elsewhere.

unsafe fn gemv(
    h: H,
    x: *const f32,
    xl: usize,
    rows: Option<(usize, usize)>,
    y: *mut f32,
    yl: usize,
) -> (St, &'static str) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match (h, rows) {
            (H::M(m), None) => (lowbit_gemv(m, x, xl, y, yl), "lowbit_gemv"),
            (H::V(v), None) => (lowbit_view_gemv(v, x, xl, y, yl), "lowbit_view_gemv"),
            (H::M(m), Some((a, b))) => {
                (lowbit_gemv_rows(m, x, xl, a, b, y, yl), "lowbit_gemv_rows")
            }
            (H::V(v), Some((a, b))) => (
                lowbit_view_gemv_rows(v, x, xl, a, b, y, yl),
                "lowbit_view_gemv_rows",
            ),
            (H::F(v), None) => (lowbit_fp_view_gemv(v, x, xl, y, yl), "lowbit_fp_view_gemv"),
            (H::F(v), Some((a, b))) => (
                lowbit_fp_view_gemv_rows(v, x, xl, a, b, y, yl),
                "lowbit_fp_view_gemv_rows",
            ),
        }
    }
}

unsafe fn gemv_ex(
    h: H,
    x: *const c_void,
    xl: usize,
    ty: i32,
    rows: Option<(usize, usize)>,
    y: *mut f32,
    yl: usize,
    o: *const lowbit_gemv_options,
) -> (St, &'static str) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match (h, rows) {
            (H::M(m), None) => (lowbit_gemv_ex(m, x, xl, ty, y, yl, o), "lowbit_gemv_ex"),
            (H::V(v), None) => (
                lowbit_view_gemv_ex(v, x, xl, ty, y, yl, o),
                "lowbit_view_gemv_ex",
            ),
            (H::M(m), Some((a, b))) => (
                lowbit_gemv_rows_ex(m, x, xl, ty, a, b, y, yl, o),
                "lowbit_gemv_rows_ex",
            ),
            (H::V(v), Some((a, b))) => (
                lowbit_view_gemv_rows_ex(v, x, xl, ty, a, b, y, yl, o),
                "lowbit_view_gemv_rows_ex",
            ),
            (H::F(v), None) => (
                lowbit_fp_view_gemv_ex(v, x, xl, ty, y, yl, o),
                "lowbit_fp_view_gemv_ex",
            ),
            (H::F(v), Some((a, b))) => (
                lowbit_fp_view_gemv_rows_ex(v, x, xl, ty, a, b, y, yl, o),
                "lowbit_fp_view_gemv_rows_ex",
            ),
        }
    }
}

unsafe fn gemm(
    h: H,
    x: *const f32,
    m: usize,
    xl: usize,
    rows: Option<(usize, usize, usize)>,
    y: *mut f32,
    yl: usize,
    o: *const lowbit_gemv_options,
) -> (St, &'static str) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match (h, rows) {
            (H::M(w), None) => (lowbit_gemm(w, x, m, xl, y, yl, o), "lowbit_gemm"),
            (H::V(v), None) => (lowbit_view_gemm(v, x, m, xl, y, yl, o), "lowbit_view_gemm"),
            (H::M(w), Some((a, b, ldy))) => (
                lowbit_gemm_rows(w, x, m, xl, a, b, y, yl, ldy, o),
                "lowbit_gemm_rows",
            ),
            (H::V(v), Some((a, b, ldy))) => (
                lowbit_view_gemm_rows(v, x, m, xl, a, b, y, yl, ldy, o),
                "lowbit_view_gemm_rows",
            ),
            (H::F(v), None) => (
                lowbit_fp_view_gemm(v, x, m, xl, y, yl, o),
                "lowbit_fp_view_gemm",
            ),
            (H::F(v), Some((a, b, ldy))) => (
                lowbit_fp_view_gemm_rows(v, x, m, xl, a, b, y, yl, ldy, o),
                "lowbit_fp_view_gemm_rows",
            ),
        }
    }
}

/// `opts` `None`: the call without options.
unsafe fn rows_a8(
    h: H,
    a: *const lowbit_activations,
    rb: usize,
    re: usize,
    y: *mut f32,
    yl: usize,
    opts: Option<*const lowbit_gemv_options>,
) -> (St, &'static str) {
    // SAFETY: forwarded from this function's contract (`a` is NULL or live).
    unsafe {
        match (h, opts) {
            (H::M(m), None) => (
                lowbit_gemv_rows_a8(m, a, rb, re, y, yl),
                "lowbit_gemv_rows_a8",
            ),
            (H::V(v), None) => (
                lowbit_view_gemv_rows_a8(v, a, rb, re, y, yl),
                "lowbit_view_gemv_rows_a8",
            ),
            (H::M(m), Some(o)) => (
                lowbit_gemv_rows_a8_ex(m, a, rb, re, y, yl, o),
                "lowbit_gemv_rows_a8_ex",
            ),
            (H::V(v), Some(o)) => (
                lowbit_view_gemv_rows_a8_ex(v, a, rb, re, y, yl, o),
                "lowbit_view_gemv_rows_a8_ex",
            ),
            (H::F(v), None) => (
                lowbit_fp_view_gemv_rows_a8(v, a, rb, re, y, yl),
                "lowbit_fp_view_gemv_rows_a8",
            ),
            (H::F(v), Some(o)) => (
                lowbit_fp_view_gemv_rows_a8_ex(v, a, rb, re, y, yl, o),
                "lowbit_fp_view_gemv_rows_a8_ex",
            ),
        }
    }
}

unsafe fn kernel_name(h: H, o: *const lowbit_gemv_options) -> (*const c_char, &'static str) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match h {
            H::M(m) => (lowbit_gemv_kernel_name(m, o), "lowbit_gemv_kernel_name"),
            H::V(v) => (
                lowbit_view_gemv_kernel_name(v, o),
                "lowbit_view_gemv_kernel_name",
            ),
            H::F(v) => (
                lowbit_fp_view_gemv_kernel_name(v, o),
                "lowbit_fp_view_gemv_kernel_name",
            ),
        }
    }
}

unsafe fn dequantize(h: H, out: *mut f32, len: usize) -> (St, &'static str) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match h {
            H::M(m) => (lowbit_dequantize(m, out, len), "lowbit_dequantize"),
            H::V(v) => (
                lowbit_view_dequantize(v, out, len),
                "lowbit_view_dequantize",
            ),
            H::F(v) => (
                lowbit_fp_view_dequantize(v, out, len),
                "lowbit_fp_view_dequantize",
            ),
        }
    }
}

// Calls with valid arguments in plain Rust buffers, to compare results. `h` must be a
// valid, live handle (the caller's `Wt` owns it).

fn run_gemv(h: H, x: &XBuf, rows: Option<Range<usize>>, y_old: &[f32], o: &Clean) -> Vec<f32> {
    let mut y = y_old.to_vec();
    let raw = o.raw();
    // SAFETY: `h` is live; `x`, `y` and the bias in `raw` are live Rust buffers passed
    // with their own lengths; `raw` is a local; the workspace is NULL or this input's.
    let (st, f) = unsafe {
        gemv_ex(
            h,
            x.ptr(),
            x.len(),
            x.ty,
            rows.map(|r| (r.start, r.end)),
            y.as_mut_ptr(),
            y.len(),
            &raw,
        )
    };
    assert!(
        st == OK,
        "{f} with valid arguments ({o:?}) failed: {st:?}: {}",
        last_error()
    );
    y
}

fn run_gemm(
    h: H,
    x: &[f32],
    m: usize,
    rows: Option<(Range<usize>, usize)>,
    y_old: &[f32],
    o: &Clean,
) -> Vec<f32> {
    let mut y = y_old.to_vec();
    let raw = o.raw();
    // SAFETY: as in `run_gemv`.
    let (st, f) = unsafe {
        gemm(
            h,
            x.as_ptr(),
            m,
            x.len(),
            rows.map(|(r, l)| (r.start, r.end, l)),
            y.as_mut_ptr(),
            y.len(),
            &raw,
        )
    };
    assert!(
        st == OK,
        "{f} with valid arguments ({o:?}) failed: {st:?}: {}",
        last_error()
    );
    y
}

fn run_a8(
    h: H,
    a: *const lowbit_activations,
    rows: Range<usize>,
    y_old: &[f32],
    o: &Clean,
) -> Vec<f32> {
    let mut y = y_old.to_vec();
    let raw = o.raw();
    // SAFETY: as in `run_gemv`; `a` is a live activations handle.
    let (st, f) = unsafe {
        rows_a8(
            h,
            a,
            rows.start,
            rows.end,
            y.as_mut_ptr(),
            y.len(),
            Some(&raw),
        )
    };
    assert!(
        st == OK,
        "{f} with valid arguments ({o:?}) failed: {st:?}: {}",
        last_error()
    );
    y
}

fn name_of(h: H, o: &Clean) -> String {
    let raw = o.raw();
    // SAFETY: `h` is live; `raw` is a local whose bias is a live Rust buffer.
    let (p, f) = unsafe { kernel_name(h, &raw) };
    let s = cstr(p, f);
    assert!(
        !s.is_empty(),
        "{f} with valid options ({o:?}) failed: {}",
        last_error()
    );
    s
}

/// Frees a matrix handle when dropped.
struct MatGuard(*mut lowbit_matrix);

impl Drop for MatGuard {
    fn drop(&mut self) {
        // SAFETY: a live handle from the library, freed once, here.
        unsafe { lowbit_matrix_free(self.0) }
    }
}

/// Frees an activations handle when dropped.
struct ActGuard(*mut lowbit_activations);

impl Drop for ActGuard {
    fn drop(&mut self) {
        // SAFETY: a live handle from the library, freed once, here.
        unsafe { lowbit_activations_free(self.0) }
    }
}

/// Frees a workspace when dropped.
struct WsGuard(*mut lowbit_workspace);

impl Drop for WsGuard {
    fn drop(&mut self) {
        // SAFETY: a live handle from the library that no call uses any more.
        unsafe { lowbit_workspace_free(self.0) }
    }
}

/// Removes the process-wide ISA cap when dropped.
struct CapGuard;

impl Drop for CapGuard {
    fn drop(&mut self) {
        let _ = lowbit_set_isa_cap(AUTO);
    }
}

/// What `*out` holds before a call that creates a handle: never dereferenced, and it must
/// still be there when the call fails.
fn sentinel<T>() -> *mut T {
    NonNull::<T>::dangling().as_ptr()
}

// ---------------------------------------------------------------------------------------
// Formats, layouts and an independent decoder
// ---------------------------------------------------------------------------------------

fn gen_format(u: &mut Unstructured, k: usize) -> lowbit_format {
    let mut f = lowbit_format {
        kind: LOWBIT_FORMAT_INT,
        bits: pick(u, &[2, 3, 4, 8]),
        group: pick(u, &[0, 32, 64, 128, 256, k as u32, 32, 0]),
        zero_point: pick(u, &[0, 1]),
        variant: 0,
        reserved: 0,
    };
    if chance(u, 5) {
        match range(u, 0, 5) {
            // A kind no version defines, or FP with INT's fields (an unknown element).
            0 => f.kind = pick(u, &[0, 3, LOWBIT_FORMAT_FP, u32::MAX]),
            1 => f.bits = pick(u, &[0, 1, 5, 7, 9, 16, 260, u32::MAX]),
            2 => f.group = pick(u, &[1, 2, 16, 48, 96, 512, k as u32 + 1, u32::MAX]),
            3 => f.zero_point = pick(u, &[2, u32::MAX]),
            4 => f.variant = 1,
            _ => f.reserved = pick(u, &[1, 0x8000_0000]),
        }
    }
    f
}

/// An FP format (`lowbit_format_fp`), sometimes with one field made invalid. E8M0 and
/// E4M3 scales mostly get the group they need (32, 16), sometimes another one.
fn gen_fp_format(u: &mut Unstructured, k: usize) -> lowbit_format {
    let elem = pick(
        u,
        &[
            LOWBIT_FP_E2M1,
            LOWBIT_FP_E3M2,
            LOWBIT_FP_E2M3,
            LOWBIT_FP_E4M3,
            LOWBIT_FP_E5M2,
            LOWBIT_FP_OVP4,
            LOWBIT_FP_OVP8,
        ],
    );
    // OVP takes the f16 kinds only: the byte kinds (an invalid parameter) sometimes.
    let ovp = elem == LOWBIT_FP_OVP4 || elem == LOWBIT_FP_OVP8;
    let scale = if ovp && !chance(u, 6) {
        pick(u, &[LOWBIT_FP_SCALE_F16, LOWBIT_FP_SCALE_F16_POW2])
    } else {
        pick(
            u,
            &[
                LOWBIT_FP_SCALE_F16,
                LOWBIT_FP_SCALE_F16_POW2,
                LOWBIT_FP_SCALE_E8M0,
                LOWBIT_FP_SCALE_E4M3,
                LOWBIT_FP_SCALE_E4M3,
            ],
        )
    };
    let group = if scale == LOWBIT_FP_SCALE_E8M0 && !chance(u, 6) {
        32
    } else if scale == LOWBIT_FP_SCALE_E4M3 && !chance(u, 6) {
        16
    } else {
        pick(u, &[0, 32, 64, 128, 256, k as u32, 32, 0, 16])
    };
    let mut f = lowbit_format_fp(elem, group, scale);
    if chance(u, 5) {
        match range(u, 0, 6) {
            // Element codes no version defines (4 and 5 are FP8 now, 6 and 7 OVP).
            0 => f.variant = scale | pick(u, &[0, 8, 9, 0x40, 0xFF]),
            // Scale kinds no version defines (0x300 is E4M3 now).
            1 => f.variant = elem | pick(u, &[0x400, 0x8000, 0xFF00]),
            2 => f.variant |= pick(u, &[0x1_0000, 0x8000_0000]),
            3 => f.bits = pick(u, &[0, 2, 4, 6, 8, u32::MAX]),
            4 => f.zero_point = pick(u, &[1, u32::MAX]),
            5 => f.group = pick(u, &[1, 16, 48, 96, 512, k as u32 + 1, u32::MAX]),
            _ => f.reserved = pick(u, &[1, 0x8000_0000]),
        }
    }
    f
}

/// The bits per code of an FP element code, if it is one.
fn fp_bits(variant: u32) -> Option<u32> {
    match variant & LOWBIT_FP_ELEMENT_MASK {
        LOWBIT_FP_E2M1 => Some(4),
        LOWBIT_FP_E3M2 | LOWBIT_FP_E2M3 => Some(6),
        LOWBIT_FP_E4M3 | LOWBIT_FP_E5M2 => Some(8),
        LOWBIT_FP_OVP4 => Some(4),
        LOWBIT_FP_OVP8 => Some(8),
        _ => None,
    }
}

/// For an OVP format (`LOWBIT_FP_OVP4` / `LOWBIT_FP_OVP8`): its bits per code, 4 or 8
/// (`None` otherwise).
fn ovp_bits(f: &lowbit_format) -> Option<u32> {
    if f.kind != LOWBIT_FORMAT_FP {
        return None;
    }
    match f.variant & LOWBIT_FP_ELEMENT_MASK {
        LOWBIT_FP_OVP4 => Some(4),
        LOWBIT_FP_OVP8 => Some(8),
        _ => None,
    }
}

/// Whether `f` has no A8 kernel at all (FP8 and OVP-8: their values do not fit int8
/// lanes): `lowbit_*gemv_rows_a8*` refuse it with `LOWBIT_ERR_UNSUPPORTED` once every
/// argument is valid, and `LOWBIT_PRECISION_ALLOW_A8` / `_A4_OVP` run its f32 kernels.
fn no_a8(f: &lowbit_format) -> bool {
    fp8_kind(f).is_some() || ovp_bits(f) == Some(8)
}

/// The scale kinds this version knows (`lowbit_format.variant & LOWBIT_FP_SCALE_MASK`).
const FP_SCALES: [u32; 4] = [
    LOWBIT_FP_SCALE_F16,
    LOWBIT_FP_SCALE_F16_POW2,
    LOWBIT_FP_SCALE_E8M0,
    LOWBIT_FP_SCALE_E4M3,
];

/// The scale kind of an FP format, if this version knows it (`None` for INT formats and
/// unknown kinds).
fn fp_scale_kind(f: &lowbit_format) -> Option<u32> {
    let s = f.variant & LOWBIT_FP_SCALE_MASK;
    (f.kind == LOWBIT_FORMAT_FP && FP_SCALES.contains(&s)).then_some(s)
}

/// Whether `f` is an FP format with E8M0 scales (stored as bytes).
fn is_e8m0(f: &lowbit_format) -> bool {
    fp_scale_kind(f) == Some(LOWBIT_FP_SCALE_E8M0)
}

/// Whether `f` is an FP format with E4M3 scales (bytes, and a tensor scale): NVFP4.
fn is_e4m3(f: &lowbit_format) -> bool {
    fp_scale_kind(f) == Some(LOWBIT_FP_SCALE_E4M3)
}

/// Whether `f` is an FP format whose scales are stored as bytes (E8M0, E4M3).
fn byte_scales(f: &lowbit_format) -> bool {
    is_e8m0(f) || is_e4m3(f)
}

/// Whether `f` is an FP E3M2 format (whose A8 kernels came later than E2M1's and E2M3's).
fn is_e3m2(f: &lowbit_format) -> bool {
    f.kind == LOWBIT_FORMAT_FP && f.variant & LOWBIT_FP_ELEMENT_MASK == LOWBIT_FP_E3M2
}

/// For an FP8 format: `Some(true)` for E5M2, `Some(false)` for E4M3 (`None` otherwise).
/// FP8 has no A8 path at all.
fn fp8_kind(f: &lowbit_format) -> Option<bool> {
    if f.kind != LOWBIT_FORMAT_FP {
        return None;
    }
    match f.variant & LOWBIT_FP_ELEMENT_MASK {
        LOWBIT_FP_E4M3 => Some(false),
        LOWBIT_FP_E5M2 => Some(true),
        _ => None,
    }
}

/// The largest magnitude of a code of `f` (INT: `2^bits` bounds `|q - z|`; FP: the
/// element's largest finite value, rounded up to a power of two; OVP: its largest
/// outlier, 96 or 2016, rounded up), the `2^b` of README's range clause.
fn code_span(f: &lowbit_format) -> f64 {
    match (fp8_kind(f), ovp_bits(f)) {
        (Some(true), _) => 65536.0,
        (Some(false), _) => 512.0,
        (_, Some(4)) => 128.0,
        (_, Some(_)) => 2048.0,
        _ => 2f64.powi(f.bits as i32),
    }
}

/// Defects of a format description itself (`lowbit_format` fields), by kind.
fn fmt_defects(f: &lowbit_format) -> Defects {
    let mut d = Defects::default();
    match f.kind {
        LOWBIT_FORMAT_INT => {
            d.add(!matches!(f.bits, 2 | 3 | 4 | 8), E_PARAM);
            d.add(f.zero_point > 1, E_PARAM);
            d.add(f.variant != 0 || f.reserved != 0, E_PARAM);
        }
        LOWBIT_FORMAT_FP => {
            let stray = f.variant & !(LOWBIT_FP_ELEMENT_MASK | LOWBIT_FP_SCALE_MASK);
            let scale = f.variant & LOWBIT_FP_SCALE_MASK;
            let bits = fp_bits(f.variant);
            d.add(stray != 0, E_PARAM);
            d.add(bits.is_none(), E_UNSUPPORTED);
            d.add(!FP_SCALES.contains(&scale), E_UNSUPPORTED);
            d.add(bits.is_some_and(|b| b != f.bits), E_PARAM);
            d.add(f.zero_point != 0 || f.reserved != 0, E_PARAM);
            // E8M0 needs groups of 32, E4M3 groups of 16 (any other group, 0 and K
            // included, is an invalid parameter of the format itself).
            d.add(scale == LOWBIT_FP_SCALE_E8M0 && f.group != 32, E_PARAM);
            d.add(scale == LOWBIT_FP_SCALE_E4M3 && f.group != 16, E_PARAM);
            // OVP takes f16 scales only (F16, F16_POW2): the byte kinds are invalid.
            d.add(
                ovp_bits(f).is_some()
                    && (scale == LOWBIT_FP_SCALE_E8M0 || scale == LOWBIT_FP_SCALE_E4M3),
                E_PARAM,
            );
        }
        // A kind no version defines: refused whatever the other fields hold.
        _ => d.add(true, E_UNSUPPORTED),
    }
    d
}

/// Whether `group` is valid for rows of `k >= 1` elements (16 only with E4M3 scales, and
/// then it must divide K; any other group with E4M3 scales is a format defect).
fn group_ok(f: &lowbit_format, k: usize) -> bool {
    if is_e4m3(f) {
        return k.is_multiple_of(16);
    }
    let g = f.group as usize;
    g == 0 || g == k || ([32, 64, 128, 256].contains(&g) && k.is_multiple_of(g))
}

/// Defects of an `n x k` shape in format `f`.
fn shape_defects(f: &lowbit_format, n: usize, k: usize) -> Defects {
    let mut d = Defects::default();
    d.add(n == 0, E_SHAPE);
    d.add(k == 0, E_SHAPE);
    d.add(k > 0 && !group_ok(f, k), E_GROUP);
    // OVP pairs elements along K: odd K is a shape error (FORMATS.md).
    d.add(ovp_bits(f).is_some() && k % 2 == 1, E_SHAPE);
    d
}

/// For an OVP format and an odd K, mostly moves K to an even neighbour (odd K is refused,
/// so it stays sometimes), keeping a group of K and `n * k <= MAX_NK`.
fn ovp_even_k(u: &mut Unstructured, f: &mut lowbit_format, n: usize, k: usize) -> (usize, usize) {
    if ovp_bits(f).is_none() || k % 2 == 0 || chance(u, 4) {
        return (n, k);
    }
    let k2 = if k < MAX_K { k + 1 } else { k - 1 };
    if f.group as usize == k {
        f.group = k2 as u32;
    }
    (n.min(MAX_NK / k2), k2)
}

/// The layout of a valid `n x k` INT matrix, from the header's description.
fn layout_of(f: &lowbit_format, n: usize, k: usize) -> lowbit_int_layout {
    let bits = f.bits as usize;
    let g = if f.group == 0 { k } else { f.group as usize };
    let (rb0, rb1) = if bits == 3 {
        (k.div_ceil(4), k.div_ceil(8))
    } else {
        ((k * bits).div_ceil(8), 0)
    };
    let groups = k / g;
    lowbit_int_layout {
        codes_len: n * rb0,
        plane1_len: n * rb1,
        scales_len: n * groups,
        zeros_len: if f.zero_point == 1 { n * groups } else { 0 },
        group_len: g,
        groups_per_row: groups,
        codes_row_bytes: rb0,
        plane1_row_bytes: rb1,
    }
}

/// The layout of a valid `n x k` FP matrix, from the header's description.
fn fp_layout_of(f: &lowbit_format, n: usize, k: usize) -> lowbit_fp_layout {
    let g = if f.group == 0 { k } else { f.group as usize };
    // FP8: one code per byte (INT8's layout), no high plane.
    let rb0 = if f.bits == 8 { k } else { k.div_ceil(2) };
    let rb1 = if f.bits == 6 { k.div_ceil(4) } else { 0 };
    let groups = k / g;
    lowbit_fp_layout {
        codes_len: n * rb0,
        high_len: n * rb1,
        scales_len: n * groups,
        scale_bytes: if byte_scales(f) { 1 } else { 2 },
        group_len: g,
        groups_per_row: groups,
        codes_row_bytes: rb0,
        high_row_bytes: rb1,
    }
}

/// The value of a minifloat code as FORMATS.md defines it: sign in the top bit, then
/// `eb` exponent and `mb` mantissa bits, bias `bias`, subnormals at exponent field 0.
fn minifloat(c: u8, eb: u32, mb: u32, bias: i32) -> f32 {
    let c = u32::from(c);
    let e = (c >> mb) & ((1 << eb) - 1);
    let m = c & ((1 << mb) - 1);
    let v = if e == 0 {
        m as f32 * pow2(1 - bias - mb as i32)
    } else {
        ((1 << mb) | m) as f32 * pow2(e as i32 - bias - mb as i32)
    };
    if (c >> (eb + mb)) & 1 == 1 {
        -v
    } else {
        v
    }
}

/// The scales of an FP view's store: f16 bits, E8M0 bytes, or E4M3 bytes and the
/// tensor scale.
#[derive(Clone, Copy)]
enum FpScaleBits<'a> {
    F16(&'a [u16]),
    E8m0(&'a [u8]),
    E4m3(&'a [u8], f32),
}

/// The value of an E4M3 byte ("fn": bias 7, 4 exponent and 3 mantissa bits, subnormals
/// `m * 2^-9`, sign in bit 7; 0x7F / 0xFF are NaN, which no valid view holds).
fn e4m3(b: u8) -> f32 {
    minifloat(b, 4, 3, 7)
}

/// The value of an FP8 weight code, decoded from its bits as FORMATS.md defines them
/// (sign in bit 7). E4M3 ("fn"): 4 exponent bits, 3 mantissa, bias 7, subnormals
/// `m * 2^-9`, no infinities, NaN at 0x7F / 0xFF. E5M2: 5 exponent bits, 2 mantissa,
/// bias 15, subnormals `m * 2^-16`, exponent 31 an infinity (mantissa 0) or NaN.
fn fp8(c: u8, e5m2: bool) -> f32 {
    let neg = c & 0x80 != 0;
    let (e, m) = if e5m2 {
        (i32::from((c >> 2) & 0x1F), u32::from(c & 3))
    } else {
        (i32::from((c >> 3) & 0xF), u32::from(c & 7))
    };
    let v = if e5m2 {
        match e {
            31 if m == 0 => f32::INFINITY,
            31 => f32::NAN,
            0 => m as f32 * pow2(-16),
            _ => (4 + m) as f32 * pow2(e - 17),
        }
    } else {
        match e {
            15 if m == 7 => f32::NAN,
            0 => m as f32 * pow2(-9),
            _ => (8 + m) as f32 * pow2(e - 10),
        }
    };
    if neg {
        -v
    } else {
        v
    }
}

/// Whether an FP8 code is NaN or infinite (E4M3: 0x7F / 0xFF; E5M2: exponent 31).
fn fp8_special(c: u8, e5m2: bool) -> bool {
    if e5m2 {
        c & 0x7C == 0x7C
    } else {
        c & 0x7F == 0x7F
    }
}

/// The scales (and the tensor scale) of an FP view as the header types them: bytes for
/// E8M0 and E4M3, f16 bits for the f16 kinds.
///
/// # Safety
///
/// `v.scales` is NULL with `v.scales_len == 0`, or valid for reading `v.scales_len` scales
/// of the type its format's scale kind names during `'a`.
unsafe fn fp_view_scales<'a>(v: &lowbit_fp_view) -> FpScaleBits<'a> {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        if is_e4m3(&v.format) {
            FpScaleBits::E4m3(
                raw_slice(v.scales.cast::<u8>(), v.scales_len),
                v.tensor_scale,
            )
        } else if is_e8m0(&v.format) {
            FpScaleBits::E8m0(raw_slice(v.scales.cast::<u8>(), v.scales_len))
        } else {
            FpScaleBits::F16(raw_slice(v.scales.cast::<u16>(), v.scales_len))
        }
    }
}

/// Whether f16 `bits` is a positive power of two (what `LOWBIT_FP_SCALE_F16_POW2`
/// allows: a normal with mantissa 0, or a subnormal with one mantissa bit).
fn f16_pow2(bits: u16) -> bool {
    let (e, m) = ((bits >> 10) & 0x1F, bits & 0x3FF);
    bits & 0x8000 == 0 && ((e == 0 && m.is_power_of_two()) || (e != 0 && e != 31 && m == 0))
}

/// The value of OVP code `c` (`bits` 4 or 8) whose pair partner is `partner`, as
/// FORMATS.md defines it: the identifier is the sign bit alone (nibble `1000`, byte
/// `0x80`). When the partner is the identifier, `c` is an outlier `s e1 e0 m..` (1 or 5
/// mantissa bits) of magnitude `(2^mbits + m) << (e + 2)` (the reserved `e = m = 0`
/// reads as 8 / 128), or 0 when `c` is the identifier too; else when `c` is the
/// identifier it is the victim, 0; else a two's complement integer.
fn ovp_value(bits: u32, c: u8, partner: u8) -> f32 {
    let id = 1u8 << (bits - 1);
    let c32 = u32::from(c);
    let v = if partner == id {
        if c == id {
            0
        } else {
            let mbits = bits - 3;
            let m = c32 & ((1 << mbits) - 1);
            let e = (c32 >> mbits) & 3;
            let mag = (((1 << mbits) + m) << (e + 2)) as i32;
            if c & id != 0 {
                -mag
            } else {
                mag
            }
        }
    } else if c == id {
        0
    } else if c & id != 0 {
        c32 as i32 - (1 << bits)
    } else {
        c32 as i32
    };
    v as f32
}

/// The weights `scale * elem(code)` of a valid FP matrix in the canonical layout, decoded
/// here (one f32 multiplication, as the library's dequantizer; an E4M3 group's scale is
/// first `e4m3(byte) * tensor_scale`, one f32 multiplication, which may round, underflow
/// or overflow to Inf), and per row: whether all its weights are finite (E8M0 scales up
/// to 2^127 times 28 overflow, so do E4M3 ones with a large tensor scale; FP8 NaN and
/// infinite codes, which no reader refuses, give NaN and infinite weights, and an
/// infinite code times a zero scale NaN), and its largest scale magnitude. OVP codes are
/// read from E2M1's plane (OVP-4) or FP8's (OVP-8) and decoded per pair (`ovp_value`).
fn decode_ref_fp(
    f: &lowbit_format,
    n: usize,
    k: usize,
    codes: &[u8],
    high: &[u8],
    scales: FpScaleBits<'_>,
) -> (Vec<f32>, Vec<(bool, f32)>) {
    let l = fp_layout_of(f, n, k);
    let (eb, mb, bias) = match f.variant & LOWBIT_FP_ELEMENT_MASK {
        LOWBIT_FP_E2M1 => (2, 1, 1),
        LOWBIT_FP_E3M2 => (3, 2, 3),
        _ => (2, 3, 1),
    };
    let fp8k = fp8_kind(f);
    let ovp = ovp_bits(f);
    let mut deq = Vec::with_capacity(n * k);
    let mut rows = vec![(true, 0.0f32); n];
    for r in 0..n {
        let row0 = &codes[r * l.codes_row_bytes..(r + 1) * l.codes_row_bytes];
        let row1 = &high[r * l.high_row_bytes..(r + 1) * l.high_row_bytes];
        for c in 0..k {
            let j = r * l.groups_per_row + c / l.group_len;
            let s = match scales {
                FpScaleBits::F16(s) => f16::from_bits(s[j]).to_f32(),
                FpScaleBits::E8m0(s) => pow2(i32::from(s[j]) - 127),
                FpScaleBits::E4m3(s, t) => e4m3(s[j]) * t,
            };
            let v = if let Some(bits) = ovp {
                // K is even: the partner (element c ^ 1) exists.
                let code = |i: usize| {
                    if bits == 8 {
                        row0[i]
                    } else {
                        (row0[i / 2] >> (4 * (i % 2))) & 0xF
                    }
                };
                ovp_value(bits, code(c), code(c ^ 1))
            } else if let Some(e5m2) = fp8k {
                fp8(row0[c], e5m2)
            } else {
                let lo = (row0[c / 2] >> (4 * (c % 2))) & 0xF;
                let hi = if row1.is_empty() {
                    0
                } else {
                    (row1[c / 4] >> (2 * (c % 4))) & 3
                };
                minifloat(lo | (hi << 4), eb, mb, bias)
            };
            let w = s * v;
            rows[r].0 &= w.is_finite();
            rows[r].1 = rows[r].1.max(s.abs());
            deq.push(w);
        }
    }
    (deq, rows)
}

/// Element `i` of a row from the packed planes, as the header describes them.
fn code_at(bits: usize, row0: &[u8], row1: &[u8], i: usize) -> u8 {
    if bits == 3 {
        let lo = (row0[i / 4] >> (2 * (i % 4))) & 3;
        let hi = (row1[i / 8] >> (i % 8)) & 1;
        lo | (hi << 2)
    } else {
        let bit = i * bits;
        ((u16::from(row0[bit / 8]) >> (bit % 8)) & ((1u16 << bits) - 1)) as u8
    }
}

/// The weights `s * (q - z)` of a valid matrix in the canonical layout, decoded here
/// (f32 arithmetic, as the library's dequantizer), and per row: whether all its weights
/// are finite, and its largest scale magnitude.
fn decode_ref(
    f: &lowbit_format,
    n: usize,
    k: usize,
    codes: &[u8],
    plane1: &[u8],
    scales: &[u16],
    zeros: &[u8],
) -> (Vec<f32>, Vec<(bool, f32)>) {
    let l = layout_of(f, n, k);
    let bits = f.bits as usize;
    let mut deq = Vec::with_capacity(n * k);
    let mut rows = vec![(true, 0.0f32); n];
    for r in 0..n {
        let row0 = &codes[r * l.codes_row_bytes..(r + 1) * l.codes_row_bytes];
        let row1 = &plane1[r * l.plane1_row_bytes..(r + 1) * l.plane1_row_bytes];
        for c in 0..k {
            let j = r * l.groups_per_row + c / l.group_len;
            let s = f16::from_bits(scales[j]).to_f32();
            let z = if f.zero_point == 1 {
                zeros[j]
            } else {
                1u8 << (bits - 1)
            };
            let w = s * (f32::from(code_at(bits, row0, row1, c)) - f32::from(z));
            rows[r].0 &= w.is_finite();
            rows[r].1 = rows[r].1.max(s.abs());
            deq.push(w);
        }
    }
    (deq, rows)
}

/// Buffers of a raw view.
#[derive(Clone, PartialEq)]
struct ViewStore {
    codes: Vec<u8>,
    plane1: Vec<u8>,
    scales: Vec<u16>,
    zeros: Vec<u8>,
}

/// A weight matrix under test, with the handles that reach it.
struct Wt {
    /// The handle operations use.
    h: H,
    /// Another handle over the same weights (a matrix and a view of its buffers).
    twin: Option<H>,
    n: usize,
    k: usize,
    fmt: lowbit_format,
    /// Empty when the handle is valid; else why every call on it must fail.
    defects: Defects,
    /// The weights, row-major, decoded here (empty when invalid).
    deq: Vec<f32>,
    /// Per row: all weights finite, and the largest scale magnitude.
    rows: Vec<(bool, f32)>,
    // Owners, dropped after the handles are last used (matrices last). The views are
    // boxed because handles point to them: their addresses must not move.
    #[allow(clippy::vec_box)]
    views: Vec<Box<lowbit_int_view>>,
    stores: Vec<ViewStore>,
    #[allow(clippy::vec_box)]
    fp_views: Vec<Box<lowbit_fp_view>>,
    fp_stores: Vec<FpStore>,
    mats: Vec<MatGuard>,
}

/// Buffers of a raw FP view.
#[derive(Clone, PartialEq)]
struct FpStore {
    codes: Vec<u8>,
    high: Vec<u8>,
    /// f16 scales (one spare for a misaligned pointer), or empty.
    s16: Vec<u16>,
    /// E8M0 or E4M3 scales, or empty.
    s8: Vec<u8>,
}

impl Wt {
    fn swap(&mut self) {
        if let Some(t) = self.twin {
            self.twin = Some(self.h);
            self.h = t;
        }
    }
}

fn empty_view() -> lowbit_int_view {
    lowbit_int_view {
        format: lowbit_format::default(),
        n: 0,
        k: 0,
        codes: null(),
        codes_len: 0,
        plane1: null(),
        plane1_len: 0,
        scales: null(),
        scales_len: 0,
        zeros: null(),
        zeros_len: 0,
    }
}

fn empty_fp_view() -> lowbit_fp_view {
    lowbit_fp_view {
        format: lowbit_format::default(),
        n: 0,
        k: 0,
        codes: null(),
        codes_len: 0,
        high: null(),
        high_len: 0,
        scales: null(),
        scales_len: 0,
        tensor_scale: 0.0,
    }
}

/// # Safety
///
/// `p` is NULL with `len == 0`, or valid for reading `len` `T`s during `'a`.
unsafe fn raw_slice<'a, T>(p: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: forwarded from this function's contract.
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

/// Takes ownership of a matrix the library just created and checks its getters, its view
/// of its own buffers, its dequantization and (sometimes) a copy through that view.
fn adopt(m: *mut lowbit_matrix, expect: Option<lowbit_format>, u: &mut Unstructured) -> Wt {
    let guard = MatGuard(m);
    let mp = m.cast_const();
    let mut f = lowbit_format::default();
    // SAFETY: `m` is a live handle the library just returned; `f` is a local.
    let st1 = unsafe { lowbit_matrix_format(mp, &mut f) };
    assert!(st1 == OK, "lowbit_matrix_format: {st1:?}");
    if let Some(e) = expect {
        assert_eq!(f, e, "lowbit_matrix_format");
    }
    if f.kind == LOWBIT_FORMAT_FP {
        return adopt_fp(guard, f, u);
    }
    // The FP export refuses an INT matrix and writes nothing.
    let mut fv = empty_fp_view();
    mark();
    // SAFETY: `m` is live; `fv` is a local.
    let st = unsafe { lowbit_matrix_fp_view(mp, &mut fv) };
    check(
        "lowbit_matrix_fp_view",
        st,
        Want::Code(E_UNSUPPORTED),
        fv.codes.is_null() && fv.n == 0,
    );
    // SAFETY: `m` is a live handle the library just returned; outputs are locals.
    let (n, k, st2, v) = unsafe {
        let mut v = empty_view();
        let st2 = lowbit_matrix_int_view(mp, &mut v);
        (lowbit_matrix_n(mp), lowbit_matrix_k(mp), st2, v)
    };
    assert!(st2 == OK, "lowbit_matrix_int_view: {st2:?}");
    assert!(
        v.format == f && v.n == n && v.k == k,
        "lowbit_matrix_int_view: {v:?}"
    );
    let l = layout_of(&f, n, k);
    assert_eq!(
        [v.codes_len, v.plane1_len, v.scales_len, v.zeros_len],
        [l.codes_len, l.plane1_len, l.scales_len, l.zeros_len],
        "lowbit_matrix_int_view lengths"
    );
    assert!(
        v.codes.is_null() == (v.codes_len == 0)
            && v.plane1.is_null() == (v.plane1_len == 0)
            && v.scales.is_null() == (v.scales_len == 0)
            && v.zeros.is_null() == (v.zeros_len == 0),
        "lowbit_matrix_int_view: NULL exactly for empty buffers: {v:?}"
    );
    // SAFETY: the header documents the view's pointers as pointing into the live matrix,
    // valid for their lengths until lowbit_matrix_free (NULL only when empty).
    let (codes, plane1, scales, zeros) = unsafe {
        (
            raw_slice(v.codes, v.codes_len),
            raw_slice(v.plane1, v.plane1_len),
            raw_slice(v.scales, v.scales_len),
            raw_slice(v.zeros, v.zeros_len),
        )
    };
    let (deq, rows) = decode_ref(&f, n, k, codes, plane1, scales, zeros);
    let mut out = vec![f32::from_bits(0x7FC0_0BAD); n * k];
    // SAFETY: `m` is live; `out` is a live buffer of `out.len()` floats.
    let st = unsafe { lowbit_dequantize(mp, out.as_mut_ptr(), out.len()) };
    assert!(st == OK, "lowbit_dequantize: {st:?}: {}", last_error());
    same(
        "lowbit_dequantize",
        "the weights decoded from the matrix's view",
        &out,
        &deq,
    );
    if chance(u, 4) {
        let mut m2 = sentinel::<lowbit_matrix>();
        // SAFETY: `v` describes the live matrix's own buffers; `out` points to a local.
        let st = unsafe { lowbit_matrix_from_int_view(&v, &mut m2) };
        assert!(
            st == OK,
            "lowbit_matrix_from_int_view of a matrix's own view: {st:?}: {}",
            last_error()
        );
        let g2 = MatGuard(m2);
        let mut out2 = vec![0.0f32; n * k];
        let mut f2 = lowbit_format::default();
        // SAFETY: `m2` is live; `out2` and `f2` are locals of the right size.
        let (sa, sb) = unsafe {
            (
                lowbit_dequantize(g2.0, out2.as_mut_ptr(), out2.len()),
                lowbit_matrix_format(g2.0, &mut f2),
            )
        };
        assert!(sa == OK && sb == OK && f2 == f);
        same("lowbit_dequantize of a copy", "the original", &out2, &deq);
    }
    let view = Box::new(v);
    let vp: *const lowbit_int_view = &*view;
    Wt {
        h: H::M(mp),
        twin: Some(H::V(vp)),
        n,
        k,
        fmt: f,
        defects: Defects::default(),
        deq,
        rows,
        views: vec![view],
        stores: vec![],
        fp_views: vec![],
        fp_stores: vec![],
        mats: vec![guard],
    }
}

/// `adopt` for an FP matrix: its getters, `lowbit_matrix_fp_view` (and the INT export's
/// refusal), dequantization against the weights decoded here, and (sometimes) a copy
/// through `lowbit_matrix_from_fp_view`. The twin handle is the FP view of its buffers.
fn adopt_fp(guard: MatGuard, f: lowbit_format, u: &mut Unstructured) -> Wt {
    let mp = guard.0.cast_const();
    let mut iv = empty_view();
    mark();
    // SAFETY: `m` is live; `iv` is a local.
    let st = unsafe { lowbit_matrix_int_view(mp, &mut iv) };
    check(
        "lowbit_matrix_int_view",
        st,
        Want::Code(E_UNSUPPORTED),
        iv.codes.is_null() && iv.n == 0,
    );
    // SAFETY: `m` is a live handle; outputs are locals.
    let (n, k, st, v) = unsafe {
        let mut v = empty_fp_view();
        let st = lowbit_matrix_fp_view(mp, &mut v);
        (lowbit_matrix_n(mp), lowbit_matrix_k(mp), st, v)
    };
    assert!(st == OK, "lowbit_matrix_fp_view: {st:?}: {}", last_error());
    assert!(
        v.format == f && v.n == n && v.k == k,
        "lowbit_matrix_fp_view: {v:?}"
    );
    let l = fp_layout_of(&f, n, k);
    assert_eq!(
        [v.codes_len, v.high_len, v.scales_len],
        [l.codes_len, l.high_len, l.scales_len],
        "lowbit_matrix_fp_view lengths"
    );
    assert!(
        v.codes.is_null() == (v.codes_len == 0)
            && v.high.is_null() == (v.high_len == 0)
            && v.scales.is_null() == (v.scales_len == 0),
        "lowbit_matrix_fp_view: NULL exactly for empty buffers: {v:?}"
    );
    // The tensor scale: a finite value under E4M3 (what a view accepts), 0 otherwise.
    assert!(
        if is_e4m3(&f) {
            v.tensor_scale.is_finite()
        } else {
            v.tensor_scale == 0.0
        },
        "lowbit_matrix_fp_view: tensor_scale {:e} for {f:?}",
        v.tensor_scale
    );
    // SAFETY: the header documents the view's pointers as pointing into the live matrix,
    // valid for their lengths (scales in the type the scale kind names) until
    // lowbit_matrix_free (NULL only when empty).
    let (codes, high, scales) = unsafe {
        (
            raw_slice(v.codes, v.codes_len),
            raw_slice(v.high, v.high_len),
            fp_view_scales(&v),
        )
    };
    let nan_byte = match scales {
        FpScaleBits::E8m0(s) => s.contains(&0xFF),
        FpScaleBits::E4m3(s, _) => s.iter().any(|&b| b & 0x7F == 0x7F),
        FpScaleBits::F16(_) => false,
    };
    assert!(
        !nan_byte,
        "lowbit_matrix_fp_view: a NaN scale byte for {f:?}"
    );
    let (deq, rows) = decode_ref_fp(&f, n, k, codes, high, scales);
    let mut out = vec![f32::from_bits(0x7FC0_0BAD); n * k];
    // SAFETY: `m` is live; `out` is a live buffer of `out.len()` floats.
    let st = unsafe { lowbit_dequantize(mp, out.as_mut_ptr(), out.len()) };
    assert!(st == OK, "lowbit_dequantize: {st:?}: {}", last_error());
    same(
        "lowbit_dequantize",
        "the weights decoded from the matrix's FP view",
        &out,
        &deq,
    );
    if chance(u, 4) {
        let mut m2 = sentinel::<lowbit_matrix>();
        // SAFETY: `v` describes the live matrix's own buffers; `out` points to a local.
        let st = unsafe { lowbit_matrix_from_fp_view(&v, &mut m2) };
        assert!(
            st == OK,
            "lowbit_matrix_from_fp_view of a matrix's own view: {st:?}: {}",
            last_error()
        );
        let g2 = MatGuard(m2);
        let mut out2 = vec![0.0f32; n * k];
        let mut f2 = lowbit_format::default();
        // SAFETY: `m2` is live; `out2` and `f2` are locals of the right size.
        let (sa, sb) = unsafe {
            (
                lowbit_dequantize(g2.0, out2.as_mut_ptr(), out2.len()),
                lowbit_matrix_format(g2.0, &mut f2),
            )
        };
        assert!(sa == OK && sb == OK && f2 == f);
        same("lowbit_dequantize of a copy", "the original", &out2, &deq);
    }
    let view = Box::new(v);
    let vp: *const lowbit_fp_view = &*view;
    Wt {
        h: H::M(mp),
        twin: Some(H::F(vp)),
        n,
        k,
        fmt: f,
        defects: Defects::default(),
        deq,
        rows,
        views: vec![],
        stores: vec![],
        fp_views: vec![view],
        fp_stores: vec![],
        mats: vec![guard],
    }
}

fn gen_shape(u: &mut Unstructured) -> (usize, usize) {
    let k = if chance(u, 2) {
        pick(
            u,
            &[
                0, 1, 2, 3, 7, 16, 31, 32, 33, 48, 64, 65, 80, 96, 100, 128, 129, 160, 192, 240,
                255, 256, 257, 288, 300,
            ],
        )
    } else {
        range(u, 0, MAX_K)
    };
    let n = if chance(u, 2) {
        pick(
            u,
            &[0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100],
        )
    } else {
        range(u, 0, MAX_N)
    };
    (MAX_NK.checked_div(k).map_or(n, |most| n.min(most)), k)
}

/// `lowbit_int_sizes` and `lowbit_quantize` with a fuzzed format, shape and weights.
fn wt_quantize(cx: &mut Cx, u: &mut Unstructured) -> Option<Wt> {
    let (n, k) = gen_shape(u);
    let mut f = if chance(u, 3) {
        gen_fp_format(u, k)
    } else {
        gen_format(u, k)
    };
    let (n, k) = ovp_even_k(u, &mut f, n, k);
    let mut d = fmt_defects(&f);
    d.extend(&shape_defects(&f, n, k));

    // The FP size query: INT formats are refused.
    let (fnull, onull) = (chance(u, 40), chance(u, 40));
    let mut fl = lowbit_fp_layout {
        codes_len: 0xDEAD,
        ..Default::default()
    };
    let fbefore = fl;
    let mut ds = d.clone();
    ds.add(fnull, E_NULL);
    ds.add(onull, E_NULL);
    ds.add(f.kind == LOWBIT_FORMAT_INT, E_UNSUPPORTED);
    mark();
    // SAFETY: `format` is NULL or a local; `out` is NULL or a local layout.
    let st = unsafe {
        lowbit_fp_sizes(
            if fnull { null() } else { &f },
            n,
            k,
            if onull { null_mut() } else { &mut fl },
        )
    };
    if check("lowbit_fp_sizes", st, ds.want(), fl == fbefore) {
        assert_eq!(fl, fp_layout_of(&f, n, k), "lowbit_fp_sizes {f:?} {n}x{k}");
    }

    let (fnull, onull) = (chance(u, 40), chance(u, 40));
    let mut lay = lowbit_int_layout {
        codes_len: 0xDEAD,
        ..Default::default()
    };
    let before = lay;
    let mut ds = d.clone();
    ds.add(fnull, E_NULL);
    ds.add(onull, E_NULL);
    ds.add(f.kind == LOWBIT_FORMAT_FP, E_UNSUPPORTED);
    mark();
    // SAFETY: `format` is NULL or a local; `out` is NULL or a local layout.
    let st = unsafe {
        lowbit_int_sizes(
            if fnull { null() } else { &f },
            n,
            k,
            if onull { null_mut() } else { &mut lay },
        )
    };
    if check("lowbit_int_sizes", st, ds.want(), lay == before) {
        assert_eq!(lay, layout_of(&f, n, k), "lowbit_int_sizes {f:?} {n}x{k}");
    }

    let (fnull, onull) = (chance(u, 40), chance(u, 40));
    if chance(u, 40) {
        // A shape too large for any buffer, with NULL weights: an error, never a read.
        let (hn, hk) = pick(
            u,
            &[
                (usize::MAX, 3),
                (usize::MAX / 3, 4),
                (1 << 40, 1),
                (3, usize::MAX),
            ],
        );
        let mut out = sentinel::<lowbit_matrix>();
        mark();
        // SAFETY: `w` is NULL; `format` and `out` are locals.
        let st = unsafe { lowbit_quantize(&f, null(), hn, hk, &mut out) };
        check("lowbit_quantize", st, Want::Fail, out == sentinel());
        return None;
    }
    let wv = gen_floats(cx, u, n * k);
    if debug() {
        eprintln!("quantize {f:?} {n}x{k}: {wv:?}");
    }
    let wnull = chance(u, 40);
    let wmis = if chance(u, 40) {
        pick(u, &[1, 2, 3])
    } else {
        0
    };
    let mut b = Builder::new();
    let wp = b.place(&Region {
        bytes: f32_bytes(&wv),
        size: 4,
        len: n * k,
        null: wnull,
        mis: wmis,
    });
    let words = b.finish();
    let before = words.clone();
    d.add(fnull, E_NULL);
    d.add(onull, E_NULL);
    d.add(wp.null && wp.len > 0, E_NULL);
    d.add(wp.misaligned(), E_MIS);
    d.add(wv.iter().any(|v| !v.is_finite()), E_NONFINITE);
    let mut out = sentinel::<lowbit_matrix>();
    let base = words.as_ptr().cast::<u8>().cast_mut();
    mark();
    // SAFETY: `w` is NULL or points into `words`, a live allocation with `n * k` floats
    // of room after it; `format` and `out` are NULL or locals.
    let st = unsafe {
        lowbit_quantize(
            if fnull { null() } else { &f },
            wp.ptr::<f32>(base).cast_const(),
            n,
            k,
            if onull { null_mut() } else { &mut out },
        )
    };
    let ok = check(
        "lowbit_quantize",
        st,
        d.want(),
        out == sentinel() && words == before,
    );
    assert!(words == before, "lowbit_quantize wrote to its input");
    if !ok {
        return None;
    }
    let w = adopt(out, Some(f), u);
    if let (Some(e5m2), Some(v)) = (fp8_kind(&f), w.fp_views.first()) {
        // SAFETY: `v` is the matrix's own view (`adopt` checked its lengths and NULLs);
        // the matrix is live (owned by `w`).
        let codes = unsafe { raw_slice(v.codes, v.codes_len) };
        if let Some(i) = codes.iter().position(|&c| fp8_special(c, e5m2)) {
            panic!(
                "lowbit_quantize {f:?} {n}x{k} wrote the NaN / infinite code {:#04x} at {i} \
                 (the quantizer saturates)",
                codes[i]
            );
        }
    }
    if let (Some(bits), Some(v)) = (ovp_bits(&f), w.fp_views.first()) {
        // SAFETY: as above.
        let codes = unsafe { raw_slice(v.codes, v.codes_len) };
        // FORMATS.md: the encoder never writes two identifiers in a pair nor the reserved
        // outlier (e = m = 0, +-8 / +-128), so every decoded value is a point.
        let id = 1u8 << (bits - 1);
        let pairs: Vec<(u8, u8)> = if bits == 8 {
            codes.chunks_exact(2).map(|p| (p[0], p[1])).collect()
        } else {
            codes.iter().map(|&b| (b & 0xF, b >> 4)).collect()
        };
        for (i, &(a, b)) in pairs.iter().enumerate() {
            let out = if b == id { a } else { b };
            assert!(
                !(a == id && b == id) && ((a != id && b != id) || out & !id != 0),
                "lowbit_quantize {f:?} {n}x{k} wrote the pair {a:#x} {b:#x} at {i} \
                 (two identifiers, or the reserved outlier)"
            );
        }
    }
    Some(w)
}

/// A view over fuzzed buffers, and `lowbit_matrix_from_int_view` of it.
fn wt_view(cx: &mut Cx, u: &mut Unstructured) -> Wt {
    let (n, k) = gen_shape(u);
    let f = gen_format(u, k);
    let mut fd = fmt_defects(&f);
    fd.extend(&shape_defects(&f, n, k));
    fd.add(f.kind == LOWBIT_FORMAT_FP, E_UNSUPPORTED);
    let lay = fd.is_empty().then(|| layout_of(&f, n, k));
    let mut lens = match lay {
        Some(l) => [l.codes_len, l.plane1_len, l.scales_len, l.zeros_len],
        None => [
            range(u, 0, 64),
            range(u, 0, 8),
            range(u, 0, 16),
            range(u, 0, 16),
        ],
    };
    if chance(u, 6) {
        let i = range(u, 0, 3);
        lens[i] = pick(
            u,
            &[0, lens[i] + 1, lens[i].saturating_sub(1), 2 * lens[i] + 1],
        );
    }
    let codes = bulk_bytes(cx, u, lens[0]);
    let plane1 = bulk_bytes(cx, u, lens[1]);
    // One spare scale: a misaligned pointer still has `lens[2]` scales of room.
    let scales = gen_scales(cx, u, lens[2] + 1);
    let bits = f.bits;
    let zmax: u32 = if (2..=8).contains(&bits) {
        1 << bits
    } else {
        16
    };
    let mut zeros: Vec<u8> = (0..lens[3])
        .map(|_| (cx.rng.next() % u64::from(zmax + 1)) as u8)
        .collect();
    if bits < 8 && !zeros.is_empty() && chance(u, 8) {
        let i = range(u, 0, zeros.len() - 1);
        zeros[i] = (zmax + 1 + (cx.rng.next() % 8) as u32) as u8;
    }
    let nulls = [chance(u, 24), chance(u, 24), chance(u, 24), chance(u, 24)];
    let smis = chance(u, 24);
    let store = ViewStore {
        codes,
        plane1,
        scales,
        zeros,
    };
    let view = Box::new(lowbit_int_view {
        format: f,
        n,
        k,
        codes: if nulls[0] {
            null()
        } else {
            store.codes.as_ptr()
        },
        codes_len: lens[0],
        plane1: if nulls[1] {
            null()
        } else {
            store.plane1.as_ptr()
        },
        plane1_len: lens[1],
        scales: if nulls[2] {
            null()
        } else if smis {
            store.scales.as_ptr().cast::<u8>().wrapping_add(1).cast()
        } else {
            store.scales.as_ptr()
        },
        scales_len: lens[2],
        zeros: if nulls[3] {
            null()
        } else {
            store.zeros.as_ptr()
        },
        zeros_len: lens[3],
    });
    let mut d = fd;
    for (i, &len) in lens.iter().enumerate() {
        d.add(nulls[i] && len > 0, E_NULL);
    }
    d.add(!nulls[2] && smis, E_MIS);
    if let Some(l) = lay {
        d.add(lens[0] != l.codes_len, E_LEN);
        d.add(lens[1] != l.plane1_len, E_LEN);
        d.add(lens[2] != l.scales_len, E_LEN);
        if f.zero_point == 1 {
            d.add(lens[3] != l.zeros_len, E_LEN);
            d.add(
                lens[3] == l.zeros_len
                    && !nulls[3]
                    && store.zeros.iter().any(|&z| u32::from(z) > zmax),
                E_PARAM,
            );
        } else {
            d.add(lens[3] > 0, E_PARAM);
        }
    }

    if debug() {
        eprintln!(
            "view {f:?} {n}x{k} lens {lens:?} codes {:?} plane1 {:?} scales {:x?} zeros {:?}",
            store.codes, store.plane1, store.scales, store.zeros
        );
    }
    let (vnull, onull) = (chance(u, 40), chance(u, 40));
    let mut dm = d.clone();
    dm.add(vnull, E_NULL);
    dm.add(onull, E_NULL);
    let before = store.clone();
    let mut out = sentinel::<lowbit_matrix>();
    mark();
    // SAFETY: the view is NULL or a local struct whose pointers are NULL or point into
    // `store`'s live buffers with room for the lengths given (a misaligned scales pointer
    // has one spare scale after it); `out` is NULL or a local.
    let st = unsafe {
        lowbit_matrix_from_int_view(
            if vnull { null() } else { &*view },
            if onull { null_mut() } else { &mut out },
        )
    };
    let ok = check(
        "lowbit_matrix_from_int_view",
        st,
        dm.want(),
        out == sentinel() && store == before,
    );
    assert!(
        store == before,
        "lowbit_matrix_from_int_view wrote to its input"
    );

    let mut w = Wt {
        h: H::V(&*view),
        twin: None,
        n,
        k,
        fmt: f,
        defects: d,
        deq: vec![],
        rows: vec![],
        views: vec![],
        stores: vec![],
        fp_views: vec![],
        fp_stores: vec![],
        mats: vec![],
    };
    if w.defects.is_empty() {
        let zp = f.zero_point == 1;
        let (deq, rows) = decode_ref(
            &f,
            n,
            k,
            &store.codes,
            &store.plane1,
            &store.scales,
            if zp { &store.zeros } else { &[] },
        );
        if ok {
            let m = adopt(out, Some(f), u);
            same(
                "lowbit_matrix_from_int_view",
                "the view's weights",
                &m.deq,
                &deq,
            );
            w.twin = Some(m.h);
            w.views.extend(m.views);
            w.mats.extend(m.mats);
        }
        w.deq = deq;
        w.rows = rows;
    }
    w.views.push(view);
    w.stores.push(store);
    w
}

/// `len` FP scales for format `f`: E8M0 bytes (mostly near 2^0, sometimes any byte,
/// the NaN byte 0xFF included), E4M3 bytes (mostly 0x30..0x48, 2^-1 .. 2^2, sometimes any
/// byte: the NaN bytes 0x7F / 0xFF, negative values, zero, subnormals), or f16 bits
/// (powers of two for the pow2 kind, tame values otherwise, sometimes any bits: NaN, Inf,
/// zero, negative, subnormal).
fn gen_fp_scales(cx: &mut Cx, u: &mut Unstructured, f: &lowbit_format, len: usize) -> FpStore {
    let wild = chance(u, 4);
    let mut st = FpStore {
        codes: vec![],
        high: vec![],
        s16: vec![],
        s8: vec![],
    };
    if is_e4m3(f) || is_e8m0(f) {
        // Tame bytes: E4M3 0x30..0x48 (about 2^-1 .. 2^2), E8M0 112..143 (2^-15 .. 2^16).
        let (base, span) = if is_e4m3(f) { (0x30, 0x19) } else { (112, 32) };
        st.s8 = (0..len)
            .map(|_| {
                let r = cx.rng.next();
                if wild {
                    r as u8
                } else {
                    (base + r % span) as u8
                }
            })
            .collect();
    } else {
        let pow2_kind = f.variant & LOWBIT_FP_SCALE_MASK == LOWBIT_FP_SCALE_F16_POW2;
        // One spare: a misaligned pointer still has `len` scales of room.
        st.s16 = (0..len + 1)
            .map(|_| {
                let r = cx.rng.next();
                if wild {
                    r as u16
                } else if pow2_kind {
                    (5 + (r % 20) as u16) << 10
                } else {
                    tame_f16(cx)
                }
            })
            .collect();
    }
    st
}

/// Makes random FP8 codes mostly numbers: random bytes are NaN or infinite 2 times in
/// 256 (E4M3) or 8 times (E5M2), so most rows of a wide matrix would hold one and skip
/// the numeric checks. Mostly the NaN / infinite codes become the finite code one
/// exponent lower (E4M3 0x7F -> 448, E5M2 0x7C..0x7F -> 32768..57344, signs kept), and
/// sometimes 1-4 codes at positions the input picks become a NaN or infinite code (or
/// the largest or smallest finite one); sometimes the bytes stay as generated (all 0xFF,
/// a NaN, for both elements; rows full of specials).
fn fp8_codes(u: &mut Unstructured, e5m2: bool, codes: &mut [u8]) {
    if chance(u, 4) {
        return;
    }
    for c in codes.iter_mut() {
        if fp8_special(*c, e5m2) {
            *c -= if e5m2 { 4 } else { 1 };
        }
    }
    if codes.is_empty() || !chance(u, 2) {
        return;
    }
    for _ in 0..range(u, 1, 4) {
        let i = range(u, 0, codes.len() - 1);
        codes[i] = if e5m2 {
            // +-Inf, NaNs of each mantissa and sign, +-57344, the smallest subnormal.
            pick(
                u,
                &[
                    0x7C, 0xFC, 0x7C, 0xFC, 0x7D, 0x7E, 0x7F, 0xFD, 0xFF, 0x7B, 0xFB, 0x01,
                ],
            )
        } else {
            // The two NaNs, +-448, the smallest subnormal.
            pick(u, &[0x7F, 0xFF, 0x7F, 0xFF, 0x7E, 0xFE, 0x01])
        };
    }
}

/// Makes outliers of random OVP codes more frequent: random bytes hold the identifier in
/// one slot of 8 (OVP-4 nibbles) or of 256 (OVP-8 bytes). Sometimes, in about one pair
/// of four, one slot (or rarely both) becomes the identifier, so the other one is an
/// outlier (the reserved code and two identifiers included).
fn ovp_codes(cx: &mut Cx, u: &mut Unstructured, bits: u32, codes: &mut [u8]) {
    if !chance(u, 2) {
        return;
    }
    let per_byte = if bits == 8 { 1 } else { 2 };
    for i in 0..codes.len() * per_byte / 2 {
        let r = cx.rng.next();
        if r % 4 != 0 {
            continue;
        }
        // Slot 0 or 1 of pair i, or both (1 in 16).
        let slots: &[usize] = match (r >> 8) % 16 {
            0 => &[0, 1],
            s if s % 2 == 0 => &[0],
            _ => &[1],
        };
        for &t in slots {
            if bits == 8 {
                codes[2 * i + t] = 0x80;
            } else {
                let sh = 4 * t;
                codes[i] = (codes[i] & !(0xF << sh)) | (0x8 << sh);
            }
        }
    }
}

/// `lowbit_fp_view.tensor_scale` for format `f`. Under E4M3 mostly a tame positive value
/// (2^-12 .. 2^4, any significand), sometimes one that is still valid (0, -0, negative,
/// subnormal, tiny, huge enough to overflow a group's scale) or invalid (NaN, +-Inf).
/// Otherwise mostly 0, sometimes -0 (still 0) or a value the view must refuse.
fn gen_tensor_scale(cx: &mut Cx, u: &mut Unstructured, f: &lowbit_format) -> f32 {
    let r = cx.rng.next();
    let tame = f32::from_bits(((115 + (r % 16) as u32) << 23) | ((r >> 20) as u32 & 0x7F_FFFF));
    if is_e4m3(f) {
        if !chance(u, 6) {
            return tame;
        }
        pick(
            u,
            &[
                0.0,
                -0.0,
                -tame,
                1.0,
                f32::from_bits(1),
                1e-39,
                f32::MIN_POSITIVE,
                1e30,
                3.0e38,
                f32::MAX,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ],
        )
    } else if chance(u, 16) {
        pick(
            u,
            &[
                -0.0,
                1.0,
                tame,
                -tame,
                f32::from_bits(1),
                f32::NAN,
                f32::INFINITY,
            ],
        )
    } else {
        0.0
    }
}

/// An FP view over fuzzed buffers (`lowbit_fp_view`), and `lowbit_matrix_from_fp_view`
/// of it.
fn wt_fp_view(cx: &mut Cx, u: &mut Unstructured) -> Wt {
    let (n, k) = gen_shape(u);
    let mut f = if chance(u, 16) {
        gen_format(u, k)
    } else {
        gen_fp_format(u, k)
    };
    let (n, k) = ovp_even_k(u, &mut f, n, k);
    let mut fd = fmt_defects(&f);
    fd.extend(&shape_defects(&f, n, k));
    fd.add(f.kind == LOWBIT_FORMAT_INT, E_UNSUPPORTED);
    let lay = fd.is_empty().then(|| fp_layout_of(&f, n, k));
    let mut lens = match lay {
        Some(l) => [l.codes_len, l.high_len, l.scales_len],
        None => [range(u, 0, 64), range(u, 0, 16), range(u, 0, 16)],
    };
    if chance(u, 6) {
        let i = range(u, 0, 2);
        lens[i] = pick(
            u,
            &[0, lens[i] + 1, lens[i].saturating_sub(1), 2 * lens[i] + 1],
        );
    }
    let mut store = gen_fp_scales(cx, u, &f, lens[2]);
    store.codes = bulk_bytes(cx, u, lens[0]);
    if let Some(e5m2) = fp8_kind(&f) {
        fp8_codes(u, e5m2, &mut store.codes);
    }
    if let Some(bits) = ovp_bits(&f) {
        ovp_codes(cx, u, bits, &mut store.codes);
    }
    store.high = bulk_bytes(cx, u, lens[1]);
    let tensor = gen_tensor_scale(cx, u, &f);
    // E8M0 and E4M3 scales are bytes: no pointer to them is misaligned.
    let bytes = byte_scales(&f);
    let e4 = is_e4m3(&f);
    let nulls = [chance(u, 24), chance(u, 24), chance(u, 24)];
    let smis = !bytes && chance(u, 24);
    let scales: *const c_void = if nulls[2] {
        null()
    } else if bytes {
        store.s8.as_ptr().cast()
    } else if smis {
        store.s16.as_ptr().cast::<u8>().wrapping_add(1).cast()
    } else {
        store.s16.as_ptr().cast()
    };
    let view = Box::new(lowbit_fp_view {
        format: f,
        n,
        k,
        codes: if nulls[0] {
            null()
        } else {
            store.codes.as_ptr()
        },
        codes_len: lens[0],
        high: if nulls[1] {
            null()
        } else {
            store.high.as_ptr()
        },
        high_len: lens[1],
        scales,
        scales_len: lens[2],
        tensor_scale: tensor,
    });
    let mut d = fd;
    for (i, &len) in lens.iter().enumerate() {
        d.add(nulls[i] && len > 0, E_NULL);
    }
    d.add(!nulls[2] && smis, E_MIS);
    // A nonzero tensor scale for a (known) scale kind other than E4M3, whatever the shape
    // and the buffers (-0 is 0; NaN is not).
    d.add(
        fp_scale_kind(&f).is_some_and(|s| s != LOWBIT_FP_SCALE_E4M3) && tensor != 0.0,
        E_PARAM,
    );
    if let Some(l) = lay {
        d.add(lens[0] != l.codes_len, E_LEN);
        d.add(lens[1] != l.high_len, E_LEN);
        d.add(lens[2] != l.scales_len, E_LEN);
        // Scale values (and the E4M3 tensor scale) are checked when the view is built,
        // after the scales' length.
        let scales_read = lens[2] == l.scales_len;
        d.add(scales_read && e4 && !tensor.is_finite(), E_PARAM);
        let bad_value = if e4 {
            // Both E4M3 NaN codes; every other byte is a finite value.
            scales_read && store.s8.iter().any(|&b| b & 0x7F == 0x7F)
        } else if bytes {
            store.s8.iter().take(lens[2]).any(|&e| e == 0xFF)
        } else {
            let pow2_kind = f.variant & LOWBIT_FP_SCALE_MASK == LOWBIT_FP_SCALE_F16_POW2;
            store
                .s16
                .iter()
                .take(lens[2])
                .any(|&b| !f16::from_bits(b).is_finite() || (pow2_kind && !f16_pow2(b)))
        };
        d.add(bad_value, E_PARAM);
    }

    if debug() {
        eprintln!(
            "fp view {f:?} {n}x{k} lens {lens:?} codes {:?} high {:?} scales {:x?} {:x?} \
             tensor_scale {tensor:e}",
            store.codes, store.high, store.s16, store.s8
        );
    }
    let (vnull, onull) = (chance(u, 40), chance(u, 40));
    let mut dm = d.clone();
    dm.add(vnull, E_NULL);
    dm.add(onull, E_NULL);
    let before = store.clone();
    let mut out = sentinel::<lowbit_matrix>();
    mark();
    // SAFETY: the view is NULL or a local struct whose pointers are NULL or point into
    // `store`'s live buffers with room for the lengths given (a misaligned f16 scales
    // pointer has one spare scale after it); `out` is NULL or a local.
    let st = unsafe {
        lowbit_matrix_from_fp_view(
            if vnull { null() } else { &*view },
            if onull { null_mut() } else { &mut out },
        )
    };
    let ok = check(
        "lowbit_matrix_from_fp_view",
        st,
        dm.want(),
        out == sentinel() && store == before,
    );
    assert!(
        store == before,
        "lowbit_matrix_from_fp_view wrote to its input"
    );

    let mut w = Wt {
        h: H::F(&*view),
        twin: None,
        n,
        k,
        fmt: f,
        defects: d,
        deq: vec![],
        rows: vec![],
        views: vec![],
        stores: vec![],
        fp_views: vec![],
        fp_stores: vec![],
        mats: vec![],
    };
    if w.defects.is_empty() {
        let scales = if e4 {
            FpScaleBits::E4m3(&store.s8[..lens[2]], tensor)
        } else if bytes {
            FpScaleBits::E8m0(&store.s8[..lens[2]])
        } else {
            FpScaleBits::F16(&store.s16[..lens[2]])
        };
        let (deq, rows) = decode_ref_fp(&f, n, k, &store.codes, &store.high, scales);
        if ok {
            let m = adopt(out, Some(f), u);
            same(
                "lowbit_matrix_from_fp_view",
                "the view's weights",
                &m.deq,
                &deq,
            );
            // The copy keeps the tensor scale unchanged (its export is checked by adopt).
            let t2 = m.fp_views[0].tensor_scale;
            assert!(
                !e4 || t2.to_bits() == tensor.to_bits(),
                "lowbit_matrix_from_fp_view: tensor_scale {tensor:e} exported as {t2:e}"
            );
            w.twin = Some(m.h);
            w.fp_views.extend(m.fp_views);
            w.mats.extend(m.mats);
        }
        w.deq = deq;
        w.rows = rows;
    }
    w.fp_views.push(view);
    w.fp_stores.push(store);
    w
}

/// `lowbit_import_q4_0` / `lowbit_import_q8_0`.
fn wt_ggml(cx: &mut Cx, u: &mut Unstructured, q8: bool) -> Option<Wt> {
    let bb = if q8 { 34 } else { 18 };
    let k: usize = pick(u, &[32, 64, 96, 128, 160, 256, 288, 0, 31, 33, 48]);
    let n = range(u, 0, 40);
    let shape_ok = n > 0 && k > 0 && k.is_multiple_of(32);
    let exact = n * (k / 32) * bb;
    let len = gen_len(u, exact);
    let mut data = bulk_bytes(cx, u, len);
    if !chance(u, 4) {
        for blk in data.chunks_mut(bb) {
            if blk.len() >= 2 {
                let s = tame_f16(cx);
                blk[..2].copy_from_slice(&s.to_le_bytes());
            }
        }
    }
    let (dnull, onull) = (chance(u, 32), chance(u, 32));
    let mut d = Defects::default();
    d.add(onull, E_NULL);
    d.add(dnull && len > 0, E_NULL);
    d.add(!shape_ok, E_SHAPE);
    d.add(shape_ok && len != exact, E_LEN);
    let before = data.clone();
    let mut out = sentinel::<lowbit_matrix>();
    let imp: unsafe extern "C" fn(*const u8, usize, usize, usize, *mut *mut lowbit_matrix) -> St =
        if q8 {
            lowbit_import_q8_0
        } else {
            lowbit_import_q4_0
        };
    let func = if q8 {
        "lowbit_import_q8_0"
    } else {
        "lowbit_import_q4_0"
    };
    mark();
    // SAFETY: `data` is NULL or a live buffer of `len` bytes; `out` is NULL or a local.
    let st = unsafe {
        imp(
            if dnull { null() } else { data.as_ptr() },
            len,
            n,
            k,
            if onull { null_mut() } else { &mut out },
        )
    };
    let ok = check(func, st, d.want(), out == sentinel() && data == before);
    assert!(data == before, "{func} wrote to its input");
    if !ok {
        return None;
    }
    let w = adopt(
        out,
        Some(lowbit_format_int(if q8 { 8 } else { 4 }, 32, false)),
        u,
    );
    let mut want = Vec::with_capacity(n * k);
    for blk in data.chunks_exact(bb) {
        let dv = f16::from_bits(u16::from_le_bytes([blk[0], blk[1]])).to_f32();
        for j in 0..32 {
            want.push(if q8 {
                dv * f32::from(blk[2 + j] as i8)
            } else {
                let q = if j < 16 {
                    blk[2 + j] & 0xF
                } else {
                    blk[2 + j - 16] >> 4
                };
                dv * (f32::from(q) - 8.0)
            });
        }
    }
    same(func, "llama.cpp's dequantization", &w.deq, &want);
    Some(w)
}

/// Bytes of i32 words.
fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn u16_bytes(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// A fuzzed input tensor: NULL sometimes, misaligned sometimes.
fn tensor(u: &mut Unstructured, bytes: Vec<u8>, size: usize, len: usize) -> Region {
    Region {
        bytes,
        size,
        len,
        null: chance(u, 32),
        mis: if chance(u, 32) {
            pick(u, &[1, 2, 3])
        } else {
            0
        },
    }
}

fn tensor_defects(d: &mut Defects, p: &Place) {
    d.add(p.null && p.len > 0, E_NULL);
    d.add(p.misaligned(), E_MIS);
}

/// `lowbit_import_awq`.
fn wt_awq(cx: &mut Cx, u: &mut Unstructured) -> Option<Wt> {
    let n = pick(u, &[8, 16, 24, 32, 64, 0, 12]);
    let k = pick(u, &[32, 64, 128, 256, 96, 160, 0, 20]);
    let group = pick(u, &[0, 32, 64, 128, 256, k as u32, 48]);
    let f = lowbit_format_int(4, group, true);
    let mut d = shape_defects(&f, n, k);
    let sok = d.is_empty() && n.is_multiple_of(8);
    d.add(!n.is_multiple_of(8), E_SHAPE);
    let g = if group == 0 { k } else { group as usize };
    let groups = if sok { k / g } else { 1 };
    let words = n / 8;
    let exact = [k * words, groups * words, groups * n];
    let lens = exact.map(|e| gen_len(u, e));
    if sok {
        for i in 0..3 {
            d.add(lens[i] != exact[i], E_LEN);
        }
    }
    let qweight: Vec<i32> = (0..lens[0]).map(|_| cx.rng.next() as i32).collect();
    let qzeros: Vec<i32> = (0..lens[1]).map(|_| cx.rng.next() as i32).collect();
    let scales = gen_scales(cx, u, lens[2]);
    let mut b = Builder::new();
    let pw = b.place(&tensor(u, i32_bytes(&qweight), 4, lens[0]));
    let pz = b.place(&tensor(u, i32_bytes(&qzeros), 4, lens[1]));
    let ps = b.place(&tensor(u, u16_bytes(&scales), 2, lens[2]));
    let mut words_ = b.finish();
    let before = words_.clone();
    for p in [&pw, &pz, &ps] {
        tensor_defects(&mut d, p);
    }
    let onull = chance(u, 32);
    d.add(onull, E_NULL);
    let mut out = sentinel::<lowbit_matrix>();
    let base = words_.as_mut_ptr().cast::<u8>();
    mark();
    // SAFETY: every tensor pointer is NULL or points into `words_`, a live allocation
    // with room for its length after it; `out` is NULL or a local.
    let st = unsafe {
        lowbit_import_awq(
            n,
            k,
            group,
            pw.ptr::<i32>(base),
            pw.len,
            pz.ptr::<i32>(base),
            pz.len,
            ps.ptr::<u16>(base),
            ps.len,
            if onull { null_mut() } else { &mut out },
        )
    };
    let ok = check(
        "lowbit_import_awq",
        st,
        d.want(),
        out == sentinel() && words_ == before,
    );
    assert!(words_ == before, "lowbit_import_awq wrote to its input");
    if !ok {
        return None;
    }
    let w = adopt(out, Some(f), u);
    const ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];
    let mut want = vec![0.0f32; n * k];
    for c in 0..n {
        let nib = ORDER.iter().position(|&o| o == c % 8).unwrap();
        for kk in 0..k {
            let q = (qweight[kk * words + c / 8] as u32 >> (4 * nib)) & 0xF;
            let z = (qzeros[(kk / g) * words + c / 8] as u32 >> (4 * nib)) & 0xF;
            let s = f16::from_bits(scales[(kk / g) * n + c]).to_f32();
            want[c * k + kk] = s * (q as f32 - z as f32);
        }
    }
    same("lowbit_import_awq", "AWQ's dequantization", &w.deq, &want);
    Some(w)
}

/// `lowbit_import_gptq`, with and without (act-order) `g_idx`.
fn wt_gptq(cx: &mut Cx, u: &mut Unstructured) -> Option<Wt> {
    let bits: u32 = if chance(u, 12) {
        pick(u, &[5, 300])
    } else {
        pick(u, &[2, 3, 4, 8])
    };
    let n = pick(u, &[32, 64, 96, 8, 16, 0, 7]);
    let k = pick(u, &[32, 64, 128, 96, 256, 0, 20]);
    let group = pick(u, &[0, 32, 64, 128, k as u32, 48]);
    let v2: u32 = if chance(u, 16) { 2 } else { pick(u, &[0, 1]) };
    let f = lowbit_format_int(bits, group, true);
    let bits_ok = matches!(bits, 2 | 3 | 4 | 8);
    let mut d = Defects::default();
    d.add(!bits_ok, E_PARAM);
    d.add(v2 > 1, E_PARAM);
    let sd = shape_defects(&f, n, k);
    let sok = bits_ok && sd.is_empty();
    if bits_ok {
        d.extend(&sd);
    }
    let b = bits as usize;
    let pack_ok = sok && (k * b).is_multiple_of(32) && (n * b).is_multiple_of(32);
    if sok {
        d.add(!(k * b).is_multiple_of(32), E_SHAPE);
        d.add(!(n * b).is_multiple_of(32), E_SHAPE);
    }
    let g = if group == 0 { k } else { group as usize };
    let groups = if sok { k / g } else { 1 };
    let (qw_rows, qz_cols) = if bits_ok {
        (k * b / 32, n * b / 32)
    } else {
        (1, 1)
    };
    let exact = [qw_rows * n, groups * qz_cols, groups * n];
    let lens = exact.map(|e| gen_len(u, e));
    if pack_ok {
        for i in 0..3 {
            d.add(lens[i] != exact[i], E_LEN);
        }
    }
    let lens_ok = pack_ok && lens == exact;
    let tame_zeros = !chance(u, 4);
    let qweight: Vec<i32> = (0..lens[0]).map(|_| cx.rng.next() as i32).collect();
    let qzeros: Vec<i32> = (0..lens[1])
        .map(|_| (cx.rng.next() as u32 & if tame_zeros { 0x7F7F_7F7F } else { !0 }) as i32)
        .collect();
    let scales = gen_scales(cx, u, lens[2]);
    // g_idx: none, trivial, shuffled (act-order), random values, or the wrong length.
    let gmode = range(u, 0, 4);
    let mut gidx: Vec<i32> = match gmode {
        0 => vec![],
        1 | 2 => (0..k).map(|i| (i / g.max(1)) as i32).collect(),
        3 => (0..k)
            .map(|_| (cx.rng.next() % (groups as u64 + 2)) as i32 - i32::from(chance(u, 16)))
            .collect(),
        _ => (0..k + 1).map(|i| (i / g.max(1)) as i32).collect(),
    };
    if gmode == 2 {
        for i in (1..gidx.len()).rev() {
            let j = (cx.rng.next() % (i as u64 + 1)) as usize;
            gidx.swap(i, j);
        }
    }
    let mut perm_needed = false;
    let mut perm_want = vec![];
    let mut b = Builder::new();
    let pw = b.place(&tensor(u, i32_bytes(&qweight), 4, lens[0]));
    let pz = b.place(&tensor(u, i32_bytes(&qzeros), 4, lens[1]));
    let ps = b.place(&tensor(u, u16_bytes(&scales), 2, lens[2]));
    let mut gr = tensor(u, i32_bytes(&gidx), 4, gidx.len());
    if gmode == 0 {
        gr.null = true;
    }
    let pg = b.place(&gr);
    let perm_len = pick(u, &[k, k, k, 0, k.saturating_sub(1), k + 5]);
    let pp = b.place(&tensor(u, vec![0xEE; 4 * perm_len], 4, perm_len));
    let hp = b.place(&Region {
        bytes: vec![0xEE; 4],
        size: 4,
        len: 1,
        null: chance(u, 32),
        mis: 0,
    });
    let mut words = b.finish();
    let before = words.clone();
    for p in [&pw, &pz, &ps, &pg, &pp] {
        tensor_defects(&mut d, p);
    }
    d.add(hp.null, E_NULL);
    let onull = chance(u, 32);
    d.add(onull, E_NULL);
    if lens_ok && !(pg.null && pg.len == 0) {
        if gidx.len() != k {
            d.add(true, E_LEN);
        } else if gidx.iter().any(|&v| v < 0 || v as usize >= groups) {
            d.add(true, E_PARAM);
        } else if gidx.iter().enumerate().any(|(i, &v)| v as usize != i / g) {
            let mut counts = vec![0usize; groups];
            gidx.iter().for_each(|&v| counts[v as usize] += 1);
            if counts.iter().any(|&c| c != g) {
                d.add(true, E_UNSUPPORTED);
            } else {
                perm_needed = true;
                for j in 0..groups {
                    perm_want.extend((0..k).filter(|&i| gidx[i] as usize == j).map(|i| i as u32));
                }
            }
        }
    }
    if lens_ok && v2 == 0 && bits == 8 {
        d.add(
            qzeros.iter().any(|z| z.to_le_bytes().contains(&0xFF)),
            E_UNSUPPORTED,
        );
    }
    d.add(perm_needed && perm_len < k, E_LEN);
    let mut out = sentinel::<lowbit_matrix>();
    let base = words.as_mut_ptr().cast::<u8>();
    mark();
    // SAFETY: every tensor pointer is NULL or points into `words`, a live allocation with
    // room for its length after it; `perm_out` and `has_perm` likewise (writable, and
    // disjoint from the inputs); `out` is NULL or a local.
    let st = unsafe {
        lowbit_import_gptq(
            n,
            k,
            bits,
            group,
            v2,
            pw.ptr::<i32>(base),
            pw.len,
            pz.ptr::<i32>(base),
            pz.len,
            ps.ptr::<u16>(base),
            ps.len,
            pg.ptr::<i32>(base),
            pg.len,
            if onull { null_mut() } else { &mut out },
            pp.ptr::<u32>(base),
            pp.len,
            hp.ptr::<u32>(base),
        )
    };
    let ok = check(
        "lowbit_import_gptq",
        st,
        d.want(),
        out == sentinel() && words == before,
    );
    if !ok {
        return None;
    }
    let now = word_bytes(&words);
    let has = u32::from_ne_bytes(now[hp.off..hp.off + 4].try_into().unwrap());
    assert_eq!(has, u32::from(perm_needed), "lowbit_import_gptq: has_perm");
    let fr = Frame {
        words: words.clone(),
        before: before.clone(),
        x: pp,
        bias: hp,
        y: Place::default(),
    };
    if perm_needed {
        let got = fr
            .read_f32(pp.off, k)
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>();
        assert_eq!(got, perm_want, "lowbit_import_gptq: perm_out");
        fr.untouched_outside("lowbit_import_gptq", &[(pp.off, 4 * k), (hp.off, 4)]);
    } else {
        fr.untouched_outside("lowbit_import_gptq", &[(hp.off, 4)]);
    }
    Some(adopt(out, Some(f), u))
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

/// A multiplication that succeeded: `m` activation rows `xs` (widened to f32), output
/// rows `rows`, compact `[m][rows.len()]` results and previous outputs.
struct Case<'a> {
    w: &'a Wt,
    xs: &'a [f32],
    m: usize,
    rows: Range<usize>,
    acc: bool,
    bias: Option<&'a [f32]>,
    y_old: &'a [f32],
    /// The quantizing paths (`got_a8` / `scalar_a8` of `verify`) used the W4A4 codec
    /// (`LOWBIT_PRECISION_ALLOW_A4_OVP`, or a handle of
    /// `lowbit_activations_quantize_ovp4`) instead of int8.
    a4: bool,
}

/// The activations `x` as the W4A4 codec quantizes them (per block of 32:
/// `lowbit_formats::act::quantize_block_ovp4`, the codec `lowbit_activations_quantize_ovp4`
/// documents and the `codecs` target checks), `s * q` per element in f64 (exact).
fn a4_values(x: &[f32]) -> Vec<f64> {
    let mut xq = Vec::with_capacity(x.len());
    for b in x.chunks(32) {
        let mut q = [0i8; 32];
        let s = lowbit_formats::act::quantize_block_ovp4(b, &mut q[..b.len()])
            .expect("W4A4 codec of finite activations");
        xq.extend(q[..b.len()].iter().map(|&c| f64::from(s) * f64::from(c)));
    }
    xq
}

/// Oracle 6: `got` (from a path that multiplied A8 activations if `got_a8`) and `scalar`
/// (the same call forced to the scalar ISA) against the exact value `e` of
/// `sum_k w_k x_k + bias + (y_old if accumulating)`, evaluated here in f64 from the
/// weights decoded here.
///
/// The bound is README.md's accuracy contract. Every f32 path (any ISA, summation order,
/// FMA or not) evaluates the same sum with at most K + 10 roundings on any term's path
/// (the terms, the per-group partial sums, the scale, the groups, the bias, y_old), so it
/// is within `gamma(K + 10) * M` of `e`, with `gamma(m) = m u / (1 - m u)`, `u = 2^-24`,
/// and `M = sum |w_k x_k| + |bias| + |y_old|`; two paths are within twice that. An A8 path
/// multiplies activations moved by at most half their block's scale (`amax / 254`; a block
/// with `amax < 127 * f32::MIN_POSITIVE` becomes 0, so by at most `amax`): that adds
/// `Q = sum |w_k| * err_k` to the difference from `e`, and `Q` to `M` (the A8 terms are
/// bounded by `|w_k| (|x_k| + err_k)`). A W4A4 path (`Case::a4`) moves activations much
/// further (outliers, victims, saturation), so it is held to the exact value `e_q` of the
/// same sum with the codec's activations `x_q` (`a4_values`), within
/// `gamma(K + 10) * M_q` (`M_q` the sum of `|w_k x_q,k|` and the rest), and the f32 path
/// to `e`; a W4A4 result and an f32 one differ by at most both bounds plus
/// `|e - e_q|`. Factors 1.001 / 1.01 cover the rounding of the
/// block scale and of this f64 evaluation; `1e-30` covers underflow (every term below
/// f32's normal range loses at most 2^-149 per rounding). Skipped: rows with non-finite
/// weights (checked by `verify_special` instead), and results the contract's range clause
/// does not cover: the f32 kernels sum `(q - z) x` over a group before scaling, so only
/// `2^b K max|x| max(1, max|s|)` below f32::MAX guarantees a finite result (checked with a
/// margin: `< 1e37`; `2^b` is `code_span`, the largest code magnitude: 512 for FP8 E4M3,
/// 65536 for E5M2), and `M < 1e36`.
fn verify(func: &str, c: &Case, got: &[f32], got_a8: bool, scalar: &[f32], scalar_a8: bool) {
    let k = c.w.k;
    let nr = c.rows.len();
    let u = 2f64.powi(-24);
    let mm = (k + 10) as f64;
    let gamma = mm * u / (1.0 - mm * u);
    for i in 0..c.m {
        let x = &c.xs[i * k..(i + 1) * k];
        let err: Vec<f64> = x
            .chunks(32)
            .map(|b| {
                let amax = b.iter().fold(0f64, |a, v| a.max(f64::from(v.abs())));
                if amax < 1.6e-36 {
                    amax
                } else {
                    amax / 254.0 * 1.001
                }
            })
            .collect();
        let xq = (c.a4 && (got_a8 || scalar_a8)).then(|| a4_values(x));
        let xmax = x.iter().fold(0f64, |a, v| a.max(f64::from(v.abs())));
        let span = code_span(&c.w.fmt) * k as f64 * xmax;
        for (j, r) in c.rows.clone().enumerate() {
            let (finite, smax) = c.w.rows[r];
            let wrow = &c.w.deq[r * k..(r + 1) * k];
            let in_range = span * f64::from(smax).max(1.0) < 1e37;
            if !finite {
                if !got_a8 && !scalar_a8 {
                    let b = c.bias.map(|b| b[r]);
                    let yo = c.acc.then(|| c.y_old[i * nr + j]);
                    let (g, s) = (got[i * nr + j], scalar[i * nr + j]);
                    let ctx = || {
                        format!(
                            "{func}: activation row {i}, output row {r} of {}x{k} {:?} \
                             (weights {wrow:?}, largest scale {smax:e}, x {x:?}, bias {b:?}, \
                             y_old {yo:?}): got {g:e}, scalar {s:e}",
                            c.w.n, c.w.fmt
                        )
                    };
                    verify_special(&c.w.fmt, wrow, x, b, yo, smax, in_range, g, s, ctx);
                }
                continue;
            }
            if !in_range {
                continue;
            }
            let (mut e, mut a, mut q) = (0f64, 0f64, 0f64);
            let (mut eq, mut aq) = (0f64, 0f64);
            for t in 0..k {
                let (wv, xv) = (f64::from(wrow[t]), f64::from(x[t]));
                e += wv * xv;
                a += (wv * xv).abs();
                if let Some(xq) = &xq {
                    eq += wv * xq[t];
                    aq += (wv * xq[t]).abs();
                    q += wv.abs() * (xv - xq[t]).abs();
                } else {
                    q += wv.abs() * err[t / 32];
                }
            }
            let b = c.bias.map_or(0.0, |b| f64::from(b[r]));
            let yo = if c.acc {
                f64::from(c.y_old[i * nr + j])
            } else {
                0.0
            };
            e += b + yo;
            eq += b + yo;
            let mag = a + b.abs() + yo.abs() + if got_a8 || scalar_a8 { q } else { 0.0 };
            let magq = aq + b.abs() + yo.abs();
            if mag.is_nan() || mag >= 1e36 || magq >= 1e36 {
                continue;
            }
            // The value a path approximates, and how closely.
            let bound = |a8: bool| -> (f64, f64) {
                if a8 && xq.is_some() {
                    (eq, gamma * magq * 1.01 + 1e-30)
                } else if a8 {
                    (e, q * 1.001 + gamma * mag * 1.01 + 1e-30)
                } else {
                    (e, gamma * mag * 1.01 + 1e-30)
                }
            };
            let ((eg, tg), (es, ts)) = (bound(got_a8), bound(scalar_a8));
            let g = f64::from(got[i * nr + j]);
            let s = f64::from(scalar[i * nr + j]);
            let ctx = || {
                format!(
                    "{func}: activation row {i}, output row {r} of {}x{k} {:?}: got {g:e} (a8 {got_a8}), \
                     scalar {s:e} (a8 {scalar_a8}), exact {e:e}, |w x| sum {a:e}, A8 bound {q:e}, \
                     W4A4 {} exact {eq:e} |w x_q| sum {aq:e}, bias {b:e}, accumulate {} onto {yo:e}",
                    c.w.n, c.w.fmt, c.a4, c.acc
                )
            };
            assert!((g - eg).abs() <= tg, "result outside the bound: {}", ctx());
            assert!(
                (s - es).abs() <= ts,
                "scalar reference outside the bound: {}",
                ctx()
            );
            // Two int8 A8 paths multiply the same activations: within twice the f32 bound
            // of each other.
            let tol2 = if got_a8 && scalar_a8 && xq.is_none() {
                2.0 * gamma * mag * 1.01 + 1e-30
            } else {
                tg + ts + (eg - es).abs() * 1.001
            };
            assert!(
                (g - s).abs() <= tol2,
                "result vs scalar reference: {}",
                ctx()
            );
        }
    }
}

/// Oracle 6 for an output row whose weights hold NaN or an infinity (the FP8 NaN /
/// infinite codes, an infinite code times a zero scale, a NaN or infinite f16 scale of an
/// INT view, which nothing refuses, or a scale times a code that overflows), on an f32
/// path: FORMATS.md promises every kernel returns what the reference does for an FP8 row
/// with NaN / infinite codes, NaN or the infinity. Where IEEE arithmetic fixes that
/// whatever the evaluation order and wherever the scale is applied (per weight, or to a
/// group's partial sum), `got` and `scalar` (the result of the same call on the scalar
/// ISA) must both be it:
/// - a NaN weight, a NaN bias or a NaN `y_old` (accumulating) makes the result NaN;
/// - else an infinite weight times a zero activation makes it NaN, and so do infinite
///   terms (`w x`, the bias, `y_old`) of both signs;
/// - else infinite terms of one sign make it that infinity, provided the finite terms
///   cannot overflow on any path: `in_range` (README's range clause, as in `verify`) and
///   `sum |w x| + |bias| + |y_old| < 1e36` over the finite ones. (NaN needs neither: an
///   overflow only adds infinities, and NaN stays NaN.)
///
/// Required in every case: the row's largest scale magnitude finite and no finite code
/// times it overflowing (`max|s| * code_span < 1e37`), so the non-finite weights are
/// exactly the NaN / infinite codes (or those times a zero scale) and those of NaN scales
/// (which `smax`, an `f32::max`, skips: NaN times anything is NaN), and scaling a partial
/// sum meets the same NaN or infinity as scaling each weight. Other rows (an infinite
/// scale: a partial sum times it need not be NaN where a weight `Inf * 0` is) are not
/// checked.
fn verify_special(
    f: &lowbit_format,
    wrow: &[f32],
    x: &[f32],
    bias: Option<f32>,
    y_old: Option<f32>,
    smax: f32,
    in_range: bool,
    got: f32,
    scalar: f32,
    ctx: impl Fn() -> String,
) {
    if !smax.is_finite() || f64::from(smax) * code_span(f) >= 1e37 {
        return;
    }
    let (mut nan, mut pos, mut neg, mut rest) = (false, false, false, 0f64);
    let mut term = |v: f64| {
        if v.is_nan() {
            nan = true;
        } else if v == f64::INFINITY {
            pos = true;
        } else if v == f64::NEG_INFINITY {
            neg = true;
        } else {
            rest += v.abs();
        }
    };
    for (&w, &xv) in wrow.iter().zip(x) {
        // 0 * Inf is NaN; f64 keeps every finite product exact enough for `rest`.
        term(f64::from(w) * f64::from(xv));
    }
    for v in [bias, y_old].into_iter().flatten() {
        term(f64::from(v));
    }
    let want = if nan || (pos && neg) {
        f32::NAN
    } else if (pos || neg) && in_range && rest < 1e36 {
        if pos {
            f32::INFINITY
        } else {
            f32::NEG_INFINITY
        }
    } else {
        return;
    };
    if debug() {
        eprintln!("row with NaN / infinite weights: want {want}: {}", ctx());
    }
    for (what, v) in [("result", got), ("scalar reference", scalar)] {
        assert!(
            if want.is_nan() { v.is_nan() } else { v == want },
            "{what} is not {want} for a row with NaN / infinite weights: {}",
            ctx()
        );
    }
}

/// `lowbit_gemv`, `lowbit_gemv_rows`, `lowbit_gemv_ex`, `lowbit_gemv_rows_ex` (kinds
/// 0-3) and their view variants.
fn op_gemv(cx: &mut Cx, u: &mut Unstructured, w: &Wt, kind: u8) {
    let (n, k) = (w.n, w.k);
    let with_opts = kind >= 2;
    let rows_call = kind % 2 == 1;
    let (rb, re) = if rows_call { gen_rows(u, n) } else { (0, n) };
    let rows_ok = rb <= re && re <= n;
    let ty = if with_opts {
        gen_xtype(u)
    } else {
        LOWBIT_ACT_F32
    };
    let xs = gen_x(cx, u, k, ty);
    let opt = if with_opts {
        gen_opts(cx, u, n)
    } else {
        OptSpec::absent()
    };
    let y_exact = if rows_ok { re - rb } else { range(u, 0, 3) };
    let ys = gen_y(u, y_exact);
    let y_old = gen_floats(cx, u, ys.len);
    let mut fr = Frame::build(&xs.region(), &opt.bias_region(), &ys, &y_old);
    let hnull = chance(u, 32);
    let h = if hnull { w.h.null() } else { w.h };

    let mut d = w.defects.clone();
    d.add(hnull, E_NULL);
    d.extend(&opt.defects(n, &fr.bias));
    d.add(
        ![LOWBIT_ACT_F32, LOWBIT_ACT_F16, LOWBIT_ACT_BF16].contains(&ty),
        E_PARAM,
    );
    x_defects(&mut d, &fr.x, &xs.buf, k);
    d.add(!rows_ok, E_SHAPE);
    y_defects(&mut d, &fr.y, rows_ok.then(|| re - rb));
    d.add(fr.y.overlaps(&fr.x) || fr.y.overlaps(&fr.bias), E_PARAM);

    let base = fr.base();
    let raw = opt.raw(&fr.bias, base);
    let optp: *const lowbit_gemv_options = if opt.present { &raw } else { null() };
    let (xp, yp, xl) = (
        fr.x.ptr::<c_void>(base),
        fr.y.ptr::<f32>(base),
        xs.buf.len(),
    );
    let rows = Some((rb, re));
    mark();
    // SAFETY: `h` is NULL or live (owned by `w`); `xp`, `yp` and the bias in `raw` are
    // NULL or point into `fr.words`, a live allocation with room for the lengths passed
    // with them (misaligned ones included); `optp` is NULL or points to `raw`; the
    // workspace is NULL or this input's, used by this thread only.
    let (st, f) = unsafe {
        match kind {
            0 => gemv(h, xp.cast(), xl, None, yp, ys.len),
            1 => gemv(h, xp.cast(), xl, rows, yp, ys.len),
            2 => gemv_ex(h, xp, xl, ty, None, yp, ys.len, optp),
            _ => gemv_ex(h, xp, xl, ty, rows, yp, ys.len, optp),
        }
    };
    if !check(f, st, d.want(), fr.unchanged()) {
        return;
    }
    fr.untouched_outside(f, &[(fr.y.off, 4 * ys.len)]);
    let got = fr.read_f32(fr.y.off, ys.len);
    let co = opt.clean();
    let rows = rb..re;
    // ALLOW_A8 and ALLOW_A4_OVP take the A8 kernels (int8 or W4A4 activations).
    let a8 = co.precision != 0 && name_of(w.h, &co).contains("_a8_");
    let scalar = run_gemv(w.h, &xs.buf, Some(rows.clone()), &y_old, &co.scalar());
    let xw = xs.buf.widened();
    let case = Case {
        w,
        xs: &xw,
        m: 1,
        rows: rows.clone(),
        acc: co.acc == 1,
        bias: co.bias.as_deref(),
        y_old: &y_old,
        a4: co.precision == 2,
    };
    verify(f, &case, &got, a8, &scalar, false);
    match kind {
        0 => same(
            f,
            "lowbit_gemv_ex with default options",
            &got,
            &run_gemv(w.h, &xs.buf, None, &y_old, &Clean::default()),
        ),
        1 => {
            let o = Clean {
                single: 1,
                ..Clean::default()
            };
            same(
                f,
                "lowbit_gemv_rows_ex with default options",
                &got,
                &run_gemv(w.h, &xs.buf, Some(rows), &y_old, &o),
            );
        }
        2 => {
            let s = range(u, 0, n);
            let mut cat = run_gemv(w.h, &xs.buf, Some(0..s), &y_old[..s], &co);
            cat.extend(run_gemv(w.h, &xs.buf, Some(s..n), &y_old[s..], &co));
            same(f, "two row ranges of lowbit_gemv_rows_ex", &got, &cat);
            if xs.buf.is_half() && co.precision == 0 {
                let wide = XBuf::f32(xw.clone());
                same(
                    f,
                    "the widened activations",
                    &got,
                    &run_gemv(w.h, &wide, None, &y_old, &co),
                );
            }
            if let Some(t) = w.twin {
                same(
                    f,
                    "the same call on the other handle",
                    &got,
                    &run_gemv(t, &xs.buf, None, &y_old, &co),
                );
            }
        }
        _ => {
            let mut full = vec![0.0; n];
            full[rows.clone()].copy_from_slice(&y_old);
            let all = run_gemv(w.h, &xs.buf, None, &full, &co);
            same(f, "the same rows of lowbit_gemv_ex", &got, &all[rows]);
        }
    }
}

/// `lowbit_gemm` / `lowbit_gemm_rows` and their view variants.
fn op_gemm(cx: &mut Cx, u: &mut Unstructured, w: &Wt, rows_call: bool) {
    let (n, k) = (w.n, w.k);
    let huge = chance(u, 48);
    let m = if huge {
        pick(u, &[usize::MAX, usize::MAX / 2 + 1, 1 << 40])
    } else {
        pick(u, &[0, 1, 1, 2, 2, 3, 4, 5])
    };
    let (rb, re) = if rows_call { gen_rows(u, n) } else { (0, n) };
    let rows_ok = rb <= re && re <= n;
    let nr = if rows_ok { re - rb } else { 0 };
    let ldy = if !rows_call {
        n
    } else if chance(u, 12) {
        nr.saturating_sub(1)
    } else {
        nr + pick(u, &[0, 0, 0, 1, 3, 17])
    };
    let x_exact = if huge { range(u, 0, 4) } else { m * k };
    let xs = gen_x(cx, u, x_exact, LOWBIT_ACT_F32);
    let opt = gen_opts(cx, u, n);
    let y_exact = if huge {
        range(u, 0, 4)
    } else if !rows_call {
        m * n
    } else if m == 0 {
        range(u, 0, 3)
    } else {
        (m - 1) * ldy + nr
    };
    let ys = gen_y(u, y_exact);
    let y_old = gen_floats(cx, u, ys.len);
    let mut fr = Frame::build(&xs.region(), &opt.bias_region(), &ys, &y_old);
    let hnull = chance(u, 32);
    let h = if hnull { w.h.null() } else { w.h };

    let mut d = w.defects.clone();
    d.add(hnull, E_NULL);
    d.extend(&opt.defects(n, &fr.bias));
    d.add(fr.x.null && fr.x.len > 0, E_NULL);
    d.add(fr.x.misaligned(), E_MIS);
    if huge {
        d.add_unknown(true);
    } else {
        d.add(fr.x.len != m * k, E_LEN);
        d.add(xs.buf.f32s.iter().any(|v| !v.is_finite()), E_NONFINITE);
    }
    if rows_call {
        d.add(!rows_ok, E_SHAPE);
        d.add(rows_ok && ldy < nr, E_SHAPE);
        d.add(
            !huge && rows_ok && ldy >= nr && m > 0 && ys.len < (m - 1) * ldy + nr,
            E_LEN,
        );
    } else {
        d.add(!huge && ys.len != m * n, E_LEN);
    }
    y_defects(&mut d, &fr.y, None);
    d.add(fr.y.overlaps(&fr.x) || fr.y.overlaps(&fr.bias), E_PARAM);

    let base = fr.base();
    let raw = opt.raw(&fr.bias, base);
    let optp: *const lowbit_gemv_options = if opt.present { &raw } else { null() };
    let (xp, yp) = (fr.x.ptr::<f32>(base), fr.y.ptr::<f32>(base));
    mark();
    // SAFETY: as in `op_gemv`: `h` is NULL or live, every buffer pointer is NULL or
    // points into `fr.words` with room for its length, `optp` is NULL or points to `raw`.
    let (st, f) = unsafe {
        gemm(
            h,
            xp,
            m,
            xs.buf.len(),
            rows_call.then_some((rb, re, ldy)),
            yp,
            ys.len,
            optp,
        )
    };
    if !check(f, st, d.want(), fr.unchanged()) {
        return;
    }
    let ld = if rows_call { ldy } else { n };
    let written: Vec<(usize, usize)> = (0..m).map(|i| (fr.y.off + 4 * i * ld, 4 * nr)).collect();
    fr.untouched_outside(f, &written);
    let all = fr.read_f32(fr.y.off, ys.len);
    let compact = |v: &[f32]| -> Vec<f32> {
        (0..m)
            .flat_map(|i| v[i * ld..i * ld + nr].to_vec())
            .collect()
    };
    let got = compact(&all);
    let yold_c = compact(&y_old);
    let co = opt.clean();
    // ALLOW_A8 and ALLOW_A4_OVP take the A8 kernels (int8 or W4A4 activations).
    let a8 = co.precision != 0 && name_of(w.h, &co).contains("_a8_");
    let xw = xs.buf.widened();
    let rr = rows_call.then_some((rb..re, ldy));
    if debug() {
        eprintln!(
            "{f}: m {m} rows {rb}..{re} ldy {ldy} {co:?} name {}\n x {xw:?}\n y_old {y_old:?}\n got {all:?}\n w {:?}",
            name_of(w.h, &co),
            w.deq
        );
    }
    let scalar = compact(&run_gemm(w.h, &xw, m, rr.clone(), &y_old, &co.scalar()));
    let case = Case {
        w,
        xs: &xw,
        m,
        rows: rb..re,
        acc: co.acc == 1,
        bias: co.bias.as_deref(),
        y_old: &yold_c,
        a4: co.precision == 2,
    };
    verify(f, &case, &got, a8, &scalar, false);
    if !rows_call && (m == 1 || a8) {
        for i in 0..m {
            let xi = XBuf::f32(xw[i * k..(i + 1) * k].to_vec());
            let gi = run_gemv(w.h, &xi, None, &yold_c[i * n..(i + 1) * n], &co);
            same(
                f,
                "lowbit_gemv_ex of the same activation row",
                &got[i * n..(i + 1) * n],
                &gi,
            );
        }
    }
    // The header promises these bits for any split of the rows (finding F1 in
    // FINDINGS.md: with m = 1 they differed until d8a945d).
    if rows_call && m > 0 {
        let mut full = vec![0.0f32; m * n];
        for i in 0..m {
            full[i * n + rb..i * n + re].copy_from_slice(&yold_c[i * nr..(i + 1) * nr]);
        }
        let whole = run_gemm(w.h, &xw, m, None, &full, &co);
        let sel: Vec<f32> = (0..m)
            .flat_map(|i| whole[i * n + rb..i * n + re].to_vec())
            .collect();
        let what = format!(
            "the same outputs of lowbit_gemm (m {m}, rows {rb}..{re}, ldy {ldy}, {co:?}, {:?} {n}x{k})",
            w.fmt
        );
        same(f, &what, &got, &sel);
    }
    if !rows_call && m >= 2 {
        let toggled = Clean {
            single: 1 - co.single,
            ..co.clone()
        };
        same(
            f,
            "the other single_thread setting",
            &got,
            &run_gemm(w.h, &xw, m, None, &y_old, &toggled),
        );
    }
    if let Some(t) = w.twin {
        let other = compact(&run_gemm(t, &xw, m, rr, &y_old, &co));
        same(f, "the same call on the other handle", &got, &other);
    }
}

/// `lowbit_activations_quantize` / `_requantize` / `_k`, then `lowbit_gemv_rows_a8`
/// (`ex`: `lowbit_gemv_rows_a8_ex`) and the view variants.
fn op_a8(cx: &mut Cx, u: &mut Unstructured, w: &Wt, ex: bool) {
    let (n, k) = (w.n, w.k);
    let xs = gen_x(cx, u, k, LOWBIT_ACT_F32);
    let mut fr = Frame::build(
        &xs.region(),
        &Region::none(),
        &YSpec {
            len: 0,
            null: true,
            mis: 0,
            overlap: 0,
            at: 0,
        },
        &[],
    );
    let onull = chance(u, 32);
    let mut d = Defects::default();
    d.add(onull, E_NULL);
    d.add(fr.x.null && fr.x.len > 0, E_NULL);
    d.add(fr.x.misaligned(), E_MIS);
    d.add(xs.buf.f32s.iter().any(|v| !v.is_finite()), E_NONFINITE);
    let mut a = sentinel::<lowbit_activations>();
    let base = fr.base();
    // The W4A4 codec (`lowbit_activations_quantize_ovp4`) sometimes; requantizing keeps it.
    let a4 = chance(u, 3);
    type Quantize = unsafe extern "C" fn(*const f32, usize, *mut *mut lowbit_activations) -> St;
    let (quantize, qname): (Quantize, &str) = if a4 {
        (
            lowbit_activations_quantize_ovp4,
            "lowbit_activations_quantize_ovp4",
        )
    } else {
        (lowbit_activations_quantize, "lowbit_activations_quantize")
    };
    mark();
    // SAFETY: `x` is NULL or points into `fr.words` with room for its length; `out` is
    // NULL or a local.
    let st = unsafe {
        quantize(
            fr.x.ptr::<f32>(base),
            xs.buf.len(),
            if onull { null_mut() } else { &mut a },
        )
    };
    if !check(qname, st, d.want(), fr.unchanged() && a == sentinel()) {
        return;
    }
    assert!(fr.unchanged(), "{qname} wrote to its input");
    let guard = ActGuard(a);
    let mut ak = xs.buf.len();
    let mut xv = xs.buf.f32s.clone();
    // SAFETY: `a` is live.
    assert_eq!(
        unsafe { lowbit_activations_k(a) },
        ak,
        "lowbit_activations_k"
    );
    if chance(u, 3) {
        let x2 = gen_x(cx, u, k, LOWBIT_ACT_F32);
        let mut fr2 = Frame::build(
            &x2.region(),
            &Region::none(),
            &YSpec {
                len: 0,
                null: true,
                mis: 0,
                overlap: 0,
                at: 0,
            },
            &[],
        );
        let anull = chance(u, 24);
        let mut d = Defects::default();
        d.add(anull, E_NULL);
        d.add(fr2.x.null && fr2.x.len > 0, E_NULL);
        d.add(fr2.x.misaligned(), E_MIS);
        d.add(x2.buf.f32s.iter().any(|v| !v.is_finite()), E_NONFINITE);
        let base = fr2.base();
        mark();
        // SAFETY: `a` is NULL or live and unused elsewhere; `x` is NULL or points into
        // `fr2.words` with room for its length.
        let st = unsafe {
            lowbit_activations_requantize(
                if anull { null_mut() } else { a },
                fr2.x.ptr::<f32>(base),
                x2.buf.len(),
            )
        };
        let ok = check(
            "lowbit_activations_requantize",
            st,
            d.want(),
            fr2.unchanged(),
        );
        assert!(
            fr2.unchanged(),
            "lowbit_activations_requantize wrote to its input"
        );
        if !anull {
            // The header: on error the handle holds no activations (K = 0).
            (ak, xv) = if ok {
                (x2.buf.len(), x2.buf.f32s.clone())
            } else {
                (0, vec![])
            };
        }
        // SAFETY: `a` is live.
        assert_eq!(
            unsafe { lowbit_activations_k(a) },
            ak,
            "lowbit_activations_k after requantize"
        );
    }

    let (rb, re) = gen_rows(u, n);
    let rows_ok = rb <= re && re <= n;
    let opt = if ex {
        gen_opts(cx, u, n)
    } else {
        OptSpec::absent()
    };
    let y_exact = if rows_ok { re - rb } else { range(u, 0, 3) };
    let ys = gen_y(u, y_exact);
    let y_old = gen_floats(cx, u, ys.len);
    let mut fr = Frame::build(&Region::none(), &opt.bias_region(), &ys, &y_old);
    let hnull = chance(u, 32);
    let h = if hnull { w.h.null() } else { w.h };
    let anull = chance(u, 32);
    let mut d = w.defects.clone();
    d.add(hnull, E_NULL);
    d.add(anull, E_NULL);
    d.extend(&opt.defects(n, &fr.bias));
    d.add(ak != k, E_LEN);
    d.add(!rows_ok, E_SHAPE);
    y_defects(&mut d, &fr.y, rows_ok.then(|| re - rb));
    d.add(fr.y.overlaps(&fr.bias), E_PARAM);
    let base = fr.base();
    let raw = opt.raw(&fr.bias, base);
    let rawp: *const lowbit_gemv_options = if opt.present { &raw } else { null() };
    let optp = ex.then_some(rawp);
    mark();
    // SAFETY: `h` is NULL or live; `a` is NULL or live; `y` and the bias are NULL or
    // point into `fr.words` with room for their lengths; `optp` is NULL or points to `raw`.
    let (st, f) = unsafe {
        rows_a8(
            h,
            if anull { null() } else { guard.0 },
            rb,
            re,
            fr.y.ptr::<f32>(base),
            ys.len,
            optp,
        )
    };
    let mut want = d.want();
    // Whether FP6 E3M2 has an A8 kernel depends on the version (its `16 e` does not fit
    // int8, so its kernels are newer than E2M1's and E2M3's): with every argument valid,
    // a refusal is allowed (every other check runs before the kernel is chosen). FP8 has
    // no A8 kernel on any ISA (`2^9 e4m3` and `2^16 e5m2` do not fit the integer lanes):
    // with every argument valid it is refused.
    if is_e3m2(&w.fmt) && want == Want::Ok && st == E_UNSUPPORTED {
        want = Want::Code(E_UNSUPPORTED);
    }
    if no_a8(&w.fmt) && want == Want::Ok {
        want = Want::Code(E_UNSUPPORTED);
    }
    if !check(f, st, want, fr.unchanged()) {
        return;
    }
    fr.untouched_outside(f, &[(fr.y.off, 4 * ys.len)]);
    let got = fr.read_f32(fr.y.off, ys.len);
    let co = opt.clean();
    let rows = rb..re;
    let scalar = run_a8(w.h, guard.0, rows.clone(), &y_old, &co.scalar());
    let case = Case {
        w,
        xs: &xv,
        m: 1,
        rows: rows.clone(),
        acc: co.acc == 1,
        bias: co.bias.as_deref(),
        y_old: &y_old,
        a4,
    };
    verify(f, &case, &got, true, &scalar, true);
    // The header: bitwise the rows of lowbit_gemv_ex with ALLOW_A8 wherever that takes
    // the A8 path (for a W4A4 handle: with ALLOW_A4_OVP, the precision of its codec).
    let o8 = Clean {
        precision: if a4 { 2 } else { 1 },
        ..co.clone()
    };
    if name_of(w.h, &o8).contains("_a8_") {
        let gv = run_gemv(w.h, &XBuf::f32(xv.clone()), Some(rows.clone()), &y_old, &o8);
        let what = if a4 {
            "lowbit_gemv_rows_ex with LOWBIT_PRECISION_ALLOW_A4_OVP"
        } else {
            "lowbit_gemv_rows_ex with LOWBIT_PRECISION_ALLOW_A8"
        };
        same(f, what, &got, &gv);
    }
    if let Some(t) = w.twin {
        same(
            f,
            "the same call on the other handle",
            &got,
            &run_a8(t, guard.0, rows, &y_old, &co),
        );
    }
}

/// `lowbit_gemv_kernel_name` / `lowbit_view_gemv_kernel_name`.
fn op_name(cx: &mut Cx, u: &mut Unstructured, w: &Wt) {
    let opt = gen_opts(cx, u, w.n);
    let mut fr = Frame::build(
        &Region::none(),
        &opt.bias_region(),
        &YSpec {
            len: 0,
            null: true,
            mis: 0,
            overlap: 0,
            at: 0,
        },
        &[],
    );
    let hnull = chance(u, 32);
    let h = if hnull { w.h.null() } else { w.h };
    let mut d = w.defects.clone();
    d.add(hnull, E_NULL);
    d.extend(&opt.defects(w.n, &fr.bias));
    let base = fr.base();
    let raw = opt.raw(&fr.bias, base);
    let optp: *const lowbit_gemv_options = if opt.present { &raw } else { null() };
    mark();
    // SAFETY: `h` is NULL or live; `optp` is NULL or points to `raw`, whose bias is NULL
    // or points into `fr.words` with room for its length.
    let (p, f) = unsafe { kernel_name(h, optp) };
    let s = cstr(p, f);
    assert!(fr.unchanged(), "{f} wrote to memory");
    let want = d.want();
    if s.is_empty() {
        let msg = last_error();
        assert!(
            msg.starts_with(&format!("{f}: ")),
            "{f} returned \"\" but the last error is {msg:?}"
        );
        assert!(want != Want::Ok, "{f}: \"\" for valid arguments: {msg}");
        return;
    }
    assert!(
        want == Want::Ok,
        "{f} named {s} for invalid arguments ({want:?}, {d:?})"
    );
    let parts: Vec<&str> = s.split('_').collect();
    assert!(
        parts.len() == 4 && parts[0] == "gemv" && (parts[2] == "f32" || parts[2] == "a8"),
        "{f}: {s} does not follow <op>_<weights>_<activations>_<variant>"
    );
    let family_ok = if w.fmt.kind == LOWBIT_FORMAT_FP {
        let own = match w.fmt.variant & LOWBIT_FP_ELEMENT_MASK {
            LOWBIT_FP_E2M1 => "fp4",
            LOWBIT_FP_E3M2 => "fp6e3m2",
            LOWBIT_FP_E4M3 => "fp8e4m3",
            LOWBIT_FP_E5M2 => "fp8e5m2",
            LOWBIT_FP_OVP4 => "ovp4",
            LOWBIT_FP_OVP8 => "ovp8",
            _ => "fp6e2m3",
        };
        parts[1] == "fp" || parts[1] == own
    } else {
        parts[1] == "int" || parts[1] == format!("int{}", w.fmt.bits)
    };
    assert!(family_ok, "{f}: {s} for {:?}", w.fmt);

    let o = opt.clean();
    assert!(
        o.precision != 0 || parts[2] == "f32",
        "{f}: {s} with f32 precision"
    );
    // FP8 and OVP-8 have no A8 kernel: LOWBIT_PRECISION_ALLOW_A8 (and _A4_OVP) runs the
    // f32 one.
    assert!(
        !no_a8(&w.fmt) || parts[2] == "f32",
        "{f}: {s} for {:?}, which has no A8 path",
        w.fmt
    );
    assert!(
        o.isa != SCALAR || parts[3] == "scalar",
        "{f}: {s} for the scalar ISA"
    );
    assert!(
        o.isa != AVX2 || !parts[3].starts_with("avx512"),
        "{f}: {s} for AVX2"
    );
    let sn = name_of(w.h, &o.scalar());
    assert!(
        sn.ends_with("_scalar") && !sn.contains("_a8_"),
        "{f}: {sn} on the scalar ISA"
    );
}

/// `lowbit_dequantize` / `lowbit_view_dequantize`.
fn op_deq(cx: &mut Cx, u: &mut Unstructured, w: &Wt) {
    let exact = w.n * w.k;
    let mut ys = gen_y(u, exact);
    ys.overlap = 0;
    let y_old = gen_floats(cx, u, ys.len);
    let mut fr = Frame::build(&Region::none(), &Region::none(), &ys, &y_old);
    let hnull = chance(u, 32);
    let h = if hnull { w.h.null() } else { w.h };
    let mut d = w.defects.clone();
    d.add(hnull, E_NULL);
    y_defects(&mut d, &fr.y, Some(exact));
    let base = fr.base();
    mark();
    // SAFETY: `h` is NULL or live; `out` is NULL or points into `fr.words` with room for
    // its length.
    let (st, f) = unsafe { dequantize(h, fr.y.ptr::<f32>(base), ys.len) };
    if check(f, st, d.want(), fr.unchanged()) {
        fr.untouched_outside(f, &[(fr.y.off, 4 * ys.len)]);
        same(
            f,
            "the weights decoded here",
            &fr.read_f32(fr.y.off, ys.len),
            &w.deq,
        );
    }
}

/// Sometimes caps the ISA for this input (removed again when the guard drops).
fn cap_step(u: &mut Unstructured) -> Option<CapGuard> {
    if !chance(u, 5) {
        return None;
    }
    let code = pick(u, &[0, 1, 1, 2, 2, 3, 4, 9, -3]);
    let want = isa_defect(code).map_or(Want::Ok, Want::Code);
    mark();
    let st = lowbit_set_isa_cap(code);
    let ok = check("lowbit_set_isa_cap", st, want, true);
    let mut act = lowbit_isa::LOWBIT_ISA_AUTO;
    // SAFETY: `out` points to a local.
    let st = unsafe { lowbit_isa_active(&mut act) };
    assert_eq!(st, OK, "lowbit_isa_active");
    // A cap only lowers: on this CPU every available ISA is below the best one.
    if ok && code != AUTO {
        assert_eq!(act as i32, code, "lowbit_isa_active under a cap");
    } else {
        assert_eq!(act, lowbit_isa_best(), "lowbit_isa_active without a cap");
    }
    Some(CapGuard)
}

fuzz_target!(|data: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(init_checks);
    let mut u = Unstructured::new(data);
    let u = &mut u;
    let seed = u.arbitrary::<u64>().unwrap_or(0);
    let mut cx = Cx {
        rng: Rng(seed),
        ws: null_mut(),
    };
    let _cap = cap_step(u);
    if chance(u, 32) {
        mark();
        // SAFETY: a NULL `out` is documented to fail with LOWBIT_ERR_NULL.
        let st = unsafe { lowbit_workspace_new(null_mut()) };
        check("lowbit_workspace_new", st, Want::Code(E_NULL), true);
    }
    let mut ws = null_mut();
    // SAFETY: `out` points to a local.
    let st = unsafe { lowbit_workspace_new(&mut ws) };
    assert!(st == OK && !ws.is_null(), "lowbit_workspace_new");
    let ws = WsGuard(ws);
    cx.ws = ws.0;

    for _ in 0..1 + usize::from(chance(u, 4)) {
        let w = match range(u, 0, 10) {
            0..=2 => wt_quantize(&mut cx, u),
            3..=5 => Some(wt_view(&mut cx, u)),
            9 | 10 => Some(wt_fp_view(&mut cx, u)),
            6 => {
                let q8 = chance(u, 2);
                wt_ggml(&mut cx, u, q8)
            }
            7 => wt_awq(&mut cx, u),
            _ => wt_gptq(&mut cx, u),
        };
        let Some(mut w) = w else { continue };
        for i in 0..range(u, 1, 6) {
            if i > 0 && u.is_empty() {
                break;
            }
            if chance(u, 3) {
                w.swap();
            }
            let op = range(u, 0, 11);
            if debug() {
                eprintln!("op {op} on {:?}", w.h);
            }
            match op {
                0 => op_gemv(&mut cx, u, &w, 0),
                1 => op_gemv(&mut cx, u, &w, 1),
                2 | 3 => op_gemv(&mut cx, u, &w, 2),
                4 => op_gemv(&mut cx, u, &w, 3),
                5 | 6 => op_gemm(&mut cx, u, &w, false),
                7 => op_gemm(&mut cx, u, &w, true),
                8 => {
                    let ex = chance(u, 2);
                    op_a8(&mut cx, u, &w, ex)
                }
                9 => op_name(&mut cx, u, &w),
                _ => op_deq(&mut cx, u, &w),
            }
        }
    }
    // SAFETY: `ws` is live and no call uses it now.
    let _ = unsafe { lowbit_workspace_bytes(ws.0) };
});
