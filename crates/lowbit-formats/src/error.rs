//! The one error type shared by every lowbit crate.

use core::fmt;

/// Everything that can go wrong in lowbit. Every variant is a caller error that is
/// detected before any output is written; nothing is left half-updated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A dimension is zero or the shape is inconsistent (for example `N * K` overflows).
    InvalidShape {
        /// What is wrong, in words.
        what: String,
    },
    /// The group size is not one the format supports, or it does not divide `K`.
    BadGroupSize {
        /// The group size that was asked for.
        group: usize,
        /// The reduction length it had to divide.
        k: usize,
    },
    /// A buffer has the wrong length.
    BufferLength {
        /// Which buffer.
        what: &'static str,
        /// The length the call needs.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// A value to quantize is NaN or infinite.
    NonFinite {
        /// Flat index (row-major) of the first offending element.
        index: usize,
    },
    /// A parameter is outside the range the format allows (bit width, code, zero-point...).
    InvalidParameter {
        /// What is wrong, in words.
        what: String,
    },
    /// The requested instruction set is not available on this CPU.
    IsaUnavailable {
        /// The ISA that was asked for.
        isa: &'static str,
    },
    /// An ISA name (for example from `LOWBIT_ISA`) is not one lowbit knows.
    UnknownIsa {
        /// The name that was given.
        name: String,
    },
    /// The combination of format, activation type and operation is not implemented.
    Unsupported {
        /// What was asked for, in words.
        what: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidShape { what } => write!(f, "invalid shape: {what}"),
            Error::BadGroupSize { group, k } => write!(
                f,
                "bad group size {group} for K = {k}: groups are 32, 64, 128, 256 (dividing K) or per-row, \
                 and 16 (dividing K) with E4M3 scales"
            ),
            Error::BufferLength {
                what,
                expected,
                got,
            } => write!(
                f,
                "buffer `{what}` has length {got}, the call needs {expected}"
            ),
            Error::NonFinite { index } => {
                write!(f, "input element {index} is NaN or infinite")
            }
            Error::InvalidParameter { what } => write!(f, "invalid parameter: {what}"),
            Error::IsaUnavailable { isa } => {
                write!(f, "instruction set `{isa}` is not available on this CPU")
            }
            Error::UnknownIsa { name } => write!(
                f,
                "unknown ISA `{name}` (expected scalar, avx2, avx512 or neon)"
            ),
            Error::Unsupported { what } => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// Checks that a buffer has exactly the expected length.
pub fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::BufferLength {
            what,
            expected,
            got,
        })
    }
}

/// Returns the index of the first non-finite value, as an error.
pub fn check_finite(values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { index }),
        None => Ok(()),
    }
}
