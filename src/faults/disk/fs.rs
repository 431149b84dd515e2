//! The FUSE filesystem a member's data directory is mounted through: every call passes to the
//! backing directory (the member's volume), except what the fault in force changes: fsyncs
//! held for a while, an operation failing with EIO or ENOSPC, or, on a power cut, every write
//! not yet fsynced undone (`undo`).

use super::undo::{Dropped, Unsynced};
use super::{Counters, ErrorOn, Mode};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, WriteFlags,
};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TTL: Duration = Duration::from_secs(1);

struct Handle {
    file: Arc<File>,
    /// Opened `O_SYNC`/`O_DSYNC`: each write is durable when it returns.
    sync: bool,
}

/// The layer's state, shared by the FUSE threads and the supervisor.
pub struct Layer {
    root: PathBuf,
    /// Inode → (parent inode, name); the root is inode 1.
    nodes: Mutex<HashMap<u64, (u64, OsString)>>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    unsynced: Mutex<Unsynced>,
    mode: Mutex<Mode>,
    pub counters: Counters,
    /// Set when a `CutAtWrite` cut the power right after a write not yet durable.
    pub cut_after_write: std::sync::atomic::AtomicBool,
    rng: Mutex<rand::rngs::StdRng>,
}

fn errno(e: std::io::Error) -> Errno {
    Errno::from(e)
}

impl Layer {
    pub fn new(root: PathBuf, seed: u64) -> Self {
        use rand::SeedableRng;
        Layer {
            root,
            nodes: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            unsynced: Mutex::new(Unsynced::default()),
            mode: Mutex::new(Mode::Normal),
            counters: Counters::default(),
            cut_after_write: std::sync::atomic::AtomicBool::new(false),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode.lock().unwrap().clone()
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn pending(&self) -> Dropped {
        self.unsynced.lock().unwrap().pending()
    }

    /// The power cut: from now on every call fails, and the writes not fsynced are undone.
    pub fn cut_power(&self) -> std::io::Result<Dropped> {
        self.set_mode(Mode::Crashed);
        self.handles.lock().unwrap().clear();
        self.unsynced.lock().unwrap().revert()
    }

    fn path(&self, ino: u64) -> Result<PathBuf, Errno> {
        let nodes = self.nodes.lock().unwrap();
        let mut names = Vec::new();
        let mut at = ino;
        while at != INodeNo::ROOT.0 {
            let (parent, name) = nodes.get(&at).ok_or(Errno::ENOENT)?;
            names.push(name.clone());
            at = *parent;
            if names.len() > 256 {
                return Err(Errno::ELOOP);
            }
        }
        let mut p = self.root.clone();
        p.extend(names.iter().rev());
        Ok(p)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent.0)?.join(name))
    }

    /// Learns `name` under `parent` from its metadata: its inode is its backing inode.
    fn remember(&self, parent: INodeNo, name: &OsStr, meta: &Metadata) -> FileAttr {
        self.nodes
            .lock()
            .unwrap()
            .insert(meta.ino(), (parent.0, name.to_os_string()));
        attr(meta.ino(), meta)
    }

    fn handle(&self, fh: FileHandle) -> Result<(Arc<File>, bool), Errno> {
        let handles = self.handles.lock().unwrap();
        let h = handles.get(&fh.0).ok_or(Errno::EBADF)?;
        Ok((h.file.clone(), h.sync))
    }

