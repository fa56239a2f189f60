//! Multiplying: options, the reusable [`Workspace`], GEMV and GEMM over whole matrices
//! (rows split over rayon) and over row ranges (on the calling thread), and which kernel
//! a call runs.

use core::ops::Range;

use lowbit_formats::error::{check_finite, check_len};
use lowbit_kernels::contract::{check_gemm_args, check_gemv_args, check_out};
use lowbit_kernels::registry::{self, Entry, GemvA8Fn, GemvF32, KernelKey, Scheme};
use lowbit_kernels::{call_isa, Out, Weights};

use crate::{bf16, f16, A8Activations, Error, Format, Isa, MatrixRef, Result, Variant};

/// What a call may do to the activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Precision {
    /// Multiply the activations as given, in f32 (f16 and bf16 inputs are widened
    /// exactly). Never quantizes activations. The default.
    #[default]
    F32,
    /// The call may quantize the activations to int8 per block of 32 (A8: scale
    /// `amax / 127` per block, so each activation moves by at most half its block's
    /// scale) and use integer dot products (VNNI, `vpmaddubsw`, `sdot`) where a SIMD kernel
    /// for the format exists at the ISA in use; otherwise it runs as [`Precision::F32`].
    AllowA8,
    /// W4A4 (OliVe): the call may quantize the activations with the OVP-4 codec per block
    /// of 32 (`lowbit_formats::act::quantize_block_ovp4`: normals within half a step of
    /// `clip / 7`, outliers to 96 steps, a victim next to each outlier) and run the same
    /// integer-dot kernels as [`Precision::AllowA8`] on the decoded values; where no SIMD
    /// A8 kernel exists it runs as [`Precision::F32`]. With OVP-4 weights this is OliVe's
    /// W4A4; the activation error is OVP-4's, far above A8's.
    AllowA4Ovp,
}

impl Precision {
    /// Whether the call may quantize the activations (and with which codec).
    fn quantizes(self) -> bool {
        self != Precision::F32
    }
}

/// Quantizes `x` into `q` with the codec `p` names (A8 or W4A4).
fn requantize(q: &mut A8Activations, x: &[f32], p: Precision) -> Result<()> {
    if p == Precision::AllowA4Ovp {
        q.requantize_ovp4(x)
    } else {
        q.requantize(x)
    }
}

/// Options of the GEMV and GEMM calls. `Default` is: the active ISA, f32 precision, rows
/// split over rayon, `y = W x`, no bias.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GemvOptions<'b> {
    /// Run on this ISA (lowered to the active one, see [`lowbit_kernels::call_isa`], and
    /// to the best kernel the format has at or below it); `None` uses [`crate::active_isa`].
    pub isa: Option<Isa>,
    /// Whether activations may be quantized (see [`Precision`]).
    pub precision: Precision,
    /// Stay on the calling thread. Otherwise (and with feature `rayon`) rows are split
    /// over rayon's current pool. Results are bitwise identical either way.
    pub single_thread: bool,
    /// `y += W x (+ bias)` instead of `y = W x (+ bias)`. GEMV (and the A8 path of
    /// GEMM) rounds this as `y_old + (W x + bias)`; the batched f32 GEMM kernels start each
    /// output's chain of fused multiply-adds from `y_old` and add the bias last. Either way
    /// the bits do not depend on threads or row splits.
    pub accumulate: bool,
    /// A bias per output row (`N` values, indexed by the row), added to `W x`.
    pub bias: Option<&'b [f32]>,
}

impl GemvOptions<'_> {
    fn out(&self) -> Out<'_> {
        Out {
            accumulate: self.accumulate,
            bias: self.bias,
        }
    }
}

/// Scratch a caller keeps and lends to the `_ws` calls: the activations reordered for the
/// f32 kernels, quantized for the A8 kernels, or widened from f16/bf16, and the batched
/// GEMM's output staging. Once it has grown to the largest shape seen, those calls
/// allocate nothing. A workspace serves one call at a time (keep one per thread).
#[derive(Debug, Default)]
pub struct Workspace {
    scratch: lowbit_kernels::Workspace,
    a8: Vec<A8Activations>,
    wide: Vec<f32>,
    staging: Vec<f32>,
}

impl Workspace {
    /// An empty workspace (it grows on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held.
    pub fn capacity_bytes(&self) -> usize {
        self.scratch.capacity_bytes()
            + 4 * (self.wide.capacity() + self.staging.capacity())
            + self.a8.iter().map(|a| 7 * a.k()).sum::<usize>()
    }

