//! A tool a test needs from this machine (minisign, headless Chromium): found on PATH, or
//! `None` (the test skips) without it; under CI (CI=true) its absence fails the test, since
//! `.ci/setup` installs it.
#![allow(dead_code)]

use std::path::PathBuf;

/// The first of `names` on PATH.
pub fn required(names: &[&str], why: &str) -> Option<PathBuf> {
    let found = names.iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "CI=true but {} is missing (.ci/setup installs it): {why}",
            names.join(" or ")
        );
        eprintln!("skipping: no {} ({why})", names.join(" or "));
    }
    found
}
