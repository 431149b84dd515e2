//! Waiting for a child process while reading its peak resident set (VmHWM) from /proc: the
//! memory a streaming test bounds and the scale benchmark prints. Shared by both.

use std::process::Child;
use std::time::Duration;

/// Waits for `child`, polling its VmHWM every 50 ms; returns (exit code, peak KiB).
pub fn wait_with_peak_rss(child: &mut Child) -> (Option<i32>, u64) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(s) = child.try_wait().expect("wait for the child") {
            return (s.code(), peak_kib);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
