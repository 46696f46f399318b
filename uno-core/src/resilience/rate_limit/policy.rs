//! [`RateLimiter`]: the public handle, its admissions and its counters.

use crate::loom::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::loom::{Arc, Mutex, MutexGuard};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use super::acquire::Waiters;
use super::gcra::Gcra;
use super::striped::StripedCounter;
use super::{RateLimitAcquire, RateLimitAcquireOwned, RateLimiterBuilder};
use crate::observe::{Counter, Name, event};
use crate::resilience::{ResilienceError, RetryAfter};
use crate::rt::Runtime;

/// The metrics of a rate limiter (see the module's "Metrics").
pub(crate) const ADMISSIONS: &str = "uno_rate_limiter_admissions_total";
pub(crate) const WAITS: &str = "uno_rate_limiter_waits_total";
use crate::resilience::REJECTIONS;

/// Admits at most `operations` per `period`, with bursts of up to `burst` (GCRA, the generic cell
/// rate algorithm: a token bucket kept as a single "theoretical arrival time").
///
/// - [`acquire`](Self::acquire) waits its turn: waiters are admitted in arrival order, one
///   emission interval (`period / operations`) apart. A waiter dropped before it is admitted
///   consumes nothing and the next one moves up at once.
/// - [`try_acquire`](Self::try_acquire) never waits and says how long to wait when refused.
/// - An idle limiter fills up to `burst` admissions and no more.
/// - The arithmetic is exact for every period, burst and clock reading: a burst of 100 over a
///   year admits exactly 100, and a clock that jumps by centuries (a virtual one) changes nothing
///   but the time.
///
/// Clones share the same state. Time is read from the [`Runtime`] the limiter was built with, so
/// the limiter runs on virtual time in tests.
///
/// # Panics
///
/// A panic in the operation (the closure, its future's `poll` or its `Drop`) propagates out of
/// `run` unchanged; a caller still queued leaves the queue (consuming nothing) and hands its turn
/// on, and an admission already taken stays spent, as for a dropped call.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::RateLimiter;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let limiter = RateLimiter::builder(&rt, 10, Duration::from_secs(1)).burst(2).build().unwrap();
/// vrt.block_on(async move {
///     let start = rt.now();
///     for _ in 0..4 {
///         limiter.acquire().await;
///     }
///     // Two at once (the burst), then one every 100 ms.
///     assert_eq!(rt.now() - start, Duration::from_millis(200));
///     let refused = limiter.try_acquire().unwrap_err();
///     assert_eq!(refused.retry_after, Duration::from_millis(100));
/// });
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    pub(super) inner: Arc<Inner>,
}

/// The state clones share: the settings, the [`Gcra`], the waiters and the counters.
pub(super) struct Inner {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    pub(super) metrics: Metrics,
    pub(super) operations: u32,
    pub(super) period: Duration,
    pub(super) burst: u32,
    /// The emission interval: `period / operations`, rounded up so the rate is never exceeded.
    pub(super) interval: Duration,
    pub(super) gcra: Gcra,
    /// `state.queue.len()`, readable without the lock: admissions that find it zero take the
    /// lock-free path; otherwise they queue behind the waiters (FIFO: nobody overtakes them).
    /// Only written under the lock.
    pub(super) queued: AtomicUsize,
    /// The waiters (see [`RateLimitAcquire`]); the admission state itself is the [`Gcra`].
    pub(super) state: Mutex<Waiters>,
    /// Admissions, by any path: striped, so that admitting threads share only the GCRA state.
    pub(super) admitted: StripedCounter,
    pub(super) rejected: AtomicU64,
    pub(super) waited: AtomicU64,
    pub(super) abandoned: AtomicU64,
}

/// The limiter's metric handles, registered once when it is built.
#[derive(Debug, Default)]
pub(super) struct Metrics {
    pub(super) admissions: Counter,
    pub(super) waits: Counter,
    pub(super) rejections: Counter,
}

impl Metrics {
    pub(super) fn new(name: &Name) -> Self {
        Metrics {
            admissions: Counter::new(ADMISSIONS, name, &[]),
            waits: Counter::new(WAITS, name, &[]),
            rejections: Counter::new(REJECTIONS, name, &[("reason", "rate_limited")]),
        }
    }
}

impl Metrics {
    /// Counts and reports a `try_acquire` refusal by the limiter `name` (one limit or keyed) into
    /// its `rejected` counter, and builds the error.
    pub(super) fn refused(
        &self,
        name: &Name,
        rejected: &AtomicU64,
        retry_after: Duration,
    ) -> RetryAfter {
        rejected.fetch_add(1, Ordering::Relaxed);
        self.rejections.increment(1);
        event!(
            debug,
            "uno_core::resilience",
            name = %name,
            reason = "rate_limited",
            ?retry_after,
            "call rejected"
        );
        RetryAfter {
            name: name.shared(),
            retry_after,
        }
    }
}

