//! Disk faults under a member's data directory, through a FUSE filesystem of etcd-drill's own.
//!
//! Why FUSE, not syscall injection: a power cut must lose the writes etcd did not fsync, and
//! only a layer that sees every write and every fsync can know which those are (LazyFS's
//! model, which etcd's robustness tests and Jepsen run etcd on). The same layer holds fsyncs
//! (`slow-disk`), fails them or the writes with EIO (`disk-error`) and answers ENOSPC
//! (`disk-full`). It runs inside the member's container, so it works wherever the drills run,
//! the harness in a container with only the Docker socket included: the member needs
//! `/dev/fuse` and `CAP_SYS_ADMIN`, nothing on the host is mounted or changed.
//!
//! In a drill with a disk fault every member runs etcd-drill as its first process
//! (`disk-layer`, the supervisor): it mounts the layer over the member's volume, starts etcd
//! on it and waits. The harness talks to it through files in the container: it uploads a
//! command and sends SIGUSR1; the supervisor applies it and writes its status (what the layer
//! did: fsyncs held, calls failed, bytes dropped). A power cut stops everything the layer
//! serves, kills etcd, undoes the writes not fsynced and ends the container.

pub mod fs;
pub mod undo;

use crate::sandbox::Runtime;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use crate::image::disk::{entrypoint, supervisor, BACKING, RUNTIME_DIR};

/// The supervisor's command and status files, in the container.
pub const STATE_DIR: &str = "/run/etcd-drill-disk";
const COMMAND: &str = "command.json";
const STATUS: &str = "status.json";
/// The container's exit code after a power cut: what a SIGKILL gives.
pub const POWER_CUT_EXIT: i32 = 137;

/// Which calls fail with EIO: the scenario's words.
pub use crate::scenario::DiskCall as ErrorOn;

/// What the layer does to the calls it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Mode {
    Normal,
    /// Every fsync (file or directory) held `delay ± jitter` after it is done.
    Slow {
        delay: Duration,
        jitter: Duration,
    },
    /// These calls fail with EIO.
    Error {
        on: ErrorOn,
    },
    /// Writes succeed until `room` more bytes are used, then fail with ENOSPC.
    Full {
        room: u64,
    },
    /// The power is about to be cut: the next write that is not yet durable is the last call
    /// served (the cut lands where it loses something), then `Crashed`.
    CutAtWrite,
    /// The power is cut: every call fails with EIO.
    Crashed,
}

/// What the layer did since it mounted.
#[derive(Debug, Default)]
pub struct Counters {
    pub fsyncs: AtomicU64,
    pub delayed: AtomicU64,
    pub delayed_us: AtomicU64,
    pub failed: AtomicU64,
    pub no_space: AtomicU64,
    pub written: AtomicU64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    pub seq: u64,
    /// `None`: only report. `Some(Crashed)`: cut the power.
    pub set: Option<Mode>,
}

/// The supervisor's answer to a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub seq: u64,
    pub mode: Option<Mode>,
    pub fsyncs: u64,
    /// Fsyncs held, and for how long in all.
    pub delayed: u64,
    pub delayed_us: u64,
    /// Calls failed with EIO, and with ENOSPC.
    pub failed: u64,
    pub no_space: u64,
    /// Bytes written through the layer.
    pub written: u64,
    /// Writes not fsynced yet: files and bytes.
    pub pending: undo::Dropped,
    /// What the power cut threw away, after one.
    pub dropped: Option<undo::Dropped>,
    /// The cut came right after a write not yet fsynced (else after 2 s without one).
    #[serde(default)]
    pub cut_after_write: bool,
}

impl Status {
    fn of(layer: &fs::Layer, seq: u64, dropped: Option<undo::Dropped>) -> Status {
        let c = &layer.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Status {
            seq,
            mode: Some(layer.mode()),
            fsyncs: n(&c.fsyncs),
            delayed: n(&c.delayed),
            delayed_us: n(&c.delayed_us),
            failed: n(&c.failed),
            no_space: n(&c.no_space),
            written: n(&c.written),
            pending: layer.pending(),
            dropped,
            cut_after_write: layer.cut_after_write.load(Ordering::Relaxed),
        }
    }
}

