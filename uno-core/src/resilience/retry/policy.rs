//! [`Retry`]: the public handle, its counters, and [`RetryAttempts`] for a loop driven by hand.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::state::{Attempts, Inner, OwnedAttempts, Step};
use super::{RetryBudget, RetryBuilder};
use crate::resilience::{ResilienceError, Verdict};
use crate::rt::Runtime;

/// The retry policy (Uno's `@retry`): calls an operation up to `max_attempts` times (and/or until
/// a total deadline), waiting a [`Backoff`] between attempts, while the error is transient.
///
/// Build it with [`Retry::builder`]. Clones share the jitter source, the counters and the
/// [`RetryBudget`]. `E` is the operation's error type. Run an operation with [`run`](Retry::run),
/// or drive the loop by hand with [`attempts`](Retry::attempts) when each attempt must borrow
/// state mutably.
///
/// - Which errors are retried: the operation's own errors for which
///   [`retry_if`](RetryBuilder::retry_if) holds (all by default); timeouts of an attempt (unless
///   [`retry_on_timeout(false)`](RetryBuilder::retry_on_timeout)); rate-limit, bulkhead and
///   open-circuit refusals only with [`retry_on_rejection(true)`](RetryBuilder::retry_on_rejection)
///   (then waiting at least their `retry_after`). A cancellation is never retried nor counted as
///   a failure.
/// - An error that is not retried is returned as it is. When attempts, the deadline or the budget
///   run out, the result is [`ResilienceError::RetriesExhausted`] with the number of attempts and
///   the last error.
/// - A [`RetryBudget`] token is taken when a retry is decided and spent when that retry's attempt
///   calls the operation; a retry that never gets there (the call is dropped during the backoff,
///   the hook panics, a policy of a [`Pipeline`] refuses the attempt) gives its
///   token back.
///
/// # Panics
///
/// A panic in the operation (the closure, its future's `poll` or its `Drop`) or in a callback
/// ([`retry_if`](RetryBuilder::retry_if), [`delay_from`](RetryBuilder::delay_from),
/// [`on_retry`](RetryBuilder::on_retry)) ends the call: it propagates out of `run` (or
/// [`RetryAttempts::failed`]) unchanged, no further attempt is made, and a budget token taken for
/// a retry that did not start goes back. The call is counted in `calls` (and its attempts so far)
/// only, as a dropped call is. The policy is unaffected.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{Backoff, ResilienceError, Retry};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let retry = Retry::builder(&rt)
///     .max_attempts(3)
///     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0))
///     .retry_if(|e: &&str| *e != "not found")
///     .build()
///     .unwrap();
/// vrt.block_on(async move {
///     let mut calls = 0;
///     let start = rt.now();
///     let out = retry
///         .run(|| {
///             calls += 1;
///             let n = calls;
///             async move { if n < 3 { Err("busy") } else { Ok(n) } }
///         })
///         .await;
///     assert_eq!(out, Ok(3));
///     assert_eq!(rt.now() - start, Duration::from_millis(300)); // 100 ms + 200 ms
///
///     let err = retry.run(|| async { Err::<(), _>("busy") }).await.unwrap_err();
///     assert_eq!(err.attempts(), Some(3));
///     assert_eq!(err.into_inner(), Some("busy"));
/// });
/// ```
///
/// [`Pipeline`]: crate::resilience::Pipeline
/// [`Backoff`]: super::Backoff
pub struct Retry<E> {
    pub(super) inner: Arc<Inner<E>>,
}

