//! Backups a store already holds, whoever took them: etcd-drill's own schedule (fulls, delta
//! chains, `.age`), plain `etcdctl snapshot save` files under any name, and k3s/rke2's
//! `etcd-snapshot-<node>-<unix time>`, each plain or compressed (`.gz`, `.zst`, `.zip`).
//!
//! A listing becomes a catalogue ordered by when each backup was taken (the time in its name,
//! else the store's time); a choice (the newest, a name, a point in time) becomes candidates: a
//! full and the deltas after it, newest first. Fetching streams each through decryption and
//! decompression to a plain file on disk and checks it (the snapshot's SHA-256 trailer, a
//! delta's header and continuity) before any member starts.

use super::delta;
use super::store::{Object, Store};
use super::BackupError;
use crate::record::{Refusal, StoredBackup};
use crate::scenario::StoreChoice;
use crate::snapshot_file::TrailerCheck;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How a stored object is packed around the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packing {
    Plain,
    Gzip,
    Zstd,
    /// A zip archive of one file (k3s's `--etcd-snapshot-compress`).
    Zip,
}

/// Whose naming an object follows, which says where its time (and revision) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `etcd-<UTC time>-r<revision>.db` / `.delta`: etcd-drill's own schedule.
    EtcdDrill,
    /// `<name>-<node>-<unix time>`: k3s and rke2.
    K3s,
    /// Another name with a date and time in it.
    TimeInName,
    /// A name without a time: the store's modification time.
    ObjectTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub delta: bool,
    pub encrypted: bool,
    pub packing: Packing,
    pub layout: Layout,
    /// When it was taken (ms since the Unix epoch).
    pub taken_ms: u64,
    /// The revision its name gives (etcd-drill's layout; a delta's last).
    pub revision: Option<i64>,
}

impl Entry {
    /// The plain file's name once decrypted and unpacked.
    fn plain_name(&self) -> String {
        let mut n = self
            .name
            .rsplit('/')
            .next()
            .unwrap_or(&self.name)
            .to_string();
        if self.encrypted {
            n = n.trim_end_matches(".age").to_string();
        }
        for ext in [".gz", ".gzip", ".zst", ".zstd", ".zip"] {
            if let Some(s) = n.strip_suffix(ext) {
                n = s.to_string();
            }
        }
        n
    }
}

/// What a store holds, oldest first, and what it holds that is no backup (and why).
#[derive(Debug, Default)]
pub struct Catalogue {
    pub entries: Vec<Entry>,
    pub ignored: Vec<Refusal>,
}

/// Objects that sit beside backups and are none.
const NOT_SNAPSHOTS: &[&str] = &[
    ".sha256", ".sha512", ".md5", ".json", ".txt", ".md", ".log", ".yaml", ".yml", ".minisig",
    ".sig", ".asc", ".tmp", ".part", ".html", ".xml", ".csv", ".pem", ".key", ".crt",
];

pub fn catalogue(objects: &[Object]) -> Catalogue {
    let mut out = Catalogue::default();
    for o in objects {
        match classify(o) {
            Ok(e) => out.entries.push(e),
            Err(reason) => out.ignored.push(Refusal {
                name: o.name.clone(),
                reason,
            }),
        }
    }
    out.entries
        .sort_by(|a, b| (a.taken_ms, &a.name).cmp(&(b.taken_ms, &b.name)));
    out
}

