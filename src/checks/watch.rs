//! Watch continuity: a watcher on the whole keyspace, running through the drill, must see every
//! revision once, in order: no gap, no duplicate, never backwards. A restore to an older
//! revision is not a crash: it is reported as what a client sees (the cluster's revision went
//! back, and the revisions between it and what the client had seen are never delivered).
//! The watching client is `workload::watcher`; this is the check of what it saw.

use crate::record::{Jump, RestoreView, StreamOrder, WatchLog};

/// Where an event stands in the order of the stream that delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The stream's first event, or the revision after the last.
    Next,
    /// A later revision, with revisions between it and the last one never delivered.
    Skipped { from: i64 },
    /// Another key of the last revision (a transaction's).
    Same,
    /// A key of the last revision delivered again.
    Repeated,
    /// A revision below the last one.
    Back { from: i64 },
}

impl StreamOrder {
    /// Places one event, in the order the stream delivered it. The one observation the online
    /// continuity check and the history's watch pass share.
    pub fn place(&mut self, revision: i64, key: &[u8]) -> Placed {
        let last = self.last;
        if revision < last {
            Placed::Back { from: last }
        } else if revision == last {
            match self.keys_at_last.insert(key.to_vec()) {
                true => Placed::Same,
                false => Placed::Repeated,
            }
        } else {
            self.last = revision;
            self.keys_at_last.clear();
            self.keys_at_last.insert(key.to_vec());
            match last > 0 && revision > last + 1 {
                true => Placed::Skipped { from: last },
                false => Placed::Next,
            }
        }
    }

    /// The highest revision the stream delivered (0 before its first event).
    pub fn last(&self) -> i64 {
        self.last
    }
}

impl WatchLog {
    /// One event, in the order the stream delivered it.
    pub fn observe(&mut self, revision: i64, key: &[u8]) {
        self.events += 1;
        self.first_revision.get_or_insert(revision);
        match self.order.place(revision, key) {
            Placed::Back { from } => self.backwards.push(Jump { from, to: revision }),
            Placed::Repeated => self.duplicates += 1,
            Placed::Skipped { from } => self.gaps.push(Jump { from, to: revision }),
            Placed::Next | Placed::Same => {}
        }
        self.last_revision = self.order.last();
    }

    /// The watch resumed on a restored cluster whose revision is `cluster_revision`.
    pub fn observe_restore(&mut self, cluster_revision: i64) {
        self.restores.push(RestoreView {
            last_seen: self.last_revision,
            cluster_revision,
            invisible_revisions: (self.last_revision - cluster_revision).max(0),
            compacted: None,
        });
    }

    /// The watch was told its start revision was compacted: the client re-lists and watches on
    /// from `revision`. Right after a restore, or where the workload itself compacts, that is
    /// the procedure working; otherwise the events in between were lost to it, a gap.
    pub fn observe_compaction(&mut self, revision: i64, after_restore: bool) {
        self.compacted.push(revision);
        if let Some(view) = self.restores.last_mut().filter(|_| after_restore) {
            view.compacted = Some(revision);
        } else if self.compactions_expected {
            // Re-listed: what the watcher missed is the compaction's, which the drill made.
        } else if revision > self.last_revision + 1 && self.last_revision > 0 {
            self.gaps.push(Jump {
                from: self.last_revision,
                to: revision,
            });
        }
        // Continuity starts over from what the re-list saw.
        self.last_revision = 0;
        self.order = StreamOrder::default();
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
    fn a_compaction_the_workload_made_is_a_re_list_not_a_gap() {
        let mut l = feed(&[(5, "a"), (6, "b")]);
        l.compactions_expected = true;
        l.observe_compaction(9, false);
        l.observe(10, b"c");
        assert!(l.passed(), "{l:?}");
        assert_eq!(l.compacted, [9]);
        // Without the workload's compactions the same notice is a gap.
        let mut l = feed(&[(5, "a"), (6, "b")]);
        l.observe_compaction(9, false);
        assert!(!l.passed(), "{l:?}");
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
                invisible_revisions: 3,
                compacted: None,
            }]
        );
        assert!(l.restores[0].misses_silently());
        l.observe(8, b"d");
        assert!(l.passed());
    }

    #[test]
    fn a_bumped_and_compacted_restore_tells_the_watcher_and_continuity_restarts() {
        let mut l = feed(&[(5, "a"), (6, "b"), (7, "c")]);
        l.observe_restore(1_000_004);
        l.observe_compaction(1_000_004, true);
        l.observe(1_000_005, b"d");
        l.observe(1_000_006, b"e");
        assert!(!l.restores[0].misses_silently(), "{:?}", l.restores);
        assert!(l.passed(), "{l:?}");
    }

    #[test]
    fn a_compaction_outside_a_restore_is_a_gap() {
        let mut l = feed(&[(5, "a"), (6, "b")]);
        l.observe_compaction(9, false);
        assert_eq!(l.gaps, vec![Jump { from: 6, to: 9 }]);
        assert!(!l.passed());
    }
}
