//! A roofline chart (SVG, written by hand) of a `lowbit bench` run: one bar per result
//! at its weight GB/s on a log scale, grouped by shape, m and cache and coloured by ISA
//! (A8 results outlined), each topped by a tick at its own ceiling, and a dashed line
//! per measured ceiling (each level the read-bandwidth ladder found, per thread count;
//! a result's note, when it is above its level's ceiling, is in its tooltip).
//!
//! The chart is drawn from the run's JSON lines (`kind` `bandwidth` and `result`), so
//! `lowbit bench --svg` and `lowbit roofline --from` draw the same chart.

use std::fmt::Write as _;
use std::path::Path;

use crate::bandwidth::Level;
use crate::json;
use crate::CliError;

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// The group it is drawn in: shape, m and cache.
    pub group: String,
    /// Its axis label: format, activations, ISA, threads.
    pub label: String,
    /// The ISA (colour).
    pub isa: String,
    /// Whether activations were A8 (outlined).
    pub a8: bool,
    /// Weight GB/s.
    pub gbps: f64,
    /// The ceiling it is compared against, GB/s.
    pub ceiling_gbps: f64,
    /// Tooltip text.
    pub title: String,
}

/// One measured ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct CeilingLine {
    /// The level.
    pub level: Level,
    /// Threads reading.
    pub threads: usize,
    /// Read bandwidth, GB/s.
    pub gbps: f64,
}

impl CeilingLine {
    /// `L2 1T 78.3 GB/s`.
    pub fn label(&self) -> String {
        format!(
            "{} {}T {:.1} GB/s",
            self.level.label(),
            self.threads,
            self.gbps
        )
    }
}

/// Everything the chart shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// First heading line (lowbit version, architecture, threads).
    pub title: String,
    /// Second heading line (CPU features, caches).
    pub subtitle: String,
    /// The bars.
    pub marks: Vec<Mark>,
    /// The measured ceilings.
    pub lines: Vec<CeilingLine>,
}

/// `lowbit roofline --from FILE --svg OUT`.
pub fn run(args: &crate::args::RooflineArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.from)
        .map_err(|e| CliError::Run(format!("{}: {e}", args.from.display())))?;
    let chart =
        from_jsonl(&text).map_err(|e| CliError::Run(format!("{}: {e}", args.from.display())))?;
    if chart.marks.is_empty() {
        return Err(CliError::Run(format!(
            "{}: no `\"kind\":\"result\"` lines (expected `lowbit bench --json` output)",
            args.from.display()
        )));
    }
    write(&args.svg, &chart)
}

/// Writes the chart to `path`.
pub fn write(path: &Path, chart: &Chart) -> Result<(), CliError> {
    std::fs::write(path, svg(chart))
        .map_err(|e| CliError::Run(format!("writing {}: {e}", path.display())))
}

