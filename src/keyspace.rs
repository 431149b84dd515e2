//! Reading the keyspace in pages at a fixed revision, and the digest that proves integrity:
//! SHA-256 over the sorted key/value pairs, independent of revisions and of which member
//! answered.

use crate::cluster::{within, ClusterError, REQUEST};
use etcd_client::{Client, GetOptions};
use sha2::{Digest, Sha256};

/// Keys per page: large enough to be quick, small enough to stay far below the 4 MiB gRPC limit
/// with 1 KiB values.
pub const PAGE: i64 = 1000;

/// Up to this many pages, paging open-ended costs etcd less than the round trips of bounded
/// windows (it counts at most OPEN_PAGES² / 2 pages of keys in all).
const OPEN_PAGES: i64 = 20;

/// A window at most doubles from one request to the next: an empty stretch is crossed in a few
/// requests, and the window that reaches the keys after it is at most twice the stretch.
const GROWTH: u128 = 2;

/// One range read's answer: the pairs (at most the limit), how many keys the range holds, and
/// whether there are more than were returned.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub kvs: Vec<(Vec<u8>, Vec<u8>)>,
    pub count: i64,
    pub more: bool,
    pub revision: i64,
}

/// The range reads a scan makes: etcd through a client, or a model of it in tests. Several may
/// be in flight at once.
#[async_trait::async_trait]
pub trait Ranges: Sync {
    /// Keys in [from, end) at `revision` (0 = now), at most `limit`.
    async fn range(
        &self,
        from: &[u8],
        end: &[u8],
        limit: i64,
        revision: i64,
    ) -> Result<Page, ClusterError>;
}

/// Range reads through an etcd client.
pub struct Etcd<'a>(pub &'a Client);

#[async_trait::async_trait]
impl Ranges for Etcd<'_> {
    async fn range(
        &self,
        from: &[u8],
        end: &[u8],
        limit: i64,
        revision: i64,
    ) -> Result<Page, ClusterError> {
        let mut c = self.0.clone();
        let options = GetOptions::new()
            .with_range(end.to_vec())
            .with_limit(limit)
            .with_revision(revision);
        let mut resp = within(
            "range",
            "the cluster",
            REQUEST,
            c.get(from.to_vec(), Some(options)),
        )
        .await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        let (count, more) = (resp.count(), resp.more());
        let kvs = resp
            .take_kvs()
            .into_iter()
            .map(|kv| kv.into_key_value())
            .collect();
        Ok(Page {
            kvs,
            count,
            more,
            revision,
        })
    }
}

/// Visits every key in [from, end) at `revision` (0 = now) in key order. An empty `end` means
/// "to the end of the keyspace". Returns the revision the reads were served at.
pub async fn scan(
    client: &Client,
    from: &[u8],
    end: &[u8],
    revision: i64,
    visit: impl FnMut(&[u8], &[u8]),
) -> Result<i64, ClusterError> {
    scan_with(&Etcd(client), from, end, revision, PAGE, visit).await
}

/// How many bounded windows are read at once. Their pages are visited in key order, so what a
/// scan sees (and a digest) is unchanged, while the members answer in parallel.
const DEPTH: usize = 4;

