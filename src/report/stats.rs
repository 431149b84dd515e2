//! Latency and errors of the workload, per phase of the drill and over time, from every
//! operation the workload recorded (HdrHistogram, microsecond precision).

use crate::record::{Bucket, PhaseStats};
use crate::record::{Op, WorkloadLog};
use hdrhistogram::Histogram;

/// Width of one timeline bucket.
pub const BUCKET_MS: u64 = 250;

fn histogram(ops: &[&Op]) -> Option<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
    for op in ops.iter().filter(|o| o.ok) {
        h.saturating_record(op.latency_us.max(1));
    }
    Some(h)
}

fn ms(h: &Option<Histogram<u64>>, q: f64) -> f64 {
    match h {
        Some(h) if !h.is_empty() => h.value_at_quantile(q) as f64 / 1000.0,
        _ => 0.0,
    }
}

pub fn phase(name: &str, ops: &[Op], from_ms: u64, to_ms: u64) -> PhaseStats {
    let inside: Vec<&Op> = ops
        .iter()
        .filter(|o| o.at_ms >= from_ms && o.at_ms < to_ms)
        .collect();
    let h = histogram(&inside);
    let secs = (to_ms.saturating_sub(from_ms)) as f64 / 1000.0;
    PhaseStats {
        name: name.to_string(),
        from_ms,
        to_ms,
        count: inside.len() as u64,
        errors: inside.iter().filter(|o| !o.ok).count() as u64,
        ops_per_sec: if secs > 0.0 {
            inside.iter().filter(|o| o.ok).count() as f64 / secs
        } else {
            0.0
        },
        p50_ms: ms(&h, 0.5),
        p90_ms: ms(&h, 0.9),
        p99_ms: ms(&h, 0.99),
        max_ms: ms(&h, 1.0),
    }
}

/// Phases split at the given disturbances `(from, to, label)`: before, during each, after each.
pub fn phases(
    log: &WorkloadLog,
    disturbances: &[(u64, u64, String)],
    end_ms: u64,
) -> Vec<PhaseStats> {
    let mut d = disturbances.to_vec();
    d.sort_by_key(|x| x.0);
    let mut out = Vec::new();
    let mut cursor = log
        .ops
        .first()
        .map(|o| o.at_ms.saturating_sub(1))
        .unwrap_or(0);
    let mut label = "before".to_string();
    for (from, to, what) in d {
        if from > cursor {
            out.push(phase(&label, &log.ops, cursor, from));
        }
        out.push(phase(
            &format!("during {what}"),
            &log.ops,
            from,
            to.max(from + 1),
        ));
        cursor = to.max(from + 1);
        label = format!("after {what}");
    }
    if end_ms > cursor {
        out.push(phase(&label, &log.ops, cursor, end_ms));
    }
    out.retain(|p| p.count > 0);
    out
}

pub fn timeline(log: &WorkloadLog) -> Vec<Bucket> {
    let Some(last) = log.ops.iter().map(|o| o.at_ms).max() else {
        return Vec::new();
    };
    let first = log.ops.iter().map(|o| o.at_ms).min().unwrap_or(0) / BUCKET_MS * BUCKET_MS;
    // One pass to sort the operations into their buckets: long drills have many of both.
    let mut buckets: Vec<Vec<&Op>> = vec![Vec::new(); ((last - first) / BUCKET_MS + 1) as usize];
    for o in &log.ops {
        buckets[((o.at_ms - first) / BUCKET_MS) as usize].push(o);
    }
    buckets
        .iter()
        .enumerate()
        .map(|(i, inside)| {
            let h = histogram(inside);
            Bucket {
                at_ms: first + i as u64 * BUCKET_MS,
                ok: inside.iter().filter(|o| o.ok).count() as u64,
                errors: inside.iter().filter(|o| !o.ok).count() as u64,
                p50_ms: ms(&h, 0.5),
                p99_ms: ms(&h, 0.99),
                max_ms: ms(&h, 1.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::OpKind;

    fn log() -> WorkloadLog {
        let mut l = WorkloadLog::default();
        for i in 0..100u64 {
            let ok = !(40..60).contains(&i);
            l.ops.push(Op {
                kind: OpKind::Put,
                at_ms: i * 10,
                latency_us: if ok { 2000 + i } else { 500_000 },
                ok,
            });
        }
        l
    }

    #[test]
    fn phases_split_around_a_fault_and_count_its_errors() {
        let p = phases(&log(), &[(400, 600, "kill leader".into())], 1000);
        let names: Vec<&str> = p.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["before", "during kill leader", "after kill leader"]);
        assert_eq!(p[1].errors, 20);
        assert_eq!(p[0].errors, 0);
        assert!(p[0].p50_ms > 1.9 && p[0].p50_ms < 2.2, "{:?}", p[0]);
        assert_eq!(p[0].count + p[1].count + p[2].count, 100);
    }

    #[test]
    fn timeline_buckets_cover_every_operation() {
        let t = timeline(&log());
        assert_eq!(t.iter().map(|b| b.ok + b.errors).sum::<u64>(), 100);
        let starts: Vec<u64> = t.iter().map(|b| b.at_ms).collect();
        assert_eq!(starts, (0..4).map(|i| i * BUCKET_MS).collect::<Vec<_>>());
        assert_eq!(t[0].ok + t[0].errors, BUCKET_MS / 10);
        assert!(t.iter().any(|b| b.errors > 0));
    }
}