    fn keep(&self, file: File, sync: bool) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().unwrap().insert(
            fh,
            Handle {
                file: Arc::new(file),
                sync,
            },
        );
        FileHandle(fh)
    }

    /// A call that changes nothing durable: refused only after a power cut.
    fn alive(&self) -> Result<(), Errno> {
        match *self.mode.lock().unwrap() {
            Mode::Crashed => Err(Errno::EIO),
            _ => Ok(()),
        }
    }

    /// A write of `len` bytes: refused after a power cut, with EIO when writes fail, with
    /// ENOSPC once the room left is used up.
    fn may_write(&self, len: u64) -> Result<(), Errno> {
        let mut mode = self.mode.lock().unwrap();
        match &mut *mode {
            Mode::Crashed => Err(Errno::EIO),
            Mode::Error { on: ErrorOn::Write } => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Err(Errno::EIO)
            }
            Mode::Full { room } if len > *room => {
                self.counters.no_space.fetch_add(1, Ordering::Relaxed);
                Err(Errno::ENOSPC)
            }
            Mode::Full { room } => {
                *room -= len;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// An fsync (of a file or a directory): refused after a power cut or when fsyncs fail;
    /// otherwise how long to hold it.
    fn may_sync(&self) -> Result<Duration, Errno> {
        let mode = self.mode.lock().unwrap().clone();
        match mode {
            Mode::Crashed => Err(Errno::EIO),
            Mode::Error { on: ErrorOn::Fsync } => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Err(Errno::EIO)
            }
            Mode::Slow { delay, jitter } => {
                use rand::Rng;
                let j = jitter.as_micros() as i64;
                let off = match j {
                    0 => 0,
                    j => self.rng.lock().unwrap().random_range(-j..=j),
                };
                let d = (delay.as_micros() as i64 + off).max(0) as u64;
                Ok(Duration::from_micros(d))
            }
            _ => Ok(Duration::ZERO),
        }
    }

    /// After a write that is not durable yet: a `CutAtWrite` cuts the power here.
    fn cut_if_armed(&self) {
        let mut mode = self.mode.lock().unwrap();
        if *mode == Mode::CutAtWrite {
            *mode = Mode::Crashed;
            self.cut_after_write.store(true, Ordering::Relaxed);
        }
    }

    fn held(&self, hold: Duration) {
        if !hold.is_zero() {
            std::thread::sleep(hold);
            self.counters.delayed.fetch_add(1, Ordering::Relaxed);
            self.counters
                .delayed_us
                .fetch_add(hold.as_micros() as u64, Ordering::Relaxed);
        }
    }
}

fn kind(meta: &Metadata) -> FileType {
    let t = meta.file_type();
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    }
}

fn time(secs: i64, nanos: i64) -> SystemTime {
    match secs {
        s if s >= 0 => UNIX_EPOCH + Duration::new(s as u64, nanos as u32),
        _ => UNIX_EPOCH,
    }
}