fn write_status(status: &Status) -> std::io::Result<()> {
    let dir = PathBuf::from(STATE_DIR);
    let tmp = dir.join(".status.tmp");
    std::fs::write(&tmp, serde_json::to_vec(status)?)?;
    std::fs::rename(tmp, dir.join(STATUS))
}

/// The supervisor, the container's first process: mounts the layer on `mount` over `backing`,
/// runs `program` (etcd) on it, applies the harness's commands, and returns the exit code the
/// container ends with (etcd's own, or `POWER_CUT_EXIT`).
pub async fn supervise(
    backing: PathBuf,
    mount: PathBuf,
    program: Vec<String>,
) -> Result<i32, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("{what}: {e}")
    };
    let (exe, args) = program
        .split_first()
        .ok_or("no program to run on the layer")?;
    std::fs::create_dir_all(&mount).map_err(io("create the mount point"))?;
    std::fs::create_dir_all(STATE_DIR).map_err(io("create the state directory"))?;
    // Every member's supervisor is PID 1 of its container: its host name tells them apart.
    let seed = std::fs::read_to_string("/etc/hostname")
        .map(|h| {
            h.bytes()
                .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)))
        })
        .unwrap_or(7);
    let layer = Arc::new(fs::Layer::new(backing, seed));
    let config = {
        let mut c = fuser::Config::default();
        c.mount_options = vec![fuser::MountOption::FSName("etcd-drill-disk".into())];
        // Held fsyncs must not hold every other call.
        c.n_threads = Some(8);
        c
    };
    let session = fuser::spawn_mount(fs::Fs(layer.clone()), &mount, &config)
        .map_err(io("mount the disk layer (FUSE)"))?;
    write_status(&Status::of(&layer, 0, None)).map_err(io("write the status"))?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(io("SIGUSR1"))?;
    let mut term = signal(SignalKind::terminate()).map_err(io("SIGTERM"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("SIGINT"))?;
    let mut child = tokio::process::Command::new(exe)
        .args(args)
        .spawn()
        .map_err(io(&format!("start {exe}")))?;
    let forward = |child: &tokio::process::Child, sig| {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        }
    };
    loop {
        tokio::select! {
            status = child.wait() => {
                drop(session);
                let status = status.map_err(io("wait for the program"))?;
                use std::os::unix::process::ExitStatusExt;
                return Ok(status.code().unwrap_or(128 + status.signal().unwrap_or(0)));
            }
            _ = term.recv() => forward(&child, nix::sys::signal::Signal::SIGTERM),
            _ = int.recv() => forward(&child, nix::sys::signal::Signal::SIGINT),
            _ = usr1.recv() => {
                let Ok(cmd) = std::fs::read(PathBuf::from(STATE_DIR).join(COMMAND))
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<Command>(&b).map_err(|e| e.to_string()))
                else {
                    continue;
                };
                match cmd.set {
                    Some(Mode::Crashed) => {
                        // The cut lands right after a write that is not durable yet (within
                        // 2 s); nothing more reaches the disk, then etcd dies mid-flight.
                        layer.set_mode(Mode::CutAtWrite);
                        let waited = tokio::time::Instant::now();
                        while !layer.cut_after_write.load(Ordering::Relaxed)
                            && waited.elapsed() < Duration::from_secs(2)
                        {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        layer.set_mode(Mode::Crashed);
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                        let dropped = layer.cut_power().map_err(io("undo the writes not fsynced"))?;
                        write_status(&Status::of(&layer, cmd.seq, Some(dropped)))
                            .map_err(io("write the status"))?;
                        drop(session);
                        return Ok(POWER_CUT_EXIT);
                    }
                    Some(mode) => layer.set_mode(mode),
                    None => {}
                }
                write_status(&Status::of(&layer, cmd.seq, None)).map_err(io("write the status"))?;
            }
        }
    }
}

