//! Recovery: RTO and RPO against their gates, what the drill put in (seed, snapshots) and
//! destroyed (the disaster), and what came back (integrity).

use super::{at, fact, ms, opt, Block, Cell, Section};
use crate::record::RunReport;

fn judged(r: &RunReport, what: &str, value: String, gate: &str) -> Vec<Cell> {
    let g = r.gates.iter().find(|g| g.gate == gate);
    vec![
        what.into(),
        value.into(),
        g.map(|g| g.target.clone())
            .unwrap_or_else(|| "-".into())
            .into(),
        g.map(|g| Cell::pass(g.passed)).unwrap_or_else(|| "".into()),
    ]
}

/// The RPO a restore of the chain's full alone would have given.
pub(super) fn fulls_only(f: &crate::record::FullsOnly) -> String {
    format!(
        "{} ms, {} revisions, {} acknowledged writes lost (full {} at revision {})",
        f.time_gap_ms,
        opt(&f.revision_gap),
        opt(&f.lost_acknowledged_writes),
        f.snapshot,
        f.snapshot_revision
    )
}

/// What a restore from a chain replayed, and where the chain stopped.
pub(super) fn replay(p: &crate::record::ReplayRecord) -> String {
    let mut s = format!(
        "{} delta(s), {} revisions, {} events: revision {} → {} in {} ms (the restored cluster reached {})",
        p.deltas.len(),
        p.revisions,
        p.events,
        p.from_revision,
        p.to_revision,
        p.duration_ms,
        p.reached_revision
    );
    if let Some(why) = &p.stopped {
        s.push_str(&format!(
            "; chain stopped: {why}; not replayed: {}",
            p.not_replayed.join(", ")
        ));
    }
    s
}

pub(super) fn recovery(r: &RunReport) -> Option<Section> {
    let x = r.restore.as_ref()?;
    let mut rows = vec![judged(
        r,
        "RTO (first quorum write)",
        ms(Some(x.rto_first_write_ms)),
        "rto",
    )];
    let verified = r.verification.as_ref().and_then(|v| v.rto_verified_ms);
    rows.push(judged(r, "RTO (verified)", ms(verified), "rto-verified"));
    rpo_rows(r, &mut rows);
    let phases = x
        .phases
        .iter()
        .map(|p| vec![p.name.clone(), ms(Some(p.duration_ms)), ms(Some(p.at_ms))])
        .collect();
    let phases = Block::table(
        vec!["RTO phase", "duration", "done after disaster end"],
        phases,
    );
    let mut facts = facts(x);
    if let Some(s) = &x.stored {
        facts.splice(0..0, stored(s).into_iter().map(|(k, v)| fact(&k, v)));
    }
    let mut blocks = vec![
        Block::Table {
            header: vec!["measurement", "value", "target", "result"],
            rows,
        },
        Block::Facts(facts),
        phases,
    ];
    if !x.refused.is_empty() {
        blocks.push(Block::List(
            x.refused
                .iter()
                .map(|f| format!("refused backup {}: {}", f.name, f.reason))
                .collect(),
        ));
    }
    if let Some(p) = r.rpo.as_ref().filter(|p| !p.lost_examples.is_empty()) {
        blocks.push(Block::List(
            p.lost_examples
                .iter()
                .map(|k| format!("lost: {k}"))
                .collect(),
        ));
    }
    Some(Section::new("Recovery: RTO and RPO", blocks))
}

/// A store the restore read (`verify-backup`, `restore: { store }`): what it held, how fresh
/// the newest backup was, which one was restored, and what was left out. The same lines for
/// the document and the terminal.
pub(super) fn stored(s: &crate::record::StoredBackup) -> Vec<(String, String)> {
    let age = |a: Option<u64>| a.map(crate::util::age_text).unwrap_or_else(|| "-".into());
    let mut out = vec![
        ("backup store".to_string(), s.store.clone()),
        (
            "backups found".to_string(),
            format!(
                "{} ({} full, {} delta), listed at {}",
                s.backups,
                s.fulls,
                s.backups - s.fulls,
                s.listed_at
            ),
        ),
        (
            "newest backup".to_string(),
            format!(
                "{} taken {}, {} old",
                opt(&s.newest),
                opt(&s.newest_taken_at),
                age(s.newest_age_ms)
            ),
        ),
        (
            "backup restored".to_string(),
            format!(
                "{} taken {} ({} old, time from {}), {} bytes stored, {} layout, {}",
                opt(&s.picked),
                opt(&s.picked_taken_at),
                age(s.picked_age_ms),
                opt(&s.time_from),
                s.picked_size_bytes.unwrap_or(0),
                opt(&s.layout),
                opt(&s.packing)
            ),
        ),
    ];
    if let Some(r) = s.until_revision {
        out.push(("point in time".into(), format!("revision {r}")));
    }
    if let Some(c) = &s.fallback_cost {
        out.push(("fallback".into(), c.clone()));
    }
    if let Some(c) = &s.chain_stopped {
        out.push(("chain stopped".into(), c.clone()));
    }
    for i in &s.ignored {
        out.push((format!("not a backup: {}", i.name), i.reason.clone()));
    }
    out
}

