//! `slow-disk`: every fsync on the target held by the disk layer. Proof: the layer held one
//! within 10 s (a write through the cluster makes every member fsync). Healing gives the disk
//! its speed back and adds what etcd itself measured meanwhile (its WAL fsync histogram).

use super::disk::{self, Mode};
use super::{container_of, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::SlowDisk;
use std::time::Duration;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    k: &SlowDisk,
) -> Result<(), FaultError> {
    let mode = Mode::Slow {
        delay: k.delay,
        jitter: k.jitter,
    };
    disk::set_all(cluster, active, mode).await?;
    let rt = cluster.sandbox.runtime.clone();
    for before in active.disk_before.clone() {
        let c = container_of(cluster, &before.member)?;
        let held = super::poll(Duration::from_secs(10), || async {
            disk::nudge(cluster).await;
            let now = disk::control(&rt, &c, None).await.ok()?;
            (now.delayed > before.status.delayed).then_some(now)
        })
        .await;
        let Some(now) = held else {
            return Err(FaultError::NoEffect {
                member: before.member.clone(),
                why: "its disk layer held no fsync within 10s".into(),
            });
        };
        active.proof.push(format!(
            "{}: fsyncs held {}±{} ms by the disk layer ({} so far)",
            before.member,
            k.delay.as_millis(),
            k.jitter.as_millis(),
            now.delayed - before.status.delayed
        ));
    }
    Ok(())
}

pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &SlowDisk,
) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    for before in active.disk_before.clone() {
        let m = &before.member;
        let c = container_of(cluster, m)?;
        let now = disk::control(&rt, &c, Some(Mode::Normal))
            .await
            .map_err(|why| FaultError::NoEffect {
                member: m.clone(),
                why: format!("its disk layer: {why}"),
            })?;
        let held = now.delayed - before.status.delayed;
        let us = now.delayed_us - before.status.delayed_us;
        active.proof.push(format!(
            "{m}: {held} fsyncs held, {:.0} ms each on average",
            us as f64 / 1000.0 / held.max(1) as f64
        ));
        let wal = disk::wal_fsync(cluster, m).await;
        if let (Some((s0, n0)), Some((s1, n1))) = (before.wal_fsync, wal) {
            if n1 > n0 {
                active.proof.push(format!(
                    "{m}: etcd's own WAL fsyncs while held: {} at {:.0} ms on average (etcd_disk_wal_fsync_duration_seconds)",
                    n1 - n0,
                    (s1 - s0) * 1000.0 / (n1 - n0) as f64
                ));
            }
        }
    }
    Ok(())
}
