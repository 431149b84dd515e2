//! corrupt: while the member is stopped, damage its data through the Docker archive API (so it
//! works with the `FROM scratch` image): flip bytes in bbolt's member/snap/db, garble the tail of
//! the newest WAL file, or give it an empty data dir. Then start it and record what etcd did.
//! Recovery is the operator's: remove the member, add it back with an empty data dir, and let it
//! re-sync from the leader.

use super::{container_of, kill, poll, Active, FaultError};
use crate::cluster::{connect, peer_url, reconfigure, within, Cluster, DATA_DIR};
use crate::plan::Corrupt;
use crate::sandbox::ContainerState;
use crate::scenario::{CorruptWhat, Recover};
use std::io::Read;
use std::time::Duration;

/// Where `garble_db` flips bytes in a db of `len` bytes: both bbolt meta pages, and 14 spots
/// across the data pages.
fn db_spots(len: u64) -> Vec<u64> {
    let mut spots = vec![16, 4096 + 16];
    spots.extend((1..15).map(|k| 8192 + len.saturating_sub(8192) * k / 15));
    spots
}

/// Flips 64-byte runs in both bbolt meta pages and across the data pages: what
/// `garble_db_file` does to a file, in memory (the tests' reference).
#[cfg(test)]
fn garble_db(db: &mut [u8]) {
    for s in db_spots(db.len() as u64) {
        for b in db.iter_mut().skip(s as usize).take(64) {
            *b ^= 0xA5;
        }
    }
}

/// `garble_db` on a file, in place: a member's db of several GB is never read whole.
fn garble_db_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = f.metadata()?.len();
    for s in db_spots(len).into_iter().filter(|s| *s < len) {
        let mut run = vec![0u8; 64.min(len - s) as usize];
        f.seek(SeekFrom::Start(s))?;
        f.read_exact(&mut run)?;
        run.iter_mut().for_each(|b| *b ^= 0xA5);
        f.seek(SeekFrom::Start(s))?;
        f.write_all(&run)?;
    }
    f.sync_all()
}

/// Garbles the last 512 written bytes of a WAL file in place (the file is preallocated with
/// zeros, up to 64 MB): read backwards a MiB at a time to its last written byte. False when it
/// holds nothing.
pub fn garble_wal_file(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut pos = f.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    let end = loop {
        if pos == 0 {
            return Ok(false);
        }
        let n = pos.min(buf.len() as u64) as usize;
        pos -= n as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b != 0) {
            break pos + i as u64;
        }
    };
    let start = end.saturating_sub(511);
    let mut run = vec![0u8; (end - start + 1) as usize];
    f.seek(SeekFrom::Start(start))?;
    f.read_exact(&mut run)?;
    run.iter_mut().for_each(|b| *b ^= 0x5A);
    f.seek(SeekFrom::Start(start))?;
    f.write_all(&run)?;
    f.sync_all()?;
    Ok(true)
}

/// `garble_wal_file` in memory, to check it against.
#[cfg(test)]
pub fn garble_wal(wal: &mut [u8]) -> bool {
    let Some(end) = wal.iter().rposition(|b| *b != 0) else {
        return false;
    };
    let start = end.saturating_sub(511);
    for b in &mut wal[start..=end] {
        *b ^= 0x5A;
    }
    true
}

/// How long the db's download may stall.
const STALL: Duration = Duration::from_secs(60);

#[cfg(test)]
fn sha(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(b)[..8])
}

