//! An alert drill in the report: each alert tied to the fault, disaster or restore it answered,
//! and the gates `expect.alerts` and `expect.no-unexpected-alerts`.

use crate::plan::MonitoringPlan;
use crate::record::{AlertsRecord, GateVerdict, Incident, RunReport};

/// What an alert can answer, by start: each fault until its heal (or, unhealed, until the
/// cluster recovered), and the disaster until the restored cluster took its first write. A
/// fault never healed that a disaster and restore followed (quorum lost, then restored) is
/// over when the restore is.
pub fn incidents(r: &RunReport) -> Vec<Incident> {
    // The disaster's start, and when the restored cluster took its first write.
    let disaster = r.disaster.as_ref().map(|d| {
        let over = r
            .restore
            .as_ref()
            .map(|x| d.ended_ms + x.rto_first_write_ms);
        (d.started_ms, over)
    });
    let mut all: Vec<Incident> = r
        .faults
        .iter()
        .map(|f| Incident {
            what: format!("fault {}", f.name),
            at_ms: f.injected_ms,
            over_ms: f.healed_ms.or(f.recovered_ms).or_else(|| {
                disaster
                    .filter(|(start, _)| *start >= f.injected_ms)
                    .and_then(|(_, over)| over)
            }),
        })
        .collect();
    if let Some((at_ms, over_ms)) = disaster {
        all.push(Incident {
            what: "disaster".into(),
            at_ms,
            over_ms,
        });
    }
    all.sort_by_key(|i| i.at_ms);
    all
}

/// Ties the alerts to what they answered, and names the expected ones that never fired.
pub fn attribute(alerts: &mut AlertsRecord, plan: &MonitoringPlan, incidents: &[Incident]) {
    alerts.attribute(incidents);
    alerts.never_fired = plan
        .expected
        .iter()
        .filter(|e| alerts.first(&e.name).is_none())
        .map(|e| e.name.clone())
        .collect();
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// One verdict per expectation: each alert fired within its time of what it answered and
/// resolved within its time of that being over; and, when asked, nothing unexpected fired.
pub fn gates(plan: &MonitoringPlan, r: &RunReport) -> Vec<GateVerdict> {
    let empty = AlertsRecord::default();
    let alerts = r.alerts.as_ref().unwrap_or(&empty);
    let mut out = Vec::new();
    for e in &plan.expected {
        let first = alerts.first(&e.name);
        let answered = |a: &crate::record::AlertRecord| {
            a.after
                .as_ref()
                .map_or("in the steady state".to_string(), |i| {
                    format!("after {}", i.what)
                })
        };
        if let Some(limit) = e.fires_within {
            let detect = first.and_then(|a| a.detect_ms);
            out.push(GateVerdict {
                gate: format!("alert {} fires", e.name),
                target: format!("within {}", secs(limit.as_millis() as u64)),
                actual: match first {
                    None => "expected but never fired".into(),
                    Some(a) => match a.detect_ms {
                        Some(d) => format!("fired {} {}", secs(d), answered(a)),
                        None => "fired in the steady state, before any fault".into(),
                    },
                },
                passed: detect.is_some_and(|d| u128::from(d) <= limit.as_millis()),
            });
        }
        if let Some(limit) = e.resolves_within {
            let resolve = first.and_then(|a| a.resolve_ms);
            out.push(GateVerdict {
                gate: format!("alert {} resolves", e.name),
                target: format!("within {}", secs(limit.as_millis() as u64)),
                actual: match (first, resolve) {
                    (None, _) => "never fired".into(),
                    (Some(_), Some(d)) => format!("resolved {} after it was over", secs(d)),
                    (Some(a), None) if a.resolved_ms.is_none() => {
                        "still firing when the drill ended".into()
                    }
                    (Some(_), None) => "resolved, but what it answered was never over".into(),
                },
                passed: resolve.is_some_and(|d| u128::from(d) <= limit.as_millis()),
            });
        }
    }
    if plan.no_unexpected {
        let expected = |n: &str| plan.expected.iter().any(|e| e.name == n);
        let unexpected: Vec<String> = alerts
            .alerts
            .iter()
            .filter(|a| a.after.is_none() || !expected(&a.name))
            .map(|a| match &a.after {
                None => format!("{} {} in the steady state", a.name, a.label_text()),
                Some(i) => format!("{} {} after {}", a.name, a.label_text(), i.what),
            })
            .collect();
        out.push(GateVerdict {
            gate: "no unexpected alerts".into(),
            target: "only the expected alerts, none before the first fault".into(),
            actual: if unexpected.is_empty() {
                "none".into()
            } else {
                unexpected.join("; ")
            },
            passed: unexpected.is_empty() && r.alerts.is_some(),
        });
    }
    out
}
