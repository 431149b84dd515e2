//! The trend, rendered: a terminal table per series, the same as Markdown, and one standalone
//! HTML page (no script, nothing fetched) with an SVG chart per figure. Every rendering marks
//! the same things: failed runs, regressions against the rolling baseline, broken links of the
//! chain and unusual gaps between runs.

use super::history::{show, History, Point, Series};
use crate::record::Verdict;
use crate::report::markup::escape;
use std::io::{self, Write};

/// The words for one run: verdict, regressions, chain, gap.
fn notes(s: &Series, p: &Point) -> Vec<String> {
    let mut out = Vec::new();
    if p.verdict != Verdict::Passed {
        out.push(format!("run {}", p.verdict.word().to_lowercase()));
    }
    for i in p.regressions(s) {
        let j = p.judgements[i].as_ref().expect("judged");
        out.push(format!(
            "REGRESSED {}: {} vs baseline {} ({})",
            s.figures[i].name,
            show(p.values[i]),
            show(Some(j.baseline)),
            j.sureness()
        ));
    }
    if p.link.broken() {
        out.push(format!("chain {}", p.link.describe()));
    }
    if p.sealed == Some(false) {
        out.push("ALTERED: report.json is not what its manifest says".into());
    }
    if let Some(d) = p.unusual_gap_days {
        out.push(format!(
            "{d:.0} days since the previous run (longer than usual)"
        ));
    }
    out
}

fn cell(s: &Series, p: &Point, i: usize) -> String {
    let v = show(p.values[i]);
    let regressed = s.figures[i].gates && p.judgements[i].as_ref().is_some_and(|j| j.worse);
    if regressed {
        format!("{v} ▲")
    } else {
        v
    }
}

fn header(s: &Series) -> Vec<String> {
    let mut h = vec!["started".to_string(), "run".into(), "verdict".into()];
    for f in &s.figures {
        let unit = if f.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", f.unit)
        };
        h.push(format!("{}{unit}", f.name));
    }
    h.push("notes".into());
    h
}

fn row(s: &Series, p: &Point) -> Vec<String> {
    let mut r = vec![
        p.started_at
            .get(..16)
            .unwrap_or(&p.started_at)
            .replace('T', " "),
        p.run_id.clone(),
        p.verdict.word().to_string(),
    ];
    r.extend((0..s.figures.len()).map(|i| cell(s, p, i)));
    r.push(notes(s, p).join("; "));
    r
}

fn title(s: &Series) -> String {
    let (first, last) = (s.points.first(), s.points.last());
    format!(
        "{} · etcd {} · {} run(s), {} to {}",
        s.scenario,
        s.etcd_version,
        s.points.len(),
        first
            .map(|p| p.started_at.get(..10).unwrap_or(""))
            .unwrap_or(""),
        last.map(|p| p.started_at.get(..10).unwrap_or(""))
            .unwrap_or("")
    )
}

fn footer(h: &History) -> String {
    format!(
        "▲ worse than the rolling baseline (median of up to {} earlier passing runs) beyond {}% and beyond its noise; throughput (keys/s, MB/s) is shown, never gated.",
        super::history::WINDOW,
        h.max_regression_pct
    )
}

pub fn terminal(h: &History, out: &mut dyn Write) -> io::Result<()> {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
    for s in &h.series {
        writeln!(out, "{}", title(s))?;
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        t.set_header(header(s));
        for p in &s.points {
            t.add_row(row(s, p));
        }
        writeln!(out, "{t}\n")?;
    }
    writeln!(out, "{}", footer(h))
}

