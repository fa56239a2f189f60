//! `lowbit bench`: the machine's read bandwidth, then GEMV/GEMM timings per shape x
//! format x kernel (ISA, activations) x batch x threads x cache, each against the
//! ceiling for where its weights live and an f32 baseline measured in the same run
//! (see `lowbit bench --help` for the method and the columns).

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{IsTerminal as _, StdoutLock, Write as _};
use std::time::Instant;

use lowbit::{Format, GemvOptions, Isa, KernelInfo, MatrixRef, QuantizedMatrix};
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::args::{Act, BenchArgs, Cache, Output, Shape, DEFAULT_FORMATS, DEFAULT_SHAPES};
use crate::bandwidth::{self, approx_size, bytes_text, Caches, Ceilings, Level};
use crate::kernels::{check_shape, distinct_kernels, gemv_kernel};
use crate::table::{Align, Table};
use crate::timing::{measure, Budget, Stats};
use crate::{json, roofline, CliError};

/// The baseline's labels: a plain Rust loop, vectorized (or not) by rustc.
const F32_FORMAT: &str = "f32";
const F32_ISA: &str = "rustc-auto";
const F32_KERNEL: &str = "gemv_f32_f32_rustc-auto";

/// Fixed seeds: every run measures the same matrices.
const SEED_W: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_X: u64 = 0xD1B5_4A32_D192_ED03;

/// What one result times.
#[derive(Debug, Clone, Copy)]
enum Subject {
    /// The f32 baseline (one thread).
    Baseline,
    /// A lowbit kernel: `formats[format]` on `isa` (requested) with `act`.
    Kernel {
        format: usize,
        isa: Isa,
        act: Act,
        kernel: KernelInfo,
    },
}

/// One result to measure.
#[derive(Debug, Clone, Copy)]
struct Case {
    shape: Shape,
    subject: Subject,
    m: usize,
    threads: usize,
    cache: Cache,
}

/// Everything decided before the first measurement.
struct Plan {
    formats: Vec<Format>,
    isas: Vec<Isa>,
    /// Every thread count a result uses (the probe also measures 1, for the baseline).
    threads: Vec<usize>,
    cases: Vec<Case>,
    /// One-line description of the plan.
    summary: String,
    budget: Budget,
    dram_bytes: usize,
}

