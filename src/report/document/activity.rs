//! What ran beside the recovery: faults with their proof, upgrades, scheduled backups, the
//! workload.

use super::{at, fact, ms, opt, Block, Cell, Section};
use crate::record::{FaultRecord, RunReport, UpgradeRecord};

pub(super) fn fault(f: &FaultRecord) -> Section {
    let mut facts = vec![
        fact("fault", format!("{} {}", f.fault, f.target)),
        fact("members", f.members.join(", ")),
        fact(
            "injected",
            format!("{} ({})", at(Some(f.injected_ms)), f.injected_at),
        ),
        fact("healed", at(f.healed_ms)),
        fact("healthy again", at(f.recovered_ms)),
        fact(
            "leader",
            format!("{} → {}", opt(&f.leader_before), opt(&f.leader_after)),
        ),
        fact("new leader after", ms(f.new_leader_after_ms)),
        fact(
            "writes unavailable",
            format!(
                "{} ({} failed writes)",
                ms(f.unavailable_ms),
                f.failed_writes
            ),
        ),
        fact("acknowledged writes lost", opt(&f.lost_acknowledged_writes)),
        fact(
            "HashKV after recovery",
            f.hashkv_equal
                .map(Cell::equal)
                .unwrap_or_else(|| "-".into()),
        ),
    ];
    if let Some(d) = &f.divergence {
        facts.push(fact("HashKV divergence", d.summary()));
        for e in d.examples.iter().skip(1) {
            facts.push(fact("", e.clone()));
        }
    }
    if let Some(x) = &f.reaction {
        facts.push(fact("etcd's reaction", x.clone()));
    }
    facts.push(fact(
        "health samples",
        format!("{} (in report.json)", f.health.len()),
    ));
    let mut blocks = vec![Block::Facts(facts)];
    if !f.proof.is_empty() {
        blocks.push(Block::List(f.proof.clone()));
    }
    Section {
        title: format!("Fault {}", f.name),
        level: 3,
        blocks,
    }
}

/// A rolling upgrade: member by member, then the cluster as a whole.
pub(super) fn upgrade(u: &UpgradeRecord) -> Section {
    let facts = vec![
        fact(
            "from → to",
            format!("etcd {} → {} ({})", u.from, u.to, u.image),
        ),
        fact("cluster version after", opt(&u.cluster_version)),
        fact("HashKV after", Cell::equal(u.hashkv_equal)),
        fact(
            "acknowledged writes lost",
            match u.lost_acknowledged_writes {
                Some(n) => Cell::judged(n == 0, n.to_string()),
                None => "-".into(),
            },
        ),
    ];
    let rows = u
        .members
        .iter()
        .map(|m| {
            vec![
                format!(
                    "{}{}",
                    m.member,
                    if m.was_leader { " (leader)" } else { "" }
                ),
                at(Some(m.stopped_ms)),
                ms(Some(m.serving_ms.saturating_sub(m.stopped_ms))),
                m.version.clone(),
                opt(&m.leader_after),
                ms(m.unavailable_ms),
            ]
        })
        .collect();
    Section {
        title: format!("Upgrade to etcd {}", u.to),
        level: 2,
        blocks: vec![
            Block::Facts(facts),
            Block::table(
                vec![
                    "member (in order)",
                    "stopped at",
                    "down for",
                    "version after",
                    "leader after",
                    "writes unavailable",
                ],
                rows,
            ),
        ],
    }
}

pub(super) fn backups(r: &RunReport) -> Option<Section> {
    let b = r.backups.as_ref()?;
    let rows = b
        .taken
        .iter()
        .map(|x| {
            vec![
                x.name.clone(),
                format!("{} ({})", at(Some(x.taken_at_ms)), x.taken_at),
                x.revision.to_string(),
                format!("{} bytes", x.size_bytes),
                x.sha256.clone(),
                format!("{} ({} keys)", x.keyspace_sha256, x.keyspace_keys),
            ]
        })
        .collect();
    let header = vec![
        "backup",
        "taken",
        "revision",
        "size",
        "sha256",
        "keyspace digest",
    ];
    let mut notes: Vec<String> = b
        .failures
        .iter()
        .map(|(ms, why)| format!("failed at {}: {why}", at(Some(*ms))))
        .collect();
    notes.extend(
        b.deleted
            .iter()
            .map(|(name, rule)| format!("deleted {name} ({rule})")),
    );
    let mut blocks = vec![
        Block::Facts(vec![
            fact("store", b.store.clone()),
            fact("taken", b.taken.len().to_string()),
            fact("remaining in the store", b.remaining.join(", ")),
        ]),
        Block::table(header, rows),
    ];
    if !notes.is_empty() {
        blocks.push(Block::List(notes));
    }
    Some(Section::new("Scheduled backups", blocks))
}