fn attr(ino: u64, meta: &Metadata) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: meta.len(),
        blocks: meta.blocks(),
        atime: time(meta.atime(), meta.atime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: kind(meta),
        perm: (meta.mode() & 0o7777) as u16,
        nlink: meta.nlink() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

/// The backing file opened for what the caller asked; a writer reads too, to keep what its
/// writes overwrite.
fn options(flags: i32) -> OpenOptions {
    let mut o = OpenOptions::new();
    match OpenFlags(flags).acc_mode() {
        OpenAccMode::O_RDONLY => o.read(true),
        OpenAccMode::O_WRONLY | OpenAccMode::O_RDWR => o.read(true).write(true),
    };
    o
}

fn is_sync(flags: i32) -> bool {
    flags & (libc::O_SYNC | libc::O_DSYNC) != 0
}

/// The filesystem FUSE calls: the shared layer.
pub struct Fs(pub Arc<Layer>);

impl Fs {
    fn getattr_of(&self, ino: INodeNo, fh: Option<FileHandle>) -> Result<FileAttr, Errno> {
        let meta = match fh.map(|fh| self.0.handle(fh)) {
            Some(Ok((file, _))) => file.metadata(),
            _ => std::fs::symlink_metadata(self.0.path(ino.0)?),
        }
        .map_err(errno)?;
        Ok(attr(ino.0, &meta))
    }

    fn set_size(&self, ino: INodeNo, fh: Option<FileHandle>, size: u64) -> Result<(), Errno> {
        let l = &self.0;
        let file = match fh.map(|fh| l.handle(fh)) {
            Some(Ok((file, _))) => file,
            _ => Arc::new(
                OpenOptions::new()
                    .write(true)
                    .open(l.path(ino.0)?)
                    .map_err(errno)?,
            ),
        };
        let len = file.metadata().map_err(errno)?.len();
        l.may_write(size.saturating_sub(len))?;
        file.set_len(size).map_err(errno)?;
        l.unsynced.lock().unwrap().resized(ino.0, size);
        Ok(())
    }
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self
            .0
            .child(parent, name)
            .and_then(|p| std::fs::symlink_metadata(p).map_err(errno));
        match found {
            Ok(meta) => reply.entry(&TTL, &self.0.remember(parent, name, &meta), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.getattr_of(ino, fh) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let done = (|| {
            self.0.alive()?;
            let path = self.0.path(ino.0)?;
            if let Some(m) = mode {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m))
                    .map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::chown(&path, uid, gid).map_err(errno)?;
            }
            if let Some(size) = size {
                self.set_size(ino, fh, size)?;
            }
            self.getattr_of(ino, fh)
        })();
        match done {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let done = (|| {
            self.0.alive()?;
            let path = self.0.child(parent, name)?;
            std::fs::create_dir(&path).map_err(errno)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !umask))
                .map_err(errno)?;
            std::fs::symlink_metadata(&path).map_err(errno)
        })();
        match done {
            Ok(meta) => reply.entry(&TTL, &self.0.remember(parent, name, &meta), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let done = self
            .0
            .alive()
            .and_then(|()| self.0.child(parent, name))
            .and_then(|p| {
                let ino = std::fs::symlink_metadata(&p).map_err(errno)?.ino();
                std::fs::remove_file(p).map_err(errno)?;
                self.0.unsynced.lock().unwrap().forget(ino);
                Ok(())
            });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let done = self
            .0
            .alive()
            .and_then(|()| self.0.child(parent, name))
            .and_then(|p| std::fs::remove_dir(p).map_err(errno));
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let done = (|| {
            self.0.alive()?;
            if flags.bits() != 0 {
                return Err(Errno::EINVAL);
            }
            let from = self.0.child(parent, name)?;
            let to = self.0.child(newparent, newname)?;
            let ino = std::fs::symlink_metadata(&from).map_err(errno)?.ino();
            let replaced = std::fs::symlink_metadata(&to).ok().map(|m| m.ino());
            std::fs::rename(&from, &to).map_err(errno)?;
            if let Some(gone) = replaced.filter(|r| *r != ino) {
                self.0.unsynced.lock().unwrap().forget(gone);
            }
            self.0
                .nodes
                .lock()
                .unwrap()
                .insert(ino, (newparent.0, newname.to_os_string()));
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let done = self
            .0
            .alive()
            .and_then(|()| self.0.path(ino.0))
            .and_then(|p| {
                options(flags.0)
                    .open(p)
                    .map_err(errno)
                    .map(|f| self.0.keep(f, is_sync(flags.0)))
            });
        match done {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let done = (|| {
            self.0.alive()?;
            let path = self.0.child(parent, name)?;
            let mut o = options(flags);
            o.create(true)
                .create_new(flags & libc::O_EXCL != 0)
                .mode(mode & !umask & 0o7777);
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                o.write(true);
            }
            let file = o.open(&path).map_err(errno)?;
            let meta = file.metadata().map_err(errno)?;
            let a = self.0.remember(parent, name, &meta);
            Ok((a, self.0.keep(file, is_sync(flags))))
        })();
        match done {
            Ok((a, fh)) => reply.created(&TTL, &a, Generation(0), fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let done = self
            .0
            .alive()
            .and_then(|()| self.0.handle(fh))
            .and_then(|(f, _)| {
                let mut buf = vec![0; size as usize];
                let mut got = 0;
                while got < buf.len() {
                    match f.read_at(&mut buf[got..], offset + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => return Err(errno(e)),
                    }
                }
                buf.truncate(got);
                Ok(buf)
            });
        match done {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let l = &self.0;
        let done = (|| {
            let (file, sync) = l.handle(fh)?;
            l.may_write(data.len() as u64)?;
            if !sync {
                l.unsynced
                    .lock()
                    .unwrap()
                    .before_write(ino.0, &file, offset, data.len() as u64)
                    .map_err(errno)?;
            }
            file.write_all_at(data, offset).map_err(errno)?;
            l.counters
                .written
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            match sync {
                // Durable when it returns, as if fsynced.
                true => l.unsynced.lock().unwrap().synced(ino.0),
                false => l.cut_if_armed(),
            }
            Ok(())
        })();
        match done {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.0.handles.lock().unwrap().remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let l = &self.0;
        let done = (|| {
            let hold = l.may_sync()?;
            let (file, _) = l.handle(fh)?;
            match datasync {
                true => file.sync_data(),
                false => file.sync_all(),
            }
            .map_err(errno)?;
            l.unsynced.lock().unwrap().synced(ino.0);
            l.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
            l.held(hold);
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = self.0.path(ino.0).and_then(|p| {
            let mut entries: Vec<(u64, FileType, OsString)> = Vec::new();
            for e in std::fs::read_dir(p).map_err(errno)? {
                let e = e.map_err(errno)?;
                let meta = e.metadata().map_err(errno)?;
                entries.push((meta.ino(), kind(&meta), e.file_name()));
            }
            entries.sort_by(|a, b| a.2.cmp(&b.2));
            Ok(entries)
        });
        let entries = match listed {
            Ok(e) => e,
            Err(e) => return reply.error(e),
        };
        let dots = [
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ];
        for (i, (n, k, name)) in dots
            .into_iter()
            .chain(entries)
            .enumerate()
            .skip(offset as usize)
        {
            if reply.add(INodeNo(n), i as u64 + 1, k, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let l = &self.0;
        let done = (|| {
            let hold = l.may_sync()?;
            File::open(l.path(ino.0)?)
                .and_then(|d| d.sync_all())
                .map_err(errno)?;
            l.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
            l.held(hold);
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match nix::sys::statvfs::statvfs(&self.0.root) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                s.block_size() as u32,
                s.name_max() as u32,
                s.fragment_size() as u32,
            ),
            Err(e) => reply.error(Errno::from_i32(e as i32)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        use nix::fcntl::{fallocate, FallocateFlags};
        let l = &self.0;
        let done = (|| {
            let (file, _) = l.handle(fh)?;
            let len = file.metadata().map_err(errno)?.len();
            let end = offset.saturating_add(length);
            l.may_write(end.saturating_sub(len))?;
            let flags = FallocateFlags::from_bits_truncate(mode);
            // Only what etcd asks (allocate, or allocate keeping the size): a punched or zeroed
            // range would need its old bytes kept for a power cut.
            if !(FallocateFlags::FALLOC_FL_KEEP_SIZE).contains(flags) {
                return Err(Errno::EOPNOTSUPP);
            }
            fallocate(&*file, flags, offset as i64, length as i64)
                .map_err(|e| Errno::from_i32(e as i32))?;
            if !flags.contains(FallocateFlags::FALLOC_FL_KEEP_SIZE) && end > len {
                l.unsynced.lock().unwrap().resized(ino.0, end);
            }
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_cut_lands_after_the_next_write_and_refuses_every_call_after() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layer::new(dir.path().to_path_buf(), 0);
        l.cut_if_armed();
        assert_eq!(l.mode(), Mode::Normal, "not armed: nothing happens");
        l.set_mode(Mode::CutAtWrite);
        assert!(l.may_write(10).is_ok() && l.may_sync().is_ok());
        l.cut_if_armed();
        assert_eq!(l.mode(), Mode::Crashed);
        assert!(l.cut_after_write.load(Ordering::Relaxed));
        assert_eq!(l.may_write(1), Err(Errno::EIO));
        assert_eq!(l.may_sync(), Err(Errno::EIO));
        assert_eq!(l.alive(), Err(Errno::EIO));
    }

    #[test]
    fn a_full_disk_takes_writes_until_its_room_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layer::new(dir.path().to_path_buf(), 0);
        l.set_mode(Mode::Full { room: 100 });
        assert!(l.may_write(60).is_ok());
        assert_eq!(l.may_write(60), Err(Errno::ENOSPC));
        assert!(l.may_write(40).is_ok());
        assert_eq!(l.may_write(1), Err(Errno::ENOSPC));
        assert_eq!(l.counters.no_space.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_slow_disk_holds_each_fsync_within_its_jitter() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layer::new(dir.path().to_path_buf(), 7);
        let (delay, jitter) = (Duration::from_millis(100), Duration::from_millis(30));
        l.set_mode(Mode::Slow { delay, jitter });
        for _ in 0..200 {
            let hold = l.may_sync().unwrap();
            assert!(hold >= delay - jitter && hold <= delay + jitter, "{hold:?}");
        }
        l.set_mode(Mode::Error { on: ErrorOn::Fsync });
        assert_eq!(l.may_sync(), Err(Errno::EIO));
        assert!(l.may_write(1).is_ok(), "only fsyncs fail");
    }
}