/// A restore's RPO rows, each judged against its gate.
fn rpo_rows(r: &RunReport, rows: &mut Vec<Vec<Cell>>) {
    if let Some(p) = &r.rpo {
        let time = format!("{} ms (snapshot {} → disaster)", p.time_gap_ms, p.snapshot);
        rows.push(judged(r, "RPO (time)", time, "rpo"));
        let gap = match p.revision_gap {
            Some(g) => format!(
                "{g} (last acknowledged {} − snapshot {})",
                opt(&p.last_acknowledged_revision),
                p.snapshot_revision
            ),
            None => "-".into(),
        };
        rows.push(judged(r, "RPO (revision gap)", gap, "max-revision-gap"));
        let lost = match (p.lost_acknowledged_writes, p.acknowledged_before_disaster) {
            (Some(l), Some(a)) => format!("{l} of {a}"),
            (l, _) => opt(&l),
        };
        rows.push(judged(
            r,
            "RPO (acknowledged writes lost)",
            lost,
            "max-lost-acknowledged-writes",
        ));
        if let Some(f) = &p.fulls_only {
            rows.push(vec![
                "RPO with the full alone".into(),
                fulls_only(f).into(),
                "-".into(),
                "".into(),
            ]);
        }
    }
}

/// ", compacted at N" when a compaction was recorded; etcd says -1 for none.
fn compacted(revision: i64) -> String {
    if revision > 0 {
        format!(", compacted at {revision}")
    } else {
        String::new()
    }
}

/// What the restore was: its source, its clock, how it ran, what it made.
fn facts(x: &crate::record::RestoreRecord) -> Vec<(String, Cell)> {
    let mut facts = base_facts(x);
    if let Some(p) = &x.point {
        facts.insert(
            1,
            fact(
                "point in time",
                format!(
                    "revision {}, just before {} deleted {} key(s) under {}: {}",
                    p.revision,
                    p.before,
                    p.deleted_keys,
                    p.prefix,
                    if p.reached {
                        "reached exactly"
                    } else {
                        "NOT reached (see the replay)"
                    }
                ),
            ),
        );
    }
    facts
}

fn base_facts(x: &crate::record::RestoreRecord) -> Vec<(String, Cell)> {
    vec![
        fact(
            "restored from",
            format!(
                "snapshot {} at revision {}",
                x.snapshot, x.snapshot_revision
            ),
        ),
        fact("RTO clock started", at(Some(x.rto_from_ms))),
        fact(
            "snapshot delivery",
            format!(
                "{} to etcdutl, {} member(s) at once",
                x.snapshot_delivery, x.members_at_once
            ),
        ),
        fact(
            "every member serving",
            match x.all_members_serving_ms {
                Some(v) => format!(
                    "{} after disaster end (a quorum started first)",
                    ms(Some(v))
                ),
                None => "-".into(),
            },
        ),
        fact(
            "restored cluster",
            format!("etcd {} ({})", opt(&x.etcd_version), opt(&x.image)),
        ),
        fact(
            "revision bump (Kubernetes' restore)",
            match x.bump_revision {
                Some(n) => format!("--bump-revision={n} --mark-compacted"),
                None => "none: revisions restart at the snapshot's".into(),
            },
        ),
        fact("cluster token", x.cluster_token.clone()),
        fact(
            "deltas replayed",
            match &x.replay {
                Some(p) => replay(p),
                None => "none".into(),
            },
        ),
        fact("leader after restore", opt(&x.leader)),
    ]
}

