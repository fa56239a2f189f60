//! # lowbit
//!
//! Quantized matrix kernels for CPUs. Quantize an `N x K` f32 weight matrix into a
//! low-bit [`Format`], then multiply it by activations with [`gemv`] — on the fastest
//! instruction set this CPU has (AVX2, AVX-512, NEON), or a lower one you choose.
//!
//! ```
//! use lowbit::{Format, Group, QuantizedMatrix};
//! let (n, k) = (8, 64);
//! let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.01).sin()).collect();
//! let q = QuantizedMatrix::quantize(&w, n, k, Format::int4(Group::Size(32)))?;
//! let x = vec![1.0f32; k];
//! let mut y = vec![0.0f32; n];
//! lowbit::gemv(q.view(), &x, &mut y)?;
//! # Ok::<(), lowbit::Error>(())
//! ```
//!
//! - Owned matrices ([`QuantizedMatrix`]) and zero-copy views over caller buffers
//!   ([`MatrixRef`], e.g. [`MatrixRef::int`]) in the canonical layouts of `FORMATS.md`.
//! - [`gemv_rows`] computes a range of output rows on the calling thread, for engines
//!   with their own thread pool; [`gemv`] splits rows over rayon (feature `rayon`, on by
//!   default). Every row is computed the same way whatever the split, so results are
//!   bitwise identical for any thread count.
//! - Errors are values ([`Error`]); nothing is written to `y` unless the call succeeds.

use core::ops::Range;

pub use lowbit_formats::int::{IntFormat, IntMatrix, IntMatrixRef};
pub use lowbit_formats::{bf16, f16, Error, Group, Result};
pub use lowbit_kernels::a8::A8Activations;
pub use lowbit_kernels::{active_isa, cpu_features, set_isa_cap, CpuFeatures, Isa};

use lowbit_kernels::gemv::check_gemv_args;

/// A weight format. Each variant's canonical layout is documented on its matrix type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// INT-b with a scale (and optionally a zero-point) per group: see [`IntFormat`].
    Int(IntFormat),
}

impl Format {
    /// Symmetric INT4 (zero-point fixed at 8).
    pub const fn int4(group: Group) -> Format {
        Format::Int(IntFormat::symmetric(4, group))
    }

    /// INT-b, symmetric or with a zero-point per group.
    pub const fn int(bits: u8, group: Group, zero_point: bool) -> Format {
        Format::Int(IntFormat {
            bits,
            group,
            zero_point,
        })
    }

    /// A short stable name, e.g. `int4_g32`, `int4_g128_zp`, `int8_row`.
    pub fn name(&self) -> String {
        match self {
            Format::Int(f) => {
                let g = match f.group {
                    Group::Size(g) => format!("g{g}"),
                    Group::PerRow => "row".into(),
                };
                let zp = if f.zero_point { "_zp" } else { "" };
                format!("int{}_{g}{zp}", f.bits)
            }
        }
    }

    /// Parses [`Format::name`].
    pub fn parse(name: &str) -> Result<Format> {
        let bad = || Error::InvalidParameter {
            what: format!("unknown format name `{name}` (e.g. int4_g32, int4_g128_zp, int8_row)"),
        };
        let rest = name.trim().strip_prefix("int").ok_or_else(bad)?;
        let (bits, rest) = rest.split_once('_').ok_or_else(bad)?;
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        let (group, zp) = match rest.strip_suffix("_zp") {
            Some(g) => (g, true),
            None => (rest, false),
        };
        let group = match group {
            "row" => Group::PerRow,
            g => Group::Size(
                g.strip_prefix('g')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?,
            ),
        };
        if let Group::Size(g) = group {
            if !Group::SIZES.contains(&g) {
                return Err(Error::BadGroupSize { group: g, k: g });
            }
        }
        let f = Format::int(bits, group, zp);
        match f {
            Format::Int(i) => i.validate()?,
        }
        Ok(f)
    }

    /// Checks that an `n x k` matrix can be stored in this format (group size divides
    /// `K`, bit width valid, ...) and returns the bytes of weight data one GEMV reads.
    pub fn weight_bytes(&self, n: usize, k: usize) -> Result<usize> {
        match self {
            Format::Int(f) => Ok(f.layout(n, k)?.weight_bytes()),
        }
    }

    /// Every format lowbit implements, at its common group sizes (what benches walk).
    pub fn catalog() -> Vec<Format> {
        let mut v = Vec::new();
        for bits in [4u8, 8, 2, 3] {
            for g in [Group::Size(32), Group::Size(128), Group::PerRow] {
                v.push(Format::int(bits, g, false));
                v.push(Format::int(bits, g, true));
            }
        }
        v
    }
}

impl core::fmt::Display for Format {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.name())
    }
}

