//! HashKV on every member at one revision. The revision is the highest any member holds, not
//! whatever member a read happens to reach: a member that lost entries (etcd-io/etcd#13766, or
//! members restored from different snapshots) sits at a lower revision with nothing left to
//! apply, and hashing everyone at *its* revision would compare only the history they share and
//! call them equal. A member that cannot reach the revision is hashed where it stopped, so its
//! hash differs and the divergence finder names it.

use crate::cluster::{within, Cluster, ClusterError};
use crate::record::MemberHash;
use etcd_client::GetOptions;
use std::time::Duration;

/// How long a member may take to apply up to the common revision before it counts as behind.
const CATCH_UP: Duration = Duration::from_secs(10);

/// The deadline of one HashKV: the member reads its whole db for it, which took longer than the
/// harness's usual 5 s on a 6 GB db (a 4 GiB seed) in a machine short of page cache.
const HASH: Duration = Duration::from_secs(180);

/// Whether every member's hash is the same.
pub fn equal(hashes: &[MemberHash]) -> bool {
    hashes.windows(2).all(|w| w[0].hash == w[1].hash)
}

pub async fn all(cluster: &Cluster) -> Result<Vec<MemberHash>, ClusterError> {
    let members = cluster.member_clients().await?;
    let mut rev = 0;
    for (name, client) in &members {
        // Serializable: answered by this member from its own store, so its own revision.
        let mut c = client.clone();
        let own = GetOptions::new().with_serializable();
        let r = within(
            "get",
            name,
            Duration::from_secs(5),
            c.get("/drill/health", Some(own)),
        )
        .await?;
        rev = rev.max(r.header().map(|h| h.revision()).unwrap_or(0));
    }
    let mut out = Vec::new();
    for m in &cluster.members {
        let name = m.name.clone();
        let client = crate::cluster::connect_with(&[m.endpoint()], HASH).await?;
        let started = tokio::time::Instant::now();
        let hashed = loop {
            let mut c = client.clone();
            match within("hashkv", &name, HASH, c.hash_kv(rev)).await {
                Ok(h) => break Some(h.hash()),
                Err(_) if started.elapsed() < CATCH_UP => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(_) => break None,
            }
        };
        let (hash, revision) = match hashed {
            Some(h) => (h, rev),
            None => {
                // Behind for good: its hash where it stopped.
                let mut c = client.clone();
                let h = within("hashkv", &name, HASH, c.hash_kv(0)).await?;
                let at = h.header().map(|x| x.revision()).unwrap_or(0);
                (h.hash(), at)
            }
        };
        out.push(MemberHash {
            member: name,
            hash,
            revision,
        });
    }
    Ok(out)
}
