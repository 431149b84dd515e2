//! `etcd-drill verify-report RUN_DIR`: is this folder exactly what the run wrote, signed by the
//! key the auditor trusts, and still linked to the run before it? Three checks, each a line;
//! any that fails makes the command exit 1, naming what does not match.

use super::chain::{self, LinkState};
use super::sign::{self, SignatureCheck};
use crate::report::manifest::{self, MANIFEST};
use std::path::{Path, PathBuf};

/// One check's outcome: passed, failed, or not made (with why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    Failed(String),
    NotChecked(String),
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub run_dir: PathBuf,
    pub checks: Vec<(&'static str, Outcome)>,
}

impl Verification {
    pub fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed(_)))
    }

    pub fn render(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(out, "{}", self.run_dir.display())?;
        for (what, o) in &self.checks {
            let (mark, text) = match o {
                Outcome::Ok(t) => ("ok", t),
                Outcome::Failed(t) => ("FAILED", t),
                Outcome::NotChecked(t) => ("not checked", t),
            };
            writeln!(out, "  {what:<10} {mark}: {text}")?;
        }
        Ok(())
    }
}

/// What the command was asked: the folder, the auditor's public key, where the previous run is.
pub struct Request<'a> {
    pub run_dir: &'a Path,
    pub public_key: Option<&'a Path>,
    pub previous: Option<&'a Path>,
}

/// Bad input (no such run, a public key that does not read): nothing was checked.
pub fn verify(req: &Request) -> Result<Verification, String> {
    // Absolute: the previous run is looked for beside this one, through its parent.
    if !req.run_dir.exists() {
        return Err(format!(
            "{}: no such run directory (or report.json)",
            req.run_dir.display()
        ));
    }
    let dir = std::path::absolute(chain::run_dir_of(req.run_dir))
        .map_err(|e| format!("{}: {e}", req.run_dir.display()))?;
    let public = match req.public_key {
        Some(p) => Some(sign::read_public_key(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut checks = vec![("manifest", manifest_check(&dir))];
    let report = match crate::report::read::read_report(&dir) {
        Ok(r) => r,
        // A sealed run whose report no longer reads was altered: that is the finding, not
        // bad input.
        Err(e) if dir.join(MANIFEST).is_file() => {
            checks.push(("report", Outcome::Failed(e.to_string())));
            let why =
                "report.json does not read: the run cannot be matched to a signature or a chain";
            checks.push(("signature", Outcome::NotChecked(why.into())));
            checks.push(("chain", Outcome::NotChecked(why.into())));
            return Ok(Verification {
                run_dir: dir,
                checks,
            });
        }
        Err(e) => return Err(e.to_string()),
    };
    checks.push(("signature", signature_check(&dir, &report, public.as_ref())));
    checks.push(("chain", chain_check(&dir, &report, req.previous)));
    Ok(Verification {
        run_dir: dir,
        checks,
    })
}

fn manifest_check(dir: &Path) -> Outcome {
    match manifest::verify_manifest(dir) {
        Ok(problems) if problems.is_empty() => {
            let n = std::fs::read_to_string(dir.join(MANIFEST))
                .map(|t| t.lines().count())
                .unwrap_or(0);
            Outcome::Ok(format!("{n} files match {MANIFEST}"))
        }
        Ok(problems) => Outcome::Failed(
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => Outcome::Failed(format!("cannot read {MANIFEST}: {e}")),
    }
}

fn signature_check(
    dir: &Path,
    report: &crate::record::RunReport,
    public: Option<&minisign::PublicKey>,
) -> Outcome {
    let recorded = report
        .evidence
        .as_ref()
        .and_then(|e| e.signed_by_key_id.clone());
    let Some(public) = public else {
        return match (sign::signed_by(dir), recorded) {
            (Some(id), _) => Outcome::NotChecked(format!(
                "signed by key id {id}; give --public-key to check it"
            )),
            // The run says it was signed: a missing signature was removed (or never written).
            (None, Some(id)) => Outcome::Failed(format!(
                "report.json names signing key id {id} but there is no {}",
                manifest::SIGNATURE
            )),
            (None, None) => Outcome::NotChecked("the run is not signed".into()),
        };
    };
    match sign::check(dir, public) {
        SignatureCheck::Unsigned => {
            Outcome::Failed(format!("no {}: the run is not signed", manifest::SIGNATURE))
        }
        SignatureCheck::Invalid(why) => Outcome::Failed(why),
        SignatureCheck::Valid { key_id, trusted } => {
            let expected = sign::trusted_comment(&report.run_id, &report.scenario.name);
            // The manifest holds report.json's digest, so the signature binds this run
            // whatever its comment says; a comment in etcd-drill's form must name this run.
            let ours = trusted.starts_with("etcd-drill run ");
            if recorded.as_deref().is_some_and(|r| r != key_id) {
                Outcome::Failed(format!(
                    "signed by key id {key_id}, but report.json names key id {}",
                    recorded.unwrap_or_default()
                ))
            } else if ours && trusted != expected {
                Outcome::Failed(format!(
                    "the signature is for \"{trusted}\", not this run (\"{expected}\")"
                ))
            } else if !ours {
                Outcome::Ok(format!(
                    "valid, key id {key_id} (a plain minisign signature; trusted comment \"{trusted}\")"
                ))
            } else {
                Outcome::Ok(format!("valid, key id {key_id} ({trusted})"))
            }
        }
    }
}

fn chain_check(dir: &Path, report: &crate::record::RunReport, previous: Option<&Path>) -> Outcome {
    let candidates = match previous {
        Some(p) => {
            let p = chain::run_dir_of(p);
            match crate::report::read::read_report(&p) {
                Ok(r) => vec![(p, r)],
                Err(e) => return Outcome::Failed(format!("--previous: {e}")),
            }
        }
        // The run's siblings: a report directory keeps every month side by side.
        None => dir.parent().map(chain::sealed_runs).unwrap_or_default(),
    };
    match chain::check_link(report, &candidates) {
        LinkState::First => Outcome::Ok("first run of its chain (no earlier run linked)".into()),
        s @ LinkState::Intact { .. } => Outcome::Ok(s.describe()),
        s @ LinkState::Missing { .. } if previous.is_none() => Outcome::Failed(format!(
            "{}; give --previous DIR if it is kept elsewhere",
            s.describe()
        )),
        s @ LinkState::Missing { .. } => {
            Outcome::Failed(format!("{}: --previous is another run", s.describe()))
        }
        s => Outcome::Failed(s.describe()),
    }
}