/// A snapshot of a [`Retry`]'s counters (shared by its clones).
///
/// # Examples
///
/// In a [`Pipeline`], attempts that a policy refused before the operation was
/// called are counted apart from the calls of the operation:
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{Backoff, Bulkhead, Pipeline, Retry};
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
///
/// let bulkhead = Bulkhead::builder(&rt, 1).max_queue(0).build().unwrap();
/// let retry = Retry::builder(&rt)
///     .max_attempts(3)
///     .backoff(Backoff::constant(Duration::ZERO))
///     .retry_on_rejection(true)
///     .build()
///     .unwrap();
/// let pipeline = Pipeline::builder(&rt).retry(retry).bulkhead(bulkhead.clone()).build().unwrap();
/// let busy = bulkhead.try_acquire().unwrap(); // the only slot is taken
/// let err = pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
/// assert_eq!(err.attempts(), Some(3)); // three attempts, each refused by the bulkhead
/// drop(busy);
/// pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
/// let stats = pipeline.retry().unwrap().stats();
/// assert_eq!((stats.calls, stats.attempts, stats.refused), (2, 1, 3));
/// # });
/// ```
///
/// [`Pipeline`]: crate::resilience::Pipeline
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryStats {
    /// Calls started (each may make several attempts).
    pub calls: u64,
    /// Times the operation was called. An attempt that never called it (see
    /// [`refused`](Self::refused)) is not counted here.
    pub attempts: u64,
    /// Attempts that ended without calling the operation because a policy inside the retry
    /// stopped them first: in a [`Pipeline`], the circuit breaker or the
    /// bulkhead refused the attempt, or the per-attempt timeout expired while it waited for the
    /// rate limiter or a bulkhead slot. They count toward `max_attempts` (and toward the attempts
    /// of [`ResilienceError::RetriesExhausted`]), not toward [`attempts`](Self::attempts). Always
    /// zero for [`Retry::run`], [`Retry::run_flat`] and [`Retry::attempts`], whose attempts all
    /// call the operation.
    ///
    /// [`Pipeline`]: crate::resilience::Pipeline
    pub refused: u64,
    /// Retries decided (attempts after the first of a call, refused ones included).
    pub retries: u64,
    /// Calls that ended with a value.
    pub successes: u64,
    /// Calls that ended with an error (cancellations excluded).
    pub failures: u64,
    /// Failed calls that gave up because attempts, the deadline or the budget ran out.
    pub exhausted: u64,
    /// Of those, calls that gave up because the [`RetryBudget`] was empty.
    pub budget_exhausted: u64,
    /// Calls that ended cancelled (through a token; a dropped call is not observed at all).
    pub cancelled: u64,
}

impl<E> Retry<E> {
    /// A builder with Uno's defaults: 3 attempts, exponential backoff from 100 ms doubling up to
    /// 10 s, every error retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{ConfigError, Retry};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let retry = Retry::<std::io::Error>::builder(&rt).build().unwrap();
    /// assert_eq!(retry.max_attempts(), 3);
    /// let err = Retry::<std::io::Error>::builder(&rt).max_attempts(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "retry max_attempts" });
    /// ```
    pub fn builder(rt: &Runtime) -> RetryBuilder<E> {
        RetryBuilder::new(rt)
    }