impl Inner {
    /// Counts one admission (by any path).
    pub(super) fn admitted(&self) {
        self.admitted.increment();
        self.metrics.admissions.increment(1);
    }

    pub(super) fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.state.lock()
    }
}

/// A snapshot of a [`RateLimiter`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimiterStats {
    /// Admissions (by `acquire` or `try_acquire`).
    pub admitted: u64,
    /// `try_acquire` refusals.
    pub rejected: u64,
    /// `acquire` calls that had to queue.
    pub waited: u64,
    /// Queued waiters dropped before admission (they consumed nothing).
    pub abandoned: u64,
    /// Waiters queued right now.
    pub queued: usize,
}

impl RateLimiter {
    /// A builder for `operations` per `period` on `rt`'s clock. The burst defaults to
    /// `operations` (a full period's worth may go at once after an idle spell); set
    /// [`burst`](RateLimiterBuilder::burst) to smooth.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, RateLimiter};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 100, Duration::from_secs(60)).build().unwrap();
    /// assert_eq!(limiter.interval(), Duration::from_millis(600));
    /// assert_eq!(limiter.burst(), 100); // a full period's worth by default
    /// let err = RateLimiter::builder(&rt, 10, Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "rate limiter period" });
    /// ```
    pub fn builder(rt: &Runtime, operations: u32, period: Duration) -> RateLimiterBuilder {
        RateLimiterBuilder::new(rt, operations, period)
    }

