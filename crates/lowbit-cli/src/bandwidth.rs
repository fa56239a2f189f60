//! The machine's own read bandwidth, measured at the start of `lowbit bench`: the
//! ceilings its results are compared against, and where each memory level ends.
//!
//! **The ladder.** For each thread count `T`, read bandwidth is measured at buffer
//! sizes from `64 KiB x T` up to the ladder's top (`--dram-mib`, by default 4 x the
//! last-level cache sysfs reports, at least 256 MiB, at most 512 MiB), a factor of
//! sqrt(2) apart. Each size is read by summing its `u64`s with 16 independent
//! accumulators (safe Rust that rustc vectorizes), `T` threads each reading a disjoint
//! part; a sample reads the buffer often enough to cover at least 8 MiB per thread,
//! after one untimed sample (which also brings the buffer into the caches it fits).
//! The ladder is walked five times (up, down, up, ...), each size sampled for about
//! 10 ms per round (3 to 11 samples), so that a disturbance lasting a while (another
//! process, a frequency change) touches every size a little rather than carving a
//! false step into a few. A size's bandwidth is the median over all its samples of
//! `bytes read / slowest thread's time`.
//!
//! **The levels** are found in the ladder alone ([`find_levels`]):
//!
//! - DRAM is the top of the ladder: the largest size and the sizes below it that read
//!   within [`FLAT`] of each other. The top must be far beyond every cache: below it
//!   the bandwidth keeps falling as fewer and fewer lines survive in the last-level
//!   cache.
//! - A cache level is a plateau: a run of at least [`MIN_PLATEAU`] consecutive sizes
//!   (a doubling of the size) whose bandwidths lie within [`FLAT`] of each other, found
//!   longest first. Levels must step down: a plateau that is not at least [`STEP`]
//!   faster than the next slower level is dropped (the shorter of two such plateaus
//!   goes, never DRAM), which removes dips between levels and noise.
//! - Two cache plateaus are L2 and L3. One is L3 when sysfs lists an L3 and the
//!   plateau reaches beyond the `T` cores' L2 sysfs reports, else L2. With more than
//!   two, the slowest two are L2 and L3 (the faster ones, e.g. an L1 with a large
//!   first size, are reported and not used).
//! - A level's ceiling is the median of its sizes' medians (p10 and p90 over all their
//!   samples). It holds hot weights up to where the ladder crosses the geometric mean
//!   of its ceiling and the next slower level's (interpolated between sizes).
//!
//! sysfs (`/sys/devices/system/cpu/cpu0/cache`) is only a hint: it sets the ladder's
//! default top and names a lone cache plateau, and where it disagrees with the ladder
//! (some VMs report the host's whole L3, e.g. 480 MiB) a remark says so.
//!
//! **Filing a result** ([`Ceilings::file`]): `cold` results live in DRAM; `hot`
//! results in the fastest level whose limit holds their weight bytes, else DRAM. A
//! result faster than its level's ceiling is explained in a note: within the ceiling's
//! p90 (spread), or, when hot, re-filed under the slowest faster level whose ceiling
//! it does not exceed (the weights partly stayed there), or above every ceiling.

use std::hint::black_box;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use rayon::ThreadPool;

use crate::CliError;

const MIB: usize = 1 << 20;

/// The smallest ladder size per thread.
pub const LADDER_START: usize = 64 << 10;

/// A plateau's (and the DRAM run's) fastest size reads at most this factor faster than
/// its slowest.
pub const FLAT: f64 = 1.10;

/// A level must read at least this factor faster than the next slower level.
pub const STEP: f64 = 1.08;

/// The fewest sizes a cache plateau spans (three sizes: a doubling).
pub const MIN_PLATEAU: usize = 3;

/// Rounds over the ladder's sizes.
const ROUNDS: usize = 5;

/// Time spent sampling one size in one round.
const ROUND_BUDGET: Duration = Duration::from_millis(10);

/// Samples per size and round: at least, at most.
const ROUND_SAMPLES: (usize, usize) = (3, 11);

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

/// Cache sizes in bytes as sysfs reports them: a hint, never trusted alone.
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
            "sysfs, a hint only: the levels come from the ladder below"
        } else {
            "assumed: no sysfs cache info; the levels come from the ladder below"
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

/// One size of a ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The buffer's total size (all threads together).
    pub bytes: usize,
    /// Median read bandwidth, GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// Every sample's bandwidth, sorted.
    pub samples: Vec<f64>,
    /// The level this size was found to belong to (`None`: between levels).
    pub level: Option<Level>,
}

impl Point {
    /// A point from its samples (any order, at least one).
    pub fn new(bytes: usize, mut samples: Vec<f64>) -> Point {
        samples.sort_by(f64::total_cmp);
        Point {
            bytes,
            gbps: percentile(&samples, 0.5),
            samples,
            level: None,
        }
    }

    /// 10th percentile of the samples.
    pub fn p10(&self) -> f64 {
        percentile(&self.samples, 0.1)
    }

