//! Restoring members from a snapshot with etcd's own `etcdutl snapshot restore` (`etcdctl
//! snapshot restore` on 3.4), one one-shot container per member, in parallel, each on a fresh
//! volume. The one-shot container joins the run's network under the member's name: etcdutl
//! resolves the member's own peer URL.

use crate::cluster::{initial_cluster, peer_url, suffix, Cluster, DATA_DIR, DATA_MOUNT};
use crate::sandbox::{ContainerSpec, Delivery, SandboxError};
use crate::snapshot_file::{SnapshotError, IN_CONTAINER};
use futures_util::StreamExt;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("etcdutl snapshot restore failed for member {member} (exit {code}): {stderr}")]
    Etcdutl {
        member: String,
        code: i64,
        stderr: String,
    },
}

/// The etcdutl command line that rebuilds `member`'s data dir from the snapshot; with `bump`,
/// Kubernetes' procedure: revisions start that far above the snapshot's, marked compacted.
pub fn etcdutl_args(
    member: &str,
    names: &[String],
    token: &str,
    tls: bool,
    bump: Option<u64>,
) -> Vec<String> {
    let mut args = vec![
        "snapshot".into(),
        "restore".into(),
        IN_CONTAINER.into(),
        format!("--name={member}"),
        format!("--initial-cluster={}", initial_cluster(names, tls)),
        format!("--initial-cluster-token={token}"),
        format!("--initial-advertise-peer-urls={}", peer_url(member, tls)),
        format!("--data-dir={DATA_DIR}"),
    ];
    if let Some(n) = bump {
        args.push(format!("--bump-revision={n}"));
        args.push("--mark-compacted".into());
    }
    args
}

/// What `restore_files` did: the members' volumes, in member order, and how the snapshot
/// reached the etcdutl containers.
pub struct Restored {
    pub volumes: Vec<String>,
    pub delivery: Delivery,
    pub concurrency: usize,
}

/// How many members restore at once: every member asked for. etcdutl copies the db and syncs
/// it, so it waits on the disk more than it computes: on a 2-core machine a 1.4 GB snapshot
/// restored onto 3 members took 22.3 s one at a time, 14.4 s two at a time and 10.4 s all at
/// once. `ETCD_DRILL_RESTORE_CONCURRENCY` overrides it (to compare on another machine).
pub fn concurrency(members: usize) -> usize {
    let wanted = std::env::var("ETCD_DRILL_RESTORE_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(members);
    wanted.clamp(1, members.max(1))
}

/// Restores the data dirs of `members` (in the cluster's member order) from `snapshot` onto
/// fresh volumes of `cluster.generation`. Starts nothing. The snapshot is bind-mounted
/// read-only where the engine shares this machine's files, else streamed from disk: never held
/// in memory.
pub async fn restore_files(
    cluster: &Cluster,
    members: &[String],
    snapshot: &Path,
    bump: Option<u64>,
    deadline: Duration,
) -> Result<Restored, RestoreError> {
    let names = cluster.names();
    let sandbox = &cluster.sandbox;
    let at_once = concurrency(members.len());
    let mut delivery = Delivery::StreamedTar;
    let mut jobs = Vec::new();
    for member in members {
        let volume = cluster.volume_name(member, cluster.generation);
        let mut spec = ContainerSpec {
            name: sandbox.name(&suffix(member, "restore", cluster.generation)),
            image: cluster.plan.image.clone(),
            entrypoint: Some(vec![format!(
                "/usr/local/bin/{}",
                crate::snapshot_file::snapshot_tool(&cluster.plan.image)
            )]),
            cmd: etcdutl_args(member, &names, &cluster.token, cluster.plan.tls, bump),
            labels: sandbox.labels("oneshot"),
            network: sandbox.network.clone(),
            aliases: vec![member.clone()],
            volumes: vec![(volume.clone(), DATA_MOUNT.into())],
            publish: None,
            host_files: Vec::new(),
            cap_add: Vec::new(),
            devices: Vec::new(),
        };
        let (how, upload) = sandbox.deliver(&mut spec, snapshot, IN_CONTAINER);
        delivery = how;
        jobs.push(async move {
            sandbox
                .runtime
                .create_volume(&volume, &sandbox.labels("data"))
                .await?;
            let (code, _out, stderr) = sandbox.run_once(&spec, upload.as_ref(), deadline).await?;
            if code != 0 {
                return Err(RestoreError::Etcdutl {
                    member: member.clone(),
                    code,
                    stderr: last_lines(&stderr, 5),
                });
            }
            Ok(volume)
        });
    }
    // `buffered` keeps member order while at most `at_once` run.
    let volumes: Vec<String> = futures_util::stream::iter(jobs)
        .buffered(at_once)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(Restored {
        volumes,
        delivery,
        concurrency: at_once,
    })
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcdutl_gets_the_member_identity_and_a_fresh_data_dir() {
        let names = crate::plan::member_names(3);
        let args = etcdutl_args("etcd-2", &names, "tok-r1", false, None);
        assert_eq!(&args[..3], ["snapshot", "restore", IN_CONTAINER]);
        assert!(args.contains(&"--name=etcd-2".to_string()));
        assert!(args.contains(&"--initial-cluster-token=tok-r1".to_string()));
        assert!(args.contains(&"--initial-advertise-peer-urls=http://etcd-2:2380".to_string()));
        assert!(args.contains(&format!("--data-dir={DATA_DIR}")));
        assert!(!args.iter().any(|a| a.contains("bump")));
        let k8s = etcdutl_args("etcd-2", &names, "tok-r1", false, Some(1_000_000));
        assert!(k8s.ends_with(&["--bump-revision=1000000".into(), "--mark-compacted".into()]));
    }
}