/// Reads the heading, bars and ceilings from `lowbit bench --json` lines (other kinds
/// and blank lines are ignored).
pub fn from_jsonl(text: &str) -> Result<Chart, String> {
    let mut chart = Chart {
        title: "lowbit bench".into(),
        ..Chart::default()
    };
    let (marks, lines) = (&mut chart.marks, &mut chart.lines);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", i + 1);
        let v = json::parse(line).map_err(at)?;
        let s = |key: &str| {
            v.get(key)
                .and_then(|x| x.as_str())
                .ok_or_else(|| at(format!("no string `{key}`")))
        };
        let num = |key: &str| {
            v.get(key)
                .and_then(|x| x.as_f64())
                .ok_or_else(|| at(format!("no number `{key}`")))
        };
        // `null` (a ceiling that was not measured) draws as NaN: no tick.
        let num_or_nan = |key: &str| match v.get(key) {
            Some(json::Value::Null) => Ok(f64::NAN),
            _ => num(key),
        };
        match v.get("kind").and_then(|k| k.as_str()) {
            Some("machine") => {
                let hw = num("hw_threads").map_or("?".to_string(), |h| h.to_string());
                chart.title = format!(
                    "lowbit {} bench: {}, {hw} hardware threads",
                    s("lowbit").unwrap_or("?"),
                    s("arch").unwrap_or("?")
                );
                let mib = |key: &str| num(key).map_or("?".into(), |b| format!("{}", b / 1048576.0));
                chart.subtitle = format!(
                    "cpu features: {}; sysfs: L2 {} MiB per core, L3 {} MiB; ceilings: the \
                     levels a read-bandwidth ladder found",
                    s("cpu_features").unwrap_or("?"),
                    mib("l2_bytes"),
                    mib("l3_bytes")
                );
            }
            Some("bandwidth") => lines.push(CeilingLine {
                level: Level::from_key(s("level")?)
                    .ok_or_else(|| at(format!("unknown level `{}`", s("level").unwrap_or(""))))?,
                threads: num("threads")? as usize,
                gbps: num("gbps")?,
            }),
            Some("result") => {
                let (format, act, isa) = (s("format")?, s("act")?, s("isa")?);
                let (n, k, m, threads) = (num("n")?, num("k")?, num("m")?, num("threads")?);
                let (cache, gbps) = (s("cache")?, num("weight_gbps")?);
                let ceiling_gbps = num_or_nan("ceiling_gbps")?;
                let note = match v.get("note").and_then(|n| n.as_str()) {
                    Some(n) => format!(" ({n})"),
                    None => String::new(),
                };
                marks.push(Mark {
                    group: format!("{n}x{k} m={m} {cache}"),
                    label: format!("{format} {act} {isa} {threads}T"),
                    isa: isa.to_string(),
                    a8: act == "a8",
                    gbps,
                    ceiling_gbps,
                    title: format!(
                        "{format} {act} {isa} ({}) {n}x{k} m={m} threads={threads} {cache}: \
                         {gbps} GB/s, {} us, {}% of {} {ceiling_gbps} GB/s{note}",
                        s("kernel").unwrap_or("?"),
                        num("median_us").unwrap_or(f64::NAN),
                        num("roofline_pct").unwrap_or(f64::NAN),
                        s("ceiling").unwrap_or("?").to_uppercase(),
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(chart)
}

/// Colour of an ISA's bars.
fn isa_colour(isa: &str) -> &'static str {
    match isa {
        "scalar" => "#8c8c8c",
        "avx2" => "#1f77b4",
        "avx512" => "#d62728",
        "neon" => "#2ca02c",
        "rustc-auto" => "#222222",
        _ => "#9467bd",
    }
}

/// Colour of a ceiling level's lines.
fn level_colour(level: Level) -> &'static str {
    match level {
        Level::L2 => "#2ca02c",
        Level::L3 => "#ff7f0e",
        Level::Dram => "#6a3d9a",
    }
}

/// Escapes text for SVG content and attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const BAR: f64 = 12.0;
const BAR_GAP: f64 = 3.0;
const GROUP_GAP: f64 = 22.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 104.0;
const PLOT_H: f64 = 420.0;

/// The chart.
pub fn svg(chart: &Chart) -> String {
    let (marks, lines) = (&chart.marks[..], &chart.lines[..]);
    // Groups in order of first appearance.
    let mut groups: Vec<(&str, Vec<&Mark>)> = Vec::new();
    for m in marks {
        match groups.iter_mut().find(|g| g.0 == m.group) {
            Some(g) => g.1.push(m),
            None => groups.push((&m.group, vec![m])),
        }
    }
    let bars_w: f64 = groups
        .iter()
        .map(|g| g.1.len() as f64 * (BAR + BAR_GAP) + GROUP_GAP)
        .sum();
    let plot_w = bars_w.max(420.0);
    // Rough text widths: ~0.6 em per character.
    let longest_label = marks.iter().map(|m| m.label.len()).max().unwrap_or(0);
    let width = (LEFT + plot_w + RIGHT)
        .max(LEFT + 20.0 + 9.0 * chart.title.len() as f64)
        .max(LEFT + 20.0 + 6.6 * chart.subtitle.len() as f64);
    let bottom = 30.0 + 6.0 * longest_label as f64;
    let height = TOP + PLOT_H + bottom;

    // Log scale over every positive value shown.
    let values = marks
        .iter()
        .flat_map(|m| [m.gbps, m.ceiling_gbps])
        .chain(lines.iter().map(|l| l.gbps))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if hi > 0.0 {
        (
            10f64.powf((lo * 0.9).log10().floor()),
            10f64.powf((hi * 1.1).log10().ceil()),
        )
    } else {
        (0.1, 100.0)
    };
    let plot_bottom = TOP + PLOT_H;
    let y = |v: f64| {
        let v = if v.is_finite() && v > 0.0 { v } else { lo };
        plot_bottom - (v.clamp(lo, hi) / lo).log10() / (hi / lo).log10() * PLOT_H
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}</text>"#,
        esc(&chart.title)
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="36">{}</text>"#,
        esc(&chart.subtitle)
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="52">Weight GB/s per result (bars, log scale) against the measured read bandwidth (dashed lines); the tick on a bar marks its own ceiling.</text>"#
    );
    // Legend: ISAs present, A8 outline.
    let mut isas: Vec<&str> = Vec::new();
    for m in marks {
        if !isas.contains(&m.isa.as_str()) {
            isas.push(&m.isa);
        }
    }
    let mut lx = LEFT;
    for isa in &isas {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="62" width="12" height="12" fill="{}"/><text x="{}" y="72">{}</text>"#,
            isa_colour(isa),
            lx + 16.0,
            esc(isa)
        );
        lx += 30.0 + 7.0 * isa.len() as f64;
    }
    let _ = writeln!(
        s,
        r#"<rect x="{lx}" y="62" width="12" height="12" fill="white" stroke="black" stroke-width="2"/><text x="{}" y="72">a8 activations (outlined)</text>"#,
        lx + 16.0
    );

    // Axes and decade grid.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{plot_bottom}" stroke="black"/><line x1="{LEFT}" y1="{plot_bottom}" x2="{}" y2="{plot_bottom}" stroke="black"/>"#,
        LEFT + plot_w
    );
    let mut decade = lo;
    while decade <= hi * 1.0001 {
        for f in [1.0, 2.0, 5.0] {
            let v = decade * f;
            if v > hi * 1.0001 {
                break;
            }
            let gy = y(v);
            let stroke = if f == 1.0 { "#cccccc" } else { "#eeeeee" };
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="{stroke}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT + plot_w,
                LEFT - 5.0,
                gy + 4.0,
                trim_num(v)
            );
        }
        decade *= 10.0;
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">weight GB/s</text>"#,
        TOP + PLOT_H / 2.0
    );

    // Bars, grouped.
    let mut x = LEFT + GROUP_GAP / 2.0;
    for (gi, (group, ms)) in groups.iter().enumerate() {
        let gw = ms.len() as f64 * (BAR + BAR_GAP);
        if gi % 2 == 1 {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{PLOT_H}" fill="#f6f6f6"/>"##,
                x - GROUP_GAP / 2.0,
                gw + GROUP_GAP
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
            x + gw / 2.0,
            TOP - 8.0,
            esc(group)
        );
        for m in ms {
            let top = y(m.gbps);
            let stroke = if m.a8 {
                r#" stroke="black" stroke-width="2""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<rect class="bar" x="{x:.1}" y="{top:.1}" width="{BAR}" height="{:.1}" fill="{}"{stroke}><title>{}</title></rect>"#,
                (plot_bottom - top).max(0.5),
                isa_colour(&m.isa),
                esc(&m.title)
            );
            if m.ceiling_gbps.is_finite() && m.ceiling_gbps > 0.0 {
                let ry = y(m.ceiling_gbps);
                let _ = writeln!(
                    s,
                    r#"<line class="roof" x1="{:.1}" y1="{ry:.1}" x2="{:.1}" y2="{ry:.1}" stroke="black" stroke-width="3"/>"#,
                    x - 1.0,
                    x + BAR + 1.0
                );
            }
            let lx = x + BAR / 2.0 + 4.0;
            let _ = writeln!(
                s,
                r#"<text transform="translate({lx:.1} {:.1}) rotate(-90)" text-anchor="end" font-size="10">{}</text>"#,
                plot_bottom + 6.0,
                esc(&m.label)
            );
            x += BAR + BAR_GAP;
        }
        x += GROUP_GAP;
    }

    // Ceilings: dashed lines, labels on the right, pushed apart so none overlap.
    let mut labels: Vec<(f64, &CeilingLine)> = lines.iter().map(|l| (y(l.gbps), l)).collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut last = f64::NEG_INFINITY;
    for (ly, l) in &labels {
        let dash = if l.threads == 1 { "6 4" } else { "2 3" };
        let _ = writeln!(
            s,
            r#"<line class="ceiling" x1="{LEFT}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="1.5" stroke-dasharray="{dash}"/>"#,
            LEFT + plot_w,
            level_colour(l.level)
        );
        let ty = (ly + 4.0).max(last + 13.0);
        last = ty;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{ty:.1}" fill="{}">{}</text>"#,
            LEFT + plot_w + 6.0,
            level_colour(l.level),
            esc(&l.label())
        );
    }
    s.push_str("</svg>\n");
    s
}

