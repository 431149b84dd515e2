//! pause: the member frozen (cgroup freezer, like SIGSTOP for the whole container): its
//! sockets stay open but nothing answers. Healing unfreezes it.

use super::{container_of, running_container, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::Pause;
use crate::sandbox::ContainerState;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &Pause,
) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    for m in &active.members {
        let c = running_container(cluster, m, "it cannot be paused").await?;
        rt.pause(&c).await?;
        match rt.state(&c).await? {
            ContainerState::Paused => active.proof.push(format!("{m}: container paused")),
            other => {
                return Err(FaultError::NoEffect {
                    member: m.clone(),
                    why: format!("state is {other:?} after pause"),
                })
            }
        }
    }
    Ok(())
}

pub async fn heal(cluster: &mut Cluster, active: &mut Active, _: &Pause) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    for m in &active.members {
        let c = container_of(cluster, m)?;
        rt.unpause(&c).await?;
        active.proof.push(format!("{m}: unpaused"));
    }
    Ok(())
}
