//! Keys and bytes by prefix, for a snapshot from outside: one pass, bounded memory, and a
//! grouping depth chosen from what the keyspace turned out to be. Every depth from 1 to
//! `MAX_DEPTH` is counted at once (at most `CAP` groups each; later new prefixes of a full
//! depth go to its overflow), then the summary takes the depth that fits: the first with
//! enough groups to say something and none holding half the keys, never one with about a
//! group per key.
//! `/registry/pods/ns/name` groups as `/registry/pods/` in a Kubernetes keyspace;
//! `/ext/1` … `/ext/500` group as `/ext/`, not one group per key.

use crate::record::{KeyspaceSummary, PrefixGroup};
use std::collections::HashMap;

pub const MAX_DEPTH: usize = 4;
/// Groups kept per depth; beyond it, a depth only counts its overflow.
pub const CAP: usize = 4096;
/// Groups shown; the rest are summed.
pub const TOP: usize = 12;
/// Enough groups to stop refining, when none holds half the keys.
const ENOUGH: usize = 8;

#[derive(Default)]
struct Depth {
    groups: HashMap<Vec<u8>, (u64, u64)>,
    overflow: (u64, u64),
    full: bool,
}

#[derive(Default)]
pub struct PrefixTally {
    depths: [Depth; MAX_DEPTH],
    keys: u64,
    bytes: u64,
    /// Prefixes asked for by name (`expect.keys-under`), counted exactly.
    wanted: Vec<(Vec<u8>, u64, u64)>,
}

/// The group of `key` at `depth`: the key up to its `depth`-th `/` (a leading `/` does not
/// count), or up to its last `/` when it has fewer; empty for a key without `/`.
pub fn group(key: &[u8], depth: usize) -> &[u8] {
    let start = usize::from(key.first() == Some(&b'/'));
    let mut end = 0;
    for (n, (i, _)) in key
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, &b)| b == b'/')
        .enumerate()
    {
        end = i + 1;
        if n + 1 == depth {
            break;
        }
    }
    &key[..end]
}

impl PrefixTally {
    /// A tally that also counts the keys under each of `prefixes` exactly.
    pub fn with_wanted(prefixes: &[String]) -> PrefixTally {
        PrefixTally {
            wanted: prefixes
                .iter()
                .map(|p| (p.as_bytes().to_vec(), 0, 0))
                .collect(),
            ..PrefixTally::default()
        }
    }

    pub fn count(&mut self, key: &[u8], value: &[u8]) {
        self.count_sized(key, value.len() as u64);
    }

    /// `count` with the value's size alone.
    pub fn count_sized(&mut self, key: &[u8], value_len: u64) {
        let size = key.len() as u64 + value_len;
        self.keys += 1;
        self.bytes += size;
        for (p, keys, bytes) in &mut self.wanted {
            if key.starts_with(p) {
                *keys += 1;
                *bytes += size;
            }
        }
        for (d, depth) in self.depths.iter_mut().enumerate() {
            let g = group(key, d + 1);
            if let Some(slot) = depth.groups.get_mut(g) {
                slot.0 += 1;
                slot.1 += size;
            } else if depth.groups.len() < CAP {
                depth.groups.insert(g.to_vec(), (1, size));
            } else {
                depth.full = true;
                depth.overflow.0 += 1;
                depth.overflow.1 += size;
            }
        }
    }

    /// The depth that fits (1-based).
    fn depth(&self) -> usize {
        let mut chosen = 1;
        for d in 1..=MAX_DEPTH {
            let at = &self.depths[d - 1];
            // Too fine: more groups than the tally keeps, or about one group per key (the
            // output stays short either way: the largest `TOP`, the rest summed).
            if d > 1 && (at.full || at.groups.len() as u64 * 2 > self.keys) {
                break;
            }
            chosen = d;
            let largest = at.groups.values().map(|g| g.0).max().unwrap_or(0);
            if at.groups.len() >= ENOUGH && largest * 2 <= self.keys {
                break;
            }
            if d < MAX_DEPTH && self.depths[d].groups.len() == at.groups.len() {
                break;
            }
        }
        chosen
    }

