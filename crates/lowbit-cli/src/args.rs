//! Command-line parsing, by hand (the CLI depends on nothing but lowbit and rayon).
//!
//! Flags take their value as `--flag VALUE` or `--flag=VALUE`; repeatable flags also
//! take comma-separated lists. Anything unknown is a [`CliError::Usage`] (exit code 2).

use std::path::PathBuf;

use lowbit::{Format, Isa};

use crate::CliError;

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Print a help text.
    Help(Topic),
    /// Print the version.
    Version,
    /// `lowbit info`.
    Info,
    /// `lowbit bench`.
    Bench(BenchArgs),
    /// `lowbit eval`.
    Eval(EvalArgs),
    /// `lowbit roofline`.
    Roofline(RooflineArgs),
}

/// Which help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `lowbit --help`.
    Main,
    /// `lowbit info --help`.
    Info,
    /// `lowbit bench --help`.
    Bench,
    /// `lowbit eval --help`.
    Eval,
    /// `lowbit roofline --help`.
    Roofline,
}

/// A weight matrix shape: `n` rows (outputs) by `k` columns (the reduction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows (outputs).
    pub n: usize,
    /// Columns (reduction length).
    pub k: usize,
}

/// What a GEMV may do to the activations (`lowbit::Precision`), as a bench axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Act {
    /// f32 activations (`Precision::F32`).
    F32,
    /// int8 activations per block of 32 (`Precision::AllowA8`), where an A8 kernel runs.
    A8,
    /// OVP-4 activations per block of 32 on the A8 kernels (`Precision::AllowA4Ovp`,
    /// OliVe's W4A4 with OVP-4 weights).
    A4Ovp,
}

impl Act {
    /// `f32`, `a8` or `a4ovp`.
    pub fn name(self) -> &'static str {
        match self {
            Act::F32 => "f32",
            Act::A8 => "a8",
            Act::A4Ovp => "a4ovp",
        }
    }

    /// The precision a call with these activations asks for.
    pub fn precision(self) -> lowbit::Precision {
        match self {
            Act::F32 => lowbit::Precision::F32,
            Act::A8 => lowbit::Precision::AllowA8,
            Act::A4Ovp => lowbit::Precision::AllowA4Ovp,
        }
    }
}

/// Where the weights are when a timed call starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cache {
    /// The same weights every repetition: resident in cache if they fit.
    Hot,
    /// A different copy every repetition, rotating through copies well beyond the
    /// last-level cache: streamed from DRAM.
    Cold,
}

impl Cache {
    /// `hot` or `cold`.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Hot => "hot",
            Cache::Cold => "cold",
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// An aligned text table.
    Table,
    /// One JSON object per line.
    Json,
    /// A GitHub-flavoured Markdown table (for a README).
    Markdown,
}

/// Options of `lowbit bench`. `None` means "not given": the default plan (or `--full`)
/// decides.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchArgs {
    /// Shapes to run, in order.
    pub shapes: Option<Vec<Shape>>,
    /// Formats to run, in order.
    pub formats: Option<Vec<Format>>,
    /// ISAs to run (lowest first); empty means every ISA this CPU has.
    pub isas: Vec<Isa>,
    /// Activation precisions to run.
    pub acts: Option<Vec<Act>>,
    /// Activation rows per call (`m`; 1 = GEMV).
    pub batches: Vec<usize>,
    /// Thread counts to run (1 = the calling thread only).
    pub threads: Option<Vec<usize>>,
    /// Cache states to run.
    pub caches: Option<Vec<Cache>>,
    /// Timed repetitions per result; `None` chooses them from a time budget.
    pub reps: Option<usize>,
    /// Run the whole matrix instead of the default subset.
    pub full: bool,
    /// Table, JSON lines or Markdown.
    pub output: Output,
    /// Also write a roofline chart here.
    pub svg: Option<PathBuf>,
    /// Bytes streamed for the DRAM probe and the `cold` copies, in MiB.
    pub dram_mib: Option<usize>,
}

