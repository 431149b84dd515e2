//! What a finished run leaves: its run directory (report, renderings, manifest), the
//! manifest's signature, the webhook's notification and the Pushgateway's metrics. A failed
//! notification or push is a warning: the verdict stays what the drill proved.

use super::Output;
use crate::evidence::sign::Signer;
use crate::plan::Plan;
use crate::record::{RunReport, Verdict};
use std::path::Path;

pub(super) fn write_run_dir(report: &RunReport, run_dir: &Path, out: &mut dyn Output) {
    let written = crate::report::artifacts::write_run_dir(report, run_dir);
    for (path, e) in &written.errors {
        out.say(format!("cannot write {}: {e}", path.display()));
    }
    if let Some(json) = written.files.iter().find(|p| p.ends_with("report.json")) {
        out.say(format!("report: {}", json.display()));
    }
    if written.errors.is_empty() {
        out.say(format!(
            "evidence: report.md, report.html, junit.xml, metrics.prom, sealed by {} (sha256sum -c)",
            crate::report::manifest::MANIFEST
        ));
    }
}

/// Signs the run's manifest; `false` when it could not (the run then counts as an
/// environment failure: evidence that was asked to be signed is not).
pub(super) fn sign(
    signer: &Signer,
    report: &RunReport,
    run_dir: &Path,
    out: &mut dyn Output,
) -> bool {
    match signer.sign_manifest(run_dir, &report.run_id, &report.scenario.name) {
        Ok(path) => {
            out.say(format!(
                "signed: {} (key id {}; minisign -Vm {} -p KEY.pub)",
                path.display(),
                signer.key_id(),
                crate::report::manifest::MANIFEST
            ));
            true
        }
        Err(e) => {
            out.say(format!("the evidence is not signed: {e}"));
            false
        }
    }
}

/// The scenario's webhook, if it asks for one now. A failed notification is a warning: the
/// drill's verdict and exit code stay what the drill proved.
pub(super) async fn notify(plan: &Plan, report: &RunReport, run_dir: &Path, out: &mut dyn Output) {
    let Some(n) = &plan.notify else { return };
    if n.on == crate::scenario::NotifyOn::Failure && report.verdict == Verdict::Passed {
        return;
    }
    let payload = crate::notify::payload(report, Some(&run_dir.join("report.json")));
    let deadline = std::time::Duration::from_secs(10);
    if let Err(e) = crate::notify::notify(&n.url, &payload, deadline).await {
        out.say(format!("warning: notification not delivered: {e}"));
    }
}

/// The run's metrics to the Pushgateway; a failed push is a warning, like a webhook's.
pub(super) async fn push(gateway: &str, report: &RunReport, out: &mut dyn Output) {
    let mut body = Vec::new();
    if crate::report::metrics::render(report, &mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let deadline = std::time::Duration::from_secs(10);
    let version = report
        .environment
        .etcd_version
        .as_deref()
        .unwrap_or("unknown");
    let group = (report.scenario.name.as_str(), version);
    match crate::notify::push_metrics(gateway, group, body, deadline).await {
        Ok(_) => out.say(format!(
            "metrics pushed to {}",
            crate::notify::redact(gateway)
        )),
        Err(e) => out.say(format!("warning: metrics not pushed: {e}")),
    }
}
