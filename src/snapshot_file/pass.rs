//! One read of a snapshot file (two where it holds a compaction: the rows after it first, for
//! HashKV's rule) for everything the harness records of it: the figures etcdutl's
//! `snapshot status` gives (a CRC-32C over every bucket's name, keys and values, the last
//! revision, the number of keys, the database's size), etcd's HashKV at the file's own
//! revision, and every write shown to a visitor (the seed check).
//!
//! etcdutl's status reads the file twice through bbolt's memory map, a page fault at a time
//! (bbolt's `tx.Check` walks every page, then each bucket is read in key order): after a
//! 4 GiB seed, 73–85 s of a 5.9 GB snapshot that the page cache could not hold beside the
//! members' dbs, where this pass, asking the kernel for the leaves ahead, took 2–10 s. The
//! figures are etcdutl's own (proven against it on every etcd version the harness runs); its
//! page check proves the file is the bytes etcd sent, which the SHA-256 trailer etcd appends
//! to the stream proves first. A file from outside still goes to etcdutl.

use super::bolt::{BoltError, Db};
use super::hashkv::{FileHash, FileHashError, Row, RowHash};
use super::Status;
use std::path::Path;

/// What one pass over a snapshot file found.
#[derive(Debug)]
pub struct FileRead {
    /// As `etcdutl snapshot status` would say it.
    pub status: Status,
    /// etcd's HashKV at the file's last revision, or why the file cannot say.
    pub hashkv: Result<FileHash, FileHashError>,
}

/// Reads the snapshot at `path` once, showing `visit` every write in the order it happened (the
/// key and its value, or `None` for a delete).
pub fn read(
    path: &Path,
    mut visit: impl FnMut(&[u8], Option<&[u8]>),
) -> Result<FileRead, BoltError> {
    let db = Db::open(path)?;
    let mut hash = RowHash::prepare(&db, i64::MAX);
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    let (mut total_key, mut revision, mut rows_found) = (0u64, 0i64, false);
    for (name, bucket) in db.buckets()? {
        crc.update(&name);
        let rows = name == b"key";
        rows_found |= rows;
        db.for_each_element(&bucket, |nested, k, v| {
            crc.update(k);
            crc.update(v);
            total_key += 1;
            if rows && !nested {
                let row = Row::of(k, v);
                revision = row.main.unwrap_or(revision);
                visit(row.key, row.value());
                if let Ok(h) = &mut hash {
                    h.row(&row);
                }
            }
            Ok(true)
        })?;
    }
    let hashkv = match hash {
        Ok(_) if !rows_found => Err(FileHashError::NoBucket("key")),
        Ok(h) => h.finish(),
        Err(e) => Err(e),
    };
    Ok(FileRead {
        status: Status {
            hash: crc.finalize() as u32 as u64,
            revision,
            total_key,
            total_size: db.size(),
        },
        hashkv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot_file::fixture;

    fn status(hash: u64, revision: i64, total_key: u64, total_size: u64) -> Status {
        Status {
            hash,
            revision,
            total_key,
            total_size,
        }
    }

    /// What `etcdutl snapshot status -w json` (3.5.30) printed for each fixture; the Docker test
    /// `a_snapshot_files_hashkv_is_etcds_at_every_revision` asks etcdutl on fresh snapshots.
    #[test]
    fn the_status_figures_are_etcdutls() {
        let cases = [
            ("empty-3.5.30.db", status(668_539_835, 0, 6, 20_480)),
            ("external-3.5.1.db", status(3_804_818_207, 302, 307, 57_344)),
            (
                "kubernetes-3.5.30.db",
                status(1_312_711_424, 3001, 3006, 2_510_848),
            ),
        ];
        for (name, etcdutl) in cases {
            let read = read(&fixture(name), |_, _| {}).unwrap();
            let s = &read.status;
            assert_eq!(
                (s.hash, s.revision, s.total_key, s.total_size),
                (
                    etcdutl.hash,
                    etcdutl.revision,
                    etcdutl.total_key,
                    etcdutl.total_size
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn one_pass_gives_the_hashkv_and_every_write() {
        let path = fixture("external-3.5.1.db");
        let mut writes = 0;
        let read = read(&path, |_, _| writes += 1).unwrap();
        assert_eq!(writes, 301);
        let alone = crate::snapshot_file::hashkv::hashkv(&path, i64::MAX).unwrap();
        assert_eq!(read.hashkv.unwrap(), alone);
    }

    #[test]
    fn a_changed_byte_changes_the_status_hash() {
        let path = fixture("external-3.5.1.db");
        let whole = std::fs::read(&path).unwrap();
        let mut last = Vec::new();
        let before = read(&path, |_, v| last = v.unwrap_or_default().to_vec()).unwrap();
        // A byte of the last value written.
        assert!(last.len() >= 4, "the fixture's last write has a value");
        let at = whole.windows(last.len()).rposition(|w| w == last).unwrap();
        let before = before.status.hash;
        let mut changed = whole.clone();
        changed[at] ^= 0x01;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("changed.db");
        std::fs::write(&p, &changed).unwrap();
        match read(&p, |_, _| {}) {
            Ok(r) => assert_ne!(r.status.hash, before),
            // A byte of a page's structure: refused, which is as good.
            Err(e) => assert!(e.to_string().contains("changed.db"), "{e}"),
        }
    }
}