/// The weights `lowbit eval` reads.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalSource {
    /// Every 2-D tensor of a safetensors file.
    File(PathBuf),
    /// One synthetic `n x k` tensor of Student-t (3 degrees of freedom) values: heavy
    /// tails, as LLM weights have (OliVe's and LLM-FP4's argument), fixed seed.
    StudentT(Shape),
}

/// Options of `lowbit eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalArgs {
    /// What to evaluate.
    pub source: EvalSource,
    /// Formats to evaluate; `None`: [`EVAL_FORMATS`].
    pub formats: Option<Vec<Format>>,
    /// Only tensors whose name contains one of these (all when empty).
    pub tensors: Vec<String>,
    /// Evaluate at most this many tensors.
    pub limit: Option<usize>,
    /// JSON lines instead of a table.
    pub json: bool,
}

/// Options of `lowbit roofline`.
#[derive(Debug, Clone, PartialEq)]
pub struct RooflineArgs {
    /// `lowbit bench --json` output to read.
    pub from: PathBuf,
    /// Where to write the chart.
    pub svg: PathBuf,
}

/// Default shapes: a square attention-sized matrix and an MLP's up and down projections.
pub const DEFAULT_SHAPES: [Shape; 3] = [
    Shape { n: 4096, k: 4096 },
    Shape { n: 11008, k: 4096 },
    Shape { n: 4096, k: 11008 },
];

/// Default formats: one or two per bit width, all from `Format::catalog()`.
pub const DEFAULT_FORMATS: [&str; 5] = [
    "int4_g32",
    "int4_g128_zp",
    "int8_row",
    "int3_g128",
    "int2_g32",
];

/// Formats `lowbit eval` evaluates by default.
pub const EVAL_FORMATS: [&str; 15] = [
    "int4_g32",
    "int4_row",
    "ovp4_row",
    "int4_g128",
    "int4_g128_zp",
    "int8_row",
    "int3_g128",
    "int2_g32",
    "fp4_g32",
    "mxfp4",
    "nvfp4",
    "fp8_e4m3_g32",
    "fp6_e2m3_g32",
    "fp6_e3m2_g32",
    "mxfp6_e2m3",
];

/// `lowbit --help`.
const MAIN_HELP: &str = "\
lowbit — quantized matrix kernels for CPUs

Usage: lowbit <command> [options]

Commands:
  info      CPU features, instruction sets, and which kernel runs per format x ISA
  bench     Time GEMV/GEMM per format x ISA x shape x batch x threads x cache, against
            the machine's measured read bandwidth and an f32 baseline
  eval      Quantization error of every 2-D tensor of a safetensors file, per format
  roofline  Draw a roofline chart (SVG) from `lowbit bench --json` output
  help      Print this help, or the help of a command (`lowbit help bench`)

Options:
  -h, --help     Print help
  -V, --version  Print the version

Environment:
  LOWBIT_ISA     Cap the ISA of calls that do not name one: scalar, avx2, avx512, neon
                 (`lowbit info` shows the result; `lowbit bench` names ISAs explicitly)
";

/// `lowbit info --help`.
const INFO_HELP: &str = "\
Usage: lowbit info

Prints the version, the CPU features lowbit detects, the best and the active ISA
(LOWBIT_ISA applied; an invalid value is reported, not fatal), the available ISAs, and
for each format family x available ISA the kernel that runs. `(fallback)` marks a cell
where the ISA has no kernel of its own for the format and a lower one runs.

Options:
  -h, --help  Print help
";

/// `lowbit bench --help`.
const BENCH_HELP: &str = "\
Usage: lowbit bench [options]

Measures the machine's read bandwidth on a ladder of buffer sizes and finds its memory
levels there (L2, L3, DRAM; per thread count), then quantizes a random f32 matrix
(uniform in [-1, 1), fixed seed) into each format and times Y = X W^T (m activation
rows; m = 1 is a GEMV) with each kernel, next to a plain f32 baseline (an
autovectorized Rust loop, `rustc-auto`, one thread) in the same run.