/// An owned quantized matrix in its format's canonical layout.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix {
    repr: Owned,
}

#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Int(IntMatrix),
}

/// A borrowed quantized matrix: an owned one's [`QuantizedMatrix::view`], or a
/// zero-copy view over caller buffers in the canonical layout.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum MatrixRef<'a> {
    /// An INT-b matrix.
    Int(IntMatrixRef<'a>),
}

impl QuantizedMatrix {
    /// Quantizes a row-major `n x k` f32 matrix (round-to-nearest-even; see each format's
    /// quantizer for how scales are chosen). NaN/Inf input, wrong lengths and bad group
    /// sizes are errors.
    pub fn quantize(weights: &[f32], n: usize, k: usize, format: Format) -> Result<Self> {
        let repr = match format {
            Format::Int(f) => Owned::Int(IntMatrix::quantize(weights, n, k, f)?),
        };
        Ok(QuantizedMatrix { repr })
    }

    /// Wraps an owned INT matrix.
    pub fn from_int(m: IntMatrix) -> Self {
        QuantizedMatrix {
            repr: Owned::Int(m),
        }
    }

    /// A borrowed view (cheap).
    pub fn view(&self) -> MatrixRef<'_> {
        match &self.repr {
            Owned::Int(m) => MatrixRef::Int(m.view()),
        }
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.view().n()
    }
    /// Columns.
    pub fn k(&self) -> usize {
        self.view().k()
    }
    /// The format.
    pub fn format(&self) -> Format {
        self.view().format()
    }
    /// Dequantizes into a row-major `n x k` buffer.
    pub fn dequantize(&self, out: &mut [f32]) -> Result<()> {
        self.view().dequantize(out)
    }
    /// `y = W x`, see [`gemv`].
    pub fn gemv(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        gemv(self.view(), x, y)
    }
}

impl<'a> MatrixRef<'a> {
    /// A zero-copy view of an INT matrix over caller buffers (see [`IntMatrixRef::new`]
    /// for the layout; every length is checked).
    pub fn int(
        format: IntFormat,
        n: usize,
        k: usize,
        codes: &'a [u8],
        plane1: &'a [u8],
        scales: &'a [f16],
        zeros: Option<&'a [u8]>,
    ) -> Result<Self> {
        Ok(MatrixRef::Int(IntMatrixRef::new(
            format, n, k, codes, plane1, scales, zeros,
        )?))
    }

    /// Rows.
    pub fn n(&self) -> usize {
        match self {
            MatrixRef::Int(m) => m.n(),
        }
    }
    /// Columns.
    pub fn k(&self) -> usize {
        match self {
            MatrixRef::Int(m) => m.k(),
        }
    }
    /// The format.
    pub fn format(&self) -> Format {
        match self {
            MatrixRef::Int(m) => Format::Int(m.format()),
        }
    }
    /// Bytes of weight data one GEMV reads (codes, scales, zero-points).
    pub fn weight_bytes(&self) -> usize {
        match self {
            MatrixRef::Int(m) => m.layout().weight_bytes(),
        }
    }
    /// Dequantizes into a row-major `n x k` buffer.
    pub fn dequantize(&self, out: &mut [f32]) -> Result<()> {
        match self {
            MatrixRef::Int(m) => m.dequantize(out),
        }
    }
    /// Copies the view into an owned matrix.
    pub fn to_owned(&self) -> QuantizedMatrix {
        match self {
            MatrixRef::Int(m) => QuantizedMatrix::from_int(m.to_owned()),
        }
    }
}

/// What a call may do to the activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Precision {
    /// Multiply the activations as given, in f32 (f16 and bf16 inputs are widened
    /// exactly). Never quantizes activations. The default.
    #[default]
    F32,
    /// The call may quantize the activations to int8 per block of 32 (A8: scale
    /// `amax / 127` per block, so each activation moves by at most half its block's
    /// scale) and use integer dot products (VNNI, `vpmaddubsw`, `sdot`) where a kernel
    /// for the format exists at the ISA in use; otherwise it runs as [`Precision::F32`].
    AllowA8,
}

/// Options for [`gemv_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GemvOptions {
    /// Run on this ISA (or the best lower kernel); `None` uses [`active_isa`].
    pub isa: Option<Isa>,
    /// Whether activations may be quantized (see [`Precision`]).
    pub precision: Precision,
    /// Stay on the calling thread. Otherwise (and with feature `rayon`) rows are split
    /// over rayon's current pool. Results are bitwise identical either way.
    pub single_thread: bool,
}

fn resolve_isa(isa: Option<Isa>) -> Result<Isa> {
    match isa {
        Some(i) => i.require(),
        None => active_isa(),
    }
}