pub async fn inject(
    cluster: &mut Cluster,
    active: &mut Active,
    opts: &Corrupt,
) -> Result<(), FaultError> {
    let (what, observe) = (opts.what, opts.observe);
    let m = active
        .members
        .first()
        .cloned()
        .ok_or_else(|| FaultError::Target("no member to corrupt".into()))?;
    kill::stop_all(cluster, active, Duration::from_secs(20)).await?;
    let rt = cluster.sandbox.runtime.clone();
    let c = container_of(cluster, &m)?;
    let bad = |why: String| FaultError::Corrupt {
        member: m.clone(),
        why,
    };
    match what {
        CorruptWhat::Db => {
            // Through a file on this machine: at production size the db is several GB.
            let db = format!("{DATA_DIR}/member/snap/db");
            let scratch = tempfile::NamedTempFile::new().map_err(|e| bad(e.to_string()))?;
            let stream = rt.download_stream(&c, &db);
            let read = crate::sandbox::read_file(stream, &m, scratch.path(), STALL).await;
            let (size, before) = read.map_err(|e| bad(format!("member/snap/db: {e}")))?;
            let path = scratch.path().to_path_buf();
            let after = tokio::task::spawn_blocking(move || {
                garble_db_file(&path)?;
                crate::util::sha256_file(&path)
            })
            .await
            .map_err(|e| bad(e.to_string()))?
            .map_err(|e| bad(e.to_string()))?;
            rt.upload_file(&c, scratch.path(), &db, 0o600).await?;
            active.proof.push(format!(
                "{m}: member/snap/db ({size} bytes) sha256 {}… → {}…",
                &before[..16],
                &after[..16]
            ));
        }
        CorruptWhat::Wal => {
            // The newest segment, through a file too: the directory holds up to `max-wals`
            // segments of 64 MB, and only that one is kept.
            let dir = format!("{DATA_DIR}/member/wal");
            let scratch = tempfile::NamedTempFile::new().map_err(|e| bad(e.to_string()))?;
            let stream = rt.download_stream(&c, &dir);
            let is_wal = |n: &str| n.ends_with(".wal");
            let read = crate::sandbox::read_last_file(stream, &m, scratch.path(), STALL, is_wal);
            let (name, size, before) = read.await.map_err(|e| bad(format!("member/wal: {e}")))?;
            let path = scratch.path().to_path_buf();
            let garbled = tokio::task::spawn_blocking(move || {
                Ok::<_, std::io::Error>((garble_wal_file(&path)?, crate::util::sha256_file(&path)?))
            })
            .await
            .map_err(|e| bad(e.to_string()))?
            .map_err(|e| bad(e.to_string()))?;
            let (true, after) = garbled else {
                return Err(bad(format!("{name} holds no record to garble")));
            };
            let base = name.rsplit('/').next().unwrap_or(&name).to_string();
            let to = format!("{dir}/{base}");
            rt.upload_file(&c, scratch.path(), &to, 0o600).await?;
            active.proof.push(format!(
                "{m}: {base} ({size} bytes) sha256 {}… → {}…",
                &before[..16],
                &after[..16]
            ));
        }
        CorruptWhat::Wipe => {
            let old = cluster
                .members
                .iter()
                .find(|x| x.name == m)
                .map(|x| x.volume.clone())
                .unwrap_or_default();
            let volume =
                fresh_member(cluster, &m, &format!("{}-wiped", active.plan.name), false).await?;
            active.proof.push(format!(
                "{m}: data volume {old} replaced by the empty {volume}"
            ));
        }
    }
    if what != CorruptWhat::Wipe {
        rt.start(&c).await?;
    }
    active.reaction = Some(observe_reaction(cluster, &m, observe).await?);
    Ok(())
}

/// Watches the started member for `observe`: did it crash, or come up?
async fn observe_reaction(
    cluster: &mut Cluster,
    m: &str,
    observe: Duration,
) -> Result<String, FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    let c = container_of(cluster, m)?;
    let exited = poll(observe, || async {
        match rt.state(&c).await {
            Ok(ContainerState::Exited(code)) => Some(code),
            _ => None,
        }
    })
    .await;
    let tail = last_words(&rt.log_tail(&c, 20).await.unwrap_or_default());
    if let Some(code) = exited {
        return Ok(format!(
            "etcd refused to start or crashed (exit {code}): {tail}"
        ));
    }
    cluster.refresh_ports().await?;
    let ep = cluster
        .members
        .iter()
        .find(|x| x.name == m)
        .map(|x| x.endpoint())
        .unwrap_or_default();
    let mut client = connect(std::slice::from_ref(&ep)).await?;
    Ok(
        match within("status", m, Duration::from_secs(2), client.status()).await {
            Ok(s) => format!(
                "etcd came up and kept running for {observe:?} (raft index {}, leader {:x})",
                s.raft_index(),
                s.leader()
            ),
            Err(e) => format!(
                "etcd kept running for {observe:?} but does not answer: {e}; its log: {tail}"
            ),
        },
    )
}

/// The gist of etcd's last words: the message and error of its last fatal or panic log line
/// (zap JSON), or else its last line, cut to 300 characters.
pub fn last_words(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let fatal = lines.iter().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let level = v.get("level")?.as_str()?;
        matches!(level, "fatal" | "panic" | "error").then(|| {
            let msg = v.get("msg").and_then(|m| m.as_str()).unwrap_or("");
            match v.get("error").and_then(|e| e.as_str()) {
                Some(err) => format!("{level}: {msg}: {err}"),
                None => format!("{level}: {msg}"),
            }
        })
    });
    let text = fatal.unwrap_or_else(|| lines.last().map(|l| l.to_string()).unwrap_or_default());
    text.chars().take(300).collect()
}

/// Replaces a member's container with a new one on a new, empty volume. `existing`: start it
/// as a member joining an existing cluster (after `member add`).
async fn fresh_member(
    cluster: &mut Cluster,
    m: &str,
    tag: &str,
    existing: bool,
) -> Result<String, FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    let idx = cluster
        .members
        .iter()
        .position(|x| x.name == m)
        .ok_or_else(|| FaultError::Target(format!("no member named {m}")))?;
    let old = cluster.members[idx].clone();
    rt.remove_container(&old.container).await?;
    rt.remove_volume(&old.volume).await?;
    let volume = cluster.sandbox.name(&format!("{m}-data-{tag}"));
    rt.create_volume(&volume, &cluster.sandbox.labels("data"))
        .await?;
    let mut spec = cluster.container_spec(m, &volume);
    if existing {
        for arg in &mut spec.cmd {
            if arg == "--initial-cluster-state=new" {
                *arg = "--initial-cluster-state=existing".into();
            }
        }
    }
    cluster.launch(&spec).await?;
    cluster.members[idx].volume = volume.clone();
    cluster.members[idx].container = spec.name;
    cluster.refresh_ports().await?;
    Ok(volume)
}

