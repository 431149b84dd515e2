//! The terminal reporter: one line per event on stderr, and a progress bar while seeding.

use crate::events::{EventKind, RunEvent};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;

pub struct TerminalReporter {
    bar: Option<ProgressBar>,
}

impl Default for TerminalReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalReporter {
    pub fn new() -> Self {
        TerminalReporter { bar: None }
    }

    fn line(&self, e: &RunEvent, text: &str) {
        let line = format!("[{:>8.3}s] {text}", e.elapsed.as_secs_f64());
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    pub fn on(&mut self, e: &RunEvent) {
        match &e.kind {
            EventKind::Progress {
                phase,
                unit,
                done,
                total,
            } => self.progress(phase, unit, *done, *total),
            EventKind::StepFinished { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            EventKind::StepFailed { .. } | EventKind::Interrupted => {
                if let Some(bar) = self.bar.take() {
                    bar.abandon();
                }
            }
            _ => {}
        }
        if let Some(text) = line_of(&e.kind) {
            self.line(e, &text);
        }
    }

    /// A bar only on a terminal: in a log the step's own line at its end says how long the
    /// phase took (a hidden bar would swallow the lines printed through it).
    fn progress(&mut self, phase: &'static str, unit: &'static str, done: u64, total: u64) {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return;
        }
        if self.bar.as_ref().is_some_and(|b| b.message() != phase) {
            if let Some(old) = self.bar.take() {
                old.finish_and_clear();
            }
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(total);
            let template = if unit == "bytes" {
                "  {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}".to_string()
            } else {
                format!("  {{msg}} {{bar:30}} {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}")
            };
            if let Ok(style) = ProgressStyle::with_template(&template) {
                b.set_style(style);
            }
            b.set_message(phase);
            b
        });
        bar.set_length(total.max(done));
        bar.set_position(done);
    }
}

fn short(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..id.len().min(12)]
}

/// The line an event prints (`None`: a progress tick, drawn as a bar).
fn line_of(kind: &EventKind) -> Option<String> {
    Some(match kind {
        EventKind::RunStarted { run_id, scenario } => format!("run {run_id}: scenario {scenario}"),
        EventKind::Note(n) => n.clone(),
        EventKind::Environment { docker, image } => format!(
            "docker {docker}; image {} ({}, {})",
            image.name,
            short(&image.id),
            image.source
        ),
        EventKind::ClusterCreated { members } => {
            let m: Vec<String> = members.iter().map(|(n, ep)| format!("{n} {ep}")).collect();
            format!("cluster up: {}", m.join(", "))
        }
        EventKind::ClusterHealthy(h) => {
            format!("cluster healthy: etcd {}, leader {}", h.version, h.leader)
        }
        EventKind::StepStarted {
            index,
            total,
            label,
        } => format!("step {index}/{total} {label} ..."),
        EventKind::Progress { .. } => return None,
        EventKind::StepFinished {
            index,
            label,
            duration,
            outcome,
        } => format!(
            "step {index} {label} ok in {} ms{}",
            duration.as_millis(),
            outcome.summary()
        ),
        EventKind::StepFailed {
            index,
            label,
            duration,
            error,
            ..
        } => format!(
            "step {index} {label} FAILED after {} ms: {error}",
            duration.as_millis()
        ),
        EventKind::FaultObserved(f) => format!("fault {}: {}", f.name, f.proof.join("; ")),
        EventKind::WorkloadStopped(w) => format!(
            "workload stopped: {} writes, {} acknowledged",
            w.attempts, w.acknowledged
        ),
        EventKind::AlertsStopped(a) => format!(
            "monitoring stopped: {} alert(s) fired, {} notification(s) received",
            a.alerts.len(),
            a.notifications
        ),
        EventKind::BackupsStopped(b) => format!(
            "backups stopped: {} taken, {} failed, {} deleted by retention, {} in the store",
            b.taken.len(),
            b.failures.len(),
            b.deleted.len(),
            b.remaining.len()
        ),
        EventKind::Tls(info) => format!(
            "TLS on: certificates in {}; try `{}`",
            info.dir.display(),
            info.etcdctl
        ),
        EventKind::SetupFailed(err) => format!("set-up failed: {err}"),
        EventKind::Kept { hint } => hint.clone(),
        EventKind::TornDown { leftovers } if leftovers.is_empty() => "sandbox removed".into(),
        EventKind::TornDown { leftovers } => {
            format!("sandbox teardown left errors: {}", leftovers.join("; "))
        }
        EventKind::Interrupted => "interrupted: tearing down".into(),
    })
}
