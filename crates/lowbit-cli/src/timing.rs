//! Repeated timing of one operation: warm-up, then timed samples, reported as median
//! and 10th/90th percentiles.

use std::time::{Duration, Instant};

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Run (untimed) for at least this long first, and at least once.
    pub warmup: Duration,
    /// Without `fixed_reps`: take samples for about this long...
    pub target: Duration,
    /// ...but at least this many...
    pub min_reps: usize,
    /// ...and at most this many.
    pub max_reps: usize,
    /// Exactly this many samples instead.
    pub fixed_reps: Option<usize>,
    /// A sample shorter than this repeats the operation and averages, so that clock
    /// overhead stays negligible.
    pub min_sample: Duration,
}

impl Budget {
    /// The `lowbit bench` budget: ~50 ms warm-up, ~200 ms of samples, at least 5.
    pub fn standard(fixed_reps: Option<usize>) -> Self {
        Budget {
            warmup: Duration::from_millis(50),
            target: Duration::from_millis(200),
            min_reps: 5,
            max_reps: 100_000,
            fixed_reps,
            min_sample: Duration::from_micros(20),
        }
    }
}

/// Per-call times in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Median.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Timed samples taken.
    pub reps: usize,
}

impl Stats {
    /// Statistics of per-call times (any order, at least one).
    pub fn from_samples(mut s: Vec<f64>) -> Stats {
        assert!(!s.is_empty(), "no samples");
        s.sort_by(f64::total_cmp);
        Stats {
            median: percentile(&s, 0.5),
            p10: percentile(&s, 0.1),
            p90: percentile(&s, 0.9),
            reps: s.len(),
        }
    }
}

/// Linearly interpolated percentile `p` (0..=1) of sorted, non-empty samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Times `op` under `budget`; the first error stops the measurement and is returned.
pub fn measure<E>(budget: &Budget, mut op: impl FnMut() -> Result<(), E>) -> Result<Stats, E> {
    let start = Instant::now();
    let mut calls = 0u32;
    while calls == 0 || start.elapsed() < budget.warmup {
        op()?;
        calls += 1;
    }
    let per_call = start.elapsed() / calls;
    let batch = if per_call >= budget.min_sample {
        1
    } else {
        (budget.min_sample.as_nanos() / per_call.as_nanos().max(1)) as usize + 1
    };
    let reps = budget.fixed_reps.unwrap_or_else(|| {
        let per_sample = per_call.as_secs_f64() * batch as f64;
        let want = (budget.target.as_secs_f64() / per_sample.max(1e-9)).ceil() as usize;
        want.clamp(budget.min_reps, budget.max_reps)
    });
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..batch {
            op()?;
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    Ok(Stats::from_samples(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let s = Stats::from_samples(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.median, s.reps), (3.0, 5));
        assert!((s.p10 - 1.4).abs() < 1e-12 && (s.p90 - 4.6).abs() < 1e-12);
        let one = Stats::from_samples(vec![7.0]);
        assert_eq!((one.p10, one.median, one.p90), (7.0, 7.0, 7.0));
    }

    #[test]
    fn fixed_reps_and_errors() {
        let quick = Budget {
            warmup: Duration::ZERO,
            ..Budget::standard(Some(3))
        };
        assert_eq!(measure(&quick, || Ok::<_, ()>(())).unwrap().reps, 3);
        let mut n = 0;
        let r = measure(&quick, || {
            n += 1;
            if n > 2 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("stop"));
    }
}
