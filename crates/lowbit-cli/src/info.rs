//! `lowbit info`: what this CPU has, which ISA calls use, and which kernel runs where.

use std::io::Write as _;

use lowbit::{Format, Isa};

use crate::args::Act;
use crate::kernels::gemv_kernel;
use crate::table::{Align, Table};
use crate::CliError;

/// `lowbit info`. An invalid `LOWBIT_ISA` is reported in the output, not an error.
pub fn run() -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "lowbit {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "arch:          {}", std::env::consts::ARCH)?;
    writeln!(
        out,
        "cpu features:  {}",
        or_none(&lowbit::cpu_features().names())
    )?;
    writeln!(out, "best ISA:      {}", Isa::best())?;
    writeln!(out, "active ISA:    {}", active_isa_line())?;
    let available = Isa::available();
    let names: Vec<&str> = available.iter().map(|i| i.name()).collect();
    writeln!(out, "available:     {}", names.join(" "))?;
    let missing: Vec<&str> = Isa::ALL
        .iter()
        .filter(|i| !available.contains(i))
        .map(|i| i.name())
        .collect();
    writeln!(out, "not available: {}", or_none(&missing))?;
    writeln!(out)?;
    writeln!(
        out,
        "GEMV kernel per format x ISA (`(fallback)`: no kernel of its own, a lower one runs):"
    )?;
    for line in kernel_table(&available, Act::F32) {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "with A8 activations (int8 per block of 32, `--act a8`; `-`: no integer-dot kernel, the f32 one runs):"
    )?;
    for line in kernel_table(&available, Act::A8) {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

fn or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(" ")
    }
}

/// The active ISA and where it comes from, or the `LOWBIT_ISA` error.
fn active_isa_line() -> String {
    let env = std::env::var("LOWBIT_ISA")
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (lowbit::active_isa(), env) {
        (Ok(isa), Some(v)) => format!("{isa} (LOWBIT_ISA={v})"),
        (Ok(isa), None) => format!("{isa} (best; LOWBIT_ISA not set)"),
        (Err(e), Some(v)) => format!(
            "ERROR: LOWBIT_ISA={v}: {e} (calls that do not name an ISA fail until it is fixed)"
        ),
        (Err(e), None) => format!("ERROR: {e}"),
    }
}

/// One row per format family whose formats all select the same kernels for `act`:
/// family, one kernel cell per ISA, and the family's variants in the catalog.
fn kernel_table(isas: &[Isa], act: Act) -> Vec<String> {
    let mut rows: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for f in Format::catalog() {
        let name = f.name();
        let (family, variant) = name.split_once('_').unwrap_or((&name, ""));
        let cells: Vec<String> = isas.iter().map(|&isa| kernel_cell(f, isa, act)).collect();
        match rows.iter_mut().find(|r| r.0 == family && r.1 == cells) {
            Some(r) => r.2.push(variant.to_string()),
            None => rows.push((family.to_string(), cells, vec![variant.to_string()])),
        }
    }
    let mut cols = vec![("format", Align::Left)];
    cols.extend(isas.iter().map(|i| (i.name(), Align::Left)));
    cols.push(("variants", Align::Left));
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(family, kernels, variants)| {
            let mut row = vec![family];
            row.extend(kernels);
            row.push(variants.join(" "));
            row
        })
        .collect();
    let mut table = Table::new(&cols);
    for r in &cells {
        table.fit(r);
    }
    let mut lines = vec![table.header()];
    lines.extend(cells.iter().map(|r| table.row(r)));
    lines
}

/// The kernel of `format` on `isa` for rows of 4096 elements (selection can depend on K
/// only for per-row groups).
fn kernel_cell(format: Format, isa: Isa, act: Act) -> String {
    match gemv_kernel(format, 4096, isa, act) {
        Some(k) if k.isa == isa => k.name.to_string(),
        Some(k) => format!("{} (fallback)", k.name),
        None => "-".to_string(),
    }
}
