//! The timeline chart of `report.html`, as inline SVG drawn by hand: workload latency (p50 and
//! p99 per bucket, logarithmic), errors per bucket, the windows when writes were unavailable,
//! and a vertical marker for every step start, fault transition, scheduled backup, the disaster
//! and the restored cluster's first write. Labels sit in lanes above the plot so close markers
//! stay readable.

use super::markup::escape;
use super::stats::BUCKET_MS;
use crate::record::Bucket;
use crate::record::RunReport;

const W: f64 = 1000.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const LANE: f64 = 14.0;
const MAX_LANES: usize = 14;
const PLOT_H: f64 = 220.0;
const GAP: f64 = 10.0;
const ERR_H: f64 = 44.0;
/// Rough advance of one character at font-size 10, to keep labels from overlapping.
const CHAR_W: f64 = 5.8;
/// Above this many buckets, no per-bucket hover titles (the file would grow too much).
const MAX_HOVER: usize = 2400;

const RED: &str = "#c0392b";
const GREEN: &str = "#1e8449";
const GREY: &str = "#7f8c8d";
const BLUE: &str = "#2471a3";
const PURPLE: &str = "#7d3c98";
const P50: &str = "#2e86c1";
const P99: &str = "#e67e22";

pub struct Marker {
    pub at_ms: u64,
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
}

fn marker(at_ms: u64, label: String, color: &'static str, dashed: bool) -> Marker {
    Marker {
        at_ms,
        label,
        color,
        dashed,
    }
}

/// Every moment worth a vertical line, in time order.
pub fn markers(r: &RunReport) -> Vec<Marker> {
    let mut m = Vec::new();
    for s in &r.steps {
        if let Some(at) = s.started_ms {
            m.push(marker(
                at,
                format!("step {} {}", s.index, s.step),
                GREY,
                true,
            ));
        }
    }
    for f in &r.faults {
        m.push(marker(
            f.injected_ms,
            format!("{} injected", f.name),
            RED,
            false,
        ));
        if let Some(h) = f.healed_ms {
            m.push(marker(h, format!("{} healed", f.name), GREEN, false));
        }
        if let Some(h) = f.recovered_ms {
            m.push(marker(h, format!("{} healthy again", f.name), GREEN, true));
        }
    }
    for b in r.backups.iter().flat_map(|b| &b.taken) {
        let label = format!("backup at revision {}", b.revision);
        m.push(marker(b.taken_at_ms, label, PURPLE, true));
    }
    if let Some(d) = &r.disaster {
        m.push(marker(d.started_ms, "disaster".into(), "#000000", false));
        m.push(marker(d.ended_ms, "disaster over".into(), "#000000", true));
    }
    if let Some(x) = &r.restore {
        let at = x.rto_from_ms + x.rto_first_write_ms;
        m.push(marker(at, "restore: first write".into(), BLUE, false));
    }
    m.sort_by_key(|x| x.at_ms);
    m
}

/// The chart's coordinates: time on x, log10 of latency on y.
struct Frame {
    t_max: f64,
    top: f64,
    lo: f64,
    hi: f64,
}

impl Frame {
    fn x(&self, ms: f64) -> f64 {
        LEFT + ms.clamp(0.0, self.t_max) / self.t_max * (W - LEFT - RIGHT)
    }
    fn y(&self, latency_ms: f64) -> f64 {
        let v = latency_ms.max(10f64.powf(self.lo)).log10();
        self.top + PLOT_H - (v - self.lo) / (self.hi - self.lo) * PLOT_H
    }
    fn err_top(&self) -> f64 {
        self.top + PLOT_H + GAP
    }
    fn bottom(&self) -> f64 {
        self.err_top() + ERR_H
    }
}

fn frame(r: &RunReport, timeline: &[Bucket], markers: &[Marker], lanes: usize) -> Frame {
    let mut t_max = r.duration_ms.max(1000) as f64;
    if let Some(b) = timeline.last() {
        t_max = t_max.max((b.at_ms + BUCKET_MS) as f64);
    }
    if let Some(m) = markers.last() {
        t_max = t_max.max(m.at_ms as f64);
    }
    let seen = timeline.iter().filter(|b| b.ok > 0);
    let (mut min, mut max) = (f64::MAX, 0f64);
    for b in seen {
        min = min.min(b.p50_ms.max(0.01));
        max = max.max(b.p99_ms);
    }
    let (lo, hi) = if max > 0.0 {
        let lo = min.log10().floor().max(-2.0);
        (lo, max.log10().ceil().max(lo + 1.0))
    } else {
        (0.0, 3.0)
    };
    Frame {
        t_max,
        top: 8.0 + lanes as f64 * LANE + 8.0,
        lo,
        hi,
    }
}

