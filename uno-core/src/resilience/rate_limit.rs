//! The rate limiter (Uno's `@rate_limited`): GCRA, with a FIFO queue of waiters.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use crate::loom::{Arc, Mutex, MutexGuard};
use crate::resilience::{ConfigError, ResilienceError, RetryAfter};
use crate::rt::Runtime;
use crate::time::{Sleep, deadline_after};

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
/// Clones share the same state. Time is read from the [`Runtime`] passed to each call, so the
/// limiter runs on virtual time in tests.
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
/// let limiter = RateLimiter::per_second(10).burst(2).build().unwrap();
/// vrt.block_on(async move {
///     let start = rt.now();
///     for _ in 0..4 {
///         limiter.acquire(&rt).await;
///     }
///     // Two at once (the burst), then one every 100 ms.
///     assert_eq!(rt.now() - start, Duration::from_millis(200));
///     let refused = limiter.try_acquire(&rt).unwrap_err();
///     assert_eq!(refused.retry_after, Duration::from_millis(100));
/// });
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    operations: u32,
    period: Duration,
    burst: u32,
    /// The emission interval: `period / operations`, rounded up so the rate is never exceeded.
    interval: Duration,
    gcra: Gcra,
    /// `state.queue.len()`, readable without the lock: admissions that find it zero take the
    /// lock-free path; otherwise they queue behind the waiters (FIFO: nobody overtakes them).
    /// Only written under the lock.
    queued: AtomicUsize,
    /// The waiters; the admission state itself is the lock-free [`Gcra`].
    state: Mutex<State>,
    admitted: AtomicU64,
    rejected: AtomicU64,
    waited: AtomicU64,
    abandoned: AtomicU64,
}

/// The GCRA maths: one theoretical arrival time (`tat`), exact over the whole range of
/// `Instant` and `Duration`.
///
/// Times are signed nanoseconds from `origin`, the first instant the limiter saw (a clock reading
/// through the [`Runtime`], so virtual time works; signed because another caller may have read
/// the clock a little earlier), computed in `i128`. No sum can overflow: a reading is a
/// `Duration` away from the origin (|now| < 2⁹⁵ ns), the interval is at most `Duration::MAX`
/// (< 2⁹⁵ ns), the tolerance at most that times `u32::MAX` (< 2¹²⁷ ns), and an
/// admission at `now` leaves `tat ≤ now + tolerance + interval`, below `i128::MAX`. Nothing is
/// clamped.
///
/// The state lives in one `AtomicI64` while it fits there — for 292 years around the origin,
/// so always on a real clock — and an admission is one compare-and-swap on it. An admission whose
/// arrival time does not fit (a virtual clock moved centuries ahead, or a tolerance of centuries)
/// moves the state under the `locked` mutex for good: the atomic then holds [`LOCKED`], taken by
/// one `swap` under that mutex, so a compare-and-swap prepared from an older value fails and
/// retries into the locked path. No admission is lost or made twice by the move.
struct Gcra {
    origin: OnceLock<Instant>,
    /// The arrival time while it fits: strictly between [`NEVER`] and [`LOCKED`], or one of them.
    tat: AtomicI64,
    /// The arrival time once it has moved here ([`NEVER_LOCKED`] before the first admission).
    locked: Mutex<i128>,
    /// The emission interval in nanoseconds (at least 1).
    interval: i128,
    /// How far ahead of now the arrival time may run: `interval × (burst − 1)`.
    tolerance: i128,
}

/// The arrival time before the first admission, in the atomic: `max(NEVER, now) = now`.
const NEVER: i64 = i64::MIN;

/// In the atomic: the arrival time has moved to [`Gcra::locked`].
const LOCKED: i64 = i64::MAX;

/// [`NEVER`] under the lock, below every reading.
const NEVER_LOCKED: i128 = i128::MIN;

/// `d` in nanoseconds: exact (at most about 1.8 × 10²⁸, far below `i128::MAX`).
fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

