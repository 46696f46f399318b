//! The GCRA script and the exact numbers it is given.
//!
//! The script (`gcra.lua`) reads the server's `TIME`, so every process shares one clock whatever
//! their own clocks say. It stores the theoretical arrival time in microseconds and sets the
//! key's expiry to the GCRA horizon (when the limit would be full again), so an idle key vanishes.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::error::ConfigError;

/// The script, hashed once per process.
pub(super) static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("gcra.lua")));

/// The longest GCRA horizon (interval × burst) accepted: 2⁵⁰ µs (about 35 years), so that the
/// server time (about 2⁵¹ µs) plus the horizon stays below 2⁵³, where Lua's doubles are exact.
pub(super) const MAX_HORIZON: Duration = Duration::from_micros(1 << 50);

/// The emission interval and the tolerance, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Gcra {
    pub(super) interval_us: u64,
    pub(super) tolerance_us: u64,
}

impl Gcra {
    /// `operations` per `period` with `burst`, all positive (checked by the builder).
    ///
    /// The interval is rounded up to a whole microsecond, so the configured rate is never
    /// exceeded.
    pub(super) fn new(operations: u32, period: Duration, burst: u32) -> Result<Self, ConfigError> {
        let period_us = period.as_nanos().div_ceil(1_000);
        let ops = u128::from(operations);
        if period_us < ops {
            return Err(ConfigError::RateTooHigh { operations, period });
        }
        let interval_us = period_us.div_ceil(ops);
        let horizon_us = interval_us * u128::from(burst);
        if horizon_us > MAX_HORIZON.as_micros() {
            return Err(ConfigError::TooLong {
                what: "rate limiter horizon (period / operations × burst)",
                max: MAX_HORIZON,
            });
        }
        // Both fit: they are at most the horizon, below 2⁵⁰.
        Ok(Gcra {
            interval_us: interval_us as u64,
            tolerance_us: (interval_us * u128::from(burst - 1)) as u64,
        })
    }

    pub(super) fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_up_and_limits_are_bounded() {
        let second = Duration::from_secs(1);
        let g = Gcra::new(100, second, 10).unwrap();
        assert_eq!((g.interval_us, g.tolerance_us), (10_000, 90_000));
        assert_eq!(Gcra::new(3, second, 1).unwrap().interval_us, 333_334);
        assert_eq!(
            Gcra::new(2_000_000, second, 1),
            Err(ConfigError::RateTooHigh {
                operations: 2_000_000,
                period: second
            })
        );
        assert!(matches!(
            Gcra::new(1, Duration::MAX, 1),
            Err(ConfigError::TooLong { .. })
        ));
        assert!(matches!(
            Gcra::new(1, second, u32::MAX),
            Err(ConfigError::TooLong { .. })
        ));
        assert!(Gcra::new(u32::MAX, Duration::from_secs(3600 * 24 * 365), u32::MAX).is_ok());
    }
}