    /// The policy's name (default `"retry"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Retry;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// assert_eq!(Retry::<()>::builder(&rt).build().unwrap().name(), "retry");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// Runs `op` (called again for every attempt) until it succeeds, fails with an error that is
    /// not retried, or the policy gives up. Backoff delays are slept on the clock of the runtime
    /// the policy was built with.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::Inner`] for an error that was not retried, and
    /// [`ResilienceError::RetriesExhausted`] when the policy gave up.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in flight (or the backoff sleep) and makes no further
    /// attempt; nothing is counted as a failure. Whatever the operation did before it was dropped
    /// stays done: retry only operations that are safe to repeat or abandon.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ResilienceError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt)
    ///     .backoff(Backoff::constant(Duration::from_secs(1)))
    ///     .retry_if(|e: &&str| *e == "busy")
    ///     .build()
    ///     .unwrap();
    /// let mut calls = 0;
    /// let out = retry.run(|| { calls += 1; async { Err::<(), _>("busy") } }).await;
    /// assert_eq!(calls, 3); // then it gave up
    /// assert_eq!(out.unwrap_err().attempts(), Some(3));
    /// let fatal = retry.run(|| async { Err::<(), _>("forbidden") }).await;
    /// assert_eq!(fatal, Err(ResilienceError::Inner("forbidden"))); // not retried
    /// # });
    /// ```
    // Not an `async fn`: it returns `run_flat`'s future itself rather than a future holding it
    // (and `op` a second time), so the future is no larger than it needs to be.
    pub fn run<T, F, Fut>(&self, mut op: F) -> impl Future<Output = Result<T, ResilienceError<E>>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_flat(move || {
            let attempt = op();
            async move { attempt.await.map_err(ResilienceError::Inner) }
        })
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`] (another
    /// policy): its errors are classified as they are, not wrapped again.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run); a [`ResilienceError::Cancelled`] from the operation ends the call at
    /// once and is returned as is.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let no_wait = Backoff::constant(Duration::ZERO);
    /// let retry = Retry::<()>::builder(&rt).backoff(no_wait).build().unwrap();
    /// let per_attempt = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
    /// let mut calls = 0;
    /// let out = retry
    ///     .run_flat(|| {
    ///         calls += 1;
    ///         let slow = calls == 1; // the first attempt hangs, the second answers
    ///         per_attempt.run(move || async move {
    ///             if slow { std::future::pending().await } else { Ok(7) }
    ///         })
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok(7)); // the timeout was retried
    /// # });
    /// ```
    pub async fn run_flat<T, F, Fut>(&self, mut op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let mut attempts = self.attempts();
        loop {
            // `RetryAttempts::failed`, inline, and the backoff awaited outside the `match`: no
            // error or outcome is held across that await, so this future stays small (it is
            // what `block_on` and every enclosing future copy, on the happy path too).
            let delay = match op().await {
                Ok(value) => {
                    attempts.succeeded();
                    return Ok(value);
                }
                Err(err) => attempts.attempts.failed(err)?,
            };
            if !delay.is_zero() {
                self.inner.rt.sleep(delay).await;
            }
            attempts.attempts.begin();
            attempts.attempts.calling();
        }
    }

