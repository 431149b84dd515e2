//! `metrics.prom`: the run's figures in the OpenMetrics text format, which node_exporter's
//! textfile collector and a Pushgateway also read (the `# UNIT` and `# EOF` lines are comments
//! to the older Prometheus text parser). Gauges only; every sample carries the scenario, the
//! etcd version and the run id. `etcd_drill_last_success_timestamp_seconds` carries the last
//! pass across runs (through the chain), so "no successful drill in 35 days" is one rule.

use crate::record::{RunReport, Verdict};
use std::io::{self, Write};

struct Family<'a> {
    name: &'static str,
    unit: Option<&'static str>,
    help: &'static str,
    /// (extra labels, value)
    samples: Vec<(Vec<(&'static str, &'a str)>, f64)>,
}

fn seconds_since_epoch(rfc3339: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z')).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_secs_f64())
}

/// `\`, `"` and newlines escaped, as the format asks of label values.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn families(r: &RunReport) -> Vec<Family<'_>> {
    let one = |v: Option<f64>| v.map(|v| (Vec::new(), v)).into_iter().collect::<Vec<_>>();
    let secs = |ms: Option<u64>| ms.map(|m| m as f64 / 1000.0);
    let mut f = vec![
        Family {
            name: "etcd_drill_passed",
            unit: None,
            help: "1 when the drill passed every gate, 0 when it did not.",
            samples: one(Some(f64::from(u8::from(r.verdict == Verdict::Passed)))),
        },
        Family {
            name: "etcd_drill_run_timestamp_seconds",
            unit: Some("seconds"),
            help: "When the drill finished (Unix time).",
            samples: one(seconds_since_epoch(&r.finished_at)),
        },
        Family {
            name: "etcd_drill_last_success_timestamp_seconds",
            unit: Some("seconds"),
            help: "When the last passing drill of this scenario finished (Unix time).",
            samples: one(last_success(r).and_then(seconds_since_epoch)),
        },
        Family {
            name: "etcd_drill_rto_first_write_seconds",
            unit: Some("seconds"),
            help: "Recovery time: from the disaster to the first write the restored cluster acknowledged.",
            samples: one(secs(r.restore.as_ref().map(|x| x.rto_first_write_ms))),
        },
        Family {
            name: "etcd_drill_rto_verified_seconds",
            unit: Some("seconds"),
            help: "Recovery time: from the disaster to the restored cluster verified.",
            samples: one(secs(r.verification.as_ref().and_then(|v| v.rto_verified_ms))),
        },
        Family {
            name: "etcd_drill_rpo_seconds",
            unit: Some("seconds"),
            help: "Recovery point: from the snapshot's cut to the disaster.",
            samples: one(secs(r.rpo.as_ref().map(|p| p.time_gap_ms))),
        },
        Family {
            name: "etcd_drill_rpo_revisions",
            unit: None,
            help: "Revisions written after the snapshot's cut and lost by the restore.",
            samples: one(r.rpo.as_ref().and_then(|p| p.revision_gap).map(|g| g as f64)),
        },
        Family {
            name: "etcd_drill_lost_acknowledged_writes",
            unit: None,
            help: "Acknowledged writes the restored cluster does not hold.",
            samples: one(
                r.rpo
                    .as_ref()
                    .and_then(|p| p.lost_acknowledged_writes)
                    .map(|g| g as f64),
            ),
        },
    ];
    f.extend(store_families(r));
    f.extend(fault_families(r));
    f
}

/// Per store, for a restore from a store: the backup's age and size, the restore, the last
/// time one was verified.
fn store_families(r: &RunReport) -> Vec<Family<'_>> {
    let secs = |ms: Option<u64>| ms.map(|m| m as f64 / 1000.0);
    let mut f = Vec::new();
    let stored = r.restore.as_ref().and_then(|x| x.stored.as_ref());
    let store = |v: Option<f64>| -> Vec<(Vec<(&'static str, &str)>, f64)> {
        match (stored, v) {
            (Some(s), Some(v)) => vec![(vec![("store", s.store.as_str())], v)],
            _ => Vec::new(),
        }
    };
    f.push(Family {
        name: "etcd_drill_backup_age_seconds",
        unit: Some("seconds"),
        help: "Age of the newest backup in the store (full or delta) when it was listed.",
        samples: store(secs(stored.and_then(|s| s.newest_age_ms))),
    });
    f.push(Family {
        name: "etcd_drill_backup_size_bytes",
        unit: Some("bytes"),
        help: "Stored size of the backup restored from the store.",
        samples: store(stored.and_then(|s| s.picked_size_bytes).map(|b| b as f64)),
    });
    f.push(Family {
        name: "etcd_drill_backup_restore_seconds",
        unit: Some("seconds"),
        help: "Time to restore the store's backup to a cluster that takes writes (its RTO).",
        samples: store(secs(r.restore.as_ref().map(|x| x.rto_first_write_ms))),
    });
    f.push(Family {
        name: "etcd_drill_backup_verified_timestamp_seconds",
        unit: Some("seconds"),
        help: "When a backup of the store was last restored and verified with every gate passed (Unix time; this run, or the last that passed before it in the evidence chain).",
        samples: store(last_success(r).and_then(seconds_since_epoch)),
    });
    f
}

