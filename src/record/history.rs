//! The recorded client history (`history.jsonl`, one line per operation or restore) and what
//! the linearizability check made of it. The workload writes the lines as operations return;
//! `checks::linearizable` reads them back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryLine {
    Op(HistoryOp),
    Restore(RestoreMark),
    Watch(WatchDelivery),
}

/// Events one watch response delivered, as the watching client received them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchDelivery {
    /// When the response arrived (µs since the run's start).
    pub at_us: u64,
    /// The member the watch was open on.
    pub member: u32,
    /// The cluster the watch was open on (see [`HistoryOp::epoch`]).
    pub epoch: u64,
    /// The watch stream: one more each time the watcher opens a watch (at the start, after a
    /// broken stream, on another member, after a restore).
    pub stream: u64,
    /// The revision the stream was opened (or resumed) from.
    pub from: i64,
    pub events: Vec<WatchEvent>,
}

/// One event: a put of `value` or (without one) a delete of `key` at `revision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    pub key: String,
    pub revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One client operation: who sent it where, when it was called and when it returned (µs since
/// the run's start), what it asked and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryOp {
    pub id: u64,
    /// The workload worker that sent it (a client, in Jepsen's terms).
    pub client: u32,
    /// The member it went to (index in the cluster's member list).
    pub member: u32,
    /// The cluster it was sent to: 0 at the start, one more after each restore.
    pub epoch: u64,
    pub call_us: u64,
    pub return_us: u64,
    pub request: Request,
    pub outcome: Outcome,
}

/// What an operation asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Request {
    Put {
        key: String,
        value: String,
        /// Attached to this lease: deleted when it is revoked or expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease: Option<i64>,
    },
    Get {
        key: String,
        serializable: bool,
    },
    Delete {
        key: String,
    },
    /// One page of a list, as an API server lists a resource: keys from `start` (inclusive) to
    /// `end` (exclusive), at most `limit`, at `revision` (0: the latest; later pages of one
    /// list pin the first page's revision).
    List {
        start: String,
        end: String,
        limit: i64,
        revision: i64,
    },
    /// A lease of `ttl` seconds: it expires unless kept alive or revoked first.
    LeaseGrant {
        ttl: i64,
    },
    /// One keep-alive of a lease: its TTL starts again.
    LeaseKeepAlive {
        lease: i64,
    },
    /// Revokes a lease: its keys are deleted at the revoke's revision.
    LeaseRevoke {
        lease: i64,
    },
    /// Kubernetes' optimistic-concurrency update: a transaction that puts `value` if the key's
    /// `mod_revision` is `expect` (0: the key does not exist), and reads the key otherwise.
    Update {
        key: String,
        expect: i64,
        value: String,
    },
}

impl Request {
    /// The key it works on ("" for the lease requests, which name no key).
    pub fn key(&self) -> &str {
        match self {
            Request::Put { key, .. }
            | Request::Get { key, .. }
            | Request::Delete { key }
            | Request::Update { key, .. } => key,
            Request::List { start, .. } => start,
            Request::LeaseGrant { .. }
            | Request::LeaseKeepAlive { .. }
            | Request::LeaseRevoke { .. } => "",
        }
    }

    /// The value this request writes, if it writes one.
    pub fn value(&self) -> Option<&str> {
        match self {
            Request::Put { value, .. } | Request::Update { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Outcome {
    /// A write took effect at `revision`: a put, a delete that deleted, an update whose compare
    /// held.
    Wrote { revision: i64 },
    /// What the key held at `revision` (the response's header): a get, a delete that found
    /// nothing, an update whose compare failed (its else-branch read). `mod_revision` 0: absent.
    Read {
        revision: i64,
        value: Option<String>,
        mod_revision: i64,
    },
    /// A page of a list at `revision`: each key with its value and mod_revision, in key order;
    /// `more` when keys remain after the last.
    Listed {
        revision: i64,
        kvs: Vec<ListedKv>,
        more: bool,
    },
    /// A lease granted, for `ttl` seconds (etcd may grant more than asked).
    Granted { lease: i64, ttl: i64 },
    /// A keep-alive's answer: the lease's TTL starts again at `ttl` seconds; 0: the lease had
    /// already expired (or was revoked).
    KeptAlive { ttl: i64 },
    /// Refused: it certainly did not take effect.
    Failed { error: String },
    /// Timed out or lost on the way: it may or may not have taken effect.
    Unknown { error: String },
}

/// One key of a listed page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedKv {
    pub key: String,
    pub value: String,
    pub mod_revision: i64,
}

/// A restore: from `at_us`, clients talk to a cluster restored from a snapshot at `revision`
/// cut in epoch `from_epoch`; its operations carry `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreMark {
    pub at_us: u64,
    pub epoch: u64,
    pub revision: i64,
    pub from_epoch: u64,
}

/// What the linearizability check decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum LinearizableOutcome {
    /// Every operation fits one order that respects real time and etcd's revisions.
    Linearizable,
    /// At least one set of operations cannot be ordered.
    Violated,
    /// Not decided (too long, or the history could not be read): never a pass.
    Unknown { why: String },
}

/// The linearizability check's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LinearizabilityRecord {
    #[serde(flatten)]
    pub outcome: LinearizableOutcome,
    /// Operations in the history.
    pub operations: u64,
    /// Operations that returned a result and were checked.
    pub checked: u64,
    /// Operations that may or may not have taken effect (timeouts): allowed either way.
    pub indeterminate: u64,
    /// Operations sent to one cluster and answered after a restore replaced it: not checked.
    pub across_restore: u64,
    /// Acknowledged writes a restore rolled back (after the restored snapshot's revision): the
    /// RPO, counted from the history.
    pub rolled_back: u64,
    /// The first of them (at most 20), in the order they were acknowledged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back_writes: Vec<ViolationOp>,
    /// How many violations were found in all.
    #[serde(default)]
    pub violations_found: u64,
    /// The first violations found (at most 20), each the smallest set of operations that
    /// cannot be ordered.
    pub violations: Vec<Violation>,
    /// What the watching client delivered, checked against the same order.
    #[serde(default)]
    pub watch: WatchHistoryRecord,
    /// The workload's leases, and the expiries the history shows.
    #[serde(default)]
    pub leases: LeaseHistoryRecord,
    pub elapsed_ms: u64,
}

