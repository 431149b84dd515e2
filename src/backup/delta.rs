//! Incremental backups: a delta holds every change to the keyspace between two revisions, as
//! etcd's watch delivered them (puts and deletes, in revision order), written as a file of JSON
//! lines: a header naming the full it extends and its first and last revision, then one line
//! per event. Restoring a chain restores the full with etcdutl, then replays each delta's
//! revisions in order, one transaction per revision, so the restored cluster reaches the same
//! revisions with the same keyspace. Leases are not carried (as in gardener's
//! etcd-backup-restore): a replayed key is written without its lease.
//!
//! Nothing holds a whole delta in memory: cutting streams events to disk, checking and replay
//! read one revision at a time.

use crate::cluster::{within, ClusterError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use etcd_client::{Client, EventType, Txn, TxnOp, WatchOptions};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FORMAT: &str = "etcd-drill delta 1";

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {what}")]
    Malformed {
        path: PathBuf,
        line: u64,
        what: String,
    },
    #[error(transparent)]
    Etcd(#[from] ClusterError),
    #[error("watch from revision {from}: {why}")]
    Watch { from: i64, why: String },
    #[error("cannot replay revision {rev}: {why}")]
    Replay { rev: i64, why: String },
}

/// The first line of a delta file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    /// The full backup this delta extends (directly or through earlier deltas).
    pub base: String,
    pub first: i64,
    pub last: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Put,
    Delete,
}

/// One event: base64 key and value (etcd's keys and values are bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub rev: i64,
    pub op: Op,
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

impl Event {
    pub fn new(rev: i64, op: Op, key: &[u8], value: &[u8]) -> Event {
        Event {
            rev,
            op,
            key: B64.encode(key),
            value: if value.is_empty() {
                String::new()
            } else {
                B64.encode(value)
            },
        }
    }

    fn txn_op(&self) -> Result<TxnOp, String> {
        let key = B64.decode(&self.key).map_err(|e| format!("key: {e}"))?;
        Ok(match self.op {
            Op::Put => TxnOp::put(
                key,
                B64.decode(&self.value).map_err(|e| format!("value: {e}"))?,
                None,
            ),
            Op::Delete => TxnOp::delete(key, None),
        })
    }
}

/// Writes a delta file line by line.
pub struct Writer {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    pub events: u64,
    last: i64,
}

impl Writer {
    pub fn create(path: &Path, header: &Header) -> Result<Writer, DeltaError> {
        let io = |source| DeltaError::Io {
            path: path.into(),
            source,
        };
        let mut out = BufWriter::new(std::fs::File::create(path).map_err(io)?);
        serde_json::to_writer(&mut out, header).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        Ok(Writer {
            path: path.into(),
            out,
            events: 0,
            last: header.first - 1,
        })
    }

    pub fn push(&mut self, e: &Event) -> Result<(), DeltaError> {
        let io = |source| DeltaError::Io {
            path: self.path.clone(),
            source,
        };
        serde_json::to_writer(&mut self.out, e).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        self.events += 1;
        self.last = e.rev;
        Ok(())
    }

    pub fn finish(mut self) -> Result<u64, DeltaError> {
        self.out.flush().map_err(|source| DeltaError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.events)
    }
}

