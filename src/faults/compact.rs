//! `compact`: the keyspace compacted to the revision it has now. Proof: etcd's answer and the
//! time it took. Nothing to heal.

use super::{Active, FaultError};
use crate::cluster::{within, Cluster};
use crate::plan::faults::Compact;
use std::time::{Duration, Instant};

pub async fn inject(cluster: &mut Cluster, active: &mut Active, k: &Compact) -> Result<(), FaultError> {
    let line = compact(cluster, k.physical).await?;
    active.proof.push(line);
    Ok(())
}

pub async fn heal(_: &mut Cluster, _: &mut Active, _: &Compact) -> Result<(), FaultError> {
    Ok(())
}

/// Compacts to the current revision; says to which and how long it took.
pub async fn compact(cluster: &Cluster, physical: bool) -> Result<String, FaultError> {
    let mut c = cluster.client().await?;
    let status = within("status", "the cluster", Duration::from_secs(5), c.status()).await?;
    let revision = status.header().map(|h| h.revision()).unwrap_or_default();
    let options = physical.then(|| etcd_client::CompactionOptions::new().with_physical());
    let start = Instant::now();
    within(
        "compact",
        "the cluster",
        Duration::from_secs(120),
        c.compact(revision, options),
    )
    .await?;
    Ok(format!(
        "compacted to revision {revision} in {} ms{}",
        start.elapsed().as_millis(),
        if physical { " (physical)" } else { "" }
    ))
}