/// Seed, snapshots and the disaster: what the drill put in and what it destroyed.
pub(super) fn data(r: &RunReport) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(s) = &r.seed {
        out.push(Section::new(
            "Seed",
            vec![Block::Facts(vec![
                fact(
                    "keys",
                    format!("{} × {} B ({} bytes)", s.keys, s.value_size, s.bytes),
                ),
                fact("transactions", s.transactions.to_string()),
                fact("duration", ms(Some(s.duration_ms))),
                fact(
                    "throughput",
                    format!("{:.0} keys/s, {:.1} MB/s", s.keys_per_sec, s.mb_per_sec),
                ),
                fact("revision after seeding", s.revision.to_string()),
            ])],
        ));
    }
    if !r.snapshots.is_empty() {
        let rows = r
            .snapshots
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.file.display().to_string(),
                    format!("{} bytes", s.size_bytes),
                    s.sha256.clone(),
                    s.revision.to_string(),
                    s.total_keys.to_string(),
                    format!(
                        "{} ({} ms, {:.1} MB/s)",
                        s.taken_at, s.duration_ms, s.mb_per_sec
                    ),
                    match (s.keyspace_sha256.is_empty(), &s.hashkv) {
                        (false, _) => format!(
                            "{} ({} keys at revision {})",
                            s.keyspace_sha256, s.keyspace_keys, s.revision
                        ),
                        (true, Some(_)) => "etcd's HashKV at its revision (see Integrity)".into(),
                        (true, None) => "-".into(),
                    },
                ]
            })
            .collect();
        let header = vec![
            "name",
            "file",
            "size",
            "sha256",
            "revision",
            "keys",
            "taken",
            "keyspace digest",
        ];
        out.push(Section::new("Snapshots", vec![Block::table(header, rows)]));
    }
    if let Some(d) = &r.disaster {
        out.push(Section::new(
            "Disaster",
            vec![Block::Facts(vec![
                fact("from", at(Some(d.started_ms))),
                fact("to", format!("{} ({})", at(Some(d.ended_ms)), d.ended_at)),
                fact("destroyed containers", d.destroyed_containers.join(", ")),
                fact("destroyed volumes", d.destroyed_volumes.join(", ")),
            ])],
        ));
    }
    out
}

pub(super) fn integrity(r: &RunReport) -> Option<Section> {
    let v = r.verification.as_ref()?;
    let mut f = Vec::new();
    if let Some(s) = &v.seed {
        let mut text = format!(
            "{} of {} intact ({} missing, {} with another value)",
            s.expected.saturating_sub(s.missing + s.wrong_value),
            s.expected,
            s.missing,
            s.wrong_value
        );
        if !s.examples.is_empty() {
            text.push_str(&format!("; e.g. {}", s.examples.join(", ")));
        }
        f.push(fact("seeded keys", text));
    }
    snapshot_facts(v, &mut f);
    if let Some(d) = &v.durability {
        let mut text = format!(
            "{} of {} acknowledged writes lost (not by a restore)",
            d.lost, d.checked
        );
        if !d.examples.is_empty() {
            text.push_str(&format!("; e.g. {}", d.examples.join(", ")));
        }
        f.push(fact("durability", text));
    }
    if let Some(k) = &v.keyspace {
        for (name, value) in super::contents::facts(r, k) {
            f.push(fact(&name, value));
        }
    }
    f.push(fact("HashKV", Cell::equal(v.hashkv_equal)));
    if let Some(d) = &v.divergence {
        f.push(fact("HashKV divergence", d.summary()));
        for e in d.examples.iter().skip(1) {
            f.push(fact("", e.clone()));
        }
    }
    f.push(fact(
        "verification",
        Cell::judged(v.passed, if v.passed { "passed" } else { "FAILED" }),
    ));
    let rows = v
        .hashkv
        .iter()
        .map(|h| {
            vec![
                h.member.clone(),
                format!("{:08x}", h.hash),
                h.revision.to_string(),
            ]
        })
        .collect();
    let table = Block::table(vec!["member", "HashKV", "revision"], rows);
    let mut blocks = vec![Block::Facts(f), table];
    if let Some(k) = &v.keyspace {
        let header = vec!["prefix", "keys", "keys and values", "share of keys"];
        blocks.push(Block::table(header, super::contents::rows(k)));
    }
    Some(Section::new("Integrity", blocks))
}

/// How the restored keyspace compares with the snapshot: its digest, or HashKV at its revision.
fn snapshot_facts(v: &crate::record::VerifyRecord, f: &mut Vec<(String, Cell)>) {
    if let Some(d) = &v.snapshot_digest {
        f.push(fact(
            &format!(
                "keyspace digest at revision {} (snapshot {})",
                d.revision, d.snapshot
            ),
            Cell::judged(
                d.equal,
                format!(
                    "{}: expected {} ({} keys), actual {} ({} keys)",
                    if d.equal { "equal" } else { "DIFFERS" },
                    d.expected_sha256,
                    d.expected_keys,
                    d.actual_sha256,
                    d.actual_keys
                ),
            ),
        ));
    }
    if let Some(h) = &v.snapshot_hashkv {
        let actual: Vec<String> = h
            .actual
            .iter()
            .map(|a| {
                format!(
                    "{} {:08x}{}",
                    a.member,
                    a.hash,
                    compacted(a.compact_revision)
                )
            })
            .collect();
        f.push(fact(
            &format!(
                "HashKV at revision {} (snapshot {})",
                h.revision, h.snapshot
            ),
            Cell::judged(
                h.equal,
                format!(
                    "{}: before the disaster {} {:08x}{}; restored {}{}",
                    if h.equal { "equal" } else { "DIFFERS" },
                    h.expected.member,
                    h.expected.hash,
                    compacted(h.expected.compact_revision),
                    actual.join(", "),
                    h.unreachable
                        .iter()
                        .map(|u| format!("; could not hash {u}"))
                        .collect::<String>()
                ),
            ),
        ));
    }
}
