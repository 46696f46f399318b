//! [`RateLimiterBuilder`]: the limiter's configuration, checked once, and its exact interval and
//! tolerance.

use crate::loom::atomic::{AtomicU64, AtomicUsize};
use crate::loom::{Arc, Mutex};
use std::time::Duration;

use super::acquire::Waiters;
use super::gcra::{Clock, Gcra, duration, nanos_of};
use super::policy::{Inner, Metrics};
use super::striped::StripedCounter;
use crate::observe::Name;
use crate::resilience::{ConfigError, RateLimiter};
use crate::rt::Runtime;

/// Builds a [`RateLimiter`]; from [`RateLimiter::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct RateLimiterBuilder {
    rt: Runtime,
    operations: u32,
    period: Duration,
    burst: Option<u32>,
    name: Option<std::sync::Arc<str>>,
}

impl RateLimiterBuilder {
    /// See [`RateLimiter::builder`].
    pub(super) fn new(rt: &Runtime, operations: u32, period: Duration) -> Self {
        RateLimiterBuilder {
            rt: rt.clone(),
            operations,
            period,
            burst: None,
            name: None,
        }
    }

    /// Names the limiter, for its errors ([`RetryAfter`](crate::resilience::RetryAfter)), metrics
    /// and events. Default: `"rate_limiter"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).name("search").build();
    /// let limiter = limiter.unwrap();
    /// assert_eq!(limiter.name(), "search");
    /// limiter.try_acquire().unwrap();
    /// assert_eq!(&*limiter.try_acquire().unwrap_err().name, "search");
    /// ```
    pub fn name(mut self, name: impl Into<std::sync::Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
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
    /// let second = Duration::from_secs(1);
    /// let smooth = RateLimiter::builder(&rt, 100, second).burst(1).build().unwrap();
    /// assert!(smooth.try_acquire().is_ok());
    /// let wait = smooth.try_acquire().unwrap_err().retry_after; // no second call at once
    /// assert_eq!(wait, Duration::from_millis(10));
    /// let err = RateLimiter::builder(&rt, 100, second).burst(0).build().unwrap_err();
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
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let second = Duration::from_secs(1);
    /// assert!(RateLimiter::builder(&rt, 1_000, second).burst(10).build().is_ok());
    /// let period = Duration::from_nanos(1);
    /// let err = RateLimiter::builder(&rt, 2, period).build().unwrap_err(); // two per nanosecond
    /// assert_eq!(err, ConfigError::RateTooHigh { operations: 2, period });
    /// ```
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        let (interval_ns, burst) = checked_rate(self.operations, self.period, self.burst)?;
        let interval = duration(interval_ns);
        let tolerance = interval_ns * i128::from(burst - 1);
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind("rate_limiter"),
        };
        let metrics = Metrics::new(&name);
        let gcra = Gcra::new(interval_ns, tolerance, Clock::of(&self.rt));
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                rt: self.rt,
                name,
                metrics,
                operations: self.operations,
                period: self.period,
                burst,
                interval,
                gcra,
                queued: AtomicUsize::new(0),
                state: Mutex::new(Waiters::default()),
                admitted: StripedCounter::default(),
                rejected: AtomicU64::new(0),
                waited: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
            }),
        })
    }
}

/// Checks a rate (`operations` per `period`, at most `burst` at once, default `operations`):
/// the emission interval in nanoseconds (rounded up, so the rate is never exceeded) and the
/// burst. Shared by [`RateLimiterBuilder`] and the keyed limiter's builder.
///
/// Exact: the interval is at most the period (< 2⁹⁵ ns), so the tolerance
/// `interval × (burst − 1)` stays below 2¹²⁷ ns.
pub(super) fn checked_rate(
    operations: u32,
    period: Duration,
    burst: Option<u32>,
) -> Result<(i128, u32), ConfigError> {
    if operations == 0 {
        return Err(ConfigError::Zero {
            what: "rate limiter operations per period",
        });
    }
    if period.is_zero() {
        return Err(ConfigError::Zero {
            what: "rate limiter period",
        });
    }
    let burst = burst.unwrap_or(operations);
    if burst == 0 {
        return Err(ConfigError::Zero {
            what: "rate limiter burst",
        });
    }
    let period_ns = period.as_nanos();
    let ops = u128::from(operations);
    if period_ns < ops {
        return Err(ConfigError::RateTooHigh { operations, period });
    }
    Ok((nanos_of(period_ns.div_ceil(ops)), burst))
}
