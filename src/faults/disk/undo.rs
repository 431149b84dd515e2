//! The power-loss model, LazyFS's: a file's data is durable once it is fsynced, its metadata
//! (creation, rename, removal, size) at once. Until its next fsync, every write to a file is
//! kept here as what it overwrote; a power cut writes those back, newest first, and sets the
//! file to the size it last had durably: the file then holds what a disk that lost its
//! volatile cache would hold.
//!
//! Memory: what was overwritten since each file's last fsync (etcd fsyncs its WAL on every
//! commit and its db on every backend commit, so this stays a few MB).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// What a write since the last fsync replaced, to put back on a power cut.
#[derive(Debug)]
enum Before {
    /// These bytes, at this offset.
    Bytes(u64, Vec<u8>),
    /// Zeros: a part the file grew by (truncate or fallocate), whose data is not durable yet.
    Zeros(u64, u64),
}

#[derive(Debug)]
struct FileUndo {
    file: Arc<File>,
    /// The size the file has durably.
    synced_len: u64,
    before: Vec<Before>,
    /// Bytes written since the last fsync.
    unsynced: u64,
}

/// The writes not yet fsynced, by inode.
#[derive(Debug, Default)]
pub struct Unsynced {
    files: HashMap<u64, FileUndo>,
}

/// What a power cut threw away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Files that had writes not fsynced.
    pub files: u64,
    /// Bytes written to them since their last fsync.
    pub bytes: u64,
}

impl Unsynced {
    /// Before `len` bytes are written at `offset` of inode `ino` (through `file`): keeps what
    /// they overwrite of the file's durable part.
    pub fn before_write(
        &mut self,
        ino: u64,
        file: &Arc<File>,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        let undo = match self.files.entry(ino) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(FileUndo {
                file: file.clone(),
                synced_len: file.metadata()?.len(),
                before: Vec::new(),
                unsynced: 0,
            }),
        };
        let end = offset.saturating_add(len).min(undo.synced_len);
        if offset < end {
            let mut old = vec![0; (end - offset) as usize];
            let got = read_at_most(&undo.file, &mut old, offset)?;
            old.truncate(got);
            undo.before.push(Before::Bytes(offset, old));
        }
        undo.unsynced += len;
        Ok(())
    }

    /// The file's size changed (truncate, fallocate): durable at once, like all metadata. A part
    /// it grew by holds zeros after a power cut, whatever was written there since.
    pub fn resized(&mut self, ino: u64, len: u64) {
        if let Some(undo) = self.files.get_mut(&ino) {
            if len > undo.synced_len {
                undo.before
                    .push(Before::Zeros(undo.synced_len, len - undo.synced_len));
            }
            undo.synced_len = len;
        }
    }

    /// The file was fsynced (or written through an `O_SYNC` handle): what it holds now is
    /// durable.
    pub fn synced(&mut self, ino: u64) {
        self.files.remove(&ino);
    }

    /// The file's name is gone (unlinked, or renamed over): its writes go with it, and its inode
    /// number may come back for a new file, which must start with nothing pending.
    pub fn forget(&mut self, ino: u64) {
        self.files.remove(&ino);
    }

    /// Files with writes not fsynced, and their bytes.
    pub fn pending(&self) -> Dropped {
        Dropped {
            files: self.files.len() as u64,
            bytes: self.files.values().map(|u| u.unsynced).sum(),
        }
    }

    /// The power cut: every file back to what it held at its last fsync.
    /// Every file is reverted even when one fails; the first error is returned.
    pub fn revert(&mut self) -> io::Result<Dropped> {
        let dropped = self.pending();
        let mut first = None;
        for (_, undo) in self.files.drain() {
            let reverted = (|| {
                for before in undo.before.iter().rev() {
                    match before {
                        Before::Bytes(offset, bytes) => undo.file.write_all_at(bytes, *offset)?,
                        Before::Zeros(offset, len) => write_zeros(&undo.file, *offset, *len)?,
                    }
                }
                undo.file.set_len(undo.synced_len)?;
                undo.file.sync_all()
            })();
            if let Err(e) = reverted {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(dropped),
        }
    }
}

fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn write_zeros(file: &File, offset: u64, len: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(len) as usize];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        file.write_all_at(&zeros[..n as usize], offset + done)?;
        done += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn open(path: &std::path::Path) -> Arc<File> {
        Arc::new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .unwrap(),
        )
    }

    /// A write through the model, as the layer does it.
    fn write(u: &mut Unsynced, f: &Arc<File>, offset: u64, data: &[u8]) {
        let ino = f.metadata().unwrap().ino();
        u.before_write(ino, f, offset, data.len() as u64).unwrap();
        f.write_all_at(data, offset).unwrap();
    }

    #[test]
    fn a_power_cut_leaves_each_file_as_it_was_at_its_last_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let (fa, fb) = (open(&a), open(&b));
        let ino_a = fa.metadata().unwrap().ino();
        let mut u = Unsynced::default();
        write(&mut u, &fa, 0, b"hello world");
        u.synced(ino_a);
        // Overwrites inside the durable part, twice over the same bytes, and growth past it.
        write(&mut u, &fa, 6, b"WORLD");
        write(&mut u, &fa, 0, b"HELLO-WOR");
        write(&mut u, &fa, 11, b" and more");
        // A file never fsynced loses all it was written.
        write(&mut u, &fb, 0, b"never synced");
        assert_eq!(
            u.pending(),
            Dropped {
                files: 2,
                bytes: 5 + 9 + 9 + 12
            }
        );
        let dropped = u.revert().unwrap();
        assert_eq!(dropped.files, 2);
        assert_eq!(std::fs::read(&a).unwrap(), b"hello world");
        assert_eq!(std::fs::read(&b).unwrap(), b"");
        assert_eq!(u.pending(), Dropped::default());
    }

    #[test]
    fn a_size_change_is_durable_and_what_was_written_in_the_grown_part_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let f = open(&path);
        let ino = f.metadata().unwrap().ino();
        let mut u = Unsynced::default();
        write(&mut u, &f, 0, b"header");
        u.synced(ino);
        // Past the durable size, then the file grows (a preallocation) over it.
        write(&mut u, &f, 6, b"entry-1");
        f.set_len(64).unwrap();
        u.resized(ino, 64);
        write(&mut u, &f, 20, b"entry-2");
        u.revert().unwrap();
        let mut want = b"header".to_vec();
        want.resize(64, 0);
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    /// A file removed with writes pending, and a new file that gets its inode number: the new
    /// one starts with nothing pending and keeps what it was synced with.
    #[test]
    fn a_forgotten_inode_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (open(&dir.path().join("old")), open(&dir.path().join("new")));
        let ino = 7;
        let mut u = Unsynced::default();
        u.before_write(ino, &old, 0, 3).unwrap();
        old.write_all_at(b"old", 0).unwrap();
        u.forget(ino);
        new.write_all_at(b"durable", 0).unwrap();
        u.before_write(ino, &new, 0, 3).unwrap();
        new.write_all_at(b"NEW", 0).unwrap();
        u.revert().unwrap();
        assert_eq!(std::fs::read(dir.path().join("new")).unwrap(), b"durable");
        assert_eq!(std::fs::read(dir.path().join("old")).unwrap(), b"old");
    }

    #[test]
    fn nothing_written_since_the_fsync_means_nothing_to_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let f = open(&path);
        let ino = f.metadata().unwrap().ino();
        let mut u = Unsynced::default();
        write(&mut u, &f, 0, b"page");
        u.synced(ino);
        assert_eq!(u.revert().unwrap(), Dropped::default());
        assert_eq!(std::fs::read(&path).unwrap(), b"page");
    }
}
