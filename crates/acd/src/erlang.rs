//! Erlang C: the M/M/N queue behind contact-centre staffing.
//!
//! Everything is computed from the Erlang B recursion
//! `B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1))`, which stays between 0 and 1 and so never
//! overflows, even for thousands of agents (factorial formulas overflow past ~170).
//!
//! ```
//! use std::time::Duration;
//! use switchyard_acd::erlang::ErlangC;
//!
//! // 100 calls in 15 minutes, 3 minutes each: 20 erlangs of traffic.
//! let e = ErlangC::new(20.0, Duration::from_secs(180));
//! let n = e.agents_for_service_level(0.8, Duration::from_secs(20)).unwrap();
//! assert_eq!(n, 24);
//! assert!(e.service_level(n, Duration::from_secs(20)) >= 0.8);
//! assert!(e.service_level(n - 1, Duration::from_secs(20)) < 0.8);
//! ```

use std::time::Duration;

/// Largest traffic [`ErlangC::agents_for_service_level`] plans for (a million erlangs);
/// beyond it the answer is `None` rather than minutes of arithmetic.
pub const MAX_TRAFFIC: f64 = 1e6;

/// Offered traffic (erlangs) and average handle time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangC {
    /// Offered traffic in erlangs: arrival rate × average handle time.
    pub traffic: f64,
    /// Average handle time.
    pub aht: Duration,
}

/// Erlang B: probability that a call finds all `n` servers busy in a loss system.
pub fn erlang_b(n: u32, traffic: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = traffic * b / (f64::from(k) + traffic * b);
    }
    b
}

/// Erlang C from Erlang B: probability that a call waits, with `n` agents.
fn c_from_b(n: u32, traffic: f64, b: f64) -> f64 {
    let n = f64::from(n);
    if n <= traffic {
        return 1.0;
    }
    n * b / (n - traffic * (1.0 - b))
}

/// Erlang C: probability that a call has to wait, with `n` agents and `traffic` erlangs
/// (1 when `n` does not exceed the traffic: the queue grows without bound).
pub fn erlang_c(n: u32, traffic: f64) -> f64 {
    if traffic <= 0.0 {
        return 0.0;
    }
    c_from_b(n, traffic, erlang_b(n, traffic))
}

impl ErlangC {
    /// Traffic from a number of calls per interval.
    pub fn from_calls(calls: f64, interval: Duration, aht: Duration) -> Self {
        let traffic = if interval.is_zero() {
            0.0
        } else {
            calls * aht.as_secs_f64() / interval.as_secs_f64()
        };
        Self { traffic, aht }
    }

    /// Offered traffic in erlangs and AHT.
    pub fn new(traffic: f64, aht: Duration) -> Self {
        Self { traffic, aht }
    }

    /// Probability that a call waits at all.
    pub fn probability_of_waiting(&self, n: u32) -> f64 {
        erlang_c(n, self.traffic)
    }

    fn sl_from_c(&self, n: u32, c: f64, threshold: Duration) -> f64 {
        let n = f64::from(n);
        if n <= self.traffic {
            return 0.0;
        }
        if self.aht.is_zero() {
            return 1.0;
        }
        let rate = (n - self.traffic) / self.aht.as_secs_f64();
        (1.0 - c * (-rate * threshold.as_secs_f64()).exp()).clamp(0.0, 1.0)
    }

    /// Service level: probability that a call is answered within `threshold`,
    /// `1 − C·e^{−(N−A)·t/AHT}`.
    pub fn service_level(&self, n: u32, threshold: Duration) -> f64 {
        if self.traffic <= 0.0 {
            return 1.0;
        }
        self.sl_from_c(n, self.probability_of_waiting(n), threshold)
    }

    /// Average speed of answer: `C·AHT / (N − A)` (`None` when the queue is unstable).
    pub fn asa(&self, n: u32) -> Option<Duration> {
        if self.traffic <= 0.0 {
            return Some(Duration::ZERO);
        }
        let nf = f64::from(n);
        (nf > self.traffic).then(|| {
            let secs =
                self.probability_of_waiting(n) * self.aht.as_secs_f64() / (nf - self.traffic);
            Duration::from_secs_f64(secs)
        })
    }

