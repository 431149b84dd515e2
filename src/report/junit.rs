//! JUnit XML, so that a CI system shows a drill like a test run: one test suite per drill (named
//! after the scenario), one test case per gate and one per step. A failed gate is a failure with
//! its target and actual figure; a failed step a failure with its error; a step that never ran
//! is skipped. A drill that failed outside any step (set-up, interrupted) gets one more case,
//! an error, so that its suite can never look green.

use crate::record::{RunReport, StepStatus, Verdict};
use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::io::{self, Write};
use std::time::Duration;

/// One file for any number of drills.
pub fn render(reports: &[RunReport], out: &mut dyn Write) -> io::Result<()> {
    let mut report = Report::new("etcd-drill");
    let total: u64 = reports.iter().map(|r| r.duration_ms).sum();
    report.set_time(Duration::from_millis(total));
    if let Some(t) = reports.first().and_then(|r| timestamp(&r.started_at)) {
        report.set_timestamp(t);
    }
    report.add_test_suites(reports.iter().map(suite));
    report.serialize(out).map_err(io::Error::other)
}

fn timestamp(rfc3339: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(rfc3339).ok()
}

fn suite(r: &RunReport) -> TestSuite {
    let mut suite = TestSuite::new(r.scenario.name.as_str());
    suite.set_time(Duration::from_millis(r.duration_ms));
    if let Some(t) = timestamp(&r.started_at) {
        suite.set_timestamp(t);
    }
    let image = r.environment.image.as_ref();
    let properties = [
        ("run-id", r.run_id.clone()),
        ("scenario-path", r.scenario.path.display().to_string()),
        ("scenario-sha256", r.scenario.sha256.clone()),
        ("verdict", super::document::verdict_of(r)),
        (
            "etcd-version",
            r.environment.etcd_version.clone().unwrap_or_default(),
        ),
        ("image-id", image.map(|i| i.id.clone()).unwrap_or_default()),
        ("tool-version", r.tool.version.clone()),
    ];
    suite.add_properties(
        properties
            .into_iter()
            .map(|(k, v)| quick_junit::Property::new(k, v)),
    );
    let class = r.scenario.name.as_str();
    for s in &r.steps {
        let mut status = match s.status {
            StepStatus::Passed => TestCaseStatus::success(),
            StepStatus::Failed => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(s.error.as_deref().unwrap_or("step failed"));
                st.set_type("step failed");
                st
            }
            StepStatus::NotRun => TestCaseStatus::skipped(),
        };
        if s.status == StepStatus::NotRun {
            status.set_message("not run: an earlier step or the set-up failed");
        }
        let mut case = TestCase::new(format!("step {}: {}", s.index, s.step), status);
        case.set_classname(format!("{class}.steps"));
        if let Some(d) = s.duration_ms {
            case.set_time(Duration::from_millis(d));
        }
        suite.add_test_case(case);
    }
    for g in &r.gates {
        let status = if g.passed {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("target {}, actual {}", g.target, g.actual));
            st.set_type("gate failed");
            st
        };
        let mut case = TestCase::new(format!("gate: {}", g.gate), status);
        case.set_classname(format!("{class}.gates"));
        case.set_system_out(format!("target: {}\nactual: {}\n", g.target, g.actual));
        suite.add_test_case(case);
    }
    if let Some(case) = outside_steps(r) {
        suite.add_test_case(case);
    }
    suite
}

/// The error case for a drill that did not pass although no step and no gate failed.
fn outside_steps(r: &RunReport) -> Option<TestCase> {
    let step_failed = r.steps.iter().any(|s| s.status == StepStatus::Failed);
    let message = match r.verdict {
        Verdict::Interrupted => r.error.clone().unwrap_or_else(|| "interrupted".into()),
        Verdict::DrillFailed | Verdict::EnvironmentFailed if !step_failed => r
            .error
            .clone()
            .unwrap_or_else(|| "the drill failed outside any step".into()),
        _ => return None,
    };
    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
    st.set_message(message);
    st.set_type(super::document::verdict_text(r.verdict));
    let mut case = TestCase::new("drill", st);
    case.set_classname(r.scenario.name.as_str());
    Some(case)
}
