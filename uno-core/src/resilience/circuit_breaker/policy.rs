//! [`CircuitBreaker`]: the public handle, its admission and its counters.

use crate::loom::Arc;
use std::fmt;
use std::future::Future;
use std::time::Instant;

use super::permit::{Admission, BreakerPermit, Permit};
use super::state::{Inner, LazyNow};
use super::{CircuitBreakerBuilder, CircuitState};
use crate::resilience::{CircuitOpen, ResilienceError, Verdict};
use crate::rt::Runtime;

/// A circuit breaker: closed / open / half-open over a failure rate.
///
/// - **Closed**: outcomes go into a sliding window, count-based (the last *n* calls) or
///   time-based (the calls of the last *d*, sliding in steps of *d*/10). Once it holds at least
///   `minimum_calls` and the failure rate reaches `failure_rate_threshold`, the breaker opens.
/// - **Open** for `open_duration`: calls fail fast with [`CircuitOpen`] and the operation is not
///   called. The next call after that moves it to half-open.
/// - **Half-open**: `half_open_probes` calls go through, each holding a probe slot in its
///   [`BreakerPermit`]. When all have reported, a failure rate below the threshold closes the
///   breaker (with a fresh window), otherwise it opens again. A probe dropped without reporting
///   (its future was dropped) frees its slot for another caller, so half-open never wedges.
///
/// Failures are operation errors ([`ResilienceError::Inner`]) and timeouts; with
/// [`slow_call`](CircuitBreakerBuilder::slow_call), a success slower than the threshold too.
/// Cancellations and other policies' refusals are not counted. Outcomes of calls admitted before
/// the last state change are ignored.
///
/// Clones share the state. State changes go to the
/// [`on_state_change`](CircuitBreakerBuilder::on_state_change) listener (called outside the
/// breaker's lock) and to the `tracing` feature's events.
///
/// # Panics
///
/// User code never wedges the breaker:
/// - A panicking **listener** panics the caller whose call made the change (`run`, `run_flat`,
///   `try_acquire`, [`BreakerPermit::success`]/[`failure`](BreakerPermit::failure), a
///   [`Pipeline`]), with the listener's payload, and only after the change is
///   complete: the breaker is in its new state, and a probe slot that caller was being given is
///   freed again (a `try_acquire` that panics this way hands out no permit). The listener is
///   called again at the next change.
/// - A panicking **operation** (the closure, its future's `poll` or its `Drop`) propagates out of
///   `run` unchanged; the call counts as neither success nor failure (as a dropped call) and its
///   probe slot is freed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{CircuitBreaker, CircuitState, ResilienceError};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let breaker = CircuitBreaker::builder(&rt)
///     .count_window(4)
///     .minimum_calls(2)
///     .failure_rate_threshold(0.5)
///     .open_duration(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// vrt.block_on(async move {
///     for _ in 0..2 {
///         let _ = breaker.run(|| async { Err::<(), _>("down") }).await;
///     }
///     assert_eq!(breaker.state(), CircuitState::Open);
///     let err = breaker.run(|| async { Ok::<_, &str>(()) }).await.unwrap_err();
///     assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
///
///     rt.sleep(Duration::from_secs(30)).await;
///     breaker.run(|| async { Ok::<_, &str>(()) }).await.unwrap(); // a probe
///     assert_eq!(breaker.state(), CircuitState::HalfOpen); // three probes by default
/// });
/// ```
///
/// [`Pipeline`]: crate::resilience::Pipeline
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(super) inner: Arc<Inner>,
}

/// A snapshot of a [`CircuitBreaker`]'s state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CircuitBreakerStats {
    /// The state now (an open breaker whose open duration has passed still reads `Open` until
    /// the next call).
    pub state: CircuitState,
    /// Calls recorded as successes.
    pub successes: u64,
    /// Calls recorded as failures (slow calls included).
    pub failures: u64,
    /// Successful calls counted as failures for being slow.
    pub slow_calls: u64,
    /// Calls refused without calling the operation.
    pub rejected: u64,
    /// Admitted calls whose outcome was not counted (dropped, cancelled, refused by another
    /// policy, or admitted before a state change).
    pub ignored: u64,
    /// Times the breaker opened.
    pub opened: u64,
}