/// Nanoseconds as a `Duration`: zero for a negative value, `Duration::MAX` beyond it.
fn duration(nanos: i128) -> Duration {
    let nanos = u128::try_from(nanos).unwrap_or(0);
    match u64::try_from(nanos / 1_000_000_000) {
        Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

/// A nanosecond count computed from a `Duration` (at most `Duration::MAX` times `u32::MAX`, so
/// below `i128::MAX`).
fn nanos_of(n: u128) -> i128 {
    i128::try_from(n).unwrap_or(i128::MAX)
}

/// An arrival time from the atomic, widened (never `LOCKED`).
fn widen(tat: i64) -> i128 {
    if tat == NEVER {
        NEVER_LOCKED
    } else {
        i128::from(tat)
    }
}

impl Gcra {
    /// A limiter state for an interval and a tolerance in nanoseconds (`interval ≥ 1`,
    /// `tolerance ≥ 0`, both within the bounds above).
    fn new(interval: i128, tolerance: i128) -> Self {
        Gcra {
            origin: OnceLock::new(),
            tat: AtomicI64::new(NEVER),
            locked: Mutex::new(NEVER_LOCKED),
            interval,
            tolerance,
        }
    }

    /// `now` as nanoseconds from the origin.
    fn at(&self, now: Instant) -> i128 {
        let origin = *self.origin.get_or_init(|| now);
        match now.checked_duration_since(origin) {
            Some(after) => nanos(after),
            None => -nanos(origin - now),
        }
    }

    /// One GCRA step at `now` from the arrival time `tat`: the next arrival time if one admission
    /// conforms, else the nanoseconds until one would.
    fn step(&self, tat: i128, now: i128) -> Result<i128, i128> {
        // `max(now)` is what keeps an idle limiter from saving up more than its burst.
        let tat = tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            Err(ahead - self.tolerance)
        } else {
            Ok(tat + self.interval)
        }
    }

    /// Admits one at `now` if it conforms (and moves the arrival time), else says how long to
    /// wait. Relaxed is enough: the arrival time publishes no other data, and the CAS orders every
    /// admission in the single modification order of `tat`, which is all the rate bound needs
    /// (each admission conforms at its own clock reading and moves `tat` by a full interval).
    fn try_admit(&self, now: i128) -> Result<(), Duration> {
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            if current == LOCKED {
                return self.try_admit_locked(now);
            }
            let next = self.step(widen(current), now).map_err(duration)?;
            let Some(next) = i64::try_from(next)
                .ok()
                .filter(|&next| next != NEVER && next != LOCKED)
            else {
                // The arrival time no longer fits the atomic: on under the lock, exactly.
                return self.try_admit_locked(now);
            };
            match self.tat.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// [`try_admit`](Self::try_admit) on the locked state.
    fn try_admit_locked(&self, now: i128) -> Result<(), Duration> {
        let mut tat = self.lock();
        let next = self.step(*tat, now).map_err(duration)?;
        *tat = next;
        Ok(())
    }

    /// The locked state, moving the arrival time out of the atomic first if it is still there.
    fn lock(&self) -> MutexGuard<'_, i128> {
        // Nothing panics while it is held: poisoning cannot happen, but is harmless.
        let mut locked = self.locked.lock();
        let fast = self.tat.swap(LOCKED, Ordering::Relaxed);
        if fast != LOCKED {
            *locked = widen(fast);
        }
        locked
    }

    /// How long until one admission conforms, at `now`.
    fn wait(&self, now: i128) -> Duration {
        let current = self.tat.load(Ordering::Relaxed);
        let tat = if current == LOCKED {
            *self.lock()
        } else {
            widen(current)
        };
        duration(tat.max(now) - now - self.tolerance)
    }
}

#[derive(Default)]
struct State {
    /// Waiters in arrival order; only the front one sleeps on the clock.
    queue: VecDeque<Waiter>,
    next_id: u64,
}

struct Waiter {
    id: u64,
    waker: Option<Waker>,
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

/// Builds a [`RateLimiter`]; from [`RateLimiter::per_second`] or [`RateLimiter::new`].
#[derive(Debug, Clone)]
pub struct RateLimiterBuilder {
    operations: u32,
    period: Duration,
    burst: Option<u32>,
}

impl RateLimiter {
    /// `operations` per second; see [`RateLimiterBuilder::burst`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::RateLimiter;
    ///
    /// let limiter = RateLimiter::per_second(4).build().unwrap();
    /// assert_eq!(limiter.interval(), Duration::from_millis(250));
    /// assert_eq!(limiter.burst(), 4); // a full second's worth by default
    /// ```
    pub fn per_second(operations: u32) -> RateLimiterBuilder {
        Self::new(operations, Duration::from_secs(1))
    }

    /// `operations` per `period`. The burst defaults to `operations` (a full period's worth may
    /// go at once after an idle spell); set [`burst`](RateLimiterBuilder::burst) to smooth.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(100, Duration::from_secs(60)).build().unwrap();
    /// assert_eq!(limiter.interval(), Duration::from_millis(600));
    /// let err = RateLimiter::new(10, Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "rate limiter period" });
    /// ```
    #[allow(
        clippy::new_ret_no_self,
        reason = "the design names the constructor `new`; it returns the builder for `.burst()`"
    )]
    pub fn new(operations: u32, period: Duration) -> RateLimiterBuilder {
        RateLimiterBuilder {
            operations,
            period,
            burst: None,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock()
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
    /// let limiter = RateLimiter::per_second(2).build().unwrap();
    /// assert!(limiter.try_acquire(&rt).is_ok());
    /// assert!(limiter.try_acquire(&rt).is_ok()); // the burst of 2
    /// let refused = limiter.try_acquire(&rt).unwrap_err();
    /// assert_eq!(refused.retry_after, Duration::from_millis(500));
    /// vrt.clock().advance(refused.retry_after);
    /// assert!(limiter.try_acquire(&rt).is_ok());
    /// ```
    pub fn try_acquire(&self, rt: &Runtime) -> Result<(), RetryAfter> {
        let inner = &*self.inner;
        let now = inner.gcra.at(rt.now());
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
                self.inner.admitted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(retry_after) => {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                super::event!(?retry_after, "rate limit reached");
                Err(RetryAfter { retry_after })
            }
        }
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
    /// let limiter = RateLimiter::per_second(5).burst(1).build().unwrap();
    /// let start = rt.now();
    /// for _ in 0..3 {
    ///     limiter.acquire(&rt).await; // waits its turn, never fails
    /// }
    /// assert_eq!(rt.now() - start, Duration::from_millis(400)); // 0, 200, 400 ms
    /// assert_eq!(limiter.stats().waited, 2);
    /// # });
    /// ```
    pub fn acquire<'a>(&'a self, rt: &'a Runtime) -> RateLimitAcquire<'a> {
        RateLimitAcquire {
            limiter: self,
            rt,
            id: None,
            sleep: None,
        }
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
    /// let limiter = RateLimiter::per_second(10).burst(1).build().unwrap();
    /// let start = rt.now();
    /// assert_eq!(limiter.run(&rt, || async { Ok::<_, &str>(1) }).await, Ok(1));
    /// let failed = limiter.run(&rt, || async { Err::<i32, _>("bad request") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("bad request")));
    /// assert_eq!(rt.now() - start, Duration::from_millis(100)); // the second call waited
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.acquire(rt).await;
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
    /// let limiter = RateLimiter::per_second(10).build().unwrap();
    /// let limit = TimeoutPolicy::new(Duration::from_secs(1), "one call").unwrap();
    /// let out: Result<(), ResilienceError<()>> = limiter
    ///     .run_flat(&rt, || limit.run(&rt, || std::future::pending()))
    ///     .await;
    /// assert!(out.unwrap_err().is_timeout()); // the inner policy's error, unchanged
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        self.acquire(rt).await;
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
    /// let limiter = RateLimiter::per_second(1).build().unwrap();
    /// assert_eq!(limiter.try_run(&rt, || async { Ok::<_, ()>("sent") }).await, Ok("sent"));
    /// let refused = limiter.try_run(&rt, || async { Ok::<_, ()>("sent") }).await;
    /// let retry_after = Duration::from_secs(1);
    /// assert_eq!(refused, Err(ResilienceError::RateLimited { retry_after }));
    /// # });
    /// ```
    pub async fn try_run<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.try_acquire(rt)?;
        op().await.map_err(ResilienceError::Inner)
    }

    /// The configured burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::RateLimiter;
    ///
    /// assert_eq!(RateLimiter::per_second(50).build().unwrap().burst(), 50);
    /// assert_eq!(RateLimiter::per_second(50).burst(5).build().unwrap().burst(), 5);
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
    /// let limiter = RateLimiter::per_second(3).build().unwrap();
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
    /// use uno_core::resilience::RateLimiter;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let limiter = RateLimiter::per_second(1).build().unwrap();
    /// assert!(limiter.try_acquire(&rt).is_ok());
    /// assert!(limiter.try_acquire(&rt).is_err());
    /// let stats = limiter.stats();
    /// assert_eq!((stats.admitted, stats.rejected, stats.queued), (1, 1, 0));
    /// ```
    pub fn stats(&self) -> RateLimiterStats {
        let inner = &*self.inner;
        RateLimiterStats {
            admitted: inner.admitted.load(Ordering::Relaxed),
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
            && inner.gcra.try_admit(inner.gcra.at(now)).is_ok();
        if admitted {
            inner.admitted.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }
}

impl RateLimiterBuilder {
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
                state: Mutex::new(State::default()),
                admitted: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                waited: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("operations", &self.inner.operations)
            .field("period", &self.inner.period)
            .field("burst", &self.inner.burst)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`RateLimiter::acquire`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct RateLimitAcquire<'a> {
    limiter: &'a RateLimiter,
    rt: &'a Runtime,
    /// Our place in the queue, once queued.
    id: Option<u64>,
    /// Only the front waiter sleeps, until its admission conforms. Allocated only when waiting.
    sleep: Option<Pin<Box<dyn Sleep>>>,
}

impl Future for RateLimitAcquire<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let inner = &*this.limiter.inner;
        loop {
            let now = this.rt.now();
            let at = inner.gcra.at(now);
            // The lock-free path, for a newcomer when nobody is queued ahead of it.
            if this.id.is_none()
                && inner.queued.load(Ordering::Acquire) == 0
                && inner.gcra.try_admit(at).is_ok()
            {
                inner.admitted.fetch_add(1, Ordering::Relaxed);
                return Poll::Ready(());
            }
            let mut state = this.limiter.state();
            let id = match this.id {
                Some(id) => {
                    if let Some(w) = state.queue.iter_mut().find(|w| w.id == id)
                        && !w
                            .waker
                            .as_ref()
                            .is_some_and(|old| old.will_wake(cx.waker()))
                    {
                        w.waker = Some(cx.waker().clone());
                    }
                    id
                }
                None => {
                    let id = state.next_id;
                    state.next_id += 1;
                    state.queue.push_back(Waiter {
                        id,
                        waker: Some(cx.waker().clone()),
                    });
                    inner.queued.store(state.queue.len(), Ordering::Release);
                    this.id = Some(id);
                    inner.waited.fetch_add(1, Ordering::Relaxed);
                    id
                }
            };
            if state.queue.front().map(|w| w.id) != Some(id) {
                // Not our turn: the waiter ahead wakes us when it leaves the queue.
                return Poll::Pending;
            }
            match inner.gcra.try_admit(at) {
                Ok(()) => {
                    state.queue.pop_front();
                    inner.queued.store(state.queue.len(), Ordering::Release);
                    let next = state.queue.front_mut().and_then(|w| w.waker.take());
                    drop(state);
                    this.id = None;
                    this.sleep = None;
                    inner.admitted.fetch_add(1, Ordering::Relaxed);
                    if let Some(next) = next {
                        next.wake();
                    }
                    return Poll::Ready(());
                }
                Err(wait) => {
                    drop(state);
                    let deadline = deadline_after(now, wait);
                    match &mut this.sleep {
                        Some(sleep) if sleep.deadline() != deadline => {
                            sleep.as_mut().reset(deadline);
                        }
                        Some(_) => {}
                        None => this.sleep = Some(this.rt.sleep_until(deadline)),
                    }
                    let sleep = this.sleep.as_mut().expect("set just above");
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The deadline passed: check again.
                }
            }
        }
    }
}

impl Drop for RateLimitAcquire<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let inner = &*self.limiter.inner;
        let mut state = self.limiter.state();
        let Some(pos) = state.queue.iter().position(|w| w.id == id) else {
            return;
        };
        state.queue.remove(pos);
        inner.queued.store(state.queue.len(), Ordering::Release);
        // The front waiter is the only one watching the clock: hand the watch on.
        let next = if pos == 0 {
            state.queue.front_mut().and_then(|w| w.waker.take())
        } else {
            None
        };
        drop(state);
        inner.abandoned.fetch_add(1, Ordering::Relaxed);
        if let Some(next) = next {
            next.wake();
        }
    }
}

