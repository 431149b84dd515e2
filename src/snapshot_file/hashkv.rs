//! etcd's HashKV, computed from a snapshot file instead of asked of a member: the same CRC-32C
//! over the same rows (`hashByRev` in etcd's `mvcc/kvstore.go`, 3.4 to 3.6), read from the file
//! in order. The member's HashKV reads its db through a memory map, from disk wherever the page
//! cache no longer holds it (about 60 s of a 4 GiB snapshot step); the file was just written,
//! so it is read from the page cache.
//!
//! What etcd hashes at revision `rev` with compacted revision `compact`: the name of the `key`
//! bucket, then each row (key: the revision's 17 bytes, plus `t` on a delete; value: the
//! protobuf `KeyValue`) in revision order with `rev` at most, except that a row at or below
//! `compact` counts only when it is in the index's `Keep(rev)`: its key's newest row up to
//! `rev`, and not a delete. (When `Keep(rev)` is empty, every such row counts.)
//!
//! The file has no index, so rows at or below `compact` are decided with the keys written after
//! `compact`: one pass collects a 64-bit hash of each such key (8 bytes per write after the
//! compaction, capped at `MAX_LATER`), the next hashes. That holds when the compaction finished
//! in the file (each key has at most one row at or below `compact`, never a delete);
//! otherwise, and past the cap, the answer is "cannot", and the caller asks a member.

use super::bolt::{BoltError, Db};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Writes after the compaction whose keys the hash may hold (8 bytes each: 16 MB).
pub const MAX_LATER: usize = 2_000_000;

#[derive(Debug, thiserror::Error)]
pub enum FileHashError {
    #[error(transparent)]
    Bolt(#[from] BoltError),
    #[error("the snapshot has no `{0}` bucket: it is not an etcd v3 backend")]
    NoBucket(&'static str),
    #[error("revision {revision} is compacted in the snapshot (compacted at {compact})")]
    Compacted { revision: i64, compact: i64 },
    #[error("the snapshot cannot be hashed from the file: {0}")]
    Cannot(String),
}

/// What etcd's HashKV says: the hash, and the compacted revision it covers from; and the
/// highest revision hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHash {
    pub hash: u32,
    pub compact_revision: i64,
    pub revision: i64,
}

/// HashKV of the snapshot at `path` at `revision` (as etcd's, for every revision the file
/// holds).
pub fn hashkv(path: &Path, revision: i64) -> Result<FileHash, FileHashError> {
    hashkv_visiting(path, revision, |_, _| {})
}

/// `hashkv`, showing `visit` every write up to `revision` in the order they happened: the key
/// and its value, or `None` for a delete. What the visitor saw is what was hashed.
pub fn hashkv_visiting(
    path: &Path,
    revision: i64,
    mut visit: impl FnMut(&[u8], Option<&[u8]>),
) -> Result<FileHash, FileHashError> {
    let db = Db::open(path)?;
    let mut hash = RowHash::prepare(&db, revision)?;
    let rows = db.bucket(b"key")?.ok_or(FileHashError::NoBucket("key"))?;
    db.for_each(&rows, |k, v| {
        let row = Row::of(k, v);
        if hash.covers(&row) {
            visit(row.key, row.value());
        }
        Ok(hash.row(&row))
    })?;
    hash.finish()
}

/// One row of the `key` bucket, its key and delete mark read once.
pub(super) struct Row<'a> {
    k: &'a [u8],
    v: &'a [u8],
    pub(super) main: Option<i64>,
    /// The etcd key written.
    pub(super) key: &'a [u8],
    deleted: bool,
}

impl<'a> Row<'a> {
    pub(super) fn of(k: &'a [u8], v: &'a [u8]) -> Row<'a> {
        Row {
            k,
            v,
            main: main_of(k),
            key: key_of(v),
            deleted: tombstone(k),
        }
    }

    /// The value written, `None` for a delete.
    pub(super) fn value(&self) -> Option<&'a [u8]> {
        (!self.deleted).then(|| field(self.v, 5).unwrap_or_default())
    }
}

