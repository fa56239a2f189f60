//! The machine's own read bandwidth, measured at the start of `lowbit bench`: the
//! ceilings its results are compared against.
//!
//! Cache sizes come from `/sys/devices/system/cpu/cpu0/cache` when present (else
//! assumed: L2 1 MiB per core, L3 16 MiB). Each level is probed by summing a buffer of
//! `u64`s with 16 independent accumulators (safe Rust that rustc vectorizes), with `T`
//! threads each reading a disjoint part of it:
//!
//! | level | buffer | reads per sample |
//! |---|---|---|
//! | L2 | half the L2 per thread | repeated passes, >= 8 MiB per thread |
//! | L3 | a quarter of the L3 (at least twice the threads' L2) | repeated passes, >= 8 MiB per thread |
//! | DRAM | 4 x L3, at least 256 MiB, at most 512 MiB (`--dram-mib`) | one pass |
//!
//! after one untimed sample (which also faults the pages in). The ceiling is the
//! median over the samples of `bytes read / slowest thread's time`.
//!
//! Where a result's weights live ([`Ceilings::level_for`]): `cold` always DRAM; `hot`
//! the first level holding them in at most half its capacity (`T` x L2 for `T`
//! threads, the shared L3), else DRAM. Half, because a buffer read over and over that is
//! nearly as large as a cache mostly misses in it (LRU-like replacement evicts each
//! line before its next use); on the machine this was written on, read bandwidth falls
//! from ~70 GB/s at 8 MiB to ~25 GB/s at 24 MiB of its 32 MiB L3.

use std::hint::black_box;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use rayon::ThreadPool;

use crate::CliError;

const MIB: usize = 1 << 20;

/// A memory level results are compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The per-core L2 caches.
    L2,
    /// The shared last-level cache.
    L3,
    /// Main memory.
    Dram,
}

impl Level {
    /// All levels, nearest first.
    pub const ALL: [Level; 3] = [Level::L2, Level::L3, Level::Dram];

    /// `L2`, `L3`, `DRAM` (tables and the chart).
    pub fn label(self) -> &'static str {
        match self {
            Level::L2 => "L2",
            Level::L3 => "L3",
            Level::Dram => "DRAM",
        }
    }

    /// `l2`, `l3`, `dram` (JSON).
    pub fn key(self) -> &'static str {
        match self {
            Level::L2 => "l2",
            Level::L3 => "l3",
            Level::Dram => "dram",
        }
    }

    /// Parses [`Level::key`].
    pub fn from_key(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.key() == s)
    }
}

/// Cache sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caches {
    /// L2 per core.
    pub l2: usize,
    /// The last-level cache (L3), shared; `None` when the CPU reports none.
    pub l3: Option<usize>,
    /// Whether the sizes were read from sysfs (else assumed).
    pub detected: bool,
}

impl Caches {
    /// Reads `/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}`; falls back
    /// to L2 1 MiB, L3 16 MiB.
    pub fn detect() -> Caches {
        Caches::from_sysfs(Path::new("/sys/devices/system/cpu/cpu0/cache")).unwrap_or(Caches {
            l2: MIB,
            l3: Some(16 * MIB),
            detected: false,
        })
    }

    fn from_sysfs(dir: &Path) -> Option<Caches> {
        let (mut l2, mut l3) = (None, None);
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let p = entry.path();
            let read = |f: &str| std::fs::read_to_string(p.join(f)).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            if kind.trim() == "Instruction" {
                continue;
            }
            let size = parse_size(&size)?;
            match level.trim() {
                "2" => l2 = Some(size),
                "3" => l3 = Some(size),
                _ => {}
            }
        }
        Some(Caches {
            l2: l2?,
            l3,
            detected: true,
        })
    }

    /// The last-level cache: L3, else the L2.
    pub fn llc(&self) -> usize {
        self.l3.unwrap_or(self.l2)
    }

    /// One line for the report header.
    pub fn describe(&self) -> String {
        let l3 = self
            .l3
            .map_or("no L3".to_string(), |b| format!("L3 {}", bytes_text(b)));
        let from = if self.detected {
            "sysfs"
        } else {
            "assumed: no sysfs cache info"
        };
        format!("L2 {} per core, {l3} ({from})", bytes_text(self.l2))
    }
}

/// Parses sysfs sizes like `1024K`, `32M`, `512`.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mul)
}

