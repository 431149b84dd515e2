//! Reading the keyspace in pages at a fixed revision, and the digest that proves integrity:
//! SHA-256 over the sorted key/value pairs, independent of revisions and of which member
//! answered.

use crate::cluster::{within, ClusterError, REQUEST};
use etcd_client::{Client, GetOptions};
use sha2::{Digest, Sha256};

/// Keys per page: large enough to be quick, small enough to stay far below the 4 MiB gRPC limit
/// with 1 KiB values.
const PAGE: i64 = 1000;

/// Visits every key in [from, end) at `revision` (0 = now) in key order. An empty `end` means
/// "to the end of the keyspace". Returns the revision the reads were served at.
pub async fn scan(
    client: &Client,
    from: &[u8],
    end: &[u8],
    revision: i64,
    mut visit: impl FnMut(&[u8], &[u8]),
) -> Result<i64, ClusterError> {
    let end = if end.is_empty() {
        vec![0u8]
    } else {
        end.to_vec()
    };
    let mut next = from.to_vec();
    let mut rev = revision;
    loop {
        let mut c = client.clone();
        let options = GetOptions::new()
            .with_range(end.clone())
            .with_limit(PAGE)
            .with_revision(rev);
        let resp = within(
            "range",
            "the cluster",
            REQUEST,
            c.get(next.clone(), Some(options)),
        )
        .await?;
        if rev == 0 {
            // Pin the first page's revision so every later page reads the same moment.
            rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        }
        for kv in resp.kvs() {
            visit(kv.key(), kv.value());
        }
        match resp.kvs().last() {
            Some(last) if resp.more() => {
                next = last.key().to_vec();
                next.push(0);
            }
            _ => return Ok(rev),
        }
    }
}

/// The end of the range of keys starting with `prefix` (etcd's prefix rule).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Digest of a keyspace: feed pairs in key order.
#[derive(Default)]
pub struct KeyspaceDigest {
    hasher: Sha256,
    pub keys: u64,
    pub bytes: u64,
}

impl KeyspaceDigest {
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        // Length-prefixed so ("ab","c") and ("a","bc") differ.
        self.hasher.update((key.len() as u64).to_le_bytes());
        self.hasher.update(key);
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self.keys += 1;
        self.bytes += (key.len() + value.len()) as u64;
    }

    pub fn finish(self) -> (u64, String) {
        (self.keys, hex::encode(self.hasher.finalize()))
    }
}

/// The digest of every key at `revision`, read through `client`.
pub async fn digest_at(client: &Client, revision: i64) -> Result<(u64, String), ClusterError> {
    let mut d = KeyspaceDigest::default();
    scan(client, &[0], &[], revision, |k, v| d.add(k, v)).await?;
    Ok(d.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_follows_etcd() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff]), vec![0]);
    }

    #[test]
    fn digest_depends_on_every_byte_and_on_boundaries() {
        let digest = |pairs: &[(&[u8], &[u8])]| {
            let mut d = KeyspaceDigest::default();
            for (k, v) in pairs {
                d.add(k, v);
            }
            d.finish().1
        };
        let base = digest(&[(b"a", b"1"), (b"b", b"2")]);
        assert_eq!(base, digest(&[(b"a", b"1"), (b"b", b"2")]));
        assert_ne!(base, digest(&[(b"a", b"1"), (b"b", b"3")]));
        assert_ne!(base, digest(&[(b"a", b"1")]));
        assert_ne!(digest(&[(b"ab", b"c")]), digest(&[(b"a", b"bc")]));
    }
}