/// The paging behind `scan`. etcd answers a limited range request after counting every key of
/// the range (3.5 walks its index to fill `count`), so paging with an open end would count the
/// rest of the keyspace on every page: quadratic in the key count. Only the first request is
/// open (one count of the whole range, linear); every later one is bounded to a window expected
/// to hold about three quarters of a page, estimated from the keys already seen, so each
/// request counts about a page and the whole scan stays linear. Up to `DEPTH` windows are in
/// flight; a window that held more than a page is finished, within its bound, before the next.
pub async fn scan_with(
    ranges: &(dyn Ranges + Send + Sync),
    from: &[u8],
    end: &[u8],
    revision: i64,
    page: i64,
    mut visit: impl FnMut(&[u8], &[u8]),
) -> Result<i64, ClusterError> {
    use futures_util::stream::{FuturesOrdered, StreamExt};
    let end = if end.is_empty() {
        vec![0u8]
    } else {
        end.to_vec()
    };
    let first = ranges.range(from, &end, page, revision).await?;
    // Pin the first page's revision so every later page reads the same moment.
    let rev = if revision == 0 {
        first.revision
    } else {
        revision
    };
    for (k, v) in &first.kvs {
        visit(k, v);
    }
    let (Some((head, _)), Some((last, _))) = (first.kvs.first(), first.kvs.last()) else {
        return Ok(rev);
    };
    if !first.more {
        return Ok(rev);
    }
    let mut start = after(last);
    if first.count <= OPEN_PAGES * page {
        // A range of a few pages: read open-ended, it costs etcd less than more round trips.
        loop {
            let p = ranges.range(&start, &end, page, rev).await?;
            for (k, v) in &p.kvs {
                visit(k, v);
            }
            match p.kvs.last() {
                Some((k, _)) if p.more => start = after(k),
                _ => return Ok(rev),
            }
        }
    }
    let target = (page * 3 / 4).max(1);
    let mut window = spread(head, last, first.kvs.len() as i64, target);
    let mut next = Some(start);
    let mut flight = FuturesOrdered::new();
    loop {
        while flight.len() < DEPTH {
            let Some(from) = next.take() else { break };
            let bound = match window.and_then(|(at, width)| advance(&from, at, width)) {
                Some(e) if before(&e, &end) => e,
                _ => end.clone(),
            };
            if bound != end {
                next = Some(bound.clone());
            }
            flight.push_back(async move {
                let p = ranges.range(&from, &bound, page, rev).await;
                (bound, p)
            });
        }
        let Some((bound, p)) = flight.next().await else {
            return Ok(rev);
        };
        // The window [.., bound) answered; one that held more than a page is read on in
        // windows resized from what it held, up to its bound, before the next one.
        let mut p = p?;
        let mut sub = bound.clone();
        loop {
            for (k, v) in &p.kvs {
                visit(k, v);
            }
            let from = match (p.kvs.first(), p.kvs.last()) {
                (Some((a, _)), Some((z, _))) if p.more => {
                    window = spread(a, z, p.kvs.len() as i64, target).or(window);
                    after(z)
                }
                _ => {
                    window = resized(window, p.count, target);
                    if sub == bound {
                        break;
                    }
                    sub.clone()
                }
            };
            sub = match window.and_then(|(at, width)| advance(&from, at, width)) {
                Some(e) if e < bound || bound == end && before(&e, &end) => e,
                _ => bound.clone(),
            };
            p = ranges.range(&from, &sub, page, rev).await?;
        }
    }
}

/// The window resized to hold about `target` keys, from the `count` it held (at most doubled).
fn resized(window: Option<(usize, u128)>, count: i64, target: i64) -> Option<(usize, u128)> {
    let (at, width) = window?;
    let n = (count.max(0) as u128).max(1);
    let scaled = width.saturating_mul(target as u128) / n;
    Some(normal(at, scaled.clamp(1, width.saturating_mul(GROWTH))))
}

/// The first key after `key`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

/// 16 bytes of `key` from `at`, as a big-endian number (missing bytes are 0).
fn digits(key: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = key.get(at + i).copied().unwrap_or(0);
    }
    u128::from_be_bytes(b)
}

/// The window that `n` keys from `first` to `last` suggest for `page` keys: where they start to
/// differ, and the distance a page covers there.
fn spread(first: &[u8], last: &[u8], n: i64, page: i64) -> Option<(usize, u128)> {
    let at = first.iter().zip(last).take_while(|(a, b)| a == b).count();
    let d = digits(last, at).checked_sub(digits(first, at))?;
    let per_key = d / (n.max(2) as u128 - 1);
    Some(normal(at, per_key.saturating_mul(page as u128).max(1)))
}

/// The same window with its width kept between 2^56 and 2^120 by moving `at`: a window that
/// grows moves to coarser bytes (so crossing an empty stretch takes a few requests, not one per
/// value of a byte), one that shrinks to finer bytes (so it stays precise).
fn normal(mut at: usize, mut width: u128) -> (usize, u128) {
    while width >= 1 << 120 && at > 0 {
        width >>= 8;
        at -= 1;
    }
    while width < 1 << 56 {
        width <<= 8;
        at += 1;
    }
    (at, width)
}

