//! `replace-member`: the member's disk is gone. It dies (SIGKILL), and the operator replaces
//! it as etcd's runbook says: remove it from the membership, wipe its data, add it back as a
//! new member that syncs from the leader. Nothing is left to heal.

use super::{corrupt, kill, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::ReplaceMember;
use std::time::Duration;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &ReplaceMember,
) -> Result<(), FaultError> {
    kill::signal_all(cluster, active, "SIGKILL", Duration::from_secs(10)).await?;
    let m = active
        .members
        .first()
        .cloned()
        .ok_or_else(|| FaultError::Target("replace-member needs one member".into()))?;
    let line = corrupt::re_add(cluster, &m, &active.plan.name).await?;
    active.proof.push(line);
    Ok(())
}

/// Replaced at injection: nothing is left to heal.
pub async fn heal(_: &mut Cluster, _: &mut Active, _: &ReplaceMember) -> Result<(), FaultError> {
    Ok(())
}
