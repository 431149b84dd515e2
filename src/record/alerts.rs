//! An alert drill's evidence: what the monitoring raised, when, and how soon after what.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What Prometheus and Alertmanager did during the drill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertsRecord {
    pub prometheus: String,
    pub alertmanager: String,
    /// The rule files evaluated, by name.
    pub rules: Vec<String>,
    /// The alerts the rule files define.
    pub defined: Vec<String>,
    pub scrape_interval_ms: u64,
    /// When every member's first scrape had answered: before the first step that disturbs
    /// the cluster (the end of the steps, for a drill with none).
    pub watching_from_ms: u64,
    /// Every alert that fired (one per alert name and label set), in the order it fired.
    pub alerts: Vec<AlertRecord>,
    /// Webhook notifications the receiver got.
    pub notifications: u64,
    /// Scrapes of each member that got no answer (`instance` → count): what a fault that
    /// takes a member down looks like to Prometheus, recorded, not an error of the drill.
    #[serde(default)]
    pub failed_scrapes: BTreeMap<String, u64>,
    /// Alerts the drill expected that never fired.
    pub never_fired: Vec<String>,
}

/// One alert (its name and labels), from firing to resolved, and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertRecord {
    pub name: String,
    /// Its labels but `alertname`.
    pub labels: BTreeMap<String, String>,
    /// When Prometheus fired it (the notification's `startsAt`), ms since the run started.
    pub fired_ms: u64,
    /// When the first notification of it firing reached the receiver.
    pub notified_ms: Option<u64>,
    /// When Prometheus resolved it (the resolved notification's `endsAt`).
    pub resolved_ms: Option<u64>,
    /// What it answered: the last fault, disaster or restore begun before it fired; `None`
    /// when it fired in the steady state before any.
    pub after: Option<Incident>,
    /// Firing minus the incident's start: the time to detect.
    pub detect_ms: Option<u64>,
    /// The notification's arrival minus the incident's start: the time to notify.
    pub notify_ms: Option<u64>,
    /// Resolved minus the incident's end (the heal, or the restored cluster serving).
    pub resolve_ms: Option<u64>,
}

/// A fault, disaster or restore an alert can answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Incident {
    /// `fault kill-leader`, `disaster`.
    pub what: String,
    pub at_ms: u64,
    /// When it was over (the heal, the restored cluster serving), if it was.
    pub over_ms: Option<u64>,
}

impl AlertsRecord {
    /// Ties each alert to the incident it answers and measures it; `incidents` sorted by start.
    pub fn attribute(&mut self, incidents: &[Incident]) {
        for a in &mut self.alerts {
            let after = incidents.iter().rev().find(|i| i.at_ms <= a.fired_ms);
            a.after = after.cloned();
            a.detect_ms = after.map(|i| a.fired_ms - i.at_ms);
            a.notify_ms = after
                .zip(a.notified_ms)
                .map(|(i, n)| n.saturating_sub(i.at_ms));
            a.resolve_ms = after
                .and_then(|i| i.over_ms)
                .zip(a.resolved_ms)
                .map(|(over, r)| r.saturating_sub(over));
        }
    }

    /// Alerts that fired before any incident: false positives of a healthy cluster.
    pub fn steady_state(&self) -> impl Iterator<Item = &AlertRecord> {
        self.alerts.iter().filter(|a| a.after.is_none())
    }

    /// The first firing of `name`, if it fired.
    pub fn first(&self, name: &str) -> Option<&AlertRecord> {
        self.alerts
            .iter()
            .filter(|a| a.name == name)
            .min_by_key(|a| a.fired_ms)
    }
}

impl AlertRecord {
    /// Its labels, `instance` first, as one short line.
    pub fn label_text(&self) -> String {
        let mut parts: Vec<String> = self.labels.get("instance").into_iter().cloned().collect();
        parts.extend(
            self.labels
                .iter()
                .filter(|(k, _)| !["instance", "job", "severity"].contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}")),
        );
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, fired_ms: u64, resolved_ms: Option<u64>) -> AlertRecord {
        AlertRecord {
            name: name.into(),
            labels: BTreeMap::new(),
            fired_ms,
            notified_ms: Some(fired_ms + 20),
            resolved_ms,
            after: None,
            detect_ms: None,
            notify_ms: None,
            resolve_ms: None,
        }
    }

    #[test]
    fn an_alert_answers_the_last_incident_before_it_and_one_before_all_is_steady_state() {
        let mut r = AlertsRecord {
            alerts: vec![
                alert("Early", 500, None),
                alert("EtcdMemberDown", 5_000, Some(12_000)),
                alert("EtcdNoLeader", 9_000, None),
            ],
            ..Default::default()
        };
        let incidents = [
            Incident {
                what: "fault kill".into(),
                at_ms: 1_000,
                over_ms: Some(8_000),
            },
            Incident {
                what: "disaster".into(),
                at_ms: 8_500,
                over_ms: None,
            },
        ];
        r.attribute(&incidents);
        let steady: Vec<&str> = r.steady_state().map(|a| a.name.as_str()).collect();
        assert_eq!(steady, ["Early"]);
        let down = r.first("EtcdMemberDown").unwrap();
        assert_eq!(
            (down.detect_ms, down.notify_ms, down.resolve_ms),
            (Some(4_000), Some(4_020), Some(4_000))
        );
        let no_leader = r.first("EtcdNoLeader").unwrap();
        assert_eq!(no_leader.after.as_ref().unwrap().what, "disaster");
        assert_eq!(
            (no_leader.detect_ms, no_leader.resolve_ms),
            (Some(500), None)
        );
    }
}