/// Reads a delta file one revision at a time, checking its shape as it goes: the header, events
/// in revision order within [first, last], and a last event at `last`.
pub struct Reader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    pub header: Header,
    line: u64,
    pending: Option<Event>,
    seen_last: i64,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, DeltaError> {
        let file = std::fs::File::open(path).map_err(|source| DeltaError::Io {
            path: path.into(),
            source,
        })?;
        let mut lines = BufReader::new(file).lines();
        let bad = |what: String| DeltaError::Malformed {
            path: path.into(),
            line: 1,
            what,
        };
        let first = lines
            .next()
            .ok_or_else(|| bad("empty file".into()))?
            .map_err(|source| DeltaError::Io {
                path: path.into(),
                source,
            })?;
        let header: Header = serde_json::from_str(&first).map_err(|e| bad(e.to_string()))?;
        if header.format != FORMAT || header.last < header.first {
            return Err(bad(format!(
                "expected an {FORMAT:?} header with first ≤ last, found {first}"
            )));
        }
        Ok(Reader {
            path: path.into(),
            lines,
            seen_last: header.first - 1,
            header,
            line: 1,
            pending: None,
        })
    }

    fn event(&mut self) -> Result<Option<Event>, DeltaError> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(e));
        }
        let Some(line) = self.lines.next() else {
            if self.seen_last != self.header.last {
                return Err(self.malformed(format!(
                    "ends at revision {}, its header says {}",
                    self.seen_last, self.header.last
                )));
            }
            return Ok(None);
        };
        self.line += 1;
        let line = line.map_err(|source| DeltaError::Io {
            path: self.path.clone(),
            source,
        })?;
        let e: Event = serde_json::from_str(&line).map_err(|e| self.malformed(e.to_string()))?;
        if e.rev < self.seen_last || e.rev < self.header.first || e.rev > self.header.last {
            return Err(self.malformed(format!(
                "revision {} out of order (after {}, within {}..={})",
                e.rev, self.seen_last, self.header.first, self.header.last
            )));
        }
        self.seen_last = e.rev;
        Ok(Some(e))
    }

    fn malformed(&self, what: String) -> DeltaError {
        DeltaError::Malformed {
            path: self.path.clone(),
            line: self.line,
            what,
        }
    }

    /// The events of the next revision, or `None` at the end.
    pub fn next_revision(&mut self) -> Result<Option<(i64, Vec<Event>)>, DeltaError> {
        let Some(first) = self.event()? else {
            return Ok(None);
        };
        let rev = first.rev;
        let mut group = vec![first];
        while let Some(e) = self.event()? {
            if e.rev != rev {
                self.pending = Some(e);
                break;
            }
            group.push(e);
        }
        Ok(Some((rev, group)))
    }

    /// Reads the whole file through, checking it; returns (revisions, events).
    pub fn check(mut self) -> Result<(u64, u64), DeltaError> {
        let (mut revisions, mut events) = (0, 0);
        while let Some((_, g)) = self.next_revision()? {
            revisions += 1;
            events += g.len() as u64;
        }
        Ok((revisions, events))
    }
}

/// Every change in `(after, upto]`, from etcd's watch, written to `out`. `upto` is a revision
/// the cluster has reached (every revision above 1 holds at least one event, so the watch
/// delivers one at `upto`).
pub async fn cut(
    client: &Client,
    after: i64,
    upto: i64,
    out: &mut Writer,
    deadline: Duration,
) -> Result<(), DeltaError> {
    let watch_err = |why: String| DeltaError::Watch {
        from: after + 1,
        why,
    };
    let mut c = client.clone();
    let options = WatchOptions::new()
        .with_all_keys()
        .with_start_revision(after + 1);
    let read = async {
        let mut stream = c
            .watch(vec![0u8], Some(options))
            .await
            .map_err(|e| watch_err(e.to_string()))?;
        loop {
            let Some(resp) = stream
                .message()
                .await
                .map_err(|e| watch_err(e.to_string()))?
            else {
                return Err(watch_err("the watch ended".into()));
            };
            if resp.canceled() || resp.compact_revision() > 0 {
                return Err(watch_err(format!(
                    "canceled (compacted at {}): {}",
                    resp.compact_revision(),
                    resp.cancel_reason()
                )));
            }
            let mut reached = false;
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let rev = kv.mod_revision();
                if rev > upto {
                    reached = true;
                    break;
                }
                let op = match ev.event_type() {
                    EventType::Put => Op::Put,
                    EventType::Delete => Op::Delete,
                };
                let value = if op == Op::Put { kv.value() } else { &[] };
                out.push(&Event::new(rev, op, kv.key(), value))?;
                reached |= rev == upto;
            }
            if reached {
                return Ok(());
            }
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| watch_err(format!("no event at {upto} within {deadline:?}")))?
}

