//! `disk-error`: the target's fsyncs (or writes) fail with EIO. etcd exits on a failed fsync:
//! what it said is the fault's reaction. Healing gives the disk back, restarting a member that
//! exited.

use super::disk::{self, Mode};
use super::{Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::DiskError;
use crate::scenario::DiskCall;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    k: &DiskError,
) -> Result<(), FaultError> {
    let what = match k.on {
        DiskCall::Fsync => "fsyncs fail with EIO",
        DiskCall::Write => "writes fail with EIO",
    };
    let mode = Mode::Error { on: k.on };
    disk::inject_failing(cluster, active, mode, |s| s.failed, what).await
}

pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    k: &DiskError,
) -> Result<(), FaultError> {
    disk::heal_failing(cluster, active, k.recover).await
}