/// etcd's HashKV at one revision, fed the `key` bucket's rows in order.
pub(super) struct RowHash {
    revision: i64,
    compact: i64,
    keep: Option<Later>,
    crc: crc_fast::Digest,
    highest: i64,
    /// Past `revision`: later rows are not hashed.
    done: bool,
    broken: Option<String>,
}

impl RowHash {
    /// Ready to hash at `revision`: the compacted revision from the `meta` bucket and, when
    /// there is one, the keys written after it (a pass over those rows).
    pub(super) fn prepare(db: &Db, revision: i64) -> Result<RowHash, FileHashError> {
        let compact = compacted(db)?;
        if revision <= compact {
            return Err(FileHashError::Compacted { revision, compact });
        }
        let keep = if compact >= 0 {
            let rows = db.bucket(b"key")?.ok_or(FileHashError::NoBucket("key"))?;
            Some(later_keys(db, &rows, compact, revision)?)
        } else {
            None
        };
        let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
        crc.update(b"key");
        Ok(RowHash {
            revision,
            compact,
            keep,
            crc,
            highest: 0,
            done: false,
            broken: None,
        })
    }

    /// Whether `row` is at or below the revision hashed.
    pub(super) fn covers(&self, row: &Row) -> bool {
        !self.done && row.main.is_some_and(|main| main <= self.revision)
    }

    /// Hashes one row; false once the rows are past the revision (or not rows at all).
    pub(super) fn row(&mut self, row: &Row) -> bool {
        if self.done {
            return false;
        }
        let Some(main) = row.main else {
            let len = row.k.len();
            self.broken = Some(format!("a row's key is {len} bytes, not a revision"));
            self.done = true;
            return false;
        };
        if main > self.revision {
            self.done = true;
            return false;
        }
        self.highest = main;
        // Not in `Keep(rev)`: a delete, or a key written again after the compaction.
        let dropped = |l: &Later| l.nonempty_keep && (row.deleted || l.has(row.key));
        if main <= self.compact && self.keep.as_ref().is_some_and(dropped) {
            return true;
        }
        self.crc.update(row.k);
        self.crc.update(row.v);
        true
    }

    pub(super) fn finish(self) -> Result<FileHash, FileHashError> {
        if let Some(why) = self.broken {
            return Err(FileHashError::Cannot(why));
        }
        Ok(FileHash {
            hash: self.crc.finalize() as u32,
            compact_revision: self.compact,
            revision: self.highest,
        })
    }
}

/// The revision the file is compacted at (-1: never), from the `meta` bucket.
fn compacted(db: &Db) -> Result<i64, FileHashError> {
    let meta = db.bucket(b"meta")?.ok_or(FileHashError::NoBucket("meta"))?;
    let (mut scheduled, mut finished) = (None, None);
    db.for_each(&meta, |k, v| {
        match k {
            b"scheduledCompactRev" => scheduled = Some(main_of(v)),
            b"finishedCompactRev" => finished = Some(main_of(v)),
            _ => {}
        }
        Ok(true)
    })?;
    // etcd resumes a scheduled compaction on start: its revision is the compacted one.
    let compact = scheduled.or(finished).flatten().unwrap_or(-1);
    if compact >= 0 && scheduled != finished {
        return Err(FileHashError::Cannot(format!(
            "a compaction to {compact} had not finished when it was cut"
        )));
    }
    Ok(compact)
}

/// The keys written after the compaction (up to `revision`), as sorted 64-bit hashes, and
/// whether `Keep(revision)` holds anything.
struct Later {
    keys: Vec<u64>,
    nonempty_keep: bool,
}

impl Later {
    fn has(&self, key: &[u8]) -> bool {
        self.keys.binary_search(&hash_of(key)).is_ok()
    }
}

