//! Summary statistics of a benchmark's samples: median, p10, p90, min, max and n.

use serde::{Deserialize, Serialize};

/// The statistics of one result's samples, in the result's unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// The middle sample (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The 10th percentile (linear interpolation between closest ranks).
    pub p10: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub n: usize,
}

impl Stats {
    /// The statistics of `samples`, or `None` when there are none or one is not finite.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        Some(Stats {
            median: quantile(&s, 0.5),
            p10: quantile(&s, 0.1),
            p90: quantile(&s, 0.9),
            min: s[0],
            max: s[s.len() - 1],
            n: s.len(),
        })
    }

    /// Half the p10–p90 range: the spread a difference must exceed to be more than noise.
    pub fn half_spread(&self) -> f64 {
        0.5 * (self.p90 - self.p10)
    }
}

/// The `q` quantile of sorted `s`, interpolating linearly between closest ranks (numpy's
/// default), so the median of an even count is the mean of the middle two.
fn quantile(s: &[f64], q: f64) -> f64 {
    let at = q * (s.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (at - lo as f64)
}

#[cfg(test)]
mod tests {
    use crate::bench::stats::Stats;

    #[test]
    fn quantiles_follow_linear_interpolation() {
        // numpy.percentile([1..=10], [10, 50, 90]) = 1.9, 5.5, 9.1
        let s = Stats::of(&[10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0]).unwrap();
        assert!(
            (s.p10 - 1.9).abs() < 1e-12 && (s.p90 - 9.1).abs() < 1e-12,
            "{s:?}"
        );
        assert_eq!((s.median, s.min, s.max, s.n), (5.5, 1.0, 10.0, 10));
        let one = Stats::of(&[3.0]).unwrap();
        assert_eq!((one.median, one.p10, one.p90), (3.0, 3.0, 3.0));
        assert!(Stats::of(&[]).is_none() && Stats::of(&[1.0, f64::NAN]).is_none());
    }
}
