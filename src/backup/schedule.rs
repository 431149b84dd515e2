//! Scheduled snapshots beside the workload: every `every`, a snapshot is streamed from a
//! member, checked (trailer, `etcdutl snapshot status`), named by UTC time and revision,
//! uploaded to the store, and the retention policy applied (keep the last N, drop the old).
//! With `delta-every`, incremental backups between fulls: every change since the previous link,
//! read from etcd's watch (see `delta`). The first backup, and the first after a restore, is a
//! full. Retention counts fulls; a full's deltas go with it, so no kept delta lacks its full.

use super::store::Store;
use crate::events::Clock;
use crate::plan::BackupPlan;
use crate::record::{BackupLog, BackupRecord, DeltaOf};
use crate::sandbox::Sandbox;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub struct Schedule {
    pub store: Store,
    pub log: Arc<Mutex<BackupLog>>,
    /// The members to back up, and a generation that a restore bumps (a new chain starts).
    endpoints: watch::Sender<(Vec<String>, u64)>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// `etcd-20261124T224018.123Z-r0000000089.db`: sorts by time.
pub fn object_name(taken: std::time::SystemTime, revision: i64) -> String {
    let t = humantime::format_rfc3339_millis(taken)
        .to_string()
        .replace([':', '-'], "");
    format!("etcd-{t}-r{revision:010}.db")
}

/// `etcd-20261124T224020.123Z-r0000000120.delta`: sorts by time with the fulls.
pub fn delta_name(taken: std::time::SystemTime, revision: i64) -> String {
    object_name(taken, revision).replace(".db", ".delta")
}

fn append(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Schedule {
    pub fn start(
        plan: BackupPlan,
        store: Store,
        sandbox: Arc<Sandbox>,
        image: String,
        endpoints: Vec<String>,
        run_dir: PathBuf,
        clock: Clock,
    ) -> Schedule {
        let log = Arc::new(Mutex::new(BackupLog {
            store: store.spec.describe(),
            ..Default::default()
        }));
        let (tx, rx) = watch::channel((endpoints, 0));
        let stop = CancellationToken::new();
        let job = Job {
            plan,
            store: store.clone(),
            sandbox,
            image,
            run_dir,
            clock,
            log: log.clone(),
        };
        let task = tokio::spawn(job.run(rx, stop.clone()));
        Schedule {
            store,
            log,
            endpoints: tx,
            stop,
            task,
        }
    }

    /// The members to back up from now on; after a restore, the next backup is a full (the
    /// restored cluster's history is not the chain's).
    pub fn set_endpoints(&self, endpoints: Vec<String>, restored: bool) {
        self.endpoints.send_modify(|(e, generation)| {
            *e = endpoints;
            *generation += u64::from(restored);
        });
    }

    pub fn records(&self) -> Vec<BackupRecord> {
        self.log.lock().map(|l| l.taken.clone()).unwrap_or_default()
    }

    pub async fn stop(self) -> BackupLog {
        self.stop.cancel();
        let _ = self.task.await;
        let remaining = self
            .store
            .list()
            .await
            .map(|l| l.into_iter().map(|o| o.name).collect())
            .unwrap_or_default();
        let mut log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log.remaining = remaining;
        log
    }
}

struct Job {
    plan: BackupPlan,
    store: Store,
    sandbox: Arc<Sandbox>,
    image: String,
    run_dir: PathBuf,
    clock: Clock,
    log: Arc<Mutex<BackupLog>>,
}

impl Job {
    async fn run(self, endpoints: watch::Receiver<(Vec<String>, u64)>, stop: CancellationToken) {
        let interval = |every: Duration| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        };
        let mut fulls = interval(self.plan.every);
        fulls.tick().await;
        let mut deltas = self.plan.delta_every.map(interval);
        if let Some(d) = &mut deltas {
            d.tick().await;
        }
        let mut n = 0u64;
        // The chain being extended: its full's name, the last revision it holds, and the
        // endpoints' generation it was taken in.
        let mut chain: Option<(String, i64, u64)> = None;
        loop {
            let full = tokio::select! {
                _ = stop.cancelled() => return,
                _ = fulls.tick() => true,
                _ = async { deltas.as_mut().expect("guarded").tick().await }, if deltas.is_some() => false,
            };
            n += 1;
            let (eps, generation) = endpoints.borrow().clone();
            let link = chain.clone().filter(|c| !full && c.2 == generation);
            let at = self.clock.ms();
            // A backup under way is finished (within its deadline) even when the drill ends, so
            // the store never holds an object the log does not know.
            let every = match link {
                None => self.plan.every,
                Some(_) => self.plan.delta_every.unwrap_or(self.plan.every),
            };
            let deadline = every.max(Duration::from_secs(30));
            let work = async {
                match &link {
                    None => self.once(&eps, n).await.map(Some),
                    Some((base, last, _)) => self.delta(&eps, n, base, *last).await,
                }
            };
            let error = match tokio::time::timeout(deadline, work).await {
                Ok(Ok(Some(r))) => {
                    chain = Some((
                        r.delta
                            .as_ref()
                            .map(|d| d.base.clone())
                            .unwrap_or(r.name.clone()),
                        r.revision,
                        generation,
                    ));
                    None
                }
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    if e.contains("compacted") {
                        // The history the next delta needs is gone: start a new chain.
                        chain = None;
                    }
                    Some(e)
                }
                Err(_) => Some("no backup within the deadline".to_string()),
            };
            if let Some(e) = error {
                if let Ok(mut l) = self.log.lock() {
                    l.failures.push((at, e));
                }
            }
            if let Err(e) = self.retain().await {
                if let Ok(mut l) = self.log.lock() {
                    l.failures
                        .push((self.clock.ms(), format!("retention: {e}")));
                }
            }
        }
    }

    /// Encrypts `file` for the plan's recipients when it says so: what to upload, the name's
    /// suffix and the ciphertext's SHA-256. The plaintext is removed once sealed.
    async fn seal(&self, file: &Path) -> Result<(PathBuf, Option<String>), String> {
        let Some(e) = &self.plan.encrypt else {
            return Ok((file.to_path_buf(), None));
        };
        let (plain, cipher) = (file.to_path_buf(), append(file, ".age"));
        let to = super::crypt::recipients(&e.recipients).map_err(|e| e.to_string())?;
        let out = cipher.clone();
        let sealed =
            tokio::task::spawn_blocking(move || super::crypt::encrypt_file(&plain, &out, &to))
                .await
                .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(file);
        Ok((cipher, Some(sealed.map_err(|e| e.to_string())?.1)))
    }

    /// Seals, uploads and records a backup file; the staged files are removed.
    async fn store(&self, mut record: BackupRecord, file: &Path) -> Result<BackupRecord, String> {
        let (upload, ciphertext_sha256) = self.seal(file).await?;
        if ciphertext_sha256.is_some() {
            record.name.push_str(".age");
        }
        let stored = self.store.upload(&record.name, &upload).await;
        let _ = std::fs::remove_file(&upload);
        record.size_bytes = stored.map_err(|e| e.to_string())?;
        record.ciphertext_sha256 = ciphertext_sha256;
        if let Ok(mut l) = self.log.lock() {
            l.taken.push(record.clone());
        }
        Ok(record)
    }

    /// One scheduled snapshot: stream, check, name, upload, record.
    async fn once(&self, endpoints: &[String], n: u64) -> Result<BackupRecord, String> {
        let staging = self.run_dir.join("backup-staging");
        let mut last = "no member to snapshot".to_string();
        for ep in endpoints {
            let taken_ms = self.clock.ms();
            let client = match crate::cluster::connect(std::slice::from_ref(ep)).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let saved = match crate::snapshot_file::save(
                &client,
                ep,
                &staging,
                &format!("scheduled-{n}"),
                Duration::from_secs(60),
                &Default::default(),
            )
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    last = crate::util::error_chain(&e);
                    continue;
                }
            };
            let status = crate::snapshot_file::status(
                &self.sandbox,
                &self.image,
                &saved.path,
                &format!("scheduled-{n}"),
            )
            .await
            .map_err(|e| crate::util::error_chain(&e))?;
            let (keys, digest) =
                crate::keyspace::digest_at(&client, status.revision, &Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
            let record = BackupRecord {
                name: object_name(self.clock.wall_at_ms(taken_ms), status.revision),
                size_bytes: 0,
                sha256: saved.sha256,
                ciphertext_sha256: None,
                revision: status.revision,
                taken_at: crate::util::utc(self.clock.wall_at_ms(taken_ms)),
                taken_at_ms: taken_ms,
                keyspace_sha256: digest,
                keyspace_keys: keys,
                delta: None,
            };
            // Encrypted before it leaves the harness: the store only ever sees ciphertext.
            return self.store(record, &saved.path).await;
        }
        Err(last)
    }

    /// One incremental backup: every change after `after`, up to the revision the cluster has
    /// now reached, with the keyspace's digest there. Nothing changed: nothing stored.
    async fn delta(
        &self,
        endpoints: &[String],
        n: u64,
        base: &str,
        after: i64,
    ) -> Result<Option<BackupRecord>, String> {
        let client = crate::cluster::connect(endpoints)
            .await
            .map_err(|e| e.to_string())?;
        let taken_ms = self.clock.ms();
        let upto = super::delta::current_revision(&client)
            .await
            .map_err(|e| e.to_string())?;
        if upto <= after {
            return Ok(None);
        }
        let staging = self.run_dir.join("backup-staging");
        std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
        let path = staging.join(format!("delta-{n}.delta"));
        let header = super::delta::Header {
            format: super::delta::FORMAT.into(),
            base: base.into(),
            first: after + 1,
            last: upto,
        };
        let mut w = super::delta::Writer::create(&path, &header).map_err(|e| e.to_string())?;
        let deadline = self.plan.delta_every.unwrap_or(self.plan.every);
        super::delta::cut(
            &client,
            after,
            upto,
            &mut w,
            deadline.max(Duration::from_secs(10)),
        )
        .await
        .map_err(|e| e.to_string())?;
        let events = w.finish().map_err(|e| e.to_string())?;
        let (keys, digest) = crate::keyspace::digest_at(&client, upto, &Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let sha256 = crate::util::sha256_file(&path).map_err(|e| e.to_string())?;
        let record = BackupRecord {
            name: delta_name(self.clock.wall_at_ms(taken_ms), upto),
            size_bytes: 0,
            sha256,
            ciphertext_sha256: None,
            revision: upto,
            taken_at: crate::util::utc(self.clock.wall_at_ms(taken_ms)),
            taken_at_ms: taken_ms,
            keyspace_sha256: digest,
            keyspace_keys: keys,
            delta: Some(DeltaOf {
                base: base.into(),
                first_revision: after + 1,
                events,
            }),
        };
        self.store(record, &path).await.map(Some)
    }

    /// Keep the last `keep_last` fulls; drop those older than `max_age`; a full's deltas go
    /// with it.
    async fn retain(&self) -> Result<(), String> {
        let now = self.clock.ms();
        let taken: Vec<BackupRecord> = self.log.lock().map(|l| l.taken.clone()).unwrap_or_default();
        // Only what this run wrote: a shared bucket or folder holds other runs' backups too,
        // and a drill must never delete those.
        let objects: Vec<_> = self
            .store
            .list()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|o| taken.iter().any(|t| t.name == o.name))
            .collect();
        let fulls: Vec<_> = objects
            .iter()
            .filter(|o| taken.iter().any(|t| t.name == o.name && t.delta.is_none()))
            .collect();
        let mut doomed = Vec::new();
        if let Some(keep) = self.plan.keep_last {
            let excess = fulls.len().saturating_sub(keep as usize);
            for o in fulls.iter().take(excess) {
                doomed.push((o.name.clone(), format!("keep-last {keep}")));
            }
        }
        if let Some(max) = self.plan.max_age {
            for t in taken.iter().filter(|t| t.delta.is_none()) {
                let old = now.saturating_sub(t.taken_at_ms) > max.as_millis() as u64;
                if old
                    && objects.iter().any(|o| o.name == t.name)
                    && !doomed.iter().any(|(n, _)| *n == t.name)
                {
                    doomed.push((
                        t.name.clone(),
                        format!("max-age {}", humantime::format_duration(max)),
                    ));
                }
            }
        }
        // A full's deltas go with it: no kept delta ever lacks its full.
        for t in &taken {
            if let Some(d) = &t.delta {
                let gone = doomed.iter().any(|(n, _)| *n == d.base);
                if gone
                    && objects.iter().any(|o| o.name == t.name)
                    && !doomed.iter().any(|(n, _)| *n == t.name)
                {
                    doomed.push((t.name.clone(), format!("its full {} was removed", d.base)));
                }
            }
        }
        for (name, why) in doomed {
            self.store.delete(&name).await.map_err(|e| e.to_string())?;
            if let Ok(mut l) = self.log.lock() {
                l.deleted.push((name, why));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_sort_by_time_and_carry_the_revision() {
        let t0 = std::time::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let a = object_name(t0, 89);
        let b = object_name(t0 + Duration::from_secs(5), 7);
        assert!(a < b, "{a} {b}");
        assert!(a.ends_with("-r0000000089.db"), "{a}");
        assert!(!a.contains(':'));
    }
}
