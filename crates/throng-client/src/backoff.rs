//! How long to wait before each reconnect attempt: exponential backoff with full jitter.
//!
//! Full jitter (a uniform delay between zero and the exponential ceiling) matters more
//! than the exact curve: when a node drains, every client of a big room loses its
//! connection in the same instant, and without jitter they would all come back in the
//! same instant too.

use rand::Rng;
use std::time::Duration;

/// When and how often the SDK reconnects after losing its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Ceiling of the first delay. Default 200 ms.
    pub initial: Duration,
    /// The ceiling never grows past this. Default 10 s.
    pub max: Duration,
    /// Attempts before giving up; `None` tries forever, `Some(0)` never reconnects.
    pub max_attempts: Option<u32>,
    /// A connection that stayed up this long was stable: the next loss starts the
    /// backoff (and the attempt count) from the beginning. A connection that drops
    /// sooner continues where the backoff was, so a server that accepts and then
    /// closes at once (an expired token, a crash loop) is not hammered at the initial
    /// delay. Default 10 s.
    pub stable_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            max_attempts: None,
            stable_after: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// A policy that never reconnects.
    pub fn never() -> ReconnectPolicy {
        ReconnectPolicy {
            max_attempts: Some(0),
            ..ReconnectPolicy::default()
        }
    }

    /// Whether attempt number `attempt` (0 for the first since the last stable
    /// connection) may run.
    pub fn allows_attempt(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt < max)
    }

    /// The attempt count to go on from after a connection that lived `lived` was lost:
    /// 0 after a stable connection, else unchanged.
    pub fn attempts_after_loss(&self, attempts: u32, lived: Duration) -> u32 {
        if lived >= self.stable_after {
            0
        } else {
            attempts
        }
    }

    /// The upper bound of the delay before attempt `attempt`: `initial × 2^attempt`,
    /// capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        // 2^31 × initial overflows nothing in u128 nanoseconds, and the cap applies long
        // before that for any sane policy; checked arithmetic keeps absurd ones safe.
        let factor = 1u128 << attempt.min(31);
        let nanos = self.initial.as_nanos().saturating_mul(factor);
        let capped = nanos.min(self.max.as_nanos());
        Duration::from_nanos(u64::try_from(capped).unwrap_or(u64::MAX))
    }

    /// The delay before attempt `attempt`: uniform in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_nanos() as u64;
        Duration::from_nanos(rng.gen_range(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy(initial_ms: u64, max_ms: u64) -> ReconnectPolicy {
        ReconnectPolicy {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
            ..ReconnectPolicy::default()
        }
    }

    #[test]
    fn ceiling_doubles_from_initial_and_stops_at_max() {
        let cases: [(u64, u64, u32, u64); 9] = [
            (200, 10_000, 0, 200),
            (200, 10_000, 1, 400),
            (200, 10_000, 2, 800),
            (200, 10_000, 5, 6_400),
            (200, 10_000, 6, 10_000),
            (200, 10_000, 40, 10_000),
            (200, 10_000, u32::MAX, 10_000),
            (0, 10_000, 3, 0),
            (5_000, 1_000, 0, 1_000),
        ];
        for (initial_ms, max_ms, attempt, expect_ms) in cases {
            assert_eq!(
                policy(initial_ms, max_ms).ceiling(attempt),
                Duration::from_millis(expect_ms),
                "initial {initial_ms} max {max_ms} attempt {attempt}"
            );
        }
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_spread_over_it() {
        let policy = policy(200, 10_000);
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in [0u32, 1, 3, 6, 20] {
            let ceiling = policy.ceiling(attempt);
            let delays: Vec<Duration> = (0..500).map(|_| policy.delay(attempt, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            // Full jitter: both halves of the range are used, not just the top.
            assert!(delays.iter().any(|d| *d < ceiling / 2), "attempt {attempt}");
            assert!(
                delays.iter().any(|d| *d >= ceiling / 2),
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn only_a_stable_connection_restarts_the_backoff() {
        let policy = ReconnectPolicy::default();
        let cases: [(u32, u64, u32); 5] = [
            (0, 0, 0),
            (4, 0, 4),
            (4, 9_999, 4),
            (4, 10_000, 0),
            (4, 3_600_000, 0),
        ];
        for (attempts, lived_ms, expect) in cases {
            assert_eq!(
                policy.attempts_after_loss(attempts, Duration::from_millis(lived_ms)),
                expect,
                "{attempts} attempts, lived {lived_ms} ms"
            );
        }
    }

    #[test]
    fn max_attempts_bounds_the_attempts() {
        let cases: [(Option<u32>, u32, bool); 6] = [
            (None, 0, true),
            (None, 1_000_000, true),
            (Some(0), 0, false),
            (Some(3), 0, true),
            (Some(3), 2, true),
            (Some(3), 3, false),
        ];
        for (max_attempts, attempt, expect) in cases {
            let policy = ReconnectPolicy {
                max_attempts,
                ..ReconnectPolicy::default()
            };
            assert_eq!(
                policy.allows_attempt(attempt),
                expect,
                "{max_attempts:?} {attempt}"
            );
        }
    }
}