impl Plan {
    /// Resolves defaults (or `--full`), ISAs and kernels, checks every format against
    /// every shape, so that bad arguments fail before any work.
    fn new(args: &BenchArgs, caches: &Caches) -> Result<Plan, CliError> {
        let full = args.full;
        let shapes = args.shapes.clone().unwrap_or(DEFAULT_SHAPES.to_vec());
        let formats = match &args.formats {
            Some(f) => f.clone(),
            None if full => Format::catalog(),
            None => DEFAULT_FORMATS
                .iter()
                .map(|f| Format::parse(f))
                .collect::<Result<_, _>>()?,
        };
        let isas = selected_isas(&args.isas)?;
        let best = *isas.last().expect("at least one ISA");
        let acts = args.acts.clone().unwrap_or(vec![Act::F32, Act::A8]);
        let hw = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = args
            .threads
            .clone()
            .unwrap_or(if hw > 1 { vec![1, hw] } else { vec![1] });
        // Without --threads or --full, T > 1 runs only the best ISA's kernels.
        let all_kernels_threaded = full || args.threads.is_some();
        let caches_for = |shape_index: usize| match &args.caches {
            Some(c) => c.clone(),
            None if full || shape_index == 0 => vec![Cache::Hot, Cache::Cold],
            None => vec![Cache::Hot],
        };

        // The kernels of each format per shape (selection can depend on K: per-row groups).
        let mut per_format = Vec::new();
        for &format in &formats {
            let mut per_shape = Vec::new();
            for &Shape { n, k } in &shapes {
                check_shape(format, n, k).map_err(|e| {
                    CliError::Usage(format!(
                        "--format {format} cannot hold --shape {n}x{k}: {e}"
                    ))
                })?;
                let kernels = distinct_kernels(format, k, &isas, &acts);
                if kernels.is_empty() {
                    return Err(CliError::Run(format!(
                        "no GEMV kernel for {format} on {} with activations {}",
                        isa_list(&isas),
                        acts.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
                    )));
                }
                per_shape.push(kernels);
            }
            per_format.push(per_shape);
        }

        let mut cases = Vec::new();
        for (si, &shape) in shapes.iter().enumerate() {
            let shape_caches = caches_for(si);
            for &m in &args.batches {
                for &cache in &shape_caches {
                    cases.push(Case {
                        shape,
                        subject: Subject::Baseline,
                        m,
                        threads: 1,
                        cache,
                    });
                }
            }
            for (fi, per_shape) in per_format.iter().enumerate() {
                for &(isa, act, kernel) in &per_shape[si] {
                    let on_best = gemv_kernel(formats[fi], shape.k, best, act)
                        .is_some_and(|b| b.name == kernel.name);
                    for &m in &args.batches {
                        for &t in &threads {
                            if t > 1 && !all_kernels_threaded && !on_best {
                                continue;
                            }
                            for &cache in &shape_caches {
                                cases.push(Case {
                                    shape,
                                    subject: Subject::Kernel {
                                        format: fi,
                                        isa,
                                        act,
                                        kernel,
                                    },
                                    m,
                                    threads: t,
                                    cache,
                                });
                            }
                        }
                    }
                }
            }
        }

        let mut probe_threads = threads.clone();
        if !probe_threads.contains(&1) {
            probe_threads.insert(0, 1);
        }
        let dram_bytes = match args.dram_mib {
            Some(mib) => mib << 20,
            None => bandwidth::default_dram_bytes(caches),
        };
        let list = |v: Vec<String>| v.join(",");
        let summary = format!(
            "{} shape(s) x {} format(s) x ISAs {} x act {} x m {} x threads {}{} x cache {}: {} results",
            shapes.len(),
            formats.len(),
            isa_list(&isas),
            list(acts.iter().map(|a| a.name().to_string()).collect()),
            list(args.batches.iter().map(|m| m.to_string()).collect()),
            list(threads.iter().map(|t| t.to_string()).collect()),
            if all_kernels_threaded || threads.len() < 2 {
                ""
            } else {
                " (T > 1: best ISA's kernels only)"
            },
            match &args.caches {
                Some(c) => list(c.iter().map(|c| c.name().to_string()).collect()),
                None if full => "hot,cold".to_string(),
                None => format!("hot (+cold on {})", shape_text(shapes[0])),
            },
            cases.len(),
        );
        Ok(Plan {
            formats,
            isas,
            threads: probe_threads,
            cases,
            summary,
            budget: Budget::standard(args.reps),
            dram_bytes,
        })
    }
}

/// `lowbit bench`.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let caches = Caches::detect();
    let plan = Plan::new(args, &caches)?;
    let pools: Vec<(usize, Option<ThreadPool>)> = plan
        .threads
        .iter()
        .map(|&t| Ok((t, thread_pool(t)?)))
        .collect::<Result<_, CliError>>()?;
    let mut report = Report::new(args.output, plan.cases.len(), started);
    report.header(&plan, &caches)?;
    let pool_refs: Vec<(usize, Option<&ThreadPool>)> =
        pools.iter().map(|(t, p)| (*t, p.as_ref())).collect();
    let ceilings = bandwidth::measure(caches, &pool_refs, plan.dram_bytes, |what| {
        report.progress(what)
    })?;
    report.ceilings(&ceilings)?;

    let mut runner = Runner {
        plan: &plan,
        pools: &pools,
        ceilings: &ceilings,
        shape: None,
        format: None,
    };
    for case in &plan.cases {
        runner.run(case, &mut report)?;
    }
    drop(runner);
    let seconds = started.elapsed().as_secs_f64();
    report.finish(seconds)?;
    if let Some(path) = &args.svg {
        let chart = roofline::from_jsonl(&report.json_lines.join("\n"))
            .map_err(|e| CliError::Run(format!("building the chart: {e}")))?;
        roofline::write(path, &chart)?;
        if args.output != Output::Json {
            writeln!(report.out, "roofline chart: {}", path.display())?;
        }
    }
    Ok(())
}

/// The inputs of the current shape.
struct ShapeData {
    shape: Shape,
    /// Row-major `n x k` f32 weights (the quantizers' input and the baseline's matrix).
    w: Vec<f32>,
    /// Row-major `[max m][k]` activations; a call with `m` rows uses the first `m`.
    x: Vec<f32>,
    /// Copies of `w` for the cold baseline (made on first use, dropped after).
    w_cold: Vec<Vec<f32>>,
    /// The baseline's output per `m`: the reference of `max_rel_err`.
    reference: HashMap<usize, Vec<f32>>,
    /// The baseline's median per `(m, cache)`.
    base_median: HashMap<(usize, Cache), f64>,
}

