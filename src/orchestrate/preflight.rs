//! What is checked before anything starts: inputs that must open (the age identity, the
//! signing key, `--previous`), the way network faults will go (and the images it needs), and
//! whether each drill fits the disk and the engine's memory.

use super::Options;
use crate::evidence::{chain, sign::Signer};
use crate::plan::Plan;
use crate::sandbox::Runtime;
use std::path::Path;

/// Every plan that restores an encrypted backup gets the identity to decrypt it, which must
/// open as an age identity file; without one the drill is refused before anything starts.
pub(super) fn with_identity(plans: &[Plan], identity: Option<&Path>) -> Result<Vec<Plan>, String> {
    if let Some(id) = identity {
        crate::backup::crypt::identities(id).map_err(|e| format!("--identity: {e}"))?;
    }
    plans
        .iter()
        .map(|p| {
            let mut p = p.clone();
            // A store from outside may hold encrypted objects: whether it does is known only
            // once it is listed, so every such restore gets the identity there is.
            for s in &mut p.steps {
                if let crate::plan::StepKind::Restore {
                    source: crate::plan::RestoreSource::Store { identity: id, .. },
                    ..
                } = &mut s.kind
                {
                    *id = identity.map(Path::to_path_buf);
                }
            }
            if let Some(e) = p.backup.as_mut().and_then(|b| b.encrypt.as_mut()) {
                e.identity = identity.map(Path::to_path_buf);
                if e.identity.is_none() && p.restores_encrypted_backup() {
                    return Err(format!(
                        "{}: the restore reads an encrypted backup: give the age identity that decrypts it (--identity FILE or ETCD_DRILL_AGE_IDENTITY)",
                        p.path.display()
                    ));
                }
            }
            Ok(p)
        })
        .collect()
}