/// Per fault: how long writes were unavailable.
fn fault_families(r: &RunReport) -> Vec<Family<'_>> {
    let alerts = r.alerts.iter().flat_map(|a| &a.alerts);
    let first = |name: &str| alerts.clone().find(|a| a.name == name).map(|a| a.fired_ms);
    let alert_family = Family {
        name: "etcd_drill_alert_detect_seconds",
        unit: Some("seconds"),
        help: "An alert drill: from the fault or disaster to the alert firing, per alert (its first firing).",
        samples: alerts
            .clone()
            .filter(|a| first(&a.name) == Some(a.fired_ms))
            .filter_map(|a| {
                let what = a.after.as_ref()?.what.as_str();
                a.detect_ms
                    .map(|ms| (vec![("alert", a.name.as_str()), ("after", what)], ms as f64 / 1000.0))
            })
            .collect(),
    };
    vec![
        alert_family,
        Family {
            name: "etcd_drill_fault_unavailable_seconds",
            unit: Some("seconds"),
            help: "How long writes failed during each fault.",
            samples: r
                .faults
                .iter()
                .filter_map(|x| {
                    x.unavailable_ms
                        .map(|ms| (vec![("fault", x.name.as_str())], ms as f64 / 1000.0))
                })
                .collect(),
        },
    ]
}

/// The finish of the last passing run: this one's, or the one the chain carried on.
pub fn last_success(r: &RunReport) -> Option<&str> {
    if r.verdict == Verdict::Passed {
        return Some(&r.finished_at);
    }
    r.evidence
        .as_ref()
        .and_then(|e| e.previous.as_ref())
        .and_then(|l| l.last_passed_at.as_deref())
}

pub fn render(r: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    render_all(std::slice::from_ref(r), out)
}

/// The metrics of several runs in one exposition (one `verify-backup` of many stores, a
/// matrix): each family once, with every run's samples, told apart by their labels.
pub fn render_all(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    let per_run: Vec<(String, Vec<Family>)> = reports
        .iter()
        .map(|r| {
            let version = r.environment.etcd_version.as_deref().unwrap_or("unknown");
            let common = format!(
                "scenario=\"{}\",etcd_version=\"{}\",run_id=\"{}\"",
                escape(&r.scenario.name),
                escape(version),
                escape(&r.run_id)
            );
            (common, families(r))
        })
        .collect();
    let Some((_, first)) = per_run.first() else {
        return writeln!(out, "# EOF");
    };
    for (i, f) in first.iter().enumerate() {
        let all = per_run.iter().map(|(common, fs)| (common, &fs[i]));
        if per_run.iter().all(|(_, fs)| fs[i].samples.is_empty()) {
            continue;
        }
        writeln!(out, "# TYPE {} gauge", f.name)?;
        if let Some(unit) = f.unit {
            writeln!(out, "# UNIT {} {unit}", f.name)?;
        }
        writeln!(out, "# HELP {} {}", f.name, f.help)?;
        for (common, fam) in all {
            for (labels, value) in &fam.samples {
                let extra: String = labels
                    .iter()
                    .map(|(k, v)| format!(",{k}=\"{}\"", escape(v)))
                    .collect();
                writeln!(out, "{}{{{common}{extra}}} {}", f.name, number(*value))?;
            }
        }
    }
    writeln!(out, "# EOF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_runs_share_each_family_once() {
        let text = |reports: &[RunReport]| {
            let mut out = Vec::new();
            render_all(reports, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let one: RunReport = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/reports/examples/kill-leader/report.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let mut other = one.clone();
        other.run_id = "second".into();
        other.scenario.name = "other".into();
        let both = text(&[one.clone(), other]);
        let single = text(std::slice::from_ref(&one));
        assert_eq!(
            both.matches("# TYPE etcd_drill_passed gauge").count(),
            1,
            "{both}"
        );
        assert_eq!(both.matches("etcd_drill_passed{").count(), 2, "{both}");
        assert!(both.contains("scenario=\"other\""), "{both}");
        assert_eq!(single.matches("etcd_drill_passed{").count(), 1);
        assert!(both.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped_and_whole_numbers_have_no_fraction() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.187), "2.187");
        assert_eq!(seconds_since_epoch("1970-01-01T00:01:40.500Z"), Some(100.5));
    }
}