    /// 90th percentile of the samples.
    pub fn p90(&self) -> f64 {
        percentile(&self.samples, 0.9)
    }
}

/// One level found on one thread count's ladder: its ceiling and its sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceiling {
    /// Threads reading.
    pub threads: usize,
    /// The level.
    pub level: Level,
    /// Median over the level's sizes of their median bandwidth, GB/s.
    pub gbps: f64,
    /// 10th percentile of all the level's samples.
    pub p10_gbps: f64,
    /// 90th percentile of all the level's samples.
    pub p90_gbps: f64,
    /// Samples taken over the level's sizes.
    pub samples: usize,
    /// Ladder sizes that make up the level.
    pub points: usize,
    /// The smallest of them.
    pub min_bytes: usize,
    /// The largest of them.
    pub max_bytes: usize,
    /// Hot weights up to this many bytes are filed under this level (`None`: no limit,
    /// the last level).
    pub limit_bytes: Option<usize>,
    /// How the level was found, in words.
    pub found: String,
}

/// One thread count's ladder and what was found in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    /// Threads reading.
    pub threads: usize,
    /// The sizes, smallest first.
    pub points: Vec<Point>,
    /// The levels found, fastest (nearest) first; DRAM last.
    pub levels: Vec<Ceiling>,
    /// Observations worth a line in the report (disagreements with sysfs, levels not
    /// used).
    pub remarks: Vec<String>,
}

/// The ladders of every thread count in a run.
#[derive(Debug, Clone)]
pub struct Ceilings {
    /// One per thread count.
    pub ladders: Vec<Ladder>,
}

/// Where a result is filed, and why when it reads faster than that level's ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Filing<'a> {
    /// The level.
    pub level: Level,
    /// Its ceiling for the result's thread count (`None` when none was measured).
    pub ceiling: Option<&'a Ceiling>,
    /// Set whenever the result is above the ceiling of the level its size (or `cold`)
    /// names.
    pub note: Option<String>,
}

impl Ceilings {
    /// The ladder of `threads`.
    pub fn ladder(&self, threads: usize) -> Option<&Ladder> {
        self.ladders.iter().find(|l| l.threads == threads)
    }

    /// Every level of every ladder.
    pub fn all(&self) -> impl Iterator<Item = &Ceiling> {
        self.ladders.iter().flat_map(|l| &l.levels)
    }

    /// The ceiling of `level` for `threads`, if that ladder found the level.
    pub fn get(&self, threads: usize, level: Level) -> Option<&Ceiling> {
        self.ladder(threads)?
            .levels
            .iter()
            .find(|c| c.level == level)
    }

    /// Where weights of `weight_bytes` live: DRAM when `cold`, else the fastest level
    /// whose limit holds them (DRAM when none does).
    pub fn level_for(&self, weight_bytes: usize, threads: usize, cold: bool) -> Level {
        if cold {
            return Level::Dram;
        }
        self.ladder(threads)
            .and_then(|l| {
                l.levels
                    .iter()
                    .find(|c| c.limit_bytes.is_none_or(|lim| weight_bytes <= lim))
            })
            .map_or(Level::Dram, |c| c.level)
    }

    /// Files a result of `gbps` (weight bytes per second / 1e9): see the module
    /// documentation.
    pub fn file(&self, weight_bytes: usize, threads: usize, cold: bool, gbps: f64) -> Filing<'_> {
        let level = self.level_for(weight_bytes, threads, cold);
        let Some(c) = self.get(threads, level) else {
            return Filing {
                level,
                ceiling: None,
                note: None,
            };
        };
        let keep = |note: Option<String>| Filing {
            level,
            ceiling: Some(c),
            note,
        };
        // NaN (no time measured) is never above a ceiling.
        if gbps.is_nan() || gbps <= c.gbps {
            return keep(None);
        }
        let name = level.label();
        if gbps <= c.p90_gbps {
            return keep(Some(format!(
                "above the {name} median, within its p90 (measurement spread)"
            )));
        }
        if cold {
            return keep(Some(format!(
                "above the {name} ceiling and its p90: this kernel streamed memory faster \
                 than the probe's sequential sum"
            )));
        }
        // Hot: the faster levels, nearest first.
        let faster: Vec<&Ceiling> = self
            .ladder(threads)
            .map(|l| l.levels.iter().filter(|f| f.level < level).rev().collect())
            .unwrap_or_default();
        if let Some(f) = faster.iter().find(|f| gbps <= f.gbps) {
            return Filing {
                level: f.level,
                ceiling: Some(f),
                note: Some(format!(
                    "re-filed from {name}: above its ceiling, so the weights partly \
                     stayed in {}",
                    f.level.label()
                )),
            };
        }
        let fastest = faster.last().copied().unwrap_or(c);
        Filing {
            level: fastest.level,
            ceiling: Some(fastest),
            note: Some(format!(
                "above every measured ceiling (the fastest is {} {:.3} GB/s): the weights \
                 fit a level faster than the ladder reaches, e.g. L1",
                fastest.level.label(),
                fastest.gbps
            )),
        }
    }
}