/// The watch events of the history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchHistoryRecord {
    /// Watch streams opened (the first, and each resume from a revision).
    pub streams: u64,
    /// Events of the workload's keys delivered (the watch sees every key; the history keeps
    /// the workload's).
    pub events: u64,
    /// Events of keys the workload writes, each checked against the write at its revision.
    pub checked: u64,
}

/// The leases of the history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseHistoryRecord {
    pub granted: u64,
    /// Keep-alives answered with a TTL (the lease lived on).
    pub kept_alive: u64,
    /// Revokes acknowledged.
    pub revoked: u64,
    /// Leases whose expiry the history shows: a keep-alive answered that the lease was gone,
    /// a watch delivered the delete of a key of a lease nobody revoked, or such a key was read
    /// as gone after the lease's TTL.
    pub expired: u64,
}

/// Operations that cannot be ordered, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    /// stale-read, lost-write, duplicated-write, compare-and-swap, rolled-back-read,
    /// revoked-lease-key-read, real-time-order, unwritten-value, failed-write-took-effect,
    /// lease-expired-early, watch-wrong-event, watch-missed-event, watch-out-of-order,
    /// watch-before-write, watch-phantom-delete, watch-before-start.
    pub kind: String,
    pub key: String,
    pub why: String,
    /// The operations involved, as recorded (`history.jsonl` lines).
    pub ops: Vec<ViolationOp>,
}

/// One operation of a violation, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ViolationOp {
    /// The operation's id; for a watch delivery, its stream.
    pub id: u64,
    /// The worker that sent it; for a watch delivery, the member it was delivered from.
    pub client: u32,
    /// A watch delivery (called and returned: when it arrived), not a client's operation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watch: bool,
    pub call_us: u64,
    pub return_us: u64,
    /// The request and its outcome in one line.
    pub text: String,
}

impl LinearizabilityRecord {
    /// A check that could not be made.
    pub fn unknown(why: String) -> LinearizabilityRecord {
        LinearizabilityRecord {
            outcome: LinearizableOutcome::Unknown { why },
            operations: 0,
            checked: 0,
            indeterminate: 0,
            across_restore: 0,
            rolled_back: 0,
            rolled_back_writes: Vec::new(),
            violations_found: 0,
            violations: Vec::new(),
            watch: WatchHistoryRecord::default(),
            leases: LeaseHistoryRecord::default(),
            elapsed_ms: 0,
        }
    }

    /// The check in one line: the gate's "actual", the terminal summary.
    pub fn summary(&self) -> String {
        let head = match &self.outcome {
            LinearizableOutcome::Linearizable => "linearizable".to_string(),
            LinearizableOutcome::Violated => format!(
                "{} violation(s), first: {}",
                self.violations_found,
                self.violations
                    .first()
                    .map(|v| format!("{} on {}: {}", v.kind, v.key, v.why))
                    .unwrap_or_default()
            ),
            LinearizableOutcome::Unknown { why } => format!("unknown: {why}"),
        };
        let watch = if self.watch.streams > 0 {
            format!(
                ", {} watch event(s) checked of {} in {} stream(s)",
                self.watch.checked, self.watch.events, self.watch.streams
            )
        } else {
            String::new()
        };
        let l = &self.leases;
        let leases = if l.granted > 0 {
            format!(
                ", leases: {} granted, {} kept alive, {} revoked, {} seen to expire",
                l.granted, l.kept_alive, l.revoked, l.expired
            )
        } else {
            String::new()
        };
        format!(
            "{head}; {} operations ({} checked, {} indeterminate, {} across a restore), {} rolled back by a restore{watch}{leases}, in {} ms",
            self.operations,
            self.checked,
            self.indeterminate,
            self.across_restore,
            self.rolled_back,
            self.elapsed_ms
        )
    }
}