fn classify(o: &Object) -> Result<Entry, String> {
    let parts: Vec<&str> = o.name.split('/').collect();
    if parts.iter().any(|p| p.starts_with('.')) {
        return Err("a hidden file or folder, not a backup".into());
    }
    if o.size == 0 {
        return Err("empty (0 bytes)".into());
    }
    let base = parts.last().copied().unwrap_or_default();
    let encrypted = base.ends_with(".age");
    let mut stem = base.trim_end_matches(".age");
    let mut packing = Packing::Plain;
    for (ext, p) in [
        (".gz", Packing::Gzip),
        (".gzip", Packing::Gzip),
        (".zst", Packing::Zstd),
        (".zstd", Packing::Zstd),
        (".zip", Packing::Zip),
    ] {
        if let Some(s) = stem.strip_suffix(ext) {
            (stem, packing) = (s, p);
        }
    }
    if let Some(ext) = NOT_SNAPSHOTS.iter().find(|e| stem.ends_with(*e)) {
        return Err(format!("not a snapshot: a {ext} file"));
    }
    let delta = stem.ends_with(".delta");
    let (layout, taken_ms, revision) = match own_name(stem) {
        Some((t, r)) => (Layout::EtcdDrill, t, Some(r)),
        None if delta => {
            return Err(
                "a delta not named as etcd-drill names them (etcd-<time>-r<revision>.delta)".into(),
            )
        }
        None => match (unix_suffix(stem), time_in(stem)) {
            (Some(t), _) => (Layout::K3s, t, None),
            (None, Some(t)) => (Layout::TimeInName, t, None),
            (None, None) => (Layout::ObjectTime, o.modified_ms, None),
        },
    };
    Ok(Entry {
        name: o.name.clone(),
        size: o.size,
        delta,
        encrypted,
        packing,
        layout,
        taken_ms,
        revision,
    })
}

/// `etcd-20261124T224018.123Z-r0000000089.db` (or `.delta`): its time and revision.
fn own_name(stem: &str) -> Option<(u64, i64)> {
    let rest = stem.strip_prefix("etcd-")?;
    let rest = rest
        .strip_suffix(".db")
        .or_else(|| rest.strip_suffix(".delta"))?;
    let (time, rev) = rest.rsplit_once("-r")?;
    let revision: i64 = rev.parse().ok().filter(|_| rev.len() >= 10)?;
    let t = chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%S%.3fZ").ok()?;
    Some((t.and_utc().timestamp_millis().max(0) as u64, revision))
}

/// k3s's `etcd-snapshot-<node>-1733565600` (10 digits after the last `-`).
fn unix_suffix(stem: &str) -> Option<u64> {
    let stem = stem.strip_suffix(".db").unwrap_or(stem);
    let (_, digits) = stem.rsplit_once('-')?;
    let secs: u64 = digits.parse().ok().filter(|_| digits.len() == 10)?;
    (978_307_200..=9_999_999_999)
        .contains(&secs)
        .then_some(secs * 1000)
}

/// A UTC date and time written in a name: `20261207T013000`, `2026-12-07T01:30:00`,
/// `2026-12-07_01-30-00`, `20261207-013000`, `20261207013000`.
fn time_in(stem: &str) -> Option<u64> {
    const FORMATS: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H-%M-%S",
        "%Y-%m-%d_%H-%M-%S",
        "%Y-%m-%d-%H-%M-%S",
        "%Y-%m-%d_%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H%M%S",
        "%Y%m%dT%H%M%S",
        "%Y%m%d-%H%M%S",
        "%Y%m%d_%H%M%S",
        "%Y%m%d%H%M%S",
    ];
    let b = stem.as_bytes();
    for start in
        (0..b.len()).filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
    {
        for f in FORMATS {
            // Each format's text is as long as the format with `%Y` 4 wide and the rest 2.
            let len = f.len() + 2;
            let Some(text) = stem.get(start..start + len) else {
                continue;
            };
            if b.get(start + len).is_some_and(u8::is_ascii_digit) {
                continue;
            }
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, f) {
                let ms = t.and_utc().timestamp_millis();
                if (946_684_800_000..4_102_444_800_000).contains(&ms) {
                    return Some(ms as u64);
                }
            }
        }
    }
    None
}

/// One way to restore a choice: a full, the deltas to replay after it, and the revision the
/// replay stops at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub full: Entry,
    pub deltas: Vec<Entry>,
    pub until: Option<i64>,
}

/// The deltas after etcd-drill's full at `i` in catalogue order, until its next full: a file
/// of another layout between them (a manual snapshot beside the schedule) neither takes the
/// chain nor cuts it. A full of another layout has no deltas.
fn deltas_of(entries: &[Entry], i: usize) -> Vec<Entry> {
    if entries[i].layout != Layout::EtcdDrill {
        return Vec::new();
    }
    entries[i + 1..]
        .iter()
        .filter(|e| e.layout == Layout::EtcdDrill)
        .take_while(|e| e.delta)
        .cloned()
        .collect()
}

