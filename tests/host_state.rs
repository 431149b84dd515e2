//! `.ci/host-state`, the check `.ci/run` makes after the tests (the host's interfaces, routes,
//! rules, namespaces, mounts and Docker networks as they were before), fails when a bridge it
//! saw is gone. Proven in an anonymous network namespace of the test's own: the host's interfaces are
//! never touched. Needs root and `ip`; skips elsewhere, fails under CI=true.

use std::process::Command;

/// Runs the whole proof in an anonymous network namespace (`unshare --net`): nothing of it
/// outlives the process. `ip netns add` would not do: the first one on a machine leaves
/// `/run/netns` mounted for good, itself a change to the host.
const PROOF: &str = r#"
set -u
ip link add edt-br0 type bridge || exit 10
before="$1/before"
.ci/host-state > "$before" || exit 11
.ci/host-state check "$before" 2>"$1/same" || exit 12
ip link del edt-br0 || exit 13
.ci/host-state check "$before" 2>"$1/gone"
echo "gone=$?"
"#;

#[test]
fn the_host_check_fails_when_a_bridge_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", PROOF, "sh"])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let ran = match ran {
        Ok(o) if o.status.code() != Some(1) || !o.stdout.is_empty() => o,
        other => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                "CI=true but `unshare --net` failed (root and util-linux are needed): {other:?}"
            );
            eprintln!("skipping: cannot make a network namespace here");
            return;
        }
    };
    let out = String::from_utf8_lossy(&ran.stdout);
    let err = String::from_utf8_lossy(&ran.stderr);
    let same = std::fs::read_to_string(dir.path().join("same")).unwrap_or_default();
    // Nothing changed: the check passed (the script went on past it).
    assert!(ran.status.success(), "{out}{err}{same}");
    // The bridge deleted, as a dockerd with `--bridge=none` deletes `docker0`: it fails and
    // names it.
    let gone = std::fs::read_to_string(dir.path().join("gone")).unwrap();
    assert!(out.contains("gone=1"), "{out}{gone}");
    assert!(gone.contains("-edt-br0"), "{gone}");
}