Options:
  --shape NxK     Weight shape: N rows (outputs) x K columns (reduction)
                  [default: 4096x4096, 11008x4096, 4096x11008]
  --format NAME   Weight format, e.g. int4_g32, int4_g128_zp, int8_row
                  [default: int4_g32, int4_g128_zp, int8_row, int3_g128, int2_g32;
                  with --full every catalog format]
  --isa NAME      Only these ISAs: scalar, avx2, avx512, neon [default: all this CPU has]
  --act A         Activations: f32, a8, a4ovp (W4A4: OVP-4 activations on the A8
                  kernels) [default: f32, a8; a8 and a4ovp only where an A8 kernel runs]
  --batch M       Activation rows per call [default: 1]
  --threads T     Threads; T > 1 splits rows over a rayon pool of T threads
                  [default: 1, and all hardware threads for the best ISA's kernels;
                  with --full both for every kernel]
  --cache C       hot, cold [default: hot on every shape, cold on the first shape;
                  with --full both on every shape]
  --full          Run the whole matrix (the defaults in brackets marked --full)
  --reps N        Timed repetitions per result [default: enough for ~200 ms, at least 5]
  --json          One JSON object per line instead of a table
  --markdown      A Markdown table instead of a text table
  --svg FILE      Also write a roofline chart (see `lowbit help roofline`)
  --dram-mib MIB  Top of the bandwidth ladder and total of the rotated `cold` copies
                  [default: 4 x the last-level cache sysfs reports, at least 256, at
                  most 512]
  -h, --help      Print help

--shape, --format, --isa, --act, --batch, --threads and --cache are repeatable and take
comma-separated lists. The default run (no options) takes about a minute on a 2-core
AVX-512 machine (the ladder about 5 s of it); --full takes about ten minutes there.

