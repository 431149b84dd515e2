//! Restoring a whole cluster from a snapshot with etcd's own `etcdutl snapshot restore`, one
//! one-shot container per member, in parallel, each on a fresh volume. The one-shot container
//! joins the run's network under the member's name: etcdutl resolves the member's own peer URL.

use crate::cluster::{initial_cluster, peer_url, suffix, Cluster, DATA_DIR, DATA_MOUNT};
use crate::sandbox::{ContainerSpec, SandboxError};
use crate::snapshot_file::{upload_tar, SnapshotError, IN_CONTAINER};
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

/// The etcdutl command line that rebuilds `member`'s data dir from the snapshot.
pub fn etcdutl_args(member: &str, names: &[String], token: &str, tls: bool) -> Vec<String> {
    vec![
        "snapshot".into(),
        "restore".into(),
        IN_CONTAINER.into(),
        format!("--name={member}"),
        format!("--initial-cluster={}", initial_cluster(names, tls)),
        format!("--initial-cluster-token={token}"),
        format!("--initial-advertise-peer-urls={}", peer_url(member, tls)),
        format!("--data-dir={DATA_DIR}"),
    ]
}

/// Restores every member's data dir from `snapshot` onto fresh volumes of `cluster.generation`
/// and returns the volumes, in member order. Starts nothing.
pub async fn restore_files(
    cluster: &Cluster,
    snapshot: &Path,
    deadline: Duration,
) -> Result<Vec<String>, RestoreError> {
    let tar = upload_tar(snapshot)?;
    let names = cluster.names();
    let sandbox = &cluster.sandbox;
    let jobs = names.iter().map(|member| {
        let tar = tar.clone();
        let names = &names;
        async move {
            let volume = cluster.volume_name(member, cluster.generation);
            sandbox
                .runtime
                .create_volume(&volume, &sandbox.labels("data"))
                .await?;
            let spec = ContainerSpec {
                name: sandbox.name(&suffix(member, "restore", cluster.generation)),
                image: cluster.plan.image.clone(),
                entrypoint: Some(vec!["/usr/local/bin/etcdutl".into()]),
                cmd: etcdutl_args(member, names, &cluster.token, cluster.plan.tls),
                labels: sandbox.labels("oneshot"),
                network: sandbox.network.clone(),
                aliases: vec![member.clone()],
                volumes: vec![(volume.clone(), DATA_MOUNT.into())],
                publish: None,
            };
            let (code, _out, stderr) = sandbox.run_once(&spec, Some(tar), deadline).await?;
            if code != 0 {
                return Err(RestoreError::Etcdutl {
                    member: member.clone(),
                    code,
                    stderr: last_lines(&stderr, 5),
                });
            }
            Ok(volume)
        }
    });
    futures_util::future::try_join_all(jobs).await
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
        let args = etcdutl_args("etcd-2", &names, "tok-r1", false);
        assert_eq!(&args[..3], ["snapshot", "restore", IN_CONTAINER]);
        assert!(args.contains(&"--name=etcd-2".to_string()));
        assert!(args.contains(&"--initial-cluster-token=tok-r1".to_string()));
        assert!(args.contains(&"--initial-advertise-peer-urls=http://etcd-2:2380".to_string()));
        assert!(args.contains(&format!("--data-dir={DATA_DIR}")));
    }
}