/// Mounts the layer on an empty directory and unmounts it: whether FUSE works here.
pub fn probe() -> Result<(), String> {
    let backing = PathBuf::from("/tmp/etcd-drill-probe-backing");
    let mount = PathBuf::from("/tmp/etcd-drill-probe");
    for d in [&backing, &mount] {
        std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    let layer = Arc::new(fs::Layer::new(backing, 0));
    let session = fuser::spawn_mount(fs::Fs(layer), &mount, &fuser::Config::default())
        .map_err(|e| format!("mount a FUSE filesystem: {e}"))?;
    std::fs::write(mount.join("probe"), b"probe")
        .map_err(|e| format!("write through the FUSE filesystem: {e}"))?;
    drop(session);
    Ok(())
}

/// Sends `set` (or, with `None`, only asks) to the layer of `container` and returns its
/// status once it has applied it. A power cut ends the container: its status is read from the
/// stopped container.
pub async fn control(
    rt: &Arc<dyn Runtime>,
    container: &str,
    set: Option<Mode>,
) -> Result<Status, String> {
    let seq = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let cmd = serde_json::to_vec(&Command { seq, set }).map_err(|e| e.to_string())?;
    let tar = crate::sandbox::tar_of(&[(COMMAND, 0o644, &cmd)]).map_err(|e| e.to_string())?;
    let err = |e: crate::sandbox::SandboxError| crate::util::error_chain(&e);
    rt.upload(container, STATE_DIR, tar).await.map_err(err)?;
    rt.kill(container, "SIGUSR1").await.map_err(err)?;
    let path = format!("{STATE_DIR}/{STATUS}");
    let mut last = String::from("no status yet");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        let read = async {
            let tar = rt.download(container, &path).await.map_err(err)?;
            let bytes = first_file(&tar)?;
            serde_json::from_slice::<Status>(&bytes).map_err(|e| e.to_string())
        };
        match read.await {
            Ok(s) if s.seq == seq => return Ok(s),
            Ok(_) => {}
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("the disk layer did not answer within 15s ({last})"))
}

fn first_file(tar: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type().is_file() {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).map_err(|e| e.to_string())?;
            return Ok(out);
        }
    }
    Err("an empty archive".into())
}

// The harness's side: what the disk faults share.

use super::{container_of, kill, running_container, Active, FaultError};
use crate::cluster::Cluster;

/// A member's figures when a disk fault was injected.
#[derive(Debug, Clone)]
pub struct Before {
    pub member: String,
    pub status: Status,
    /// etcd's WAL fsyncs so far: (seconds in all, how many).
    pub wal_fsync: Option<(f64, u64)>,
}

fn layer_error(member: &str, why: String) -> FaultError {
    FaultError::NoEffect {
        member: member.to_string(),
        why: format!("its disk layer: {why}"),
    }
}

/// Sets `mode` on every target's layer and keeps what each said before in `active`.
pub async fn set_all(cluster: &Cluster, active: &mut Active, mode: Mode) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    let what = format!("there is no disk to {}", active.plan.action.verb());
    for m in active.members.clone() {
        let c = running_container(cluster, &m, &what).await?;
        let wal_fsync = wal_fsync(cluster, &m).await;
        let status = control(&rt, &c, Some(mode.clone()))
            .await
            .map_err(|e| layer_error(&m, e))?;
        active.disk_before.push(Before {
            member: m,
            status,
            wal_fsync,
        });
    }
    Ok(())
}

/// A write through the cluster, which every member fsyncs to its WAL: a disk fault shows
/// itself without waiting for the workload. Whether it was acknowledged within 3 s.
pub async fn nudge(cluster: &Cluster) -> bool {
    let Ok(mut c) = cluster.client().await else {
        return false;
    };
    let put = c.put("/drill/disk", "fsync me", None);
    matches!(
        tokio::time::timeout(Duration::from_secs(3), put).await,
        Ok(Ok(_))
    )
}

/// etcd's WAL fsync figures from the member's `/metrics`: (seconds in all, how many). `None`
/// where they cannot be read (a TLS cluster: the client port asks for a certificate).
pub async fn wal_fsync(cluster: &Cluster, member: &str) -> Option<(f64, u64)> {
    let m = cluster.members.iter().find(|m| m.name == member)?;
    if m.tls {
        return None;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    let text = http
        .get(format!("{}/metrics", m.endpoint()))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    Some((
        value("etcd_disk_wal_fsync_duration_seconds_sum ")?,
        value("etcd_disk_wal_fsync_duration_seconds_count ")? as u64,
    ))
}

/// The last line etcd logged at `fatal` or `panic` level, as "msg: error".
pub fn fatal_line(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l.trim()).ok()?;
        let level = v["level"].as_str()?;
        if level != "fatal" && level != "panic" {
            return None;
        }
        let msg = v["msg"].as_str().unwrap_or_default();
        Some(match v["error"].as_str() {
            Some(e) => format!("{msg}: {e}"),
            None => msg.to_string(),
        })
    })
}

