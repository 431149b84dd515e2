//! A violation of linearizability drawn as Jepsen and porcupine draw one: a lane per client
//! (and per watch stream), each operation a bar from its call to its return, labelled with what
//! it asked and got, so a reader sees at once which operations overlapped in real time and which
//! could not be ordered. Inline SVG drawn by hand, like the run's timeline.

use super::markup::escape;
use crate::record::ViolationOp;

const W: f64 = 1000.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 16.0;
const LANE_H: f64 = 34.0;
const BAR_H: f64 = 14.0;
const TOP: f64 = 10.0;
const AXIS_H: f64 = 30.0;
/// Rough advance of one character at font-size 10.
const CHAR_W: f64 = 5.8;

const OP: &str = "#2471a3";
const WATCH: &str = "#7d3c98";
const OPEN: &str = "#e67e22";

/// The lane an operation is drawn in: a client, or the watch.
fn lane_name(o: &ViolationOp) -> String {
    if o.watch {
        format!("watch (member {})", o.client)
    } else {
        format!("client {}", o.client)
    }
}

/// The operations of one violation, one lane per client, on a time axis that spans them.
/// An operation that never returned (it timed out) runs to the right edge, open.
pub fn operations(ops: &[ViolationOp]) -> String {
    let mut lanes: Vec<String> = Vec::new();
    for o in ops {
        let name = lane_name(o);
        if !lanes.contains(&name) {
            lanes.push(name);
        }
    }
    lanes.sort_by_key(|l| (l.starts_with("watch"), l.len(), l.clone()));
    let start = ops.iter().map(|o| o.call_us).min().unwrap_or(0);
    let end = ops
        .iter()
        .flat_map(|o| [o.call_us, o.return_us])
        .filter(|t| *t != u64::MAX)
        .max()
        .unwrap_or(start);
    // A margin of a tenth of the span on each side, at least a millisecond.
    let span = (end - start).max(1000) as f64;
    let (t0, t1) = (start as f64 - span * 0.1, end as f64 + span * 0.1);
    let x = |us: u64| {
        if us == u64::MAX {
            W - RIGHT
        } else {
            LEFT + (us as f64 - t0) / (t1 - t0) * (W - LEFT - RIGHT)
        }
    };
    let height = TOP + lanes.len() as f64 * LANE_H + AXIS_H;
    let mut s = super::svg::open(W, height, "operations of a violation per client");
    for (n, name) in lanes.iter().enumerate() {
        let y = TOP + n as f64 * LANE_H;
        s.push_str(&format!(
            "<text x=\"4\" y=\"{:.1}\" fill=\"#333\">{}</text>\n<line x1=\"{LEFT}\" y1=\"{:.1}\" \
             x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n",
            y + BAR_H,
            escape(name),
            y + LANE_H - 4.0,
            W - RIGHT,
            y + LANE_H - 4.0
        ));
    }
    for o in ops {
        let n = lanes.iter().position(|l| *l == lane_name(o)).unwrap_or(0);
        let y = TOP + n as f64 * LANE_H;
        let (x0, x1) = (x(o.call_us), x(o.return_us));
        let open = o.return_us == u64::MAX;
        let color = if o.watch { WATCH } else { OP };
        let title = format!(
            "{} {}: {} (called {}, returned {})",
            if o.watch { "stream" } else { "op" },
            o.id,
            o.text,
            seconds(o.call_us),
            if open {
                "never".to_string()
            } else {
                seconds(o.return_us)
            }
        );
        let label = clip(&o.text, ((W - RIGHT - x0) / CHAR_W) as usize);
        s.push_str(&format!(
            "<g><title>{}</title><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_H}\" \
             fill=\"{color}\" fill-opacity=\"0.25\" stroke=\"{}\"{}/>\
             <text x=\"{x0:.1}\" y=\"{:.1}\" fill=\"#222\">{}</text></g>\n",
            escape(&title),
            (x1 - x0).max(2.0),
            if open { OPEN } else { color },
            if open {
                " stroke-dasharray=\"4 3\""
            } else {
                ""
            },
            y + BAR_H + 11.0,
            escape(&label)
        ));
    }
    let axis_y = TOP + lanes.len() as f64 * LANE_H + 4.0;
    s.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#555\"/>\n",
        W - RIGHT
    ));
    for k in 0..=4 {
        let us = (t0 + (t1 - t0) * k as f64 / 4.0).max(0.0) as u64;
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\" text-anchor=\"middle\">{}</text>\n",
            x(us).clamp(LEFT + 20.0, W - RIGHT - 20.0),
            axis_y + 14.0,
            seconds(us)
        ));
    }
    s.push_str("</svg>\n");
    s
}

fn seconds(us: u64) -> String {
    format!("{:.3} s", us as f64 / 1e6)
}

/// `text` cut to about `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u32, call_us: u64, return_us: u64, watch: bool, text: &str) -> ViolationOp {
        ViolationOp {
            id: 1,
            client,
            watch,
            call_us,
            return_us,
            text: text.into(),
        }
    }

    #[test]
    fn each_client_gets_a_lane_and_each_operation_a_bar_from_call_to_return() {
        let svg = operations(&[
            op(
                0,
                1_000_000,
                1_010_000,
                false,
                "put /o = \"a\" → wrote at revision 5",
            ),
            op(
                1,
                1_012_000,
                1_020_000,
                false,
                "get /o → read nothing at revision 5",
            ),
            op(
                0,
                1_030_000,
                u64::MAX,
                false,
                "delete /o → unknown: timeout",
            ),
            op(
                2,
                1_015_000,
                1_015_000,
                true,
                "watch stream 2 delivered <delete>",
            ),
        ]);
        for lane in ["client 0", "client 1", "watch (member 2)"] {
            assert_eq!(svg.matches(&format!(">{lane}<")).count(), 1, "{svg}");
        }
        assert_eq!(svg.matches("<rect x=").count(), 4, "{svg}");
        // The timed-out delete never returned: an open, dashed bar.
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
        assert!(svg.contains("returned never"));
        // Text is escaped.
        assert!(svg.contains("&lt;delete&gt;") && !svg.contains("<delete>"));
        // The read starts after the put ends: their bars do not overlap.
        let xs: Vec<f64> = svg
            .match_indices("<rect x=\"")
            .map(|(i, m)| {
                let rest = &svg[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        let widths: Vec<f64> = svg
            .match_indices("width=\"")
            .skip(2)
            .map(|(i, m)| {
                let rest = &svg[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert!(xs[0] + widths[0] < xs[1], "{xs:?} {widths:?}");
    }
}