/// The current format's matrices on the current shape.
struct FormatData {
    index: usize,
    /// `[0]` is the matrix hot results use; all of them rotate for cold results.
    copies: Vec<QuantizedMatrix>,
}

/// Walks the plan, keeping the current shape's inputs and format's matrices.
struct Runner<'a> {
    plan: &'a Plan,
    pools: &'a [(usize, Option<ThreadPool>)],
    ceilings: &'a Ceilings,
    shape: Option<ShapeData>,
    format: Option<FormatData>,
}

impl Runner<'_> {
    fn run(&mut self, case: &Case, report: &mut Report) -> Result<(), CliError> {
        let Shape { n, k } = case.shape;
        if self.shape.as_ref().map(|s| s.shape) != Some(case.shape) {
            self.shape = None;
            self.format = None;
            report.progress(&format!("generating {n}x{k} f32 weights"));
            let max_m = self.plan.cases.iter().map(|c| c.m).max().unwrap_or(1);
            self.shape = Some(ShapeData {
                shape: case.shape,
                w: random_vec(n * k, SEED_W)?,
                x: random_vec(max_m * k, SEED_X)?,
                w_cold: Vec::new(),
                reference: HashMap::new(),
                base_median: HashMap::new(),
            });
        }
        match case.subject {
            Subject::Baseline => self.run_baseline(case, report),
            Subject::Kernel {
                format,
                isa,
                act,
                kernel,
            } => self.run_kernel(case, format, isa, act, kernel, report),
        }
    }

    fn run_baseline(&mut self, case: &Case, report: &mut Report) -> Result<(), CliError> {
        let sd = self.shape.as_mut().expect("shape data");
        let Shape { n, k } = case.shape;
        let m = case.m;
        let bytes = n * k * size_of::<f32>();
        if case.cache == Cache::Cold && sd.w_cold.is_empty() {
            report.progress(&format!(
                "copying {n}x{k} f32 weights for cold runs ({})",
                bytes_text(self.plan.dram_bytes)
            ));
            sd.w_cold = (1..cold_copies(bytes, self.plan.dram_bytes))
                .map(|_| sd.w.clone())
                .collect();
        }
        report.progress(&case_text(case, F32_FORMAT, Act::F32, F32_ISA));
        let x = &sd.x[..m * k];
        let mut y = vec![f32::NAN; m * n];
        let mats: Vec<&[f32]> = match case.cache {
            Cache::Hot => vec![&sd.w],
            Cache::Cold => std::iter::once(&sd.w)
                .chain(&sd.w_cold)
                .map(|v| v.as_slice())
                .collect(),
        };
        let mut i = 0;
        let Ok(stats) = measure(&self.plan.budget, || {
            gemm_f32(
                black_box(mats[i % mats.len()]),
                black_box(x),
                m,
                black_box(&mut y),
            );
            i += 1;
            Ok::<(), std::convert::Infallible>(())
        });
        sd.reference.entry(m).or_insert(y);
        sd.base_median.insert((m, case.cache), stats.median);
        let row = self.row(
            case,
            F32_FORMAT.into(),
            Act::F32,
            F32_ISA,
            F32_KERNEL,
            bytes,
            stats,
            0.0,
            1.0,
        );
        report.emit(&row)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_kernel(
        &mut self,
        case: &Case,
        fi: usize,
        isa: Isa,
        act: Act,
        kernel: KernelInfo,
        report: &mut Report,
    ) -> Result<(), CliError> {
        let Shape { n, k } = case.shape;
        let format = self.plan.formats[fi];
        let name = format.name();
        let sd = self.shape.as_mut().expect("shape data");
        sd.w_cold = Vec::new(); // the cold baseline is done: free its copies
        if self.format.as_ref().map(|f| f.index) != Some(fi) {
            self.format = None;
            report.progress(&format!("quantizing {n}x{k} to {name}"));
            let q = QuantizedMatrix::quantize(&sd.w, n, k, format)
                .map_err(|e| CliError::Run(format!("quantizing {n}x{k} to {name}: {e}")))?;
            self.format = Some(FormatData {
                index: fi,
                copies: vec![q],
            });
        }
        let fd = self.format.as_mut().expect("format data");
        let bytes = fd.copies[0].view().weight_bytes();
        if case.cache == Cache::Cold && fd.copies.len() == 1 {
            report.progress(&format!(
                "copying {name} {n}x{k} for cold runs ({})",
                bytes_text(self.plan.dram_bytes)
            ));
            let copies = cold_copies(bytes, self.plan.dram_bytes);
            let q = fd.copies[0].clone();
            fd.copies.extend((1..copies).map(|_| q.clone()));
        }
        report.progress(&case_text(case, &name, act, kernel.isa.name()));
        let views: Vec<MatrixRef<'_>> = match case.cache {
            Cache::Hot => vec![fd.copies[0].view()],
            Cache::Cold => fd.copies.iter().map(|q| q.view()).collect(),
        };
        let pool = self
            .pools
            .iter()
            .find(|p| p.0 == case.threads)
            .and_then(|p| p.1.as_ref());
        let m = case.m;
        let x = &sd.x[..m * k];
        let mut y = vec![f32::NAN; m * n];
        let stats = time_kernel(
            &views,
            x,
            m,
            &mut y,
            isa,
            act,
            kernel,
            pool,
            &self.plan.budget,
        )?;
        let err = max_rel_err(&y, &sd.reference[&m]);
        let vs_f32 = sd.base_median[&(m, case.cache)] / stats.median;
        let row = self.row(
            case,
            name,
            act,
            kernel.isa.name(),
            kernel.name,
            bytes,
            stats,
            err,
            vs_f32,
        );
        report.emit(&row)
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        case: &Case,
        format: String,
        act: Act,
        isa: &'static str,
        kernel: &'static str,
        weight_bytes: usize,
        stats: Stats,
        max_rel_err: f64,
        vs_f32: f64,
    ) -> Row {
        let gbps = weight_bytes as f64 / stats.median / 1e9;
        let filing =
            self.ceilings
                .file(weight_bytes, case.threads, case.cache == Cache::Cold, gbps);
        Row {
            format,
            act,
            isa,
            kernel,
            shape: case.shape,
            m: case.m,
            threads: case.threads,
            cache: case.cache,
            stats,
            weight_bytes,
            level: filing.level,
            ceiling_gbps: filing.ceiling.map_or(f64::NAN, |c| c.gbps),
            note: filing.note,
            max_rel_err,
            vs_f32,
        }
    }
}