/// A signing key that does not open, or a `--previous` that is not a sealed run of one of
/// these scenarios, is bad input: refused before anything starts.
pub(super) fn evidence_inputs(plans: &[Plan], opts: &Options) -> Result<Option<Signer>, String> {
    let signer = opts
        .sign_key
        .as_deref()
        .map(Signer::load)
        .transpose()
        .map_err(|e| format!("--sign-key: {e}"))?;
    if let Some(prev) = &opts.previous {
        let tried: Vec<Result<_, _>> = plans
            .iter()
            .map(|p| chain::previous_link(&opts.report_dir, &p.name, &p.cluster.image, Some(prev)))
            .collect();
        if !tried.iter().any(|r| r.is_ok()) {
            let why = tried
                .into_iter()
                .find_map(|r| r.err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(format!(
                "--previous: not a sealed run of these scenarios: {why}"
            ));
        }
    }
    Ok(signer)
}

/// The way network faults will go (`preflight_plans`, before the engine is contacted), made
/// ready: through helper containers, their images built or found. Said once per scenario;
/// `Err` with the line that says why neither way can run.
pub(super) async fn network(
    (way, said): crate::faults::netns::Preflight,
    docker: &dyn Runtime,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<crate::sandbox::NetVia, Vec<String>> {
    let Some(crate::sandbox::NetVia::Helper(crate::sandbox::Delay(delay))) = way else {
        said.iter().for_each(|s| say(s.said()));
        return Ok(crate::sandbox::NetVia::Host);
    };
    let images = async {
        let image = crate::image::net_tools::ensure(docker, say).await?;
        let harness = match delay {
            true => Some(crate::image::harness::ensure(docker, say).await?),
            false => None,
        };
        Ok::<_, crate::image::ImageError>((image, harness))
    };
    match images.await {
        Ok((image, harness)) => {
            said.iter().for_each(|s| say(s.said()));
            Ok(crate::sandbox::NetVia::Helper(
                crate::sandbox::HelperImages { image, harness },
            ))
        }
        Err(e) => {
            let why = crate::util::error_chain(&e);
            Err(said
                .iter()
                .filter(|s| s.helper)
                .map(|s| s.refused(&why))
                .collect())
        }
    }
}

/// The filesystem holding `path` (or its nearest existing parent): its id and free bytes.
fn filesystem(path: &Path) -> Option<(u64, u64)> {
    let mut p = std::path::absolute(path).ok()?;
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let s = nix::sys::statvfs::statvfs(&p).ok()?;
    let free = s.blocks_available() as u64 * s.fragment_size() as u64;
    Some((s.filesystem_id() as u64, free))
}

pub(super) fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Refuses a drill whose seed would fill the engine's memory with raft entries: every member
/// keeps the entries since its last raft snapshot in memory (a 4 GiB seed with etcd's default
/// `snapshot-count` filled 24 GB and stalled). Names the `snapshot-count` that fits.
pub(super) fn memory_fits(plan: &Plan, memory: Option<u64>) -> Result<(), String> {
    let (Some(per_member), Some(memory)) = (plan.seed_memory_per_member(), memory) else {
        return Ok(());
    };
    let members = u64::from(plan.cluster.members.max(1));
    // What the engine's host needs for itself and the harness: a fifth.
    let usable = memory / 5 * 4;
    if per_member.saturating_mul(members) <= usable {
        return Ok(());
    }
    let count = plan
        .cluster
        .snapshot_count
        .unwrap_or(crate::plan::ETCD_DEFAULT_SNAPSHOT_COUNT);
    let advice = match plan.snapshot_count_for(usable) {
        Some(n) => format!("set `cluster.etcd.snapshot-count` to at most {n}"),
        None => "seed fewer or smaller keys, or use an engine with more memory".to_string(),
    };
    Err(format!(
        "{}: not enough memory for this seed: with snapshot-count {count}, each of the {members} members keeps about {} of raft entries in memory while the seed loads ({} in all) where the engine has {} ({} usable); {advice}",
        plan.path.display(),
        gb(per_member),
        gb(per_member.saturating_mul(members)),
        gb(memory),
        gb(usable),
    ))
}

/// Refuses a drill whose volumes (on the engine's disk) and snapshots (in the report dir) will
/// not fit, with the numbers. An engine on another machine is not checked for its disk.
pub(super) fn disk_fits(
    plan: &Plan,
    docker: &dyn Runtime,
    report_dir: &Path,
) -> Result<(), String> {
    let Some(f) = plan.footprint() else {
        return Ok(());
    };
    let members = u64::from(plan.cluster.members.max(1));
    let mut needs = vec![(
        report_dir.to_path_buf(),
        f.snapshots,
        format!(
            "{} snapshot(s) of about {}",
            f.snapshots / f.db.max(1),
            gb(f.db)
        ),
    )];
    if f.scratch > 0 {
        let what = format!("a {} fault's copy of {}", f.scratch_for, gb(f.scratch));
        needs.push((std::env::temp_dir(), f.scratch, what));
    }
    if let Some(root) = docker.local_root_dir() {
        let generations = f.volumes / f.db.max(1) / members;
        let what = format!(
            "{members} members' volumes of about {} each, {generations} time(s) (first cluster and restores)",
            gb(f.db)
        );
        needs.push((root.into(), f.volumes, what));
    }
    // Paths on one filesystem share its free space: (id, free, needed, what).
    let mut filesystems: Vec<(u64, u64, u64, Vec<String>)> = Vec::new();
    for (path, bytes, what) in needs {
        let Some((id, free)) = filesystem(&path) else {
            continue;
        };
        let what = format!("{what} in {}", path.display());
        match filesystems.iter_mut().find(|f| f.0 == id) {
            Some(fs) => {
                fs.2 += bytes;
                fs.3.push(what);
            }
            None => filesystems.push((id, free, bytes, vec![what])),
        }
    }
    match filesystems.iter().find(|(_, free, need, _)| need > free) {
        Some((_, free, need, what)) => Err(format!(
            "{}: not enough free disk for this drill: it needs about {} where {} is free ({})",
            plan.path.display(),
            gb(*need),
            gb(*free),
            what.join("; ")
        )),
        None => Ok(()),
    }
}

/// The disk-layer counterpart of every image the drill runs, once a container of the first
/// one has mounted the layer (FUSE): an engine that cannot give its containers `/dev/fuse`
/// refuses here, before anything starts, with what Docker or the mount said.
pub(super) async fn disk_layer(
    plan: &Plan,
    docker: &std::sync::Arc<dyn Runtime>,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut images = std::collections::BTreeMap::new();
    for image in plan.images() {
        let layered = crate::image::disk::ensure(docker.as_ref(), &image, say)
            .await
            .map_err(|e| crate::util::error_chain(&e))?;
        images.insert(image, layered);
    }
    let Some(first) = images.values().next() else {
        return Ok(images);
    };
    let runtime = docker.clone();
    let probe =
        crate::sandbox::Sandbox::new(runtime, &format!("disk-probe-{}", std::process::id()));
    let spec = crate::sandbox::ContainerSpec {
        name: probe.name("fuse-probe"),
        image: first.clone(),
        entrypoint: Some(crate::faults::disk::supervisor()),
        cmd: vec!["--probe".into()],
        labels: probe.labels("probe"),
        network: "none".into(),
        aliases: Vec::new(),
        volumes: Vec::new(),
        host_files: Vec::new(),
        publish: None,
        cap_add: vec!["SYS_ADMIN".into()],
        devices: vec!["/dev/fuse".into()],
    };
    let ran = probe
        .run_once(&spec, None, std::time::Duration::from_secs(60))
        .await;
    probe.teardown().await;
    let why = match ran {
        Ok((0, _, _)) => return Ok(images),
        Ok((code, out, err)) => format!("exit {code}: {}", format!("{out}{err}").trim()),
        Err(e) => crate::util::error_chain(&e),
    };
    Err(format!(
        "disk faults need FUSE in the member containers (the engine's /dev/fuse and CAP_SYS_ADMIN; on a host whose Docker confines containers with AppArmor, its default profile refuses the mount), and a probe container could not mount it: {why}"
    ))
}

/// The scenario's own rule files, checked by `promtool check rules` from the packages the
/// drill's Prometheus comes from: `Err` with promtool's complaint (file, line and column where
/// it gives them). The shipped rules are held to it by the tests.
pub async fn rules_checked(
    plan: &Plan,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<(), String> {
    let files: Vec<&std::path::PathBuf> = plan
        .monitoring
        .iter()
        .flat_map(|m| &m.rules)
        .filter_map(|r| r.path.as_ref())
        .collect();
    if files.is_empty() {
        return Ok(());
    }
    let mut promtool = crate::image::monitoring::promtool(say).await.map_err(|e| {
        format!(
            "{}: cannot check its rule files: {}",
            plan.path.display(),
            crate::util::error_chain(&e)
        )
    })?;
    promtool.arg("check").arg("rules").args(files);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), promtool.output())
        .await
        .map_err(|_| "promtool check rules did not finish within 60s".to_string())?
        .map_err(|e| format!("cannot run promtool: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let complaint: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Checking ")
                && *l != "FAILED:"
                && !l.starts_with("SUCCESS")
        })
        .collect();
    Err(format!(
        "{}: a rule file promtool rejects: {}",
        plan.path.display(),
        complaint.join("; ")
    ))
}