/// The candidates for `choice`, the preferred first, then older fulls (a fallback).
pub fn candidates(cat: &Catalogue, choice: &StoreChoice) -> Result<Vec<Candidate>, String> {
    let e = &cat.entries;
    let fulls: Vec<usize> = (0..e.len()).rev().filter(|&i| !e[i].delta).collect();
    if fulls.is_empty() {
        return Err(match (e.len(), cat.ignored.len()) {
            (0, 0) => "the store holds no object".into(),
            (0, n) => format!("the store holds no backup ({n} other object(s), below)"),
            (n, _) => format!("the store holds {n} delta(s) and no full backup they extend"),
        });
    }
    let whole = |i: usize| Candidate {
        full: e[i].clone(),
        deltas: deltas_of(e, i),
        until: None,
    };
    let full_only = |i: usize| Candidate {
        full: e[i].clone(),
        deltas: Vec::new(),
        until: None,
    };
    let from = |first: usize, make: &dyn Fn(usize) -> Candidate| -> Vec<Candidate> {
        fulls
            .iter()
            .filter(|&&i| i <= first)
            .map(|&i| make(i))
            .collect()
    };
    match choice {
        StoreChoice::Newest => {
            // The newest backup: a delta stands for its chain, whose full may be older than
            // another full taken meanwhile.
            let last = e.len() - 1;
            let first = match e[last].delta {
                false => last,
                true => (0..last)
                    .rev()
                    .find(|&i| !e[i].delta && e[i].layout == Layout::EtcdDrill)
                    .unwrap_or(fulls[0]),
            };
            let mut out = vec![whole(first)];
            out.extend(fulls.iter().filter(|&&i| i != first).map(|&i| whole(i)));
            Ok(out)
        }
        StoreChoice::NewestFull => Ok(from(fulls[0], &full_only)),
        StoreChoice::Named(n) => {
            let at = e.iter().position(|x| &x.name == n).ok_or_else(|| {
                format!(
                    "the store holds no backup named {n:?} ({} backups)",
                    e.len()
                )
            })?;
            let full = (0..=at)
                .rev()
                .find(|&i| !e[i].delta)
                .ok_or_else(|| format!("{n} is a delta with no full before it in the store"))?;
            let mut first = whole(full);
            first
                .deltas
                .retain(|d| d.taken_ms <= e[at].taken_ms && d.name <= *n);
            let mut out = vec![first];
            out.extend(from(full, &whole).into_iter().skip(1));
            Ok(out)
        }
        StoreChoice::AtRevision(n) => at_revision(e, &fulls, *n),
        StoreChoice::AtTime(t) => {
            let oldest = &e[*fulls.last().unwrap_or(&0)];
            let firsts: Vec<usize> = fulls
                .iter()
                .copied()
                .filter(|&i| e[i].taken_ms <= *t)
                .collect();
            if firsts.is_empty() {
                return Err(format!(
                    "{} is before the oldest full backup ({}, taken {})",
                    crate::util::utc_ms(*t),
                    oldest.name,
                    crate::util::utc_ms(oldest.taken_ms)
                ));
            }
            Ok(firsts
                .into_iter()
                .map(|i| {
                    let mut c = whole(i);
                    c.deltas.retain(|d| d.taken_ms <= *t);
                    c
                })
                .collect())
        }
    }
}