    /// Occupancy: `A / N` (capped at 1).
    pub fn occupancy(&self, n: u32) -> f64 {
        if n == 0 {
            return if self.traffic > 0.0 { 1.0 } else { 0.0 };
        }
        (self.traffic / f64::from(n)).min(1.0)
    }

    /// The fewest agents whose service level reaches `target` within `threshold`.
    /// `None` for a target that cannot be met (1 or more with waiting possible, or NaN).
    pub fn agents_for_service_level(&self, target: f64, threshold: Duration) -> Option<u32> {
        if !(0.0..1.0).contains(&target) {
            return (target >= 1.0 && self.traffic <= 0.0).then_some(0);
        }
        if self.traffic <= 0.0 {
            return Some(0);
        }
        if !self.traffic.is_finite() || self.traffic > MAX_TRAFFIC {
            return None;
        }
        // Walk n upwards, carrying the Erlang B recursion along: O(N) in all.
        let mut b = 1.0;
        let limit = (self.traffic * 10.0 + 1000.0).min(f64::from(u32::MAX)) as u32;
        for n in 1..=limit {
            b = self.traffic * b / (f64::from(n) + self.traffic * b);
            if f64::from(n) <= self.traffic {
                continue;
            }
            let c = c_from_b(n, self.traffic, b);
            if self.sl_from_c(n, c, threshold) >= target {
                return Some(n);
            }
        }
        None
    }
}

/// Agents to schedule so that `needed` are on the phones after `shrinkage` (the share of
/// paid time lost to breaks, training, absence): `⌈needed / (1 − shrinkage)⌉`.
pub fn with_shrinkage(needed: u32, shrinkage: f64) -> u32 {
    if needed == 0 {
        return 0;
    }
    let keep = (1.0 - shrinkage).clamp(0.01, 1.0);
    // Round before the ceiling so that 10 / 0.8 is 13 (not 14 through 12.500000001).
    let x = (f64::from(needed) / keep * 1e9).round() / 1e9;
    x.ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_matches_table_values() {
        // Published Erlang B table: 10 erlangs on 10 trunks blocks 21.46 %.
        assert!((erlang_b(10, 10.0) - 0.2146).abs() < 1e-4);
        assert!((erlang_b(1, 1.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn erlang_c_matches_textbook_example() {
        // 2 erlangs on 3 agents: C = 4/9 ≈ 0.4444.
        assert!((erlang_c(3, 2.0) - 4.0 / 9.0).abs() < 1e-9);
        assert_eq!(erlang_c(2, 2.0), 1.0);
    }

    #[test]
    fn large_centres_stay_finite() {
        let e = ErlangC::new(5000.0, Duration::from_secs(300));
        let n = e
            .agents_for_service_level(0.9, Duration::from_secs(15))
            .unwrap();
        assert!(n > 5000 && n < 5200, "{n}");
        let sl = e.service_level(n, Duration::from_secs(15));
        assert!(sl.is_finite() && sl >= 0.9);
        assert!(e.asa(n).unwrap() < Duration::from_secs(15));
    }

    #[test]
    fn service_level_rises_with_agents_and_asa_falls() {
        let e = ErlangC::from_calls(400.0, Duration::from_secs(3600), Duration::from_secs(240));
        let t = Duration::from_secs(20);
        let mut last_sl = 0.0;
        let mut last_asa = Duration::MAX;
        for n in 27..40 {
            let sl = e.service_level(n, t);
            let asa = e.asa(n).unwrap();
            assert!(sl > last_sl && asa < last_asa);
            last_sl = sl;
            last_asa = asa;
        }
        assert_eq!(e.asa(26), None, "26.67 erlangs on 26 agents is unstable");
    }

    #[test]
    fn shrinkage_rounds_up() {
        assert_eq!(with_shrinkage(10, 0.2), 13);
        assert_eq!(with_shrinkage(10, 0.3), 15);
        assert_eq!(with_shrinkage(0, 0.3), 0);
    }
}