/// The ladder's sizes for `threads` threads up to `top` bytes: `64 KiB x threads`
/// times powers of sqrt(2), each a multiple of `4 KiB x threads` (whole pages per
/// thread), and `top` (rounded down to that multiple) last; never above `top`.
pub fn ladder_sizes(threads: usize, top: usize) -> Vec<usize> {
    let unit = 4096 * threads.max(1);
    let start = LADDER_START * threads.max(1);
    if top < unit {
        // Less than a page per thread: the one size there is.
        return vec![top];
    }
    let top = top / unit * unit;
    let mut sizes = Vec::new();
    for i in 0.. {
        let s = (start as f64 * 2f64.powf(f64::from(i) / 2.0)) as usize / unit * unit;
        if s >= top {
            break;
        }
        sizes.push(s);
    }
    // Top last; a grid size within 19% of it would be a near-duplicate.
    while sizes
        .last()
        .is_some_and(|&s| top as f64 / (s as f64) < 1.19)
    {
        sizes.pop();
    }
    sizes.push(top);
    sizes
}

/// The default ladder top (and `cold` rotation): 4 x the LLC sysfs reports, at least
/// 256 MiB, at most 512 MiB.
pub fn default_dram_bytes(caches: &Caches) -> usize {
    (4 * caches.llc()).clamp(256 * MIB, 512 * MIB)
}

/// Measures one ladder per `(threads, pool)` (pool `None`: one thread, the calling
/// one) up to `top_bytes` and finds its levels. `progress` is told what is being
/// measured.
pub fn measure(
    caches: Caches,
    pools: &[(usize, Option<&ThreadPool>)],
    top_bytes: usize,
    mut progress: impl FnMut(&str),
) -> Result<Ceilings, CliError> {
    progress(&format!(
        "filling a {} buffer for the read-bandwidth ladder",
        bytes_text(top_bytes)
    ));
    // Non-zero data: untouched pages would all map the same zero page and read from
    // cache.
    let buf = filled(top_bytes / 8)?;
    let mut ladders = Vec::new();
    for &(threads, pool) in pools {
        let sizes = ladder_sizes(threads, buf.len() * 8);
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); sizes.len()];
        // Rounds up, down and up again: a disturbance (another process, a frequency
        // change) lasting a while then touches every size a little instead of a few
        // sizes a lot, and does not carve a false step into the ladder.
        for round in 0..ROUNDS {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..sizes.len()).collect()
            } else {
                (0..sizes.len()).rev().collect()
            };
            for (done, i) in order.into_iter().enumerate() {
                let bytes = sizes[i];
                progress(&format!(
                    "read bandwidth, {threads} thread(s), round {}/{ROUNDS}: {} ({}/{})",
                    round + 1,
                    approx_size(bytes),
                    done + 1,
                    sizes.len()
                ));
                let words = &buf[..bytes / 8];
                let passes = (8 * MIB * threads).div_ceil(bytes.max(1)).max(1);
                samples[i].extend(probe(words, threads, pool, passes));
            }
        }
        let points = sizes
            .iter()
            .zip(samples)
            .map(|(&bytes, s)| Point::new(bytes, s))
            .collect();
        ladders.push(find_levels(threads, points, &caches));
    }
    Ok(Ceilings { ladders })
}

/// Whether `points` read within [`FLAT`] of each other.
fn flat(points: &[Point]) -> bool {
    let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (lo.min(p.gbps), hi.max(p.gbps))
    });
    !points.is_empty() && lo > 0.0 && hi <= lo * FLAT
}

/// The longest flat run of at least [`MIN_PLATEAU`] points inside `range` (the
/// fastest of equally long ones).
fn longest_flat_run(
    points: &[Point],
    range: std::ops::Range<usize>,
) -> Option<std::ops::Range<usize>> {
    let mut best: Option<std::ops::Range<usize>> = None;
    for start in range.clone() {
        let mut end = start;
        while end < range.end && flat(&points[start..=end]) {
            end += 1;
        }
        let run = start..end;
        let better = match &best {
            None => true,
            Some(b) => {
                run.len() > b.len()
                    || (run.len() == b.len()
                        && median_gbps(&points[run.clone()]) > median_gbps(&points[b.clone()]))
            }
        };
        if run.len() >= MIN_PLATEAU && better {
            best = Some(run);
        }
    }
    best
}