/// `1 MiB`, `512 KiB`, `9.4 MB` style sizes.
pub fn bytes_text(b: usize) -> String {
    if b >= MIB && b.is_multiple_of(MIB) {
        format!("{} MiB", b / MIB)
    } else if b >= 1024 && b.is_multiple_of(1024) {
        format!("{} KiB", b / 1024)
    } else if b >= 1_000_000 {
        format!("{:.1} MB", b as f64 / 1e6)
    } else {
        format!("{b} B")
    }
}

/// One measured ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling {
    /// Threads reading.
    pub threads: usize,
    /// The level probed.
    pub level: Level,
    /// The buffer's total size.
    pub buffer_bytes: usize,
    /// Median read bandwidth, GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// 10th percentile of the samples' bandwidth.
    pub p10_gbps: f64,
    /// 90th percentile.
    pub p90_gbps: f64,
    /// Samples taken.
    pub samples: usize,
}

/// The ceilings of every thread count in a run.
#[derive(Debug, Clone)]
pub struct Ceilings {
    /// The cache sizes the buffers and [`Ceilings::level_for`] use.
    pub caches: Caches,
    /// Per thread count and level (L3 absent without an L3).
    pub all: Vec<Ceiling>,
}

impl Ceilings {
    /// Where a GEMV's weights live: see the module documentation.
    pub fn level_for(&self, weight_bytes: usize, threads: usize, cold: bool) -> Level {
        if cold {
            Level::Dram
        } else if weight_bytes <= threads.saturating_mul(self.caches.l2) / 2 {
            Level::L2
        } else if self.caches.l3.is_some_and(|l3| weight_bytes <= l3 / 2) {
            Level::L3
        } else {
            Level::Dram
        }
    }

    /// The ceiling for `threads` at `level` (falls back to DRAM when a level was not
    /// probed).
    pub fn get(&self, threads: usize, level: Level) -> Option<&Ceiling> {
        let find = |l| {
            self.all
                .iter()
                .find(|c| c.threads == threads && c.level == l)
        };
        find(level).or_else(|| find(Level::Dram))
    }
}

/// The buffer size probed at `level` with `threads` threads.
fn buffer_bytes(caches: &Caches, level: Level, threads: usize, dram_bytes: usize) -> usize {
    match level {
        Level::L2 => threads * caches.l2 / 2,
        Level::L3 => (caches.llc() / 4).max(2 * threads * caches.l2),
        Level::Dram => dram_bytes,
    }
}

/// The default DRAM buffer: 4 x LLC, at least 256 MiB, at most 512 MiB.
pub fn default_dram_bytes(caches: &Caches) -> usize {
    (4 * caches.llc()).clamp(256 * MIB, 512 * MIB)
}

/// Measures every level for every `(threads, pool)` (pool `None`: one thread, the
/// calling one). `progress` is told what is being measured.
pub fn measure(
    caches: Caches,
    pools: &[(usize, Option<&ThreadPool>)],
    dram_bytes: usize,
    mut progress: impl FnMut(&str),
) -> Result<Ceilings, CliError> {
    let mut all = Vec::new();
    let levels: Vec<Level> = Level::ALL
        .into_iter()
        .filter(|&l| l != Level::L3 || caches.l3.is_some())
        .collect();
    // One buffer per level, as large as the most threads need, filled with non-zero
    // data (untouched pages would all map the same zero page and read from cache).
    let most = pools.iter().map(|p| p.0).max().unwrap_or(1);
    for &level in &levels {
        let largest = buffer_bytes(&caches, level, most, dram_bytes);
        progress(&format!(
            "measuring {} read bandwidth ({} buffer)",
            level.label(),
            bytes_text(largest)
        ));
        let buf = filled(largest / 8)?;
        for &(threads, pool) in pools {
            let bytes = buffer_bytes(&caches, level, threads, dram_bytes) / 64 * 64;
            let words = &buf[..bytes / 8];
            let passes = if level == Level::Dram {
                1
            } else {
                (8 * MIB * threads).div_ceil(bytes.max(1)).max(1)
            };
            let samples = if level == Level::Dram { 5 } else { 15 };
            let gbps = probe(words, threads, pool, passes, samples);
            all.push(Ceiling {
                threads,
                level,
                buffer_bytes: bytes,
                gbps: percentile(&gbps, 0.5),
                p10_gbps: percentile(&gbps, 0.1),
                p90_gbps: percentile(&gbps, 0.9),
                samples,
            });
        }
    }
    Ok(Ceilings { caches, all })
}

