//! Violations described for a reader: each operation, or watch delivery, as a line of the
//! violation's timeline.

use crate::record::{HistoryOp, Outcome, Request, ViolationOp, WatchDelivery, WatchEvent};

/// A watch delivery as a line of a violation's timeline.
pub(super) fn describe_watch(d: &WatchDelivery, what: &str) -> ViolationOp {
    ViolationOp {
        id: d.stream,
        client: d.member,
        watch: true,
        call_us: d.at_us,
        return_us: d.at_us,
        text: format!(
            "watch stream {} (from revision {}) delivered {what}",
            d.stream, d.from
        ),
    }
}

pub(super) fn event_text(e: &WatchEvent) -> String {
    match &e.value {
        Some(v) => format!("put {} = {v:?} at revision {}", e.key, e.revision),
        None => format!("delete {} at revision {}", e.key, e.revision),
    }
}

pub(super) fn describe(o: &HistoryOp) -> ViolationOp {
    let req = match &o.request {
        Request::Put {
            key,
            value,
            lease: None,
        } => format!("put {key} = {value:?}"),
        Request::Put {
            key,
            value,
            lease: Some(l),
        } => format!("put {key} = {value:?} with lease {l:x}"),
        Request::List {
            start,
            end,
            limit,
            revision,
        } => format!("list [{start}, {end}) limit {limit} at revision {revision}"),
        Request::LeaseGrant { ttl } => format!("grant a lease of {ttl} s"),
        Request::LeaseRevoke { lease } => format!("revoke lease {lease:x}"),
        Request::LeaseKeepAlive { lease } => format!("keep lease {lease:x} alive"),
        Request::Get { key, serializable } => {
            format!(
                "get {key}{}",
                if *serializable { " (serializable)" } else { "" }
            )
        }
        Request::Delete { key } => format!("delete {key}"),
        Request::Update { key, expect, value } => {
            format!("update {key} = {value:?} if mod_revision {expect}")
        }
    };
    let out = match &o.outcome {
        Outcome::Wrote { revision } => format!("wrote at revision {revision}"),
        Outcome::Read {
            revision,
            value: Some(v),
            mod_revision,
        } => format!("read {v:?} (mod_revision {mod_revision}) at revision {revision}"),
        Outcome::Read { revision, .. } => format!("read nothing at revision {revision}"),
        Outcome::Listed {
            revision,
            kvs,
            more,
        } => format!(
            "listed {} key(s) at revision {revision}{}",
            kvs.len(),
            if *more { ", more" } else { "" }
        ),
        Outcome::Granted { lease, ttl } => format!("granted lease {lease:x} for {ttl} s"),
        Outcome::KeptAlive { ttl: 0 } => "the lease was gone".to_string(),
        Outcome::KeptAlive { ttl } => format!("kept alive for {ttl} s"),
        Outcome::Failed { error } => format!("failed: {error}"),
        Outcome::Unknown { error } => format!("unknown: {error}"),
    };
    ViolationOp {
        id: o.id,
        client: o.client,
        watch: false,
        call_us: o.call_us,
        return_us: o.return_us,
        text: format!("{req} → {out}"),
    }
}
