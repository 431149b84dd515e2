//! Scenario → Plan: every semantic check, every default resolved. Only a `Plan` reaches the
//! runner, so the runner never meets an unchecked value. Runs without Docker (`validate`), and
//! from the file alone: what the environment decides is given to the caller, never read here.
//!
//! `model`: what a plan is; this file and `walk` (the steps, in order), `steps` (the gates)
//! and `faults` (each fault kind): the resolution; `budget`: the disk and memory a plan needs.

use crate::scenario::{Problem, Scenario, ScenarioError, ScenarioFile, SeedSpec, WorkloadSpec};
use steps::{check_gates, gates, steps};

mod budget;
mod external;
pub mod faults;
mod known_bug;
mod model;
mod monitoring;
mod steps;
mod walk;

pub use budget::*;
pub use external::{store_location, verify_backup, verify_snapshot, VerifyBackup};
pub use known_bug::KnownBugPlan;
pub use model::*;
pub use monitoring::{alert_names, ExpectedAlert, MonitoringPlan, RuleFile};

pub use faults::{Corrupt, FaultAction, FaultNeeds, FaultPlan, NetTools, Scratch, SlowNetwork};
use std::time::Duration;

/// Validates a scenario and resolves its defaults; every problem is reported at once.
pub fn plan(file: ScenarioFile) -> Result<Plan, ScenarioError> {
    let ScenarioFile {
        path,
        sha256,
        scenario,
    } = file;
    let mut problems = Vec::new();
    let plan = build(&scenario, &path, &sha256, &mut problems);
    if problems.is_empty() {
        Ok(plan)
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(ScenarioError::Invalid { path, problems })
    }
}