impl fmt::Debug for RateLimitAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitAcquire")
            .field("queued", &self.id.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::VirtualRuntime;

    const SEC: i128 = 1_000_000_000;
    const YEAR: i128 = 365 * 86_400 * SEC;

    /// A limiter of one admission per `interval`, `burst` at once.
    fn gcra(interval: i128, burst: u32) -> Gcra {
        Gcra::new(interval, interval * i128::from(burst - 1))
    }

    /// The arrival time, wherever it lives.
    fn tat(g: &Gcra) -> i128 {
        match g.tat.load(Ordering::Relaxed) {
            LOCKED => *g.lock(),
            fast => widen(fast),
        }
    }

    fn is_locked(g: &Gcra) -> bool {
        g.tat.load(Ordering::Relaxed) == LOCKED
    }

    /// Admits at `now` until refused; returns the count and the refusal's wait.
    fn drain(g: &Gcra, now: i128) -> (u64, Duration) {
        let mut admitted = 0;
        loop {
            match g.try_admit(now) {
                Ok(()) => admitted += 1,
                Err(wait) => return (admitted, wait),
            }
        }
    }

    /// The reference: the same step in plain `i128`, no atomic, no lock.
    fn reference(interval: i128, burst: u32, readings: &[i128]) -> Vec<Result<(), Duration>> {
        let tolerance = interval * i128::from(burst - 1);
        let mut tat = i128::MIN;
        readings
            .iter()
            .map(|&now| {
                let t = tat.max(now);
                if t - now > tolerance {
                    Err(duration(t - now - tolerance))
                } else {
                    tat = t + interval;
                    Ok(())
                }
            })
            .collect()
    }

    #[test]
    fn a_year_long_interval_admits_its_whole_burst() {
        let g = gcra(YEAR, 100);
        let (admitted, wait) = drain(&g, 0);
        assert_eq!(admitted, 100);
        assert_eq!(wait, duration(YEAR));
        assert!(!is_locked(&g), "100 years ahead still fits the atomic");
        assert_eq!(g.try_admit(YEAR - 1), Err(Duration::from_nanos(1)));
        assert_eq!(g.try_admit(YEAR), Ok(()));
        // 100 a year spread over the year: the same burst.
        let g = gcra(YEAR / 100, 100);
        assert_eq!(drain(&g, 0).0, 100);
    }

    #[test]
    fn a_burst_of_centuries_is_exact_under_the_lock() {
        // One a year, a thousand at once: the arrival time runs 1000 years ahead (past i64).
        let g = gcra(YEAR, 1000);
        let (admitted, wait) = drain(&g, 0);
        assert_eq!(admitted, 1000);
        assert_eq!(wait, duration(YEAR));
        assert!(is_locked(&g));
        assert_eq!(tat(&g), 1000 * YEAR);
        assert_eq!(g.wait(0), duration(YEAR));
        assert_eq!(g.wait(YEAR), Duration::ZERO);
        assert_eq!(g.try_admit(YEAR), Ok(()));
        assert_eq!(g.try_admit(YEAR), Err(duration(YEAR)));
    }

    #[test]
    fn the_longest_interval_and_the_largest_burst() {
        let max = nanos(Duration::MAX);
        let g = gcra(max, 3);
        assert_eq!(drain(&g, 0), (3, Duration::MAX));
        assert_eq!(g.try_admit(max - 1), Err(Duration::from_nanos(1)));
        assert_eq!(g.try_admit(max), Ok(()));
        let g = gcra(max, u32::MAX);
        for _ in 0..1000 {
            assert_eq!(g.try_admit(0), Ok(()));
        }
        assert_eq!(tat(&g), 1000 * max);
        assert_eq!(g.wait(0), Duration::ZERO, "billions more fit in the burst");
        // The furthest the arrival time can run: the whole burst at the latest reading.
        *g.lock() = max + g.tolerance;
        assert_eq!(g.try_admit(max), Ok(()));
        assert_eq!(tat(&g), max + g.tolerance + max);
        assert_eq!(g.try_admit(max), Err(Duration::MAX));
        assert_eq!(
            g.wait(-max),
            Duration::MAX,
            "a reading from before: saturates"
        );
    }

    #[test]
    fn huge_clock_jumps_change_nothing_but_the_time() {
        let g = gcra(100_000_000, 2); // ten a second, two at once
        assert_eq!(drain(&g, 0), (2, Duration::from_millis(100)));
        for jump in [1 << 62, 1 << 63, 1 << 64, 1 << 90, nanos(Duration::MAX)] {
            assert_eq!(drain(&g, jump), (2, Duration::from_millis(100)), "{jump}");
            assert_eq!(g.wait(jump), Duration::from_millis(100));
            assert_eq!(g.try_admit(jump + 100_000_000), Ok(()));
            assert_eq!(g.wait(jump + 100_000_000), Duration::from_millis(100));
        }
        assert!(is_locked(&g));
    }

    #[test]
    fn readings_before_the_origin() {
        let g = gcra(SEC, 1);
        assert_eq!(g.try_admit(-5 * SEC), Ok(()));
        assert_eq!(g.try_admit(-5 * SEC), Err(Duration::from_secs(1)));
        assert_eq!(g.try_admit(0), Ok(()));
        // Far before: an empty limiter admits, whatever the reading.
        let g = gcra(SEC, 1);
        let long_ago = -nanos(Duration::MAX);
        assert_eq!(g.try_admit(long_ago), Ok(()));
        assert!(
            is_locked(&g),
            "an arrival time below i64 moves under the lock"
        );
        assert_eq!(g.try_admit(long_ago), Err(Duration::from_secs(1)));
        assert_eq!(g.try_admit(0), Ok(()));
    }

    #[test]
    fn the_move_under_the_lock_matches_the_reference() {
        let edge = i128::from(i64::MAX);
        let cases: [(i128, u32, Vec<i128>); 4] = [
            // Readings walking across the end of the atomic's range, one interval at a time.
            (
                SEC,
                3,
                (0..12).map(|i| edge - 6 * SEC + i * SEC / 2).collect(),
            ),
            // Back and forth around the edge, some refused.
            (
                SEC,
                2,
                vec![
                    0,
                    edge - SEC,
                    edge - SEC,
                    edge,
                    edge - 2 * SEC,
                    edge + SEC,
                    0,
                ],
            ),
            // Huge interval from the start: the first admission already leaves the atomic.
            (1 << 70, 2, vec![0, 0, 0, 1 << 70, (1 << 70) - 1, 1 << 71]),
            // Below the atomic's range.
            (
                SEC,
                2,
                vec![
                    -edge - 3 * SEC,
                    -edge - 3 * SEC,
                    -edge - 3 * SEC,
                    -edge,
                    0,
                    0,
                    0,
                ],
            ),
        ];
        for (interval, burst, readings) in cases {
            let g = gcra(interval, burst);
            let got: Vec<_> = readings.iter().map(|&now| g.try_admit(now)).collect();
            assert_eq!(
                got,
                reference(interval, burst, &readings),
                "{interval} {burst}"
            );
        }
    }

    #[test]
    fn clones_racing_across_the_move_lose_and_double_nothing() {
        // A tolerance so large that nothing is refused: each admission moves the arrival time by
        // exactly one, and from just below the atomic's edge the racing threads cross it.
        let g = Arc::new(Gcra::new(1, i128::MAX / 4));
        g.tat.store(i64::MAX - 2_000, Ordering::Relaxed);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        g.try_admit(0).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(is_locked(&g));
        assert_eq!(tat(&g), i128::from(i64::MAX) - 2_000 + 4000);
    }

    #[test]
    fn limiter_over_a_year_and_after_centuries_of_virtual_time() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let year = Duration::from_secs(365 * 86_400);
        let limiter = RateLimiter::new(1, year).burst(100).build().unwrap();
        let admitted = (0..200)
            .filter(|_| limiter.try_acquire(&rt).is_ok())
            .count();
        assert_eq!(admitted, 100);
        assert_eq!(limiter.try_acquire(&rt).unwrap_err().retry_after, year);

        let limiter = RateLimiter::per_second(10).burst(2).build().unwrap();
        for _ in 0..20 {
            vrt.clock().advance(Duration::MAX); // 30 years each, 600 in all
            assert!(limiter.try_acquire(&rt).is_ok());
            assert!(limiter.try_acquire(&rt).is_ok());
            let wait = limiter.try_acquire(&rt).unwrap_err().retry_after;
            assert_eq!(wait, Duration::from_millis(100));
        }
        vrt.block_on(async {
            let start = rt.now();
            limiter.acquire(&rt).await;
            limiter.acquire(&rt).await;
            assert_eq!(rt.now() - start, Duration::from_millis(200));
        });
    }
}
