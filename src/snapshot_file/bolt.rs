//! Reads a bbolt file (etcd's backend, and so a snapshot) page by page: the pages of one
//! bucket's B+tree in key order, each read into a buffer of its own size and dropped, so a
//! 6 GB snapshot costs a few pages of memory. Only what reading needs: no free list, no
//! writes. Every offset is checked, so a damaged file is an error, never a panic.
//!
//! The layout (bbolt's `page.go`, `node.go`, `db.go`), all little-endian:
//! - a page header: id u64, flags u16, count u16, overflow u32 (the page spans `overflow + 1`
//!   pages);
//! - pages 0 and 1 are meta pages: magic, version, page size, flags, the root bucket (root page,
//!   sequence), free list, high-water page, transaction id, FNV-1a checksum; the valid one with
//!   the higher transaction id is current;
//! - a branch page's elements: pos u32, ksize u32, child page u64; a leaf page's: flags u32,
//!   pos u32, ksize u32, vsize u32; `pos` counts from the element itself;
//! - a bucket is a leaf value (flag 1): its root page u64 and sequence u64, then, when the root
//!   is 0, the bucket's one leaf page inline.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: u32 = 0xED0C_DAED;
const HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;
/// bbolt's B+tree is a few levels deep; a deeper one is a loop in a damaged file.
const MAX_DEPTH: usize = 64;
/// Leaves asked of the kernel ahead of the one being read (16 MiB of 4 KiB pages), `STEP` at a
/// time.
const AHEAD: usize = 4096;
const STEP: usize = 256;

/// Called with each leaf element's flags, key and value; false stops the walk.
type Visit<'a> = dyn FnMut(u32, &[u8], &[u8]) -> Result<bool, BoltError> + 'a;

#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a bbolt file we can read: {why}")]
    Format { path: PathBuf, why: String },
}

/// One bucket's tree: its root page, or its only page inline.
#[derive(Debug, Clone)]
pub enum Bucket {
    Root(u64),
    Inline(Vec<u8>),
}

