//! `lowbit eval`: quantization error of a real model's weights. Every 2-D F32/F16/BF16
//! tensor of a safetensors file is quantized into each format (rows = N output
//! channels, columns = K) and compared with the original: the relative RMS error of
//! the weights and of a GEMV output (see `lowbit eval --help`).

use std::io::Write as _;

use lowbit::{Format, QuantizedMatrix};

use crate::args::{EvalArgs, EvalSource, EVAL_FORMATS};
use crate::bench::random_vec;
use crate::kernels::check_shape;
use crate::safetensors::{SafeTensors, TensorInfo};
use crate::table::{Align, Table};
use crate::{json, CliError};

/// The activation vector's seed (the same x for every run of the same K).
const SEED_X: u64 = 0x2545_F491_4F6C_DD1D;

/// Squared error and squared reference norms, summed over tensors.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    err_w: f64,
    norm_w: f64,
    err_y: f64,
    norm_y: f64,
    weight_bytes: usize,
    weights: usize,
    tensors: usize,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.err_w += o.err_w;
        self.norm_w += o.norm_w;
        self.err_y += o.err_y;
        self.norm_y += o.norm_y;
        self.weight_bytes += o.weight_bytes;
        self.weights += o.weights;
        self.tensors += o.tensors;
    }

    fn weight_rel_rms(&self) -> f64 {
        (self.err_w / self.norm_w).sqrt()
    }

    fn gemv_rel_rms(&self) -> f64 {
        (self.err_y / self.norm_y).sqrt()
    }

    fn bits_per_weight(&self) -> f64 {
        self.weight_bytes as f64 * 8.0 / self.weights as f64
    }
}

