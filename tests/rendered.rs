//! Every renderer over the shipped example report and the test fixtures, compared whole with
//! the reviewed snapshots under `tests/snapshots/`: a change to any format is a diff to read,
//! not a `contains()` that still passes. After an intended change, regenerate them with
//! `INSTA_UPDATE=always cargo test --test rendered` (or `cargo insta review`), then read the
//! diff.

#[path = "reports/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use etcd_drill::record::RunReport;
use etcd_drill::report::{summary, Format};
use std::path::Path;

fn rendered(f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).expect("renders");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn every_format_of_every_report_is_the_reviewed_one() {
    let formats = [
        Format::Table,
        Format::Md,
        Format::Html,
        Format::Junit,
        Format::Metrics,
    ];
    for (name, report) in fixture::rendered_reports() {
        for format in formats {
            let text = rendered(|out| format.render(&report, out));
            insta::assert_snapshot!(format!("{name}.{}", format.name()), text);
        }
    }
}

#[test]
fn the_summary_of_several_runs_is_the_reviewed_one() {
    let all: Vec<RunReport> = fixture::rendered_reports()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    insta::assert_snapshot!("summary", rendered(|out| summary::render(&all, out)));
}

/// The shipped example's files are what the renderers write today from its report.json: a
/// renderer that changes leaves the example stale, and this says so.
#[test]
fn the_shipped_example_is_what_the_renderers_write() {
    let (_, example) = fixture::rendered_reports().remove(0);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/examples/kill-leader");
    for format in [Format::Md, Format::Html, Format::Junit] {
        let file = format.file().expect("a file");
        let shipped = std::fs::read_to_string(dir.join(file)).expect("a shipped file");
        assert!(
            shipped == rendered(|out| format.render(&example, out)),
            "reports/examples/kill-leader/{file} is stale: `etcd-drill report reports/examples/kill-leader --format {}` writes another",
            format.name()
        );
    }
}