fn median_gbps(points: &[Point]) -> f64 {
    median_of(points.iter().map(|p| p.gbps).collect())
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn sorted_samples(v: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    v
}

/// `64 KiB`, `362 KiB`, `19.3 MiB`: sizes to about three digits.
pub fn approx_size(b: usize) -> String {
    let mib = b as f64 / MIB as f64;
    if mib >= 100.0 {
        format!("{mib:.0} MiB")
    } else if mib >= 10.0 {
        format!("{mib:.1} MiB")
    } else if mib >= 1.0 {
        format!("{mib:.2} MiB")
    } else {
        format!("{:.0} KiB", b as f64 / 1024.0)
    }
}

/// Finds the levels of one ladder (`points` smallest first, every bandwidth positive):
/// see the module documentation. `hint` is sysfs.
pub fn find_levels(threads: usize, mut points: Vec<Point>, hint: &Caches) -> Ladder {
    let mut remarks = Vec::new();
    for p in &mut points {
        p.level = None;
    }
    if points.is_empty() {
        return Ladder {
            threads,
            points,
            levels: Vec::new(),
            remarks,
        };
    }
    let n = points.len();
    let span = |g: &[usize]| {
        format!(
            "{} to {}",
            approx_size(points[g[0]].bytes),
            approx_size(points[g[g.len() - 1]].bytes)
        )
    };
    let speed = |g: &[usize]| median_of(g.iter().map(|&i| points[i].gbps).collect());
    // DRAM: the top, extended down while flat.
    let mut dram_start = n - 1;
    while dram_start > 0 && flat(&points[dram_start - 1..]) {
        dram_start -= 1;
    }
    // Cache plateaus below it, longest first; then in size order, DRAM last. A group
    // is the indices of its points.
    let mut runs = Vec::new();
    let mut todo = Vec::new();
    todo.push(0..dram_start);
    while let Some(seg) = todo.pop() {
        if let Some(run) = longest_flat_run(&points, seg.clone()) {
            todo.push(seg.start..run.start);
            todo.push(run.end..seg.end);
            runs.push(run);
        }
    }
    runs.sort_by_key(|r| r.start);
    runs.push(dram_start..n);
    let mut groups: Vec<Vec<usize>> = runs.into_iter().map(|r| r.collect()).collect();
    // Levels step down by at least STEP. Two cache plateaus that read alike are one
    // level (e.g. an L2 and an L3 of the same speed); a plateau slower than the next
    // (a dip between levels) or too close to DRAM's speed is dropped.
    loop {
        let gbps: Vec<f64> = groups.iter().map(|g| speed(g)).collect();
        let last = groups.len() - 1;
        let Some(i) = (0..last).find(|&i| gbps[i] < gbps[i + 1] * STEP) else {
            break;
        };
        if i + 1 == last || gbps[i] * STEP < gbps[i + 1] {
            let drop = if i + 1 == last || groups[i].len() < groups[i + 1].len() {
                i
            } else {
                i + 1
            };
            remarks.push(format!(
                "{} ({:.3} GB/s) is flat but not {:.0}% faster than the next slower \
                 plateau, nor slower than the one before: dropped (a dip between levels, \
                 or noise)",
                span(&groups[drop]),
                gbps[drop],
                (STEP - 1.0) * 100.0
            ));
            groups.remove(drop);
        } else {
            remarks.push(format!(
                "{} and {} read alike ({:.3} and {:.3} GB/s): one level",
                span(&groups[i]),
                span(&groups[i + 1]),
                gbps[i],
                gbps[i + 1]
            ));
            let next = groups.remove(i + 1);
            groups[i].extend(next);
        }
    }
    // More than two cache levels: keep the two longest (of equal length, the faster).
    while groups.len() > 3 {
        let caches = &groups[..groups.len() - 1];
        let drop = (0..caches.len())
            .min_by(|&a, &b| {
                caches[a]
                    .len()
                    .cmp(&caches[b].len())
                    .then(speed(&caches[a]).total_cmp(&speed(&caches[b])))
            })
            .expect("cache levels");
        remarks.push(format!(
            "a third cache plateau, {} ({:.3} GB/s), is not used (an L1, or noise)",
            span(&groups[drop]),
            speed(&groups[drop])
        ));
        groups.remove(drop);
    }
    let names: Vec<Level> = match groups.len() - 1 {
        0 => vec![Level::Dram],
        1 => {
            let g = &groups[0];
            let reaches = points[g[g.len() - 1]].bytes > threads * hint.l2;
            let one = if hint.l3.is_some() && reaches {
                Level::L3
            } else {
                Level::L2
            };
            vec![one, Level::Dram]
        }
        _ => vec![Level::L2, Level::L3, Level::Dram],
    };
    if names.len() == 1 && n > 1 {
        remarks.push("no step down found: every size read at about the same speed".into());
    }

    let mut levels = Vec::new();
    for (li, (g, &level)) in groups.iter().zip(&names).enumerate() {
        let gbps = speed(g);
        let pooled = sorted_samples(g.iter().flat_map(|&i| points[i].samples.iter().copied()));
        let next = groups.get(li + 1);
        let limit_bytes = next.map(|next| {
            let slower = speed(next);
            crossing(&points, g[g.len() - 1], next[0], (gbps * slower).sqrt())
        });
        let found = match next {
            Some(next) => format!(
                "plateau of {} sizes, {:.2}x the next level",
                g.len(),
                gbps / speed(next)
            ),
            None if g.len() > 1 => format!(
                "top of the ladder and {} size{} below within {:.0}%",
                g.len() - 1,
                if g.len() == 2 { "" } else { "s" },
                (FLAT - 1.0) * 100.0
            ),
            None => "top of the ladder".to_string(),
        };
        levels.push(Ceiling {
            threads,
            level,
            gbps,
            p10_gbps: percentile(&pooled, 0.1),
            p90_gbps: percentile(&pooled, 0.9),
            samples: pooled.len(),
            points: g.len(),
            min_bytes: points[g[0]].bytes,
            max_bytes: points[g[g.len() - 1]].bytes,
            limit_bytes,
            found,
        });
    }
    for (g, &level) in groups.iter().zip(&names) {
        for &i in g {
            points[i].level = Some(level);
        }
    }

    // Where sysfs disagrees.
    if let (true, Some(l3)) = (hint.detected, hint.l3) {
        let top = points[n - 1].bytes;
        let dram = &levels[levels.len() - 1];
        if top <= l3 {
            remarks.push(format!(
                "the ladder's top ({}) is within the L3 sysfs reports ({}): its last level \
                 may be a cache (raise --dram-mib)",
                approx_size(top),
                approx_size(l3)
            ));
        } else if dram.min_bytes < l3 / 2 && levels.len() > 1 {
            remarks.push(format!(
                "sysfs reports an L3 of {}, but {} already reads at DRAM speed: sysfs is \
                 not used (a VM may show the host's cache)",
                approx_size(l3),
                approx_size(dram.min_bytes)
            ));
        }
        if !names.contains(&Level::L3) && names.len() > 1 {
            remarks.push(format!(
                "sysfs reports an L3 of {}; the ladder found no plateau for it",
                approx_size(l3)
            ));
        }
    }
    Ladder {
        threads,
        points,
        levels,
        remarks,
    }
}

/// The size (log-log interpolated) at which the ladder first reads below `threshold`
/// after point `from`, looking no further than point `to` (`to`'s size when it never
/// does).
fn crossing(points: &[Point], from: usize, to: usize, threshold: f64) -> usize {
    for j in from + 1..=to {
        let (a, b) = (&points[j - 1], &points[j]);
        if b.gbps < threshold {
            if a.gbps <= threshold {
                return a.bytes;
            }
            let f = (a.gbps / threshold).ln() / (a.gbps / b.gbps).ln();
            let (la, lb) = ((a.bytes as f64).ln(), (b.bytes as f64).ln());
            return (la + f * (lb - la)).exp() as usize;
        }
    }
    points[to].bytes
}

fn filled(words: usize) -> Result<Vec<u64>, CliError> {
    let mut v = Vec::new();
    v.try_reserve_exact(words).map_err(|_| {
        CliError::Run(format!(
            "cannot allocate {} for the bandwidth ladder (try a smaller --dram-mib)",
            bytes_text(words * 8)
        ))
    })?;
    v.extend((0..words as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
    Ok(v)
}

/// Bandwidth samples (GB/s) of `threads` threads each reading a disjoint part of
/// `words` `passes` times: one untimed sample, then about [`ROUND_BUDGET`] of samples
/// ([`ROUND_SAMPLES`]).
fn probe(words: &[u64], threads: usize, pool: Option<&ThreadPool>, passes: usize) -> Vec<f64> {
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
    let warm = sample(); // pages faulted in, caches filled
    let (least, most) = ROUND_SAMPLES;
    let count =
        ((ROUND_BUDGET.as_secs_f64() / warm.as_secs_f64().max(1e-9)) as usize).clamp(least, most);
    (0..count)
        .map(|_| bytes / sample().as_secs_f64().max(1e-9) / 1e9)
        .collect()
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

    const KIB: usize = 1024;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024K\n"), Some(1 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(bytes_text(1 << 20), "1 MiB");
        assert_eq!(bytes_text(512 << 10), "512 KiB");
        assert_eq!(bytes_text(9_437_184 + 3), "9.4 MB");
        assert_eq!(approx_size(362 * KIB + 7), "362 KiB");
        assert_eq!(approx_size(19_763 * KIB), "19.3 MiB");
        assert_eq!(approx_size(2 * MIB), "2.00 MiB");
        assert_eq!(approx_size(181 * MIB + 5), "181 MiB");
    }

    #[test]
    fn read_sum_sums() {
        let v: Vec<u64> = (1..=37).collect();
        assert_eq!(read_sum(&v), 37 * 38 / 2);
    }

    #[test]
    fn ladder_sizes_step_by_sqrt2_and_end_at_the_top() {
        let s = ladder_sizes(1, 256 * MIB);
        // 64 KiB x sqrt(2) = 90.5 KiB, down to whole pages: 88 KiB.
        assert_eq!((s[0], s[1], s[2]), (64 * KIB, 88 * KIB, 128 * KIB));
        assert_eq!(*s.last().unwrap(), 256 * MIB);
        assert_eq!(s.len(), 25);
        assert!(s
            .windows(2)
            .all(|w| w[1] > w[0] && w[1] as f64 / w[0] as f64 <= 1.5));
        let two = ladder_sizes(2, 8 * MIB);
        assert_eq!((two[0], *two.last().unwrap()), (128 * KIB, 8 * MIB));
        assert!(two.iter().all(|b| b % (8 * KIB) == 0));
        // A top just above a grid size replaces it; a tiny top is one size.
        let odd = ladder_sizes(1, 260 * MIB);
        assert_eq!(*odd.last().unwrap(), 260 * MIB);
        let before = odd[odd.len() - 2];
        assert!((181 * MIB..182 * MIB).contains(&before), "{before}");
        assert_eq!(ladder_sizes(1, 4 * KIB), [4 * KIB]);
        assert_eq!(ladder_sizes(4, 100 * KIB), [96 * KIB]);
        assert_eq!(ladder_sizes(1000, MIB), [MIB]);
    }

    /// A ladder from (KiB, GB/s) pairs, each point with three samples around its
    /// median.
    fn ladder(curve: &[(usize, f64)]) -> Vec<Point> {
        curve
            .iter()
            .map(|&(kib, g)| Point::new(kib * KIB, vec![g * 0.98, g, g * 1.01]))
            .collect()
    }

    /// This development VM's one-thread ladder (Zen 4, 1 MiB L2, 32 MiB L3): the L2
    /// plateau, a dip while L2 and L3 share the data, the L3 plateau, a slow fall to
    /// DRAM.
    const ZEN4_1T: [(usize, f64); 25] = [
        (64, 114.6),
        (90, 115.1),
        (128, 114.8),
        (181, 115.1),
        (256, 115.4),
        (362, 114.7),
        (512, 105.8),
        (724, 94.2),
        (1024, 85.5),
        (1448, 89.5),
        (2048, 99.2),
        (2896, 101.9),
        (4096, 101.3),
        (5792, 101.8),
        (8192, 101.6),
        (11585, 88.9),
        (16384, 58.7),
        (23170, 42.5),
        (32768, 35.6),
        (46340, 28.8),
        (65536, 27.8),
        (92681, 24.5),
        (131072, 23.6),
        (185363, 23.0),
        (262144, 23.9),
    ];

    fn zen4_hint(l3: usize) -> Caches {
        Caches {
            l2: MIB,
            l3: Some(l3),
            detected: true,
        }
    }

    fn names(l: &Ladder) -> Vec<Level> {
        l.levels.iter().map(|c| c.level).collect()
    }

    #[test]
    fn finds_l2_l3_and_dram_on_a_real_ladder() {
        let l = find_levels(1, ladder(&ZEN4_1T), &zen4_hint(32 * MIB));
        assert_eq!(names(&l), [Level::L2, Level::L3, Level::Dram], "{l:#?}");
        let (l2, l3, dram) = (&l.levels[0], &l.levels[1], &l.levels[2]);
        // 512 KiB (105.8) is within 10% of 115.4: still the plateau.
        assert_eq!(
            (l2.min_bytes, l2.max_bytes, l2.points),
            (64 * KIB, 512 * KIB, 7)
        );
        assert!((l2.gbps - 114.8).abs() < 1e-9, "{}", l2.gbps);
        assert_eq!(
            (l3.min_bytes, l3.max_bytes, l3.points),
            (2048 * KIB, 8192 * KIB, 5)
        );
        assert!((l3.gbps - 101.6).abs() < 1e-9);
        // The DRAM run: the top and the sizes within 10% of each other below it.
        assert_eq!(dram.min_bytes, 92681 * KIB);
        assert!((dram.gbps - 23.75).abs() < 1e-9, "{}", dram.gbps);
        // L2 holds up to where the ladder falls below sqrt(114.8 * 101.6) = 108 GB/s,
        // already at 512 KiB; L3 up to sqrt(101.6 * 23.75) = 49.1 GB/s, between 16 and
        // 23 MiB.
        assert_eq!(l2.limit_bytes, Some(512 * KIB));
        let l3_limit = l3.limit_bytes.unwrap();
        assert!((16 * MIB..23 * MIB).contains(&l3_limit), "{l3_limit}");
        assert_eq!(dram.limit_bytes, None);
        // p10 and p90 pool the samples (0.98, 1 and 1.01 x each median).
        assert!(l3.p10_gbps < l3.gbps && l3.gbps < l3.p90_gbps);
        assert_eq!(l3.samples, 15);
        // Every point is filed under its level or none (the transitions).
        let level_at = |kib: usize| {
            l.points
                .iter()
                .find(|p| p.bytes == kib * KIB)
                .unwrap()
                .level
        };
        assert_eq!(level_at(64), Some(Level::L2));
        assert_eq!(level_at(1024), None);
        assert_eq!(level_at(4096), Some(Level::L3));
        assert_eq!(level_at(46340), None);
        assert_eq!(level_at(262144), Some(Level::Dram));
        // The dip at 724 KiB-1.41 MiB (85-94 GB/s) is not flat enough to count.
        assert!(l.remarks.is_empty(), "{:?}", l.remarks);
        assert!(
            l3.found.starts_with("plateau of 5 sizes, 4.28x"),
            "{}",
            l3.found
        );
        assert!(
            dram.found.starts_with("top of the ladder and 3 sizes"),
            "{}",
            dram.found
        );
    }

    #[test]
    fn a_sysfs_l3_of_480_mib_is_not_trusted() {
        // The same machine as some VMs report it: the host's whole L3 (the ladder's
        // default top is then 512 MiB).
        let mut curve = ZEN4_1T.to_vec();
        curve.push((524288, 23.5));
        let l = find_levels(1, ladder(&curve), &zen4_hint(480 * MIB));
        let l3 = l.levels.iter().find(|c| c.level == Level::L3).unwrap();
        assert!(l3.limit_bytes.unwrap() < 24 * MIB);
        assert!(
            l.remarks
                .iter()
                .any(|r| r.contains("480 MiB") && r.contains("DRAM speed")),
            "{:?}",
            l.remarks
        );
        // A top within the reported L3 is said to be suspect.
        let l = find_levels(1, ladder(&ZEN4_1T), &zen4_hint(480 * MIB));
        assert!(l.remarks.iter().any(|r| r.contains("raise --dram-mib")));
    }

    #[test]
    fn cache_plateaus_that_read_alike_are_one_level_named_from_the_hint() {
        // L2 and L3 at the same speed, apart from a dip between them: one level.
        let curve: Vec<(usize, f64)> = ZEN4_1T
            .iter()
            .map(|&(k, g)| (k, if k <= 8192 && g > 99.0 { 100.0 } else { g }))
            .collect();
        let l = find_levels(1, ladder(&curve), &zen4_hint(32 * MIB));
        assert_eq!(names(&l), [Level::L3, Level::Dram], "{:?}", l.remarks);
        let one = &l.levels[0];
        assert_eq!((one.min_bytes, one.max_bytes), (64 * KIB, 8 * MIB));
        assert!(
            one.points >= 11 && (one.gbps - 100.0).abs() < 1e-9,
            "{one:?}"
        );
        assert!(l.remarks.iter().any(|r| r.contains("read alike")));
        assert_eq!(l.points[8].level, None); // the dip, 1 MiB
        let no_l3 = Caches {
            l3: None,
            ..zen4_hint(0)
        };
        let l = find_levels(1, ladder(&curve), &no_l3);
        assert_eq!(names(&l), [Level::L2, Level::Dram]);
        // Up to 512 KiB, then DRAM speed: within the L2 sysfs reports.
        let short: Vec<(usize, f64)> = ZEN4_1T
            .iter()
            .map(|&(k, g)| (k, if k <= 512 { 115.0 } else { g.min(24.0) }))
            .collect();
        let l = find_levels(1, ladder(&short), &zen4_hint(32 * MIB));
        assert_eq!(names(&l), [Level::L2, Level::Dram]);
        assert_eq!(l.levels[1].min_bytes, 724 * KIB);
        assert!(
            l.remarks.iter().any(|r| r.contains("no plateau")),
            "{:?}",
            l.remarks
        );
    }

    #[test]
    fn flat_curves_and_dips_make_no_levels() {
        // Everything at one speed: DRAM only.
        let flat: Vec<(usize, f64)> = ZEN4_1T.iter().map(|&(k, _)| (k, 50.0)).collect();
        let l = find_levels(1, ladder(&flat), &zen4_hint(32 * MIB));
        assert_eq!(names(&l), [Level::Dram]);
        assert_eq!(l.levels[0].min_bytes, 64 * KIB);
        assert!(l.remarks.iter().any(|r| r.contains("no step")));
        // A plateau slower than the next (a dip between levels) is dropped.
        let dip: Vec<(usize, f64)> = ZEN4_1T
            .iter()
            .map(|&(k, g)| (k, if (724..=1448).contains(&k) { 88.0 } else { g }))
            .collect();
        let l = find_levels(1, ladder(&dip), &zen4_hint(32 * MIB));
        assert_eq!(names(&l), [Level::L2, Level::L3, Level::Dram], "{l:#?}");
        assert_eq!(l.levels[1].min_bytes, 2048 * KIB);
        assert!(
            l.remarks.iter().any(|r| r.contains("dropped")),
            "{:?}",
            l.remarks
        );
        // One point, and none.
        let one = find_levels(1, ladder(&[(64, 10.0)]), &zen4_hint(32 * MIB));
        assert_eq!(names(&one), [Level::Dram]);
        assert!(find_levels(1, Vec::new(), &zen4_hint(32 * MIB))
            .levels
            .is_empty());
    }

    #[test]
    fn of_more_than_two_cache_plateaus_the_two_longest_stay() {
        // A two-thread ladder disturbed near its top: the L2 plateau, the L3 plateau,
        // and a false one at 64-128 MiB (another process stopped competing for DRAM).
        let curve = [
            (128, 218.0),
            (181, 216.0),
            (256, 218.0),
            (362, 221.0),
            (512, 222.0),
            (724, 221.0),
            (1024, 212.0),
            (1448, 143.0),
            (2048, 175.0),
            (2896, 180.0),
            (4096, 197.0),
            (5792, 190.0),
            (8192, 198.0),
            (11585, 162.0),
            (16384, 82.1),
            (23170, 72.1),
            (32768, 65.8),
            (46340, 60.9),
            (65536, 48.6),
            (92681, 47.3),
            (131072, 45.4),
            (185363, 26.0),
            (262144, 27.8),
        ];
        let l = find_levels(2, ladder(&curve), &zen4_hint(32 * MIB));
        let got: Vec<(Level, usize)> = l.levels.iter().map(|c| (c.level, c.min_bytes)).collect();
        assert_eq!(
            got,
            [
                (Level::L2, 128 * KIB),
                (Level::L3, 2896 * KIB),
                (Level::Dram, 185363 * KIB)
            ],
            "{:?}",
            l.remarks
        );
        assert!(l.remarks.iter().any(|r| r.contains("not used")));
    }

    fn zen4_ceilings() -> Ceilings {
        Ceilings {
            ladders: vec![find_levels(1, ladder(&ZEN4_1T), &zen4_hint(32 * MIB))],
        }
    }

    #[test]
    fn results_are_filed_by_size_and_notes_explain_every_excess() {
        let c = zen4_ceilings();
        assert_eq!(c.level_for(9 * KIB, 1, false), Level::L2);
        assert_eq!(c.level_for(MIB, 1, false), Level::L3);
        assert_eq!(c.level_for(9_437_184, 1, false), Level::L3); // 4096x4096 INT4 g32
        assert_eq!(c.level_for(16_777_216 + 32_768, 1, false), Level::L3); // INT8 per row
        assert_eq!(c.level_for(25 * MIB, 1, false), Level::Dram); // 11008x4096 INT4 g32
        assert_eq!(c.level_for(9 * KIB, 1, true), Level::Dram);
        assert_eq!(c.level_for(9 * KIB, 3, false), Level::Dram); // no ladder: DRAM
        assert!(c.get(3, Level::Dram).is_none());
        assert_eq!(c.file(9 * KIB, 3, false, 1.0).ceiling, None);

        // Below the ceiling: no note.
        let f = c.file(9 * KIB, 1, false, 50.0);
        assert_eq!((f.level, f.note.as_deref()), (Level::L2, None));
        // Within the p90 (samples at 0.98, 1, 1.01 x the median).
        let dram = c.get(1, Level::Dram).unwrap();
        let f = c.file(25 * MIB, 1, false, dram.gbps * 1.005);
        assert_eq!(f.level, Level::Dram);
        assert!(f.note.unwrap().contains("p90"));
        // Hot above DRAM: re-filed under L3.
        let f = c.file(25 * MIB, 1, false, 26.7);
        assert_eq!(f.level, Level::L3);
        assert!(f.ceiling.unwrap().gbps >= 26.7);
        assert!(f.note.unwrap().starts_with("re-filed from DRAM"));
        // Hot above L3 but below L2: re-filed under L2.
        assert_eq!(c.file(MIB, 1, false, 110.0).level, Level::L2);
        // Above everything: filed under the fastest, with a note.
        let f = c.file(MIB, 1, false, 500.0);
        assert_eq!(f.level, Level::L2);
        assert!(f.note.unwrap().contains("above every measured ceiling"));
        // Cold is never re-filed.
        let f = c.file(9 * KIB, 1, true, 30.0);
        assert_eq!(f.level, Level::Dram);
        assert!(f.note.unwrap().contains("streamed memory faster"));
    }

    #[test]
    fn measure_runs_a_ladder_per_thread_count() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let c = measure(
            zen4_hint(32 * MIB),
            &[(1, None), (2, Some(&pool))],
            2 * MIB,
            |_| {},
        )
        .unwrap();
        assert_eq!(c.ladders.len(), 2);
        assert_eq!(c.ladders[0].points.len(), ladder_sizes(1, 2 * MIB).len());
        assert_eq!(c.ladders[1].points[0].bytes, 128 * KIB);
        for l in &c.ladders {
            assert!(l.points.iter().all(|p| p.gbps > 0.0 && p.p10() <= p.p90()));
            // Five rounds of 3 to 11 samples.
            assert!((15..=55).contains(&l.points[0].samples.len()));
            assert_eq!(l.levels.last().unwrap().level, Level::Dram);
            assert!(l.levels.iter().all(|c| c.p10_gbps <= c.p90_gbps));
        }
    }
}
