//! A known-bug drill's plan: which etcd bug it reproduces, which versions carry it, and the
//! violation that catches it.

use crate::scenario::{Problem, Scenario};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KnownBugPlan {
    /// etcd's issue number.
    pub issue: u32,
    /// The first release of each line with the fix.
    pub fixed_in: Vec<String>,
    /// The first release that carried it, if younger than the lines listed.
    pub introduced_in: Option<String>,
    /// The violation the linearizability check names when it catches the bug.
    pub fails_with: String,
}

/// `3.5.16` → (3, 5, 16); `None` for anything else.
fn number(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let n = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(n)
}

impl KnownBugPlan {
    /// Whether etcd `version` carries the bug: below the fix of its line (and not below the
    /// release that introduced it). A line the fixes do not name is taken as never affected.
    pub fn affects(&self, version: &str) -> bool {
        let Some(v) = number(version) else {
            return false;
        };
        let introduced = self.introduced_in.as_deref().and_then(number);
        if introduced.is_some_and(|i| v < i) {
            return false;
        }
        self.fixed_in
            .iter()
            .filter_map(|f| number(f))
            .any(|f| (f.0, f.1) == (v.0, v.1) && v < f)
    }
}

pub(super) fn known_bug(
    s: &Scenario,
    has_workload: bool,
    problems: &mut Vec<Problem>,
) -> Option<KnownBugPlan> {
    let spec = &s.known_bug.as_ref()?;
    let spec_at = &spec.referenced;
    let spec = &spec.value;
    let versions = spec.fixed_in.iter().chain(spec.introduced_in.as_ref());
    for v in versions {
        if number(&v.value).is_none() {
            problems.push(Problem::at(
                &v.referenced,
                format!("expected a release number like 3.5.22, found {:?}", v.value),
            ));
        }
    }
    if spec.fixed_in.is_empty() {
        problems.push(Problem::at(
            spec_at,
            "expected `fixed-in`: the first release of each line with the fix",
        ));
    }
    let kind = &spec.fails_with;
    use crate::scenario::{FAILS_WITH_DURABILITY, FAILS_WITH_HASHKV};
    if ![FAILS_WITH_DURABILITY, FAILS_WITH_HASHKV].contains(&kind.value.as_str())
        && !crate::scenario::VIOLATION_KINDS.contains(&kind.value.as_str())
    {
        problems.push(Problem::at(
            &kind.referenced,
            format!(
                "expected `durability`, `hashkv` or a violation the linearizability check names ({}), found {:?}",
                crate::scenario::VIOLATION_KINDS.join(", "),
                kind.value
            ),
        ));
    }
    if !has_workload {
        problems.push(Problem::at(
            spec_at,
            "expected a `workload:`: the linearizability check that catches the bug checks its history",
        ));
    }
    Some(KnownBugPlan {
        issue: spec.issue.value,
        fixed_in: spec.fixed_in.iter().map(|v| v.value.clone()).collect(),
        introduced_in: spec.introduced_in.as_ref().map(|v| v.value.clone()),
        fails_with: kind.value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_below_the_fix_of_its_line_is_affected() {
        let bug = KnownBugPlan {
            issue: 20221,
            fixed_in: vec!["3.4.38".into(), "3.5.22".into()],
            introduced_in: None,
            fails_with: "watch-before-start".into(),
        };
        let affected = ["3.5.1", "3.5.16", "3.4.23", "3.5.21"];
        let fixed = ["3.5.22", "3.5.30", "3.4.38", "3.6.0", "3.5"];
        assert!(affected.iter().all(|v| bug.affects(v)));
        assert!(!fixed.iter().any(|v| bug.affects(v)));
        let younger = KnownBugPlan {
            introduced_in: Some("3.5.10".into()),
            ..bug
        };
        assert!(!younger.affects("3.5.1") && younger.affects("3.5.16"));
        assert!(!younger.affects("3.4.23"));
    }
}
