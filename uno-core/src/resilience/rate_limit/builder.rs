//! [`RateLimiterBuilder`]: the limiter's configuration, checked once, and its exact interval and
//! tolerance.

use crate::loom::atomic::{AtomicU64, AtomicUsize};
use crate::loom::{Arc, Mutex};
use std::time::Duration;

use super::acquire::Waiters;
use super::gcra::{Gcra, duration, nanos_of};
use super::policy::Inner;
use crate::resilience::{ConfigError, RateLimiter};

/// Builds a [`RateLimiter`]; from [`RateLimiter::per_second`] or [`RateLimiter::new`].
#[derive(Debug, Clone)]
pub struct RateLimiterBuilder {
    operations: u32,
    period: Duration,
    burst: Option<u32>,
}

impl RateLimiterBuilder {
    /// See [`RateLimiter::new`].
    pub(super) fn new(operations: u32, period: Duration) -> Self {
        RateLimiterBuilder {
            operations,
            period,
            burst: None,
        }
    }

    /// Admissions that may go at once after an idle spell (at least 1). Default: `operations`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, RateLimiter};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let smooth = RateLimiter::per_second(100).burst(1).build().unwrap();
    /// assert!(smooth.try_acquire(&rt).is_ok());
    /// let wait = smooth.try_acquire(&rt).unwrap_err().retry_after; // no second call at once
    /// assert_eq!(wait, Duration::from_millis(10));
    /// let err = RateLimiter::per_second(100).burst(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "rate limiter burst" });
    /// ```
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for zero operations, a zero period or a zero burst;
    /// [`ConfigError::RateTooHigh`] for more than one operation per nanosecond.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, RateLimiter};
    ///
    /// assert!(RateLimiter::per_second(1_000).burst(10).build().is_ok());
    /// let period = Duration::from_nanos(1);
    /// let err = RateLimiter::new(2, period).build().unwrap_err(); // two per nanosecond
    /// assert_eq!(err, ConfigError::RateTooHigh { operations: 2, period });
    /// ```
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        if self.operations == 0 {
            return Err(ConfigError::Zero {
                what: "rate limiter operations per period",
            });
        }
        if self.period.is_zero() {
            return Err(ConfigError::Zero {
                what: "rate limiter period",
            });
        }
        let burst = self.burst.unwrap_or(self.operations);
        if burst == 0 {
            return Err(ConfigError::Zero {
                what: "rate limiter burst",
            });
        }
        let period_ns = self.period.as_nanos();
        let ops = u128::from(self.operations);
        if period_ns < ops {
            return Err(ConfigError::RateTooHigh {
                operations: self.operations,
                period: self.period,
            });
        }
        let interval_ns = period_ns.div_ceil(ops);
        // Exact: the interval is at most the period, and the tolerance below 2⁹⁵ × 2³² ns.
        let interval = duration(nanos_of(interval_ns));
        let tolerance = nanos_of(interval_ns * u128::from(burst - 1));
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                operations: self.operations,
                period: self.period,
                burst,
                interval,
                gcra: Gcra::new(nanos_of(interval_ns), tolerance),
                queued: AtomicUsize::new(0),
                state: Mutex::new(Waiters::default()),
                admitted: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                waited: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
            }),
        })
    }
}
