//! `lowbit bench`: GEMV timings per shape x format x kernel x threads, with an f32 GEMV
//! baseline measured in the same run (see `lowbit bench --help` for the columns).

use std::hint::black_box;
use std::io::{IsTerminal as _, StdoutLock, Write as _};

use lowbit::{Format, GemvOptions, Isa, MatrixRef, QuantizedMatrix};
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::args::{BenchArgs, Shape};
use crate::json;
use crate::kernels::{check_shape, distinct_gemv_kernels, KernelInfo};
use crate::table::{Align, Table};
use crate::timing::{measure, Budget, Stats};
use crate::CliError;

/// The baseline's labels: a plain Rust loop, vectorized (or not) by rustc.
const F32_FORMAT: &str = "f32";
const F32_ISA: &str = "rustc-auto";
const F32_KERNEL: &str = "gemv_f32_f32_rustc-auto";

/// Fixed seeds: every run measures the same matrices.
const SEED_W: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_X: u64 = 0xD1B5_4A32_D192_ED03;

/// One format and the distinct kernels to run for it (with the ISA to request).
struct FormatPlan {
    format: Format,
    name: String,
    kernels: Vec<(Isa, KernelInfo)>,
}

/// Everything decided before the first measurement.
struct Bench {
    plan: Vec<FormatPlan>,
    /// Thread counts, each with its pool (`None`: one thread, the calling one).
    threads: Vec<(usize, Option<ThreadPool>)>,
    budget: Budget,
}

/// `lowbit bench`.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let bench = Bench::new(args)?;
    let mut report = Report::new(args, &bench.plan)?;
    for &shape in &args.shapes {
        bench.run_shape(shape, &mut report)?;
    }
    report.finish()
}

impl Bench {
    /// Resolves ISAs and kernels, checks every format against every shape and builds
    /// the thread pools, so that bad arguments fail before any work.
    fn new(args: &BenchArgs) -> Result<Bench, CliError> {
        let isas = selected_isas(&args.isas)?;
        let mut plan = Vec::new();
        for &format in &args.formats {
            let kernels = distinct_gemv_kernels(format, &isas);
            if kernels.is_empty() {
                return Err(CliError::Run(format!(
                    "no GEMV kernel for {format} on {}",
                    isa_list(&isas)
                )));
            }
            for &Shape { n, k } in &args.shapes {
                check_shape(format, n, k).map_err(|e| {
                    CliError::Usage(format!(
                        "--format {format} cannot hold --shape {n}x{k}: {e}"
                    ))
                })?;
            }
            plan.push(FormatPlan {
                format,
                name: format.name(),
                kernels,
            });
        }
        let threads = args
            .threads
            .iter()
            .map(|&t| Ok((t, thread_pool(t)?)))
            .collect::<Result<_, CliError>>()?;
        Ok(Bench {
            plan,
            threads,
            budget: Budget::standard(args.reps),
        })
    }