/// Names of scenarios, snapshots and faults end up in file and object names: letters, digits,
/// '-', '_' and '.' only.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn build(s: &Scenario, path: &std::path::Path, sha: &str, problems: &mut Vec<Problem>) -> Plan {
    let name = &s.name;
    if !crate::plan::is_name(name.value.as_str()) {
        problems.push(Problem::at(
            &name.referenced,
            "expected a name of letters, digits, '-', '_' or '.'",
        ));
    }
    let cluster = cluster(s, problems);
    let seed = s.seed.as_ref().map(|spec| seed(spec, problems));
    let seed_in_range =
        |p: &SeedPlan| (1..=10_000_000).contains(&p.keys) && p.value_size <= MAX_VALUE_SIZE;
    if let (Some(plan), Some(spec)) = (seed.as_ref().filter(|p| seed_in_range(p)), &s.seed) {
        // etcd refuses writes past its quota (alarm NOSPACE): a seed that cannot fit would fail
        // half-way, after minutes. The keys and values alone must fit.
        let quota = cluster.quota_backend_bytes.unwrap_or(ETCD_DEFAULT_QUOTA);
        let payload = seed_payload(plan);
        if db_estimate(payload) > quota {
            problems.push(Problem::at(
                &spec.keys.referenced,
                format!(
                    "expected a seed that fits etcd's backend quota: {} keys × {} B is {payload} \
                     bytes of keys and values, about {} bytes of etcd db, above \
                     quota-backend-bytes {quota}{}; raise cluster.etcd.quota-backend-bytes \
                     (etcd warns above 8 GiB, its suggested maximum)",
                    plan.keys,
                    plan.value_size,
                    db_estimate(payload),
                    if cluster.quota_backend_bytes.is_none() {
                        " (etcd's default)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    let workload = s.workload.as_ref().map(|spec| workload(spec, problems));
    if let (Some(seed), Some(w), Some(spec)) = (&seed, &workload, &s.workload) {
        if seed.key_prefix.starts_with(&w.key_prefix) || w.key_prefix.starts_with(&seed.key_prefix)
        {
            let loc = spec
                .key_prefix
                .as_ref()
                .map(|p| &p.referenced)
                .unwrap_or(&spec.rate.referenced);
            problems.push(Problem::at(
                loc,
                format!(
                "expected a workload key-prefix that does not overlap the seed's ({:?} and {:?})",
                w.key_prefix, seed.key_prefix
            ),
            ));
        }
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let steps = steps(s, dir, problems);
    let gates = gates(s.expect.as_ref().map(|e| &e.value), &steps);
    check_gates(s, &gates, &steps, workload.is_some(), problems);
    let known_bug = known_bug::known_bug(s, workload.is_some(), problems);
    Plan {
        name: name.value.clone(),
        description: s.description.clone(),
        path: path.to_path_buf(),
        sha256: sha.to_string(),
        cluster,
        seed,
        workload,
        steps,
        gates,
        notify: notify(s, problems),
        backup: backup(s, problems),
        monitoring: monitoring::monitoring(s, dir, problems),
        known_bug,
    }
}

/// The scenario's webhook. Without one, the environment may name one (`NotifyPlan::from_env`):
/// the command that runs the drill asks it, so that a plan depends on its file alone.
fn notify(s: &Scenario, problems: &mut Vec<Problem>) -> Option<NotifyPlan> {
    use crate::scenario::NotifyOn;
    if let Some(n) = &s.notify {
        let url = &n.webhook;
        if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
            problems.push(Problem::at(
                &url.referenced,
                "expected a webhook URL starting with http:// or https://",
            ));
        }
        return Some(NotifyPlan {
            url: url.value.clone(),
            on: n.on.unwrap_or(NotifyOn::Always),
        });
    }
    None
}

fn cluster(s: &Scenario, problems: &mut Vec<Problem>) -> ClusterPlan {
    let c = &s.cluster;
    if ![1, 3, 5].contains(&c.members.value) {
        problems.push(Problem::at(
            &c.members.referenced,
            format!("expected 1, 3 or 5 members, found {}", c.members.value),
        ));
    }
    let flags = c.etcd.as_ref().map(|e| &e.value);
    // The timing rule is said at `etcd:`, where the flags were written.
    let flags_at = c
        .etcd
        .as_ref()
        .map_or(&c.members.referenced, |e| &e.referenced);
    let heartbeat = flags
        .and_then(|f| f.heartbeat_interval)
        .unwrap_or(Duration::from_millis(100));
    let election = flags
        .and_then(|f| f.election_timeout)
        .unwrap_or(Duration::from_millis(1000));
    if election < heartbeat.saturating_mul(5)
        || election > Duration::from_secs(50)
        || heartbeat.is_zero()
    {
        problems.push(Problem::at(
            flags_at,
            format!(
                "expected etcd.election-timeout at least 5 × heartbeat-interval and at most 50s \
             (heartbeat {}ms, election {}ms)",
                heartbeat.as_millis(),
                election.as_millis()
            ),
        ));
    }
    let image = match (&c.version, &c.image) {
        (Some(v), Some(_)) => {
            problems.push(Problem::at(
                &v.referenced,
                "expected cluster.version or cluster.image, not both".to_string(),
            ));
            DEFAULT_IMAGE.to_string()
        }
        (Some(v), None) => match crate::versions::find(&v.value) {
            Some(r) => r.image(),
            None => {
                problems.push(Problem::at(
                    &v.referenced,
                    crate::versions::expected_known(&v.value),
                ));
                DEFAULT_IMAGE.to_string()
            }
        },
        (None, Some(i)) => i.value.clone(),
        (None, None) => DEFAULT_IMAGE.to_string(),
    };
    ClusterPlan {
        members: c.members.value,
        image,
        heartbeat_interval: heartbeat,
        election_timeout: election,
        // Above 8 GiB etcd warns (its suggested maximum) and still uses it: so does a drill.
        quota_backend_bytes: flags
            .and_then(|f| f.quota_backend_bytes.as_ref())
            .map(|q| q.value),
        snapshot_count: flags.and_then(|f| f.snapshot_count),
        pre_vote: flags.and_then(|f| f.pre_vote),
        backend_batch_interval: flags.and_then(|f| f.backend_batch_interval),
        compaction_batch_limit: flags
            .and_then(|f| f.compaction_batch_limit.as_ref())
            .map(|l| {
                if l.value == 0 {
                    problems.push(Problem::at(
                        &l.referenced,
                        "expected a compaction batch limit of at least 1",
                    ));
                }
                l.value
            }),
        tls: c.tls.unwrap_or(false),
        member_images: member_images(c, problems),
        unsafe_no_fsync: flags
            .map(|f| {
                f.unsafe_no_fsync
                    .iter()
                    .map(|m| {
                        if let Some(wrong) = unknown_member(&m.value, c.members.value) {
                            problems.push(Problem::at(&m.referenced, wrong));
                        }
                        m.value.clone()
                    })
                    .collect()
            })
            .unwrap_or_default(),
        disk_images: Default::default(),
    }
}

/// `cluster.member-versions`: members of a known version, within one minor version of the
/// cluster's (etcd runs mixed only as an upgrade passes through), never beside `image`.
fn member_images(
    c: &crate::scenario::ClusterSpec,
    problems: &mut Vec<Problem>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Some(m) = &c.member_versions else {
        return out;
    };
    let at = &m.referenced;
    if c.image.is_some() {
        problems.push(Problem::at(
            at,
            "expected member-versions with cluster.version, not cluster.image",
        ));
        return out;
    }
    let cluster = c
        .version
        .as_ref()
        .and_then(|v| crate::versions::find(&v.value))
        .unwrap_or_else(crate::versions::default_release);
    for (member, version) in &m.value {
        if let Some(wrong) = unknown_member(member, c.members.value) {
            problems.push(Problem::at(at, wrong));
            continue;
        }
        let Some(r) = crate::versions::find(version) else {
            problems.push(Problem::at(
                at,
                format!("{member}: {}", crate::versions::expected_known(version)),
            ));
            continue;
        };
        let ((a, b, _), (ca, cb, _)) = (r.number(), cluster.number());
        if a != ca || b.abs_diff(cb) > 1 {
            problems.push(Problem::at(
                at,
                format!(
                    "etcd mixes versions one minor version apart at most: {member} on {} beside {}",
                    r.version, cluster.version
                ),
            ));
            continue;
        }
        out.insert(member.clone(), r.image());
    }
    out
}

impl Plan {
    /// Whether the snapshot `name` needs the digest of its keyspace (every key and value read
    /// while it streams), or etcd's HashKV at its revision can stand for it. HashKV is only
    /// comparable on the same etcd release with the same revisions: every restore of this
    /// snapshot must keep its revisions (no bump) and its version, in a cluster of one version
    /// that no upgrade changes.
    pub fn snapshot_needs_digest(&self, name: &str) -> bool {
        if !self.cluster.member_images.is_empty() {
            return true;
        }
        let mut restored = false;
        for s in &self.steps {
            match &s.kind {
                StepKind::Upgrade { .. } => return true,
                StepKind::Restore {
                    source: RestoreSource::Snapshot(n),
                    options,
                } if n == name => {
                    restored = true;
                    if options.bump_revision.is_some() || options.image.is_some() {
                        return true;
                    }
                }
                _ => {}
            }
        }
        // A snapshot nobody restores here is evidence for later: its digest says what it holds.
        !restored
    }
}

fn seed(spec: &SeedSpec, problems: &mut Vec<Problem>) -> SeedPlan {
    let keys = spec.keys.value;
    if keys == 0 || keys > 10_000_000 {
        problems.push(Problem::at(
            &spec.keys.referenced,
            "expected between 1 and 10000000 keys",
        ));
    }
    let value_size = spec.value_size.as_ref().map(|v| {
        if v.value == 0 || v.value > MAX_VALUE_SIZE {
            problems.push(Problem::at(
                &v.referenced,
                format!("expected a value-size between 1 and {MAX_VALUE_SIZE} bytes"),
            ));
        }
        v.value
    });
    let batch = spec.batch.as_ref().map(|b| {
        if b.value == 0 || b.value > MAX_TXN_OPS {
            problems.push(Problem::at(
                &b.referenced,
                format!("expected a batch between 1 and {MAX_TXN_OPS} (etcd's --max-txn-ops)"),
            ));
        }
        b.value
    });
    let concurrency = spec.concurrency.as_ref().map(|c| {
        if c.value == 0 || c.value > 256 {
            problems.push(Problem::at(
                &c.referenced,
                "expected a concurrency between 1 and 256",
            ));
        }
        c.value
    });
    let key_prefix = prefix(spec.key_prefix.as_ref(), "/drill/seed/", problems);
    SeedPlan {
        keys,
        value_size: value_size.unwrap_or(256),
        key_prefix,
        rng_seed: spec.rng_seed.unwrap_or(1),
        batch: batch.unwrap_or(MAX_TXN_OPS),
        concurrency: concurrency.unwrap_or(16),
    }
}

fn prefix(
    p: Option<&serde_saphyr::Spanned<String>>,
    default: &str,
    problems: &mut Vec<Problem>,
) -> String {
    match p {
        Some(p) if p.value.is_empty() => {
            problems.push(Problem::at(
                &p.referenced,
                "expected a non-empty key prefix",
            ));
            p.value.clone()
        }
        Some(p) => p.value.clone(),
        None => default.to_string(),
    }
}

fn workload(spec: &WorkloadSpec, problems: &mut Vec<Problem>) -> WorkloadPlan {
    if spec.rate.value == 0 || spec.rate.value > 5_000 {
        problems.push(Problem::at(
            &spec.rate.referenced,
            "expected a rate between 1 and 5000 operations per second",
        ));
    }
    let profile = spec.profile.as_ref().and_then(|p| {
        let mix = Mix::profile(&p.value);
        if mix.is_none() {
            problems.push(Problem::at(
                &p.referenced,
                "expected a profile of plain, kubernetes, write-heavy or read-heavy",
            ));
        }
        if let Some(m) = &spec.mix {
            problems.push(Problem::at(
                &m.referenced,
                "expected either `profile` or `mix`, not both",
            ));
        }
        mix.map(|m| (p.value.clone(), m))
    });
    let mix = match (&spec.mix, &profile) {
        (_, Some((_, m))) => *m,
        (Some(m), None) => {
            let mix = m.value;
            if mix.put == 0 {
                problems.push(Problem::at(
                    &m.referenced,
                    "expected a mix with a put weight above 0: puts prove durability",
                ));
            }
            mix
        }
        (None, None) => Mix::profile("plain").expect("a profile"),
    };
    let concurrency = spec.concurrency.as_ref().map(|c| {
        if c.value == 0 || c.value > 64 || c.value > spec.rate.value {
            problems.push(Problem::at(
                &c.referenced,
                "expected a concurrency between 1 and 64, at most the rate",
            ));
        }
        c.value
    });
    WorkloadPlan {
        concurrency: concurrency.unwrap_or(1).max(1),
        mix,
        read_range: spec.read_range.unwrap_or(1000).max(1),
        rate: spec.rate.value,
        key_prefix: prefix(spec.key_prefix.as_ref(), "/drill/workload/", problems),
        timeout: spec.timeout.unwrap_or(Duration::from_millis(500)),
        profile: profile.map(|(p, _)| p).unwrap_or_else(|| "plain".into()),
        objects: spec.objects.unwrap_or(16).clamp(1, 1000),
        future_watch: spec.future_watch.as_ref().map(|f| {
            if spec.watch_each_member {
                problems.push(Problem::at(
                    &f.referenced,
                    "expected `future-watch` or `watch-each-member`, not both: each is a watch on each member",
                ));
            }
            if f.value == 0 || f.value > 1 << 40 {
                problems.push(Problem::at(
                    &f.referenced,
                    "expected a number of revisions ahead between 1 and 2^40",
                ));
            }
            f.value
        }).or(spec.watch_each_member.then_some(0)),
        compact_every: spec
            .compact_every
            .map(|d| d.max(Duration::from_millis(100))),
        compact_physical: match &spec.compact_physical {
            Some(p) if spec.compact_every.is_none() => {
                problems.push(Problem::at(
                    &p.referenced,
                    "expected `compact-every` beside `compact-physical`: it says how the compactions it makes wait",
                ));
                p.value
            }
            Some(p) => p.value,
            None => true,
        },
    }
}

fn backup(s: &Scenario, problems: &mut Vec<Problem>) -> Option<BackupPlan> {
    let b = s.backup.as_ref()?;
    if b.value.every < Duration::from_secs(1) {
        problems.push(Problem::at(
            &b.referenced,
            "expected a backup `every` of at least 1s",
        ));
    }
    if let Some(k) = &b.value.keep_last {
        if k.value == 0 {
            problems.push(Problem::at(
                &k.referenced,
                "expected keep-last of at least 1",
            ));
        }
    }
    let encrypt = b.value.encrypt.as_ref().map(|e| {
        if e.value.recipients.is_empty() {
            problems.push(Problem::at(
                &e.referenced,
                "expected at least one age recipient (age1…) to encrypt backups to",
            ));
        }
        for r in &e.value.recipients {
            if <age::x25519::Recipient as std::str::FromStr>::from_str(r.trim()).is_err() {
                problems.push(Problem::at(
                    &e.referenced,
                    format!("expected an age X25519 recipient (age1…), found {r:?}"),
                ));
            }
        }
        EncryptPlan {
            recipients: e.value.recipients.clone(),
            identity: None,
        }
    });
    if let Some(d) = b.value.delta_every {
        if d < Duration::from_secs(1) || d >= b.value.every {
            problems.push(Problem::at(
                &b.referenced,
                format!(
                    "expected `delta-every` of at least 1s and shorter than the full interval ({})",
                    humantime::format_duration(b.value.every)
                ),
            ));
        }
    }
    Some(BackupPlan {
        encrypt,
        delta_every: b.value.delta_every,
        every: b.value.every,
        keep_last: b.value.keep_last.as_ref().map(|k| k.value),
        max_age: b.value.max_age,
        store: b
            .value
            .store
            .clone()
            .unwrap_or(crate::scenario::StoreSpec::Local {
                dir: "backups".into(),
            }),
    })
}

/// Why `name` is not a member of an `n`-member cluster, or `None` when it is: one message for
/// every place a scenario names a member.
pub fn unknown_member(name: &str, n: u32) -> Option<String> {
    let known = member_names(n);
    (!known.iter().any(|k| k == name)).then(|| {
        format!(
            "expected one of the members {}, found {name:?}",
            known.join(", ")
        )
    })
}

/// The members' names, `etcd-1` … `etcd-N`: a plan, a cluster and a report name them alike.
pub fn member_names(n: u32) -> Vec<String> {
    (1..=n).map(|i| format!("etcd-{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::NotifyPlan;

    #[test]
    fn the_environments_webhook_is_given_not_read() {
        use crate::scenario::NotifyOn;
        let some = |s: &str| Some(s.to_string());
        assert!(NotifyPlan::from_env(None, some("failure")).is_none());
        assert!(NotifyPlan::from_env(some(""), None).is_none());
        let n = NotifyPlan::from_env(some("https://hook"), some("failure")).unwrap();
        assert_eq!((n.url.as_str(), n.on), ("https://hook", NotifyOn::Failure));
        let n = NotifyPlan::from_env(some("https://hook"), some("anything")).unwrap();
        assert_eq!(n.on, NotifyOn::Always);
    }

    fn planned(yaml: &str) -> super::Plan {
        let path = std::path::Path::new("memory.yaml");
        super::plan(crate::scenario::load_str(path, yaml).unwrap()).unwrap()
    }

    #[test]
    fn a_corrupt_fault_needs_room_for_its_copy_in_the_temp_dir() {
        let with = |steps: &str| {
            planned(&format!(
                "name: c\ncluster: {{ members: 3 }}\nseed: {{ keys: 100000, value-size: 1000 }}\nsteps:\n  - seed: {{}}\n{steps}"
            ))
            .footprint()
            .unwrap()
        };
        let none = with("");
        assert_eq!(none.scratch, 0);
        let db = with("  - corrupt: { target: follower, what: db, recover: re-add }\n");
        assert_eq!(db.scratch, db.db);
        let wal = with("  - corrupt: { target: follower, what: wal, recover: re-add }\n");
        assert_eq!(wal.scratch, 64 << 20);
        // One at a time: the largest.
        let both = with(
            "  - corrupt: { target: follower, what: wal, recover: re-add }\n  - corrupt: { target: follower, what: db, recover: re-add }\n",
        );
        assert_eq!(both.scratch, db.db);
    }

    /// `nospace` fills every member's db to its quota: the volumes' budget holds that, so a
    /// quota larger than the engine's free disk is refused before anything starts.
    #[test]
    fn a_nospace_fault_budgets_each_members_db_at_its_quota() {
        let with = |steps: &str| {
            planned(&format!(
                "name: n\ncluster: {{ members: 3, etcd: {{ quota-backend-bytes: 1000000000 }} }}\nseed: {{ keys: 1000 }}\nsteps:\n  - seed: {{}}\n{steps}"
            ))
            .footprint()
            .unwrap()
        };
        let plain = with("");
        assert!(plain.db < 10_000_000, "{plain:?}");
        let filled = with("  - nospace: {}\n");
        assert_eq!(filled.db, 1_000_000_000);
        assert_eq!(filled.volumes, 3 * 1_000_000_000);
    }

    #[test]
    fn a_large_seed_keeps_its_transactions_in_each_members_memory_up_to_the_snapshot_count() {
        let seed = |keys: u64, count: &str| {
            planned(&format!(
                "name: m\ncluster: {{ members: 3, etcd: {{ quota-backend-bytes: 8000000000{count} }} }}\nseed: {{ keys: {keys}, value-size: 1000 }}\nsteps:\n  - seed: {{}}\n"
            ))
        };
        let gb = |p: &super::Plan| p.seed_memory_per_member().unwrap() as f64 / 1e9;
        // 4,000,000 keys: 31,250 transactions of 128 puts, all kept by default (about 11 GB,
        // as the 4 GiB drill measured); 10,000 + 5,000 of them with snapshot-count 10000.
        let all = seed(4_000_000, "");
        assert!((10.0..13.0).contains(&gb(&all)), "{}", gb(&all));
        let capped = seed(4_000_000, ", snapshot-count: 10000");
        assert!((5.0..6.0).contains(&gb(&capped)), "{}", gb(&capped));
        // A small seed keeps little, whatever the count.
        assert!(gb(&seed(10_000, "")) < 0.1);
        // The count that fits 19 GB over 3 members is between the two.
        let n = all.snapshot_count_for(19_000_000_000).unwrap();
        assert!((10_000..31_250).contains(&n), "{n}");
        let mut fits = all.clone();
        fits.cluster.snapshot_count = Some(n);
        assert!(fits.seed_memory_per_member().unwrap() * 3 <= 19_000_000_000);
    }

    #[test]
    fn only_a_snapshot_every_restore_of_which_is_plain_goes_without_its_digest() {
        let with = |restore: &str, extra: &str| {
            planned(&format!(
                "name: d\ncluster: {{ members: 3, version: 3.5.16 }}\nsteps:\n  - snapshot: {{ name: s }}\n  - disaster: {{}}\n{restore}{extra}"
            ))
            .snapshot_needs_digest("s")
        };
        let plain = "  - restore: { snapshot: s }\n";
        assert!(!with(plain, ""));
        // Revisions bumped, another version, an upgrade on the way: HashKV cannot compare.
        assert!(with(
            "  - restore: { snapshot: s, bump-revision: 1000, mark-compacted: true }\n",
            ""
        ));
        assert!(with("  - restore: { snapshot: s, version: 3.5.30 }\n", ""));
        assert!(with(plain, "  - upgrade: { to: 3.5.30 }\n"));
        // Never restored here: the digest is the evidence of what it holds.
        assert!(with("", ""));
    }

    #[test]
    fn the_default_image_is_the_default_release_s() {
        assert_eq!(
            super::DEFAULT_IMAGE,
            crate::versions::default_release().image()
        );
    }
}
