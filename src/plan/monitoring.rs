//! An alert drill's plan: the rule files (read and named now, so the run uses exactly what was
//! validated), Prometheus's and Alertmanager's timings, and the alerts the drill expects.

use crate::scenario::{Problem, Scenario};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// etcd-drill's own rules for etcd, used when a scenario names none.
pub const DEFAULT_RULES: &str = include_str!("../../docker/prometheus/etcd-alerts.yml");
pub const DEFAULT_RULES_NAME: &str = "etcd-alerts.yml (etcd-drill's rules for etcd)";

#[derive(Debug, Clone, Serialize)]
pub struct MonitoringPlan {
    pub rules: Vec<RuleFile>,
    #[serde(with = "crate::util::millis")]
    pub scrape_interval: Duration,
    #[serde(with = "crate::util::millis")]
    pub group_wait: Duration,
    #[serde(with = "crate::util::millis")]
    pub group_interval: Duration,
    #[serde(with = "crate::util::millis")]
    pub repeat_interval: Duration,
    pub expected: Vec<ExpectedAlert>,
    /// Nothing may fire that `expected` does not name, nor anything before the first fault.
    pub no_unexpected: bool,
}

/// A Prometheus rule file: where it came from, its text, and the alerts it defines.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFile {
    /// The path as the scenario named it, or the shipped file's name.
    pub name: String,
    /// Where it is read from (`None`: the shipped file, built in).
    #[serde(skip)]
    pub path: Option<std::path::PathBuf>,
    #[serde(skip)]
    pub text: String,
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpectedAlert {
    pub name: String,
    #[serde(with = "crate::util::opt_millis")]
    pub fires_within: Option<Duration>,
    #[serde(with = "crate::util::opt_millis")]
    pub resolves_within: Option<Duration>,
}

/// The alert names a rule file defines, or what is wrong with its shape (promtool says the
/// rest: expressions, templates).
pub fn alert_names(text: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct File {
        groups: Vec<Group>,
    }
    #[derive(Deserialize)]
    struct Group {
        #[serde(default)]
        rules: Vec<Rule>,
    }
    #[derive(Deserialize)]
    struct Rule {
        alert: Option<String>,
    }
    // The parser's first line says what and where; the rest is a drawing of the file.
    let file: File = serde_saphyr::from_str(text).map_err(|e| {
        let said = e.to_string();
        let first = said.lines().next().unwrap_or_default();
        first.trim_start_matches("error: ").to_string()
    })?;
    Ok(file
        .groups
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| r.alert)
        .collect())
}

pub(super) fn monitoring(
    s: &Scenario,
    dir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<MonitoringPlan> {
    let expect = s.expect.as_ref().map(|e| &e.value);
    let expected_alerts = expect.and_then(|e| e.alerts.as_ref());
    let Some(spec) = &s.monitoring else {
        if let Some(alerts) = expected_alerts {
            problems.push(Problem::at(
                &alerts.referenced,
                "expected `monitoring:` for `expect.alerts`: alerts are watched only when Prometheus and Alertmanager run",
            ));
        }
        if let Some(e) = s
            .expect
            .as_ref()
            .filter(|e| e.value.no_unexpected_alerts.is_some())
        {
            problems.push(Problem::at(
                &e.referenced,
                "expected `monitoring:` for `expect.no-unexpected-alerts`",
            ));
        }
        return None;
    };
    if s.cluster.tls == Some(true) {
        problems.push(Problem::at(
            &spec.referenced,
            "expected a cluster without TLS: alert drills scrape the members' metrics over plain HTTP",
        ));
    }
    let m = &spec.value;
    let rules = match &m.rules {
        None => vec![RuleFile {
            name: DEFAULT_RULES_NAME.into(),
            path: None,
            text: DEFAULT_RULES.into(),
            alerts: alert_names(DEFAULT_RULES).unwrap_or_default(),
        }],
        Some(files) => files
            .iter()
            .filter_map(|f| {
                rule_file(&f.value, dir)
                    .map_err(|e| problems.push(Problem::at(&f.referenced, e)))
                    .ok()
            })
            .collect(),
    };
    let defined: Vec<&String> = rules.iter().flat_map(|r| &r.alerts).collect();
    let mut expected = Vec::new();
    for (name, e) in expected_alerts.map(|a| &a.value).into_iter().flatten() {
        if !defined.contains(&name) && m.rules.as_ref().is_none_or(|r| r.len() == rules.len()) {
            problems.push(Problem::at(
                &e.referenced,
                format!(
                    "expected an alert the rule files define: no rule raises {name} (they define {})",
                    defined.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        expected.push(ExpectedAlert {
            name: name.clone(),
            fires_within: e.value.fires_within,
            resolves_within: e.value.resolves_within,
        });
    }
    let scrape_interval = m.scrape_interval.unwrap_or(Duration::from_secs(1));
    let am = m.alertmanager.as_ref();
    let group_interval = am
        .and_then(|a| a.group_interval)
        .unwrap_or(Duration::from_secs(1));
    let repeat_interval = am
        .and_then(|a| a.repeat_interval)
        .unwrap_or(Duration::from_secs(3600));
    if scrape_interval < Duration::from_millis(100)
        || group_interval.is_zero()
        || repeat_interval.is_zero()
    {
        problems.push(Problem::at(
            &spec.referenced,
            "expected a scrape-interval of at least 100ms and group-interval and repeat-interval above 0",
        ));
    }
    Some(MonitoringPlan {
        rules,
        scrape_interval,
        group_wait: am.and_then(|a| a.group_wait).unwrap_or(Duration::ZERO),
        group_interval,
        repeat_interval,
        expected,
        no_unexpected: expect.and_then(|e| e.no_unexpected_alerts).unwrap_or(false),
    })
}

/// A rule file named by the scenario, relative to its folder.
fn rule_file(name: &str, dir: &Path) -> Result<RuleFile, String> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "expected a Prometheus rule file: cannot read {}: {e}",
            path.display()
        )
    })?;
    let alerts = alert_names(&text).map_err(|e| {
        format!(
            "expected a Prometheus rule file (`groups:` of `rules:`) in {}: {e}",
            path.display()
        )
    })?;
    Ok(RuleFile {
        name: name.to_string(),
        path: Some(path),
        text,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_define_the_documented_alerts() {
        let names = alert_names(DEFAULT_RULES).unwrap();
        for a in [
            "EtcdNoLeader",
            "EtcdMemberDown",
            "EtcdInsufficientMembers",
            "EtcdFrequentLeaderChanges",
            "EtcdSlowWalFsync",
            "EtcdSlowBackendCommit",
            "EtcdFailedProposals",
            "EtcdDatabaseNearQuota",
            "EtcdNoSpace",
        ] {
            assert!(names.iter().any(|n| n == a), "{a} in {names:?}");
        }
    }
}
