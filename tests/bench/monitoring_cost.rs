//! Benchmark: what an alert drill's monitoring costs the drill. `cargo bench --bench
//! monitoring_cost [-- --pairs N]` runs the quickstart N times (default 3) with `monitoring: {}`
//! added and N times without, alternating, on this machine, and prints the RTO and the whole
//! run's time of each, their medians side by side and the difference. The target is within 5%.
//!
//! Prometheus hands its first targets to the scrapers 5 s after it starts (its discovery
//! manager's fixed throttle), and an alert drill waits for every member's first scrape before
//! its first fault: the quickstart's disaster comes about 3 s in, so it waits. The same pairs
//! are run a second time with a 5 s steady state (a `sleep` before the disaster, in both
//! variants), the shape of an alert drill, which gives Prometheus that time.

use std::path::Path;
use std::process::Command;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `scenario`; (RTO to the first write, whole run) in ms.
fn run(scenario: &Path, reports: &Path) -> (f64, f64) {
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-drill"))
        .arg("run")
        .arg(scenario)
        .arg("--report-dir")
        .arg(reports)
        .output()
        .expect("etcd-drill runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let newest = std::fs::read_dir(reports)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("report.json").is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("a run directory");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest.join("report.json")).unwrap()).unwrap();
    let rto = r["restore"]["rto_first_write_ms"].as_f64().expect("an RTO");
    (rto, r["duration_ms"].as_f64().expect("a duration"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pairs: usize = args
        .iter()
        .position(|a| a == "--pairs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("scenarios/quickstart.yaml")).unwrap();
    let reports = dir.path().join("reports");
    for (title, steady) in [("the quickstart", false), ("with a 5 s steady state", true)] {
        let text = if steady {
            text.replace(
                "  - disaster: {}",
                "  - sleep: { duration: 5s }\n  - disaster: {}",
            )
        } else {
            text.clone()
        };
        let plain = dir.path().join("plain.yaml");
        let watched = dir.path().join("monitored.yaml");
        std::fs::write(&plain, &text).unwrap();
        std::fs::write(
            &watched,
            text.replace(
                "name: quickstart",
                "name: quickstart-monitored\nmonitoring: {}",
            ),
        )
        .unwrap();
        println!("\n{title}");
        pairs_of(&plain, &watched, &reports, pairs);
    }
}

fn pairs_of(plain: &Path, watched: &Path, reports: &Path, pairs: usize) {
    let (mut without, mut with) = (Vec::new(), Vec::new());
    println!("run  monitoring  RTO ms  total ms");
    for i in 0..pairs {
        for (monitored, scenario) in [(false, plain), (true, watched)] {
            let (rto, total) = run(scenario, reports);
            println!(
                "{:>3}  {:<10}  {rto:>6.0}  {total:>8.0}",
                i + 1,
                if monitored { "yes" } else { "no" }
            );
            if monitored { &mut with } else { &mut without }.push((rto, total));
        }
    }
    let m = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
    let (rto0, rto1) = (m(&without, |x| x.0), m(&with, |x| x.0));
    let (t0, t1) = (m(&without, |x| x.1), m(&with, |x| x.1));
    println!("\nmedian of {pairs}   without   with monitoring   difference");
    println!(
        "RTO ms        {rto0:>7.0}   {rto1:>15.0}   {:+.1}%",
        (rto1 / rto0 - 1.0) * 100.0
    );
    println!(
        "total ms      {t0:>7.0}   {t1:>15.0}   {:+.1}%",
        (t1 / t0 - 1.0) * 100.0
    );
}
