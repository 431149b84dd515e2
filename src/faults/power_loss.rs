//! `power-loss`: the disk layer stops serving, etcd is killed mid-flight, every write it had
//! not fsynced is undone, and the container ends. Proof: the layer's count of what it threw
//! away, and the container gone. Healing starts the member again on what survived; a member
//! that cannot come back on it (etcd refusing its own data) fails the step with etcd's words.

use super::disk::{self, Mode};
use super::{container_of, kill, running_container, Active, FaultError};
use crate::cluster::Cluster;
use crate::plan::faults::PowerLoss;
use crate::sandbox::ContainerState;
use std::time::Duration;

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &PowerLoss,
) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    if let Some(rev) = revision(cluster).await {
        active
            .proof
            .push(format!("the cluster was at revision {rev} before the cut"));
    }
    let mut containers = Vec::new();
    for m in &active.members {
        containers.push(running_container(cluster, m, "there is no power to cut").await?);
    }
    // Every target at once, as one power cut: each layer cuts at its next write not yet
    // durable (or after 2 s without one).
    let cuts = active
        .members
        .iter()
        .zip(&containers)
        .map(|(m, c)| {
            let rt = rt.clone();
            async move {
                disk::control(&rt, c, Some(Mode::Crashed))
                    .await
                    .map_err(|why| FaultError::NoEffect {
                        member: m.clone(),
                        why: format!("its disk layer: {why}"),
                    })
            }
        });
    let cuts = futures_util::future::try_join_all(cuts).await?;
    for ((m, c), cut) in active.members.clone().iter().zip(&containers).zip(cuts) {
        let Some(code) = kill::exit_within(&rt, c, Duration::from_secs(10)).await else {
            return Err(FaultError::NoEffect {
                member: m.clone(),
                why: "still running 10s after the power cut".into(),
            });
        };
        let dropped = cut.dropped.unwrap_or_default();
        let when = match cut.cut_after_write {
            true => "right after a write not yet fsynced",
            false => "with no write in 2s",
        };
        active.proof.push(format!(
            "{m}: power cut: {} bytes in {} file(s) not fsynced were lost (cut {when}); container exited with code {code}",
            dropped.bytes, dropped.files
        ));
    }
    Ok(())
}

pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    _: &PowerLoss,
) -> Result<(), FaultError> {
    kill::restart(cluster, active).await?;
    // etcd that finds its own data inconsistent (it acknowledged what it never fsynced) panics
    // at once, or stays up refusing to serve: either way its words name the loss.
    let rt = cluster.sandbox.runtime.clone();
    for m in active.members.clone() {
        let c = container_of(cluster, &m)?;
        let up = super::poll(Duration::from_secs(20), || async {
            match rt.state(&c).await {
                Ok(ContainerState::Exited(code)) => Some(Err(code)),
                _ => answers(cluster, &m).await.then_some(Ok(())),
            }
        })
        .await;
        let why = match up {
            Some(Ok(())) => continue,
            Some(Err(code)) => format!("etcd exited with code {code}"),
            None => "etcd did not serve within 20s".to_string(),
        };
        let log = rt.log_tail(&c, 1000).await.unwrap_or_default();
        // Only what it said since it started again: the lines before are its life before the cut.
        let log = match log.rfind(r#""msg":"Running: ""#) {
            Some(at) => log[log[..at].rfind('\n').map_or(0, |n| n + 1)..].to_string(),
            None => log,
        };
        let said = match (disk::fatal_line(&log), disk::started_with(&log)) {
            (Some(fatal), _) => fatal,
            (None, (Some(commit), Some(rev))) => format!(
                "it restarted with raft commit index {commit} and store revision {rev}: what it had acknowledged never reached its disk"
            ),
            (None, _) => "no fatal line logged".into(),
        };
        active.reaction = Some(format!("{m}: {why} after the power cut: {said}"));
        return Err(FaultError::NotBack {
            member: m,
            why: format!("{why}: {said}"),
        });
    }
    Ok(())
}

/// The cluster's revision, from a member that answers.
async fn revision(cluster: &Cluster) -> Option<i64> {
    let mut c = cluster.client().await.ok()?;
    let status = tokio::time::timeout(Duration::from_secs(3), c.status()).await.ok()?.ok()?;
    Some(status.header()?.revision())
}

/// Whether the member answers a status request.
async fn answers(cluster: &Cluster, member: &str) -> bool {
    let Some(m) = cluster.members.iter().find(|m| m.name == member) else {
        return false;
    };
    let Ok(mut c) = crate::cluster::connect(&[m.endpoint()]).await else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), c.status()).await,
        Ok(Ok(_))
    )
}