/// The cluster's current revision (a linearizable read).
pub async fn current_revision(client: &Client) -> Result<i64, ClusterError> {
    let mut c = client.clone();
    let r = within(
        "get",
        "the cluster",
        Duration::from_secs(5),
        c.get("/drill/probe/delta", None),
    )
    .await?;
    Ok(r.header().map(|h| h.revision()).unwrap_or(0))
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replayed {
    pub revisions: u64,
    pub events: u64,
    /// The restored cluster's revision after the last transaction.
    pub reached: i64,
}

/// Replays a checked delta file: one transaction per revision, in order, and none after
/// `until` (a point in time).
pub async fn replay(
    client: &Client,
    path: &Path,
    until: Option<i64>,
    done: &std::sync::atomic::AtomicU64,
) -> Result<Replayed, DeltaError> {
    let mut reader = Reader::open(path)?;
    let mut out = Replayed::default();
    // Reading a line is quick and the file is local: reading between awaits keeps memory to
    // one revision without a blocking thread.
    while let Some((rev, group)) = reader.next_revision()? {
        if until.is_some_and(|u| rev > u) {
            break;
        }
        let ops = group
            .iter()
            .map(Event::txn_op)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|what| reader.malformed(format!("revision {rev}: {what}")))?;
        let ops = match ops.len() > MAX_TXN_OPS {
            false => ops,
            true => vec![one_range(client, rev, &group).await?],
        };
        let mut c = client.clone();
        let r = within(
            "txn",
            "the restored cluster",
            Duration::from_secs(10),
            c.txn(Txn::new().and_then(ops)),
        )
        .await?;
        out.reached = r.header().map(|h| h.revision()).unwrap_or(out.reached);
        out.revisions += 1;
        out.events += group.len() as u64;
        done.fetch_add(group.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(out)
}

/// etcd's default `--max-txn-ops`: a revision is replayed as one transaction of at most this
/// many operations.
const MAX_TXN_OPS: usize = 128;

/// A revision of more events than one transaction takes: one `DeleteRange` made them (a
/// prefix deleted, as an operator's mistake or a namespace's removal does), and one over the
/// same keys replays it, exactly when the restored cluster holds those keys and no other
/// between the first and the last. Anything else cannot be replayed as one revision, and is
/// said.
async fn one_range(client: &Client, rev: i64, group: &[Event]) -> Result<TxnOp, DeltaError> {
    let too_many = |why: &str| DeltaError::Replay {
        rev,
        why: format!(
            "{} events, over etcd's {MAX_TXN_OPS} operations per transaction, and {why}",
            group.len()
        ),
    };
    if group.iter().any(|e| e.op != Op::Delete) {
        return Err(too_many("not all of them deletions"));
    }
    let mut keys = group
        .iter()
        .map(|e| B64.decode(&e.key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| too_many("a key is not base64"))?;
    keys.sort();
    keys.dedup();
    let (first, last) = (keys[0].clone(), keys[keys.len() - 1].clone());
    let mut end = last;
    end.push(0);
    let mut c = client.clone();
    let held = within(
        "count",
        "the restored cluster",
        Duration::from_secs(10),
        c.get(
            first.clone(),
            Some(
                etcd_client::GetOptions::new()
                    .with_range(end.clone())
                    .with_count_only(),
            ),
        ),
    )
    .await?
    .count();
    if held != keys.len() as i64 {
        return Err(too_many(&format!(
            "the restored cluster holds {held} keys where it deleted {}, not one range",
            keys.len()
        )));
    }
    Ok(TxnOp::delete(
        first,
        Some(etcd_client::DeleteOptions::new().with_range(end)),
    ))
}

/// A link of a chain as recorded: its name, revisions, and whether the store still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link<'a> {
    pub name: &'a str,
    pub first: i64,
    pub last: i64,
    pub held: bool,
}

/// The deltas of a chain that can be replayed after a full at `full_revision`: the longest run
/// of consecutive links (each starting one revision after the previous ended) that the store
/// holds, and why the chain stops before its end (a missing file, a gap). `links` in any order.
pub fn usable<'a>(full_revision: i64, links: &[Link<'a>]) -> (Vec<Link<'a>>, Option<String>) {
    let mut sorted = links.to_vec();
    sorted.sort_by_key(|l| l.first);
    let mut next = full_revision + 1;
    let mut kept = Vec::new();
    for l in sorted {
        if l.first != next {
            return (
                kept,
                Some(format!(
                    "gap: revisions {next}..{} are in no delta ({} starts at {})",
                    l.first - 1,
                    l.name,
                    l.first
                )),
            );
        }
        if !l.held {
            return (kept, Some(format!("{} is missing from the store", l.name)));
        }
        next = l.last + 1;
        kept.push(l);
    }
    (kept, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(first: i64, last: i64) -> Header {
        Header {
            format: FORMAT.into(),
            base: "etcd-full.db".into(),
            first,
            last,
        }
    }

    #[test]
    fn a_delta_reads_back_one_revision_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.delta");
        let mut w = Writer::create(&path, &header(11, 13)).unwrap();
        w.push(&Event::new(11, Op::Put, b"/a", b"1")).unwrap();
        w.push(&Event::new(11, Op::Put, b"/b", &[0, 255])).unwrap();
        w.push(&Event::new(12, Op::Delete, b"/a", b"")).unwrap();
        w.push(&Event::new(13, Op::Put, b"/c", b"")).unwrap();
        assert_eq!(w.finish().unwrap(), 4);
        let mut r = Reader::open(&path).unwrap();
        assert_eq!(r.header, header(11, 13));
        let (rev, g) = r.next_revision().unwrap().unwrap();
        assert_eq!((rev, g.len()), (11, 2));
        assert_eq!(B64.decode(&g[1].value).unwrap(), vec![0, 255]);
        let (rev, g) = r.next_revision().unwrap().unwrap();
        assert_eq!((rev, g[0].op.clone()), (12, Op::Delete));
        assert_eq!(r.next_revision().unwrap().unwrap().0, 13);
        assert!(r.next_revision().unwrap().is_none());
        assert_eq!(Reader::open(&path).unwrap().check().unwrap(), (3, 4));
    }

    #[test]
    fn a_delta_cut_short_or_out_of_order_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short.delta");
        let mut w = Writer::create(&short, &header(11, 20)).unwrap();
        w.push(&Event::new(11, Op::Put, b"/a", b"1")).unwrap();
        w.finish().unwrap();
        let e = Reader::open(&short).unwrap().check().unwrap_err();
        assert!(e.to_string().contains("ends at revision 11"), "{e}");

        let backwards = dir.path().join("backwards.delta");
        let mut w = Writer::create(&backwards, &header(11, 12)).unwrap();
        w.push(&Event::new(12, Op::Put, b"/a", b"1")).unwrap();
        w.push(&Event::new(11, Op::Put, b"/b", b"1")).unwrap();
        w.finish().unwrap();
        let e = Reader::open(&backwards).unwrap().check().unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");

        let garbage = dir.path().join("garbage.delta");
        std::fs::write(&garbage, "not json\n").unwrap();
        assert!(Reader::open(&garbage).is_err());
    }

    fn link(name: &str, first: i64, last: i64, held: bool) -> Link<'_> {
        Link {
            name,
            first,
            last,
            held,
        }
    }

    #[test]
    fn a_chain_stops_at_a_missing_link_or_a_gap() {
        let all = [
            link("d3", 31, 40, true),
            link("d1", 11, 20, true),
            link("d2", 21, 30, true),
        ];
        let (kept, stop) = usable(10, &all);
        assert_eq!(
            kept.iter().map(|l| l.name).collect::<Vec<_>>(),
            ["d1", "d2", "d3"]
        );
        assert!(stop.is_none());

        let missing = [all[0].clone(), all[1].clone(), link("d2", 21, 30, false)];
        let (kept, stop) = usable(10, &missing);
        assert_eq!(kept.iter().map(|l| l.name).collect::<Vec<_>>(), ["d1"]);
        assert!(stop.unwrap().contains("d2 is missing"));

        let gap = [all[0].clone(), all[1].clone()];
        let (kept, stop) = usable(10, &gap);
        assert_eq!(kept.len(), 1);
        assert!(stop.unwrap().contains("revisions 21..30"), "gap");

        // A chain whose first delta does not start right after the full replays nothing.
        let (kept, stop) = usable(5, &all);
        assert!(kept.is_empty() && stop.is_some());
    }
}
