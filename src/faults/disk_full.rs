//! `disk-full`: the target's data directory answers ENOSPC once its room is used. What etcd
//! did is the fault's reaction; healing frees the space, restarting a member that exited.

use super::disk::{self, Mode};
use super::{Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::DiskFull;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    k: &DiskFull,
) -> Result<(), FaultError> {
    let mode = Mode::Full { room: k.room_bytes };
    let what = format!("no space left after {} more bytes", k.room_bytes);
    disk::inject_failing(cluster, active, mode, |s| s.no_space, &what).await
}

pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    k: &DiskFull,
) -> Result<(), FaultError> {
    disk::heal_failing(cluster, active, k.recover).await
}
