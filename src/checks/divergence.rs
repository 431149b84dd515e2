//! When HashKV differs: which members, and which keys. HashKV only says that two members'
//! histories differ; an operator, and an auditor, need the member and the keys. Each member's
//! keyspace is read from that member alone at the revision the hashes were taken at, and the
//! views are compared key by key with the most common view.
//!
//! This is not hypothetical: etcd 3.5.0 to 3.5.2 can lose applied entries on a member killed
//! under load (etcd-io/etcd#13766, fixed in 3.5.3), and a kill drill on 3.5.1 shows it here as
//! the killed member's keys missing or stale.

use crate::cluster::{Cluster, ClusterError};
use crate::keyspace::scan;
use crate::record::Divergence;
use crate::record::MemberHash;
use etcd_client::Client;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many differing keys are named in the report.
const EXAMPLES: usize = 10;

/// A member's keyspace at one revision: key → SHA-256 of its value.
pub type View = BTreeMap<Vec<u8>, [u8; 32]>;

/// The members outside the largest group of equal hashes (with a tie, the group of the first
/// member counts as the majority, so the others are named).
pub fn odd_members(hashes: &[MemberHash]) -> Vec<String> {
    let mut groups: Vec<(u32, usize)> = Vec::new();
    for h in hashes {
        match groups.iter_mut().find(|(hash, _)| *hash == h.hash) {
            Some(g) => g.1 += 1,
            None => groups.push((h.hash, 1)),
        }
    }
    // `max_by_key` keeps the last maximum: reversed, that is the first group.
    let Some(&(common, _)) = groups.iter().rev().max_by_key(|(_, n)| *n) else {
        return Vec::new();
    };
    hashes
        .iter()
        .filter(|h| h.hash != common)
        .map(|h| h.member.clone())
        .collect()
}

/// Compares each odd member's view with the reference view (a member of the majority).
/// Returns how many keys differ and up to `EXAMPLES` lines describing them.
pub fn differing_keys(reference: &View, odd: &[(String, View)]) -> (u64, Vec<String>) {
    let mut keys: BTreeSet<&[u8]> = BTreeSet::new();
    let mut lines = Vec::new();
    for (member, view) in odd {
        let all: BTreeSet<&Vec<u8>> = reference.keys().chain(view.keys()).collect();
        for k in all {
            let how = match (reference.get(k), view.get(k)) {
                (Some(_), None) => "missing on",
                (None, Some(_)) => "only on",
                (Some(a), Some(b)) if a != b => "another value on",
                _ => continue,
            };
            keys.insert(k.as_slice());
            if lines.len() < EXAMPLES {
                lines.push(format!("{}: {how} {member}", String::from_utf8_lossy(k)));
            }
        }
    }
    (keys.len() as u64, lines)
}

/// When the hashes differ: which members, and which keys (`None` when they are equal).
pub async fn explain(
    cluster: &Cluster,
    hashes: &[MemberHash],
) -> Result<Option<Divergence>, ClusterError> {
    if super::hashkv::equal(hashes) {
        return Ok(None);
    }
    let members = cluster.member_clients().await?;
    Ok(Some(find(&members, hashes).await))
}

