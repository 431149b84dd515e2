//! Reading a scenario file: YAML → `Scenario`, with errors that name file:line:column.

use super::Scenario;
use serde_saphyr::Location;
use std::fmt;
use std::path::{Path, PathBuf};

/// A scenario as read from disk, with what the report needs to identify it.
#[derive(Debug)]
pub struct ScenarioFile {
    pub path: PathBuf,
    pub sha256: String,
    pub scenario: Scenario,
}

/// One problem at one place of a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl Problem {
    pub fn at(loc: &Location, message: impl Into<String>) -> Self {
        Problem {
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found in one file, reported together.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}:{}:{}: {}",
            path.display(),
            p.line,
            p.column,
            p.message
        ));
    }
    out
}

impl ScenarioError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Invalid { problems, .. } => problems,
            ScenarioError::Read { .. } => &[],
        }
    }
}

/// Reads and parses a scenario file. Semantic checks are `crate::plan`'s.
pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, &text)
}

pub fn load_str(path: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
    use sha2::Digest;
    let sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let scenario: Scenario = parse(text).map_err(|e| ScenarioError::Invalid {
        path: path.to_path_buf(),
        problems: all_problems(text, &e),
    })?;
    Ok(ScenarioFile {
        path: path.to_path_buf(),
        sha256,
        scenario,
    })
}

/// The scenario's YAML read strictly: `true` and `false` are the only booleans (YAML 1.1's
/// `yes`, `no`, `on` and `off` are refused, not read as booleans).
fn parse<'de, T: serde::Deserialize<'de>>(text: &'de str) -> Result<T, serde_saphyr::Error> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options)
}

/// Serde stops at the first error. To show a file's mistakes together, parse again once per
/// top-level section with the other sections ignored: each pass finds that section's first
/// mistake. Duplicates (a syntax error every pass hits) are dropped.
fn all_problems(text: &str, first: &serde_saphyr::Error) -> Vec<Problem> {
    use super::{ClusterSpec, Expectations, SeedSpec, Step, WorkloadSpec};
    use serde::de::IgnoredAny as I;
    let passes: [Option<serde_saphyr::Error>; 6] = [
        parse::<Sections<String, I, I, I, I, I>>(text).err(),
        parse::<Sections<I, ClusterSpec, I, I, I, I>>(text).err(),
        parse::<Sections<I, I, SeedSpec, I, I, I>>(text).err(),
        parse::<Sections<I, I, I, WorkloadSpec, I, I>>(text).err(),
        serde_saphyr::from_str::<Sections<I, I, I, I, Vec<Step>, I>>(text).err(),
        parse::<Sections<I, I, I, I, I, Expectations>>(text).err(),
    ];
    // Steps are many and independent: one more pass per step finds a mistake in each of them.
    let steps = serde_saphyr::from_str::<Sections<I, I, I, I, Vec<I>, I>>(text)
        .map(|s| s.steps.len())
        .unwrap_or(0);
    let step_passes = (0..steps).filter_map(|i| {
        ONLY_STEP.with(|c| c.set(i));
        parse::<Sections<I, I, I, I, OnlyStep, I>>(text).err()
    });
    let step_passes: Vec<serde_saphyr::Error> = step_passes.collect();
    let mut problems = vec![problem_of(first)];
    for e in passes.iter().flatten().chain(&step_passes) {
        let p = problem_of(e);
        if !problems
            .iter()
            .any(|q| q.line == p.line && q.column == p.column)
        {
            problems.push(p);
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

thread_local! {
    /// Which step an `OnlyStep` pass reads as a `Step` (see `all_problems`).
    static ONLY_STEP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The steps list with only the step `ONLY_STEP` read as a `Step`, every other one skipped.
struct OnlyStep;

impl<'de> serde::Deserialize<'de> for OnlyStep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = OnlyStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of steps")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OnlyStep, A::Error> {
                let want = ONLY_STEP.with(|c| c.get());
                for i in 0.. {
                    let more = if i == want {
                        seq.next_element::<super::Step>()?.is_some()
                    } else {
                        seq.next_element::<serde::de::IgnoredAny>()?.is_some()
                    };
                    if !more {
                        break;
                    }
                }
                Ok(OnlyStep)
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// The scenario's top level with each section's type chosen per pass (see `all_problems`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct Sections<N, C, S, W, St, E> {
    name: N,
    #[serde(default)]
    description: Option<serde::de::IgnoredAny>,
    cluster: C,
    #[serde(default = "none")]
    seed: Option<S>,
    #[serde(default = "none")]
    workload: Option<W>,
    steps: St,
    #[serde(default = "none")]
    expect: Option<E>,
    #[serde(default)]
    notify: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    backup: Option<serde::de::IgnoredAny>,
}

fn none<T>() -> Option<T> {
    None
}

/// serde-saphyr renders a snippet with its message; we keep the first line of the message and
/// put the position in front, compiler-style, so editors and CI logs can jump to it.
fn problem_of(e: &serde_saphyr::Error) -> Problem {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    Problem {
        line,
        column,
        message: ErrorText(e).to_string(),
    }
}

struct ErrorText<'a>(&'a serde_saphyr::Error);

impl fmt::Display for ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.0.to_string();
        let first = full.lines().next().unwrap_or("invalid scenario").trim();
        // Drop serde-saphyr's own "error: line X column Y: " prefix: we print the position first.
        let msg = first.strip_prefix("error: ").unwrap_or(first);
        let msg = match msg.strip_prefix("line ") {
            Some(rest) => rest.split_once(": ").map(|(_, m)| m).unwrap_or(rest),
            None => msg,
        };
        let msg = match msg {
            m if m.starts_with("invalid u32") => "expected a whole number from 0 to 4294967295",
            m if m.starts_with("invalid u64") => {
                "expected a whole number from 0 to 18446744073709551615"
            }
            "expected mapping start" => {
                "expected a mapping (write `{}` for a step with no options)"
            }
            m if m.starts_with("unexpected end of input") => {
                "empty scenario: expected a mapping with `name`, `cluster` and `steps`"
            }
            m if m.starts_with("invalid boolean") => "expected `true` or `false`",
            m if m.starts_with("multiple YAML documents") => {
                "expected one YAML document: a scenario file holds one scenario (remove the `---` and what follows)"
            }
            m if m.starts_with("duplicate mapping key: ") => {
                let key = m["duplicate mapping key: ".len()..]
                    .split(',')
                    .next()
                    .unwrap_or_default();
                return write!(f, "duplicate key `{key}`: each key may appear once");
            }
            m => m,
        };
        f.write_str(msg)?;
        if msg.ends_with("expected a duration") {
            f.write_str(" with a unit, like \"30s\" or \"500ms\"")?;
        }
        Ok(())
    }
}
