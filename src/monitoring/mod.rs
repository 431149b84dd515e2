//! Real monitoring beside the members for an alert drill: Prometheus scrapes every member's
//! `/metrics` over the run's network (members keep their names across restores) and evaluates
//! the rule files; Alertmanager routes what fires to a webhook receiver, a thread of the
//! harness inside Alertmanager's own network namespace (`sink`), so the notification a person
//! would get is what is timed. Both containers carry the run's labels and go with the sandbox.

mod config;
mod sink;

use crate::events::Clock;
use crate::plan::MonitoringPlan;
use crate::record::{AlertRecord, AlertsRecord};
use crate::sandbox::{ContainerSpec, Sandbox};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where Prometheus answers inside its container.
const PROMETHEUS_PORT: u16 = 9090;
/// How long Prometheus may take to scrape every member once.
const FIRST_SCRAPE: Duration = Duration::from_secs(30);

pub struct Monitoring {
    plan: MonitoringPlan,
    sandbox: Arc<Sandbox>,
    containers: [String; 2],
    /// Prometheus's API, at its published port.
    prometheus: String,
    sink: sink::Sink,
    clock: Clock,
    /// How many members the first scrape must find answering.
    members_up: usize,
    /// Since when every member has been scraped (`watch`).
    watching_from_ms: Option<u64>,
}

impl Monitoring {
    /// Starts Alertmanager, its receiver and Prometheus, without waiting for a scrape: the
    /// members may still be starting (`watch` waits). `Err` with why, the containers' logs
    /// kept in `run_dir`.
    pub async fn launch(
        plan: &MonitoringPlan,
        sandbox: Arc<Sandbox>,
        (members, running): (&[String], bool),
        clock: Clock,
        run_dir: &std::path::Path,
    ) -> Result<Monitoring, String> {
        let image = crate::image::monitoring::image_name();
        let am = sandbox.name("alertmanager");
        let prom = sandbox.name("prometheus");
        let containers = [am.clone(), prom.clone()];
        let started = async {
            // Prometheus first: it hands its first targets to the scrapers 5 s after it starts.
            let mut files = vec![(
                "etc/prometheus/prometheus.yml".to_string(),
                config::prometheus(plan, members),
            )];
            for (i, r) in plan.rules.iter().enumerate() {
                files.push((format!("etc/prometheus/rules/{i}.yml"), r.text.clone()));
            }
            start(
                &sandbox,
                &prom,
                &image,
                "prometheus",
                config::prometheus_args(),
                &files,
                Some(PROMETHEUS_PORT),
            )
            .await?;
            let am_files = [(
                "etc/alertmanager/alertmanager.yml".to_string(),
                config::alertmanager(plan),
            )];
            start(
                &sandbox,
                &am,
                &image,
                "alertmanager",
                config::alertmanager_args(),
                &am_files,
                None,
            )
            .await?;
            let pid = sandbox
                .runtime
                .pid(&am)
                .await
                .map_err(|e| crate::util::error_chain(&e))?;
            let sink = sink::Sink::start(pid, clock).await?;
            let port = sandbox
                .runtime
                .host_port(&prom, PROMETHEUS_PORT)
                .await
                .map_err(|e| crate::util::error_chain(&e))?;
            let address = format!("http://{}:{port}", sandbox.runtime.engine_address());
            Ok::<_, String>((sink, address))
        };
        match started.await {
            Ok((sink, prometheus)) => Ok(Monitoring {
                plan: plan.clone(),
                sandbox,
                containers,
                prometheus,
                sink,
                clock,
                members_up: if running { members.len() } else { 0 },
                watching_from_ms: None,
            }),
            Err(e) => {
                keep_logs(&sandbox, &containers, run_dir).await;
                Err(format!(
                    "monitoring did not start: {e} (logs in {})",
                    run_dir.display()
                ))
            }
        }
    }

    /// Waits until every member the cluster started with was scraped once (Prometheus hands
    /// its first targets to the scrapers only 5 s after it starts); from then on the monitoring
    /// watches. Done once; `Err` with why, the containers' logs kept in `run_dir`.
    pub async fn watch(&mut self, run_dir: &std::path::Path) -> Result<(), String> {
        self.watch_within(FIRST_SCRAPE, run_dir).await
    }

    async fn watch_within(
        &mut self,
        deadline: Duration,
        run_dir: &std::path::Path,
    ) -> Result<(), String> {
        if self.watching_from_ms.is_some() {
            return Ok(());
        }
        match config::wait_scraped(&self.prometheus, self.members_up, deadline).await {
            Ok(()) => {
                self.watching_from_ms = Some(self.clock.ms());
                Ok(())
            }
            Err(e) => {
                keep_logs(&self.sandbox, &self.containers, run_dir).await;
                Err(format!(
                    "monitoring is not watching: {e} (logs in {})",
                    run_dir.display()
                ))
            }
        }
    }