/// `lowbit eval`.
pub fn run(args: &EvalArgs) -> Result<(), CliError> {
    let mut file = Source::open(&args.source)?;
    let formats: Vec<Format> = match &args.formats {
        Some(f) => f.clone(),
        None => EVAL_FORMATS
            .iter()
            .map(|f| Format::parse(f))
            .collect::<Result<_, _>>()?,
    };
    let selected: Vec<TensorInfo> = file
        .tensors
        .iter()
        .filter(|t| args.tensors.is_empty() || args.tensors.iter().any(|s| t.name.contains(s)))
        .cloned()
        .collect();
    let isa = lowbit::active_isa()?;
    let mut out = std::io::stdout().lock();

    let mut table = Table::new(&[
        ("tensor", Align::Left),
        ("dtype", Align::Left),
        ("shape", Align::Right),
        ("format", Align::Left),
        ("bits/w", Align::Right),
        ("weight_rel_rms", Align::Right),
        ("gemv_rel_rms", Align::Right),
    ]);
    for t in &selected {
        table.fit(&[t.name.as_str(), t.dtype.as_str(), &dims(&t.shape)]);
    }
    for f in &formats {
        table.fit(&["", "", "", &f.name()]);
    }
    if !args.json {
        let meta: Vec<String> = file
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(
            out,
            "lowbit eval: {} ({} tensors{}{})",
            file.describe(),
            file.tensors.len(),
            if selected.len() == file.tensors.len() {
                String::new()
            } else {
                format!(", {} selected", selected.len())
            },
            if meta.is_empty() {
                String::new()
            } else {
                format!("; metadata: {}", meta.join(" "))
            }
        )?;
        writeln!(
            out,
            "x: one fixed random vector, U(-1,1); W x in f64; gemv on {isa} with f32 activations"
        )?;
        writeln!(out)?;
        writeln!(out, "{}", table.header())?;
    }

    let mut skipped: Vec<String> = Vec::new();
    let mut skip = |out: &mut std::io::StdoutLock<'_>,
                    tensor: &str,
                    format: Option<Format>,
                    reason: String|
     -> Result<(), CliError> {
        if args.json {
            let mut o = json::Object::new()
                .str("kind", "skip")
                .str("tensor", tensor);
            if let Some(f) = format {
                o = o.str("format", &f.name());
            }
            writeln!(out, "{}", o.str("reason", &reason).finish())?;
        } else {
            let what = match format {
                Some(f) => format!("{tensor} as {f}"),
                None => tensor.to_string(),
            };
            skipped.push(format!("{what}: {reason}"));
        }
        Ok(())
    };

    let mut totals: Vec<Sums> = vec![Sums::default(); formats.len()];
    let mut evaluated = 0usize;
    for t in &selected {
        if args.limit.is_some_and(|l| evaluated >= l) {
            break;
        }
        let (n, k) = match t.shape[..] {
            [n, k] => (n, k),
            _ => {
                skip(
                    &mut out,
                    &t.name,
                    None,
                    format!("{}-D, shape {}", t.shape.len(), t.shape_text()),
                )?;
                continue;
            }
        };
        if !matches!(t.dtype.as_str(), "F32" | "F16" | "BF16") {
            skip(
                &mut out,
                &t.name,
                None,
                format!("dtype {} (only F32, F16, BF16 are read)", t.dtype),
            )?;
            continue;
        }
        if n == 0 || k == 0 {
            skip(
                &mut out,
                &t.name,
                None,
                format!("empty, shape {}", t.shape_text()),
            )?;
            continue;
        }
        let w = file.read_f32(t)?;
        if w.iter().any(|v| !v.is_finite()) {
            skip(&mut out, &t.name, None, "contains NaN or Inf".to_string())?;
            continue;
        }
        evaluated += 1;
        let x = random_vec(k, SEED_X)?;
        let y_ref: Vec<f64> = w
            .chunks_exact(k)
            .map(|row| {
                row.iter()
                    .zip(&x)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum()
            })
            .collect();
        let norm_w: f64 = w.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let norm_y: f64 = y_ref.iter().map(|v| v * v).sum();
        for (fi, &format) in formats.iter().enumerate() {
            if let Err(e) = check_shape(format, n, k) {
                skip(&mut out, &t.name, Some(format), e.to_string())?;
                continue;
            }
            let q = match QuantizedMatrix::quantize(&w, n, k, format) {
                Ok(q) => q,
                Err(e) => {
                    skip(&mut out, &t.name, Some(format), format!("quantizing: {e}"))?;
                    continue;
                }
            };
            let mut deq = vec![0.0f32; n * k];
            q.dequantize(&mut deq)?;
            let err_w: f64 = w
                .iter()
                .zip(&deq)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum();
            drop(deq);
            let mut y = vec![0.0f32; n];
            lowbit::gemv(q.view(), &x, &mut y)?;
            let err_y: f64 = y_ref
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (a - f64::from(b)).powi(2))
                .sum();
            let sums = Sums {
                err_w,
                norm_w,
                err_y,
                norm_y,
                weight_bytes: q.view().weight_bytes(),
                weights: n * k,
                tensors: 1,
            };
            totals[fi].add(&sums);
            if args.json {
                writeln!(
                    out,
                    "{}",
                    json::Object::new()
                        .str("kind", "eval")
                        .str("tensor", &t.name)
                        .str("dtype", &t.dtype)
                        .uint("n", n)
                        .uint("k", k)
                        .str("format", &format.name())
                        .num(
                            "bits_per_weight",
                            json::round_sig(sums.bits_per_weight(), 6)
                        )
                        .num("weight_rel_rms", json::round_sig(sums.weight_rel_rms(), 6))
                        .num("gemv_rel_rms", json::round_sig(sums.gemv_rel_rms(), 6))
                        .finish()
                )?;
            } else {
                writeln!(
                    out,
                    "{}",
                    table.row(&[
                        t.name.clone(),
                        t.dtype.clone(),
                        format!("{n}x{k}"),
                        format.name(),
                        format!("{:.3}", sums.bits_per_weight()),
                        sci(sums.weight_rel_rms()),
                        sci(sums.gemv_rel_rms()),
                    ])
                )?;
            }
            out.flush()?;
        }
    }

    if args.json {
        for (f, s) in formats.iter().zip(&totals) {
            writeln!(
                out,
                "{}",
                json::Object::new()
                    .str("kind", "summary")
                    .str("format", &f.name())
                    .uint("tensors", s.tensors)
                    .uint("weights", s.weights)
                    .num("bits_per_weight", json::round_sig(s.bits_per_weight(), 6))
                    .num("weight_rel_rms", json::round_sig(s.weight_rel_rms(), 6))
                    .num("gemv_rel_rms", json::round_sig(s.gemv_rel_rms(), 6))
                    .finish()
            )?;
        }
    } else {
        if !skipped.is_empty() {
            writeln!(out)?;
            writeln!(out, "skipped:")?;
            for s in &skipped {
                writeln!(out, "  {s}")?;
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "all evaluated tensors ({evaluated}), errors over the concatenated tensors:"
        )?;
        let mut t = Table::new(&[
            ("format", Align::Left),
            ("tensors", Align::Right),
            ("weights", Align::Right),
            ("bits/w", Align::Right),
            ("weight_rel_rms", Align::Right),
            ("gemv_rel_rms", Align::Right),
        ]);
        let rows: Vec<[String; 6]> = formats
            .iter()
            .zip(&totals)
            .map(|(f, s)| {
                [
                    f.name(),
                    s.tensors.to_string(),
                    s.weights.to_string(),
                    format!("{:.3}", s.bits_per_weight()),
                    sci(s.weight_rel_rms()),
                    sci(s.gemv_rel_rms()),
                ]
            })
            .collect();
        for r in &rows {
            t.fit(r);
        }
        writeln!(out, "{}", t.header())?;
        for r in &rows {
            writeln!(out, "{}", t.row(r))?;
        }
    }
    Ok(out.flush()?)
}

