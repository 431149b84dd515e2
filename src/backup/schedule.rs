//! Scheduled snapshots beside the workload: every `every`, a snapshot is streamed from a
//! member, checked (trailer, `etcdutl snapshot status`), named by UTC time and revision,
//! uploaded to the store, and the retention policy applied (keep the last N, drop the old).

use super::store::Store;
use crate::events::Clock;
use crate::plan::BackupPlan;
use crate::record::{BackupLog, BackupRecord};
use crate::sandbox::Sandbox;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub struct Schedule {
    pub store: Store,
    pub log: Arc<Mutex<BackupLog>>,
    endpoints: watch::Sender<Vec<String>>,
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
        let (tx, rx) = watch::channel(endpoints);
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

    pub fn set_endpoints(&self, endpoints: Vec<String>) {
        self.endpoints.send_replace(endpoints);
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
    async fn run(self, endpoints: watch::Receiver<Vec<String>>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.plan.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await;
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            n += 1;
            let eps = endpoints.borrow().clone();
            let at = self.clock.ms();
            // A backup under way is finished (within its deadline) even when the drill ends, so
            // the store never holds an object the log does not know.
            let deadline = self.plan.every.max(Duration::from_secs(30));
            let outcome = tokio::time::timeout(deadline, self.once(&eps, n)).await;
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("no snapshot within the deadline".to_string()),
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

    /// One scheduled snapshot: stream, check, name, upload, record.
    async fn once(&self, endpoints: &[String], n: u64) -> Result<(), String> {
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
            let mut name = object_name(self.clock.wall_at_ms(taken_ms), status.revision);
            // Encrypted before it leaves the harness: the store only ever sees ciphertext.
            let (upload, ciphertext_sha256) = match &self.plan.encrypt {
                None => (saved.path.clone(), None),
                Some(e) => {
                    name.push_str(".age");
                    let (plain, cipher) = (saved.path.clone(), saved.path.with_extension("db.age"));
                    let to = super::crypt::recipients(&e.recipients).map_err(|e| e.to_string())?;
                    let out = cipher.clone();
                    let sealed = tokio::task::spawn_blocking(move || {
                        super::crypt::encrypt_file(&plain, &out, &to)
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    let _ = std::fs::remove_file(&saved.path);
                    (cipher, Some(sealed.map_err(|e| e.to_string())?.1))
                }
            };
            let size = self
                .store
                .upload(&name, &upload)
                .await
                .map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&upload);
            let record = BackupRecord {
                name,
                size_bytes: size,
                sha256: saved.sha256,
                ciphertext_sha256,
                revision: status.revision,
                taken_at: crate::util::utc(self.clock.wall_at_ms(taken_ms)),
                taken_at_ms: taken_ms,
                keyspace_sha256: digest,
                keyspace_keys: keys,
            };
            if let Ok(mut l) = self.log.lock() {
                l.taken.push(record);
            }
            return Ok(());
        }
        Err(last)
    }

    /// Keep the last `keep_last` objects; drop those older than `max_age`.
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
        let mut doomed = Vec::new();
        if let Some(keep) = self.plan.keep_last {
            let excess = objects.len().saturating_sub(keep as usize);
            for o in objects.iter().take(excess) {
                doomed.push((o.name.clone(), format!("keep-last {keep}")));
            }
        }
        if let Some(max) = self.plan.max_age {
            for t in &taken {
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
