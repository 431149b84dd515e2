//! `restore`: the whole cluster from a named snapshot. etcdutl rebuilds a quorum's data dirs on
//! fresh volumes, all at once; a snapshot whose bytes changed or whose trailer is wrong is
//! refused before any member starts. The quorum starts and the harness probes every 10 ms for a
//! leader and a quorum write (the RTO) while the other members' data dirs are rebuilt; then they
//! start, and the step ends when every member answers.

use super::{Ctx, StepError};
use crate::backup::delta::Replayed;
use crate::backup::Chain;
use crate::checks;
use crate::cluster::{connect, within, Cluster};
use crate::events::StepOutcome;
use crate::plan::{RestoreOptions, RestoreSource};
use crate::record::{Phase, Refusal, RestoreRecord, SnapshotRecord};
use std::time::{Duration, Instant};

/// Probe period while waiting for the restored cluster (the issue asks for ≤ 20 ms).
const PROBE: Duration = Duration::from_millis(10);

/// The snapshot to restore, checked; from a `snapshot` step or fetched from the backup store
/// (newest first, refusing bad files, falling back when the scenario says so).
async fn source(
    ctx: &mut Ctx<'_>,
    source: &RestoreSource,
    disaster_started_ms: u64,
) -> Result<Source, StepError> {
    let (snap, refused, chain, point) = match source {
        RestoreSource::Snapshot(name) => {
            let snap = ctx
                .snapshots
                .iter()
                .find(|s| &s.name == name)
                .cloned()
                .ok_or_else(|| StepError::Precondition(format!("no snapshot named {name}")))?;
            // Checked against its recorded digest in `run`, while etcdutl reads it.
            (snap, Vec::new(), None, None)
        }
        RestoreSource::Backup {
            pick,
            fallback,
            deltas,
            before,
        } => {
            let options = (pick, *fallback, *deltas, before.as_deref());
            return from_backup(ctx, options, disaster_started_ms).await;
        }
        RestoreSource::File(path) => {
            let snap = external(ctx, path).await?;
            ctx.snapshots.push(snap.clone());
            (snap, Vec::new(), None, None)
        }
        RestoreSource::Store {
            store,
            choice,
            fallback,
            identity,
        } => return from_store(ctx, store, (choice, *fallback), identity.as_deref()).await,
    };
    Ok(Source {
        snap,
        refused,
        chain,
        stored: None,
        point,
    })
}

/// A backup of this run's schedule: picked (a point in time: at or below it), its deltas
/// checked and, for a point, cut there.
async fn from_backup(
    ctx: &mut Ctx<'_>,
    (pick, fallback, deltas, before): (&crate::scenario::BackupPick, bool, bool, Option<&str>),
    disaster_started_ms: u64,
) -> Result<Source, StepError> {
    let point = match before {
        Some(name) => Some(
            ctx.points
                .iter()
                .find(|p| p.name == name)
                .cloned()
                .ok_or_else(|| StepError::Precondition(format!("no point in time named {name}")))?,
        ),
        None => None,
    };
    let until = point.as_ref().map(|p| p.revision);
    let sched = ctx
        .backups
        .as_ref()
        .ok_or_else(|| StepError::Precondition("no backup schedule".into()))?;
    let dir = ctx.run_dir.join("restore");
    let identity = ctx
        .plan
        .backup
        .as_ref()
        .and_then(|b| b.encrypt.as_ref())
        .and_then(|e| e.identity.as_deref());
    let picked = crate::backup::pick(
        &sched.store,
        &sched.records(),
        (pick, fallback),
        (disaster_started_ms, until),
        &dir,
        identity,
    )
    .await?;
    // The full's deltas, checked before any member is touched.
    let mut chain = match deltas {
        false => None,
        true => Some(
            crate::backup::chain(
                &sched.store,
                &sched.records(),
                &picked.snapshot,
                (pick, disaster_started_ms),
                until,
                &dir,
                identity,
            )
            .await?,
        ),
    };
    let point = point.map(|p| {
        Box::new(crate::record::PointInTime {
            reached: at_point(&mut chain, &picked.snapshot, &p),
            before: p.name,
            revision: p.revision,
            keyspace_keys: p.keyspace_keys,
            deleted_keys: p.deleted,
            prefix: p.prefix,
        })
    });
    ctx.snapshots.push(picked.snapshot.clone());
    Ok(Source {
        snap: picked.snapshot,
        refused: picked.refused,
        chain,
        stored: None,
        point,
    })
}

