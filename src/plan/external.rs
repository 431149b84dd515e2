//! The plans behind `verify-snapshot` and `verify-backup`: drills that restore what was made
//! elsewhere (a snapshot file, a store's backups) into a fresh sandbox and verify it, with the
//! command line's expectations as gates. Each is built as a scenario, so it goes through the
//! same validation as any file.

use super::{plan, Plan};
use crate::scenario::{ScenarioError, StoreSpec};
use std::time::Duration;

/// The plan behind `etcd-drill verify-snapshot FILE`: restore the file into a fresh sandbox
/// cluster and verify it.
pub fn verify_snapshot(
    file: &std::path::Path,
    (members, version): (u32, Option<&str>),
    expect_revision: Option<i64>,
    expect_keys: Option<u64>,
) -> Result<Plan, ScenarioError> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let quoted = serde_json::to_string(&file.display().to_string()).unwrap_or_default();
    let mut yaml = format!(
        "name: verify-snapshot\n\
         description: Restore-verify of {quoted}.\n\
         cluster:\n  members: {members}\n  tls: true\n{}\
         steps:\n  - restore: {{ file: {quoted} }}\n  - verify: {{}}\n\
         expect:\n  integrity: true\n",
        version
            .map(|v| format!(
                "  version: {}\n",
                serde_json::to_string(v).unwrap_or_default()
            ))
            .unwrap_or_default()
    );
    if let Some(r) = expect_revision {
        yaml.push_str(&format!("  snapshot-revision: {r}\n"));
    }
    if let Some(k) = expect_keys {
        yaml.push_str(&format!("  snapshot-keys: {k}\n"));
    }
    let path = std::path::Path::new("verify-snapshot");
    plan(crate::scenario::load_str(path, &yaml)?)
}

/// What `verify-backup` asks of one store.
#[derive(Debug, Clone, Default)]
pub struct VerifyBackup {
    /// `newest` (default), `newest-full` or a backup's name.
    pub pick: Option<String>,
    pub at_revision: Option<i64>,
    /// A UTC time (RFC 3339).
    pub at: Option<String>,
    pub fallback: bool,
    pub members: u32,
    pub etcd_version: Option<String>,
    pub max_age: Option<Duration>,
    pub expect_revision: Option<i64>,
    pub expect_keys: Option<u64>,
    pub expect_prefixes: Vec<String>,
    pub rto: Option<Duration>,
    /// The restore step's deadline (a download of GBs included).
    pub timeout: Duration,
}

/// A store on the command line: `s3://bucket/prefix` (with `--endpoint` and `--region` for
/// S3-compatible servers), else a local folder, which must exist.
pub fn store_location(
    location: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Result<StoreSpec, String> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{location}: expected s3://BUCKET[/PREFIX]"));
        }
        return Ok(StoreSpec::S3 {
            bucket: bucket.into(),
            prefix: (!prefix.is_empty()).then(|| prefix.into()),
            endpoint: endpoint.map(str::to_string),
            region: region.map(str::to_string),
        });
    }
    if location.contains("://") {
        return Err(format!(
            "{location}: expected a local folder or s3://BUCKET[/PREFIX]"
        ));
    }
    let dir = std::path::absolute(location).map_err(|e| format!("{location}: {e}"))?;
    if !dir.is_dir() {
        return Err(format!("{location}: no such folder"));
    }
    Ok(StoreSpec::Local { dir })
}

/// A scenario name for a store: `verify-backup-<bucket-and-prefix or folder>`, so that each
/// store's runs form their own series and chain.
fn name_for(store: &StoreSpec) -> String {
    let tail = match store {
        StoreSpec::Local { dir } => dir
            .components()
            .rev()
            .take(2)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("-"),
        StoreSpec::S3 { bucket, prefix, .. } => {
            format!("s3-{bucket}-{}", prefix.as_deref().unwrap_or(""))
        }
    };
    let slug: String = tail
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("verify-backup-{}", slug.trim_matches('-'))
}

