//! Prometheus's and Alertmanager's configuration for a drill, and the wait for the first
//! scrape.

use crate::plan::MonitoringPlan;
use std::time::Duration;

/// Where the receiver listens, inside Alertmanager's network namespace.
pub const SINK_PORT: u16 = 9099;

fn secs(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Scrapes every member as job `etcd` (instance `etcd-N:2379`), evaluates the rule files, sends
/// to the run's Alertmanager.
pub fn prometheus(plan: &MonitoringPlan, members: &[String]) -> String {
    let targets: Vec<String> = members
        .iter()
        .map(|m| format!("\"{m}:{}\"", crate::sandbox::CLIENT_PORT))
        .collect();
    let rules: Vec<String> = (0..plan.rules.len())
        .map(|i| format!("\"/etc/prometheus/rules/{i}.yml\""))
        .collect();
    let every = secs(plan.scrape_interval);
    format!(
        "global:\n  scrape_interval: {every}\n  scrape_timeout: {every}\n  evaluation_interval: {every}\n\
         rule_files: [{}]\n\
         alerting:\n  alertmanagers:\n    - static_configs: [{{ targets: [\"alertmanager:9093\"] }}]\n\
         scrape_configs:\n  - job_name: etcd\n    static_configs: [{{ targets: [{}] }}]\n",
        rules.join(", "),
        targets.join(", ")
    )
}

/// Every alert its own notification (grouped by all its labels), to the receiver in the
/// harness, resolutions too.
pub fn alertmanager(plan: &MonitoringPlan) -> String {
    format!(
        "route:\n  receiver: harness\n  group_by: ['...']\n  group_wait: {}\n  group_interval: {}\n  repeat_interval: {}\n\
         receivers:\n  - name: harness\n    webhook_configs:\n      - url: \"http://127.0.0.1:{SINK_PORT}/\"\n        send_resolved: true\n",
        secs(plan.group_wait),
        secs(plan.group_interval),
        secs(plan.repeat_interval)
    )
}

pub fn prometheus_args() -> (Vec<String>, Vec<String>) {
    (
        vec!["prometheus".into()],
        [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/tmp/prometheus",
            "--web.listen-address=:9090",
            // Targets reach the scrape loops at most this often; Prometheus's own 5 s would
            // leave the members unwatched for the first 5 s of the drill.
            "--scrape.discovery-reload-interval=100ms",
        ]
        .map(String::from)
        .to_vec(),
    )
}

/// No cluster of Alertmanagers: without `--cluster.listen-address=` it waits for peers
/// before its first notification.
pub fn alertmanager_args() -> (Vec<String>, Vec<String>) {
    (
        vec!["alertmanager".into()],
        [
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/tmp/alertmanager",
            "--cluster.listen-address=",
            "--web.listen-address=:9093",
        ]
        .map(String::from)
        .to_vec(),
    )
}

/// Waits until Prometheus has scraped all `members` and each answered (`up` 1).
pub async fn wait_scraped(address: &str, members: usize, deadline: Duration) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        data: Targets,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Targets {
        active_targets: Vec<Target>,
    }
    #[derive(serde::Deserialize)]
    struct Target {
        health: String,
    }
    let client = reqwest::Client::new();
    let url = format!("{address}/api/v1/targets");
    let until = tokio::time::Instant::now() + deadline;
    let mut last = String::from("no answer");
    while tokio::time::Instant::now() < until {
        let got = client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        match got {
            Ok(r) => match r
                .bytes()
                .await
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Answer>(&b).map_err(|e| e.to_string()))
            {
                Ok(a) => {
                    let up = a
                        .data
                        .active_targets
                        .iter()
                        .filter(|t| t.health == "up")
                        .count();
                    if up == members {
                        return Ok(());
                    }
                    last = format!("{up} of {members} members scraped");
                }
                Err(e) => last = e,
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "Prometheus did not scrape every member within {}s: {last}",
        deadline.as_secs()
    ))
}

/// Per member, the scrapes of the run that got no answer (`up` 0), from Prometheus itself.
/// Empty when Prometheus does not answer: the alerts are the evidence, this is context.
pub async fn failed_scrapes(address: &str, run_ms: u64) -> std::collections::BTreeMap<String, u64> {
    #[derive(serde::Deserialize)]
    struct Answer {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        result: Vec<Sample>,
    }
    #[derive(serde::Deserialize)]
    struct Sample {
        metric: std::collections::BTreeMap<String, String>,
        value: (f64, String),
    }
    let window = format!("{}s", run_ms / 1000 + 1);
    let query = format!("count_over_time(up{{job=\"etcd\"}}[{window}]) - sum_over_time(up{{job=\"etcd\"}}[{window}])");
    let Ok(url) =
        reqwest::Url::parse_with_params(&format!("{address}/api/v1/query"), [("query", query)])
    else {
        return Default::default();
    };
    let got = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let body = match got {
        Ok(r) => r.bytes().await.unwrap_or_default(),
        Err(_) => return Default::default(),
    };
    let Ok(answer) = serde_json::from_slice::<Answer>(&body) else {
        return Default::default();
    };
    answer
        .data
        .result
        .into_iter()
        .filter_map(|s| {
            let failed = s.value.1.parse::<f64>().ok()? as u64;
            Some((s.metric.get("instance")?.clone(), failed))
        })
        .collect()
}