fn later_keys(
    db: &Db,
    rows: &super::bolt::Bucket,
    compact: i64,
    revision: i64,
) -> Result<Later, FileHashError> {
    // (key hash, whether its row is a put), in revision order.
    let mut writes: Vec<(u64, bool)> = Vec::new();
    let mut old = 0u64;
    let mut too_many = false;
    db.for_each(rows, |k, v| {
        match main_of(k) {
            Some(main) if main > revision => return Ok(false),
            Some(main) if main > compact => {
                if writes.len() >= MAX_LATER {
                    too_many = true;
                    return Ok(false);
                }
                writes.push((hash_of(key_of(v)), !tombstone(k)));
            }
            _ => old += 1,
        }
        Ok(true)
    })?;
    if too_many {
        return Err(FileHashError::Cannot(format!(
            "more than {MAX_LATER} writes after the compaction at {compact}"
        )));
    }
    // The last write of each key decides whether it is live at `revision`.
    writes.sort_by_key(|(h, _)| *h);
    let mut keys: Vec<u64> = Vec::with_capacity(writes.len());
    let mut live_later = false;
    for (i, (h, put)) in writes.iter().enumerate() {
        if writes.get(i + 1).is_none_or(|(next, _)| next != h) {
            live_later |= *put;
        }
        if keys.last() != Some(h) {
            keys.push(*h);
        }
    }
    drop(writes);
    let mut later = Later {
        keys,
        nonempty_keep: live_later,
    };
    // No key written after the compaction is live: `Keep` is empty unless a row from before it
    // (never a delete, once the compaction finished) belongs to a key not written since.
    if !later.nonempty_keep && old > 0 {
        let mut found = false;
        db.for_each(rows, |k, v| {
            if main_of(k).is_none_or(|m| m > compact) {
                return Ok(false);
            }
            found = !tombstone(k) && !later.has(key_of(v));
            Ok(!found)
        })?;
        later.nonempty_keep = found;
    }
    Ok(later)
}

/// The main revision of a row's key (`main`, `_`, `sub`, maybe `t`).
fn main_of(k: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(k.get(..8)?.try_into().ok()?))
}

fn tombstone(k: &[u8]) -> bool {
    k.len() == 18 && k[17] == b't'
}

/// The etcd key of a row: field 1 of its protobuf `KeyValue`.
fn key_of(v: &[u8]) -> &[u8] {
    field(v, 1).unwrap_or_default()
}

/// Bytes field `number` of a row's protobuf `KeyValue` (1: the key, 5: the value; absent when
/// empty).
fn field(v: &[u8], number: u64) -> Option<&[u8]> {
    let mut at = 0;
    while at < v.len() {
        let (tag, n) = varint(&v[at..])?;
        at += n;
        match tag & 7 {
            0 => at += varint(&v[at..])?.1,
            2 => {
                let (len, n) = varint(&v[at..])?;
                let (from, to) = (at + n, at + n + len as usize);
                if tag >> 3 == number {
                    return v.get(from..to);
                }
                at = to;
            }
            1 => at += 8,
            5 => at += 4,
            _ => return None,
        }
    }
    None
}

/// Varint field `number` of a row's protobuf `KeyValue` (4: the version; absent when 0).
fn varint_field(v: &[u8], number: u64) -> Option<u64> {
    let mut at = 0;
    while at < v.len() {
        let (tag, n) = varint(&v[at..])?;
        at += n;
        match tag & 7 {
            0 => {
                let (x, n) = varint(&v[at..])?;
                if tag >> 3 == number {
                    return Some(x);
                }
                at += n;
            }
            2 => {
                let (len, n) = varint(&v[at..])?;
                at += n + len as usize;
            }
            1 => at += 8,
            5 => at += 4,
            _ => return None,
        }
    }
    None
}