/// A chain brought to a point in time: its last delta stops at the point, so what it restores
/// is the keyspace the point's step read there, at the point's time. Where the chain falls
/// short of it (or there is no chain: the full alone), that is said.
fn at_point(
    chain: &mut Option<Chain>,
    full: &SnapshotRecord,
    point: &crate::events::Point,
) -> bool {
    let chain = chain.get_or_insert_with(|| Chain {
        until: Some(point.revision),
        ..Chain::default()
    });
    let before = format!("before {}", point.name);
    if !chain.reaches(full.revision, point.revision, Some(&before)) {
        return false;
    }
    if let Some((last, _)) = chain.links.last_mut() {
        last.keyspace_sha256 = point.keyspace_sha256.clone();
        last.keyspace_keys = point.keyspace_keys;
        last.taken_at_ms = point.at_ms;
    }
    true
}

/// A snapshot from outside restored as it is: what the members will hold is counted from its
/// file meanwhile (on this machine's other core), not read back through etcd afterwards.
fn count_file(
    ctx: &Ctx<'_>,
    restore_from: &RestoreSource,
    chain: &Chain,
    snap: &SnapshotRecord,
    bump: Option<u64>,
) -> Option<tokio::task::JoinHandle<Option<crate::record::KeyspaceSummary>>> {
    let as_it_is = restore_from.is_external() && chain.links.is_empty() && bump.is_none();
    as_it_is.then(|| {
        let (file, wanted) = (snap.file.clone(), ctx.plan.gates.keys_under.clone());
        tokio::task::spawn_blocking(move || file_keyspace(&file, &wanted))
    })
}

/// Keys rewritten after the file's compaction that counting it may hold in memory (a few tens
/// of MB at most); past them the restored cluster is read instead.
const MAX_REWRITTEN: usize = 200_000;

/// The live keys of a snapshot file, counted by prefix; `None` when the file cannot say
/// within bounded memory (the keyspace is then read through etcd).
fn file_keyspace(
    file: &std::path::Path,
    wanted: &[String],
) -> Option<crate::record::KeyspaceSummary> {
    let mut tally = crate::prefixes::PrefixTally::with_wanted(wanted);
    match crate::snapshot_file::hashkv::live_keys(file, MAX_REWRITTEN, |k, size| {
        tally.count_sized(k, size)
    }) {
        Ok(Some(revision)) => {
            let mut k = tally.finish(revision);
            k.counted_in = Some("the snapshot file".into());
            Some(k)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("cannot count the keys of {}: {e}", file.display());
            None
        }
    }
}

/// The snapshot a restore takes, checked, and where it came from.
struct Source {
    snap: SnapshotRecord,
    refused: Vec<Refusal>,
    chain: Option<Chain>,
    stored: Option<crate::record::StoredBackup>,
    point: Option<Box<crate::record::PointInTime>>,
}