/// Places each label in the first lane where it does not overlap the previous one; returns
/// (lane, anchored at its end) per marker and the number of lanes.
fn lanes(markers: &[Marker], x: impl Fn(u64) -> f64) -> (Vec<(usize, bool)>, usize) {
    let mut ends: Vec<f64> = Vec::new();
    let mut out = Vec::new();
    for m in markers {
        let (px, w) = (x(m.at_ms), m.label.chars().count() as f64 * CHAR_W + 8.0);
        let (from, to, at_end) = if px + w <= W {
            (px, px + w, false)
        } else {
            (px - w, px, true)
        };
        let lane = match ends.iter().position(|e| *e < from) {
            Some(l) => l,
            None if ends.len() < MAX_LANES => {
                ends.push(f64::MIN);
                ends.len() - 1
            }
            None => (0..ends.len())
                .min_by(|a, b| ends[*a].total_cmp(&ends[*b]))
                .unwrap_or(0),
        };
        ends[lane] = to;
        out.push((lane, at_end));
    }
    let n = ends.len();
    (out, n)
}

/// The opening of an inline SVG drawing of `width` × `height` on white, labelled for screen
/// readers; the caller closes it with `</svg>`.
pub fn open(width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\" role=\"img\" \
         aria-label=\"{}\">\n<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n",
        escape(label)
    )
}

pub fn timeline(r: &RunReport) -> String {
    let empty = Vec::new();
    let buckets = r.workload.as_ref().map(|w| &w.timeline).unwrap_or(&empty);
    let markers = markers(r);
    // Lanes depend only on x, which does not depend on the lanes.
    let probe = frame(r, buckets, &markers, 0);
    let (placed, n_lanes) = lanes(&markers, |ms| probe.x(ms as f64));
    let f = frame(r, buckets, &markers, n_lanes);
    let height = f.bottom() + 62.0;
    let mut s = open(W, height, &format!("timeline of run {}", r.run_id));
    unavailability(r, &f, &mut s);
    rto_bracket(r, &f, &mut s);
    alert_windows(r, &f, &mut s);
    axes(&f, &mut s);
    errors(buckets, &f, &mut s);
    line(buckets, &f, |b| b.p50_ms, P50, &mut s);
    line(buckets, &f, |b| b.p99_ms, P99, &mut s);
    for (m, (lane, at_end)) in markers.iter().zip(placed) {
        draw_marker(m, lane, at_end, &f, &mut s);
    }
    hover(buckets, &f, &mut s);
    legend(&f, &mut s);
    if buckets.is_empty() {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"#555\">no workload ran: no latency to show</text>\n",
            LEFT + 10.0,
            f.top + 20.0
        ));
    }
    s.push_str("</svg>\n");
    s
}

fn unavailability(r: &RunReport, f: &Frame, s: &mut String) {
    let Some(w) = &r.workload else { return };
    for win in &w.log.unavailability {
        let to = win.to_ms.map(|t| t as f64).unwrap_or(f.t_max);
        let (x0, x1) = (f.x(win.from_ms as f64), f.x(to));
        let title = format!(
            "writes unavailable {:.3} s → {}: {} failed writes",
            win.from_ms as f64 / 1000.0,
            win.to_ms
                .map(|t| format!(
                    "{:.3} s ({} ms)",
                    t as f64 / 1000.0,
                    t.saturating_sub(win.from_ms)
                ))
                .unwrap_or_else(|| "end of run".into()),
            win.failed_writes
        );
        s.push_str(&format!(
            "<rect class=\"unavailable\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{RED}\" fill-opacity=\"0.13\"><title>{}</title></rect>\n",
            f.top,
            (x1 - x0).max(1.5),
            f.bottom() - f.top,
            escape(&title)
        ));
    }
}