/// Computes output rows `rows` on the calling thread: `y[i] = sum_k W[rows.start+i, k] x[k]`
/// (`y.len() == rows.len()`). For engines that split work on their own threads. Returns
/// the name of the kernel that ran.
pub fn gemv_rows(
    w: MatrixRef<'_>,
    x: &[f32],
    rows: Range<usize>,
    y: &mut [f32],
    isa: Option<Isa>,
) -> Result<&'static str> {
    let isa = resolve_isa(isa)?;
    match w {
        MatrixRef::Int(m) => Ok(lowbit_kernels::gemv::int_gemv(isa, &m, x, rows, y)?.name),
    }
}

/// `y = W x` (`x.len() == K`, `y.len() == N`) on the active ISA, rows split over rayon.
pub fn gemv(w: MatrixRef<'_>, x: &[f32], y: &mut [f32]) -> Result<()> {
    gemv_with(w, x, y, &GemvOptions::default())
}

/// Rows per parallel task: enough tasks to balance, each big enough to amortize.
#[cfg(feature = "rayon")]
fn rows_per_task(n: usize, k: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let min_rows = (65536 / k.max(1)).clamp(1, 256);
    // Whole multiples of 16 rows keep the kernels' multi-row blocks whole in every task.
    n.div_ceil(4 * threads).max(min_rows).next_multiple_of(16)
}

/// Computes output rows `rows` with activations already quantized to A8 (see
/// [`quantize_activations`]), on the calling thread. For engines that quantize once and
/// split rows over their own threads. Returns the name of the kernel that ran.
pub fn gemv_rows_a8(
    w: MatrixRef<'_>,
    x: &A8Activations,
    rows: Range<usize>,
    y: &mut [f32],
    isa: Option<Isa>,
) -> Result<&'static str> {
    let isa = resolve_isa(isa)?;
    match w {
        MatrixRef::Int(m) => Ok(lowbit_kernels::gemv::int_gemv_a8(isa, &m, x, rows, y)?.name),
    }
}

/// Quantizes activations to A8 (int8 per block of 32 with an f32 scale per block) for
/// [`gemv_rows_a8`]. NaN or Inf is an error. Reuse the result with
/// [`A8Activations::requantize`] to avoid allocating per call.
pub fn quantize_activations(x: &[f32]) -> Result<A8Activations> {
    A8Activations::new(x)
}

/// Whether `precision` lets this call use the A8 path (the rule of [`gemv_kernel`]).
fn use_a8(w: &MatrixRef<'_>, isa: Isa, precision: Precision) -> bool {
    precision == Precision::AllowA8
        && gemv_kernel(w.format(), isa, precision).is_some_and(|k| k.name.contains("_a8_"))
}

/// The kernel a GEMV call would run: its registry name and the ISA it is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelInfo {
    /// Registry name, `<op>_<weights>_<activations>_<isa>`.
    pub name: &'static str,
    /// The ISA the kernel is written for (lower than the one asked for on a fallback).
    pub isa: Isa,
}

/// Which kernel a GEMV of `format` runs on `isa` with `precision` (`None` when the CPU
/// lacks `isa`). With [`Precision::AllowA8`] this is the integer-dot kernel when the
/// call would use it, else the f32 one — the same rule [`gemv_with`] applies.
pub fn gemv_kernel(format: Format, isa: Isa, precision: Precision) -> Option<KernelInfo> {
    if !isa.is_available() {
        return None;
    }
    use lowbit_kernels::registry::{select_int_a8_gemv, select_int_gemv};
    match format {
        Format::Int(f) => {
            let a8 = select_int_a8_gemv(isa, f.bits);
            let f32k = select_int_gemv(isa, f.bits);
            let use_a8 = precision == Precision::AllowA8
                && a8.is_some_and(|a| a.isa != Isa::Scalar && f32k.is_none_or(|k| a.isa >= k.isa));
            let (name, isa) = if use_a8 {
                a8.map(|k| (k.name, k.isa))
            } else {
                f32k.map(|k| (k.name, k.isa))
            }?;
            Some(KernelInfo { name, isa })
        }
    }
}

