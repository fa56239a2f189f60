//! `lowbit`: the lowbit command-line tool.
//!
//! - `lowbit info`: CPU features, instruction sets, and which kernel runs for each
//!   format on each ISA.
//! - `lowbit bench`: GEMV/GEMM timings per format x ISA x activations x shape x batch x
//!   threads x cache (hot / streamed from DRAM), against the machine's read bandwidth
//!   measured at the start and an f32 baseline measured in the same run; `--svg` draws
//!   a roofline chart (see `lowbit bench --help`).
//! - `lowbit eval`: relative RMS error of the weights and of a GEMV output when every
//!   2-D tensor of a safetensors file is quantized into each format.
//! - `lowbit roofline`: the roofline chart from saved `lowbit bench --json` output.
//!
//! Exit codes: 0 success, 1 a run-time error, 2 a usage error (unknown command or flag,
//! bad value).

#![forbid(unsafe_code)]

mod args;
mod bandwidth;
mod bench;
mod eval;
mod info;
mod json;
mod kernels;
mod roofline;
mod safetensors;
mod table;
mod timing;

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;

use args::Command;

/// Why the tool failed; decides the exit code.
#[derive(Debug)]
pub enum CliError {
    /// The command line is wrong (exit code 2).
    Usage(String),
    /// The command ran and failed (exit code 1).
    Run(String),
    /// The reader of our output went away (e.g. `lowbit bench | head`): stop quietly.
    OutputClosed,
}

impl CliError {
    /// The process exit code for this error.
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Run(_) => 1,
            CliError::OutputClosed => 0,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}\n\nRun `lowbit --help` for usage."),
            CliError::Run(m) => f.write_str(m),
            CliError::OutputClosed => f.write_str("output closed"),
        }
    }
}

impl From<lowbit::Error> for CliError {
    fn from(e: lowbit::Error) -> Self {
        CliError::Run(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::OutputClosed,
            _ => CliError::Run(format!("writing output: {e}")),
        }
    }
}

fn run() -> Result<(), CliError> {
    let argv = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| CliError::Usage(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match args::parse(argv)? {
        Command::Help(topic) => Ok(write!(std::io::stdout(), "{}", topic.text())?),
        Command::Version => Ok(writeln!(
            std::io::stdout(),
            "lowbit {}",
            env!("CARGO_PKG_VERSION")
        )?),
        Command::Info => info::run(),
        Command::Bench(b) => bench::run(&b),
        Command::Eval(e) => eval::run(&e),
        Command::Roofline(r) => roofline::run(&r),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
