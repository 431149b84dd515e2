//! `.ci/host-state`, the check `.ci/run` makes after the tests (the host's interfaces, routes,
//! rules, namespaces, mounts and Docker networks as they were before), fails when a bridge it
//! saw is gone. Proven in a network namespace of the test's own: the host's interfaces are
//! never touched. Needs root and `ip`; skips elsewhere, fails under CI=true.

use std::path::Path;
use std::process::{Command, Output};

/// A network namespace of this test's own, deleted on drop.
struct Netns(String);

impl Netns {
    fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn the_host_check_fails_when_a_bridge_is_gone() {
    let name = format!("edt-hs-{}", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &name]).status();
    if !added.is_ok_and(|s| s.success()) {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "CI=true but `ip netns add` failed (root and iproute2 are needed)"
        );
        eprintln!("skipping: cannot make a network namespace here");
        return;
    }
    let ns = Netns(name);
    let ok = |o: &Output| o.status.success();
    assert!(ok(
        &ns.exec(&["ip", "link", "add", "edt-br0", "type", "bridge"])
    ));
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    let state = ns.exec(&[".ci/host-state"]);
    assert!(ok(&state), "{}", String::from_utf8_lossy(&state.stderr));
    std::fs::write(&before, &state.stdout).unwrap();
    let before = before.to_str().unwrap();

    // Nothing changed: the check passes.
    let same = ns.exec(&[".ci/host-state", "check", before]);
    assert!(ok(&same), "{}", String::from_utf8_lossy(&same.stderr));

    // The bridge deleted, as a dockerd with `--bridge=none` deletes `docker0`: it fails and
    // names it.
    assert!(ok(&ns.exec(&["ip", "link", "del", "edt-br0"])));
    let gone = ns.exec(&[".ci/host-state", "check", before]);
    let said = String::from_utf8_lossy(&gone.stderr);
    assert_eq!(gone.status.code(), Some(1), "{said}");
    assert!(said.contains("-edt-br0"), "{said}");
    assert!(Path::new(before).exists());
}