    /// The first `m` A8 activation buffers.
    fn a8(&mut self, m: usize) -> &mut [A8Activations] {
        if self.a8.len() < m {
            self.a8.resize_with(m, A8Activations::default);
        }
        &mut self.a8[..m]
    }
}

/// The kernel a GEMV call runs: its registry name, the ISA variant it is written for and
/// its precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelInfo {
    /// Registry name, `<op>_<weights>_<activations>_<variant>`.
    pub name: &'static str,
    /// The ISA the kernel is written for (lower than the one asked for on a fallback).
    pub isa: Isa,
    /// The variant of that ISA (e.g. `avx512vnni`).
    pub variant: Variant,
    /// [`Precision::AllowA8`] when the kernel multiplies int8 activations.
    pub precision: Precision,
}

/// What a call runs: an f32 kernel or an A8 kernel.
#[derive(Clone, Copy)]
enum Plan {
    F32(&'static Entry<GemvF32>),
    A8(&'static Entry<GemvA8Fn>, Precision),
}

impl Plan {
    fn info(self) -> KernelInfo {
        match self {
            Plan::F32(e) => KernelInfo {
                name: e.name,
                isa: e.variant.isa(),
                variant: e.variant,
                precision: Precision::F32,
            },
            Plan::A8(e, precision) => KernelInfo {
                name: e.name,
                isa: e.variant.isa(),
                variant: e.variant,
                precision,
            },
        }
    }
}

/// The kernels' view of a matrix.
fn weights<'a>(w: &MatrixRef<'a>) -> Weights<'a> {
    match w {
        MatrixRef::Int(m) => Weights::Int(*m),
        MatrixRef::Fp(m) => Weights::Fp(*m),
    }
}

/// The registry key of `format` with rows of `k` elements.
fn key_of(format: Format, k: usize) -> Result<KernelKey> {
    match format {
        Format::Int(f) => Ok(KernelKey {
            scheme: Scheme::Int {
                bits: f.bits,
                zero_point: f.zero_point,
            },
            group_len: f.group.resolve(k)?,
        }),
        Format::Fp(f) => Ok(KernelKey {
            scheme: Scheme::Fp {
                elem: f.elem,
                scale: f.scale,
            },
            group_len: f.layout(1, k)?.group_len,
        }),
    }
}

/// The rule every call applies: with [`Precision::AllowA8`], the A8 kernel when it is a
/// SIMD kernel of an ISA at least as good as the f32 kernel's; else the f32 kernel.
fn plan(key: &KernelKey, isa: Isa, precision: Precision) -> Result<Plan> {
    let f32k = registry::GEMV
        .select(isa, key)
        .ok_or_else(|| Error::Unsupported {
            what: format!("{key:?} GEMV on {isa}"),
        })?;
    if precision.quantizes() {
        if let Some(a8) = registry::GEMV_A8.select(isa, key) {
            if a8.variant != Variant::Scalar && a8.variant.isa() >= f32k.variant.isa() {
                return Ok(Plan::A8(a8, precision));
            }
        }
    }
    Ok(Plan::F32(f32k))
}

/// Which kernel a GEMV of `format` with rows of `k` elements runs when `isa` is requested
/// with `precision` (`None` when the CPU lacks `isa`, or `format` cannot have rows of `k`
/// elements). This is the rule every call applies, including the lowering of `isa` to
/// the active ISA.
pub fn gemv_kernel(format: Format, k: usize, isa: Isa, precision: Precision) -> Option<KernelInfo> {
    let isa = call_isa(Some(isa)).ok()?;
    let key = key_of(format, k).ok()?;
    plan(&key, isa, precision).ok().map(Plan::info)
}

/// The kernel a GEMV call on `w` with `opts` runs ([`gemv_with`], [`gemv_ws`],
/// [`gemv_rows_ws`], the f16/bf16 calls): the same resolution of the ISA and precision,
/// with the same errors (an ISA this CPU lacks, an option that is out of range).
pub fn gemv_plan(w: MatrixRef<'_>, opts: &GemvOptions<'_>) -> Result<KernelInfo> {
    let isa = call_isa(opts.isa)?;
    check_out(w.n(), &opts.out())?;
    let wt = weights(&w);
    plan(&KernelKey::of(&wt), isa, opts.precision).map(Plan::info)
}

