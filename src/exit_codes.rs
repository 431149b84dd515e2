//! Exit codes, in one place, so pipelines can gate on them (see README "Exit codes").

/// Every drill ran and every gate passed.
pub const PASSED: i32 = 0;
/// Every drill ran to the end but at least one gate (expectation) failed.
pub const GATE_FAILED: i32 = 1;
/// The scenario or the command line is invalid; nothing was started.
pub const BAD_INPUT: i32 = 2;
/// The environment cannot run a drill: no Docker, image unavailable, ...
pub const ENVIRONMENT: i32 = 3;
/// A drill step failed (a snapshot refused, a cluster that never became healthy, ...).
pub const DRILL_FAILED: i32 = 4;
/// Interrupted by SIGINT or SIGTERM; the sandbox was torn down.
pub const INTERRUPTED: i32 = 130;