/// How many copies cold results rotate through: enough to total `dram_bytes`, at
/// least two (so no call finds its weights where the previous call left them).
fn cold_copies(bytes: usize, dram_bytes: usize) -> usize {
    dram_bytes.div_ceil(bytes.max(1)).max(2)
}

fn case_text(case: &Case, format: &str, act: Act, isa: &str) -> String {
    format!(
        "{format} {} {isa} {} m={} threads={} {}",
        act.name(),
        shape_text(case.shape),
        case.m,
        case.threads,
        case.cache.name()
    )
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
    isas.iter().map(|i| i.name()).collect::<Vec<_>>().join(",")
}

/// `None` for one thread (the calling thread runs the call), else a pool of `threads`.
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

/// Times `Y = X W^T` (`gemv_with` for m = 1, else `gemm_with`) on `isa` with `act`,
/// rotating through `views` (one for hot). On the calling thread without a pool, else
/// inside the pool. First, one GEMV through the row-range API (which returns the name
/// of the kernel that ran) checks that the planned kernel is the one that runs; for
/// m = 1 the timed calls must then reproduce its output bitwise (as `lowbit`
/// guarantees for any thread count), which shows they ran the same kernel.
#[allow(clippy::too_many_arguments)]
fn time_kernel(
    views: &[MatrixRef<'_>],
    x: &[f32],
    m: usize,
    y: &mut [f32],
    isa: Isa,
    act: Act,
    kernel: KernelInfo,
    pool: Option<&ThreadPool>,
    budget: &Budget,
) -> Result<Stats, CliError> {
    let v0 = views[0];
    let (n, k) = (v0.n(), v0.k());
    let mut expect = vec![f32::NAN; n];
    let ran = match act {
        Act::F32 => lowbit::gemv_rows(v0, &x[..k], 0..n, &mut expect, Some(isa))?,
        Act::A8 | Act::A4Ovp => {
            let xq = if act == Act::A8 {
                lowbit::quantize_activations(&x[..k])?
            } else {
                lowbit::A8Activations::new_ovp4(&x[..k])?
            };
            lowbit::gemv_rows_a8(v0, &xq, 0..n, &mut expect, Some(isa))?
        }
    };
    if ran != kernel.name {
        return Err(CliError::Run(format!(
            "{} on {isa} ({}): expected kernel {}, but {ran} ran",
            v0.format(),
            act.name(),
            kernel.name
        )));
    }
    let opts = GemvOptions {
        isa: Some(isa),
        precision: act.precision(),
        single_thread: pool.is_none(),
        ..Default::default()
    };
    let mut i = 0;
    let mut call = || {
        let v = views[i % views.len()];
        i += 1;
        if m == 1 {
            lowbit::gemv_with(v, black_box(x), y, &opts)
        } else {
            lowbit::gemm_with(v, black_box(x), m, y, &opts)
        }
    };
    let stats = match pool {
        None => measure(budget, call)?,
        Some(p) => p.install(|| measure(budget, &mut call))?,
    };
    if m == 1
        && y.iter()
            .zip(&expect)
            .any(|(a, b)| a.to_bits() != b.to_bits())
    {
        return Err(CliError::Run(format!(
            "{} on {isa} ({}): the timed calls do not reproduce {}'s output",
            v0.format(),
            act.name(),
            kernel.name
        )));
    }
    Ok(stats)
}

/// Deterministic values uniform in [-1, 1) (xorshift64*). Fails cleanly, rather than
/// aborting, when the allocation is refused.
pub fn random_vec(len: usize, seed: u64) -> Result<Vec<f32>, CliError> {
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

/// The f32 baseline: `y[i*N + r] = dot(w row r, x row i)` for row-major `w` (N rows of
/// K = `x.len() / m`), one thread; each weight row is read once for all `m` rows.
fn gemm_f32(w: &[f32], x: &[f32], m: usize, y: &mut [f32]) {
    let k = x.len() / m;
    let n = y.len() / m;
    for (r, row) in w.chunks_exact(k).enumerate() {
        for (i, xi) in x.chunks_exact(k).enumerate() {
            y[i * n + r] = dot_f32(row, xi);
        }
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
struct Row {
    format: String,
    act: Act,
    isa: &'static str,
    kernel: &'static str,
    shape: Shape,
    m: usize,
    threads: usize,
    cache: Cache,
    stats: Stats,
    weight_bytes: usize,
    level: Level,
    ceiling_gbps: f64,
    /// Why the result is above the ceiling of the level its size names, if it is.
    note: Option<String>,
    max_rel_err: f64,
    vs_f32: f64,
}

impl Row {
    fn weight_gbps(&self) -> f64 {
        self.weight_bytes as f64 / self.stats.median / 1e9
    }

    fn gflops(&self) -> f64 {
        2.0 * (self.m * self.shape.n) as f64 * self.shape.k as f64 / self.stats.median / 1e9
    }

    fn roofline_pct(&self) -> f64 {
        self.weight_gbps() / self.ceiling_gbps * 100.0
    }

    fn spread(&self) -> f64 {
        (self.stats.p90 - self.stats.p10) / self.stats.median
    }

    fn json(&self) -> String {
        // Six significant digits: far below the run-to-run noise, and short lines.
        let us = |s: f64| json::round_sig(s * 1e6, 6);
        let r = |v: f64| json::round_sig(v, 6);
        json::Object::new()
            .str("kind", "result")
            .str("format", &self.format)
            .str("act", self.act.name())
            .str("isa", self.isa)
            .str("kernel", self.kernel)
            .uint("n", self.shape.n)
            .uint("k", self.shape.k)
            .uint("m", self.m)
            .uint("threads", self.threads)
            .str("cache", self.cache.name())
            .uint("reps", self.stats.reps)
            .num("median_us", us(self.stats.median))
            .num("p10_us", us(self.stats.p10))
            .num("p90_us", us(self.stats.p90))
            .uint("weight_bytes", self.weight_bytes)
            .num("weight_gbps", r(self.weight_gbps()))
            .num("gflops", r(self.gflops()))
            .str("ceiling", self.level.key())
            .num("ceiling_gbps", r(self.ceiling_gbps))
            .num("roofline_pct", r(self.roofline_pct()))
            .num("max_rel_err", r(self.max_rel_err))
            .num("vs_f32", r(self.vs_f32))
            .opt_str("note", self.note.as_deref())
            .finish()
    }

    fn cells(&self) -> [String; 17] {
        let err = if self.max_rel_err == 0.0 {
            "0".to_string()
        } else {
            format!("{:.2e}", self.max_rel_err)
        };
        [
            self.format.clone(),
            self.act.name().to_string(),
            self.isa.to_string(),
            self.kernel.to_string(),
            shape_text(self.shape),
            self.m.to_string(),
            self.threads.to_string(),
            self.cache.name().to_string(),
            sig3(self.stats.median * 1e6),
            format!("{:.0}%", self.spread() * 100.0),
            sig3(self.weight_gbps()),
            sig3(self.gflops()),
            format!("{} {}", self.level.label(), sig3(self.ceiling_gbps)),
            format!("{:.1}", self.roofline_pct()),
            err,
            sig3(self.vs_f32),
            self.note.clone().unwrap_or_default(),
        ]
    }
}

/// Headers, alignment and minimum widths. Rows are printed one at a time, so number
/// columns get room for their largest expected value up front ([`sig3`] prints values
/// below 10^w in w characters, and below 1 in 5); text columns are fitted from the plan.
const COLUMNS: [(&str, Align, usize); 17] = [
    ("format", Align::Left, 0),
    ("act", Align::Left, 0),
    ("isa", Align::Left, 0),
    ("kernel", Align::Left, 0),
    ("shape", Align::Right, 0),
    ("m", Align::Right, 0),
    ("threads", Align::Right, 0),
    ("cache", Align::Left, 0),
    ("median_us", Align::Right, 8),
    ("spread", Align::Right, 4),
    ("GB/s", Align::Right, 5),
    ("GFLOP/s", Align::Right, 6),
    ("roof GB/s", Align::Left, 9),
    ("%roof", Align::Right, 5),
    ("max_rel_err", Align::Right, 8),
    ("vs_f32", Align::Right, 6),
    ("note", Align::Left, 0),
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
fn plan_table(plan: &Plan) -> Table {
    let mut t = Table::new(&COLUMNS.map(|(h, a, _)| (h, a)));
    for (col, &(_, _, width)) in COLUMNS.iter().enumerate() {
        t.widen(col, width);
    }
    for c in &plan.cases {
        let (format, act, isa, kernel) = match c.subject {
            Subject::Baseline => (F32_FORMAT.to_string(), Act::F32, F32_ISA, F32_KERNEL),
            Subject::Kernel {
                format,
                act,
                kernel,
                ..
            } => (
                plan.formats[format].name(),
                act,
                kernel.isa.name(),
                kernel.name,
            ),
        };
        t.fit(&[
            format,
            act.name().to_string(),
            isa.to_string(),
            kernel.to_string(),
            shape_text(c.shape),
            c.m.to_string(),
            c.threads.to_string(),
        ]);
    }
    t
}

/// Where results go: a table streamed row by row (columns fitted from the plan up
/// front), Markdown or JSON lines; plus a progress line on stderr when it is a
/// terminal. Every line's JSON is kept for the chart.
struct Report {
    out: StdoutLock<'static>,
    output: Output,
    table: Option<Table>,
    progress: bool,
    done: usize,
    total: usize,
    started: Instant,
    last_shape: Option<Shape>,
    json_lines: Vec<String>,
}

impl Report {
    fn new(output: Output, total: usize, started: Instant) -> Report {
        Report {
            out: std::io::stdout().lock(),
            output,
            table: None,
            progress: std::io::stderr().is_terminal(),
            done: 0,
            total,
            started,
            last_shape: None,
            json_lines: Vec::new(),
        }
    }

    fn header(&mut self, plan: &Plan, caches: &Caches) -> Result<(), CliError> {
        let hw = std::thread::available_parallelism().map_or(1, |n| n.get());
        let features = lowbit::cpu_features().names().join(" ");
        let machine = json::Object::new()
            .str("kind", "machine")
            .str("lowbit", env!("CARGO_PKG_VERSION"))
            .str("arch", std::env::consts::ARCH)
            .uint("hw_threads", hw)
            .str("cpu_features", &features)
            .str("isas", &isa_list(&plan.isas))
            .uint("l2_bytes", caches.l2)
            .uint("l3_bytes", caches.l3.unwrap_or(0))
            .str(
                "caches_from",
                if caches.detected { "sysfs" } else { "assumed" },
            )
            .str("levels_from", "ladder")
            .uint("dram_bytes", plan.dram_bytes)
            .finish();
        self.json_lines.push(machine.clone());
        match self.output {
            Output::Json => writeln!(self.out, "{machine}")?,
            Output::Table | Output::Markdown => {
                writeln!(
                    self.out,
                    "lowbit {} bench: {}, {hw} hardware threads, cpu features: {features}",
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::ARCH,
                )?;
                writeln!(self.out, "caches: {}", caches.describe())?;
                writeln!(self.out, "plan: {}", plan.summary)?;
                writeln!(
                    self.out,
                    "Y = X W^T (m rows of X; m = 1: GEMV), W random U(-1,1) (fixed seed); \
                     hot: same W every call; cold: rotating copies totalling {}",
                    bytes_text(plan.dram_bytes)
                )?;
                self.table = Some(plan_table(plan));
            }
        }
        self.out.flush()?;
        Ok(())
    }

    fn ceilings(&mut self, c: &Ceilings) -> Result<(), CliError> {
        self.clear_progress();
        let r = |v: f64| json::round_sig(v, 6);
        // JSON: every ladder size, then every level, then the remarks.
        let mut lines = Vec::new();
        for l in &c.ladders {
            for p in &l.points {
                lines.push(
                    json::Object::new()
                        .str("kind", "ladder")
                        .uint("threads", l.threads)
                        .uint("bytes", p.bytes)
                        .num("gbps", r(p.gbps))
                        .num("p10_gbps", r(p.p10()))
                        .num("p90_gbps", r(p.p90()))
                        .uint("samples", p.samples.len())
                        .opt_str("level", p.level.map(Level::key))
                        .finish(),
                );
            }
        }
        for ceil in c.all() {
            lines.push(
                json::Object::new()
                    .str("kind", "bandwidth")
                    .uint("threads", ceil.threads)
                    .str("level", ceil.level.key())
                    .num("gbps", r(ceil.gbps))
                    .num("p10_gbps", r(ceil.p10_gbps))
                    .num("p90_gbps", r(ceil.p90_gbps))
                    .uint("samples", ceil.samples)
                    .uint("points", ceil.points)
                    .uint("min_bytes", ceil.min_bytes)
                    .uint("max_bytes", ceil.max_bytes)
                    .num(
                        "limit_bytes",
                        ceil.limit_bytes.map_or(f64::NAN, |b| b as f64),
                    )
                    .str("found", &ceil.found)
                    .finish(),
            );
        }
        for l in &c.ladders {
            for remark in &l.remarks {
                lines.push(
                    json::Object::new()
                        .str("kind", "remark")
                        .uint("threads", l.threads)
                        .str("text", remark)
                        .finish(),
                );
            }
        }
        if self.output == Output::Json {
            for line in &lines {
                writeln!(self.out, "{line}")?;
            }
        }
        self.json_lines.extend(lines);
        if self.output == Output::Json {
            self.out.flush()?;
            return Ok(());
        }

        // The ladder: one row per size, a GB/s and a level column per thread count.
        let mut cols = vec![("buffer".to_string(), Align::Right)];
        for l in &c.ladders {
            cols.push((format!("{}T GB/s", l.threads), Align::Right));
            cols.push(("level".to_string(), Align::Left));
        }
        let mut ladder = Table::new(&cols);
        let mut sizes: Vec<usize> = c
            .ladders
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.bytes))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        let ladder_rows: Vec<Vec<String>> = sizes
            .iter()
            .map(|&b| {
                let mut row = vec![approx_size(b)];
                for l in &c.ladders {
                    match l.points.iter().find(|p| p.bytes == b) {
                        Some(p) => {
                            row.push(sig3(p.gbps));
                            row.push(p.level.map_or("-", Level::label).to_string());
                        }
                        None => row.extend(["".to_string(), "".to_string()]),
                    }
                }
                row
            })
            .collect();
        for row in &ladder_rows {
            ladder.fit(row);
        }
        // The levels found.
        let mut levels = Table::new(&[
            ("threads", Align::Right),
            ("level", Align::Left),
            ("sizes", Align::Left),
            ("GB/s", Align::Right),
            ("p10", Align::Right),
            ("p90", Align::Right),
            ("holds up to", Align::Right),
            ("found", Align::Left),
        ]);
        let level_rows: Vec<[String; 8]> = c
            .all()
            .map(|ceil| {
                [
                    ceil.threads.to_string(),
                    ceil.level.label().to_string(),
                    if ceil.points == 1 {
                        approx_size(ceil.min_bytes)
                    } else {
                        format!(
                            "{} - {}",
                            approx_size(ceil.min_bytes),
                            approx_size(ceil.max_bytes)
                        )
                    },
                    sig3(ceil.gbps),
                    sig3(ceil.p10_gbps),
                    sig3(ceil.p90_gbps),
                    ceil.limit_bytes
                        .map_or("-".to_string(), |b| format!("~{}", approx_size(b))),
                    ceil.found.clone(),
                ]
            })
            .collect();
        for row in &level_rows {
            levels.fit(row);
        }
        let remarks: Vec<String> = c
            .ladders
            .iter()
            .flat_map(|l| l.remarks.iter().map(|r| format!("{}T: {r}", l.threads)))
            .collect();
        writeln!(self.out)?;
        match self.output {
            Output::Table => {
                writeln!(
                    self.out,
                    "read bandwidth ladder (safe-Rust u64 sum; median GB/s per buffer size, \
                     and the level each size was found to belong to):"
                )?;
                writeln!(self.out, "  {}", ladder.header())?;
                for row in &ladder_rows {
                    writeln!(self.out, "  {}", ladder.row(row))?;
                }
                writeln!(self.out)?;
                writeln!(
                    self.out,
                    "levels (plateaus of the ladder; ceiling = median of its sizes; hot \
                     weights up to `holds up to` are filed under it):"
                )?;
                writeln!(self.out, "  {}", levels.header())?;
                for row in &level_rows {
                    writeln!(self.out, "  {}", levels.row(row))?;
                }
                for remark in &remarks {
                    writeln!(self.out, "  note: {remark}")?;
                }
            }
            Output::Markdown => {
                writeln!(self.out, "{}", ladder.markdown_header())?;
                for row in &ladder_rows {
                    writeln!(self.out, "{}", ladder.markdown_row(row))?;
                }
                writeln!(self.out)?;
                writeln!(self.out, "{}", levels.markdown_header())?;
                for row in &level_rows {
                    writeln!(self.out, "{}", levels.markdown_row(row))?;
                }
                if !remarks.is_empty() {
                    writeln!(self.out)?;
                    for remark in &remarks {
                        writeln!(self.out, "- {remark}")?;
                    }
                }
            }
            Output::Json => unreachable!("handled above"),
        }
        self.out.flush()?;
        Ok(())
    }

    fn progress(&self, what: &str) {
        if self.progress {
            eprint!(
                "\r\x1b[K[{}/{} {:.0}s] {what}",
                (self.done + 1).min(self.total),
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn clear_progress(&self) {
        if self.progress {
            eprint!("\r\x1b[K");
        }
    }

    fn emit(&mut self, row: &Row) -> Result<(), CliError> {
        self.clear_progress();
        let line = row.json();
        match (&self.table, self.output) {
            (_, Output::Json) => writeln!(self.out, "{line}")?,
            (Some(t), Output::Table) => {
                if self.last_shape != Some(row.shape) {
                    writeln!(self.out)?;
                    writeln!(self.out, "{}", t.header())?;
                }
                writeln!(self.out, "{}", t.row(&row.cells()))?;
            }
            (Some(t), Output::Markdown) => {
                if self.last_shape.is_none() {
                    writeln!(self.out)?;
                    writeln!(self.out, "{}", t.markdown_header())?;
                }
                writeln!(self.out, "{}", t.markdown_row(&row.cells()))?;
            }
            (None, _) => unreachable!("header() sets the table"),
        }
        self.json_lines.push(line);
        self.out.flush()?;
        self.last_shape = Some(row.shape);
        self.done += 1;
        Ok(())
    }

    fn finish(&mut self, seconds: f64) -> Result<(), CliError> {
        self.clear_progress();
        let summary = json::Object::new()
            .str("kind", "summary")
            .uint("results", self.done)
            .num("seconds", json::round_sig(seconds, 4))
            .finish();
        match self.output {
            Output::Json => writeln!(self.out, "{summary}")?,
            _ => {
                writeln!(self.out)?;
                writeln!(self.out, "{} results in {seconds:.1} s", self.done)?;
            }
        }
        self.json_lines.push(summary);
        Ok(self.out.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_matches_a_naive_dot_product() {
        let (n, k, m) = (3, 37, 2);
        let w = random_vec(n * k, 1).unwrap();
        let x = random_vec(m * k, 2).unwrap();
        assert!(w.iter().all(|v| (-1.0..1.0).contains(v)));
        let mut y = vec![0.0; m * n];
        gemm_f32(&w, &x, m, &mut y);
        for i in 0..m {
            for r in 0..n {
                let want: f64 = (0..k)
                    .map(|j| f64::from(w[r * k + j]) * f64::from(x[i * k + j]))
                    .sum();
                let got = f64::from(y[i * n + r]);
                assert!((got - want).abs() < 1e-5, "{got} vs {want}");
            }
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

    #[test]
    fn cold_rotates_at_least_two_copies_totalling_the_dram_bytes() {
        assert_eq!(cold_copies(10, 100), 10);
        assert_eq!(cold_copies(30, 100), 4);
        assert_eq!(cold_copies(1000, 100), 2);
    }
}