/// Runs `f(rows, y_rows)` over all `n` rows, split over rayon unless `single_thread`.
fn for_row_tasks(
    n: usize,
    k: usize,
    y: &mut [f32],
    single_thread: bool,
    f: impl Fn(Range<usize>, &mut [f32]) + Sync,
) {
    #[cfg(feature = "rayon")]
    if !single_thread && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let chunk = rows_per_task(n, k);
        if chunk < n {
            y.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, ys)| f(i * chunk..i * chunk + ys.len(), ys));
            return;
        }
    }
    let _ = (k, single_thread);
    f(0..n, y)
}

/// Rows per parallel task: enough tasks to balance, each big enough to amortize.
#[cfg(feature = "rayon")]
fn rows_per_task(n: usize, k: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let min_rows = (65536 / k.max(1)).clamp(1, 256);
    // Whole multiples of 16 rows keep the kernels' multi-row blocks whole in every task.
    n.div_ceil(4 * threads).max(min_rows).next_multiple_of(16)
}

/// `y = W x` (`x.len() == K`, `y.len() == N`) on the active ISA, rows split over rayon.
/// Allocates its scratch (see [`gemv_ws`]).
pub fn gemv(w: MatrixRef<'_>, x: &[f32], y: &mut [f32]) -> Result<()> {
    gemv_with(w, x, y, &GemvOptions::default())
}

/// `y = W x` (or `y += W x`, plus a bias) with explicit options. Allocates its scratch per
/// call; [`gemv_ws`] is the same without allocating.
pub fn gemv_with(w: MatrixRef<'_>, x: &[f32], y: &mut [f32], opts: &GemvOptions<'_>) -> Result<()> {
    gemv_ws(w, x, y, opts, &mut Workspace::new()).map(|_| ())
}

/// `y = W x` (or `y += W x`, plus a bias) using `ws` for scratch: nothing is allocated
/// once `ws` has grown to this shape. The activations are reordered (f32 kernels) or
/// quantized (A8) once and shared by every row task. Returns the kernel that ran.
pub fn gemv_ws(
    w: MatrixRef<'_>,
    x: &[f32],
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    let (n, k) = (w.n(), w.k());
    check_gemv_args(n, k, x.len(), &(0..n), y.len())?;
    let isa = call_isa(opts.isa)?;
    run_rows(w, x, 0..n, y, opts, isa, ws, !opts.single_thread)
}

/// Output rows `rows` of `W x` (`y.len() == rows.len()`) on the calling thread, for
/// engines that split rows over their own threads. Allocates scratch for the formats
/// whose kernels reorder the activations ([`gemv_rows_ws`] does not). Returns the name of
/// the kernel that ran.
pub fn gemv_rows(
    w: MatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    isa: Option<Isa>,
) -> Result<&'static str> {
    let opts = GemvOptions {
        isa,
        single_thread: true,
        ..Default::default()
    };
    gemv_rows_ws(w, x, rows, y, &opts, &mut Workspace::new()).map(|k| k.name)
}

/// Output rows `rows` of `W x` (`y.len() == rows.len()`) with options, on the calling
/// thread, using `ws` for scratch. With [`Precision::AllowA8`] the activations are
/// quantized per call: engines that split rows should quantize once
/// ([`quantize_activations`]) and call [`gemv_rows_a8_with`] instead.
pub fn gemv_rows_ws(
    w: MatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    check_gemv_args(w.n(), w.k(), x.len(), &rows, y.len())?;
    let isa = call_isa(opts.isa)?;
    run_rows(w, x, rows, y, opts, isa, ws, false)
}

/// The body of the f32-input GEMV calls (arguments checked except the options) on
/// `isa`, which the call resolved once (so a cap changed meanwhile cannot split a call
/// over two kernels).
#[allow(clippy::too_many_arguments)]
fn run_rows(
    w: MatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    isa: Isa,
    ws: &mut Workspace,
    threads: bool,
) -> Result<KernelInfo> {
    let out = opts.out();
    check_out(w.n(), &out)?;
    check_finite(x)?;
    let wt = weights(&w);
    let key = KernelKey::of(&wt);
    let p = plan(&key, isa, opts.precision)?;
    let (k, r0) = (w.k(), rows.start);
    match p {
        Plan::A8(e, precision) => {
            let xq = &mut ws.a8(1)[0];
            requantize(xq, x, precision)?;
            let xq = &*xq;
            for_row_tasks(rows.len(), k, y, !threads, |r, ys| {
                (e.run)(&wt, xq, r.start + r0..r.end + r0, ys, &out)
            });
        }
        Plan::F32(e) => {
            let buf = ws.scratch.f32s(x.len());
            let xp: &[f32] = if (e.run.prepare)(&wt, x, buf) { buf } else { x };
            for_row_tasks(rows.len(), k, y, !threads, |r, ys| {
                (e.run.run)(&wt, xp, r.start + r0..r.end + r0, ys, &out)
            });
        }
    }
    Ok(p.info())
}

