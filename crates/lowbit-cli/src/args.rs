//! Command-line parsing, by hand (the CLI depends on nothing but lowbit and rayon).
//!
//! Flags take their value as `--flag VALUE` or `--flag=VALUE`; repeatable flags also
//! take comma-separated lists. Anything unknown is a [`CliError::Usage`] (exit code 2).

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
}

/// A weight matrix shape: `n` rows (outputs) by `k` columns (the reduction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows (outputs).
    pub n: usize,
    /// Columns (reduction length).
    pub k: usize,
}

/// Options of `lowbit bench`, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchArgs {
    /// Shapes to run, in order.
    pub shapes: Vec<Shape>,
    /// Formats to run, in order.
    pub formats: Vec<Format>,
    /// ISAs to run (lowest first); empty means every ISA this CPU has.
    pub isas: Vec<Isa>,
    /// Thread counts to run (1 = the calling thread only).
    pub threads: Vec<usize>,
    /// Timed repetitions per result; `None` chooses them from a time budget.
    pub reps: Option<usize>,
    /// JSON lines instead of a table.
    pub json: bool,
}

/// Default shapes: a square attention-sized matrix and an MLP up-projection.
pub const DEFAULT_SHAPES: [Shape; 2] = [Shape { n: 4096, k: 4096 }, Shape { n: 11008, k: 4096 }];

/// Default formats: one or two per bit width, all from `Format::catalog()`.
pub const DEFAULT_FORMATS: [&str; 5] = [
    "int4_g32",
    "int4_g128_zp",
    "int8_row",
    "int3_g128",
    "int2_g32",
];

/// `lowbit --help`.
const MAIN_HELP: &str = "\
lowbit — quantized matrix kernels for CPUs

Usage: lowbit <command> [options]

Commands:
  info     CPU features, instruction sets, and which kernel runs per format x ISA
  bench    Time GEMV (y = W x) per format x ISA against an f32 baseline
  help     Print this help, or the help of a command (`lowbit help bench`)

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

Quantizes a random f32 matrix (uniform in [-1, 1), fixed seed) into each format and
times y = W x (one activation vector, m = 1) with each kernel, plus a plain f32 GEMV
baseline (an autovectorized Rust loop, `rustc-auto`, one thread) in the same run.

Options:
  --shape NxK    Weight shape: N rows (outputs) x K columns (reduction)
                 [default: 4096x4096, 11008x4096]
  --format NAME  Weight format, e.g. int4_g32, int4_g128_zp, int8_row
                 [default: int4_g32, int4_g128_zp, int8_row, int3_g128, int2_g32]
  --isa NAME     Only these ISAs: scalar, avx2, avx512, neon [default: all this CPU has]
  --threads T    Threads; T > 1 splits rows over a rayon pool of T threads [default: 1]
  --reps N       Timed repetitions per result [default: enough for ~200 ms, at least 5]
  --json         One JSON object per line instead of a table
  -h, --help     Print help

--shape, --format, --isa and --threads are repeatable and take comma-separated lists.

Each distinct kernel runs once per format and thread count: an ISA without a kernel of
its own for a format falls back to a lower one, and the row shows the ISA that ran.