/// `key` moved `width` forward at byte `at` (carrying into the bytes before it); `None` past
/// the last possible key.
fn advance(key: &[u8], at: usize, width: u128) -> Option<Vec<u8>> {
    let (sum, carry) = digits(key, at).overflowing_add(width);
    let mut head: Vec<u8> = (0..at).map(|i| key.get(i).copied().unwrap_or(0)).collect();
    if carry {
        head = match head.iter().rposition(|b| *b < 0xff) {
            Some(i) => {
                head[i] += 1;
                head[i + 1..].iter_mut().for_each(|b| *b = 0);
                head
            }
            None => return None,
        };
    }
    head.extend_from_slice(&sum.to_be_bytes());
    while head.len() > at.max(1) && head.last() == Some(&0) {
        head.pop();
    }
    Some(head)
}

/// Whether key `a` sorts before the range end `end` (`[0]` is the end of the keyspace).
fn before(a: &[u8], end: &[u8]) -> bool {
    end == [0] || a < end
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

/// The digest of every key at `revision`, read through `client`; `done` counts the keys read.
pub async fn digest_at(
    client: &Client,
    revision: i64,
    done: &std::sync::atomic::AtomicU64,
) -> Result<(u64, String), ClusterError> {
    let mut d = KeyspaceDigest::default();
    scan(client, &[0], &[], revision, |k, v| {
        d.add(k, v);
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .await?;
    Ok(d.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// etcd's range reads over a sorted keyspace, counting what each request makes etcd count
    /// (every key of the requested range, as 3.5 does to fill `count`).
    struct Model {
        keys: Vec<Vec<u8>>,
        counted: std::sync::Mutex<Vec<usize>>,
    }

    impl Model {
        fn counted(&self) -> Vec<usize> {
            self.counted.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl Ranges for Model {
        async fn range(
            &self,
            from: &[u8],
            end: &[u8],
            limit: i64,
            _revision: i64,
        ) -> Result<Page, ClusterError> {
            let lo = self.keys.partition_point(|k| k.as_slice() < from);
            let hi = if end == [0] {
                self.keys.len()
            } else {
                self.keys.partition_point(|k| k.as_slice() < end)
            };
            let n = hi.saturating_sub(lo);
            self.counted.lock().unwrap().push(n);
            let take = n.min(limit as usize);
            Ok(Page {
                kvs: self.keys[lo..lo + take]
                    .iter()
                    .map(|k| (k.clone(), Vec::new()))
                    .collect(),
                count: n as i64,
                more: n > take,
                revision: 7,
            })
        }
    }

    /// The paging as it was: every request open to the end of the range.
    async fn open_ended(m: &Model, page: i64) {
        let mut start = vec![0u8];
        loop {
            let p = m.range(&start, &[0], page, 7).await.unwrap();
            match p.kvs.last() {
                Some((k, _)) if p.more => {
                    start = k.clone();
                    start.push(0);
                }
                _ => return,
            }
        }
    }

    fn keyspaces() -> Vec<(&'static str, Vec<Vec<u8>>)> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let seq = (0..20_000u64)
            .map(|i| format!("/drill/seed/{i:012}").into_bytes())
            .collect();
        let mut k8s = Vec::new();
        for kind in ["configmaps", "events", "leases", "pods", "secrets"] {
            for ns in 0..20 {
                for _ in 0..rng.random_range(1..400) {
                    let name: u64 = rng.random();
                    k8s.push(format!("/registry/{kind}/ns-{ns}/app-{name:x}").into_bytes());
                }
            }
        }
        let random = (0..10_000)
            .map(|_| (0..rng.random_range(1..24)).map(|_| rng.random()).collect())
            .collect();
        // Two dense clusters far apart, and a few keys between them.
        let mut gaps: Vec<Vec<u8>> = (0..5_000u32)
            .map(|i| format!("a/{i:08}").into_bytes())
            .collect();
        gaps.extend((0..5).map(|i| format!("m/{i}").into_bytes()));
        gaps.extend((0..5_000u32).map(|i| format!("z/{i:08}").into_bytes()));
        let mut all: Vec<(&str, Vec<Vec<u8>>)> = vec![
            ("sequential", seq),
            ("kubernetes", k8s),
            ("random bytes", random),
            ("clusters and gaps", gaps),
            ("one key", vec![b"k".to_vec()]),
            ("empty", Vec::new()),
        ];
        for (_, keys) in &mut all {
            keys.sort();
            keys.dedup();
        }
        all
    }

    #[tokio::test]
    async fn a_scan_visits_every_key_once_in_order() {
        for (name, keys) in keyspaces() {
            let m = Model {
                keys: keys.clone(),
                counted: Default::default(),
            };
            let mut seen = Vec::new();
            let rev = scan_with(&m, &[0], &[], 0, 100, |k, _| seen.push(k.to_vec()))
                .await
                .unwrap();
            assert_eq!(rev, 7, "{name}");
            assert_eq!(seen, keys, "{name}: every key once, in order");
        }
    }

    #[tokio::test]
    async fn a_sub_range_scan_stays_inside_it() {
        let keys: Vec<Vec<u8>> = (0..5_000u32)
            .map(|i| format!("/p/{i:06}").into_bytes())
            .chain((0..5_000u32).map(|i| format!("/q/{i:06}").into_bytes()))
            .collect();
        let m = Model {
            keys,
            counted: Default::default(),
        };
        let mut seen = 0;
        scan_with(&m, b"/p/", &prefix_end(b"/p/"), 0, 100, |k, _| {
            assert!(k.starts_with(b"/p/"));
            seen += 1;
        })
        .await
        .unwrap();
        assert_eq!(seen, 5_000);
    }

    /// The whole scan counts a small multiple of the keys, and no request after the first counts
    /// the rest of the keyspace; paging open-ended counts the rest of the keyspace every time.
    #[tokio::test]
    async fn requests_after_the_first_are_bounded_and_the_scan_is_linear() {
        let page = 100;
        for (name, keys) in keyspaces() {
            let n = keys.len();
            if n < 1_000 {
                continue;
            }
            let m = Model {
                keys: keys.clone(),
                counted: Default::default(),
            };
            scan_with(&m, &[0], &[], 0, page, |_, _| {}).await.unwrap();
            let total: usize = m.counted().iter().sum();
            let requests = m.counted().len();
            assert_eq!(
                m.counted()[0],
                n,
                "{name}: the first request counts the range once"
            );
            assert!(total <= 5 * n, "{name}: {total} keys counted for {n} keys");
            assert!(
                requests <= 25 * n / page as usize + 50,
                "{name}: {requests} requests for {n} keys"
            );
            // Where a window opens onto a dense block it may hold that block, never the rest.
            let mut left = n;
            for (i, c) in m.counted().iter().enumerate().skip(1) {
                assert!(
                    *c <= page as usize || *c < left,
                    "{name}: request {i} counted {c} of the {left} keys left"
                );
                left = left.saturating_sub((*c).min(page as usize));
            }
            let naive = Model {
                keys,
                counted: Default::default(),
            };
            open_ended(&naive, page).await;
            let naive_total: usize = naive.counted().iter().sum();
            assert!(
                naive_total > n * n / (4 * page as usize),
                "{name}: paging open-ended is quadratic ({naive_total})"
            );
        }
    }

    #[tokio::test]
    async fn a_range_of_a_few_pages_is_read_open_ended() {
        let keys: Vec<Vec<u8>> = (0..1_000u32)
            .map(|i| format!("/k/{i:06}").into_bytes())
            .collect();
        let m = Model {
            keys,
            counted: Default::default(),
        };
        scan_with(&m, &[0], &[], 0, 100, |_, _| {}).await.unwrap();
        assert_eq!(m.counted().len(), 10, "one request per page");
    }

    #[test]
    fn a_window_moves_forward_and_carries() {
        assert_eq!(advance(b"ab", 1, 1 << 120), Some(b"ac".to_vec()));
        let e = advance(b"a\xff", 1, 1).unwrap();
        assert!(e.as_slice() > b"a\xff".as_slice());
        assert!(advance(&[0xff; 17], 0, 1).is_none(), "past the last key");
        assert!(advance(b"k", 5, 3).unwrap().as_slice() > b"k".as_slice());
    }

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