/// Quantizes activations to A8 (int8 per block of 32 with an f32 scale per block) for
/// [`gemv_rows_a8`]. NaN or Inf is an error. Reuse the result with
/// [`A8Activations::requantize`] to avoid allocating per call.
pub fn quantize_activations(x: &[f32]) -> Result<A8Activations> {
    A8Activations::new(x)
}

/// Output rows `rows` with activations already quantized to A8 (see
/// [`quantize_activations`]), on the calling thread: for engines that quantize once and
/// split rows over their own threads. Always runs an integer-dot kernel (the scalar
/// reference one when the ISA has none). Returns the name of the kernel that ran.
pub fn gemv_rows_a8(
    w: MatrixRef<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
    isa: Option<Isa>,
) -> Result<&'static str> {
    let opts = GemvOptions {
        isa,
        ..Default::default()
    };
    gemv_rows_a8_with(w, x, rows, y, &opts).map(|k| k.name)
}

/// [`gemv_rows_a8`] with options (ISA, accumulate, bias; precision and threads are
/// ignored: the call is A8 and on the calling thread).
pub fn gemv_rows_a8_with(
    w: MatrixRef<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
) -> Result<KernelInfo> {
    let isa = call_isa(opts.isa)?;
    let out = opts.out();
    check_gemv_args(w.n(), w.k(), x.k(), &rows, y.len())?;
    check_out(w.n(), &out)?;
    let wt = weights(&w);
    let key = KernelKey::of(&wt);
    let e = registry::GEMV_A8
        .select(isa, &key)
        .ok_or_else(|| Error::Unsupported {
            what: format!("{key:?} x A8 GEMV on {isa}"),
        })?;
    (e.run)(&wt, x, rows, y, &out);
    let p = if x.is_ovp4() {
        Precision::AllowA4Ovp
    } else {
        Precision::AllowA8
    };
    Ok(Plan::A8(e, p).info())
}

/// `y = W x` with f16 activations, widened exactly to f32 (a buffer of K floats is
/// allocated per call; [`gemv_f16_ws`] does not), then as [`gemv_with`].
pub fn gemv_f16(w: MatrixRef<'_>, x: &[f16], y: &mut [f32], opts: &GemvOptions<'_>) -> Result<()> {
    gemv_f16_ws(w, x, y, opts, &mut Workspace::new()).map(|_| ())
}

/// `y = W x` with bf16 activations, widened exactly to f32 (a buffer of K floats is
/// allocated per call; [`gemv_bf16_ws`] does not), then as [`gemv_with`].
pub fn gemv_bf16(
    w: MatrixRef<'_>,
    x: &[bf16],
    y: &mut [f32],
    opts: &GemvOptions<'_>,
) -> Result<()> {
    gemv_bf16_ws(w, x, y, opts, &mut Workspace::new()).map(|_| ())
}

/// [`gemv_ws`] of activations widened (exactly) into `ws`.
fn widened_gemv(
    w: MatrixRef<'_>,
    x: impl Iterator<Item = f32>,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    let mut wide = core::mem::take(&mut ws.wide);
    wide.clear();
    wide.extend(x);
    let r = gemv_ws(w, &wide, y, opts, ws);
    ws.wide = wide;
    r
}

/// [`gemv_f16`] widening into `ws`.
pub fn gemv_f16_ws(
    w: MatrixRef<'_>,
    x: &[f16],
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    widened_gemv(w, x.iter().map(|v| v.to_f32()), y, opts, ws)
}

/// [`gemv_bf16`] widening into `ws`.
pub fn gemv_bf16_ws(
    w: MatrixRef<'_>,
    x: &[bf16],
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    widened_gemv(w, x.iter().map(|v| v.to_f32()), y, opts, ws)
}

