//! kill: SIGKILL, the default, because SIGTERM lets a leader hand off leadership gracefully and
//! hides the election. Healing restarts the container on its data volume.

use super::{container_of, poll, running_container, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::Kill;
use crate::sandbox::{ContainerState, Runtime};
use std::sync::Arc;
use std::time::Duration;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &Kill,
) -> Result<(), FaultError> {
    signal_all(cluster, active, "SIGKILL", Duration::from_secs(10)).await
}

pub async fn heal(cluster: &mut Cluster, active: &mut Active, _: &Kill) -> Result<(), FaultError> {
    restart(cluster, active).await
}

/// Sends `signal` to every target and proves each container exited.
pub async fn signal_all(
    cluster: &Cluster,
    active: &mut Active,
    signal: &str,
    limit: Duration,
) -> Result<(), FaultError> {
    down(cluster, active, signal, limit, false).await
}

/// Stops the members gracefully (SIGTERM), and, for one still running after `limit`, as
/// `docker stop` does: SIGKILL. For faults that need the member down, not a graceful stop as
/// such (`corrupt`): one run in about ten, a follower of 3.5.30 was still running 20 s after
/// SIGTERM. The proof says which way each went.
pub async fn stop_all(
    cluster: &Cluster,
    active: &mut Active,
    limit: Duration,
) -> Result<(), FaultError> {
    down(cluster, active, "SIGTERM", limit, true).await
}

/// `signal` to every target, then each must exit within `limit`; with `then_kill`, one still
/// running gets SIGKILL and 10 more seconds.
async fn down(
    cluster: &Cluster,
    active: &mut Active,
    signal: &str,
    limit: Duration,
    then_kill: bool,
) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    let what = format!("there is nothing to {}", active.plan.action.verb());
    for m in &active.members {
        let c = running_container(cluster, m, &what).await?;
        rt.kill(&c, signal).await?;
    }
    for m in &active.members {
        let c = container_of(cluster, m)?;
        if let Some(code) = exit_within(&rt, &c, limit).await {
            active.proof.push(format!(
                "{m}: container exited with code {code} after {signal}"
            ));
            continue;
        }
        if !then_kill {
            return Err(FaultError::NoEffect {
                member: m.clone(),
                why: format!("still running {limit:?} after {signal}"),
            });
        }
        rt.kill(&c, "SIGKILL").await?;
        match exit_within(&rt, &c, Duration::from_secs(10)).await {
            Some(code) => active.proof.push(format!(
                "{m}: still running {limit:?} after {signal}; exited with code {code} after SIGKILL"
            )),
            None => {
                return Err(FaultError::NoEffect {
                    member: m.clone(),
                    why: format!("still running {limit:?} after {signal} and 10s after SIGKILL"),
                })
            }
        }
    }
    Ok(())
}

/// The container's exit code, once it has exited within `limit`.
pub(super) async fn exit_within(rt: &Arc<dyn Runtime>, container: &str, limit: Duration) -> Option<i64> {
    poll(limit, || async {
        match rt.state(container).await {
            Ok(ContainerState::Exited(code)) => Some(code),
            _ => None,
        }
    })
    .await
}

/// Starts the stopped members again and learns their new host ports.
pub async fn restart(cluster: &mut Cluster, active: &mut Active) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    for m in &active.members {
        let c = container_of(cluster, m)?;
        rt.start(&c).await?;
        let running = poll(Duration::from_secs(10), || async {
            matches!(rt.state(&c).await, Ok(ContainerState::Running)).then_some(())
        })
        .await;
        if running.is_none() {
            return Err(FaultError::NoEffect {
                member: m.clone(),
                why: "did not come back up after a restart".into(),
            });
        }
        active.proof.push(format!("{m}: restarted"));
    }
    cluster.refresh_ports().await?;
    Ok(())
}
