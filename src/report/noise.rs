//! When is a change a regression and not noise? A figure must move beyond a tolerance that is
//! the largest of: the threshold in percent of the baseline, a floor in the figure's own unit
//! (a 3 ms swing of a p99 is never news), and, with three or more baseline runs, three times
//! the spread those runs showed (the median absolute deviation, scaled to a standard
//! deviation). A percentile from fewer than `MIN_SAMPLES` operations is shown, never gated: a
//! p99 of a dozen samples is their maximum. `compare` (one baseline run) and `history` (a
//! rolling baseline of earlier runs) both judge through here.

/// Below this many operations in either run, a percentile is not judged.
pub const MIN_SAMPLES: u64 = 100;

/// Which way is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// The smallest change that can count, in the figure's unit: a second of recovery or
/// unavailability (`ms`; two runs of the same drill on an idle 2-core machine differ by half
/// that), 5 ms of a latency percentile (`ms p99`), and 20 writes or revisions (counts: at 50
/// writes/s, 0.4 s of the writer's work).
pub fn floor(unit: &str) -> f64 {
    match unit {
        "ms" => 1000.0,
        "ms p99" => 5.0,
        "" => 20.0,
        _ => 0.0,
    }
}

/// How a figure moved against its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The baseline: the median of the baseline runs' values.
    pub baseline: f64,
    /// The change that would count, in the figure's unit.
    pub tolerance: f64,
    /// Worse than the baseline by more than the tolerance.
    pub worse: bool,
    /// How sure: the change in tolerances (2 or more is clear).
    pub margin: f64,
    /// How many baseline runs the baseline and its spread come from.
    pub runs: usize,
}

impl Judgement {
    /// "clear", "marginal" or "within noise", with what the noise came from.
    pub fn sureness(&self) -> String {
        let how = if !self.worse {
            "within noise"
        } else if self.margin >= 2.0 {
            "clear"
        } else {
            "marginal: run again to confirm"
        };
        let from = if self.runs >= 3 {
            format!("spread of {} runs", self.runs)
        } else {
            "threshold and floor".to_string()
        };
        format!("{how} (±{} from {from})", trim(self.tolerance))
    }
}

fn trim(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Judges `current` against `baseline` runs (at least one). `pct` is the threshold in percent.
pub fn judge(
    better: Better,
    baseline: &[f64],
    current: f64,
    pct: f64,
    unit: &str,
) -> Option<Judgement> {
    if baseline.is_empty() {
        return None;
    }
    let mut values = baseline.to_vec();
    let base = median(&mut values);
    let spread = if values.len() >= 3 {
        let mut dev: Vec<f64> = values.iter().map(|v| (v - base).abs()).collect();
        3.0 * 1.4826 * median(&mut dev)
    } else {
        0.0
    };
    let tolerance = (base.abs() * pct / 100.0).max(floor(unit)).max(spread);
    let change = match better {
        Better::Lower => current - base,
        Better::Higher => base - current,
    };
    // From exactly zero (no lost write, no unavailability), any amount counts.
    let worse = change > tolerance || (base == 0.0 && change > 0.0);
    let margin = if tolerance > 0.0 {
        change / tolerance
    } else {
        f64::INFINITY
    };
    Some(Judgement {
        baseline: base,
        tolerance,
        worse,
        margin,
        runs: baseline.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_inside_the_floor_or_the_spread_is_noise() {
        // p99 6.0 → 9.5 ms: +58%, but under the 5 ms floor.
        let j = judge(Better::Lower, &[6.0], 9.5, 20.0, "ms p99").unwrap();
        assert!(!j.worse, "{j:?}");
        // RTO 2200 → 2500 ms with earlier runs spread 1900..2700: noise.
        let j = judge(
            Better::Lower,
            &[2200.0, 1900.0, 2700.0, 2400.0],
            2900.0,
            20.0,
            "ms",
        )
        .unwrap();
        assert!(!j.worse, "{j:?}");
        assert!(j.sureness().contains("within noise"));
    }

    #[test]
    fn a_real_slowdown_is_clear_and_a_near_one_is_marginal() {
        let j = judge(Better::Lower, &[2200.0, 2300.0, 2250.0], 7000.0, 20.0, "ms").unwrap();
        assert_eq!(j.baseline, 2250.0);
        assert!(j.worse && j.margin >= 2.0, "{j:?}");
        assert!(j.sureness().starts_with("clear"));
        let j = judge(Better::Lower, &[2000.0], 2500.0, 20.0, "ms").unwrap();
        assert!(!j.worse, "half a second is inside the floor: {j:?}");
        let j = judge(Better::Lower, &[2000.0], 3200.0, 20.0, "ms").unwrap();
        assert!(j.worse && j.margin < 2.0, "{j:?}");
        assert!(j.sureness().starts_with("marginal"));
        // Throughput: lower is worse.
        let j = judge(Better::Higher, &[100.0], 50.0, 20.0, "MB/s").unwrap();
        assert!(j.worse);
        // From zero lost writes to one.
        assert!(judge(Better::Lower, &[0.0], 1.0, 20.0, "").unwrap().worse);
        assert!(judge(Better::Lower, &[], 1.0, 20.0, "").is_none());
    }
}