/// `Y = X W^T` for `m` activation rows: `x` is row-major `[m][K]`, `y` row-major
/// `[m][N]` (`y[i*N + n] = sum_k W[n,k] * x[i*K + k]`). Allocates its scratch per call;
/// [`gemm_ws`] is the same without allocating.
///
/// For `m >= 2` with f32 precision, a batched kernel decodes each weight tile once for
/// all `m` rows (small `m`), or decodes panels into cache for a register-blocked
/// micro-kernel (large `m`); on SIMD paths its summation order is fixed, so results are
/// bitwise independent of `m`, the row split and the thread count. `m == 1` runs
/// [`gemv_with`] (faster; equal up to float summation order), and so does every row
/// when `opts.precision` selects the A8 path (all rows are quantized before any output is
/// written).
pub fn gemm_with(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
) -> Result<()> {
    gemm_ws(w, x, m, y, opts, &mut Workspace::new()).map(|_| ())
}

/// `m x N` elements, or the overflow error.
fn area(m: usize, per: usize, what: &'static str) -> Result<usize> {
    m.checked_mul(per).ok_or_else(|| Error::InvalidShape {
        what: format!("{what}: {m} x {per} overflows"),
    })
}

/// [`gemm_with`] using `ws` for scratch (the A8 path's quantized rows and, when rows are
/// split over threads, the staging of each task's outputs). Returns the kernel that ran
/// (the GEMV kernel for `m == 1` and for the A8 path).
pub fn gemm_ws(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    let (n, k) = (w.n(), w.k());
    check_len("x", area(m, k, "x")?, x.len())?;
    check_len("y", area(m, n, "y")?, y.len())?;
    // Resolved once: every row of the call runs on the same kernel.
    let isa = call_isa(opts.isa)?;
    if m <= 1 || !opts.single_thread && threads() > 1 && plan_of(&w, opts, isa)?.is_a8() {
        // One GEMV per activation row (its rows split over threads): m == 1, or the A8
        // path on several threads.
        return gemm_by_rows(w, x, y, opts, isa, ws);
    }
    #[cfg(feature = "rayon")]
    if !opts.single_thread && threads() > 1 {
        return gemm_threads(w, x, m, y, opts, isa, ws);
    }
    gemm_rows_on(w, x, m, 0..n, y, n, opts, isa, ws)
}

fn threads() -> usize {
    #[cfg(feature = "rayon")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "rayon"))]
    1
}

impl Plan {
    fn is_a8(self) -> bool {
        matches!(self, Plan::A8(..))
    }
}

/// The plan of a call on `w` with `opts` on `isa`.
fn plan_of(w: &MatrixRef<'_>, opts: &GemvOptions<'_>, isa: Isa) -> Result<Plan> {
    plan(&KernelKey::of(&weights(w)), isa, opts.precision)
}

/// GEMM as one GEMV per activation row, every row's inputs checked first.
fn gemm_by_rows(
    w: MatrixRef<'_>,
    x: &[f32],
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    isa: Isa,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    let (n, k) = (w.n(), w.k());
    check_out(n, &opts.out())?;
    check_finite(x)?;
    let p = plan_of(&w, opts, isa)?;
    for (xi, yi) in x.chunks_exact(k).zip(y.chunks_exact_mut(n)) {
        run_rows(w, xi, 0..n, yi, opts, isa, ws, !opts.single_thread)?;
    }
    Ok(p.info())
}

/// Output rows `rows` of `Y = X W^T` for `m` activation rows, on the calling thread:
/// `y[i*ldy + (r - rows.start)]` for `i < m`, `r` in `rows` (`ldy >= rows.len()`; the
/// values after each output row's `rows.len()` are left alone). With f32 precision the
/// batched GEMM kernel runs (the GEMV kernel for `m == 1`, as in [`gemm_ws`]); with [`Precision::AllowA8`] (where an A8 kernel applies) all
/// `m` rows are quantized into `ws` first, then each runs the A8 GEMV. Nothing is
/// written unless every check passes; nothing is allocated once `ws` has grown.
#[allow(clippy::too_many_arguments)]
pub fn gemm_rows(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
    opts: &GemvOptions<'_>,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    check_gemm_args(w.n(), w.k(), x.len(), m, &rows, y.len(), ldy)?;
    let isa = call_isa(opts.isa)?;
    gemm_rows_on(w, x, m, rows, y, ldy, opts, isa, ws)
}