/// An alert drill: each alert a bar from firing to resolved (or the end of the run) under the
/// RTO bracket, one row per alert, with a dot where its notification arrived.
fn alert_windows(r: &RunReport, f: &Frame, s: &mut String) {
    let Some(a) = &r.alerts else { return };
    for (i, x) in a.alerts.iter().take(8).enumerate() {
        let to = x.resolved_ms.map_or(f.t_max, |t| t as f64);
        let (x0, x1) = (f.x(x.fired_ms as f64), f.x(to));
        let y = f.top + 16.0 + 7.0 * i as f64;
        let title = format!(
            "alert {} {}: fired {:.3} s{}{}",
            x.name,
            x.label_text(),
            x.fired_ms as f64 / 1000.0,
            x.notified_ms.map_or(String::new(), |n| format!(
                ", notified {:.3} s",
                n as f64 / 1000.0
            )),
            x.resolved_ms
                .map_or(", still firing".to_string(), |t| format!(
                    ", resolved {:.3} s",
                    t as f64 / 1000.0
                ))
        );
        s.push_str(&format!(
            "<rect class=\"alert\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"5\" \
             fill=\"{PURPLE}\" fill-opacity=\"0.7\"><title>{}</title></rect>\n",
            (x1 - x0).max(1.5),
            escape(&title)
        ));
        if let Some(n) = x.notified_ms {
            s.push_str(&format!(
                "<circle class=\"notified\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{PURPLE}\"><title>{}</title></circle>\n",
                f.x(n as f64),
                y + 2.5,
                escape(&title)
            ));
        }
    }
}

/// The RTO as a bracket along the top of the plot: from the end of the disaster (or the start
/// of a restore from outside) to the restored cluster's first write, and on to verified.
fn rto_bracket(r: &RunReport, f: &Frame, s: &mut String) {
    let Some(x) = &r.restore else { return };
    let from = x.rto_from_ms as f64;
    let first = from + x.rto_first_write_ms as f64;
    let verified = r
        .verification
        .as_ref()
        .and_then(|v| v.rto_verified_ms)
        .map(|v| from + v as f64);
    let y = f.top + 4.0;
    let mut bar = |to: f64, opacity: f64, title: String| {
        let (x0, x1) = (f.x(from), f.x(to));
        s.push_str(&format!(
            "<rect class=\"rto\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"8\" \
             fill=\"{BLUE}\" fill-opacity=\"{opacity}\"><title>{}</title></rect>\n",
            (x1 - x0).max(1.5),
            escape(&title)
        ));
    };
    if let Some(v) = verified {
        bar(
            v,
            0.25,
            format!("RTO to verified: {} ms", (v - from) as u64),
        );
    }
    bar(
        first,
        0.7,
        format!("RTO to the first write: {} ms", x.rto_first_write_ms),
    );
    s.push_str(&format!(
        "<text class=\"rto\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{BLUE}\">RTO {} ms</text>\n",
        f.x(first) + 4.0,
        y + 8.0,
        x.rto_first_write_ms
    ));
}

fn decade_label(k: i32) -> String {
    match k {
        k if k < 0 => format!("{} ms", 10f64.powi(k)),
        0..=2 => format!("{} ms", 10i64.pow(k as u32)),
        k => format!("{} s", 10i64.pow(k as u32 - 3)),
    }
}

fn axes(f: &Frame, s: &mut String) {
    let (x0, x1) = (LEFT, W - RIGHT);
    for k in f.lo as i32..=f.hi as i32 {
        let y = f.y(10f64.powi(k));
        s.push_str(&format!(
            "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{}</text>\n",
            x0 - 4.0,
            y + 3.0,
            decade_label(k)
        ));
    }
    let steps = [
        250u64, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 1_800_000, 3_600_000,
    ];
    let step = steps
        .iter()
        .copied()
        .find(|st| f.t_max / *st as f64 <= 12.0)
        .unwrap_or(7_200_000);
    let (bottom, label_y) = (f.bottom(), f.bottom() + 14.0);
    let mut t = 0;
    while t as f64 <= f.t_max {
        let x = f.x(t as f64);
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#f0f0f0\"/>\
             <text x=\"{x:.1}\" y=\"{label_y:.1}\" text-anchor=\"middle\" fill=\"#555\">{} s</text>\n",
            f.top,
            bottom + 3.0,
            t as f64 / 1000.0
        ));
        t += step;
    }
    s.push_str(&format!(
        "<rect x=\"{x0}\" y=\"{:.1}\" width=\"{}\" height=\"{PLOT_H}\" fill=\"none\" stroke=\"#999\"/>\n\
         <rect x=\"{x0}\" y=\"{:.1}\" width=\"{}\" height=\"{ERR_H}\" fill=\"none\" stroke=\"#999\"/>\n\
         <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{RED}\">errors</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">time since the run started</text>\n",
        f.top,
        x1 - x0,
        f.err_top(),
        x1 - x0,
        x0 - 4.0,
        f.err_top() + ERR_H / 2.0 + 3.0,
        (x0 + x1) / 2.0,
        label_y + 16.0
    ));
}