/// Every key live at the file's last revision, once, with the size of its value: what the
/// keyspace holds once the file is restored, read from the file instead of through etcd.
///
/// Memory stays flat in the number of keys: a key whose rows after the compaction are all
/// first writes (version 1, no delete) has exactly one row in the file (a second would need a
/// delete between them, and compaction keeps one row at or below its revision), and is counted
/// as its row passes. Only the keys rewritten or deleted after the compaction are held, with
/// their last write, in a first pass; `Ok(None)` when they are more than `max_rewritten` (the
/// caller reads the keyspace through etcd instead). Returns the file's last revision.
pub fn live_keys(
    path: &Path,
    max_rewritten: usize,
    mut visit: impl FnMut(&[u8], u64),
) -> Result<Option<i64>, FileHashError> {
    use std::collections::HashMap;
    let db = Db::open(path)?;
    let compact = compacted(&db)?;
    let rows = db.bucket(b"key")?.ok_or(FileHashError::NoBucket("key"))?;
    // The keys rewritten or deleted after the compaction: their last write (a value's size, or
    // `None` for a delete).
    let mut rewritten: HashMap<Vec<u8>, Option<u64>> = HashMap::new();
    let mut overflow = false;
    db.for_each(&rows, |k, v| {
        let row = Row::of(k, v);
        if row.main.is_none_or(|m| m <= compact) {
            return Ok(true);
        }
        let again = row.deleted || varint_field(v, 4).unwrap_or(0) >= 2;
        if again || rewritten.contains_key(row.key) {
            if !rewritten.contains_key(row.key) && rewritten.len() >= max_rewritten {
                overflow = true;
                return Ok(false);
            }
            let size = row.value().map(|v| v.len() as u64);
            rewritten.insert(row.key.to_vec(), size);
        }
        Ok(true)
    })?;
    if overflow {
        return Ok(None);
    }
    let mut last = 0;
    db.for_each(&rows, |k, v| {
        let row = Row::of(k, v);
        last = row.main.unwrap_or(last);
        if !rewritten.contains_key(row.key) {
            if let Some(value) = row.value() {
                visit(row.key, value.len() as u64);
            }
        }
        Ok(true)
    })?;
    for (key, size) in &rewritten {
        if let Some(size) = size {
            visit(key, *size);
        }
    }
    Ok(Some(last))
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, byte) in b.iter().take(10).enumerate() {
        x |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

fn hash_of(key: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot_file::fixture;

    /// Every live key and its value's size, the plain way: every write in revision order, the
    /// last one of each key kept (memory in the number of keys).
    fn live_by_replay(path: &Path) -> std::collections::BTreeMap<Vec<u8>, u64> {
        let mut state = std::collections::BTreeMap::new();
        let db = Db::open(path).unwrap();
        let rows = db.bucket(b"key").unwrap().unwrap();
        db.for_each(&rows, |k, v| {
            let row = Row::of(k, v);
            match row.value() {
                Some(v) => state.insert(row.key.to_vec(), v.len() as u64),
                None => state.remove(row.key),
            };
            Ok(true)
        })
        .unwrap();
        state
    }

    #[test]
    fn live_keys_are_the_replayed_state_of_every_fixture() {
        for name in [
            "external-3.4.23.db",
            "external-3.5.1.db",
            "kubernetes-3.5.30.db",
            "empty-3.5.30.db",
            "rewritten-compacted-3.5.30.db",
        ] {
            let path = fixture(name);
            let mut seen = std::collections::BTreeMap::new();
            let last = live_keys(&path, 1_000_000, |k, size| {
                assert!(
                    seen.insert(k.to_vec(), size).is_none(),
                    "{name}: a key twice"
                );
            })
            .unwrap()
            .expect("within the bound");
            assert_eq!(seen, live_by_replay(&path), "{name}");
            assert_eq!(last, rows(&path).1, "{name}");
        }
        // Keys updated and deleted before a compaction at 43 and after it, a key deleted and
        // created again, a prefix deleted: etcd's own `get --prefix /` counted 20 keys.
        let mut keys = 0;
        live_keys(
            &fixture("rewritten-compacted-3.5.30.db"),
            1_000_000,
            |_, _| keys += 1,
        )
        .unwrap();
        assert_eq!(keys, 20);
    }

    #[test]
    fn live_keys_give_up_past_their_bound_of_rewritten_keys() {
        // The fixture rewrites and deletes keys after its compaction: with no room for them,
        // no answer.
        let path = fixture("rewritten-compacted-3.5.30.db");
        let mut rewritten = 0;
        assert!(live_keys(&path, 1_000_000, |_, _| {}).unwrap().is_some());
        let db = Db::open(&path).unwrap();
        let bucket = db.bucket(b"key").unwrap().unwrap();
        db.for_each(&bucket, |k, v| {
            rewritten += usize::from(tombstone(k) || varint_field(v, 4).unwrap_or(0) >= 2);
            Ok(true)
        })
        .unwrap();
        assert!(rewritten > 0, "the fixture rewrites keys");
        assert_eq!(live_keys(&path, 0, |_, _| {}).unwrap(), None);
    }

    /// Rows and the highest revision of a fixture's `key` bucket.
    fn rows(path: &Path) -> (usize, i64) {
        let db = Db::open(path).unwrap();
        let bucket = db.bucket(b"key").unwrap().unwrap();
        let (mut n, mut top) = (0, 0);
        db.for_each(&bucket, |k, _| {
            n += 1;
            top = main_of(k).unwrap();
            Ok(true)
        })
        .unwrap();
        (n, top)
    }

    #[test]
    fn the_fixtures_read_in_revision_order() {
        // kubernetes-3.5.30.db: 3000 puts after the first revision; external-3.5.1.db: 301.
        assert_eq!(rows(&fixture("kubernetes-3.5.30.db")), (3000, 3001));
        assert_eq!(rows(&fixture("external-3.5.1.db")), (301, 302));
        assert_eq!(rows(&fixture("empty-3.5.30.db")), (0, 0));
        let h = hashkv(&fixture("external-3.5.1.db"), 302).unwrap();
        assert_eq!(h.compact_revision, -1);
        // An earlier revision hashes fewer rows.
        assert_ne!(hashkv(&fixture("external-3.5.1.db"), 150).unwrap(), h);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let whole = std::fs::read(fixture("kubernetes-3.5.30.db")).unwrap();
        for (name, bytes) in [
            ("short", whole[..whole.len() / 3].to_vec()),
            ("nothing", Vec::new()),
            (
                "noise",
                (0..whole.len()).map(|i| (i * 7 % 251) as u8).collect(),
            ),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            assert!(hashkv(&p, 3001).is_err(), "{name}");
        }
        // Every page past the metas overwritten, one at a time: an error or another hash.
        let good = hashkv(&fixture("kubernetes-3.5.30.db"), 3001).unwrap();
        let p = dir.path().join("page");
        for page in 2..whole.len() / 4096 {
            let mut bytes = whole.clone();
            bytes[page * 4096..page * 4096 + 64].fill(0xA5);
            std::fs::write(&p, &bytes).unwrap();
            // A page of the free list or of another bucket leaves the rows as they were.
            if let Ok(h) = hashkv(&p, 3001) {
                assert!(h == good || h.hash != good.hash, "page {page}");
            }
        }
    }

    #[test]
    fn a_rows_key_is_the_protobufs_field_one() {
        // KeyValue{key: "/a", create_revision: 2, mod_revision: 300, version: 1, value: "xyz"}
        let v = [
            0x0a, 2, b'/', b'a', 0x10, 2, 0x18, 0xac, 0x02, 0x20, 1, 0x2a, 3, b'x', b'y', b'z',
        ];
        assert_eq!(key_of(&v), b"/a");
        assert_eq!(field(&v, 5), Some(&b"xyz"[..]));
        // Field one after the others.
        let later = [0x10, 2, 0x2a, 1, b'x', 0x0a, 1, b'k'];
        assert_eq!(key_of(&later), b"k");
        assert_eq!(field(&[0x0a, 5, b'a'], 1), None, "cut short");
        assert_eq!(field(&[0x10, 0xff], 1), None, "a varint cut short");
        assert_eq!(main_of(&[0, 0, 0, 0, 0, 0, 1, 0, b'_']), Some(256));
        assert!(tombstone(b"\0\0\0\0\0\0\0\x05_\0\0\0\0\0\0\0\0t"));
    }

    /// `SNAPSHOT=path cargo test --release --lib time_a_snapshot -- --ignored --nocapture`:
    /// times a pass over a snapshot file, to measure the page cache's part.
    #[test]
    #[ignore]
    fn time_a_snapshot() {
        let Some(path) = std::env::var_os("SNAPSHOT") else {
            return;
        };
        let t = std::time::Instant::now();
        let h = hashkv(Path::new(&path), i64::MAX).unwrap();
        eprintln!("{h:?} in {:?}", t.elapsed());
    }
}