pub(super) fn workload(r: &RunReport) -> Option<Section> {
    let w = r.workload.as_ref()?;
    let l = &w.log;
    let mut f = Vec::new();
    if let Some(c) = &w.config {
        f.push(fact(
            "config",
            format!(
                "{} ops/s, concurrency {}, mix put {} / linearizable get {} / serializable get {}, timeout {} ms",
                c.rate, c.concurrency, c.mix.put, c.mix.linearizable_get, c.mix.serializable_get,
                c.timeout.as_millis()
            ),
        ));
    }
    f.push(fact(
        "operations",
        format!("{} ({} writes acknowledged)", l.attempts, l.acknowledged),
    ));
    let failures: Vec<String> = l
        .failures
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    f.push(fact(
        "failures",
        if failures.is_empty() {
            "none".into()
        } else {
            failures.join(", ")
        },
    ));
    let windows: Vec<String> = l
        .unavailability
        .iter()
        .map(|x| {
            format!(
                "{} → {} ({} failed writes)",
                at(Some(x.from_ms)),
                at(x.to_ms),
                x.failed_writes
            )
        })
        .collect();
    f.push(fact(
        "writes unavailable",
        if windows.is_empty() {
            "never".into()
        } else {
            windows.join("; ")
        },
    ));
    f.push(fact(
        "revision regressions",
        l.revision_regressions.len().to_string(),
    ));
    let wl = &l.watch;
    f.push(fact(
        "watch continuity",
        format!(
            "{} events, {} gap(s), {} duplicate(s), {} backwards, {} reconnect(s), {} restore(s) seen",
            wl.events,
            wl.gaps.len(),
            wl.duplicates,
            wl.backwards.len(),
            wl.reconnects,
            wl.restores.len()
        ),
    ));
    let (header, rows) = phases_table(&w.phases);
    Some(Section::new(
        "Workload",
        vec![Block::Facts(f), Block::table(header, rows)],
    ))
}

/// The workload's phases (before, during, after the disaster and restore): operations,
/// errors, throughput and latencies.
fn phases_table(phases: &[crate::record::PhaseStats]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = phases
        .iter()
        .map(|p| {
            // Latencies are of the operations that succeeded: with none, there are none.
            let lat = |v: f64| {
                if p.count > p.errors {
                    format!("{v:.1}")
                } else {
                    "no successful operation".into()
                }
            };
            vec![
                p.name.clone(),
                format!("{} – {}", at(Some(p.from_ms)), at(Some(p.to_ms))),
                p.count.to_string(),
                p.errors.to_string(),
                format!("{:.0}", p.ops_per_sec),
                lat(p.p50_ms),
                lat(p.p90_ms),
                lat(p.p99_ms),
                lat(p.max_ms),
            ]
        })
        .collect();
    let header = vec![
        "phase", "window", "ops", "errors", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
    ];
    (header, rows)
}

/// The linearizability check: its verdict, the writes a restore rolled back, and each
/// violation as a timeline of the operations that cannot be ordered, per client.
pub(super) fn linearizability(r: &RunReport) -> Option<Section> {
    let l = r.workload.as_ref()?.log.linearizability.as_ref()?;
    let passed = l.outcome == crate::record::LinearizableOutcome::Linearizable;
    let mut blocks = vec![Block::Facts(vec![
        fact("verdict", Cell::judged(passed, l.summary())),
        fact(
            "history",
            "history.jsonl (one line per operation, restore and watch delivery)".to_string(),
        ),
    ])];
    if !l.rolled_back_writes.is_empty() {
        blocks.push(Block::List(vec![format!(
            "acknowledged writes the restore rolled back (the RPO, from the history): {}, the first {}:",
            l.rolled_back,
            l.rolled_back_writes.len()
        )]));
        blocks.push(operations_table(&l.rolled_back_writes));
    }
    for (n, v) in l.violations.iter().enumerate() {
        blocks.extend(violation(n, v, true));
    }
    Some(Section::new("Linearizability", blocks))
}

