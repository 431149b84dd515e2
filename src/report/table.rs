//! The terminal summary, rendered: `document::terminal`'s sections as tables (comfy-table), and
//! facts as `name: value` lines.

use super::document::{terminal, Block};
use crate::record::RunReport;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use std::io::Write;

/// The width tables are fitted to when the output is no terminal (a pipe, a CI log): set once
/// by the command line; unset, a table is as wide as its content (the renderings' tests).
static FIT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

/// Fit every table to `columns` from now on.
pub fn fit_to(columns: u16) {
    let _ = FIT.set(columns);
}

/// A table in the house style, fitted to the width set by `fit_to` (a terminal fits itself).
pub fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = FIT.get() {
        t.set_width(*w);
    }
    t
}

pub fn render(r: &RunReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "\netcd-drill {} · scenario {} · run {}",
        r.tool.version, r.scenario.name, r.run_id
    )?;
    for s in terminal(r) {
        for b in &s.blocks {
            match b {
                Block::Table { rows, .. } if rows.is_empty() => {}
                Block::Table { header, rows } => {
                    let mut t = new_table();
                    t.set_header(header.iter().copied());
                    for row in rows {
                        t.add_row(row.iter().map(|c| c.text.as_str()));
                    }
                    writeln!(out, "{t}")?;
                }
                Block::Facts(facts) => {
                    for (name, value) in facts {
                        writeln!(out, "{name}: {}", value.text)?;
                    }
                }
                // The table after it says the same.
                Block::Operations(_) => {}
                Block::List(items) => {
                    for i in items {
                        writeln!(out, "- {i}")?;
                    }
                }
            }
        }
    }
    Ok(())
}
