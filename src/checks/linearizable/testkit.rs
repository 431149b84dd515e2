//! A small history builder for the checker's tests, and the correct history they edit.

use super::check;
use crate::record::{
    HistoryLine, HistoryOp, LinearizabilityRecord, Outcome, Request, WatchDelivery,
};
use std::time::Duration;

/// A small history builder: operations with call/return in ms.
pub(super) struct H(pub(super) Vec<HistoryLine>);

impl H {
    pub(super) fn op(
        &mut self,
        client: u32,
        call: u64,
        ret: u64,
        request: Request,
        outcome: Outcome,
    ) -> &mut Self {
        self.op_in(0, client, call, ret, request, outcome)
    }
    pub(super) fn op_in(
        &mut self,
        epoch: u64,
        client: u32,
        call: u64,
        ret: u64,
        request: Request,
        outcome: Outcome,
    ) -> &mut Self {
        let id = self.0.len() as u64;
        self.0.push(HistoryLine::Op(HistoryOp {
            id,
            client,
            member: 0,
            epoch,
            call_us: call * 1000,
            return_us: ret * 1000,
            request,
            outcome,
        }));
        self
    }
    /// A watch delivery at `at` ms of (key, revision, value or a delete).
    pub(super) fn watch(
        &mut self,
        stream: u64,
        from: i64,
        at: u64,
        events: &[(&str, i64, Option<&str>)],
    ) -> &mut Self {
        self.0.push(HistoryLine::Watch(WatchDelivery {
            at_us: at * 1000,
            member: 0,
            epoch: 0,
            stream,
            from,
            events: events
                .iter()
                .map(|(k, r, v)| crate::record::WatchEvent {
                    key: k.to_string(),
                    revision: *r,
                    value: v.map(str::to_string),
                })
                .collect(),
        }));
        self
    }
    pub(super) fn check(&self) -> LinearizabilityRecord {
        check(self.0.clone(), Duration::from_secs(10))
    }
}

pub(super) fn put(k: &str, v: &str) -> Request {
    Request::Put {
        key: k.into(),
        value: v.into(),
        lease: None,
    }
}
pub(super) fn get(k: &str) -> Request {
    Request::Get {
        key: k.into(),
        serializable: false,
    }
}
pub(super) fn update(k: &str, expect: i64, v: &str) -> Request {
    Request::Update {
        key: k.into(),
        expect,
        value: v.into(),
    }
}
pub(super) fn wrote(revision: i64) -> Outcome {
    Outcome::Wrote { revision }
}
pub(super) fn read(revision: i64, v: Option<&str>, m: i64) -> Outcome {
    Outcome::Read {
        revision,
        value: v.map(str::to_string),
        mod_revision: m,
    }
}
pub(super) fn kinds(r: &LinearizabilityRecord) -> Vec<&str> {
    r.violations.iter().map(|v| v.kind.as_str()).collect()
}

/// Two clients, an object updated by compare-and-swap and read back: a correct history.
pub(super) fn clean() -> H {
    let mut h = H(Vec::new());
    h.op(0, 0, 10, put("/o", "a"), wrote(5))
        .op(1, 12, 20, get("/o"), read(5, Some("a"), 5))
        .op(0, 21, 30, update("/o", 5, "b"), wrote(6))
        .op(1, 22, 35, get("/o"), read(6, Some("b"), 6))
        .op(1, 36, 40, update("/o", 5, "c"), read(6, Some("b"), 6))
        .op(0, 41, 50, Request::Delete { key: "/o".into() }, wrote(7))
        .op(1, 51, 55, get("/o"), read(7, None, 0));
    h
}
