//! `verify-report`, `history` and `keygen`: the evidence across runs, on the command line.

use super::eprint;
use crate::evidence::{history, history_render, sign, verify};
use crate::exit_codes;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Md,
    Html,
}

/// 0 when every check holds, 1 naming what does not, 2 when there is nothing to check.
pub fn verify_report(run: &Path, public_key: Option<&Path>, previous: Option<&Path>) -> i32 {
    let req = verify::Request {
        run_dir: run,
        public_key,
        previous,
    };
    let v = match verify::verify(&req) {
        Ok(v) => v,
        Err(e) => {
            eprint(e);
            return exit_codes::BAD_INPUT;
        }
    };
    if let Err(e) = v.render(&mut std::io::stdout()) {
        eprint(format!("cannot print the result: {e}"));
    }
    if v.failed() {
        exit_codes::GATE_FAILED
    } else {
        exit_codes::PASSED
    }
}

pub fn history(runs: &[PathBuf], format: HistoryFormat, max_regression: f64) -> i32 {
    if !(max_regression.is_finite() && max_regression >= 0.0) {
        eprint(format!(
            "--max-regression must be a percentage of 0 or more, not {max_regression}"
        ));
        return exit_codes::BAD_INPUT;
    }
    let (found, errors, twice) = history::collect(runs);
    for e in &errors {
        eprint(e);
    }
    if found.is_empty() {
        eprint("no run to show");
        return exit_codes::BAD_INPUT;
    }
    let h = history::build(&found, max_regression);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match format {
        HistoryFormat::Table => history_render::terminal(&h, &mut out),
        HistoryFormat::Md => history_render::markdown(&h, &mut out),
        HistoryFormat::Html => history_render::html(&h, &mut out),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprint(format!("cannot print the history: {e}"));
        }
    }
    let mut gate = h.gate();
    gate.extend(twice);
    for g in &gate {
        eprint(g);
    }
    if gate.is_empty() && errors.is_empty() {
        exit_codes::PASSED
    } else if gate.is_empty() {
        exit_codes::BAD_INPUT
    } else {
        exit_codes::GATE_FAILED
    }
}

/// `etcd-drill sign RUN_DIR`: 0 signed, 1 refused because the run does not match its
/// manifest, 2 bad input (no run, no manifest, already signed, a key that does not open).
pub fn sign_run(run: &Path, key: &Path) -> i32 {
    use crate::report::manifest::{self, MANIFEST, SIGNATURE};
    let dir = crate::evidence::chain::run_dir_of(run);
    let report = match crate::report::read::read_report(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprint(e);
            return exit_codes::BAD_INPUT;
        }
    };
    if dir.join(SIGNATURE).exists() {
        let by = sign::signed_by(&dir).unwrap_or_else(|| "an unknown key".into());
        eprint(format!(
            "{}: already signed (key id {by}); remove {SIGNATURE} to sign it again",
            dir.display()
        ));
        return exit_codes::BAD_INPUT;
    }
    match manifest::verify_manifest(&dir) {
        Ok(problems) if problems.is_empty() => {}
        Ok(problems) => {
            eprint(format!(
                "{}: refusing to sign evidence that does not match its {MANIFEST}: {}",
                dir.display(),
                problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            return exit_codes::GATE_FAILED;
        }
        Err(e) => {
            eprint(format!("{}: cannot read {MANIFEST}: {e}", dir.display()));
            return exit_codes::BAD_INPUT;
        }
    }
    let signer = match sign::Signer::load(key) {
        Ok(s) => s,
        Err(e) => {
            eprint(format!("--sign-key: {e}"));
            return exit_codes::BAD_INPUT;
        }
    };
    match signer.sign_manifest(&dir, &report.run_id, &report.scenario.name) {
        Ok(path) => {
            println!(
                "signed: {} (key id {}; minisign -Vm {} -p KEY.pub)",
                path.display(),
                signer.key_id(),
                dir.join(MANIFEST).display()
            );
            exit_codes::PASSED
        }
        Err(e) => {
            eprint(e);
            exit_codes::ENVIRONMENT
        }
    }
}

pub fn keygen(secret: &Path, public: &Path) -> i32 {
    let password = std::env::var(sign::PASSWORD_ENV).unwrap_or_default();
    match sign::generate(secret, public, &password) {
        Ok(id) => {
            let how = if password.is_empty() {
                format!("not encrypted: set {} to encrypt it", sign::PASSWORD_ENV)
            } else {
                "encrypted".into()
            };
            println!(
                "key id {id}: secret key {} ({how}), public key {}",
                secret.display(),
                public.display()
            );
            exit_codes::PASSED
        }
        Err(e) => {
            eprint(e);
            exit_codes::BAD_INPUT
        }
    }
}