/// `0.1`, `2`, `500`, `1000`: axis labels without trailing zeros.
fn trim_num(v: f64) -> String {
    let t = format!("{v:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = r#"{"kind":"machine","arch":"x86_64"}
{"kind":"bandwidth","threads":1,"level":"l2","buffer_bytes":524288,"gbps":80.5,"p10_gbps":78,"p90_gbps":82,"samples":15}
{"kind":"bandwidth","threads":1,"level":"dram","buffer_bytes":268435456,"gbps":20.3,"p10_gbps":19,"p90_gbps":21,"samples":5}
{"kind":"result","format":"int4_g32","act":"f32","isa":"avx2","kernel":"k<1>","n":64,"k":256,"m":1,"threads":1,"cache":"hot","median_us":1.5,"weight_gbps":6.4,"ceiling":"l2","ceiling_gbps":80.5,"roofline_pct":7.95,"max_rel_err":0.05}
{"kind":"result","format":"int4_g32","act":"a8","isa":"avx512","kernel":"k2","n":64,"k":256,"m":1,"threads":1,"cache":"cold","median_us":3,"weight_gbps":3.2,"ceiling":"dram","ceiling_gbps":20.3,"roofline_pct":15.8,"max_rel_err":0.05,"note":"a <note>"}

{"kind":"summary","results":2,"seconds":1.5}
"#;

    #[test]
    fn chart_has_a_bar_per_result_and_a_line_per_ceiling() {
        let mut chart = from_jsonl(RUN).unwrap();
        let (marks, lines) = (&chart.marks, &chart.lines);
        assert_eq!((marks.len(), lines.len()), (2, 2));
        assert!(marks[1].a8 && !marks[0].a8);
        assert_eq!(marks[0].group, "64x256 m=1 hot");
        assert_eq!(chart.title, "lowbit ? bench: x86_64, ? hardware threads");
        chart.title = "t & <u>".into();
        let svg = svg(&chart);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert_eq!(svg.matches(r#"class="roof""#).count(), 2);
        assert_eq!(svg.matches(r#"class="ceiling""#).count(), 2);
        assert!(svg.contains("L2 1T 80.5 GB/s") && svg.contains("DRAM 1T 20.3 GB/s"));
        assert!(svg.contains("t &amp; &lt;u&gt;") && svg.contains("k&lt;1&gt;"));
        assert!(svg.contains("20.3 GB/s (a &lt;note&gt;)"));
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(from_jsonl("{\"kind\":\"result\"}")
            .unwrap_err()
            .contains("line 1"));
        assert!(from_jsonl("not json").is_err());
        let empty = svg(&Chart::default());
        assert!(empty.starts_with("<svg"));
    }
}