    /// The f32 baseline and every planned run on one shape.
    fn run_shape(&self, shape: Shape, report: &mut Report) -> Result<(), CliError> {
        let Shape { n, k } = shape;
        report.progress(&format!("generating {n}x{k} f32 weights"));
        let w = random_vec(n * k, SEED_W)?;
        let x = random_vec(k, SEED_X)?;

        report.progress(&format!("{F32_FORMAT} {F32_ISA} {n}x{k}"));
        let mut y_f32 = vec![f32::NAN; n];
        let Ok(base) = measure(&self.budget, || {
            gemv_f32(black_box(&w), black_box(&x), black_box(&mut y_f32));
            Ok::<(), std::convert::Infallible>(())
        });
        report.emit(&Row {
            format: F32_FORMAT,
            isa: F32_ISA,
            kernel: F32_KERNEL,
            shape,
            threads: 1,
            stats: base,
            weight_bytes: n * k * size_of::<f32>(),
            max_rel_err: 0.0,
            vs_f32: 1.0,
        })?;

        for p in &self.plan {
            report.progress(&format!("quantizing {n}x{k} to {}", p.name));
            let q = QuantizedMatrix::quantize(&w, n, k, p.format)
                .map_err(|e| CliError::Run(format!("quantizing {n}x{k} to {}: {e}", p.name)))?;
            let view = q.view();
            for &(isa, kernel) in &p.kernels {
                for (threads, pool) in &self.threads {
                    report.progress(&format!(
                        "{} {} {n}x{k} threads={threads}",
                        p.name, kernel.name
                    ));
                    let mut y = vec![f32::NAN; n];
                    let stats =
                        time_gemv(view, &x, &mut y, isa, kernel, pool.as_ref(), &self.budget)?;
                    report.emit(&Row {
                        format: &p.name,
                        isa: kernel.isa.name(),
                        kernel: kernel.name,
                        shape,
                        threads: *threads,
                        stats,
                        weight_bytes: view.weight_bytes(),
                        max_rel_err: max_rel_err(&y, &y_f32),
                        vs_f32: base.median / stats.median,
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// The ISAs to run: the requested ones (each must be available), else all available.
fn selected_isas(requested: &[Isa]) -> Result<Vec<Isa>, CliError> {
    let available = Isa::available();
    if requested.is_empty() {
        return Ok(available);
    }
    match requested.iter().find(|i| !available.contains(i)) {
        Some(i) => Err(CliError::Run(format!(
            "--isa {i}: not available on this CPU (available: {})",
            isa_list(&available)
        ))),
        None => Ok(requested.to_vec()),
    }
}

fn isa_list(isas: &[Isa]) -> String {
    isas.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
}

/// `None` for one thread (the calling thread runs `gemv_rows`), else a pool of `threads`.
fn thread_pool(threads: usize) -> Result<Option<ThreadPool>, CliError> {
    if threads == 1 {
        return Ok(None);
    }
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(Some)
        .map_err(|e| CliError::Run(format!("creating a pool of {threads} threads: {e}")))
}

/// Times `y = W x` on `isa` with f32 activations: on the calling thread without a pool,
/// else split over the pool's threads. A first call on this thread checks that the
/// planned kernel is the one that runs; a threaded run must then reproduce its output
/// bitwise (as `lowbit` guarantees), which shows it ran the same kernel.
fn time_gemv(
    view: MatrixRef<'_>,
    x: &[f32],
    y: &mut [f32],
    isa: Isa,
    kernel: KernelInfo,
    pool: Option<&ThreadPool>,
    budget: &Budget,
) -> Result<Stats, CliError> {
    let n = view.n();
    let ran = lowbit::gemv_rows(view, x, 0..n, y, Some(isa))?;
    if ran != kernel.name {
        return Err(CliError::Run(format!(
            "{} on {isa}: expected kernel {}, but {ran} ran",
            view.format(),
            kernel.name
        )));
    }
    let Some(pool) = pool else {
        return Ok(measure(budget, || {
            lowbit::gemv_rows(view, x, 0..n, y, Some(isa)).map(|_| ())
        })?);
    };
    let one_thread = y.to_vec();
    let opts = GemvOptions {
        isa: Some(isa),
        single_thread: false,
        // Default precision: f32 activations, the kernels the plan names.
        ..GemvOptions::default()
    };
    let stats = pool.install(|| measure(budget, || lowbit::gemv_with(view, x, y, &opts)))?;
    if y.iter()
        .zip(&one_thread)
        .any(|(a, b)| a.to_bits() != b.to_bits())
    {
        return Err(CliError::Run(format!(
            "{} on {isa}: {} threads do not reproduce the one-thread result",
            view.format(),
            pool.current_num_threads()
        )));
    }
    Ok(stats)
}

/// Deterministic values uniform in [-1, 1) (xorshift64*). Fails cleanly, rather than
/// aborting, when the allocation is refused.
fn random_vec(len: usize, seed: u64) -> Result<Vec<f32>, CliError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        CliError::Run(format!(
            "cannot allocate {len} f32 values (shape too large)"
        ))
    })?;
    let mut s = seed;
    v.extend((0..len).map(|_| {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        let bits = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 random bits
        bits as f32 * (1.0 / (1u32 << 23) as f32) - 1.0
    }));
    Ok(v)
}

/// The f32 baseline: row-major `w` with `y.len()` rows of `x.len()`, one thread.
fn gemv_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    for (row, out) in w.chunks_exact(x.len()).zip(y.iter_mut()) {
        *out = dot_f32(row, x);
    }
}

/// A dot product with 16 independent partial sums, which rustc can vectorize.
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(p, q)| p * q)
        .sum();
    let mut acc = [0.0f32; LANES];
    for (ra, rb) in ca.zip(cb) {
        for ((s, p), q) in acc.iter_mut().zip(ra).zip(rb) {
            *s += p * q;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `max_i |y[i] - reference[i]| / max_i |reference[i]|` (NaN if any `y[i]` is NaN).
fn max_rel_err(y: &[f32], reference: &[f32]) -> f64 {
    let mut err = 0.0f64;
    for (&a, &b) in y.iter().zip(reference) {
        let d = (f64::from(a) - f64::from(b)).abs();
        if d.is_nan() || d > err {
            err = d;
        }
    }
    let scale = reference
        .iter()
        .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    err / scale
}

/// One result line.
struct Row<'a> {
    format: &'a str,
    isa: &'a str,
    kernel: &'a str,
    shape: Shape,
    threads: usize,
    stats: Stats,
    weight_bytes: usize,
    max_rel_err: f64,
    vs_f32: f64,
}

impl Row<'_> {
    fn weight_gbps(&self) -> f64 {
        self.weight_bytes as f64 / self.stats.median / 1e9
    }

    fn gflops(&self) -> f64 {
        2.0 * self.shape.n as f64 * self.shape.k as f64 / self.stats.median / 1e9
    }

    fn json(&self) -> String {
        // Six significant digits: far below the run-to-run noise, and short lines.
        let us = |s: f64| json::round_sig(s * 1e6, 6);
        let r = |v: f64| json::round_sig(v, 6);
        json::Object::new()
            .str("format", self.format)
            .str("isa", self.isa)
            .str("kernel", self.kernel)
            .uint("n", self.shape.n)
            .uint("k", self.shape.k)
            .uint("m", 1)
            .uint("threads", self.threads)
            .str("cache", "hot")
            .uint("reps", self.stats.reps)
            .num("median_us", us(self.stats.median))
            .num("p10_us", us(self.stats.p10))
            .num("p90_us", us(self.stats.p90))
            .num("weight_gbps", r(self.weight_gbps()))
            .num("gflops", r(self.gflops()))
            .num("max_rel_err", r(self.max_rel_err))
            .num("vs_f32", r(self.vs_f32))
            .finish()
    }

    fn cells(&self) -> [String; 12] {
        let err = if self.max_rel_err == 0.0 {
            "0".to_string()
        } else {
            format!("{:.2e}", self.max_rel_err)
        };
        [
            self.format.to_string(),
            self.isa.to_string(),
            self.kernel.to_string(),
            shape_text(self.shape),
            self.threads.to_string(),
            sig3(self.stats.median * 1e6),
            sig3(self.stats.p10 * 1e6),
            sig3(self.stats.p90 * 1e6),
            sig3(self.weight_gbps()),
            sig3(self.gflops()),
            err,
            sig3(self.vs_f32),
        ]
    }
}

/// Headers, alignment and minimum widths. Rows are printed one at a time, so number
/// columns get room for their largest expected value up front ([`sig3`] prints values
/// below 10^w in w characters, and below 1 in 5); text columns are fitted from the plan.
const COLUMNS: [(&str, Align, usize); 12] = [
    ("format", Align::Left, 0),
    ("isa", Align::Left, 0),
    ("kernel", Align::Left, 0),
    ("shape", Align::Right, 0),
    ("threads", Align::Right, 0),
    ("median_us", Align::Right, 8),
    ("p10_us", Align::Right, 8),
    ("p90_us", Align::Right, 8),
    ("GB/s", Align::Right, 6),
    ("GFLOP/s", Align::Right, 6),
    ("max_rel_err", Align::Right, 8),
    ("vs_f32", Align::Right, 6),
];

fn shape_text(s: Shape) -> String {
    format!("{}x{}", s.n, s.k)
}

/// At least three significant digits, at most three decimals.
fn sig3(v: f64) -> String {
    let decimals = if v.is_finite() && v != 0.0 {
        (2 - v.abs().log10().floor() as i32).clamp(0, 3) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

/// The table with every column fitted to the rows the plan will print.
fn plan_table(args: &BenchArgs, plan: &[FormatPlan]) -> Table {
    let mut t = Table::new(&COLUMNS.map(|(h, a, _)| (h, a)));
    for (col, &(_, _, width)) in COLUMNS.iter().enumerate() {
        t.widen(col, width);
    }
    for &shape in &args.shapes {
        let shape = shape_text(shape);
        t.fit(&[F32_FORMAT, F32_ISA, F32_KERNEL, &shape, "1"]);
        for threads in &args.threads {
            let threads = threads.to_string();
            for p in plan {
                for (_, k) in &p.kernels {
                    t.fit(&[&p.name, k.isa.name(), k.name, &shape, &threads]);
                }
            }
        }
    }
    t
}

/// Where results go: a table streamed row by row (columns fitted from the plan up
/// front) or JSON lines; plus a progress line on stderr when it is a terminal.
struct Report {
    out: StdoutLock<'static>,
    table: Option<Table>,
    progress: bool,
    done: usize,
    total: usize,
    last_shape: Option<Shape>,
}

impl Report {
    fn new(args: &BenchArgs, plan: &[FormatPlan]) -> Result<Report, CliError> {
        let runs: usize = plan.iter().map(|p| p.kernels.len()).sum();
        let mut report = Report {
            out: std::io::stdout().lock(),
            table: None,
            progress: std::io::stderr().is_terminal(),
            done: 0,
            total: args.shapes.len() * (1 + runs * args.threads.len()),
            last_shape: None,
        };
        if !args.json {
            writeln!(
                report.out,
                "lowbit {} bench: {}, {} hardware threads, cpu features: {}",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH,
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                lowbit::cpu_features().names().join(" "),
            )?;
            writeln!(
                report.out,
                "y = W x (m = 1), W random U(-1,1) (fixed seed), cache hot (same W every rep); \
                 vs_f32 = f32 baseline median / median"
            )?;
            report.table = Some(plan_table(args, plan));
        }
        Ok(report)
    }

    fn progress(&self, what: &str) {
        if self.progress {
            eprint!("\r\x1b[K[{}/{}] {what}", self.done + 1, self.total);
        }
    }

    fn clear_progress(&self) {
        if self.progress {
            eprint!("\r\x1b[K");
        }
    }

    fn emit(&mut self, row: &Row<'_>) -> Result<(), CliError> {
        self.clear_progress();
        match &self.table {
            Some(t) => {
                if self.last_shape != Some(row.shape) {
                    writeln!(self.out)?;
                    writeln!(self.out, "{}", t.header())?;
                }
                writeln!(self.out, "{}", t.row(&row.cells()))?;
            }
            None => writeln!(self.out, "{}", row.json())?,
        }
        self.out.flush()?;
        self.last_shape = Some(row.shape);
        self.done += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(), CliError> {
        self.clear_progress();
        Ok(self.out.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_matches_a_naive_dot_product() {
        let (n, k) = (3, 37);
        let w = random_vec(n * k, 1).unwrap();
        let x = random_vec(k, 2).unwrap();
        assert!(w.iter().all(|v| (-1.0..1.0).contains(v)));
        let mut y = vec![0.0; n];
        gemv_f32(&w, &x, &mut y);
        for (i, &yi) in y.iter().enumerate() {
            let want: f64 = (0..k)
                .map(|j| f64::from(w[i * k + j]) * f64::from(x[j]))
                .sum();
            assert!((f64::from(yi) - want).abs() < 1e-5, "{yi} vs {want}");
        }
    }

    #[test]
    fn relative_error_is_scaled_by_the_largest_reference() {
        assert_eq!(max_rel_err(&[1.0, -1.5], &[1.0, -2.0]), 0.25);
        assert!(max_rel_err(&[f32::NAN, 1.0], &[1.0, 1.0]).is_nan());
    }

    #[test]
    fn sig3_keeps_three_digits() {
        assert_eq!(sig3(1234.56), "1235");
        assert_eq!(sig3(45.31), "45.3");
        assert_eq!(sig3(3.4219), "3.42");
        assert_eq!(sig3(0.01234), "0.012");
    }
}