    /// As [`run`](Self::run), deciding from the whole outcome: `classify` gives each attempt's
    /// `Result` a [`Verdict`], so an `Ok` can be retried (an HTTP 503) and an `Err` can end the
    /// call (a 404). A [`Verdict::RetryAfter`] waits the delay it carries instead of the backoff,
    /// within the policy's limits (at most [`max_retry_after`], 60 s unless set, and within
    /// [`max_duration`]); see [`Verdict`] for how each verdict is read. The budget, the hook
    /// (for errors) and the counters work as in `run`; an `Err` classified
    /// [`Verdict::Failure`] still goes through [`retry_if`] and [`delay_from`].
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run): the operation's error when it is not retried, and
    /// [`ResilienceError::RetriesExhausted`] when the policy gave up on an error. Giving up on an
    /// `Ok` classified as a failure returns that `Ok` (the last response).
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// A panicking `classify` propagates out of the call, as a panic in the operation does: no
    /// further attempt, nothing leaked (the attempt it judged had already spent its budget
    /// token).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::<&str>::builder(&rt)
    ///     .backoff(Backoff::constant(Duration::from_millis(100)))
    ///     .build()
    ///     .unwrap();
    /// let statuses = [503, 429, 200];
    /// let mut calls = 0;
    /// let start = rt.now();
    /// let status = retry
    ///     .run_classified(
    ///         || { calls += 1; let status = statuses[calls - 1]; async move { Ok(status) } },
    ///         |outcome| match outcome {
    ///             Ok(429) => Verdict::RetryAfter(Duration::from_secs(3)), // Retry-After: 3
    ///             Ok(s) if *s >= 500 => Verdict::Failure,
    ///             Ok(_) => Verdict::Success,
    ///             Err(_) => Verdict::Failure,
    ///         },
    ///     )
    ///     .await;
    /// assert_eq!(status, Ok(200));
    /// assert_eq!(rt.now() - start, Duration::from_millis(3100)); // the backoff, then Retry-After
    /// # });
    /// ```
    ///
    /// [`max_retry_after`]: RetryBuilder::max_retry_after
    /// [`max_duration`]: RetryBuilder::max_duration
    /// [`retry_if`]: RetryBuilder::retry_if
    /// [`delay_from`]: RetryBuilder::delay_from
    pub async fn run_classified<T, F, Fut, C>(
        &self,
        mut op: F,
        classify: C,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(Result<&T, &E>) -> Verdict,
    {
        let mut attempts = self.start();
        loop {
            // The first `begin` is right after `start`, with no `.await` between.
            attempts.begin();
            attempts.calling();
            let result = op().await;
            let verdict = classify(result.as_ref());
            match attempts.judged(result.map_err(ResilienceError::Inner), Some(verdict)) {
                Step::Done(result) => return result,
                Step::Retry(delay) => {
                    if !delay.is_zero() {
                        self.inner.rt.sleep(delay).await;
                    }
                }
            }
        }
    }

    /// Starts one call driven by hand: for a retry loop that [`run`](Self::run) cannot express,
    /// typically one whose attempts borrow state mutably (an `FnMut() -> Fut` closure cannot lend
    /// its captures to the future it returns).
    ///
    /// The call is counted and its first attempt begins at once; then report each attempt's
    /// outcome to the returned [`RetryAttempts`]: [`succeeded`](RetryAttempts::succeeded), or
    /// [`failed(err).await`](RetryAttempts::failed), which either sleeps the backoff and begins
    /// the next attempt or returns the error that ends the call — exactly what `run` does, with
    /// the same counters, budget, hook, deadline and final error.
    ///
    /// Call it right before the first attempt starts (without an `.await` between): the
    /// attempt is counted from here.
    ///
    /// # Examples
    ///
    /// Each attempt borrows `log` mutably, which a closure given to `run` could not lend:
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ResilienceError, Retry};
    /// use uno_core::rt::{Runtime, VirtualRuntime};
    ///
    /// async fn append(rt: &Runtime, log: &mut Vec<String>, line: &str) -> Result<usize, &'static str> {
    ///     rt.sleep(Duration::from_millis(1)).await; // an await while `log` is borrowed
    ///     log.push(line.to_owned());
    ///     if log.len() < 3 { Err("busy") } else { Ok(log.len()) }
    /// }
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// let retry = Retry::builder(&rt)
    ///     .backoff(Backoff::constant(Duration::from_millis(10)))
    ///     .build()
    ///     .unwrap();
    /// vrt.block_on(async move {
    ///     let mut log = Vec::new();
    ///     let mut attempts = retry.attempts();
    ///     let len = loop {
    ///         let line = format!("attempt {}", attempts.attempt());
    ///         match append(&rt, &mut log, &line).await {
    ///             Ok(len) => {
    ///                 attempts.succeeded();
    ///                 break len;
    ///             }
    ///             Err(e) => attempts = attempts.failed(ResilienceError::Inner(e)).await?,
    ///         }
    ///     };
    ///     assert_eq!(len, 3);
    ///     assert_eq!(log, ["attempt 1", "attempt 2", "attempt 3"]);
    ///     assert_eq!(retry.stats().retries, 2);
    ///     Ok::<(), ResilienceError<&str>>(())
    /// })
    /// .unwrap();
    /// ```
    pub fn attempts(&self) -> RetryAttempts<'_, E> {
        let mut attempts = self.start();
        // Right after `start`, with no `.await` between: the derived attempt count relies on it.
        attempts.begin();
        attempts.calling(); // by contract, the caller calls the operation right away
        RetryAttempts { attempts }
    }

    /// The state of one call, for policies (the pipeline) that drive their own attempt loop.
    pub(crate) fn start(&self) -> Attempts<'_, E> {
        Attempts::new(&self.inner)
    }

    /// As [`start`](Self::start), owning a reference count of the policy: for a named future
    /// (the tower service's) that cannot borrow it.
    #[cfg_attr(
        not(feature = "tower"),
        allow(dead_code, reason = "used by the tower layer")
    )]
    pub(crate) fn start_owned(&self) -> OwnedAttempts<E> {
        OwnedAttempts::new(self.inner.clone())
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt).backoff(Backoff::constant(Duration::ZERO)).build().unwrap();
    /// let mut calls = 0;
    /// let flaky = || {
    ///     calls += 1;
    ///     let n = calls;
    ///     async move { if n < 2 { Err(()) } else { Ok(()) } }
    /// };
    /// let _ = retry.run(flaky).await; // fails once, then succeeds
    /// let _ = retry.run(|| async { Err::<(), _>(()) }).await;
    /// let stats = retry.stats();
    /// assert_eq!((stats.calls, stats.attempts, stats.retries), (2, 5, 3));
    /// assert_eq!((stats.successes, stats.failures, stats.exhausted), (1, 1, 1));
    /// # });
    /// ```
    pub fn stats(&self) -> RetryStats {
        let c = &self.inner.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        // First, with `Acquire`: every attempt counted in these has its begin visible below.
        let refused = c.refused.load(Ordering::Acquire);
        let abandoned = c.abandoned_uncalled.load(Ordering::Acquire);
        let calls = get(&c.calls);
        RetryStats {
            calls,
            attempts: (calls + get(&c.later_attempts)).saturating_sub(refused + abandoned),
            refused,
            retries: get(&c.retries),
            successes: get(&c.successes),
            failures: get(&c.failures),
            exhausted: get(&c.exhausted),
            budget_exhausted: get(&c.budget_exhausted),
            cancelled: get(&c.cancelled),
        }
    }

    /// The maximum number of attempts per call.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Retry;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let retry = Retry::<()>::builder(&rt).max_attempts(5).build().unwrap();
    /// assert_eq!(retry.max_attempts(), 5);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// The retry budget, if one was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Retry, RetryBudget};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let budget = RetryBudget::try_new(10, 0.1).unwrap();
    /// let retry = Retry::<()>::builder(&rt).budget(budget.clone()).build().unwrap();
    /// assert_eq!(retry.budget().map(RetryBudget::available), Some(10));
    /// assert!(Retry::<()>::builder(&rt).build().unwrap().budget().is_none());
    /// ```
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.inner.budget.as_ref()
    }
}