pub struct Db {
    file: File,
    path: PathBuf,
    page_size: u64,
    pages: u64,
    root: u64,
    high_water: u64,
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, BoltError> {
        let file = File::open(path).map_err(|source| BoltError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| BoltError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let mut db = Db {
            file,
            path: path.to_path_buf(),
            page_size: 4096,
            pages: 0,
            root: 0,
            high_water: 0,
        };
        let mut first = vec![0u8; 4096.min(len as usize)];
        db.read_at(&mut first, 0)?;
        let m0 = meta(&first);
        // Page 1 sits one page size in: meta 0 says how big a page is; if it is damaged, try
        // the common sizes.
        let sizes: Vec<u64> = match &m0 {
            Some(m) => vec![m.page_size],
            None => vec![4096, 8192, 16384, 65536],
        };
        let mut best = m0;
        for size in sizes {
            if len < size * 2 {
                continue;
            }
            let mut second = vec![0u8; size as usize];
            db.read_at(&mut second, size)?;
            if let Some(m1) = meta(&second) {
                if best.as_ref().is_none_or(|b| m1.txid > b.txid) {
                    best = Some(m1);
                }
                break;
            }
        }
        let m = best.ok_or_else(|| db.format("neither meta page is valid".into()))?;
        db.page_size = m.page_size;
        db.pages = len / m.page_size;
        db.root = m.root;
        db.high_water = m.high_water;
        Ok(db)
    }

    fn format(&self, why: String) -> BoltError {
        BoltError::Format {
            path: self.path.clone(),
            why,
        }
    }

    fn read_at(&self, buf: &mut [u8], at: u64) -> Result<(), BoltError> {
        self.file
            .read_exact_at(buf, at)
            .map_err(|source| BoltError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Page `id` with its overflow pages, checked: inside the file, the flags wanted.
    fn page(&self, id: u64, want: u16) -> Result<Vec<u8>, BoltError> {
        if id < 2 || id >= self.pages {
            return Err(self.format(format!(
                "page {id} is outside the file's {} pages",
                self.pages
            )));
        }
        let mut head = [0u8; HEADER];
        self.read_at(&mut head, id * self.page_size)?;
        let overflow = u32_at(&head, 12) as u64;
        if id + overflow >= self.pages {
            return Err(self.format(format!("page {id} overflows the file by {overflow} pages")));
        }
        let flags = u16_at(&head, 8);
        if flags & want == 0 {
            return Err(self.format(format!(
                "page {id} has flags {flags:#x}, expected {want:#x}"
            )));
        }
        let mut page = vec![0u8; ((overflow + 1) * self.page_size) as usize];
        self.read_at(&mut page, id * self.page_size)?;
        Ok(page)
    }

    /// The database's size as bbolt counts it (`tx.Size()`): its high-water page times the
    /// page size, what etcdutl's status calls the total size.
    pub fn size(&self) -> u64 {
        self.high_water * self.page_size
    }

    /// The top-level bucket `name`, if the file has it.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket>, BoltError> {
        let mut found = None;
        self.walk(&Bucket::Root(self.root), &mut |flags, k, v| {
            if k == name && flags & BUCKET_LEAF != 0 {
                found = Some(v.to_vec());
                return Ok(false);
            }
            Ok(true)
        })?;
        match found {
            Some(v) => self.bucket_of(name, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every top-level bucket, in key order, with its name.
    pub fn buckets(&self) -> Result<Vec<(Vec<u8>, Bucket)>, BoltError> {
        let mut found = Vec::new();
        self.walk(&Bucket::Root(self.root), &mut |flags, k, v| {
            if flags & BUCKET_LEAF != 0 {
                found.push((k.to_vec(), v.to_vec()));
            }
            Ok(true)
        })?;
        found
            .into_iter()
            .map(|(name, v)| Ok((name.clone(), self.bucket_of(&name, &v)?)))
            .collect()
    }

    /// A bucket from its leaf value (the root page, or the page inline).
    fn bucket_of(&self, name: &[u8], v: &[u8]) -> Result<Bucket, BoltError> {
        if v.len() < HEADER {
            return Err(self.format(format!("bucket {:?}'s header is short", name)));
        }
        Ok(match u64_at(v, 0) {
            0 => Bucket::Inline(v[HEADER..].to_vec()),
            root => Bucket::Root(root),
        })
    }

    /// Every key and value of `bucket` in key order (nested buckets skipped), until `f` says
    /// stop (returns false).
    ///
    /// The leaves are not where their order says: bbolt writes a page wherever its free list
    /// has room, so a bucket's leaves lie all over the file, and reading them in key order from
    /// disk is a random read of 4 KiB at a time (a 6 GB snapshot took minutes where the page
    /// cache no longer held it). So the branch pages are read first, for the leaves' page ids
    /// in key order (4 bytes per leaf, 0.1% of the file), and the leaves are asked of the
    /// kernel `AHEAD` pages ahead of the one being read, so many reads are in flight at once.
    pub fn for_each(
        &self,
        bucket: &Bucket,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, BoltError>,
    ) -> Result<(), BoltError> {
        self.for_each_element(
            bucket,
            |nested, k, v| if nested { Ok(true) } else { f(k, v) },
        )
    }

    /// `for_each`, nested buckets included (as bbolt's `ForEach` shows them: the key, and no
    /// value), each told by `nested`.
    pub fn for_each_element(
        &self,
        bucket: &Bucket,
        mut f: impl FnMut(bool, &[u8], &[u8]) -> Result<bool, BoltError>,
    ) -> Result<(), BoltError> {
        let mut visit = |flags: u32, k: &[u8], v: &[u8]| {
            let nested = flags & BUCKET_LEAF != 0;
            f(nested, k, if nested { &[] } else { v })
        };
        let Bucket::Root(root) = bucket else {
            return self.walk(bucket, &mut visit);
        };
        let leaves = self.leaves(*root)?;
        // The first `AHEAD`, then `STEP` more every `STEP` leaves.
        leaves.iter().take(AHEAD).for_each(|id| self.will_need(*id));
        for (i, id) in leaves.iter().enumerate() {
            if i > 0 && i % STEP == 0 {
                let more = leaves.iter().skip(i + AHEAD - STEP).take(STEP);
                more.for_each(|id| self.will_need(*id));
            }
            let page = self.page(*id as u64, LEAF)?;
            if !self.leaf(&page, &mut visit)? {
                break;
            }
        }
        Ok(())
    }

    /// The page ids of the leaves under `root`, in key order, from the branch pages alone:
    /// every leaf of a bbolt tree is at the same depth, found by the leftmost path (a page
    /// there that is not a leaf is an error when it is read).
    fn leaves(&self, root: u64) -> Result<Vec<u32>, BoltError> {
        let id32 = |id: u64| {
            u32::try_from(id).map_err(|_| self.format(format!("page {id} is past 2^32 pages")))
        };
        // The depth of the leaves, down the leftmost path.
        let (mut depth, mut id) = (0, root);
        loop {
            let page = self.page(id, BRANCH | LEAF)?;
            if u16_at(&page, 8) & LEAF != 0 {
                break;
            }
            let count = u16_at(&page, 10) as usize;
            self.elements_fit(&page, count)?;
            if count == 0 {
                return Err(self.format(format!("branch page {id} is empty")));
            }
            (depth, id) = (depth + 1, u64_at(&page, HEADER + 8));
            if depth > MAX_DEPTH {
                return Err(self.format(format!("the tree is deeper than {MAX_DEPTH}")));
            }
        }
        let mut level = vec![id32(root)?];
        for _ in 0..depth {
            let mut next = Vec::new();
            level.iter().for_each(|id| self.will_need(*id));
            for id in level {
                let page = self.page(id as u64, BRANCH)?;
                let count = u16_at(&page, 10) as usize;
                self.elements_fit(&page, count)?;
                for i in 0..count {
                    next.push(id32(u64_at(&page, HEADER + i * ELEMENT + 8))?);
                }
            }
            level = next;
        }
        Ok(level)
    }

    /// Asks the kernel to read page `id` in the background.
    fn will_need(&self, id: u32) {
        use std::os::fd::AsFd;
        let _ = nix::fcntl::posix_fadvise(
            self.file.as_fd(),
            (id as u64 * self.page_size) as i64,
            self.page_size as i64,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
        );
    }

    fn walk(&self, bucket: &Bucket, f: &mut Visit<'_>) -> Result<(), BoltError> {
        match bucket {
            Bucket::Inline(page) => self.leaf(page, f).map(|_| ()),
            Bucket::Root(id) => self.node(*id, 0, f).map(|_| ()),
        }
    }

    /// Visits the subtree under page `id`; false once `f` asked to stop.
    fn node(&self, id: u64, depth: usize, f: &mut Visit<'_>) -> Result<bool, BoltError> {
        if depth > MAX_DEPTH {
            return Err(self.format(format!("the tree is deeper than {MAX_DEPTH} at page {id}")));
        }
        let page = self.page(id, BRANCH | LEAF)?;
        if u16_at(&page, 8) & LEAF != 0 {
            return self.leaf(&page, f);
        }
        let count = u16_at(&page, 10) as usize;
        self.elements_fit(&page, count)?;
        for i in 0..count {
            let child = u64_at(&page, HEADER + i * ELEMENT + 8);
            if !self.node(child, depth + 1, f)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn leaf(&self, page: &[u8], f: &mut Visit<'_>) -> Result<bool, BoltError> {
        if page.len() < HEADER {
            return Err(self.format("an inline page is shorter than its header".into()));
        }
        let count = u16_at(page, 10) as usize;
        self.elements_fit(page, count)?;
        for i in 0..count {
            let at = HEADER + i * ELEMENT;
            let flags = u32_at(page, at);
            let pos = u32_at(page, at + 4) as usize;
            let (ksize, vsize) = (
                u32_at(page, at + 8) as usize,
                u32_at(page, at + 12) as usize,
            );
            let k0 = at + pos;
            let Some(kv) = page.get(k0..k0 + ksize + vsize) else {
                return Err(self.format(format!(
                    "a leaf element's key and value ({} bytes at {k0}) run past its page ({} bytes)",
                    ksize + vsize,
                    page.len()
                )));
            };
            if !f(flags, &kv[..ksize], &kv[ksize..])? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn elements_fit(&self, page: &[u8], count: usize) -> Result<(), BoltError> {
        if HEADER + count * ELEMENT > page.len() {
            return Err(self.format(format!(
                "a page says it holds {count} elements, more than its {} bytes can",
                page.len()
            )));
        }
        Ok(())
    }
}

struct Meta {
    page_size: u64,
    root: u64,
    high_water: u64,
    txid: u64,
}

/// The meta page at the start of `page`, if its magic, version and checksum hold.
fn meta(page: &[u8]) -> Option<Meta> {
    let m = page.get(HEADER..HEADER + 64)?;
    if u16_at(page, 8) & META == 0 || u32_at(m, 0) != MAGIC || u32_at(m, 4) != 2 {
        return None;
    }
    if fnv1a64(&m[..56]) != u64_at(m, 56) {
        return None;
    }
    let page_size = u32_at(m, 8) as u64;
    if !(512..=1 << 20).contains(&page_size) {
        return None;
    }
    Some(Meta {
        page_size,
        root: u64_at(m, 16),
        high_water: u64_at(m, 40),
        txid: u64_at(m, 48),
    })
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}
