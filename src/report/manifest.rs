//! `MANIFEST.sha256`: the SHA-256 of every file of a run directory (snapshots included), in
//! `sha256sum` format, so an auditor can check the evidence with nothing but coreutils:
//! `cd reports/<run-id> && sha256sum -c MANIFEST.sha256`. `verify_manifest` does the same and
//! also reports files that were added after the manifest was written.

use crate::util::sha256_file;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "MANIFEST.sha256";
/// The manifest's minisign signature, when the run was signed (`run --sign-key`): it seals the
/// manifest, so the manifest cannot list it.
pub const SIGNATURE: &str = "MANIFEST.sha256.minisig";

/// Writes the manifest of `run_dir` (every regular file below it, sorted, the manifest itself
/// excluded) and returns its path.
pub fn write_manifest(run_dir: &Path) -> io::Result<PathBuf> {
    let mut text = String::new();
    for rel in files(run_dir)? {
        let digest = sha256_file(&run_dir.join(&rel))?;
        text.push_str(&line(&digest, &rel));
    }
    let path = run_dir.join(MANIFEST);
    fs::write(&path, text)?;
    Ok(path)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file's content is not what the manifest says.
    Mismatch(String),
    /// Listed in the manifest, but gone.
    Missing(String),
    /// In the directory, but not in the manifest.
    Unlisted(String),
    /// A manifest line that is not `<64 hex>  <path>`.
    Malformed(usize),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Mismatch(p) => write!(f, "{p}: FAILED (content differs)"),
            Problem::Missing(p) => write!(f, "{p}: FAILED (missing)"),
            Problem::Unlisted(p) => write!(f, "{p}: not in the manifest"),
            Problem::Malformed(n) => write!(f, "{MANIFEST} line {n}: not a sha256sum line"),
        }
    }
}

/// Checks every file the manifest lists, and looks for files it does not list. An empty list
/// means the directory is exactly what was written.
pub fn verify_manifest(run_dir: &Path) -> io::Result<Vec<Problem>> {
    let text = fs::read_to_string(run_dir.join(MANIFEST))?;
    let mut problems = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for (i, l) in text.lines().enumerate() {
        let Some((expected, rel)) = parse_line(l) else {
            problems.push(Problem::Malformed(i + 1));
            continue;
        };
        listed.insert(rel.clone());
        match sha256_file(&run_dir.join(&rel)) {
            Ok(actual) if actual == expected => {}
            Ok(_) => problems.push(Problem::Mismatch(rel)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => problems.push(Problem::Missing(rel)),
            Err(e) => return Err(e),
        }
    }
    for rel in files(run_dir)? {
        if !listed.contains(&rel) {
            problems.push(Problem::Unlisted(rel));
        }
    }
    Ok(problems)
}

/// Whether one file of a run directory is what its manifest says: `None` without a manifest or
/// without a line for it. Cheap: one file is hashed.
pub fn file_matches(run_dir: &Path, rel: &str) -> Option<bool> {
    let text = fs::read_to_string(run_dir.join(MANIFEST)).ok()?;
    let expected = text
        .lines()
        .filter_map(parse_line)
        .find(|(_, name)| name == rel)?
        .0;
    Some(sha256_file(&run_dir.join(rel)).is_ok_and(|d| d == expected))
}

/// Relative paths (with `/`) of every regular file below `dir`, sorted, without the manifest
/// and its signature.
fn files(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = rel.join(entry.file_name());
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let name = path.to_string_lossy().replace('\\', "/");
                if name != MANIFEST && name != SIGNATURE && !is_private_key(&name) {
                    out.push(name);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A TLS private key of a kept run (`--keep`: the scene is reachable with it). Keys are never
/// evidence: the manifest neither seals nor expects them, and they go when the scene does.
fn is_private_key(rel: &str) -> bool {
    ["tls/server.key", "tls/peer.key", "tls/client.key"].contains(&rel)
}

/// One `sha256sum` line; a name with a backslash or a newline is escaped the way GNU
/// coreutils does it (a leading backslash, then `\\` and `\n`).
fn line(digest: &str, rel: &str) -> String {
    if rel.contains(['\\', '\n']) {
        let name = rel.replace('\\', "\\\\").replace('\n', "\\n");
        format!("\\{digest}  {name}\n")
    } else {
        format!("{digest}  {rel}\n")
    }
}

fn parse_line(l: &str) -> Option<(String, String)> {
    let (escaped, l) = match l.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, l),
    };
    let (digest, name) = l.split_at_checked(64)?;
    let name = name
        .strip_prefix("  ")
        .or_else(|| name.strip_prefix(" *"))?;
    if !digest.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
        return None;
    }
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_string()
    };
    Some((digest.to_ascii_lowercase(), name))
}

fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        out.push(if c != '\\' {
            c
        } else {
            match chars.next()? {
                'n' => '\n',
                '\\' => '\\',
                _ => return None,
            }
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_runs_private_keys_are_neither_sealed_nor_expected() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tls")).unwrap();
        fs::write(dir.path().join("report.json"), "{}").unwrap();
        fs::write(dir.path().join("tls/ca.crt"), "cert").unwrap();
        fs::write(dir.path().join("tls/client.key"), "secret").unwrap();
        fs::write(dir.path().join("tls/server.key"), "secret").unwrap();
        let m = fs::read_to_string(write_manifest(dir.path()).unwrap()).unwrap();
        assert!(m.contains("tls/ca.crt") && !m.contains(".key"), "{m}");
        assert_eq!(verify_manifest(dir.path()).unwrap(), Vec::new());
        // Anything else added later is still found.
        fs::write(dir.path().join("tls/extra.key"), "x").unwrap();
        assert_eq!(
            verify_manifest(dir.path()).unwrap(),
            vec![Problem::Unlisted("tls/extra.key".into())]
        );
    }

    #[test]
    fn lines_round_trip_including_escaped_names() {
        let d = "ab".repeat(32);
        for name in [
            "report.json",
            "snapshots/a b.db",
            "odd\\name",
            "two\nlines",
            "a\\n",
        ] {
            let l = line(&d, name);
            assert_eq!(
                parse_line(l.trim_end_matches('\n')),
                Some((d.clone(), name.to_string()))
            );
        }
        assert_eq!(parse_line("nothex  report.json"), None);
    }
}