fn errors(buckets: &[Bucket], f: &Frame, s: &mut String) {
    let max = buckets.iter().map(|b| b.errors).max().unwrap_or(0);
    if max == 0 {
        return;
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{:.1}\" fill=\"{RED}\">max {max} per {BUCKET_MS} ms</text>\n",
        LEFT + 4.0,
        f.err_top() + 10.0
    ));
    for b in buckets.iter().filter(|b| b.errors > 0) {
        let (x0, x1) = (f.x(b.at_ms as f64), f.x((b.at_ms + BUCKET_MS) as f64));
        let h = b.errors as f64 / max as f64 * (ERR_H - 4.0);
        s.push_str(&format!(
            "<rect class=\"error\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{RED}\"/>\n",
            f.bottom() - h,
            (x1 - x0).max(1.0)
        ));
    }
}

/// One latency series; a bucket without a success breaks the line.
fn line(
    buckets: &[Bucket],
    f: &Frame,
    value: impl Fn(&Bucket) -> f64,
    color: &str,
    s: &mut String,
) {
    let mut d = String::new();
    let mut pen_down = false;
    for b in buckets {
        if b.ok == 0 {
            pen_down = false;
            continue;
        }
        let (x, y) = (f.x((b.at_ms + BUCKET_MS / 2) as f64), f.y(value(b)));
        d.push_str(&format!(
            "{}{x:.1},{y:.1} ",
            if pen_down { "L" } else { "M" }
        ));
        pen_down = true;
    }
    if !d.is_empty() {
        s.push_str(&format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>\n",
            d.trim_end()
        ));
    }
}

fn draw_marker(m: &Marker, lane: usize, at_end: bool, f: &Frame, s: &mut String) {
    let x = f.x(m.at_ms as f64);
    let ty = 8.0 + lane as f64 * LANE + 10.0;
    let dash = if m.dashed {
        " stroke-dasharray=\"4 3\""
    } else {
        ""
    };
    let (tx, anchor) = if at_end {
        (x - 3.0, "end")
    } else {
        (x + 3.0, "start")
    };
    let label = escape(&m.label);
    s.push_str(&format!(
        "<g class=\"marker\"><title>{label} at {:.3} s</title>\
         <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"0.6\" stroke-dasharray=\"1 2\"/>\
         <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"1.2\"{dash}/>\
         <text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"{anchor}\" fill=\"{}\">{label}</text></g>\n",
        m.at_ms as f64 / 1000.0,
        ty - 9.0,
        f.top,
        m.color,
        f.top,
        f.bottom(),
        m.color,
        m.color
    ));
}

/// A transparent column per bucket whose tooltip gives its figures.
fn hover(buckets: &[Bucket], f: &Frame, s: &mut String) {
    if buckets.len() > MAX_HOVER {
        return;
    }
    for b in buckets {
        let (x0, x1) = (f.x(b.at_ms as f64), f.x((b.at_ms + BUCKET_MS) as f64));
        s.push_str(&format!(
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"#000\" fill-opacity=\"0\">\
             <title>{:.2} s: {} ok, {} errors, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms</title></rect>\n",
            f.top,
            x1 - x0,
            f.bottom() - f.top,
            b.at_ms as f64 / 1000.0,
            b.ok,
            b.errors,
            b.p50_ms,
            b.p99_ms,
            b.max_ms
        ));
    }
}

fn legend(f: &Frame, s: &mut String) {
    let y = f.bottom() + 50.0;
    let items = [
        (P50, "p50 latency", "line"),
        (P99, "p99 latency", "line"),
        (RED, "errors", "bar"),
        (RED, "writes unavailable", "shade"),
    ];
    let mut x = LEFT;
    for (color, label, kind) in items {
        let swatch = match kind {
            "line" => format!(
                "<line x1=\"{x}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>",
                x + 18.0,
                y - 3.0,
                y - 3.0
            ),
            "bar" => format!("<rect x=\"{}\" y=\"{:.1}\" width=\"6\" height=\"10\" fill=\"{color}\"/>", x + 6.0, y - 9.0),
            _ => format!(
                "<rect x=\"{x}\" y=\"{:.1}\" width=\"18\" height=\"10\" fill=\"{color}\" fill-opacity=\"0.13\"/>",
                y - 9.0
            ),
        };
        s.push_str(&format!(
            "{swatch}<text x=\"{}\" y=\"{y:.1}\" fill=\"#333\">{label}</text>\n",
            x + 22.0
        ));
        x += 22.0 + label.len() as f64 * CHAR_W + 24.0;
    }
}