/// The tensors `lowbit eval` reads: a safetensors file, or one synthetic tensor.
struct Source {
    /// Tensors in header order.
    tensors: Vec<TensorInfo>,
    /// The file's `__metadata__` (empty for a synthetic tensor).
    metadata: Vec<(String, String)>,
    inner: Inner,
}

enum Inner {
    File(SafeTensors, String),
    StudentT,
}

/// The seed of the synthetic Student-t tensor.
const SEED_T: u64 = 0x5EED_0F0E_57D7;

impl Source {
    fn open(s: &EvalSource) -> Result<Source, CliError> {
        Ok(match s {
            EvalSource::File(path) => {
                let f = SafeTensors::open(path).map_err(CliError::Run)?;
                Source {
                    tensors: f.tensors.clone(),
                    metadata: f.metadata.clone(),
                    inner: Inner::File(f, path.display().to_string()),
                }
            }
            EvalSource::StudentT(shape) => Source {
                tensors: vec![TensorInfo {
                    name: "student_t3".into(),
                    dtype: "F32".into(),
                    shape: vec![shape.n, shape.k],
                    begin: 0,
                    end: 0,
                }],
                metadata: Vec::new(),
                inner: Inner::StudentT,
            },
        })
    }

    fn describe(&self) -> String {
        match &self.inner {
            Inner::File(_, path) => path.clone(),
            Inner::StudentT => "synthetic Student-t, 3 degrees of freedom, scale 0.02".into(),
        }
    }

    fn read_f32(&mut self, t: &TensorInfo) -> Result<Vec<f32>, CliError> {
        match &mut self.inner {
            Inner::File(f, _) => f.read_f32(t).map_err(CliError::Run),
            Inner::StudentT => student_t(t.shape.iter().product(), SEED_T),
        }
    }
}

/// `len` Student-t values with 3 degrees of freedom times 0.02 (`z / sqrt(chi2_3 / 3)`,
/// normals by Box-Muller from the uniform generator of the benches).
fn student_t(len: usize, seed: u64) -> Result<Vec<f32>, CliError> {
    let u = random_vec(8 * len, seed)?;
    // U(-1, 1) to (0, 1], never 0 (the log below).
    let unit = |v: f32| (f64::from(v) + 1.0) / 2.0 + 1e-9;
    let normal = |a: f32, b: f32| {
        (-2.0 * unit(a).ln()).sqrt() * (2.0 * std::f64::consts::PI * unit(b)).cos()
    };
    Ok(u.chunks_exact(8)
        .map(|c| {
            let z = normal(c[0], c[1]);
            let chi2: f64 = (0..3)
                .map(|i| normal(c[2 + 2 * i], c[3 + 2 * i]).powi(2))
                .sum();
            (0.02 * z / (chi2 / 3.0).sqrt()) as f32
        })
        .collect())
}

/// `8.12e-2`; `-` when undefined (e.g. an all-zero tensor or no tensor).
fn sci(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2e}")
    } else {
        "-".to_string()
    }
}

fn dims(shape: &[usize]) -> String {
    let d: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    d.join("x")
}