    /// Waits (up to the longest `resolves-within` expected) for the alerts expected to resolve
    /// that still fire, then stops the receiver and says what the monitoring raised. Others
    /// still firing are reported so, not waited for.
    pub async fn stop(mut self, run_dir: &std::path::Path) -> AlertsRecord {
        // A drill that never disturbed its cluster did not wait for the first scrape: one look
        // (its steps gave Prometheus the time), not the wait.
        let _ = self.watch_within(Duration::from_secs(1), run_dir).await;
        let grace = self
            .plan
            .expected
            .iter()
            .filter_map(|e| e.resolves_within)
            .max();
        if let Some(grace) = grace {
            let until = tokio::time::Instant::now() + grace;
            let awaited: Vec<&str> = (self.plan.expected.iter())
                .filter(|e| e.resolves_within.is_some())
                .map(|e| e.name.as_str())
                .collect();
            let firing = |s: &sink::Sink| {
                alerts(&s.received(), self.clock)
                    .iter()
                    .any(|a| a.resolved_ms.is_none() && awaited.contains(&a.name.as_str()))
            };
            while tokio::time::Instant::now() < until && firing(&self.sink) {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        let failed_scrapes = config::failed_scrapes(&self.prometheus, self.clock.ms()).await;
        let received = self.sink.stop().await;
        keep_logs(&self.sandbox, &self.containers, run_dir).await;
        AlertsRecord {
            prometheus: crate::image::monitoring::PROMETHEUS.into(),
            alertmanager: crate::image::monitoring::ALERTMANAGER.into(),
            rules: self.plan.rules.iter().map(|r| r.name.clone()).collect(),
            defined: self
                .plan
                .rules
                .iter()
                .flat_map(|r| r.alerts.clone())
                .collect(),
            scrape_interval_ms: self.plan.scrape_interval.as_millis() as u64,
            watching_from_ms: self.watching_from_ms.unwrap_or_else(|| self.clock.ms()),
            notifications: received.len() as u64,
            failed_scrapes,
            alerts: alerts(&received, self.clock),
            never_fired: Vec::new(),
        }
    }
}

/// Creates `name` from the monitoring image, puts its files in, starts it.
async fn start(
    sandbox: &Sandbox,
    name: &str,
    image: &str,
    role: &str,
    (entrypoint, cmd): (Vec<String>, Vec<String>),
    files: &[(String, String)],
    publish: Option<u16>,
) -> Result<(), String> {
    let spec = ContainerSpec {
        name: name.to_string(),
        image: image.to_string(),
        entrypoint: Some(entrypoint),
        cmd,
        labels: sandbox.labels(role),
        network: sandbox.network.clone(),
        aliases: vec![role.to_string()],
        volumes: Vec::new(),
        host_files: Vec::new(),
        publish,
        cap_add: Vec::new(),
        devices: Vec::new(),
    };
    let err = |e: crate::sandbox::SandboxError| crate::util::error_chain(&e);
    sandbox.runtime.create_container(&spec).await.map_err(err)?;
    let entries: Vec<(&str, u32, &[u8])> = files
        .iter()
        .map(|(p, text)| (p.as_str(), 0o644, text.as_bytes()))
        .collect();
    let tar = crate::sandbox::tar_of(&entries).map_err(|e| e.to_string())?;
    sandbox.runtime.upload(name, "/", tar).await.map_err(err)?;
    sandbox.runtime.start(name).await.map_err(err)
}

/// Each container's log in the run directory (`prometheus.log`, `alertmanager.log`).
async fn keep_logs(sandbox: &Sandbox, containers: &[String], run_dir: &std::path::Path) {
    for (c, role) in containers.iter().zip(["alertmanager", "prometheus"]) {
        if let Ok((out, err)) = sandbox.runtime.logs(c).await {
            let _ = std::fs::create_dir_all(run_dir);
            let _ = std::fs::write(run_dir.join(format!("{role}.log")), format!("{out}{err}"));
        }
    }
}

/// One notification the receiver got: when (ms since the run started) and its body.
#[derive(Debug, Clone)]
pub struct Received {
    pub at_ms: u64,
    pub body: Vec<u8>,
}

/// Every alert the notifications told of, one per name and label set, in the order fired.
fn alerts(received: &[Received], clock: Clock) -> Vec<AlertRecord> {
    #[derive(serde::Deserialize)]
    struct Notification {
        alerts: Vec<Alert>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Alert {
        status: String,
        labels: BTreeMap<String, String>,
        starts_at: String,
        ends_at: String,
    }
    let mut out: Vec<AlertRecord> = Vec::new();
    for n in received {
        let Ok(parsed) = serde_json::from_slice::<Notification>(&n.body) else {
            continue;
        };
        for a in parsed.alerts {
            let mut labels = a.labels;
            let Some(name) = labels.remove("alertname") else {
                continue;
            };
            let Some(fired_ms) = clock.ms_at(&a.starts_at) else {
                continue;
            };
            let i = match out
                .iter()
                .position(|x| x.name == name && x.labels == labels && x.fired_ms == fired_ms)
            {
                Some(i) => i,
                None => {
                    out.push(AlertRecord {
                        name,
                        labels,
                        fired_ms,
                        notified_ms: None,
                        resolved_ms: None,
                        after: None,
                        detect_ms: None,
                        notify_ms: None,
                        resolve_ms: None,
                    });
                    out.len() - 1
                }
            };
            let x = &mut out[i];
            if a.status == "firing" {
                x.notified_ms.get_or_insert(n.at_ms);
            } else if a.status == "resolved" {
                x.resolved_ms = x.resolved_ms.or(clock.ms_at(&a.ends_at));
            }
        }
    }
    out.sort_by_key(|a| a.fired_ms);
    out
}