/// The newest full at or below revision `n`, and the deltas that reach it.
fn at_revision(e: &[Entry], fulls: &[usize], n: i64) -> Result<Vec<Candidate>, String> {
    let with_rev: Vec<usize> = fulls
        .iter()
        .copied()
        .filter(|&i| e[i].revision.is_some())
        .collect();
    let Some(&oldest) = with_rev.last() else {
        return Err("a point in time by revision needs backups whose names give their revision (etcd-drill's `etcd-<time>-r<revision>.db`); use --at TIME".into());
    };
    let firsts: Vec<usize> = with_rev
        .iter()
        .copied()
        .filter(|&i| e[i].revision.is_some_and(|r| r <= n))
        .collect();
    if firsts.is_empty() {
        return Err(format!(
            "revision {n} is before the oldest full backup ({}, revision {})",
            e[oldest].name,
            e[oldest].revision.unwrap_or_default()
        ));
    }
    let reach = |i: usize| {
        let all = deltas_of(e, i);
        let upto = match e[i].revision {
            Some(r) if r >= n => Some(0),
            _ => all
                .iter()
                .position(|d| d.revision.is_some_and(|r| r >= n))
                .map(|p| p + 1),
        };
        let end = all.last().and_then(|d| d.revision).or(e[i].revision);
        (all, upto, end)
    };
    let (_, upto, end) = reach(firsts[0]);
    if upto.is_none() && end.is_some_and(|r| r < n) && e[firsts[0]].revision != Some(n) {
        return Err(format!(
            "revision {n} is after the newest backup that reaches it ({} ends at revision {})",
            e[firsts[0]].name,
            end.unwrap_or_default()
        ));
    }
    Ok(firsts
        .into_iter()
        .map(|i| {
            let (mut deltas, upto, _) = reach(i);
            // An older full (a fallback) whose chain ends before `n` replays all of it: as
            // close to the point as it gets, and the report says where it stopped.
            let all = deltas.len();
            deltas.truncate(upto.unwrap_or(all));
            Candidate {
                full: e[i].clone(),
                deltas,
                until: Some(n),
            }
        })
        .collect())
}

/// A choice fetched: the plain full, the checked deltas, and what was refused or cut.
#[derive(Debug)]
pub struct Fetched {
    pub full: Entry,
    pub file: PathBuf,
    /// The plain snapshot's size and SHA-256, its trailer checked.
    pub digest: (u64, String),
    pub deltas: Vec<(Entry, PathBuf, delta::Header)>,
    pub until: Option<i64>,
    /// Why the chain was not usable to its end.
    pub stopped: Option<String>,
    pub not_replayed: Vec<String>,
    pub refused: Vec<Refusal>,
}

/// Fetches the first candidate that checks out (the first only, without `fallback`).
pub async fn fetch(
    store: &Store,
    candidates: &[Candidate],
    fallback: bool,
    dir: &Path,
    identity: Option<&Path>,
) -> Result<Fetched, BackupError> {
    std::fs::create_dir_all(dir).map_err(|source| super::store::StoreError::Io {
        path: dir.into(),
        source,
    })?;
    let mut refused = Vec::new();
    for c in candidates {
        match fetch_full(store, &c.full, dir, identity).await {
            Ok((file, digest)) => {
                let (deltas, stopped) = fetch_chain(store, c, dir, identity).await;
                let not_replayed = c
                    .deltas
                    .iter()
                    .filter(|d| !deltas.iter().any(|(e, _, _)| e.name == d.name))
                    .map(|d| d.name.clone())
                    .collect();
                return Ok(Fetched {
                    full: c.full.clone(),
                    file,
                    digest,
                    deltas,
                    until: c.until,
                    stopped,
                    not_replayed,
                    refused,
                });
            }
            Err(reason) => {
                refused.push(Refusal {
                    name: c.full.name.clone(),
                    reason,
                });
                if !fallback {
                    break;
                }
            }
        }
    }
    Err(BackupError::AllRefused(refused))
}

/// A full downloaded, opened and unpacked to a plain snapshot whose trailer holds; its size
/// and SHA-256, taken on the way.
async fn fetch_full(
    store: &Store,
    e: &Entry,
    dir: &Path,
    identity: Option<&Path>,
) -> Result<(PathBuf, (u64, String)), String> {
    let (plain, check) = unpacked(store, e, dir, identity, true).await?;
    match check.map(|c| c.finish(&plain)) {
        Some(Ok(digest)) => Ok((plain, digest)),
        Some(Err(why)) => {
            let _ = std::fs::remove_file(&plain);
            Err(format!("not a usable etcd snapshot: {why}"))
        }
        None => Err("no trailer check".into()),
    }
}

