//! When is a change a regression and not noise? A figure must move beyond a tolerance that is
//! the largest of: the threshold in percent of the baseline, a floor in the figure's own unit
//! (a 3 ms swing of a p99 is never news), and, with three or more baseline runs, three times
//! the spread those runs showed (the median absolute deviation, scaled to a standard
//! deviation). A percentile from fewer than `MIN_SAMPLES` operations is shown, never gated: a
//! p99 of a dozen samples is their maximum. `compare` (one baseline run) and `history` (a
//! rolling baseline of earlier runs) both judge through here.

/// Below this many operations in either run, a percentile is not judged: a p99 of 1,000
/// operations is their 10th worst; of 100, their worst, which one slow fsync decides.
pub const MIN_SAMPLES: u64 = 1000;

/// Which way is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// The smallest change of a recovery time (RTO, unavailability, time to a new leader) that can
/// count: a second, plus one election timeout. A member waits a random time between one and two
/// election timeouts before it campaigns, so two runs of the same drill differ by up to one
/// election timeout from that alone (measured: 2.8 s and 4.0 s to the first write, at 1 s).
pub fn recovery_floor(election_timeout_ms: u64) -> f64 {
    1000.0 + election_timeout_ms as f64
}

/// The smallest change that can count, in the figure's unit: a second (`ms`; see
/// `recovery_floor` for recovery times), 5 ms of a latency percentile (`ms p99`), and 20 writes
/// or revisions (counts: at 50 writes/s, 0.4 s of the writer's work).
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

/// Judges `current` against `baseline` runs (at least one). `pct` is the threshold in percent;
/// `floor` the smallest change that counts (`floor`, `recovery_floor`); `rise_from_zero` makes
/// any rise from exactly zero count (a first lost write is news; a first 100 ms of
/// unavailability is noise).
pub fn judge(
    better: Better,
    baseline: &[f64],
    current: f64,
    pct: f64,
    floor: f64,
    rise_from_zero: bool,
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
    let tolerance = (base.abs() * pct / 100.0).max(floor).max(spread);
    let change = match better {
        Better::Lower => current - base,
        Better::Higher => base - current,
    };
    let worse = change > tolerance || (rise_from_zero && base == 0.0 && change > 0.0);
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
        let j = judge(Better::Lower, &[6.0], 9.5, 20.0, floor("ms p99"), false).unwrap();
        assert!(!j.worse, "{j:?}");
        // RTO around 22 s, earlier runs spread 19..27 s: 29 s is noise.
        let j = judge(
            Better::Lower,
            &[22000.0, 19000.0, 27000.0, 24000.0],
            29000.0,
            20.0,
            floor("ms"),
            false,
        )
        .unwrap();
        assert!(!j.worse, "{j:?}");
        assert!(j.sureness().contains("within noise"));
    }

    #[test]
    fn a_real_slowdown_is_clear_and_a_near_one_is_marginal() {
        let j = judge(
            Better::Lower,
            &[2200.0, 2300.0, 2250.0],
            7000.0,
            20.0,
            recovery_floor(1000),
            false,
        )
        .unwrap();
        assert_eq!(j.baseline, 2250.0);
        assert!(j.worse && j.margin >= 2.0, "{j:?}");
        assert!(j.sureness().starts_with("clear"));
        // 2.8 s → 4.0 s to the first write at a 1 s election timeout: measured noise.
        let j = judge(
            Better::Lower,
            &[2756.0],
            4019.0,
            20.0,
            recovery_floor(1000),
            false,
        )
        .unwrap();
        assert!(!j.worse, "inside one election timeout and a second: {j:?}");
        let j = judge(
            Better::Lower,
            &[2000.0],
            4500.0,
            20.0,
            recovery_floor(1000),
            false,
        )
        .unwrap();
        assert!(j.worse && j.margin < 2.0, "{j:?}");
        assert!(j.sureness().starts_with("marginal"));
        // Throughput: lower is worse.
        let j = judge(Better::Higher, &[100.0], 50.0, 20.0, floor("MB/s"), false).unwrap();
        assert!(j.worse);
        // From zero lost writes to one; not from zero unavailability to 300 ms.
        assert!(
            !judge(
                Better::Lower,
                &[0.0],
                300.0,
                20.0,
                recovery_floor(1000),
                false
            )
            .unwrap()
            .worse
        );
        assert!(
            judge(Better::Lower, &[0.0], 1.0, 20.0, floor(""), true)
                .unwrap()
                .worse
        );
        assert!(judge(Better::Lower, &[], 1.0, 20.0, floor(""), false).is_none());
    }
}
