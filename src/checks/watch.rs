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
        self.restores.push(RestoreView {
            last_seen: self.last_revision,
            cluster_revision,
            invisible_revisions: (self.last_revision - cluster_revision).max(0),
            compacted: None,
        });
    }

    /// The watch was told its start revision was compacted: the client re-lists and watches on
    /// from `revision`. Right after a restore that is the procedure working; otherwise the
    /// events in between were lost to it, a gap.
    pub fn observe_compaction(&mut self, revision: i64, after_restore: bool) {
        self.compacted.push(revision);
        if let Some(view) = self.restores.last_mut().filter(|_| after_restore) {
            view.compacted = Some(revision);
        } else if revision > self.last_revision + 1 && self.last_revision > 0 {
            self.gaps.push(Jump {
                from: self.last_revision,
                to: revision,
            });
        }
        // Continuity starts over from what the re-list saw.
        self.last_revision = 0;
        self.keys_at_last.clear();
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
