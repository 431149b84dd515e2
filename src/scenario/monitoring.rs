//! `monitoring:` (Prometheus and Alertmanager beside the members) and what an alert drill
//! expects of them (`expect.alerts`, `expect.no-unexpected-alerts`).

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::time::Duration;

/// Real monitoring for the whole drill: Prometheus scrapes every member and evaluates the rule
/// files; Alertmanager routes what fires to a receiver in the harness.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MonitoringSpec {
    /// Prometheus rule files, relative to the scenario's folder; etcd-drill's own for etcd
    /// when none are named.
    #[serde(default)]
    pub rules: Option<Vec<Spanned<String>>>,
    /// How often Prometheus scrapes the members and evaluates the rules (default 1s).
    #[serde(default, with = "crate::scenario::duration::option")]
    pub scrape_interval: Option<Duration>,
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerSpec>,
}

/// Alertmanager's route timings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlertmanagerSpec {
    #[serde(default, with = "crate::scenario::duration::option")]
    pub group_wait: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub group_interval: Option<Duration>,
    #[serde(default, with = "crate::scenario::duration::option")]
    pub repeat_interval: Option<Duration>,
}

/// `expect.alerts`: each alert by its name, and how soon it must fire and resolve.
pub type AlertsExpected = BTreeMap<String, Spanned<AlertExpect>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlertExpect {
    /// Longest allowed time from the fault's injection (or the disaster) to the alert firing.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub fires_within: Option<Duration>,
    /// Longest allowed time from the heal (or the restored cluster serving) to the alert
    /// resolving.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub resolves_within: Option<Duration>,
}