Columns (JSON keys in parentheses):
  isa, kernel      the kernel that ran and the ISA it is written for
  threads          threads used (the f32 baseline always uses 1)
  median_us        median time of one GEMV, after a ~50 ms warm-up; p10/p90 are the
                   10th/90th percentiles. The same weights are reused on every
                   repetition (cache \"hot\"), so small matrices run from cache.
  GB/s             weight bytes one GEMV reads (codes, scales, zero-points) / median
                   (weight_gbps)
  GFLOP/s          2*N*K / median (gflops)
  max_rel_err      max_i |y_q[i] - y_f32[i]| / max_i |y_f32[i]|: y_q is this kernel's
                   output, y_f32 the f32 GEMV of the unquantized matrix
  vs_f32           f32 baseline median / this median (> 1: faster than f32)
";

impl Topic {
    /// The help text.
    pub fn text(self) -> &'static str {
        match self {
            Topic::Main => MAIN_HELP,
            Topic::Info => INFO_HELP,
            Topic::Bench => BENCH_HELP,
        }
    }
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, CliError> {
    let mut args = args.into_iter();
    let Some(cmd) = args.next() else {
        return Err(usage(
            "no command given (expected `info`, `bench` or `help`)",
        ));
    };
    match cmd.as_str() {
        "-h" | "--help" => Ok(Command::Help(Topic::Main)),
        "-V" | "--version" => Ok(Command::Version),
        "help" => {
            let topic = match args.next().as_deref() {
                None => Topic::Main,
                Some("info") => Topic::Info,
                Some("bench") => Topic::Bench,
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
        flag if flag.starts_with('-') => Err(usage(format!("unknown option `{flag}`"))),
        other => Err(usage(format!(
            "unknown command `{other}` (expected `info`, `bench` or `help`)"
        ))),
    }
}

fn no_more(mut args: impl Iterator<Item = String>, cmd: &str) -> Result<(), CliError> {
    match args.next() {
        None => Ok(()),
        Some(a) => Err(usage(format!("unexpected argument `{a}` for `{cmd}`"))),
    }
}

fn parse_bench(mut args: impl Iterator<Item = String>) -> Result<Command, CliError> {
    let mut shapes = Vec::new();
    let mut formats = Vec::new();
    let mut isas = Vec::new();
    let mut threads = Vec::new();
    let mut reps = None;
    let mut json = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| usage(format!("`{flag}` needs a value")))
        };
        match flag {
            "-h" | "--help" => return Ok(Command::Help(Topic::Bench)),
            "--shape" => push_list(&mut shapes, &value()?, parse_shape)?,
            "--format" => push_list(&mut formats, &value()?, |s| {
                Format::parse(s).map_err(|e| usage(format!("--format: {e}")))
            })?,
            "--isa" => push_list(&mut isas, &value()?, |s| {
                Isa::from_name(s).map_err(|e| usage(format!("--isa: {e}")))
            })?,
            "--threads" => push_list(&mut threads, &value()?, |s| parse_count("--threads", s))?,
            "--reps" => reps = Some(parse_count("--reps", &value()?)?),
            "--json" if inline.is_none() => json = true,
            "--json" => return Err(usage("`--json` takes no value")),
            _ if flag.starts_with('-') => {
                return Err(usage(format!("unknown option `{flag}` for `bench`")))
            }
            _ => return Err(usage(format!("unexpected argument `{arg}` for `bench`"))),
        }
    }
    if shapes.is_empty() {
        shapes = DEFAULT_SHAPES.to_vec();
    }
    if formats.is_empty() {
        formats = DEFAULT_FORMATS
            .iter()
            .map(|f| Format::parse(f))
            .collect::<Result<_, _>>()?;
    }
    isas.sort();
    if threads.is_empty() {
        threads.push(1);
    }
    Ok(Command::Bench(BenchArgs {
        shapes,
        formats,
        isas,
        threads,
        reps,
        json,
    }))
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
    fn defaults_are_valid_catalog_formats() {
        let b = bench(&["bench"]);
        assert_eq!(b.shapes, DEFAULT_SHAPES);
        assert_eq!(b.threads, [1]);
        assert!(b.isas.is_empty() && b.reps.is_none() && !b.json);
        for f in &b.formats {
            assert!(Format::catalog().contains(f), "{f}");
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
            "--json",
        ]);
        assert_eq!(b.shapes, [Shape { n: 64, k: 256 }, Shape { n: 8, k: 32 }]);
        assert_eq!(b.formats.len(), 2);
        assert_eq!(
            (b.isas, b.threads, b.reps, b.json),
            (vec![Isa::Scalar], vec![2], Some(3), true)
        );
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
            &["bench", "--reps", "-1"],
            &["bench", "--json=1"],
            &["bench", "stray"],
        ] {
            assert!(matches!(parse_strs(a), Err(CliError::Usage(_))), "{a:?}");
        }
    }

    #[test]
    fn help_and_version() {
        let cases: [(&[&str], Command); 6] = [
            (&["--help"], Command::Help(Topic::Main)),
            (&["help"], Command::Help(Topic::Main)),
            (&["help", "bench"], Command::Help(Topic::Bench)),
            (
                &["bench", "--shape", "8x32", "-h"],
                Command::Help(Topic::Bench),
            ),
            (&["info", "--help"], Command::Help(Topic::Info)),
            (&["-V"], Command::Version),
        ];
        for (a, want) in cases {
            assert_eq!(parse_strs(a).unwrap(), want, "{a:?}");
        }
    }
}