/// A backup from a store the drill did not fill: listed, chosen, fetched (decrypted and
/// unpacked) and checked, with its chain; what the store held goes to the report.
async fn from_store(
    ctx: &mut Ctx<'_>,
    spec: &crate::scenario::StoreSpec,
    (choice, fallback): (&crate::scenario::StoreChoice, bool),
    identity: Option<&std::path::Path>,
) -> Result<Source, StepError> {
    use crate::backup::{stored, BackupError};
    let store = crate::backup::store::Store::open(spec, &ctx.run_dir).map_err(BackupError::from)?;
    let listed = store.list().await.map_err(BackupError::from)?;
    let now_ms = crate::util::unix_ms(std::time::SystemTime::now());
    let cat = stored::catalogue(&listed);
    let failed = |why: String| BackupError::Stored {
        store: spec.describe(),
        why,
        ignored: cat.ignored.clone(),
    };
    let candidates = stored::candidates(&cat, choice).map_err(failed)?;
    let dir = ctx.run_dir.join(STORE_FETCHES);
    let fetched = stored::fetch(&store, &candidates, fallback, &dir, identity).await?;
    let mut snap = external_checked(ctx, &fetched.file, fetched.digest.clone()).await?;
    snap.name = fetched.full.name.clone();
    snap.taken_at = crate::util::utc_ms(fetched.full.taken_ms);
    let until = fetched.until;
    let links = fetched
        .deltas
        .iter()
        .filter(|(_, _, h)| until.is_none_or(|u| h.first <= u))
        .map(|(e, file, h)| {
            let record = crate::record::BackupRecord {
                name: e.name.clone(),
                size_bytes: e.size,
                sha256: String::new(),
                ciphertext_sha256: None,
                revision: until.map_or(h.last, |u| h.last.min(u)),
                taken_at: crate::util::utc_ms(e.taken_ms),
                taken_at_ms: 0,
                keyspace_sha256: String::new(),
                keyspace_keys: 0,
                delta: Some(crate::record::DeltaOf {
                    base: h.base.clone(),
                    first_revision: h.first,
                    events: 0,
                }),
            };
            (record, file.clone())
        })
        .collect();
    // A name's revision chose the chain: the file must say the same, else the chain is not
    // this full's and is left out.
    let mut stopped = fetched.stopped.clone();
    let mut links: Vec<_> = links;
    if let Some(named) = fetched.full.revision.filter(|r| *r != snap.revision) {
        stopped = Some(format!(
            "{} is named revision {named} but holds revision {}: its deltas are not replayed",
            fetched.full.name, snap.revision
        ));
        links.clear();
    }
    let mut chain = Chain {
        links,
        stopped,
        not_replayed: fetched.not_replayed.clone(),
        until,
    };
    // A point in time the chain does not reach is said, not implied.
    if let Some(u) = until {
        chain.reaches(snap.revision, u, None);
    }
    let mut described = stored::describe(&store, &cat, Some(&fetched), now_ms);
    described.chain_stopped = chain.stopped.clone();
    ctx.snapshots.push(snap.clone());
    Ok(Source {
        snap,
        refused: fetched.refused,
        chain: Some(chain),
        stored: Some(described),
        point: None,
    })
}

/// A snapshot file from outside the sandbox: its trailer checked, then read by etcdutl.
async fn external(ctx: &Ctx<'_>, path: &std::path::Path) -> Result<SnapshotRecord, StepError> {
    let digest = crate::snapshot_file::checked_digest(path)?;
    external_checked(ctx, path, digest).await
}

/// `external` for a file whose trailer was checked as it was written (size, SHA-256).
async fn external_checked(
    ctx: &Ctx<'_>,
    path: &std::path::Path,
    (size, sha256): (u64, String),
) -> Result<SnapshotRecord, StepError> {
    let status =
        crate::snapshot_file::status(&ctx.sandbox, &ctx.cluster.plan.image, path, "external")
            .await?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "external".into());
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok(SnapshotRecord {
        name,
        file: path.to_path_buf(),
        size_bytes: size,
        sha256,
        revision: status.revision,
        total_keys: status.total_key,
        etcd_hash: status.hash,
        taken_at: modified.map(crate::util::utc).unwrap_or_default(),
        taken_at_ms: 0,
        duration_ms: 0,
        mb_per_sec: 0.0,
        // Unknown: nobody read this keyspace before it was saved.
        keyspace_sha256: String::new(),
        keyspace_keys: 0,
        hashkv: None,
        seed: None,
    })
}

pub async fn run(
    ctx: &mut Ctx<'_>,
    restore_from: &RestoreSource,
    options: &RestoreOptions,
    timeout: Duration,
) -> Result<StepOutcome, StepError> {
    // A store's backups are someone's real data: once the members hold it, the plain copies
    // fetched from the store leave the run's folder, whatever happened, a deadline or Ctrl-C
    // dropping this step included (the evidence holds what was restored, never the data).
    let _fetched = matches!(restore_from, RestoreSource::Store { .. })
        .then(|| RemovedOnDrop(ctx.run_dir.join(STORE_FETCHES)));
    restore(ctx, restore_from, options, timeout).await
}

/// A folder removed when this goes out of scope.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", self.0.display());
            }
        }
    }
}

/// Where a restore from a store puts what it fetched, under the run's folder, until the
/// restore ends.
const STORE_FETCHES: &str = "restore-fetched";

