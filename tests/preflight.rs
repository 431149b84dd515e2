//! Network faults are checked before anything starts: a kernel without netem refuses delay,
//! a remote Docker engine refuses namespace faults. No Docker needed.

use etcd_drill::exit_codes;
use std::process::Command;

fn run(scenario: &str, docker_host: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", scenario, "--report-dir"])
        .arg(std::env::temp_dir().join("etcd-drill-preflight"))
        .env("DOCKER_HOST", docker_host)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kernel_has_netem() -> bool {
    let config = Command::new("sh")
        .args([
            "-c",
            "zcat /proc/config.gz 2>/dev/null | grep -E '^CONFIG_NET_SCH_NETEM=(y|m)'",
        ])
        .output();
    config.is_ok_and(|o| !o.stdout.is_empty())
}

#[test]
fn delay_without_netem_is_refused_before_the_run_with_the_reason() {
    if kernel_has_netem() {
        eprintln!("skipping: this kernel has netem, so delay is allowed here");
        return;
    }
    // A local socket path that does not exist: had the preflight let it through, the run
    // would have failed on Docker instead, with another message.
    let (code, stderr) = run(
        "tests/scenarios/delay-peer.yaml",
        "unix:///nonexistent/docker.sock",
    );
    assert_eq!(code, exit_codes::ENVIRONMENT, "{stderr}");
    assert!(
        stderr.contains("netem") && stderr.contains("delay-peer.yaml"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Docker engine"),
        "refused before contacting Docker: {stderr}"
    );
}

#[test]
fn namespace_faults_refuse_a_remote_engine() {
    // Loopback only: the preflight must refuse before any connection is tried.
    let (code, stderr) = run("scenarios/partition-leader.yaml", "tcp://127.0.0.1:1");
    assert_eq!(code, exit_codes::ENVIRONMENT, "{stderr}");
    assert!(stderr.contains("remote"), "{stderr}");
}
