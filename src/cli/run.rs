//! `etcd-drill run` (and `verify-snapshot`) on the terminal: the flags become the
//! orchestration's options, and what it says is printed: progress and lines on stderr, each
//! run's summary table and, for several, the summary of all on stdout.

use super::eprint;
use crate::events::RunEvent;
use crate::orchestrate::{self, Options, Output};
use crate::plan::Plan;
use crate::record::RunReport;
use tokio_util::sync::CancellationToken;

pub struct RunAll {
    pub drill: super::DrillArgs,
    pub fail_fast: bool,
}

impl RunAll {
    fn options(&self) -> Options {
        let d = &self.drill;
        Options {
            report_dir: d.report_dir.clone(),
            keep: d.keep,
            etcd_bin_dir: d.etcd_bin_dir.clone(),
            sign_key: d.sign_key.clone(),
            previous: d.previous.clone(),
            pushgateway: d.pushgateway.clone(),
            identity: d.identity.clone(),
            fail_fast: self.fail_fast,
        }
    }
}

/// The terminal: progress and lines on stderr, summaries on stdout.
struct Terminal {
    progress: crate::terminal::TerminalReporter,
}

impl Output for Terminal {
    fn say(&mut self, line: String) {
        eprint(line);
    }

    fn event(&mut self, event: &RunEvent) {
        self.progress.on(event);
    }

    fn summary(&mut self, report: &RunReport) {
        if let Err(e) = crate::report::Format::Table.render(report, &mut std::io::stdout()) {
            eprint(format!("cannot print the summary: {e}"));
        }
    }

    fn summaries(&mut self, reports: &[RunReport]) {
        if let Err(e) = crate::report::summary::render(reports, &mut std::io::stdout()) {
            eprint(format!("cannot print the summary: {e}"));
        }
    }
}

pub async fn run_all(plans: &[Plan], opts: &RunAll, cancel: CancellationToken) -> i32 {
    let mut terminal = Terminal {
        progress: crate::terminal::TerminalReporter::new(),
    };
    orchestrate::run_all(
        plans,
        &opts.options(),
        orchestrate::docker(),
        cancel,
        &mut terminal,
    )
    .await
}
