//! What a snapshot from outside holds, said once for the terminal and the document: its
//! keyspace by prefix (bounded), its size against the backend quota, and what restoring it cost
//! on this machine.

use crate::record::{KeyspaceSummary, RunReport};

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// (fact, value) lines, in order.
pub fn facts(r: &RunReport, k: &KeyspaceSummary) -> Vec<(String, String)> {
    let mut out = vec![(
        "snapshot contents".to_string(),
        format!(
            "revision {}, {} keys, {} of keys and values, grouped {} level(s) deep{}",
            k.revision,
            k.keys,
            mb(k.bytes),
            k.depth,
            k.counted_in
                .as_deref()
                .map(|c| format!(", counted in {c}"))
                .unwrap_or_default()
        ),
    )];
    if let (Some(db), Some(quota)) = (k.db_size_bytes, k.quota_bytes) {
        out.push((
            "database size".to_string(),
            format!(
                "{}: {:.1}% of the {:.1} GiB backend quota",
                mb(db),
                db as f64 * 100.0 / quota.max(1) as f64,
                quota as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    if let (Some(x), Some(db)) = (&r.restore, k.db_size_bytes) {
        let files = x
            .phases
            .iter()
            .find(|p| p.name.starts_with(crate::record::RESTORE_FILES_PHASE));
        let mut text = String::new();
        if let Some(p) = files.filter(|p| p.duration_ms > 0) {
            // That phase restores a quorum's data dirs, all at once.
            let quorum = r.cluster.members / 2 + 1;
            text.push_str(&format!(
                "{:.1} MB/s of snapshot restored by etcdutl ({quorum} data dir(s) at once); ",
                db as f64 / 1e6 * f64::from(quorum) / (p.duration_ms as f64 / 1000.0),
            ));
        }
        text.push_str(&format!(
            "a full restore of this database into {} member(s) took {:.1} s to the first write on this machine (its RTO)",
            r.cluster.members,
            x.rto_first_write_ms as f64 / 1000.0
        ));
        out.push(("restore here".to_string(), text));
    }
    out
}

/// One row per group: prefix, keys, bytes, share of the keys; the rest summed last.
pub fn rows(k: &KeyspaceSummary) -> Vec<Vec<String>> {
    k.groups
        .iter()
        .chain(k.rest.iter())
        .map(|g| {
            let prefix = if g.prefix.is_empty() {
                "(keys without /)".to_string()
            } else {
                g.prefix.clone()
            };
            vec![
                prefix,
                g.keys.to_string(),
                mb(g.bytes),
                format!("{:.1}%", g.keys as f64 * 100.0 / k.keys.max(1) as f64),
            ]
        })
        .collect()
}
