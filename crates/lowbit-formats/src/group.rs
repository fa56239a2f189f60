//! Group sizes along the reduction axis `K`.

use crate::{Error, Result};

/// How many consecutive elements of a row share one scale (and zero-point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// A group of this many elements; one of 32, 64, 128, 256, and it must divide `K`.
    Size(usize),
    /// One group per row (`g = K`); any `K >= 1`.
    PerRow,
}

impl Group {
    /// The group sizes other than per-row that lowbit formats accept.
    pub const SIZES: [usize; 4] = [32, 64, 128, 256];

    /// Parses the C-ABI / CLI encoding: `0` means per-row, anything else is a size.
    pub fn from_raw(g: usize) -> Group {
        if g == 0 {
            Group::PerRow
        } else {
            Group::Size(g)
        }
    }

    /// The C-ABI / CLI encoding: per-row is `0`.
    pub fn to_raw(self) -> usize {
        match self {
            Group::Size(g) => g,
            Group::PerRow => 0,
        }
    }

    /// The effective group length for a row of `k` elements, after validation.
    pub fn resolve(self, k: usize) -> Result<usize> {
        if k == 0 {
            return Err(Error::InvalidShape {
                what: "K must be at least 1".into(),
            });
        }
        match self {
            Group::PerRow => Ok(k),
            Group::Size(g) if Self::SIZES.contains(&g) && k.is_multiple_of(g) => Ok(g),
            Group::Size(g) if g == k => Ok(g),
            Group::Size(g) => Err(Error::BadGroupSize { group: g, k }),
        }
    }
}

impl core::fmt::Display for Group {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Group::Size(g) => write!(f, "g{g}"),
            Group::PerRow => f.write_str("per-row"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_accepts_only_dividing_sizes() {
        assert_eq!(Group::Size(32).resolve(4096), Ok(32));
        assert_eq!(Group::Size(256).resolve(512), Ok(256));
        assert_eq!(Group::PerRow.resolve(4097), Ok(4097));
        assert_eq!(Group::Size(100).resolve(100), Ok(100));
        assert!(matches!(
            Group::Size(32).resolve(48),
            Err(Error::BadGroupSize { .. })
        ));
        assert!(matches!(
            Group::Size(48).resolve(96),
            Err(Error::BadGroupSize { .. })
        ));
        assert!(Group::Size(0).resolve(64).is_err());
        assert_eq!(Group::from_raw(0), Group::PerRow);
        assert!(matches!(
            Group::PerRow.resolve(0),
            Err(Error::InvalidShape { .. })
        ));
    }
}