impl CircuitBreaker {
    /// A builder with the defaults: a count window of 20 calls, at least 10 calls, threshold 0.5,
    /// open for 30 s, 3 half-open probes, no slow-call detection.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).build().unwrap(); // the defaults
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// let err = CircuitBreaker::builder(&rt).count_window(5).build().unwrap_err();
    /// assert_eq!(err, ConfigError::MinimumCallsExceedWindow { minimum_calls: 10, window: 5 });
    /// ```
    pub fn builder(rt: &Runtime) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(rt)
    }

    /// The breaker's name (default `"circuit_breaker"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::CircuitBreaker;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// assert_eq!(CircuitBreaker::builder(&rt).build().unwrap().name(), "circuit_breaker");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The current state.
    ///
    /// An open breaker moves to half-open lazily, when the first call after `open_duration`
    /// arrives: until then this still reads [`CircuitState::Open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(1).minimum_calls(1).build().unwrap();
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// breaker.try_acquire().unwrap().failure(); // 1 of 1 calls failed
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// ```
    pub fn state(&self) -> CircuitState {
        self.inner.state()
    }

    /// Asks to make one call: a [`BreakerPermit`] to report its outcome with, or [`CircuitOpen`]
    /// (the call must not be made).
    ///
    /// # Errors
    ///
    /// [`CircuitOpen`] while open (with the time left) or while half-open with every probe slot
    /// taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitOpen, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
    /// for _ in 0..2 {
    ///     let permit = breaker.try_acquire().unwrap();
    ///     // … make the call, then report how it went:
    ///     permit.failure();
    /// }
    /// let refused: CircuitOpen = breaker.try_acquire().unwrap_err(); // do not make the call
    /// assert_eq!(refused.retry_after, Some(Duration::from_secs(30)));
    /// ```
    pub fn try_acquire(&self) -> Result<BreakerPermit, CircuitOpen> {
        let permit = Permit::admit(self.inner.clone(), &mut LazyNow::from(&self.inner.rt))?;
        Ok(BreakerPermit::new(permit))
    }

    /// [`try_acquire`](Self::try_acquire) at `now`, a clock reading the caller already made:
    /// the `tower` pipeline's admission, held by its future.
    #[cfg(feature = "tower")]
    pub(crate) fn admit_owned(&self, now: Option<Instant>) -> Result<BreakerPermit, CircuitOpen> {
        let mut now = match now {
            Some(now) => LazyNow::at(now),
            None => LazyNow::from(&self.inner.rt),
        };
        Ok(BreakerPermit::new(Permit::admit(
            self.inner.clone(),
            &mut now,
        )?))
    }

    /// [`try_acquire`](Self::try_acquire) for a call made within the caller's own future: the
    /// admission borrows the breaker. `now` is a clock reading the caller already made, if any.
    pub(crate) fn admit(&self, now: Option<Instant>) -> Result<Admission<'_>, CircuitOpen> {
        let mut now = match now {
            Some(now) => LazyNow::at(now),
            None => LazyNow::from(&self.inner.rt),
        };
        Permit::admit(&*self.inner, &mut now)
    }

    /// Runs `op` if the breaker allows it, and records its outcome.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::CircuitOpen`] (the operation was not called) or
    /// [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the operation; its outcome is not counted and a probe slot it
    /// held is freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
    /// assert_eq!(breaker.run(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    /// let failed = breaker.run(|| async { Err::<i32, _>("503") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("503"))); // 1 of 2 failed: rate 0.5
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// let mut called = false;
    /// let refused = breaker.run(|| { called = true; async { Ok::<_, &str>(1) } }).await;
    /// assert!(refused.unwrap_err().is_rejected() && !called);
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_flat(|| async { op().await.map_err(ResilienceError::Inner) })
            .await
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`]:
    /// `Inner` errors and timeouts count as failures, other errors are not counted.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::CircuitOpen`], or the operation's errors as they are.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(1).minimum_calls(1).build().unwrap();
    /// let limit = TimeoutPolicy::builder(&rt, Duration::from_secs(2)).build().unwrap();
    /// let out: Result<(), _> = breaker
    ///     .run_flat(|| limit.run(|| std::future::pending::<Result<(), ()>>()))
    ///     .await;
    /// assert!(out.unwrap_err().is_timeout());
    /// assert_eq!(breaker.state(), CircuitState::Open); // a timeout counts as a failure
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let admission = self.admit(None)?;
        let result = op().await;
        admission.record_result(&result, None);
        result
    }

    /// As [`run`](Self::run), recording the outcome by `classify`'s [`Verdict`] on the whole
    /// `Result`: an `Ok` can count as a failure (an HTTP 5xx), an `Err` can be
    /// [`Verdict::Ignored`] (a 404: counted neither way, as a cancelled call). Refusals are not
    /// classified: an open breaker answers [`ResilienceError::CircuitOpen`] without calling `op`
    /// or `classify`.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::CircuitOpen`] (the operation was not called) or
    /// [`ResilienceError::Inner`] for the operation's error, whatever its verdict.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// A panicking `classify` propagates out of the call; the call counts as neither success nor
    /// failure and its probe slot is freed, as for a panicking operation.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
    /// let server_errors = |outcome: Result<&u16, &()>| match outcome {
    ///     Ok(status) if *status >= 500 => Verdict::Failure,
    ///     Ok(_) => Verdict::Success,
    ///     Err(()) => Verdict::Failure,
    /// };
    /// for _ in 0..2 {
    ///     let status = breaker.run_classified(|| async { Ok(503) }, server_errors).await;
    ///     assert_eq!(status, Ok(503)); // an answer, and a failure
    /// }
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// # });
    /// ```
    pub async fn run_classified<T, E, F, Fut, C>(
        &self,
        op: F,
        classify: C,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnOnce(Result<&T, &E>) -> Verdict,
    {
        let admission = self.admit(None)?;
        let result = op().await;
        let verdict = classify(result.as_ref());
        let result = result.map_err(ResilienceError::Inner);
        admission.record_judged(&result, Some(verdict), None);
        result
    }

    /// A snapshot of the state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
    /// breaker.try_acquire().unwrap().success();
    /// breaker.try_acquire().unwrap().failure();
    /// drop(breaker.try_acquire()); // refused: the breaker opened
    /// let stats = breaker.stats();
    /// assert_eq!((stats.successes, stats.failures, stats.rejected, stats.opened), (1, 1, 1, 1));
    /// assert_eq!(stats.state, CircuitState::Open);
    /// ```
    pub fn stats(&self) -> CircuitBreakerStats {
        self.inner.stats()
    }

    /// Whether a slow-call threshold is configured.
    pub(crate) fn detects_slow_calls(&self) -> bool {
        self.inner.detects_slow_calls()
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
