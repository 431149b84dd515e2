//! Network faults are checked before anything starts: where the host's way into the members'
//! namespaces is asked for (`ETCD_DRILL_NET_FAULTS=host`), a missing tool or a remote Docker
//! engine refuses the drill, naming the reason. No Docker needed.

use etcd_drill::exit_codes;
use std::process::Command;

#[test]
fn a_tool_a_network_fault_needs_is_checked_before_the_run() {
    // A PATH with `nsenter` but no `ss` (the delay proxy makes etcd re-dial its peers with
    // `ss -K`): the drill is refused before Docker is contacted, naming the tool and the file.
    let dir = tempfile::tempdir().unwrap();
    let nsenter = ["/usr/bin/nsenter", "/bin/nsenter"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nsenter (util-linux) is installed by .ci/setup");
    std::os::unix::fs::symlink(nsenter, dir.path().join("nsenter")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "tests/scenarios/delay-peer.yaml", "--report-dir"])
        .arg(dir.path().join("reports"))
        .env("PATH", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("ETCD_DRILL_NET_FAULTS", "host")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit_codes::ENVIRONMENT), "{stderr}");
    assert!(stderr.contains("delay-peer.yaml"), "{stderr}");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let why = if root { "`ss`" } else { "root" };
    assert!(stderr.contains(why), "{stderr}");
    assert!(
        !stderr.contains("Docker engine"),
        "refused before contacting Docker: {stderr}"
    );
}

#[test]
fn with_a_remote_engine_the_host_way_is_refused_before_anything_starts() {
    // Loopback only: the preflight must refuse before any connection is tried. On a remote
    // engine network faults go through helper containers; asking for the host's way cannot work.
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "scenarios/delay-leader-network.yaml", "--report-dir"])
        .arg(std::env::temp_dir().join("etcd-drill-preflight"))
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .env("ETCD_DRILL_NET_FAULTS", "host")
        .output()
        .unwrap();
    let (code, stderr) = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(code, exit_codes::ENVIRONMENT, "{stderr}");
    assert!(
        stderr.contains("delay-leader-network.yaml")
            && stderr.contains("remote")
            && stderr.contains("ETCD_DRILL_NET_FAULTS=host"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("connect"),
        "refused before connecting: {stderr}"
    );
}