/// The deltas of a candidate, in order, each checked (its header names this full, starts one
/// revision after the previous ended, and reads back whole); cut at the first that does not.
async fn fetch_chain(
    store: &Store,
    c: &Candidate,
    dir: &Path,
    identity: Option<&Path>,
) -> (Vec<(Entry, PathBuf, delta::Header)>, Option<String>) {
    let mut out = Vec::new();
    let mut next = c.full.revision.map(|r| r + 1);
    let full_plain = c.full.plain_name();
    for d in &c.deltas {
        let got = async {
            let (file, _) = unpacked(store, d, dir, identity, false).await?;
            let reader = delta::Reader::open(&file).map_err(|e| e.to_string())?;
            let h = reader.header.clone();
            if h.base.trim_end_matches(".age") != full_plain {
                return Ok(None);
            }
            if next.is_some_and(|n| n != h.first) {
                return Err(format!(
                    "gap: revisions {}..{} are in no delta ({} starts at {})",
                    next.unwrap_or_default(),
                    h.first - 1,
                    d.name,
                    h.first
                ));
            }
            reader.check().map_err(|e| e.to_string())?;
            Ok(Some((file, h)))
        }
        .await;
        match got {
            Ok(Some((file, h))) => {
                next = Some(h.last + 1);
                out.push((d.clone(), file, h));
            }
            // Another full's delta (two schedules in one prefix): not this chain's.
            Ok(None) => {}
            Err(why) => return (out, Some(format!("{}: {why}", d.name))),
        }
    }
    (out, None)
}

/// An object downloaded into `dir`, decrypted and unpacked into a plain file there, with
/// etcd's trailer check fed on the way when `snapshot`. A plain object is downloaded straight
/// to its place; otherwise the download and every stage between are removed.
async fn unpacked(
    store: &Store,
    e: &Entry,
    dir: &Path,
    identity: Option<&Path>,
    snapshot: bool,
) -> Result<(PathBuf, Option<TrailerCheck>), String> {
    let plain = dir.join(e.plain_name());
    let mut check = snapshot.then(TrailerCheck::default);
    if e.packing == Packing::Plain && !e.encrypted {
        let mut tap = |chunk: &[u8]| {
            if let Some(c) = check.as_mut() {
                c.update(chunk);
            }
        };
        return match store.download_tapped(&e.name, &plain, &mut tap).await {
            Ok(_) => Ok((plain, check)),
            Err(err) => {
                let _ = std::fs::remove_file(&plain);
                Err(err.to_string())
            }
        };
    }
    if e.encrypted && identity.is_none() {
        return Err("encrypted, and no identity to decrypt it (--identity)".into());
    }
    let download = dir.join(format!("{}.download", e.plain_name()));
    if let Err(err) = store.download(&e.name, &download).await {
        let _ = std::fs::remove_file(&download);
        return Err(err.to_string());
    }
    let (encrypted, packing) = (e.encrypted, e.packing);
    let (from, to, id) = (
        download.clone(),
        plain.clone(),
        identity.map(Path::to_path_buf),
    );
    let work = move || {
        let mut tee = Tee {
            out: std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&to).map_err(|e| format!("{}: {e}", to.display()))?,
            ),
            check,
        };
        unpack(&from, &mut tee, encrypted, packing, id.as_deref())?;
        Ok::<_, String>(tee.check)
    };
    let res = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let _ = std::fs::remove_file(&download);
    if res.is_err() {
        let _ = std::fs::remove_file(&plain);
    }
    res.map(|check| (plain, check))
}

/// A writer that feeds what it writes to a trailer check.
struct Tee<W> {
    out: W,
    check: Option<TrailerCheck>,
}