The ceilings: for each thread count T, read bandwidth (a safe-Rust sum of u64s, T
threads each reading a disjoint part) is measured at buffer sizes from 64 KiB x T up
to --dram-mib, a factor of sqrt(2) apart, in five rounds (up, down, up, ...) so that a
passing disturbance spreads over every size; a size's GB/s is the median of its
samples. The levels are found in that ladder, not taken from sysfs (some VMs report
the host's whole L3 there): DRAM is the top of the ladder and the sizes below it that
read within 10% of each other; a cache level is a plateau of at least three
consecutive sizes within 10% of each other, at least 8% faster than the next slower
level (plateaus that read alike are one level, dips between levels are dropped); two
plateaus are L2 and L3, a lone one is L3 when it reaches past the L2s sysfs reports.
A level's ceiling is the median of its sizes, and it holds hot weights up to where the
ladder crosses the geometric mean of its ceiling and the next level's. The report
lists every size with its level, and every level with its sizes, ceiling, limit and
how it was found; remarks say where sysfs disagrees.

Each distinct kernel runs once per format: an ISA without a kernel of its own for a
format falls back to a lower one, and the row shows the ISA that ran. a8 rows are run
only where `lowbit::gemv_kernel(format, isa, AllowA8)` names an integer-dot kernel.

How it measures: every result is the median of its repetitions after a ~50 ms warm-up
(at least one call); a repetition that takes under 20 us is averaged over enough calls
to last 20 us. The timed call is `lowbit::gemv_with` (m = 1) or `lowbit::gemm_with`
(m > 1) with the ISA named, `single_thread` for T = 1, else inside a pool of T threads;
for a8 the call includes quantizing the activations. hot reuses one matrix; cold
rotates through copies totalling --dram-mib (at least two), so each call reads
weights the previous calls evicted from every cache.

Columns (JSON keys in parentheses):
  format, act       weight format; activations f32 or a8
  isa, kernel       the kernel that ran and the ISA it is written for (for m > 1 the
                    GEMV kernel gemm_with runs per activation row)
  m, threads, cache activation rows, threads, hot/cold
  median_us         median time of one call (median_us; p10_us and p90_us are the 10th
                    and 90th percentiles; reps the repetitions)
  spread            (p90 - p10) / median
  GB/s              weight bytes one call reads (codes, scales, zero-points) / median
                    (weight_gbps; weight_bytes)
  GFLOP/s           2*m*N*K / median (gflops)
  roof              where the weights live and that level's measured read bandwidth
                    for this thread count (ceiling, ceiling_gbps): cold is DRAM; hot is
                    the fastest level whose limit (`holds up to`) holds the weights,
                    else DRAM; a hot result faster than that level's ceiling is
                    re-filed under the nearest faster level it does not exceed (the
                    weights partly stayed there; the note says so)
  %roof             GB/s / ceiling x 100 (roofline_pct); never above 100 without a note
  max_rel_err       max_i |y_q[i] - y_f32[i]| / max_i |y_f32[i]|: y_q is this kernel's
                    output, y_f32 the f32 baseline's (unquantized weights)
  vs_f32            f32 baseline median (same shape, m, cache) / this median
  note              why a result is above the ceiling its size names (note; null
                    when it is not): within the ceiling's p90 (spread), re-filed
                    under a faster level, above every ceiling (weights in a level
                    faster than the ladder reaches, e.g. L1), or, cold, streamed
                    faster than the probe

With --json the run prints, one object per line: a `\"kind\":\"machine\"` header
(l2_bytes, l3_bytes and caches_from are the sysfs hint; dram_bytes the ladder's top),
one `\"kind\":\"ladder\"` line per thread count and size (threads, bytes, gbps,
p10_gbps, p90_gbps, samples, level or null), one `\"kind\":\"bandwidth\"` line per
thread count and level found (threads, level, gbps, p10_gbps, p90_gbps, samples,
points, min_bytes, max_bytes, limit_bytes or null, found), a `\"kind\":\"remark\"`
line per remark (threads, text), one `\"kind\":\"result\"` line per result (the keys
above), and a closing `\"kind\":\"summary\"` line (results, seconds).
";

/// `lowbit eval --help`.
const EVAL_HELP: &str = "\
Usage: lowbit eval --safetensors FILE [options]
       lowbit eval --student-t NxK [options]

Quantizes every 2-D tensor (dtype F32, F16 or BF16; others are skipped with a note) of
a safetensors file into each format, rows = N output channels, columns = K, and prints:
  weight_rel_rms  ||W - dequantize(Q)||_F / ||W||_F
  gemv_rel_rms    ||W x - gemv(Q, x)|| / ||W x|| for one fixed random x, uniform in
                  [-1, 1) (W x in f64; gemv on the best ISA, f32 activations)
  bits/w          weight bytes (codes, scales, zero-points) x 8 / (N K)
and, per format, the same errors over all evaluated tensors together (Frobenius norms
of the concatenated errors). A format that cannot hold a tensor (K not a multiple of
its group size) is skipped for that tensor with a note.

Options:
  --safetensors FILE  The model file (read one tensor at a time)
  --student-t NxK     Instead of a file: one synthetic N x K tensor of Student-t values
                      (3 degrees of freedom, scale 0.02, fixed seed): heavy tails
  --format NAME       Formats [default: int4_g32, int4_row, ovp4_row, int4_g128,
                      int4_g128_zp, int8_row, int3_g128, int2_g32, fp4_g32, mxfp4,
                      nvfp4, fp8_e4m3_g32, fp6_e2m3_g32, fp6_e3m2_g32, mxfp6_e2m3]
  --tensor TEXT       Only tensors whose name contains TEXT (repeatable)
  --limit N           At most N tensors
  --json              One JSON object per line (`kind`: eval, skip, summary)
  -h, --help          Print help
";

/// `lowbit roofline --help`.
const ROOFLINE_HELP: &str = "\
Usage: lowbit roofline --from RESULTS.jsonl --svg OUT.svg

Draws a roofline chart from `lowbit bench --json` output (`lowbit bench --svg FILE`
draws the same chart at the end of a run): one bar per result, its weight GB/s on a
log scale, grouped by shape, m and cache and coloured by ISA (a8 results outlined),
each bar topped by a tick at its own ceiling, and a dashed line per measured ceiling:
each level (L2, L3, DRAM) that the read-bandwidth ladder found, per thread count (see
`lowbit help bench`). A bar's tooltip gives its numbers and, when it is above the
ceiling its size names, the note that says why.

Options:
  --from FILE  JSON lines written by `lowbit bench --json`
  --svg FILE   Where to write the SVG
  -h, --help   Print help
";

impl Topic {
    /// The help text.
    pub fn text(self) -> &'static str {
        match self {
            Topic::Main => MAIN_HELP,
            Topic::Info => INFO_HELP,
            Topic::Bench => BENCH_HELP,
            Topic::Eval => EVAL_HELP,
            Topic::Roofline => ROOFLINE_HELP,
        }
    }
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

const COMMANDS: &str = "`info`, `bench`, `eval`, `roofline` or `help`";

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, CliError> {
    let mut args = args.into_iter();
    let Some(cmd) = args.next() else {
        return Err(usage(format!("no command given (expected {COMMANDS})")));
    };
    match cmd.as_str() {
        "-h" | "--help" => Ok(Command::Help(Topic::Main)),
        "-V" | "--version" => Ok(Command::Version),
        "help" => {
            let topic = match args.next().as_deref() {
                None => Topic::Main,
                Some("info") => Topic::Info,
                Some("bench") => Topic::Bench,
                Some("eval") => Topic::Eval,
                Some("roofline") => Topic::Roofline,
                Some(other) => return Err(usage(format!("no help for `{other}`"))),
            };
            no_more(args, "help")?;
            Ok(Command::Help(topic))
        }
        "info" => match args.next().as_deref() {
            None => Ok(Command::Info),
            Some("-h" | "--help") => Ok(Command::Help(Topic::Info)),
            Some(other) => Err(usage(format!("unexpected argument `{other}` for `info`"))),
        },
        "bench" => parse_bench(args),
        "eval" => parse_eval(args),
        "roofline" => parse_roofline(args),
        flag if flag.starts_with('-') => Err(usage(format!("unknown option `{flag}`"))),
        other => Err(usage(format!(
            "unknown command `{other}` (expected {COMMANDS})"
        ))),
    }
}

fn no_more(mut args: impl Iterator<Item = String>, cmd: &str) -> Result<(), CliError> {
    match args.next() {
        None => Ok(()),
        Some(a) => Err(usage(format!("unexpected argument `{a}` for `{cmd}`"))),
    }
}

/// Walks `--flag VALUE` / `--flag=VALUE` / `--switch` arguments.
struct Flags<I: Iterator<Item = String>> {
    args: I,
    cmd: &'static str,
}

/// One flag and, if it was written `--flag=VALUE`, its inline value.
struct Flag {
    name: String,
    inline: Option<String>,
}

impl<I: Iterator<Item = String>> Flags<I> {
    /// The next flag; a non-flag argument is a usage error.
    fn next(&mut self) -> Result<Option<Flag>, CliError> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        let (name, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !name.starts_with('-') {
            return Err(usage(format!(
                "unexpected argument `{arg}` for `{}`",
                self.cmd
            )));
        }
        Ok(Some(Flag { name, inline }))
    }

    /// The value of `flag`.
    fn value(&mut self, flag: &Flag) -> Result<String, CliError> {
        flag.inline
            .clone()
            .or_else(|| self.args.next())
            .ok_or_else(|| usage(format!("`{}` needs a value", flag.name)))
    }

    /// Checks that a switch has no inline value.
    fn switch(&self, flag: &Flag) -> Result<bool, CliError> {
        match flag.inline {
            None => Ok(true),
            Some(_) => Err(usage(format!("`{}` takes no value", flag.name))),
        }
    }

    fn unknown(&self, flag: &Flag) -> CliError {
        usage(format!("unknown option `{}` for `{}`", flag.name, self.cmd))
    }
}

fn parse_format(s: &str) -> Result<Format, CliError> {
    Format::parse(s).map_err(|e| usage(format!("--format: {e}")))
}

fn parse_bench(args: impl Iterator<Item = String>) -> Result<Command, CliError> {
    let mut f = Flags { args, cmd: "bench" };
    let mut b = BenchArgs {
        shapes: None,
        formats: None,
        isas: Vec::new(),
        acts: None,
        batches: Vec::new(),
        threads: None,
        caches: None,
        reps: None,
        full: false,
        output: Output::Table,
        svg: None,
        dram_mib: None,
    };
    let (mut json, mut markdown) = (false, false);
    while let Some(flag) = f.next()? {
        match flag.name.as_str() {
            "-h" | "--help" => return Ok(Command::Help(Topic::Bench)),
            "--shape" => push_list(
                b.shapes.get_or_insert_with(Vec::new),
                &f.value(&flag)?,
                parse_shape,
            )?,
            "--format" => push_list(
                b.formats.get_or_insert_with(Vec::new),
                &f.value(&flag)?,
                parse_format,
            )?,
            "--isa" => push_list(&mut b.isas, &f.value(&flag)?, |s| {
                Isa::from_name(s).map_err(|e| usage(format!("--isa: {e}")))
            })?,
            "--act" => push_list(
                b.acts.get_or_insert_with(Vec::new),
                &f.value(&flag)?,
                |s| match s {
                    "f32" => Ok(Act::F32),
                    "a8" => Ok(Act::A8),
                    "a4ovp" => Ok(Act::A4Ovp),
                    _ => Err(usage(format!(
                        "--act: expected f32, a8 or a4ovp, got `{s}`"
                    ))),
                },
            )?,
            "--batch" => push_list(&mut b.batches, &f.value(&flag)?, |s| {
                parse_count("--batch", s)
            })?,
            "--threads" => push_list(
                b.threads.get_or_insert_with(Vec::new),
                &f.value(&flag)?,
                |s| parse_count("--threads", s),
            )?,
            "--cache" => push_list(
                b.caches.get_or_insert_with(Vec::new),
                &f.value(&flag)?,
                |s| match s {
                    "hot" => Ok(Cache::Hot),
                    "cold" => Ok(Cache::Cold),
                    _ => Err(usage(format!("--cache: expected hot or cold, got `{s}`"))),
                },
            )?,
            "--reps" => b.reps = Some(parse_count("--reps", &f.value(&flag)?)?),
            "--dram-mib" => b.dram_mib = Some(parse_count("--dram-mib", &f.value(&flag)?)?),
            "--svg" => b.svg = Some(PathBuf::from(f.value(&flag)?)),
            "--full" => b.full = f.switch(&flag)?,
            "--json" => json = f.switch(&flag)?,
            "--markdown" => markdown = f.switch(&flag)?,
            _ => return Err(f.unknown(&flag)),
        }
    }
    b.output = match (json, markdown) {
        (true, true) => return Err(usage("`--json` and `--markdown` exclude each other")),
        (true, false) => Output::Json,
        (false, true) => Output::Markdown,
        (false, false) => Output::Table,
    };
    b.isas.sort();
    if let Some(a) = &mut b.acts {
        a.sort();
    }
    if let Some(c) = &mut b.caches {
        c.sort();
    }
    if b.batches.is_empty() {
        b.batches.push(1);
    }
    Ok(Command::Bench(b))
}

fn parse_eval(args: impl Iterator<Item = String>) -> Result<Command, CliError> {
    let mut f = Flags { args, cmd: "eval" };
    let mut source = None;
    let mut e = EvalArgs {
        source: EvalSource::File(PathBuf::new()),
        formats: None,
        tensors: Vec::new(),
        limit: None,
        json: false,
    };
    while let Some(flag) = f.next()? {
        match flag.name.as_str() {
            "-h" | "--help" => return Ok(Command::Help(Topic::Eval)),
            "--safetensors" => source = Some(EvalSource::File(PathBuf::from(f.value(&flag)?))),
            "--student-t" => source = Some(EvalSource::StudentT(parse_shape(&f.value(&flag)?)?)),
            "--format" => push_list(
                e.formats.get_or_insert_with(Vec::new),
                &f.value(&flag)?,
                parse_format,
            )?,
            "--tensor" => e.tensors.push(f.value(&flag)?),
            "--limit" => e.limit = Some(parse_count("--limit", &f.value(&flag)?)?),
            "--json" => e.json = f.switch(&flag)?,
            _ => return Err(f.unknown(&flag)),
        }
    }
    e.source = source.ok_or_else(|| usage("`eval` needs --safetensors FILE or --student-t NxK"))?;
    Ok(Command::Eval(e))
}

fn parse_roofline(args: impl Iterator<Item = String>) -> Result<Command, CliError> {
    let mut f = Flags {
        args,
        cmd: "roofline",
    };
    let (mut from, mut svg) = (None, None);
    while let Some(flag) = f.next()? {
        match flag.name.as_str() {
            "-h" | "--help" => return Ok(Command::Help(Topic::Roofline)),
            "--from" => from = Some(PathBuf::from(f.value(&flag)?)),
            "--svg" => svg = Some(PathBuf::from(f.value(&flag)?)),
            _ => return Err(f.unknown(&flag)),
        }
    }
    match (from, svg) {
        (Some(from), Some(svg)) => Ok(Command::Roofline(RooflineArgs { from, svg })),
        _ => Err(usage("`roofline` needs --from FILE and --svg FILE")),
    }
}

/// Parses a comma-separated list and appends the items not already present.
fn push_list<T: PartialEq>(
    out: &mut Vec<T>,
    list: &str,
    parse: impl Fn(&str) -> Result<T, CliError>,
) -> Result<(), CliError> {
    for item in list.split(',') {
        let v = parse(item.trim())?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(())
}

fn parse_shape(s: &str) -> Result<Shape, CliError> {
    let bad = || {
        usage(format!(
            "--shape: expected NxK with N, K >= 1 (e.g. 4096x4096), got `{s}`"
        ))
    };
    let (n, k) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let dim = |d: &str| d.trim().parse::<usize>().ok().filter(|&v| v > 0);
    match (dim(n), dim(k)) {
        (Some(n), Some(k)) if n.checked_mul(k).is_some() => Ok(Shape { n, k }),
        _ => Err(bad()),
    }
}

fn parse_count(flag: &str, s: &str) -> Result<usize, CliError> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| usage(format!("{flag}: expected a positive integer, got `{s}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(a: &[&str]) -> Result<Command, CliError> {
        parse(a.iter().map(|s| s.to_string()))
    }

    fn bench(a: &[&str]) -> BenchArgs {
        match parse_strs(a) {
            Ok(Command::Bench(b)) => b,
            other => panic!("{a:?} -> {other:?}"),
        }
    }

    #[test]
    fn defaults_are_left_to_the_plan_and_valid() {
        let b = bench(&["bench"]);
        assert_eq!(
            (&b.shapes, &b.formats, &b.threads, &b.caches, &b.acts),
            (&None, &None, &None, &None, &None)
        );
        assert_eq!(b.batches, [1]);
        assert!(b.isas.is_empty() && b.reps.is_none() && !b.full && b.svg.is_none());
        assert_eq!(b.output, Output::Table);
        for f in DEFAULT_FORMATS.iter().chain(&EVAL_FORMATS) {
            assert!(
                Format::catalog().contains(&Format::parse(f).unwrap()),
                "{f}"
            );
        }
    }

    #[test]
    fn values_inline_separate_and_listed() {
        let b = bench(&[
            "bench",
            "--shape=64x256",
            "--shape",
            "8X32,64x256",
            "--format",
            "int8_row,int4_g32",
            "--isa=scalar",
            "--threads",
            "2",
            "--reps=3",
            "--batch",
            "1,4",
            "--cache",
            "cold,hot",
            "--act=a8",
            "--dram-mib",
            "64",
            "--svg",
            "out.svg",
            "--full",
            "--json",
        ]);
        assert_eq!(
            b.shapes.unwrap(),
            [Shape { n: 64, k: 256 }, Shape { n: 8, k: 32 }]
        );
        assert_eq!(b.formats.unwrap().len(), 2);
        assert_eq!(
            (b.isas, b.threads, b.reps, b.output),
            (vec![Isa::Scalar], Some(vec![2]), Some(3), Output::Json)
        );
        assert_eq!(b.batches, [1, 4]);
        assert_eq!(b.caches.unwrap(), [Cache::Hot, Cache::Cold]);
        assert_eq!(b.acts.unwrap(), [Act::A8]);
        assert_eq!(
            (b.dram_mib, b.svg, b.full),
            (Some(64), Some(PathBuf::from("out.svg")), true)
        );
        assert_eq!(bench(&["bench", "--markdown"]).output, Output::Markdown);
    }

    #[test]
    fn eval_and_roofline() {
        match parse_strs(&[
            "eval",
            "--safetensors=m.st",
            "--format",
            "int8_row",
            "--json",
        ]) {
            Ok(Command::Eval(e)) => {
                assert_eq!(e.source, EvalSource::File(PathBuf::from("m.st")));
                assert_eq!(e.formats.unwrap().len(), 1);
                assert!(e.json && e.tensors.is_empty() && e.limit.is_none());
            }
            other => panic!("{other:?}"),
        }
        match parse_strs(&["eval", "--student-t", "64x512", "--act", "a4ovp"]) {
            Err(CliError::Usage(_)) => {}
            other => panic!("{other:?}"),
        }
        match parse_strs(&["eval", "--student-t", "64x512"]) {
            Ok(Command::Eval(e)) => {
                assert_eq!(e.source, EvalSource::StudentT(Shape { n: 64, k: 512 }))
            }
            other => panic!("{other:?}"),
        }
        match parse_strs(&["bench", "--act", "a4ovp,a8"]) {
            Ok(Command::Bench(b)) => assert_eq!(b.acts.unwrap(), [Act::A8, Act::A4Ovp]),
            other => panic!("{other:?}"),
        }
        match parse_strs(&["roofline", "--from", "r.jsonl", "--svg", "r.svg"]) {
            Ok(Command::Roofline(r)) => assert_eq!(r.svg, PathBuf::from("r.svg")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for a in [
            &[][..],
            &["frobnicate"],
            &["--frobnicate"],
            &["info", "--json"],
            &["help", "nothing"],
            &["bench", "--bogus"],
            &["bench", "--shape"],
            &["bench", "--shape", "64"],
            &["bench", "--shape", "0x64"],
            &["bench", "--format", "int5_g32"],
            &["bench", "--isa", "sse9"],
            &["bench", "--threads", "0"],
            &["bench", "--batch", "0"],
            &["bench", "--cache", "warm"],
            &["bench", "--act", "f16"],
            &["bench", "--reps", "-1"],
            &["bench", "--json=1"],
            &["bench", "--json", "--markdown"],
            &["bench", "stray"],
            &["eval"],
            &["eval", "--format", "int4_g32"],
            &["eval", "--safetensors", "a", "--limit", "0"],
            &["roofline", "--from", "a"],
        ] {
            assert!(matches!(parse_strs(a), Err(CliError::Usage(_))), "{a:?}");
        }
    }

    #[test]
    fn help_and_version() {
        let cases: [(&[&str], Command); 9] = [
            (&["--help"], Command::Help(Topic::Main)),
            (&["help"], Command::Help(Topic::Main)),
            (&["help", "bench"], Command::Help(Topic::Bench)),
            (
                &["bench", "--shape", "8x32", "-h"],
                Command::Help(Topic::Bench),
            ),
            (&["info", "--help"], Command::Help(Topic::Info)),
            (&["help", "eval"], Command::Help(Topic::Eval)),
            (&["eval", "--help"], Command::Help(Topic::Eval)),
            (&["roofline", "-h"], Command::Help(Topic::Roofline)),
            (&["-V"], Command::Version),
        ];
        for (a, want) in cases {
            assert_eq!(parse_strs(a).unwrap(), want, "{a:?}");
        }
    }
}
