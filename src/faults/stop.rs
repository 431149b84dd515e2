//! stop: SIGTERM, a graceful stop (a leader transfers leadership first). Healing starts it.

use super::{kill, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::Stop;
use std::time::Duration;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &Stop,
) -> Result<(), FaultError> {
    kill::signal_all(cluster, active, "SIGTERM", Duration::from_secs(20)).await
}

pub async fn heal(cluster: &mut Cluster, active: &mut Active, _: &Stop) -> Result<(), FaultError> {
    kill::restart(cluster, active).await
}