/// The body of [`gemm_rows`] (shape checked) on the resolved `isa`.
#[allow(clippy::too_many_arguments)]
fn gemm_rows_on(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    rows: Range<usize>,
    y: &mut [f32],
    ldy: usize,
    opts: &GemvOptions<'_>,
    isa: Isa,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    let k = w.k();
    let out = opts.out();
    check_out(w.n(), &out)?;
    check_finite(x)?;
    let wt = weights(&w);
    let key = KernelKey::of(&wt);
    let p = plan(&key, isa, opts.precision)?;
    if m == 0 {
        return Ok(p.info());
    }
    match p {
        Plan::A8(e, precision) => {
            let xq = ws.a8(m);
            for (q, xi) in xq.iter_mut().zip(x.chunks_exact(k)) {
                requantize(q, xi, precision)?;
            }
            for (i, q) in xq.iter().enumerate() {
                let yi = &mut y[i * ldy..i * ldy + rows.len()];
                (e.run)(&wt, q, rows.clone(), yi, &out);
            }
            Ok(p.info())
        }
        Plan::F32(e) if m == 1 => {
            // One activation row runs the GEMV kernel, as `gemm_ws` does, so the two
            // calls give the same bits.
            let buf = ws.scratch.f32s(x.len());
            let xp: &[f32] = if (e.run.prepare)(&wt, x, buf) { buf } else { x };
            let nr = rows.len();
            (e.run.run)(&wt, xp, rows, &mut y[..nr], &out);
            Ok(p.info())
        }
        Plan::F32(_) => {
            let e = gemm_entry(isa, &key)?;
            (e.run)(&wt, x, m, rows, y, ldy, &out);
            Ok(gemm_info(e))
        }
    }
}

/// The batched GEMM entry `isa` selects for `key`.
fn gemm_entry(isa: Isa, key: &KernelKey) -> Result<&'static Entry<registry::GemmFn>> {
    registry::GEMM
        .select(isa, key)
        .ok_or_else(|| Error::Unsupported {
            what: format!("{key:?} GEMM on {isa}"),
        })
}

fn gemm_info(e: &Entry<registry::GemmFn>) -> KernelInfo {
    KernelInfo {
        name: e.name,
        isa: e.variant.isa(),
        variant: e.variant,
        precision: Precision::F32,
    }
}

/// The batched GEMM with rows split over rayon: each task computes its rows for all `m`
/// activation rows into its part of the workspace's staging (`m x rows` floats, gathered
/// from `y` first when accumulating), then the parts are scattered into `y`.
#[cfg(feature = "rayon")]
fn gemm_threads(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    y: &mut [f32],
    opts: &GemvOptions<'_>,
    isa: Isa,
    ws: &mut Workspace,
) -> Result<KernelInfo> {
    use rayon::prelude::*;
    let (n, k) = (w.n(), w.k());
    let out = opts.out();
    check_out(n, &out)?;
    check_finite(x)?;
    let chunk = rows_per_task(n, k).max(16);
    if chunk >= n {
        return gemm_rows_on(w, x, m, 0..n, y, n, opts, isa, ws);
    }
    let wt = weights(&w);
    let e = gemm_entry(isa, &KernelKey::of(&wt))?;
    let mut staging = core::mem::take(&mut ws.staging);
    staging.clear();
    staging.resize(m * n, 0.0);
    // Task `t` holds rows `t * chunk ..` (`m x len` floats, `len` = its row count).
    if opts.accumulate {
        for (t, part) in staging.chunks_mut(m * chunk).enumerate() {
            let (r0, len) = (t * chunk, part.len() / m);
            for i in 0..m {
                part[i * len..(i + 1) * len].copy_from_slice(&y[i * n + r0..i * n + r0 + len]);
            }
        }
    }
    staging
        .par_chunks_mut(m * chunk)
        .enumerate()
        .for_each(|(t, part)| {
            let (r0, len) = (t * chunk, part.len() / m);
            (e.run)(&wt, x, m, r0..r0 + len, part, len, &out)
        });
    for (t, part) in staging.chunks(m * chunk).enumerate() {
        let (r0, len) = (t * chunk, part.len() / m);
        for i in 0..m {
            y[i * n + r0..i * n + r0 + len].copy_from_slice(&part[i * len..(i + 1) * len]);
        }
    }
    ws.staging = staging;
    Ok(gemm_info(e))
}