fn filled(words: usize) -> Result<Vec<u64>, CliError> {
    let mut v = Vec::new();
    v.try_reserve_exact(words).map_err(|_| {
        CliError::Run(format!(
            "cannot allocate {} for the bandwidth probe (try a smaller --dram-mib)",
            bytes_text(words * 8)
        ))
    })?;
    v.extend((0..words as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
    Ok(v)
}

/// Sorted bandwidth samples (GB/s) of `threads` threads each reading a disjoint part of
/// `words` `passes` times.
fn probe(
    words: &[u64],
    threads: usize,
    pool: Option<&ThreadPool>,
    passes: usize,
    samples: usize,
) -> Vec<f64> {
    let parts: Vec<&[u64]> = words.chunks(words.len().div_ceil(threads).max(1)).collect();
    let bytes = (words.len() * 8 * passes) as f64;
    let sample = || -> Duration {
        match pool {
            None => read_passes(words, passes),
            Some(pool) => {
                let barrier = Barrier::new(pool.current_num_threads());
                pool.broadcast(|ctx| {
                    barrier.wait();
                    parts
                        .get(ctx.index())
                        .map_or(Duration::ZERO, |p| read_passes(p, passes))
                })
                .into_iter()
                .max()
                .unwrap_or_default()
            }
        }
    };
    sample(); // warm-up: pages faulted in, caches filled
    let mut gbps: Vec<f64> = (0..samples)
        .map(|_| bytes / sample().as_secs_f64().max(1e-9) / 1e9)
        .collect();
    gbps.sort_by(f64::total_cmp);
    gbps
}

/// Reads `words` `passes` times; returns the time taken.
fn read_passes(words: &[u64], passes: usize) -> Duration {
    let t = Instant::now();
    let mut s = 0u64;
    for _ in 0..passes {
        s ^= read_sum(black_box(words));
    }
    black_box(s);
    t.elapsed()
}

/// A wrapping sum with 16 independent accumulators: loads, and adds that rustc turns
/// into vector adds, so the loop runs as fast as the memory feeds it.
#[inline(never)]
fn read_sum(words: &[u64]) -> u64 {
    const LANES: usize = 16;
    let chunks = words.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(0u64, |a, &b| a.wrapping_add(b));
    let mut acc = [0u64; LANES];
    for c in chunks {
        for (a, &w) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(w);
        }
    }
    acc.iter().fold(tail, |a, &b| a.wrapping_add(b))
}

/// Linearly interpolated percentile `p` of sorted, non-empty samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024K\n"), Some(1 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(bytes_text(1 << 20), "1 MiB");
        assert_eq!(bytes_text(512 << 10), "512 KiB");
        assert_eq!(bytes_text(9_437_184 + 3), "9.4 MB");
    }

    #[test]
    fn read_sum_sums() {
        let v: Vec<u64> = (1..=37).collect();
        assert_eq!(read_sum(&v), 37 * 38 / 2);
    }

    #[test]
    fn levels_follow_the_half_capacity_rule() {
        let c = Ceilings {
            caches: Caches {
                l2: MIB,
                l3: Some(32 * MIB),
                detected: true,
            },
            all: Vec::new(),
        };
        assert_eq!(c.level_for(MIB / 2, 1, false), Level::L2);
        assert_eq!(c.level_for(MIB, 1, false), Level::L3);
        assert_eq!(c.level_for(MIB, 2, false), Level::L2);
        assert_eq!(c.level_for(16 * MIB, 1, false), Level::L3);
        assert_eq!(c.level_for(16 * MIB + 1, 1, false), Level::Dram);
        assert_eq!(c.level_for(1024, 1, true), Level::Dram);
    }

    #[test]
    fn probe_measures_something() {
        let caches = Caches {
            l2: 64 << 10,
            l3: Some(256 << 10),
            detected: false,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let c = measure(caches, &[(1, None), (2, Some(&pool))], 4 * MIB, |_| {}).unwrap();
        assert_eq!(c.all.len(), 6);
        assert!(c
            .all
            .iter()
            .all(|c| c.gbps > 0.0 && c.p10_gbps <= c.p90_gbps));
        assert_eq!(c.get(2, Level::L3).unwrap().buffer_bytes, 256 << 10);
    }
}