async fn restore(
    ctx: &mut Ctx<'_>,
    restore_from: &RestoreSource,
    options: &RestoreOptions,
    timeout: Duration,
) -> Result<StepOutcome, StepError> {
    // RTO counts from the end of the disaster; a drill that starts by restoring a file counts
    // from the start of this step.
    let disaster = ctx.disaster.clone();
    let rto_from_ms = disaster
        .as_ref()
        .map(|d| d.ended_ms)
        .unwrap_or_else(|| ctx.clock.ms());
    let origin = ctx.clock.t0 + Duration::from_millis(rto_from_ms);
    let fetch_start = Instant::now();
    let started_ms = disaster.as_ref().map(|d| d.started_ms).unwrap_or(0);
    let src = source(ctx, restore_from, started_ms).await?;
    let (snap, chain) = (src.snap, src.chain.unwrap_or_default());
    let name = snap.name.as_str();
    let mut phases = Vec::new();
    let mut mark_at = |name: &str, from: Instant, now: Instant| {
        phases.push(Phase {
            name: name.into(),
            duration_ms: now.duration_since(from).as_millis() as u64,
            at_ms: now.saturating_duration_since(origin).as_millis() as u64,
        });
        now
    };
    if let Some(fetched) = fetch_phase(ctx, restore_from) {
        mark_at(fetched, fetch_start, Instant::now());
    }
    next_generation(ctx, options);
    let bump = options.bump_revision;
    let counting = count_file(ctx, restore_from, &chain, &snap, bump);
    let cluster = &mut ctx.cluster;
    // A quorum first: it is what serves. The other members' files are written once it has
    // taken a write: etcdutl writing them beside the quorum's members loading their db and
    // electing a leader slowed both on a 2-core machine.
    let names = cluster.names();
    let (quorum, rest) = names.split_at(names.len() / 2 + 1);
    let t = Instant::now();
    let restored = restore_quorum(cluster, quorum, &snap, restore_from, (bump, timeout)).await?;
    let files = crate::record::RESTORE_FILES_PHASE;
    let t = mark_at(
        &format!("{files} ({} of {})", quorum.len(), names.len()),
        t,
        Instant::now(),
    );
    cluster.members.clear();
    cluster.start(&pairs(quorum, restored.volumes)).await?;
    let t = mark_at("start the quorum", t, Instant::now());
    let cluster = &ctx.cluster;
    let (leader, replayed, first_write) = serve(cluster, &chain).await?;
    let (answered, leader_at) = (leader.answered, leader.seen);
    // The clients come back when the cluster serves (the RTO), on the quorum, while the other
    // members are restored: until then they would keep failing against members long gone.
    let restored_at = seen_state(&chain, replayed.is_some(), &snap);
    super::repoint_workload(ctx, Some(restored_at)).await?;
    // Until a member answers, it is loading its db: what dominates at production size.
    let t = mark_at("members load their db", t, answered);
    let mut t = mark_at("leader elected", t, leader_at);
    if let Some((_, _, ended)) = &replayed {
        t = mark_at("replay deltas", t, *ended);
    }
    mark_at("first write", t, first_write);
    let others = the_rest(ctx, rest, &snap, (bump, timeout), counting).await?;
    let cluster = &ctx.cluster;
    let all_serving_ms = Instant::now().saturating_duration_since(origin).as_millis() as u64;
    let client = cluster.client().await?;
    let rto = first_write.saturating_duration_since(origin).as_millis() as u64;

    ctx.client = client.clone();
    // Every member now, the state unchanged.
    super::repoint_workload(ctx, None).await?;
    let record = RestoreRecord {
        snapshot: name.to_string(),
        refused: src.refused,
        snapshot_revision: snap.revision,
        cluster_token: ctx.cluster.token.clone(),
        phases,
        rto_first_write_ms: rto,
        rto_from_ms,
        leader: Some(leader.name),
        etcd_version: Some(leader.version),
        snapshot_delivery: restored.delivery.describe().to_string(),
        members_at_once: restored.concurrency.max(others) as u32,
        all_members_serving_ms: Some(all_serving_ms),
        image: Some(ctx.cluster.plan.image.clone()),
        bump_revision: bump,
        replay: None,
        stored: src.stored,
        point: src.point,
    };
    let disaster = disaster.as_ref().map(|d| (d.started_ms, d.ended_ms));
    Ok(conclude(ctx, record, &snap, &chain, replayed, disaster))
}