/// The plan behind `etcd-drill verify-backup STORE`: restore the chosen backup of `store`
/// into a fresh sandbox of `v.members` on `v.etcd_version`, and verify it.
pub fn verify_backup(store: &StoreSpec, v: &VerifyBackup) -> Result<Plan, ScenarioError> {
    let json = |x: &dyn erased::Json| x.json();
    let mut restore = format!(
        "store: {}, fallback: {}, timeout: {}",
        json(store),
        v.fallback,
        json(&crate::scenario::duration::format(v.timeout))
    );
    if let Some(p) = &v.pick {
        restore.push_str(&format!(", pick: {}", json(p)));
    }
    if let Some(r) = v.at_revision {
        restore.push_str(&format!(", at-revision: {r}"));
    }
    if let Some(t) = &v.at {
        restore.push_str(&format!(", at: {}", json(t)));
    }
    let version = v
        .etcd_version
        .as_ref()
        .map(|x| format!("  version: {}\n", json(x)))
        .unwrap_or_default();
    let mut yaml = format!(
        "name: {}\n\
         description: Restore-verify of the backups in {}.\n\
         cluster:\n  members: {}\n  tls: true\n{version}\
         steps:\n  - restore: {{ {restore} }}\n  - verify: {{}}\n\
         expect:\n  integrity: true\n",
        name_for(store),
        json(&store.describe()),
        v.members,
    );
    let mut gate = |k: &str, val: String| yaml.push_str(&format!("  {k}: {val}\n"));
    if let Some(r) = v.expect_revision {
        gate("snapshot-revision", r.to_string());
    }
    if let Some(k) = v.expect_keys {
        gate("snapshot-keys", k.to_string());
    }
    if !v.expect_prefixes.is_empty() {
        gate("keys-under", json(&v.expect_prefixes));
    }
    if let Some(a) = v.max_age {
        gate(
            "backup-max-age",
            json(&crate::scenario::duration::format(a)),
        );
    }
    if let Some(r) = v.rto {
        gate("rto", json(&crate::scenario::duration::format(r)));
    }
    let path = std::path::Path::new("verify-backup");
    plan(crate::scenario::load_str(path, &yaml)?)
}

/// Any value as JSON (which YAML reads): names and paths of any shape are quoted safely.
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_snapshot_plans_a_restore_from_the_file_then_a_verify() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("snap \"odd\" name.db");
        let mut db = vec![0u8; 4096];
        db[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
        std::fs::write(&f, &db).unwrap();
        let p = verify_snapshot(&f, (3, Some("3.4.23")), Some(302), Some(300)).unwrap();
        assert!(p.starts_empty());
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.cluster.image, "etcd-drill/etcd:v3.4.23");
        assert_eq!(
            (p.gates.snapshot_revision, p.gates.snapshot_keys),
            (Some(302), Some(300))
        );
        let missing = verify_snapshot(&dir.path().join("nope.db"), (3, None), None, None);
        assert!(missing.unwrap_err().to_string().contains("does not exist"));
        let text = dir.path().join("hello.db");
        std::fs::write(&text, b"hello").unwrap();
        let text = verify_snapshot(&text, (3, None), None, None);
        assert!(text
            .unwrap_err()
            .to_string()
            .contains("expected an etcd snapshot file"));
    }
    #[test]
    fn verify_backup_plans_a_store_restore_with_its_gates() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_location(dir.path().to_str().unwrap(), None, None).unwrap();
        let v = VerifyBackup {
            at_revision: Some(120),
            members: 1,
            etcd_version: Some("3.4.23".into()),
            max_age: Some(Duration::from_secs(86_400)),
            expect_prefixes: vec!["/registry/pods/".into()],
            timeout: Duration::from_secs(1800),
            ..Default::default()
        };
        let p = verify_backup(&store, &v).unwrap();
        assert!(p.starts_empty());
        assert!(p.name.starts_with("verify-backup-"), "{}", p.name);
        assert_eq!(p.gates.backup_max_age, v.max_age);
        assert_eq!(p.gates.keys_under, ["/registry/pods/"]);
        match &p.steps[0].kind {
            crate::plan::StepKind::Restore {
                source: crate::plan::RestoreSource::Store { choice, .. },
                ..
            } => assert_eq!(*choice, crate::scenario::StoreChoice::AtRevision(120)),
            other => panic!("{other:?}"),
        }
        // Two choices at once are refused, by the scenario's own rule.
        let both = VerifyBackup {
            pick: Some("newest-full".into()),
            ..v.clone()
        };
        let e = verify_backup(&store, &both).unwrap_err().to_string();
        assert!(
            e.contains("at most one of `pick`, `at-revision` or `at`"),
            "{e}"
        );
        let s3 = store_location(
            "s3://bkt/clusters/prod",
            Some("http://127.0.0.1:9000"),
            None,
        );
        assert!(
            matches!(s3, Ok(StoreSpec::S3 { ref bucket, ref prefix, .. }) if bucket == "bkt" && prefix.as_deref() == Some("clusters/prod"))
        );
        assert!(store_location("/no/such/folder", None, None)
            .unwrap_err()
            .contains("no such folder"));
        assert!(store_location("gs://b", None, None).is_err());
    }
}