/// Remove the member, add it back, start it on an empty data dir: it re-syncs from the leader.
pub async fn heal(
    cluster: &mut Cluster,
    active: &mut Active,
    opts: &Corrupt,
) -> Result<(), FaultError> {
    let recover = opts.recover;
    if recover == Recover::None {
        active.proof.push("left as it is (recover: none)".into());
        return Ok(());
    }
    let m = active.members.first().cloned().unwrap_or_default();
    let line = re_add(cluster, &m, &active.plan.name).await?;
    active.proof.push(line);
    Ok(())
}

/// The operator's recovery of one member: remove it from the cluster, add it back, start it on
/// an empty data dir so it re-syncs from the leader. Returns a proof line.
pub async fn re_add(cluster: &mut Cluster, m: &str, tag: &str) -> Result<String, FaultError> {
    let m = m.to_string();
    let others: Vec<String> = cluster
        .members
        .iter()
        .filter(|x| x.name != m)
        .map(|x| x.endpoint())
        .collect();
    let mut client = connect(&others).await?;
    let url = peer_url(&m, cluster.plan.tls);
    let list = within(
        "member list",
        "the cluster",
        Duration::from_secs(5),
        client.member_list(),
    )
    .await?;
    let id = list
        .members()
        .iter()
        .find(|x| x.peer_urls().contains(&url))
        .map(|x| x.id())
        .ok_or_else(|| FaultError::Corrupt {
            member: m.clone(),
            why: "it is not in the member list".into(),
        })?;
    // Each change may be refused for a while ("unhealthy cluster") right after a start or a
    // member loss; `reconfigure` retries within its deadline.
    let wait = Duration::from_secs(30);
    reconfigure("member remove", &m, wait, || {
        let mut c = client.clone();
        async move { c.member_remove(id).await }
    })
    .await?;
    reconfigure("member add", &m, wait, || {
        let (mut c, url) = (client.clone(), url.clone());
        async move { c.member_add([url.as_str()], None).await }
    })
    .await?;
    let volume = fresh_member(cluster, &m, tag, true).await?;
    Ok(format!(
        "{m}: removed (id {id:x}), re-added and started on the empty volume {volume}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_garbling_hits_both_meta_pages_and_changes_the_checksum() {
        let mut db = vec![0u8; 64 * 1024];
        let before = sha(&db);
        garble_db(&mut db);
        assert_ne!(sha(&db), before);
        assert_eq!(db[16], 0xA5);
        assert_eq!(db[4096 + 16], 0xA5);
    }

    #[test]
    fn a_db_garbled_in_its_file_is_garbled_as_in_memory() {
        let db: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut in_memory = db.clone();
        garble_db(&mut in_memory);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, &db).unwrap();
        garble_db_file(&path).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_ne!(on_disk, db);
        assert_eq!(on_disk, in_memory);
        // A db shorter than the second meta page: only what is there.
        std::fs::write(&path, [7u8; 100]).unwrap();
        garble_db_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap()[16], 7 ^ 0xA5);
    }

    #[test]
    fn last_words_pick_the_fatal_line() {
        let log = r#"{"level":"info","msg":"closing etcd server"}
{"level":"fatal","ts":"x","msg":"discovery failed","error":"walpb: crc mismatch","stacktrace":"..."}"#;
        assert_eq!(
            last_words(log),
            "fatal: discovery failed: walpb: crc mismatch"
        );
        assert_eq!(last_words("plain text\nlast line"), "last line");
    }

    #[test]
    fn wal_garbling_touches_the_last_records_only() {
        let mut wal = vec![0u8; 10_000];
        for b in &mut wal[..3000] {
            *b = 1;
        }
        assert!(garble_wal(&mut wal));
        assert_eq!(wal[2999], 1 ^ 0x5A);
        assert_eq!(wal[2000], 1);
        assert_eq!(wal[3000], 0);
        assert!(!garble_wal(&mut [0u8; 16]));
    }

    /// On a file as in memory: written bytes ending just past a MiB boundary, and right at the
    /// start (a garbled run shorter than 512 bytes); a file of zeros is left alone.
    #[test]
    fn a_wal_garbled_in_its_file_is_garbled_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.wal");
        for written in [(1 << 20) + 100, 300, 3 << 20] {
            let mut wal = vec![0u8; 4 << 20];
            for (i, b) in wal[..written].iter_mut().enumerate() {
                *b = (i % 250) as u8 + 1;
            }
            std::fs::write(&path, &wal).unwrap();
            assert!(garble_wal_file(&path).unwrap());
            assert!(garble_wal(&mut wal));
            assert_eq!(std::fs::read(&path).unwrap(), wal, "{written}");
        }
        std::fs::write(&path, vec![0u8; 3 << 20]).unwrap();
        assert!(!garble_wal_file(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; 3 << 20]);
    }
}