/// The members outside the quorum: their files restored while the quorum serves, then started,
/// until every member answers; the snapshot file's count joined meanwhile. Returns how many
/// members etcdutl restored at once.
async fn the_rest(
    ctx: &mut Ctx<'_>,
    rest: &[String],
    snap: &SnapshotRecord,
    (bump, timeout): (Option<u64>, Duration),
    counting: Option<tokio::task::JoinHandle<Option<crate::record::KeyspaceSummary>>>,
) -> Result<usize, StepError> {
    let others =
        crate::restore_files::restore_files(&ctx.cluster, rest, &snap.file, bump, timeout).await?;
    ctx.cluster.start(&pairs(rest, others.volumes)).await?;
    serving(&ctx.cluster).await?;
    if let Some(counting) = counting {
        ctx.file_keyspace = counting
            .await
            .ok()
            .flatten()
            .map(|k| (snap.name.clone(), k));
    }
    Ok(others.concurrency)
}

/// The name of the phase that made the source ready: a backup fetched (and decrypted, with its
/// deltas), an external file checked; `None` for this run's own snapshot.
fn fetch_phase(ctx: &Ctx<'_>, restore_from: &RestoreSource) -> Option<&'static str> {
    match restore_from {
        RestoreSource::Backup { deltas, .. } => Some(
            match (
                ctx.plan
                    .backup
                    .as_ref()
                    .is_some_and(|b| b.encrypt.is_some()),
                deltas,
            ) {
                (true, true) => "fetch and decrypt backup and deltas",
                (true, false) => "fetch and decrypt backup",
                (false, true) => "fetch backup and deltas",
                (false, false) => "fetch backup",
            },
        ),
        RestoreSource::File(_) => Some("check snapshot"),
        RestoreSource::Store { .. } => Some("fetch, unpack and check backup"),
        RestoreSource::Snapshot(_) => None,
    }
}

/// The restore's record once its replay is known, its RPO, and what later steps see: after a
/// replay the restored state is the last replayed delta's, and it joins the snapshots.
fn conclude(
    ctx: &mut Ctx<'_>,
    record: RestoreRecord,
    snap: &SnapshotRecord,
    chain: &Chain,
    replayed: Option<(Replayed, Instant, Instant)>,
    disaster: Option<(u64, u64)>,
) -> StepOutcome {
    // After a replay, the restored state is the last replayed delta's: the RPO and the
    // integrity check run from there.
    let restored_state = chain
        .links
        .last()
        .filter(|_| replayed.is_some())
        .map(|(last, file)| {
            let mut s = last.as_snapshot(file.clone());
            s.etcd_hash = 0;
            s
        });
    let record = RestoreRecord {
        snapshot_revision: restored_state
            .as_ref()
            .map(|s| s.revision)
            .unwrap_or(record.snapshot_revision),
        replay: replayed.map(|(r, started, ended)| crate::record::ReplayRecord {
            deltas: chain.links.iter().map(|(l, _)| l.name.clone()).collect(),
            revisions: r.revisions,
            events: r.events,
            from_revision: snap.revision,
            to_revision: restored_state.as_ref().map(|s| s.revision).unwrap_or(0),
            reached_revision: r.reached,
            duration_ms: ended.duration_since(started).as_millis() as u64,
            stopped: chain.stopped.clone(),
            not_replayed: chain.not_replayed.clone(),
        }),
        ..record
    };
    let rpo = disaster.map(|(started, ended)| {
        let acks = ctx.workload.as_ref().map(|w| w.log().acks);
        let state = restored_state.as_ref().unwrap_or(snap);
        let mut rpo = checks::rpo::measure(state, started, ended, acks.as_deref());
        if restored_state.is_some() {
            rpo.fulls_only = Some(checks::rpo::fulls_only(
                snap,
                started,
                ended,
                acks.as_deref(),
            ));
        }
        rpo
    });
    if let Some(s) = restored_state {
        ctx.snapshots.push(s);
    }
    ctx.restore = Some(record.clone());
    ctx.rpo = rpo.clone();
    StepOutcome::Restored(record, rpo)
}

/// Replays a chain's deltas in order; `None` when it has none. Returns what was replayed and
/// when the replay started and ended.
async fn replay(
    client: &etcd_client::Client,
    chain: &Chain,
    done: &std::sync::atomic::AtomicU64,
) -> Result<Option<(Replayed, Instant, Instant)>, StepError> {
    if chain.links.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let mut total = Replayed::default();
    for (_, file) in &chain.links {
        let r = crate::backup::delta::replay(client, file, chain.until, done)
            .await
            .map_err(crate::backup::BackupError::from)?;
        total.revisions += r.revisions;
        total.events += r.events;
        total.reached = r.reached;
    }
    Ok(Some((total, started, Instant::now())))
}

/// The restored cluster's first leader, as the members' status reported it.
struct Leader {
    name: String,
    /// The etcd version the answering member runs.
    version: String,
    /// When a member first answered.
    answered: Instant,
    /// When the leader was seen.
    seen: Instant,
}

/// Polls every member's status until one reports a leader. Bounded by the step deadline.
async fn wait_leader(cluster: &Cluster) -> Result<Leader, StepError> {
    let mut clients = Vec::new();
    for m in &cluster.members {
        clients.push((m.name.clone(), connect(&[m.endpoint()]).await?));
    }
    let mut answered = None;
    loop {
        let probes = clients.iter().map(|(name, c)| {
            let mut c = c.clone();
            async move {
                (
                    name,
                    within("status", name, Duration::from_millis(200), c.status()).await,
                )
            }
        });
        let answers = futures_util::future::join_all(probes).await;
        // The moment a leader is seen; its name comes from the same answers (each member's
        // header carries its own id), so no more requests delay the clock.
        let seen = Instant::now();
        if answers.iter().any(|(_, s)| s.is_ok()) {
            answered.get_or_insert(seen);
        }
        let ok: Vec<(&str, &etcd_client::StatusResponse)> = answers
            .iter()
            .filter_map(|(name, s)| s.as_ref().ok().map(|s| (name.as_str(), s)))
            .collect();
        if let Some((name, version)) = crate::cluster::leader_in(&ok) {
            return Ok(Leader {
                name,
                version,
                answered: answered.unwrap_or(seen),
                seen,
            });
        }
        tokio::time::sleep(PROBE).await;
    }
}

/// Polls every member's status until each answers (the members started after the quorum are
/// still loading their db). Bounded by the step deadline.
async fn serving(cluster: &Cluster) -> Result<(), StepError> {
    // At production size a member loads a db of several GB before it answers.
    let deadline = Duration::from_secs(600);
    for m in &cluster.members {
        crate::cluster::poll_status(m, "an answer", PROBE, deadline, |_| Ok(())).await?;
    }
    Ok(())
}

/// Tries a quorum write every `PROBE` until one succeeds; returns when it did.
async fn first_write(client: &etcd_client::Client) -> Instant {
    loop {
        let mut c = client.clone();
        if within(
            "put",
            "the restored cluster",
            Duration::from_millis(250),
            c.put("/drill/probe/rto", "ok", None),
        )
        .await
        .is_ok()
        {
            return Instant::now();
        }
        tokio::time::sleep(PROBE).await;
    }
}

/// The restored cluster is a new generation: new names, a new token, the cluster's version on
/// every member (a mixed cluster is mixed no more), or the version the restore asks for (a
/// cross-version restore: the new version's etcdutl restores, its etcd serves).
fn next_generation(ctx: &mut Ctx<'_>, options: &RestoreOptions) {
    let cluster = &mut ctx.cluster;
    if let Some(image) = &options.image {
        cluster.plan.image = image.clone();
    }
    cluster.plan.member_images.clear();
    cluster.generation += 1;
    cluster.token = format!("{}-r{}", ctx.sandbox.run_id, cluster.generation);
}

/// The quorum's data files, restored from `snap`. This run's own snapshot is checked against
/// the digest recorded when it was taken while etcdutl reads it, and no member starts unless
/// it is unchanged.
async fn restore_quorum(
    cluster: &Cluster,
    quorum: &[String],
    snap: &SnapshotRecord,
    restore_from: &RestoreSource,
    (bump, timeout): (Option<u64>, Duration),
) -> Result<crate::restore_files::Restored, StepError> {
    let restore = crate::restore_files::restore_files(cluster, quorum, &snap.file, bump, timeout);
    Ok(match restore_from {
        RestoreSource::Snapshot(_) => {
            let (file, sha256) = (snap.file.clone(), snap.sha256.clone());
            let check = tokio::task::spawn_blocking(move || {
                crate::snapshot_file::check_file(&file, &sha256)
            });
            let (restored, checked) = tokio::join!(restore, check);
            checked.map_err(|e| StepError::Precondition(format!("snapshot check: {e}")))??;
            restored?
        }
        _ => restore.await?,
    })
}

/// The quorum serving: a leader, the chain's deltas replayed (until then it holds only the
/// full's data), and the first write accepted, when it was.
async fn serve(
    cluster: &Cluster,
    chain: &Chain,
) -> Result<(Leader, Option<(Replayed, Instant, Instant)>, Instant), StepError> {
    let replay_done = std::sync::atomic::AtomicU64::new(0);
    let leader = wait_leader(cluster).await?;
    let client = cluster.client().await?;
    let replayed = replay(&client, chain, &replay_done).await?;
    let written = first_write(&client).await;
    Ok((leader, replayed, written))
}

/// The state clients now see: the full's, or the last replayed delta's.
fn seen_state(chain: &Chain, replayed: bool, snap: &SnapshotRecord) -> crate::workload::Restored {
    let (revision, cut_at_ms) = match chain.links.last().filter(|_| replayed) {
        Some((last, _)) => (last.revision, last.taken_at_ms),
        None => (snap.revision, snap.taken_at_ms),
    };
    crate::workload::Restored {
        revision,
        cut_at_ms,
    }
}

/// Each member with the volume restored for it.
fn pairs(members: &[String], volumes: Vec<String>) -> Vec<(String, String)> {
    members.iter().cloned().zip(volumes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BackupRecord, DeltaOf};

    fn point(revision: i64) -> crate::events::Point {
        crate::events::Point {
            name: "mistake".into(),
            prefix: "/p/".into(),
            deleted: 10,
            revision,
            at_ms: 5_000,
            keyspace_keys: 42,
            keyspace_sha256: "point-digest".into(),
        }
    }

    fn full(revision: i64) -> SnapshotRecord {
        BackupRecord {
            name: "full.db".into(),
            size_bytes: 1,
            sha256: String::new(),
            ciphertext_sha256: None,
            revision,
            taken_at: String::new(),
            taken_at_ms: 1_000,
            keyspace_sha256: "full-digest".into(),
            keyspace_keys: 40,
            delta: None,
        }
        .as_snapshot("full.db".into())
    }

    fn delta(first: i64, last: i64) -> (BackupRecord, std::path::PathBuf) {
        let r = BackupRecord {
            name: format!("d{first}.delta"),
            size_bytes: 1,
            sha256: String::new(),
            ciphertext_sha256: None,
            revision: last,
            taken_at: String::new(),
            taken_at_ms: 9_000,
            keyspace_sha256: "delta-digest".into(),
            keyspace_keys: 50,
            delta: Some(DeltaOf {
                base: "full.db".into(),
                first_revision: first,
                events: 1,
            }),
        };
        (r, "d.delta".into())
    }

    #[test]
    fn a_chain_cut_at_the_point_restores_the_keyspace_read_there() {
        // `backup::chain` clamped the last link to the point.
        let mut chain = Some(Chain {
            links: vec![delta(11, 20), delta(21, 25)],
            until: Some(25),
            ..Chain::default()
        });
        assert!(at_point(&mut chain, &full(10), &point(25)));
        let chain = chain.unwrap();
        let (last, _) = chain.links.last().unwrap();
        assert_eq!(
            (
                last.keyspace_sha256.as_str(),
                last.keyspace_keys,
                last.taken_at_ms
            ),
            ("point-digest", 42, 5_000)
        );
        assert_eq!(chain.stopped, None);
    }

    #[test]
    fn a_point_exactly_at_a_full_restores_the_full_alone() {
        let mut chain = Some(Chain::default());
        assert!(at_point(&mut chain, &full(25), &point(25)));
        let chain = chain.unwrap();
        assert!(chain.links.is_empty());
        assert_eq!(chain.stopped, None);
        // Without deltas at all (`deltas: false`), the same.
        let mut none = None;
        assert!(at_point(&mut none, &full(25), &point(25)));
    }

    #[test]
    fn a_chain_short_of_the_point_says_where_it_stopped() {
        let mut chain = Some(Chain {
            links: vec![delta(11, 20)],
            stopped: Some("d21.delta is missing from the store".into()),
            until: Some(25),
            ..Chain::default()
        });
        assert!(!at_point(&mut chain, &full(10), &point(25)));
        let chain = chain.unwrap();
        let stopped = chain.stopped.unwrap();
        assert!(stopped.starts_with("d21.delta is missing"), "{stopped}");
        assert!(
            stopped.contains("reaches revision 20, not the point in time 25 (before mistake)"),
            "{stopped}"
        );
        // The last link keeps its own digest: the verify compares nothing it does not hold.
        assert_eq!(chain.links[0].0.keyspace_sha256, "delta-digest");
    }
}