/// `Y = X W^T` for `m` activation rows: `x` is row-major `[m][K]`, `y` row-major
/// `[m][N]` (`y[i*N + n] = sum_k W[n,k] * x[i*K + k]`).
///
/// For `m >= 2` with f32 precision, a batched kernel decodes each weight tile once for
/// all `m` rows (small `m`), or decodes panels into cache for a register-blocked
/// micro-kernel (large `m`); on SIMD paths its summation order is fixed, so results are
/// bitwise independent of `m`, the row split and the thread count. `m == 1` runs
/// [`gemv_with`] (faster; equal up to float summation order), and so does every row
/// when `opts.precision` selects the A8 path. Rows of `W` are split over rayon (each
/// task writes through a temporary of `m x rows` floats, then scatters).
pub fn gemm_with(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    y: &mut [f32],
    opts: &GemvOptions,
) -> Result<()> {
    let (n, k) = (w.n(), w.k());
    let need = |what, per: usize| {
        m.checked_mul(per).ok_or_else(|| Error::InvalidShape {
            what: format!("{what}: {m} x {per} overflows"),
        })
    };
    lowbit_formats::error::check_len("x", need("x", k)?, x.len())?;
    lowbit_formats::error::check_len("y", need("y", n)?, y.len())?;
    let isa = resolve_isa(opts.isa)?;
    if m == 0 {
        return Ok(());
    }
    if m == 1 || use_a8(&w, isa, opts.precision) {
        for (xi, yi) in x.chunks_exact(k).zip(y.chunks_exact_mut(n)) {
            gemv_with(w, xi, yi, opts)?;
        }
        return Ok(());
    }
    let MatrixRef::Int(wi) = w;
    let run = |rows: Range<usize>, out: &mut [f32], ldy: usize| {
        lowbit_kernels::gemv::int_gemm(isa, &wi, x, m, rows, out, ldy).map(|_| ())
    };
    #[cfg(feature = "rayon")]
    if !opts.single_thread && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let chunk = rows_per_task(n, k).max(16);
        if chunk < n {
            let starts: Vec<usize> = (0..n).step_by(chunk).collect();
            let parts: Vec<Result<Vec<f32>>> = starts
                .par_iter()
                .map(|&r0| {
                    let rows = r0..(r0 + chunk).min(n);
                    let mut tmp = vec![0.0f32; m * rows.len()];
                    let ld = rows.len();
                    run(rows, &mut tmp, ld).map(|_| tmp)
                })
                .collect();
            let mut done = Vec::with_capacity(parts.len());
            for p in parts {
                done.push(p?);
            }
            for (&r0, tmp) in starts.iter().zip(&done) {
                let len = tmp.len() / m;
                for i in 0..m {
                    y[i * n + r0..i * n + r0 + len].copy_from_slice(&tmp[i * len..(i + 1) * len]);
                }
            }
            return Ok(());
        }
    }
    run(0..n, y, n)
}

/// Runs `f(rows, y_rows)` over all rows, split over rayon unless `single_thread`.
fn for_row_tasks(
    n: usize,
    k: usize,
    y: &mut [f32],
    single_thread: bool,
    f: impl Fn(Range<usize>, &mut [f32]) -> Result<()> + Sync,
) -> Result<()> {
    #[cfg(feature = "rayon")]
    if !single_thread && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let chunk = rows_per_task(n, k);
        if chunk < n {
            return y
                .par_chunks_mut(chunk)
                .enumerate()
                .try_for_each(|(i, ys)| f(i * chunk..i * chunk + ys.len(), ys));
        }
    }
    let _ = (k, single_thread);
    f(0..n, y)
}

/// `y = W x` with explicit options (ISA, threads, precision).
pub fn gemv_with(w: MatrixRef<'_>, x: &[f32], y: &mut [f32], opts: &GemvOptions) -> Result<()> {
    let isa = resolve_isa(opts.isa)?;
    let (n, k) = (w.n(), w.k());
    check_gemv_args(n, k, x.len(), &(0..n), y.len())?;
    if use_a8(&w, isa, opts.precision) {
        let xq = quantize_activations(x)?;
        return for_row_tasks(n, k, y, opts.single_thread, |rows, ys| {
            gemv_rows_a8(w, &xq, rows, ys, Some(isa)).map(|_| ())
        });
    }
    for_row_tasks(n, k, y, opts.single_thread, |rows, ys| {
        gemv_rows(w, x, rows, ys, Some(isa)).map(|_| ())
    })
}

/// `y = W x` with f16 activations: widened exactly to f32 (one buffer of K floats is
/// allocated per call), then as [`gemv_with`].
pub fn gemv_f16(w: MatrixRef<'_>, x: &[f16], y: &mut [f32], opts: &GemvOptions) -> Result<()> {
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    gemv_with(w, &xf, y, opts)
}

/// `y = W x` with bf16 activations: widened exactly to f32 (one buffer of K floats is
/// allocated per call), then as [`gemv_with`].
pub fn gemv_bf16(w: MatrixRef<'_>, x: &[bf16], y: &mut [f32], opts: &GemvOptions) -> Result<()> {
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    gemv_with(w, &xf, y, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_roundtrip() {
        for f in Format::catalog() {
            assert_eq!(Format::parse(&f.name()), Ok(f), "{f}");
        }
        assert!(Format::parse("int5_g32").is_err());
        assert!(Format::parse("fp4").is_err());
        assert!(Format::parse("int4_x32").is_err());
    }
}