pub fn markdown(h: &History, out: &mut dyn Write) -> io::Result<()> {
    let md = |c: &str| c.replace('|', "\\|");
    writeln!(out, "# etcd-drill history\n")?;
    for s in &h.series {
        writeln!(out, "## {}\n", md(&title(s)))?;
        let head = header(s);
        writeln!(
            out,
            "| {} |",
            head.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")
        )?;
        writeln!(out, "|{}", "---|".repeat(head.len()))?;
        for p in &s.points {
            let r: Vec<String> = row(s, p).iter().map(|c| md(c)).collect();
            writeln!(out, "| {} |", r.join(" | "))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", footer(h))
}

/// One figure over the runs of a series: a polyline, a dot per run (red when that run
/// regressed on it or failed), and the values at both ends of the axis.
fn chart(s: &Series, i: usize) -> Option<String> {
    let pts: Vec<(usize, f64)> = s
        .points
        .iter()
        .enumerate()
        .filter_map(|(k, p)| p.values[i].map(|v| (k, v)))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let (w, h, pad) = (520.0, 160.0, 36.0);
    let max = pts.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let n = s.points.len().max(2) - 1;
    let x = |k: usize| pad + (w - 2.0 * pad) * k as f64 / n as f64;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v / max;
    let f = &s.figures[i];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        escape(&f.name)
    );
    svg.push_str(&format!(
        "<line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{b}\" stroke=\"#999\"/>",
        b = h - pad,
        r = w - pad
    ));
    svg.push_str(&format!(
        "<text x=\"2\" y=\"{}\" font-size=\"10\">{}</text><text x=\"2\" y=\"{}\" font-size=\"10\">0</text>",
        pad + 4.0,
        escape(&show(Some(max / 1.1))),
        h - pad
    ));
    let line: Vec<String> = pts
        .iter()
        .map(|&(k, v)| format!("{:.1},{:.1}", x(k), y(v)))
        .collect();
    svg.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#2c6fbb\" stroke-width=\"2\" points=\"{}\"/>",
        line.join(" ")
    ));
    for &(k, v) in &pts {
        let p = &s.points[k];
        let bad = p.verdict != Verdict::Passed
            || (f.gates && p.judgements[i].as_ref().is_some_and(|j| j.worse));
        let colour = if bad { "#c0392b" } else { "#2c6fbb" };
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"><title>{} {}: {}</title></circle>",
            x(k),
            y(v),
            escape(&p.run_id),
            escape(p.started_at.get(..10).unwrap_or("")),
            escape(&show(Some(v)))
        ));
    }
    for (k, p) in s.points.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
            x(k),
            h - pad + 14.0,
            escape(p.started_at.get(5..10).unwrap_or(""))
        ));
    }
    svg.push_str("</svg>");
    Some(svg)
}

pub fn html(h: &History, out: &mut dyn Write) -> io::Result<()> {
    crate::report::html::head("etcd-drill history", out)?;
    for s in &h.series {
        writeln!(out, "<h2>{}</h2>", escape(&title(s)))?;
        writeln!(out, "<table><thead><tr>")?;
        for c in header(s) {
            write!(out, "<th>{}</th>", escape(&c))?;
        }
        writeln!(out, "</tr></thead><tbody>")?;
        for p in &s.points {
            let bad = p.verdict != Verdict::Passed
                || p.regressed(s)
                || p.link.broken()
                || p.sealed == Some(false);
            write!(out, "<tr>")?;
            for c in row(s, p) {
                let marked = c.contains('▲')
                    || c.contains("FAILED")
                    || c.contains("BROKEN")
                    || c.contains("ALTERED");
                let class = if bad && marked { " class=\"bad\"" } else { "" };
                write!(out, "<td{class}>{}</td>", escape(&c))?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</tbody></table>")?;
        for i in 0..s.figures.len() {
            if let Some(svg) = chart(s, i) {
                let f = &s.figures[i];
                let unit = if f.unit.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", f.unit)
                };
                writeln!(
                    out,
                    "<figure>{svg}<figcaption>{}{}</figcaption></figure>",
                    escape(&f.name),
                    escape(&unit)
                )?;
            }
        }
    }
    writeln!(
        out,
        "<footer>{}</footer>\n</body>\n</html>",
        escape(&footer(h))
    )
}
