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
    // A document that is no mapping at all (a list, `~`, a word) is said as that, alone.
    if let Err(e) = parse::<TopShape>(text) {
        if e.to_string().contains(TOP_SHAPE) {
            return vec![problem_of(&e)];
        }
    }
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
    let only = |i: usize| {
        ONLY_STEP.with(|c| c.set(i));
    };
    // A step written as a bare name (`- disaster`) makes serde read the next step as its
    // options, so what it says about the steps after it is wrong: a bare name is said alone.
    let bare: Vec<serde_saphyr::Error> = (0..steps)
        .filter_map(|i| {
            only(i);
            parse::<Sections<I, I, I, I, OnlyStep<StepShape>, I>>(text).err()
        })
        .collect();
    let step_passes: Vec<serde_saphyr::Error> = if bare.is_empty() {
        (0..steps)
            .filter_map(|i| {
                only(i);
                parse::<Sections<I, I, I, I, OnlyStep<super::Step>, I>>(text).err()
            })
            .collect()
    } else {
        bare
    };
    let sections = passes
        .iter()
        .enumerate()
        .filter(|(i, _)| step_passes.is_empty() || *i != STEPS_PASS)
        .filter_map(|(_, e)| e.as_ref());
    let mut problems = Vec::new();
    if step_passes.is_empty() {
        problems.push(problem_of(first));
    }
    for e in sections.chain(&step_passes) {
        let p = problem_of(e);
        if !problems
            .iter()
            .any(|q| q.line == p.line && q.column == p.column)
        {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        problems.push(problem_of(first));
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

const TOP_SHAPE: &str = "expected a scenario: a mapping with `name`, `cluster` and `steps`";

/// Reads a mapping through, whatever it holds.
fn drain<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map
        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
        .is_some()
    {}
    Ok(())
}

/// The document's shape only: a mapping (whatever its keys).
struct TopShape;

impl<'de> serde::Deserialize<'de> for TopShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = TopShape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(TOP_SHAPE)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TopShape, A::Error> {
                drain(map).map(|_| TopShape)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<TopShape, A::Error> {
                Err(serde::de::Error::custom(format!("{TOP_SHAPE}, not a list")))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<TopShape, E> {
                Err(E::custom(format!("{TOP_SHAPE}, not `~` (null)")))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<TopShape, E> {
                self.visit_unit()
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TopShape, E> {
                Err(E::custom(format!("{TOP_SHAPE}, not the text {v:?}")))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<TopShape, E> {
                Err(E::custom(format!("{TOP_SHAPE}, not `{v}`")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TopShape, E> {
                Err(E::custom(format!("{TOP_SHAPE}, not the number {v}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TopShape, E> {
                Err(E::custom(format!("{TOP_SHAPE}, not the number {v}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<TopShape, E> {
                Err(E::custom(format!("{TOP_SHAPE}, not the number {v}")))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Which of `all_problems`' section passes reads the steps.
const STEPS_PASS: usize = 4;

/// A step's shape only: a mapping (whatever its keys), never a bare name.
struct StepShape;

impl<'de> serde::Deserialize<'de> for StepShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = StepShape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step: a mapping such as `- disaster: {}`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<StepShape, A::Error> {
                drain(map).map(|_| StepShape)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StepShape, E> {
                Err(E::custom(format!(
                    "expected a step as a mapping: write `- {v}: {{}}` for a step with no options"
                )))
            }
        }
        d.deserialize_any(Visit)
    }
}

thread_local! {
    /// Which step an `OnlyStep` pass reads as a `Step` (see `all_problems`).
    static ONLY_STEP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The steps list with only the step `ONLY_STEP` read as a `T`, every other one skipped.
struct OnlyStep<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for OnlyStep<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = OnlyStep<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of steps")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OnlyStep<T>, A::Error> {
                let want = ONLY_STEP.with(|c| c.get());
                for i in 0.. {
                    let more = if i == want {
                        seq.next_element::<T>()?.is_some()
                    } else {
                        seq.next_element::<serde::de::IgnoredAny>()?.is_some()
                    };
                    if !more {
                        break;
                    }
                }
                Ok(OnlyStep(std::marker::PhantomData))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
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