/// Violation `n` (from 0): what it is, the drawing (`drawn`), and its operations per client.
pub(super) fn violation(n: usize, v: &crate::record::Violation, drawn: bool) -> Vec<Block> {
    let mut ops = v.ops.clone();
    ops.sort_by_key(|o| (o.watch, o.client, o.call_us));
    let mut blocks = vec![Block::List(vec![format!(
        "violation {}: {} on {}: {}",
        n + 1,
        v.kind,
        v.key,
        v.why
    )])];
    if drawn {
        blocks.push(Block::Operations(ops.clone()));
    }
    blocks.push(operations_table(&ops));
    blocks
}

/// Recorded operations (and watch deliveries), a row each.
pub(super) fn operations_table(ops: &[crate::record::ViolationOp]) -> Block {
    let t = |us: u64| match us {
        u64::MAX => "never".to_string(),
        us => format!("{:.3} s", us as f64 / 1e6),
    };
    Block::table(
        vec!["client", "op", "called", "returned", "operation → outcome"],
        ops.iter()
            .map(|o| {
                vec![
                    if o.watch {
                        format!("watch (member {})", o.client)
                    } else {
                        o.client.to_string()
                    },
                    if o.watch {
                        format!("stream {}", o.id)
                    } else {
                        o.id.to_string()
                    },
                    t(o.call_us),
                    t(o.return_us),
                    o.text.clone(),
                ]
            })
            .collect(),
    )
}

/// An alert drill: every alert that fired, what it answered and how fast; what never fired.
pub(super) fn alerts(r: &RunReport) -> Option<Section> {
    let a = r.alerts.as_ref()?;
    let rows = a
        .alerts
        .iter()
        .map(|x| {
            vec![
                x.name.clone(),
                x.label_text(),
                x.after
                    .as_ref()
                    .map_or("steady state".to_string(), |i| i.what.clone()),
                at(Some(x.fired_ms)),
                ms(x.detect_ms),
                ms(x.notify_ms),
                x.resolved_ms
                    .map_or("still firing".to_string(), |t| at(Some(t))),
                ms(x.resolve_ms),
            ]
        })
        .collect();
    let header = vec![
        "alert",
        "labels",
        "answered",
        "fired",
        "time to detect",
        "time to notify",
        "resolved",
        "resolved after it was over",
    ];
    let mut blocks = vec![
        Block::Facts(vec![
            fact(
                "monitoring",
                format!(
                    "Prometheus {}, Alertmanager {}, scrape and evaluation every {} ms, watching from {}",
                    a.prometheus,
                    a.alertmanager,
                    a.scrape_interval_ms,
                    at(Some(a.watching_from_ms))
                ),
            ),
            fact("rule files", a.rules.join(", ")),
            fact("notifications received", a.notifications.to_string()),
            fact(
                "scrapes without an answer",
                match a.failed_scrapes.iter().filter(|(_, n)| **n > 0).count() {
                    0 => "none".to_string(),
                    _ => a
                        .failed_scrapes
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(i, n)| format!("{i} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            ),
        ]),
        Block::table(header, rows),
    ];
    let mut notes: Vec<String> = a
        .never_fired
        .iter()
        .map(|n| format!("{n}: expected but never fired"))
        .collect();
    notes.extend(a.steady_state().map(|x| {
        format!(
            "{} {}: fired in the steady state, before any fault",
            x.name,
            x.label_text()
        )
    }));
    if !notes.is_empty() {
        blocks.push(Block::List(notes));
    }
    Some(Section::new("Alerts", blocks))
}

/// A known-bug drill: the bug, whether this etcd carries it, and what the check found.
pub(super) fn known_bug(r: &RunReport) -> Option<Section> {
    let b = r.known_bug.as_ref()?;
    let mut facts = vec![
        fact(
            "bug",
            format!(
                "etcd#{} (https://github.com/etcd-io/etcd/issues/{})",
                b.issue, b.issue
            ),
        ),
        fact(
            "etcd",
            format!(
                "{}: {} (fixed in {})",
                b.etcd_version,
                if b.affected {
                    "carries the bug"
                } else {
                    "has the fix"
                },
                b.fixed_in.join(", ")
            ),
        ),
        fact("caught by", b.fails_with.clone()),
        fact(
            "result",
            format!("{}, {} violation(s)", b.outcome(), b.found),
        ),
    ];
    if let Some(v) = &b.first {
        facts.push(fact("first", format!("{} on {}: {}", v.kind, v.key, v.why)));
        for op in &v.ops {
            facts.push(fact("seen in", op.text.clone()));
        }
    }
    Some(Section::new("Known bug", vec![Block::Facts(facts)]))
}
