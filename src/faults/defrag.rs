//! `defrag`: each target's database defragmented in turn (etcd blocks the member's reads and
//! writes meanwhile). Proof: etcd's answer, the time each member was blocked and its database
//! before and after. Nothing to heal.

use super::{Active, FaultError};
use crate::cluster::{connect, within, Cluster};
use crate::plan::faults::Defrag;
use std::time::{Duration, Instant};

/// How long one member's defragmentation may take.
const LIMIT: Duration = Duration::from_secs(300);

pub async fn inject(cluster: &mut Cluster, active: &mut Active, _: &Defrag) -> Result<(), FaultError> {
    for m in active.members.clone() {
        let line = defragment(cluster, &m).await?;
        active.proof.push(line);
    }
    Ok(())
}

pub async fn heal(_: &mut Cluster, _: &mut Active, _: &Defrag) -> Result<(), FaultError> {
    Ok(())
}

/// Defragments one member and says how long it was blocked, and its database before and after.
pub async fn defragment(cluster: &Cluster, member: &str) -> Result<String, FaultError> {
    let m = cluster
        .members
        .iter()
        .find(|m| m.name == member)
        .ok_or_else(|| FaultError::Target(format!("no member named {member}")))?;
    let mut c = connect(&[m.endpoint()]).await?;
    let size = |s: &etcd_client::StatusResponse| s.db_size() as f64 / 1e6;
    let before = within("status", member, Duration::from_secs(5), c.status()).await?;
    let start = Instant::now();
    within("defragment", member, LIMIT, c.defragment()).await?;
    let blocked = start.elapsed();
    let after = within("status", member, Duration::from_secs(5), c.status()).await?;
    Ok(format!(
        "{member}: defragmented, blocked {} ms (db {:.1} MB → {:.1} MB)",
        blocked.as_millis(),
        size(&before),
        size(&after)
    ))
}
