//! Learning-rate schedules, exactly as the official release's `opt.py` defines them. `x` is the
//! fraction of training done *before* this update (`t / t_total` with t counting from 0), and
//! `warmup` is a fraction of training too.
//!
//! Two details are the release's and easy to get wrong: the first update has a learning rate of
//! exactly 0 (x = 0), and `warmup_linear` multiplies by (1 − x) during the warmup as well.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Linear warmup, then `0.5·(1 + cos(π·x))`: the paper's pre-training schedule.
    WarmupCosine,
    /// Linear warmup, then `1 − x`, the whole multiplied by `(1 − x)`: the fine-tuning schedule.
    WarmupLinear,
    /// Linear warmup, then constant.
    WarmupConstant,
}

impl Schedule {
    /// The multiplier of the peak learning rate at fraction `x` of training.
    pub fn factor(self, x: f64, warmup: f64) -> f64 {
        let in_warmup = x <= warmup;
        let ramp = if warmup > 0.0 { x / warmup } else { 1.0 };
        match self {
            Schedule::WarmupCosine => {
                if in_warmup {
                    ramp
                } else {
                    0.5 * (1.0 + (std::f64::consts::PI * x).cos())
                }
            }
            Schedule::WarmupLinear => (if in_warmup { ramp } else { 1.0 }) * (1.0 - x),
            Schedule::WarmupConstant => {
                if in_warmup {
                    ramp
                } else {
                    1.0
                }
            }
        }
    }

    /// The multiplier for update number `step` (0-based) of `total`, warming up over
    /// `warmup_steps` updates.
    pub fn at_step(self, step: u64, total: u64, warmup_steps: u64) -> f64 {
        let total = total.max(1) as f64;
        self.factor(step as f64 / total, warmup_steps as f64 / total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed by hand from the release's formulas:
    //   warmup_cosine(x, w) = x/w if x <= w else 0.5*(1+cos(pi*x))
    //   warmup_linear(x, w) = (x/w if x <= w else 1) * (1-x)
    #[test]
    fn matches_the_release() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert_eq!(Schedule::WarmupCosine.factor(0.0, 0.002), 0.0);
        assert!(close(Schedule::WarmupCosine.factor(0.001, 0.002), 0.5));
        assert!(close(Schedule::WarmupCosine.factor(0.5, 0.002), 0.5));
        assert!(close(
            Schedule::WarmupCosine.factor(0.25, 0.002),
            0.853_553_390_593_273_8
        ));
        assert!(close(
            Schedule::WarmupLinear.factor(0.001, 0.002),
            0.5 * 0.999
        ));
        assert!(close(Schedule::WarmupLinear.factor(0.5, 0.002), 0.5));
        assert!(close(Schedule::WarmupConstant.factor(0.7, 0.002), 1.0));
        // 2,000 warmup updates of 100,000: update 1,000 is half way up.
        assert!(close(
            Schedule::WarmupCosine.at_step(1000, 100_000, 2000),
            0.5
        ));
    }
}
