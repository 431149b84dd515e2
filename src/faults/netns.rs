//! Commands run inside a member's network namespace from the host: `nsenter -t PID -n CMD`.
//! Needs a local Docker engine and root; `preflight` checks both before a drill starts.

use super::FaultError;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `cmd args…` in the network namespace of process `pid`; returns its stdout.
pub async fn run(pid: u32, cmd: &str, args: &[&str]) -> Result<String, FaultError> {
    let pid_s = pid.to_string();
    let mut full = vec!["-t", pid_s.as_str(), "-n", cmd];
    full.extend_from_slice(args);
    let line = format!("nsenter {}", full.join(" "));
    let child = tokio::process::Command::new("nsenter")
        .args(&full)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .map_err(|_| FaultError::Command {
            line: line.clone(),
            error: format!("no answer within {DEADLINE:?}"),
        })?
        .map_err(|e| FaultError::Command {
            line: line.clone(),
            error: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(FaultError::Command {
            line,
            error: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `iptables args…` in the network namespace of process `pid`.
pub async fn iptables(pid: u32, args: &[String]) -> Result<String, FaultError> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run(pid, "iptables", &a).await
}

/// Why network faults cannot run here, or `None` when they can. `tc` is only needed for
/// bandwidth; `ss` only for delay (it makes etcd re-dial its peers through the delay proxy).
pub fn preflight(docker_host: &str, need_tc: bool, need_ss: bool) -> Option<String> {
    if !(docker_host.starts_with("unix://") || docker_host.is_empty()) {
        return Some(format!(
            "network faults enter the members' network namespaces from this host, but the Docker engine is remote ({docker_host})"
        ));
    }
    if !is_root() {
        return Some(
            "network faults need root (nsenter into the members' network namespaces)".into(),
        );
    }
    let mut tools = vec!["nsenter", "iptables"];
    if need_tc {
        tools.push("tc");
    }
    if need_ss {
        tools.push("ss");
    }
    for tool in tools {
        if !on_path(tool) {
            return Some(format!(
                "network faults need `{tool}` on PATH (Debian: util-linux, iptables, iproute2)"
            ));
        }
    }
    None
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).is_file())
}

/// Checks, before anything starts, that every network fault in `plans` can run here. Returns
/// the first reason one cannot, naming the scenario.
pub fn preflight_plans(plans: &[crate::plan::Plan]) -> Result<(), String> {
    use crate::plan::{FaultAction, StepKind};
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    for plan in plans {
        let mut need: Option<(bool, bool)> = None;
        for step in &plan.steps {
            let StepKind::Fault(f) = &step.kind else {
                continue;
            };
            let (tc, ss) = need.unwrap_or((false, false));
            need = match &f.action {
                FaultAction::Partition(_) => Some((tc, ss)),
                FaultAction::SlowNetwork(s) => {
                    Some((tc || s.bandwidth_kbit.is_some(), ss || s.delay.is_some()))
                }
                _ => need,
            };
        }
        if let Some((tc, ss)) = need {
            if let Some(why) = preflight(&host, tc, ss) {
                return Err(format!(
                    "{}: cannot run this drill here: {why}",
                    plan.path.display()
                ));
            }
        }
    }
    Ok(())
}
