//! Watch continuity: a watcher on the whole keyspace, running through the drill, must see every
//! revision once, in order: no gap, no duplicate, never backwards. A restore to an older
//! revision is not a crash: it is reported as what a client sees (the cluster's revision went
//! back, and the revisions between it and what the client had seen are never delivered).
//! The watching client is `workload::watcher`; this is the check of what it saw.

use crate::record::{Jump, RestoreView, WatchLog};

impl WatchLog {
    /// One event, in the order the stream delivered it.
    pub fn observe(&mut self, revision: i64, key: &[u8]) {
        self.events += 1;
        self.first_revision.get_or_insert(revision);
        let last = self.last_revision;
        if revision < last {
            self.backwards.push(Jump {
                from: last,
                to: revision,
            });
        } else if revision == last {
            if !self.keys_at_last.insert(key.to_vec()) {
                self.duplicates += 1;
            }
        } else {
            if last > 0 && revision > last + 1 {
                self.gaps.push(Jump {
                    from: last,
                    to: revision,
                });
            }
            self.last_revision = revision;
            self.keys_at_last.clear();
            self.keys_at_last.insert(key.to_vec());
        }
    }

    /// The watch resumed on a restored cluster whose revision is `cluster_revision`.
    pub fn observe_restore(&mut self, cluster_revision: i64) {
        if cluster_revision < self.last_revision {
            self.restores.push(RestoreView {
                last_seen: self.last_revision,
                cluster_revision,
                invisible_revisions: self.last_revision - cluster_revision,
            });
        }
    }

    pub fn passed(&self) -> bool {
        self.gaps.is_empty() && self.backwards.is_empty() && self.duplicates == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(events: &[(i64, &str)]) -> WatchLog {
        let mut l = WatchLog::default();
        for (r, k) in events {
            l.observe(*r, k.as_bytes());
        }
        l
    }

    #[test]
    fn a_clean_stream_with_transactions_passes() {
        let l = feed(&[(5, "a"), (6, "b"), (6, "c"), (7, "a")]);
        assert!(l.passed(), "{l:?}");
        assert_eq!(l.events, 4);
    }

    #[test]
    fn a_missing_revision_is_a_gap() {
        let l = feed(&[(5, "a"), (6, "b"), (8, "c")]);
        assert_eq!(l.gaps, vec![Jump { from: 6, to: 8 }]);
        assert!(!l.passed());
    }

    #[test]
    fn an_event_delivered_twice_is_a_duplicate() {
        let l = feed(&[(5, "a"), (6, "b"), (6, "b")]);
        assert_eq!(l.duplicates, 1);
        assert!(!l.passed());
    }

    #[test]
    fn going_back_is_caught() {
        let l = feed(&[(5, "a"), (6, "b"), (4, "c")]);
        assert_eq!(l.backwards, vec![Jump { from: 6, to: 4 }]);
        assert!(!l.passed());
    }

    #[test]
    fn a_restore_is_reported_not_failed() {
        let mut l = feed(&[(5, "a"), (6, "b"), (7, "c")]);
        l.observe_restore(4);
        assert_eq!(
            l.restores,
            vec![RestoreView {
                last_seen: 7,
                cluster_revision: 4,
                invisible_revisions: 3
            }]
        );
        l.observe(8, b"d");
        assert!(l.passed());
    }
}
