//! The linearizability checker's cost on a long history: `cargo bench --bench linearizability`
//! writes a 5-minute history at 500 operations/s (150,000 operations, Kubernetes-shaped: 8
//! clients, compare-and-swap updates, reads and deletes of 16 objects, puts, with overlapping
//! calls and some timeouts; and every write delivered by a watch), then times reading it alone
//! (the floor: what any checker pays) and the whole check, and prints both with this process's
//! peak RSS.
//! `--minutes N --rate R` change the size.

use etcd_drill::checks::linearizable::{check_file, read};
use etcd_drill::record::{
    HistoryLine, HistoryOp, LinearizableOutcome, Outcome, Request, WatchDelivery, WatchEvent,
};
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::time::{Duration, Instant};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// A valid history: each operation takes effect at a point inside its interval, in the order
/// of those points, against a model of etcd's key-value store with revisions.
fn generate(path: &std::path::Path, ops: u64, rate: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let step_us = 1_000_000 / rate;
    // (point, call, return, client, kind, key)
    let mut planned: Vec<(u64, u64, u64, u32, u8, u32)> = (0..ops)
        .map(|i| {
            let call = i * step_us + rng.random_range(0..step_us);
            let latency = rng.random_range(500..8_000);
            let point = call + rng.random_range(0..latency);
            let kind = rng.random_range(0..14u8);
            (
                point,
                call,
                call + latency,
                (i % 8) as u32,
                kind,
                rng.random_range(0..16),
            )
        })
        .collect();
    planned.sort();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("history file"));
    let mut rev = 1i64;
    let mut objects: Vec<Option<(String, i64)>> = vec![None; 16];
    let mut seq = 0u64;
    for (id, (point, call, ret, client, kind, obj)) in planned.into_iter().enumerate() {
        let key = format!("/drill/objects/{obj:03}");
        let (request, mut outcome) = match kind {
            0..=1 => {
                seq += 1;
                rev += 1;
                (
                    Request::Put {
                        key: format!("/drill/workload/{seq:012}"),
                        value: seq.to_string(),
                        lease: None,
                    },
                    Outcome::Wrote { revision: rev },
                )
            }
            2..=6 => {
                let value = format!("w{client}-{id}");
                let expect = objects[obj as usize].as_ref().map(|(_, m)| *m).unwrap_or(0);
                // Half the updates expect what the key holds; the others are stale and fail.
                let expect = if id % 2 == 0 {
                    expect
                } else {
                    expect.saturating_sub(1)
                };
                let current = objects[obj as usize].as_ref().map(|(_, m)| *m).unwrap_or(0);
                if expect == current {
                    rev += 1;
                    objects[obj as usize] = Some((value.clone(), rev));
                    (
                        Request::Update { key, expect, value },
                        Outcome::Wrote { revision: rev },
                    )
                } else {
                    let held = objects[obj as usize].clone();
                    (
                        Request::Update { key, expect, value },
                        Outcome::Read {
                            revision: rev,
                            value: held.as_ref().map(|(v, _)| v.clone()),
                            mod_revision: held.map(|(_, m)| m).unwrap_or(0),
                        },
                    )
                }
            }
            7 => {
                let held = objects[obj as usize].take();
                match held {
                    Some(_) => {
                        rev += 1;
                        (Request::Delete { key }, Outcome::Wrote { revision: rev })
                    }
                    None => (
                        Request::Delete { key },
                        Outcome::Read {
                            revision: rev,
                            value: None,
                            mod_revision: 0,
                        },
                    ),
                }
            }
            _ => {
                let held = objects[obj as usize].clone();
                (
                    Request::Get {
                        key,
                        serializable: kind == 13,
                    },
                    Outcome::Read {
                        revision: rev,
                        value: held.as_ref().map(|(v, _)| v.clone()),
                        mod_revision: held.map(|(_, m)| m).unwrap_or(0),
                    },
                )
            }
        };
        // The watch delivers each write (a timed-out one too) a millisecond after it took
        // effect.
        let event = match &outcome {
            Outcome::Wrote { revision } => Some(WatchEvent {
                key: request.key().to_string(),
                revision: *revision,
                value: request.value().map(str::to_string),
            }),
            _ => None,
        };
        // One in 500 times out: the client never learns the result.
        if id % 500 == 499 {
            outcome = Outcome::Unknown {
                error: "timeout".into(),
            };
        }
        let line = HistoryLine::Op(HistoryOp {
            id: id as u64,
            client,
            member: client % 3,
            epoch: 0,
            call_us: call,
            return_us: ret,
            request,
            outcome,
        });
        serde_json::to_writer(&mut out, &line).expect("write");
        out.write_all(b"\n").expect("write");
        if let Some(e) = event {
            let delivery = HistoryLine::Watch(WatchDelivery {
                at_us: point + 1000,
                member: 0,
                epoch: 0,
                stream: 1,
                from: 1,
                events: vec![e],
            });
            serde_json::to_writer(&mut out, &delivery).expect("write");
            out.write_all(b"\n").expect("write");
        }
    }
    out.flush().expect("flush");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (minutes, rate) = (arg("--minutes", 5), arg("--rate", 500));
    let ops = minutes * 60 * rate;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.jsonl");
    generate(&path, ops, rate);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = peak_rss_mib();

    let t = Instant::now();
    let lines = read(&path).expect("read");
    let parse = t.elapsed();
    let parsed = lines
        .iter()
        .filter(|l| matches!(l, HistoryLine::Op(_)))
        .count();
    drop(lines);
    let after_parse = peak_rss_mib();

    let t = Instant::now();
    let r = check_file(&path, Duration::from_secs(600));
    let whole = t.elapsed();
    let after_check = peak_rss_mib();
    assert_eq!(
        r.outcome,
        LinearizableOutcome::Linearizable,
        "the generated history is valid: {:?}",
        r.violations.first()
    );
    println!(
        "history: {minutes} min at {rate} ops/s = {parsed} operations, {:.1} MB on disk",
        size as f64 / 1e6
    );
    println!("{:<36} {:>10} {:>16}", "", "time", "peak RSS (MiB)");
    println!(
        "{:<36} {:>8} ms {:>16.1}",
        "read the history (the floor)",
        parse.as_millis(),
        after_parse.max(before)
    );
    println!(
        "{:<36} {:>8} ms {:>16.1}",
        "read and check (linearizability)",
        whole.as_millis(),
        after_check
    );
    println!(
        "check alone: {} ms; {} operations checked, {} indeterminate, {} watch events checked",
        whole.saturating_sub(parse).as_millis(),
        r.checked,
        r.indeterminate,
        r.watch.checked
    );
}