    /// The limiter's name (default `"rate_limiter"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 5, Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(limiter.name(), "rate_limiter");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// Takes one admission now, if the limiter allows it and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`RetryAfter`] with the time until an admission would be possible (an estimate when others
    /// are queued: they go first).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 2, Duration::from_secs(1)).build().unwrap();
    /// assert!(limiter.try_acquire().is_ok());
    /// assert!(limiter.try_acquire().is_ok()); // the burst of 2
    /// let refused = limiter.try_acquire().unwrap_err();
    /// assert_eq!(refused.retry_after, Duration::from_millis(500));
    /// vrt.clock().advance(refused.retry_after);
    /// assert!(limiter.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<(), RetryAfter> {
        let inner = &*self.inner;
        let now = inner.gcra.clock().now(&inner.rt);
        let queued = inner.queued.load(Ordering::Acquire);
        let result = if queued == 0 {
            inner.gcra.try_admit(now)
        } else {
            Err(inner.gcra.wait(now).saturating_add(
                inner
                    .interval
                    .saturating_mul(u32::try_from(queued).unwrap_or(u32::MAX)),
            ))
        };
        match result {
            Ok(()) => {
                inner.admitted();
                Ok(())
            }
            Err(retry_after) => {
                Err(inner
                    .metrics
                    .refused(&inner.name, &inner.rejected, retry_after))
            }
        }
    }

    /// Gives back one admission that was granted and not used ([`RateLimit::refund`]).
    ///
    /// [`RateLimit::refund`]: crate::resilience::RateLimit::refund
    pub(crate) fn refund_one(&self) {
        let inner = &*self.inner;
        inner.gcra.refund(inner.gcra.clock().now(&inner.rt));
    }

    /// Waits for an admission, in arrival order.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter dropped before admission consumes nothing, leaves the queue at once
    /// and, if it was first, hands its turn to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::builder(&rt, 5, Duration::from_secs(1)).burst(1).build().unwrap();
    /// let start = rt.now();
    /// for _ in 0..3 {
    ///     limiter.acquire().await; // waits its turn, never fails
    /// }
    /// assert_eq!(rt.now() - start, Duration::from_millis(400)); // 0, 200, 400 ms
    /// assert_eq!(limiter.stats().waited, 2);
    /// # });
    /// ```
    pub fn acquire(&self) -> RateLimitAcquire<'_> {
        RateLimitAcquire::new(self)
    }

    /// As [`acquire`](Self::acquire), holding a clone of the limiter instead of borrowing it: a
    /// `'static` future that a service can keep between polls (the `tower` layer's
    /// `poll_ready` does).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 2, Duration::from_secs(1)).burst(1).build().unwrap();
    /// let wait = limiter.acquire_owned(); // borrows nothing
    /// let task = rt.spawn(async move {
    ///     wait.await;
    ///     wait_more().await
    /// });
    /// # async fn wait_more() {}
    /// vrt.block_on(task).unwrap();
    /// assert_eq!(limiter.stats().admitted, 1);
    /// ```
    pub fn acquire_owned(&self) -> RateLimitAcquireOwned {
        RateLimitAcquireOwned::new(self.clone())
    }

    /// Waits for an admission, then runs `op`.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting: consumes nothing (see [`acquire`](Self::acquire)). Dropped while the
    /// operation runs: the admission is spent and the operation's future is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{RateLimiter, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::builder(&rt, 10, Duration::from_secs(1)).burst(1).build().unwrap();
    /// let start = rt.now();
    /// assert_eq!(limiter.run(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    /// let failed = limiter.run(|| async { Err::<i32, _>("bad request") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("bad request")));
    /// assert_eq!(rt.now() - start, Duration::from_millis(100)); // the second call waited
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.acquire().await;
        op().await.map_err(ResilienceError::Inner)
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`].
    ///
    /// # Errors
    ///
    /// The operation's errors, as they are.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{RateLimiter, ResilienceError, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::builder(&rt, 10, Duration::from_secs(1)).build().unwrap();
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
    /// let out: Result<(), ResilienceError<()>> = limiter
    ///     .run_flat(|| limit.run(|| std::future::pending()))
    ///     .await;
    /// assert!(out.unwrap_err().is_timeout()); // the inner policy's error, unchanged
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        self.acquire().await;
        op().await
    }

    /// Runs `op` if the limiter admits it now, without waiting.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::RateLimited`] (the operation was not called) with the time to wait, or
    /// [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the operation; the admission stays spent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{RateLimiter, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(limiter.try_run(|| async { Ok::<_, ()>("sent") }).await, Ok("sent"));
    /// let refused = limiter.try_run(|| async { Ok::<_, ()>("sent") }).await.unwrap_err();
    /// assert!(matches!(refused, ResilienceError::RateLimited(_)));
    /// assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    /// # });
    /// ```
    pub async fn try_run<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.try_acquire()?;
        op().await.map_err(ResilienceError::Inner)
    }

    /// The configured burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let per_second = |n| RateLimiter::builder(&rt, n, Duration::from_secs(1));
    /// assert_eq!(per_second(50).build().unwrap().burst(), 50);
    /// assert_eq!(per_second(50).burst(5).build().unwrap().burst(), 5);
    /// ```
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// The time between two admissions at the sustained rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    ///
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    /// let limiter = RateLimiter::builder(&rt, 3, Duration::from_secs(1)).build().unwrap();
    /// // Rounded up, so the configured rate is never exceeded.
    /// assert_eq!(limiter.interval(), Duration::from_nanos(333_333_334));
    /// ```
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
    /// assert!(limiter.try_acquire().is_ok());
    /// assert!(limiter.try_acquire().is_err());
    /// let stats = limiter.stats();
    /// assert_eq!((stats.admitted, stats.rejected, stats.queued), (1, 1, 0));
    /// ```
    pub fn stats(&self) -> RateLimiterStats {
        let inner = &*self.inner;
        RateLimiterStats {
            admitted: inner.admitted.sum(),
            rejected: inner.rejected.load(Ordering::Relaxed),
            waited: inner.waited.load(Ordering::Relaxed),
            abandoned: inner.abandoned.load(Ordering::Relaxed),
            queued: inner.queued.load(Ordering::Acquire),
        }
    }

    /// The lock-free half of [`acquire`](Self::acquire), at a clock reading the caller already
    /// made: `true` (and one admission taken) if nobody is queued and one conforms at `now`.
    pub(crate) fn try_admit_at(&self, now: Instant) -> bool {
        let inner = &*self.inner;
        let admitted = inner.queued.load(Ordering::Acquire) == 0
            && inner.gcra.try_admit(inner.gcra.clock().at(now)).is_ok();
        if admitted {
            inner.admitted();
        }
        admitted
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.name)
            .field("operations", &self.inner.operations)
            .field("period", &self.inner.period)
            .field("burst", &self.inner.burst)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::VirtualRuntime;

    #[test]
    fn limiter_over_a_year_and_after_centuries_of_virtual_time() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let year = Duration::from_secs(365 * 86_400);
        let limiter = RateLimiter::builder(&rt, 1, year)
            .burst(100)
            .build()
            .unwrap();
        let admitted = (0..200).filter(|_| limiter.try_acquire().is_ok()).count();
        assert_eq!(admitted, 100);
        assert_eq!(limiter.try_acquire().unwrap_err().retry_after, year);

        let second = Duration::from_secs(1);
        let limiter = RateLimiter::builder(&rt, 10, second)
            .burst(2)
            .build()
            .unwrap();
        for _ in 0..20 {
            vrt.clock().advance(Duration::MAX); // 30 years each, 600 in all
            assert!(limiter.try_acquire().is_ok());
            assert!(limiter.try_acquire().is_ok());
            let wait = limiter.try_acquire().unwrap_err().retry_after;
            assert_eq!(wait, Duration::from_millis(100));
        }
        vrt.block_on(async {
            let start = rt.now();
            limiter.acquire().await;
            limiter.acquire().await;
            assert_eq!(rt.now() - start, Duration::from_millis(200));
        });
    }
}