/// One call of a [`Retry`] driven by hand, from [`Retry::attempts`]: reports each attempt's
/// outcome to the policy, which says whether (and after which delay) to try again.
///
/// An attempt is in progress from the moment this value exists: report it with
/// [`succeeded`](Self::succeeded), or with [`failed`](Self::failed), which sleeps the backoff and
/// begins the next attempt or ends the call with its final error; [`give_up`](Self::give_up)
/// ends the call with an error the policy must not retry. Each consumes the value, so a call
/// cannot be reported twice nor go on after it ended. Dropping it abandons the call (as
/// dropping [`Retry::run`]'s future does): nothing more is counted.
///
/// # Examples
///
/// See [`Retry::attempts`].
#[must_use = "a retried call needs each attempt's outcome reported: succeeded, failed or give_up"]
pub struct RetryAttempts<'a, E> {
    attempts: Attempts<'a, E>,
}

impl<'a, E> RetryAttempts<'a, E> {
    /// The number of the attempt in progress: 1 for the first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ResilienceError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt).backoff(Backoff::constant(Duration::ZERO)).build().unwrap();
    /// let attempts = retry.attempts();
    /// assert_eq!(attempts.attempt(), 1);
    /// let attempts = attempts.failed(ResilienceError::Inner("busy")).await.unwrap();
    /// assert_eq!(attempts.attempt(), 2);
    /// attempts.succeeded();
    /// # });
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempts.attempt()
    }

    /// Reports that the attempt in progress succeeded: the call ends with a success (and a
    /// deposit into the [`RetryBudget`], if any).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Retry;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let retry = Retry::<()>::builder(&rt).build().unwrap();
    /// let mut counter = 0;
    /// let attempts = retry.attempts();
    /// counter += 1; // the attempt, borrowing `counter` mutably
    /// attempts.succeeded();
    /// let stats = retry.stats();
    /// assert_eq!((counter, stats.calls, stats.attempts, stats.successes), (1, 1, 1, 1));
    /// ```
    pub fn succeeded(mut self) {
        self.attempts.succeeded();
    }

    /// Reports that the attempt in progress failed with `err`, classified as [`Retry::run_flat`]
    /// classifies an operation's error (wrap the operation's own error in
    /// [`ResilienceError::Inner`]). If the policy retries it, sleeps the backoff on the policy's
    /// runtime, begins the next attempt and returns `self` to report it;
    /// otherwise returns the error that ends the call.
    ///
    /// # Errors
    ///
    /// `err` itself when it is not retried (a cancellation never is), and
    /// [`ResilienceError::RetriesExhausted`] (the attempt count and `err`) when attempts, the
    /// deadline or the budget ran out.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future during the backoff sleep abandons the call: the retry was already
    /// counted (and announced to the hook), the next attempt is not begun, the budget token
    /// taken for it goes back to the [`RetryBudget`], and nothing is counted as a failure — as
    /// when [`Retry::run`]'s future is dropped there.
    ///
    /// # Examples
    ///
    /// A loop whose attempts borrow a buffer mutably; a permanent error is not retried:
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ResilienceError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// async fn fill(buf: &mut Vec<u8>) -> Result<(), &'static str> {
    ///     buf.push(0);
    ///     Err(if buf.len() < 2 { "busy" } else { "corrupt" })
    /// }
    ///
    /// let retry = Retry::builder(&rt)
    ///     .max_attempts(5)
    ///     .backoff(Backoff::constant(Duration::from_secs(1)))
    ///     .retry_if(|e: &&str| *e == "busy")
    ///     .build()
    ///     .unwrap();
    /// let mut buf = Vec::new();
    /// let start = rt.now();
    /// let mut attempts = retry.attempts();
    /// let err = loop {
    ///     match fill(&mut buf).await {
    ///         Ok(()) => {
    ///             attempts.succeeded();
    ///             break None;
    ///         }
    ///         Err(e) => match attempts.failed(ResilienceError::Inner(e)).await {
    ///             Ok(next) => attempts = next,
    ///             Err(end) => break Some(end),
    ///         },
    ///     }
    /// };
    /// assert_eq!(err, Some(ResilienceError::Inner("corrupt"))); // not retried
    /// assert_eq!(buf.len(), 2);
    /// assert_eq!(rt.now() - start, Duration::from_secs(1)); // one backoff
    /// # });
    /// ```
    pub async fn failed(mut self, err: ResilienceError<E>) -> Result<Self, ResilienceError<E>> {
        let delay = self.attempts.failed(err)?;
        if !delay.is_zero() {
            self.attempts.runtime().sleep(delay).await;
        }
        self.attempts.begin();
        self.attempts.calling();
        Ok(self)
    }

    /// Ends the call with `err` without asking the policy: for an error the caller knows must not
    /// be retried, whatever [`retry_if`](RetryBuilder::retry_if) says (a step that cannot be
    /// repeated already ran). Counts a failure (a cancellation for
    /// [`ResilienceError::Cancelled`]) and returns `err` as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{ResilienceError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let retry = Retry::builder(&rt).build().unwrap(); // would retry every error
    /// let attempts = retry.attempts();
    /// let err = attempts.give_up(ResilienceError::Inner("sent, reply lost"));
    /// assert_eq!(err, ResilienceError::Inner("sent, reply lost"));
    /// let stats = retry.stats();
    /// assert_eq!((stats.attempts, stats.retries, stats.failures), (1, 0, 1));
    /// ```
    pub fn give_up(self, err: ResilienceError<E>) -> ResilienceError<E> {
        self.attempts.give_up(err)
    }
}

impl<E> fmt::Debug for RetryAttempts<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryAttempts")
            .field("attempt", &self.attempts.attempt())
            .field("max_attempts", &self.attempts.max_attempts())
            .finish_non_exhaustive()
    }
}

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Self {
        Retry {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.inner.name)
            .field("max_attempts", &self.inner.max_attempts)
            .field("max_duration", &self.inner.max_duration)
            .field("backoff", &self.inner.backoff)
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}

    /// A hand-driven call can be held across `.await` in a spawned (`Send`) task, whatever `E`.
    #[test]
    fn retry_attempts_is_send_and_sync() {
        let rt = crate::rt::VirtualRuntime::new().handle();
        let retry = Retry::<std::rc::Rc<()>>::builder(&rt).build().unwrap();
        let attempts = retry.attempts();
        send_sync(&attempts);
        attempts.succeeded();
    }
}