impl<W: std::io::Write> std::io::Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(c) = self.check.as_mut() {
            c.update(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Decrypts and decompresses `from` into `out` in one streaming pass (a zip, which needs to
/// seek, through a decrypted file beside `from` first).
fn unpack(
    from: &Path,
    out: &mut impl std::io::Write,
    encrypted: bool,
    packing: Packing,
    identity: Option<&Path>,
) -> Result<(), String> {
    use std::io::{BufReader, Read};
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut source: Box<dyn Read> = Box::new(BufReader::with_capacity(1 << 20, open(from)?));
    if encrypted {
        let ids =
            super::crypt::identities(identity.ok_or("no identity")?).map_err(|e| e.to_string())?;
        let decryptor = age::Decryptor::new_buffered(BufReader::new(source))
            .map_err(|e| format!("not an age file: {e}"))?;
        source = Box::new(
            decryptor
                .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .map_err(|e| format!("cannot decrypt: {e}"))?,
        );
    }
    let copied = match packing {
        Packing::Plain => std::io::copy(&mut source, out),
        Packing::Gzip => std::io::copy(&mut flate2::read::MultiGzDecoder::new(source), out),
        Packing::Zstd => zstd_frames(source, out),
        Packing::Zip => {
            let archive_path = from.with_extension("unzipping");
            let mut archive_file = std::fs::File::create(&archive_path)
                .map_err(|e| format!("{}: {e}", archive_path.display()))?;
            std::io::copy(&mut source, &mut archive_file).map_err(|e| e.to_string())?;
            let res = unzip_one(&archive_path, out);
            let _ = std::fs::remove_file(&archive_path);
            res
        }
    };
    copied.map_err(|e| format!("cannot unpack ({packing:?}): {e}"))?;
    out.flush().map_err(|e| e.to_string())
}

/// Every frame of a zstd stream, one after the other (pzstd and concatenated files hold
/// several; the decoder reads one).
fn zstd_frames(source: impl std::io::Read, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    use std::io::BufRead;
    let mut input = std::io::BufReader::with_capacity(1 << 20, source);
    let mut total = 0;
    while !input.fill_buf()?.is_empty() {
        let mut frame = ruzstd::decoding::StreamingDecoder::new(&mut input)
            .map_err(|e| std::io::Error::other(format!("not zstd: {e}")))?;
        total += std::io::copy(&mut frame, out)?;
    }
    Ok(total)
}

/// The one file of a zip archive (k3s zips a snapshot alone).
fn unzip_one(archive: &Path, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    let bad = |e: zip::result::ZipError| std::io::Error::other(e.to_string());
    let mut z = zip::ZipArchive::new(std::fs::File::open(archive)?).map_err(bad)?;
    let files: Vec<usize> = (0..z.len())
        .filter(|&i| z.by_index(i).map(|f| f.is_file()).unwrap_or(false))
        .collect();
    match files.as_slice() {
        [one] => std::io::copy(&mut z.by_index(*one).map_err(bad)?, out),
        other => Err(std::io::Error::other(format!(
            "a zip of {} files; expected one snapshot",
            other.len()
        ))),
    }
}

/// What the report says of the store and the backup taken from it.
pub fn describe(
    store: &Store,
    cat: &Catalogue,
    fetched: Option<&Fetched>,
    now_ms: u64,
) -> StoredBackup {
    let newest = cat.entries.last();
    let picked = fetched.map(|f| &f.full);
    StoredBackup {
        store: store.spec.describe(),
        listed_at: crate::util::utc_ms(now_ms),
        backups: cat.entries.len() as u64,
        fulls: cat.entries.iter().filter(|e| !e.delta).count() as u64,
        newest: newest.map(|e| e.name.clone()),
        newest_taken_at: newest.map(|e| crate::util::utc_ms(e.taken_ms)),
        newest_age_ms: newest.map(|e| now_ms.saturating_sub(e.taken_ms)),
        picked: picked.map(|e| e.name.clone()),
        picked_taken_at: picked.map(|e| crate::util::utc_ms(e.taken_ms)),
        picked_age_ms: picked.map(|e| now_ms.saturating_sub(e.taken_ms)),
        picked_size_bytes: picked.map(|e| e.size),
        layout: picked.map(|e| serde_plain(&e.layout)),
        packing: picked.map(|e| {
            let p = serde_plain(&e.packing);
            if e.encrypted {
                format!("{p}, age-encrypted")
            } else {
                p
            }
        }),
        time_from: picked.map(|e| {
            match e.layout {
                Layout::ObjectTime => "the store's modification time",
                _ => "its name",
            }
            .to_string()
        }),
        until_revision: fetched.and_then(|f| f.until),
        chain_stopped: None,
        fallback_cost: fetched.filter(|f| !f.refused.is_empty()).map(|f| {
            let wanted = cat.entries.iter().find(|e| e.name == f.refused[0].name);
            let older = wanted.map_or(0, |w| w.taken_ms.saturating_sub(f.full.taken_ms));
            format!(
                "{} refused; the backup restored was taken {} before {}",
                f.refused.len(),
                crate::util::age_text(older),
                f.refused[0].name
            )
        }),
        ignored: cat.ignored.clone(),
    }
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> Object {
        Object {
            name: name.into(),
            size: 100,
            modified_ms: 1_700_000_000_000,
        }
    }

    fn cat(names: &[&str]) -> Catalogue {
        catalogue(&names.iter().map(|n| obj(n)).collect::<Vec<_>>())
    }

    #[test]
    fn names_say_layout_time_revision_and_packing() {
        let c = cat(&[
            "etcd-20261124T224018.123Z-r0000000089.db.age",
            "etcd-snapshot-server-1-1733565600.zip",
            "nightly/backup-2026-12-01_02-00-00.db.gz",
            "snap.db.zst",
            "notes.txt",
            ".metadata/etcd-snapshot-server-1-1733565600",
            "etcd-20261124T224020.000Z-r0000000120.delta",
        ]);
        let by = |n: &str| c.entries.iter().find(|e| e.name == n).unwrap().clone();
        let own = by("etcd-20261124T224018.123Z-r0000000089.db.age");
        assert_eq!(
            (own.layout, own.revision, own.encrypted, own.packing),
            (Layout::EtcdDrill, Some(89), true, Packing::Plain)
        );
        assert_eq!(own.taken_ms, 1_795_560_018_123);
        let k3s = by("etcd-snapshot-server-1-1733565600.zip");
        assert_eq!(
            (k3s.layout, k3s.packing, k3s.taken_ms),
            (Layout::K3s, Packing::Zip, 1_733_565_600_000)
        );
        let named = by("nightly/backup-2026-12-01_02-00-00.db.gz");
        assert_eq!(
            (named.layout, named.packing),
            (Layout::TimeInName, Packing::Gzip)
        );
        assert_eq!(named.taken_ms, 1_796_090_400_000);
        let plain = by("snap.db.zst");
        assert_eq!(
            (plain.layout, plain.taken_ms),
            (Layout::ObjectTime, 1_700_000_000_000)
        );
        assert!(by("etcd-20261124T224020.000Z-r0000000120.delta").delta);
        let ignored: Vec<&str> = c.ignored.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            ignored,
            ["notes.txt", ".metadata/etcd-snapshot-server-1-1733565600"]
        );
        assert!(c.ignored[0].reason.contains(".txt"), "{:?}", c.ignored);
        // Oldest first: the object-time one (2023), k3s (2024), then 2026.
        assert_eq!(c.entries[0].name, "snap.db.zst");
    }

    fn own(names: &[(u32, i64, bool)]) -> Catalogue {
        let list: Vec<String> = names
            .iter()
            .map(|(s, r, delta)| {
                format!(
                    "etcd-20261207T1000{s:02}.000Z-r{r:010}.{}",
                    if *delta { "delta" } else { "db" }
                )
            })
            .collect();
        catalogue(&list.iter().map(|n| obj(n)).collect::<Vec<_>>())
    }

    #[test]
    fn choices_pick_a_full_and_its_chain() {
        // full@10, deltas to 20 and 30, full@35, delta to 40.
        let c = own(&[
            (1, 10, false),
            (2, 20, true),
            (3, 30, true),
            (4, 35, false),
            (5, 40, true),
        ]);
        let names = |cs: &[Candidate]| -> Vec<(i64, Vec<i64>, Option<i64>)> {
            cs.iter()
                .map(|c| {
                    (
                        c.full.revision.unwrap(),
                        c.deltas.iter().map(|d| d.revision.unwrap()).collect(),
                        c.until,
                    )
                })
                .collect()
        };
        let newest = candidates(&c, &StoreChoice::Newest).unwrap();
        assert_eq!(
            names(&newest),
            [(35, vec![40], None), (10, vec![20, 30], None)]
        );
        let full = candidates(&c, &StoreChoice::NewestFull).unwrap();
        assert_eq!(names(&full), [(35, vec![], None), (10, vec![], None)]);
        let mid = candidates(&c, &StoreChoice::AtRevision(25)).unwrap();
        assert_eq!(names(&mid), [(10, vec![20, 30], Some(25))]);
        let at_full = candidates(&c, &StoreChoice::AtRevision(35)).unwrap();
        assert_eq!(names(&at_full)[0], (35, vec![], Some(35)));
        let end = candidates(&c, &StoreChoice::AtRevision(20)).unwrap();
        assert_eq!(names(&end), [(10, vec![20], Some(20))]);
        let early = candidates(&c, &StoreChoice::AtRevision(5)).unwrap_err();
        assert!(early.contains("before the oldest full"), "{early}");
        let late = candidates(&c, &StoreChoice::AtRevision(41)).unwrap_err();
        assert!(late.contains("after the newest backup"), "{late}");
        let named = candidates(
            &c,
            &StoreChoice::Named("etcd-20261207T100002.000Z-r0000000020.delta".into()),
        )
        .unwrap();
        assert_eq!(names(&named), [(10, vec![20], None)]);
        let t = c.entries[2].taken_ms;
        let at = candidates(&c, &StoreChoice::AtTime(t)).unwrap();
        assert_eq!(names(&at), [(10, vec![20, 30], None)]);
        assert!(candidates(&c, &StoreChoice::AtTime(t - 10_000))
            .unwrap_err()
            .contains("before the oldest full"));
    }

    #[test]
    fn a_manual_snapshot_between_a_full_and_its_deltas_takes_no_chain() {
        let mut c = own(&[(1, 10, false), (3, 30, true)]);
        // Taken between the full and its delta, by hand.
        c.entries.insert(
            1,
            Entry {
                name: "pre-upgrade-2026-12-07T10:00:02.db".into(),
                size: 100,
                delta: false,
                encrypted: false,
                packing: Packing::Plain,
                layout: Layout::TimeInName,
                taken_ms: c.entries[0].taken_ms + 1000,
                revision: None,
            },
        );
        let got = candidates(&c, &StoreChoice::Newest).unwrap();
        // The newest backup is the delta: its full (etcd-drill's) and the chain.
        assert_eq!(got[0].full.revision, Some(10), "{got:?}");
        assert_eq!(got[0].deltas.len(), 1);
        let full = candidates(&c, &StoreChoice::NewestFull).unwrap();
        assert_eq!(full[0].full.name, "pre-upgrade-2026-12-07T10:00:02.db");
        assert!(full[0].deltas.is_empty());
    }

    #[test]
    fn an_empty_store_or_only_deltas_is_said() {
        assert_eq!(
            candidates(&cat(&[]), &StoreChoice::Newest).unwrap_err(),
            "the store holds no object"
        );
        let only = candidates(&cat(&["a.txt"]), &StoreChoice::Newest).unwrap_err();
        assert!(only.contains("no backup (1 other"), "{only}");
        let deltas = own(&[(2, 20, true)]);
        assert!(candidates(&deltas, &StoreChoice::Newest)
            .unwrap_err()
            .contains("no full"));
    }

    #[test]
    fn unpack_reads_gzip_zstd_and_zip() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let gz = dir.path().join("a.gz");
        let mut w =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        w.write_all(&body).unwrap();
        w.finish().unwrap();
        let zip = dir.path().join("a.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        z.start_file("snapshot", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&body).unwrap();
        z.finish().unwrap();
        // Two frames, as pzstd writes: both are read.
        let zst = dir.path().join("a.zst");
        let half = body.len() / 2;
        let frame = |b: &[u8]| {
            ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
        };
        std::fs::write(&zst, [frame(&body[..half]), frame(&body[half..])].concat()).unwrap();
        for (from, p) in [
            (&gz, Packing::Gzip),
            (&zip, Packing::Zip),
            (&zst, Packing::Zstd),
        ] {
            let mut out = Vec::new();
            unpack(from, &mut out, false, p, None).unwrap();
            assert_eq!(out, body, "{p:?}");
        }
        // A file that is not what its name says is refused, with the packing named.
        let bad = unpack(&gz, &mut Vec::new(), false, Packing::Zstd, None).unwrap_err();
        assert!(bad.contains("zstd"), "{bad}");
    }
}
