//! The run report: what a drill proved, built from the runner's events by `Recorder`, written
//! as `reports/<run-id>/report.json` and rendered by the renderers beside this file.

pub mod alerts;
pub mod artifacts;
pub mod compare;
mod document;
mod gates;
pub mod html;
pub mod junit;
pub mod known_bug;
pub mod manifest;
pub mod markdown;
pub mod markup;
pub mod metrics;
pub mod noise;
pub mod read;
mod recorder;
pub mod stats;
pub mod summary;
pub mod svg;
pub mod table;
pub mod violation_svg;

pub use gates::evaluate;
pub use recorder::Recorder;

use crate::record::RunReport;
use std::io::{self, Write};

/// Every rendering of a run, chosen here and nowhere else: `etcd-drill report --format`, the
/// run directory and the terminal all go through `Format::render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The terminal summary.
    Table,
    Json,
    Junit,
    Md,
    Html,
    /// OpenMetrics text (`metrics.prom`), for node_exporter's textfile collector.
    Metrics,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Table,
        Format::Json,
        Format::Junit,
        Format::Md,
        Format::Html,
        Format::Metrics,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Md => "md",
            Format::Html => "html",
            Format::Metrics => "metrics",
        }
    }

    /// The file a run directory keeps this rendering in (the table is for the terminal).
    pub fn file(self) -> Option<&'static str> {
        match self {
            Format::Table => None,
            Format::Json => Some("report.json"),
            Format::Junit => Some("junit.xml"),
            Format::Md => Some("report.md"),
            Format::Html => Some("report.html"),
            Format::Metrics => Some("metrics.prom"),
        }
    }

    pub fn render(self, r: &RunReport, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Format::Table => table::render(r, out),
            Format::Json => {
                serde_json::to_writer_pretty(&mut *out, r).map_err(io::Error::other)?;
                writeln!(out)
            }
            Format::Junit => junit::render(std::slice::from_ref(r), out),
            Format::Md => markdown::render(r, out),
            Format::Html => html::render(r, out),
            Format::Metrics => metrics::render(r, out),
        }
    }
}