    pub fn finish(self, revision: i64) -> KeyspaceSummary {
        let depth = self.depth();
        let at = &self.depths[depth - 1];
        let mut groups: Vec<PrefixGroup> = at
            .groups
            .iter()
            .map(|(p, (keys, bytes))| PrefixGroup {
                prefix: String::from_utf8_lossy(p).into_owned(),
                keys: *keys,
                bytes: *bytes,
            })
            .collect();
        groups.sort_by(|a, b| (b.keys, b.bytes, &a.prefix).cmp(&(a.keys, a.bytes, &b.prefix)));
        let tail = groups.split_off(groups.len().min(TOP));
        let mut rest = PrefixGroup {
            prefix: String::new(),
            keys: at.overflow.0,
            bytes: at.overflow.1,
        };
        let mut others = tail.len();
        for g in tail {
            rest.keys += g.keys;
            rest.bytes += g.bytes;
        }
        if at.full {
            others += 1;
        }
        rest.prefix = if at.full {
            format!("{others}+ other prefixes")
        } else {
            format!("{others} other prefixes")
        };
        KeyspaceSummary {
            revision,
            keys: self.keys,
            bytes: self.bytes,
            depth: depth as u32,
            groups,
            rest: (rest.keys > 0).then_some(rest),
            db_size_bytes: None,
            quota_bytes: None,
            counted_in: None,
            wanted: self
                .wanted
                .into_iter()
                .map(|(p, keys, bytes)| PrefixGroup {
                    prefix: String::from_utf8_lossy(&p).into_owned(),
                    keys,
                    bytes,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_directories_and_a_key_is_never_its_own_group() {
        let k = b"/registry/pods/default/web-1";
        assert_eq!(group(k, 1), b"/registry/");
        assert_eq!(group(k, 2), b"/registry/pods/");
        assert_eq!(group(k, 3), b"/registry/pods/default/");
        assert_eq!(group(k, 4), b"/registry/pods/default/");
        assert_eq!(group(b"/ext/17", 2), b"/ext/");
        assert_eq!(group(b"plain", 1), b"");
        assert_eq!(group(b"a/b/c", 1), b"a/");
    }

    #[test]
    fn a_kubernetes_keyspace_groups_by_resource_and_flat_keys_by_their_directory() {
        let mut t = PrefixTally::default();
        for r in 0..30 {
            for ns in 0..5 {
                for o in 0..(10 + r) {
                    let key = format!("/registry/res{r:02}/ns{ns}/obj{o}");
                    t.count(key.as_bytes(), &[0u8; 100]);
                }
            }
        }
        let s = t.finish(7);
        assert_eq!(s.depth, 2, "{s:?}");
        assert_eq!(s.groups.len(), TOP);
        assert_eq!(s.groups[0].prefix, "/registry/res29/");
        assert_eq!(s.groups[0].keys, 5 * 39);
        let rest = s.rest.expect("the rest summed");
        assert_eq!(rest.prefix, "18 other prefixes");
        let shown: u64 = s.groups.iter().map(|g| g.keys).sum();
        assert_eq!(shown + rest.keys, s.keys);

        let mut t = PrefixTally::default();
        for i in 1..=500 {
            t.count(format!("/ext/{i}").as_bytes(), b"v");
        }
        let s = t.finish(1);
        assert_eq!(s.groups.len(), 1, "{s:?}");
        assert_eq!(s.groups[0].prefix, "/ext/");
        assert_eq!(s.groups[0].keys, 500);
        assert!(s.rest.is_none());
    }

    #[test]
    fn a_cluster_with_many_resources_still_groups_by_resource() {
        // 50 built-in resources and 40 CRD groups: 90 groups at depth 2.
        let mut t = PrefixTally::default();
        for r in 0..90 {
            for o in 0..20 {
                t.count(format!("/registry/r{r}/ns/o{o}").as_bytes(), b"v");
            }
        }
        let s = t.finish(1);
        assert_eq!(s.depth, 2, "{s:?}");
        assert_eq!(s.groups.len(), TOP);
        assert_eq!(s.rest.expect("rest").prefix, "78 other prefixes");
    }

    #[test]
    fn memory_is_bounded_by_the_cap_and_counts_stay_whole() {
        let mut t = PrefixTally::default();
        for i in 0..(CAP as u64 + 1000) {
            t.count(format!("{i}/x").as_bytes(), b"");
        }
        assert!(t.depths.iter().all(|d| d.groups.len() <= CAP));
        let s = t.finish(1);
        let total: u64 =
            s.groups.iter().map(|g| g.keys).sum::<u64>() + s.rest.as_ref().map_or(0, |r| r.keys);
        assert_eq!(total, CAP as u64 + 1000);
        assert!(s.rest.expect("rest").prefix.contains('+'));
    }
}