/// What etcd said it found when it started on its data: (raft commit index, store revision),
/// from its "restarting local member" and "kvstore restored" lines.
pub fn started_with(log: &str) -> (Option<u64>, Option<i64>) {
    let mut found = (None, None);
    for l in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l.trim()) else {
            continue;
        };
        match v["msg"].as_str() {
            Some("restarting local member") => found.0 = v["commit-index"].as_u64(),
            Some("kvstore restored") => found.1 = v["current-rev"].as_i64(),
            _ => {}
        }
    }
    found
}

/// What a member did once its disk started failing: exited (with etcd's last words), or
/// still running after `calls` failed calls. Proof that the fault took effect: the container
/// exited, or the layer failed at least one call.
async fn watch_failing(
    cluster: &Cluster,
    active: &mut Active,
    counter: fn(&Status) -> u64,
    what: &str,
) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    let limit = Duration::from_secs(10);
    let start = tokio::time::Instant::now();
    for before in active.disk_before.clone() {
        let c = container_of(cluster, &before.member)?;
        loop {
            if let Some(code) = kill::exit_within(&rt, &c, Duration::ZERO).await {
                let log = rt.log_tail(&c, 200).await.unwrap_or_default();
                let said = fatal_line(&log).unwrap_or_else(|| "no fatal line logged".into());
                active.proof.push(format!(
                    "{}: {what}; etcd exited with code {code}",
                    before.member
                ));
                let reaction = format!("{}: exited with code {code}: {said}", before.member);
                active.reaction = Some(match active.reaction.take() {
                    Some(r) => format!("{r}; {reaction}"),
                    None => reaction,
                });
                break;
            }
            let failed = match control(&rt, &c, None).await {
                Ok(s) => counter(&s).saturating_sub(counter(&before.status)),
                Err(_) => 0,
            };
            if start.elapsed() >= limit {
                if failed == 0 {
                    return Err(FaultError::NoEffect {
                        member: before.member.clone(),
                        why: format!("no call failed within {limit:?} ({what})"),
                    });
                }
                active.proof.push(format!(
                    "{}: {what}: {failed} call(s) failed; etcd still running after {limit:?}",
                    before.member
                ));
                break;
            }
            nudge(cluster).await;
        }
    }
    Ok(())
}

/// Injects a failing disk (`mode`) on every target and records what each member did.
pub async fn inject_failing(
    cluster: &Cluster,
    active: &mut Active,
    mode: Mode,
    counter: fn(&Status) -> u64,
    what: &str,
) -> Result<(), FaultError> {
    set_all(cluster, active, mode).await?;
    nudge(cluster).await;
    watch_failing(cluster, active, counter, what).await
}

/// Heals a failing disk. `restart`: a member still running gets a sound disk back; one that
/// exited is started again on its data (the layer starts sound). `replace`: the member gets a
/// new disk, as etcd's runbook replaces a member (removed, added back on an empty volume,
/// re-synced from the leader).
pub async fn heal_failing(
    cluster: &mut Cluster,
    active: &mut Active,
    recover: crate::scenario::DiskRecover,
) -> Result<(), FaultError> {
    let rt = cluster.sandbox.runtime.clone();
    if recover == crate::scenario::DiskRecover::Replace {
        for m in active.members.clone() {
            let c = container_of(cluster, &m)?;
            if kill::exit_within(&rt, &c, Duration::ZERO).await.is_none() {
                rt.kill(&c, "SIGKILL").await?;
            }
            let line = super::corrupt::re_add(cluster, &m, &active.plan.name).await?;
            active.proof.push(line);
        }
        return Ok(());
    }
    let mut exited = Vec::new();
    for m in active.members.clone() {
        let c = container_of(cluster, &m)?;
        match kill::exit_within(&rt, &c, Duration::ZERO).await {
            Some(_) => exited.push(m),
            None => {
                control(&rt, &c, Some(Mode::Normal))
                    .await
                    .map_err(|e| layer_error(&m, e))?;
                active.proof.push(format!("{m}: its disk is sound again"));
            }
        }
    }
    if !exited.is_empty() {
        let all = std::mem::replace(&mut active.members, exited);
        let restarted = kill::restart(cluster, active).await;
        active.members = all;
        restarted?;
    }
    Ok(())
}