/// Reads each member's keyspace from that member alone, at the revision it was hashed at, and
/// says where the members whose HashKV differs part from the others.
pub async fn find(members: &[(String, Client)], hashes: &[MemberHash]) -> Divergence {
    let odd = odd_members(hashes);
    let at = |name: &str| {
        hashes
            .iter()
            .find(|h| h.member == name)
            .map(|h| h.revision)
            .unwrap_or(0)
    };
    let mut reference = None;
    let mut reference_rev = 0;
    let mut odd_views = Vec::new();
    let mut behind = Vec::new();
    let mut unreadable = Vec::new();
    for (name, client) in members {
        let is_odd = odd.contains(name);
        if !is_odd && reference.is_some() {
            continue;
        }
        let mut view = View::new();
        let read = scan(client, b"\0", &[], at(name), |k, v| {
            view.insert(k.to_vec(), Sha256::digest(v).into());
        })
        .await;
        // A member that no longer answers at the revision it was hashed at (compacted since,
        // or its revisions are not the others') is named, and the others are still compared.
        if let Err(e) = read {
            unreadable.push(format!(
                "{name}: its keyspace at revision {} could not be read: {}",
                at(name),
                crate::util::error_chain(&e)
            ));
            continue;
        }
        if is_odd {
            odd_views.push((name.clone(), view));
        } else {
            reference = Some(view);
            reference_rev = at(name);
        }
    }
    for name in &odd {
        if at(name) < reference_rev {
            behind.push(format!(
                "{name}: stopped at revision {}, the others are at {reference_rev}",
                at(name)
            ));
        }
    }
    let (differing_keys, mut examples) = differing_keys(&reference.unwrap_or_default(), &odd_views);
    behind.append(&mut unreadable);
    behind.append(&mut examples);
    behind.truncate(EXAMPLES);
    Divergence {
        revision: reference_rev,
        members: odd,
        differing_keys,
        examples: behind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(member: &str, hash: u32) -> MemberHash {
        MemberHash {
            member: member.into(),
            hash,
            revision: 10,
        }
    }

    fn view(pairs: &[(&str, &str)]) -> View {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Sha256::digest(v.as_bytes()).into()))
            .collect()
    }

    #[test]
    fn the_member_outside_the_majority_is_named() {
        assert_eq!(
            odd_members(&[h("etcd-1", 7), h("etcd-2", 7), h("etcd-3", 9)]),
            ["etcd-3"]
        );
        assert_eq!(
            odd_members(&[h("etcd-1", 9), h("etcd-2", 7), h("etcd-3", 7)]),
            ["etcd-1"]
        );
        assert!(odd_members(&[h("etcd-1", 7), h("etcd-2", 7)]).is_empty());
        // A tie: the first member's group is taken as the reference.
        assert_eq!(odd_members(&[h("etcd-1", 1), h("etcd-2", 2)]), ["etcd-2"]);
    }

    /// A member that cannot be read at its revision is named with why; the search does not
    /// end the step that asked for it. (Nothing listens on port 1 of this host: the client's
    /// first request fails.)
    #[tokio::test]
    async fn a_member_that_cannot_be_read_is_named_not_an_error() {
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_millis(200))
            .with_timeout(std::time::Duration::from_millis(200));
        // etcd-client's channel connects at the first request.
        let nobody = Client::connect(["http://127.0.0.1:1"], Some(options))
            .await
            .expect("a client is made without a request");
        let members = [
            ("etcd-1".to_string(), nobody.clone()),
            ("etcd-2".into(), nobody),
        ];
        let found = find(&members, &[h("etcd-1", 7), h("etcd-2", 9)]).await;
        assert_eq!(found.members, ["etcd-2"]);
        assert_eq!(found.examples.len(), 2, "{:?}", found.examples);
        assert!(
            found.examples[0]
                .starts_with("etcd-1: its keyspace at revision 10 could not be read: "),
            "{:?}",
            found.examples
        );
    }

    #[test]
    fn a_lost_a_stale_and_an_extra_key_are_each_named() {
        let reference = view(&[("/a", "1"), ("/b", "2"), ("/c", "3")]);
        // What the killed member of etcd#13766 looks like: writes it acknowledged to the
        // leader but never applied (missing), or applied an older value (stale).
        let broken = view(&[("/a", "1"), ("/b", "old"), ("/d", "4")]);
        let (n, lines) = differing_keys(&reference, &[("etcd-3".into(), broken)]);
        assert_eq!(n, 3);
        assert_eq!(
            lines,
            [
                "/b: another value on etcd-3",
                "/c: missing on etcd-3",
                "/d: only on etcd-3"
            ]
        );
        let (n, lines) = differing_keys(&reference, &[("etcd-3".into(), reference.clone())]);
        assert_eq!((n, lines.len()), (0, 0));
    }

    #[test]
    fn examples_are_capped_but_every_key_is_counted() {
        let reference: View = (0..50)
            .map(|i| (format!("/k{i:02}").into_bytes(), [0u8; 32]))
            .collect();
        let (n, lines) = differing_keys(&reference, &[("etcd-2".into(), View::new())]);
        assert_eq!(n, 50);
        assert_eq!(lines.len(), EXAMPLES);
    }
}
