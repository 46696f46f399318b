//! [`Pipeline`]: every policy stacked in Uno's decorator order on one operation, and the
//! attempt loop that runs them.

use std::fmt;
use std::future::Future;

use std::sync::Arc;

use super::{PipelineBuilder, PipelineLimit};
use crate::observe::{Name, event};
use crate::resilience::retry::{Attempts, Step};
use crate::resilience::{
    Bulkhead, CircuitBreaker, Classify, DefaultClassify, RateLimiter, ResilienceError, Retry,
    TimeoutPolicy, Verdict,
};
use crate::rt::Runtime;
use crate::sync::{CancellationToken, Cancelled};

/// Policies stacked on an operation in a fixed order — Uno's
/// `@cancellable @retry @timeout_handler @rate_limited @concurrent_limited`, plus the breaker:
///
/// ```text
/// cancellable → overall timeout → retry → per-attempt timeout → circuit breaker
///             → rate limit → bulkhead → operation
/// ```
///
/// Every slot is optional. The order is fixed (not the order of the builder calls) so that
/// pipelines always mean the same thing:
/// - the cancellation token and the overall timeout bound the whole call, retries included;
/// - each retry gets its own per-attempt timeout, and passes the breaker, limiter and bulkhead
///   again;
/// - the breaker is asked before the per-attempt timeout starts and records that timeout as a
///   failure (its slow-call clock measures the operation alone, not the waits for the limiter or
///   the bulkhead); refusals by the limiter or bulkhead are not counted by the breaker;
/// - the rate-limit admission is taken before the bulkhead slot, so a call waiting for the
///   limiter does not hold a slot.
///
/// The pipeline holds its [`Runtime`]: its timeouts and backoff sleeps run on it, and it reads
/// that clock once per attempt for the breaker, the per-attempt timeout and the limiter, so
/// build the policies on the same runtime. Policies are stored by value (each a cheap handle),
/// so a call allocates nothing on the happy path. Clones share every policy's state.
///
/// # Panics
///
/// A panic in the operation (the closure, its future's `poll` or its `Drop`) or in a policy's
/// callback propagates out of `run` unchanged (see [the module](crate::resilience), "Panics in
/// user code"): the attempt's bulkhead slot, limiter queue place and breaker probe slot are
/// released first, a budget token taken for a retry that did not reach the operation goes back,
/// and no further attempt is made.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{Backoff, Bulkhead, Pipeline, RateLimiter, Retry};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let pipeline = Pipeline::builder(&rt)
///     .retry(Retry::builder(&rt)
///         .max_attempts(3)
///         .backoff(Backoff::constant(Duration::from_millis(50)))
///         .build()
///         .unwrap())
///     .attempt_timeout(Duration::from_secs(1), "calling the flaky service")
///     .rate_limiter(RateLimiter::builder(&rt, 10, Duration::from_secs(1)).build().unwrap())
///     .bulkhead(Bulkhead::builder(&rt, 5).build().unwrap())
///     .build()
///     .unwrap();
/// vrt.block_on(async move {
///     let mut calls = 0;
///     let out = pipeline
///         .run(|| {
///             calls += 1;
///             let n = calls;
///             async move { if n < 3 { Err("flaky") } else { Ok(n) } }
///         })
///         .await;
///     assert_eq!(out, Ok(3));
/// });
/// ```
pub struct Pipeline<E> {
    pub(crate) rt: Runtime,
    pub(crate) name: Name,
    pub(crate) token: Option<CancellationToken>,
    // Shared (each allocated once, at build): the `tower` layer's futures hold them.
    pub(crate) timeout: Option<Arc<TimeoutPolicy>>,
    pub(crate) retry: Option<Retry<E>>,
    pub(crate) attempt_timeout: Option<Arc<TimeoutPolicy>>,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) limiter: Option<PipelineLimit>,
    pub(crate) bulkhead: Option<Bulkhead>,
}

impl<E> Pipeline<E> {
    /// An empty pipeline on `rt`; add the policies you want.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, Pipeline};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bare = Pipeline::builder(&rt).build().unwrap(); // no policy: just calls `op`
    /// assert_eq!(bare.run(|| async { Ok::<_, ()>(5) }).await, Ok(5));
    /// let err = Pipeline::<()>::builder(&rt).timeout(Duration::ZERO, "never").build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "pipeline timeout" });
    /// # });
    /// ```
    pub fn builder(rt: &Runtime) -> PipelineBuilder<E> {
        PipelineBuilder::new(rt)
    }

    /// The pipeline's name (default `"pipeline"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Pipeline;
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// assert_eq!(Pipeline::<()>::builder(&rt).build().unwrap().name(), "pipeline");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Runs `op` (called again for each attempt) through every policy.
    ///
    /// # Errors
    ///
    /// Any [`ResilienceError`]: the operation's error, a timeout, a refusal, a cancellation, or
    /// retries exhausted.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in flight, releases its bulkhead slot and breaker
    /// probe, leaves the limiter's queue without consuming, gives back a budget token taken for a
    /// retry that has not called the operation yet, and counts nothing as a failure. What the
    /// operation did before it was dropped stays done.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Pipeline, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(&rt)
    ///     .retry(Retry::builder(&rt).max_attempts(2).build().unwrap())
    ///     .attempt_timeout(Duration::from_secs(1), "fetching the price")
    ///     .build()
    ///     .unwrap();
    /// let mut attempts = 0;
    /// let err = pipeline
    ///     .run(|| { attempts += 1; std::future::pending::<Result<u32, &str>>() })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(attempts, 2); // each attempt timed out after 1 s
    /// assert!(err.is_timeout() && err.attempts() == Some(2));
    /// # });
    /// ```
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_flat(move || {
            let attempt = op();
            async move { attempt.await.map_err(ResilienceError::Inner) }
        })
        .await
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`].
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Pipeline, ResilienceError, Retry, RetryAfter};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(&rt)
    ///     .retry(Retry::builder(&rt).retry_on_rejection(true).build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// // The operation reports an overload as a refusal, so the retry waits its `retry_after`.
    /// let mut overloaded = true;
    /// let out = pipeline
    ///     .run_flat(|| {
    ///         let busy = std::mem::replace(&mut overloaded, false);
    ///         async move {
    ///             let retry_after = Duration::from_secs(2);
    ///             if busy { Err(RetryAfter::new("upstream", retry_after).into()) }
    ///             else { Ok::<_, ResilienceError<()>>("done") }
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok("done"));
    /// # });
    /// ```
    pub async fn run_flat<T, F, Fut>(&self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        self.run_judged(op, None, None::<&DefaultClassify>).await
    }

    /// As [`run`](Self::run), stopping the call with [`ResilienceError::Cancelled`] when
    /// `token` is cancelled too (this call only; the builder's
    /// [`cancellation`](PipelineBuilder::cancellation) token, if any, still stops every call).
    /// Short for `self.call().cancellation(token).run(op)`; see [`PipelineCall`].
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run); [`ResilienceError::Cancelled`] once either token is cancelled.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run). A cancelled token stops the call at whichever await point it is
    /// in (the limiter's queue, a bulkhead slot's wait, the operation, the backoff sleep) with
    /// the same release of what it held as dropping the future.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Pipeline, ResilienceError};
    /// use uno_core::sync::CancellationToken;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(&rt).build().unwrap();
    /// let (this_request, other_request) = (CancellationToken::new(), CancellationToken::new());
    /// this_request.cancel(); // the client went away
    /// let hung = pipeline.run_with(&this_request, || std::future::pending::<Result<(), ()>>());
    /// assert_eq!(hung.await, Err(ResilienceError::Cancelled));
    /// let fine = pipeline.run_with(&other_request, || async { Ok::<_, ()>(1) }).await;
    /// assert_eq!(fine, Ok(1)); // other calls go on
    /// # });
    /// ```
    pub async fn run_with<T, F, Fut>(
        &self,
        token: &CancellationToken,
        op: F,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call().cancellation(token).run(op).await
    }

    /// As [`run`](Self::run), with the breaker and the retry deciding from `classify`'s
    /// [`Verdict`] on each attempt's whole `Result` (see [`Verdict`] for how each policy reads
    /// it). Only the operation's own outcomes are classified: timeouts, refusals and
    /// cancellations keep their rules.
    ///
    /// # Errors
    ///
    /// As [`Retry::run_classified`] inside the pipeline's other errors: giving up on an `Ok`
    /// classified as a failure returns that `Ok`.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// A panicking `classify` propagates out of the call after the attempt's bulkhead slot was
    /// released; its breaker probe counts nothing and is freed, and no further attempt is made.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, CircuitBreaker, Pipeline, Retry, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(&rt)
    ///     .retry(Retry::builder(&rt).backoff(Backoff::constant(Duration::ZERO)).build().unwrap())
    ///     .circuit_breaker(CircuitBreaker::builder(&rt).build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// let mut statuses = vec![200, 500, 500];
    /// let status = pipeline
    ///     .run_classified(
    ///         || { let status = statuses.pop().unwrap(); async move { Ok::<u16, ()>(status) } },
    ///         |outcome| match outcome {
    ///             Ok(s) if *s >= 500 => Verdict::Failure,
    ///             _ => Verdict::Success,
    ///         },
    ///     )
    ///     .await;
    /// assert_eq!(status, Ok(200)); // two 500s retried
    /// assert_eq!(pipeline.circuit_breaker().unwrap().stats().failures, 2);
    /// # });
    /// ```
    pub async fn run_classified<T, F, Fut, C>(
        &self,
        op: F,
        classify: C,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(Result<&T, &E>) -> Verdict,
    {
        self.call().classify(classify).run(op).await
    }

    /// Per-call options: a [`PipelineCall`] to give this call its own cancellation token
    /// and/or classifier before running it.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Pipeline, Verdict};
    /// use uno_core::sync::CancellationToken;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::<()>::builder(&rt).build().unwrap();
    /// let request = CancellationToken::new();
    /// let out = pipeline
    ///     .call()
    ///     .cancellation(&request)
    ///     .classify(|_: Result<&u16, &()>| Verdict::Success)
    ///     .run(|| async { Ok(204) })
    ///     .await;
    /// assert_eq!(out, Ok(204));
    /// # });
    /// ```
    pub fn call(&self) -> PipelineCall<'_, E> {
        PipelineCall {
            pipeline: self,
            token: None,
            classify: None,
        }
    }

    /// Runs a call with its own token and classifier (each optional), inside the span.
    async fn run_judged<T, F, Fut, C>(
        &self,
        mut op: F,
        token: Option<&CancellationToken>,
        classify: Option<&C>,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
        C: Classify<T, E>,
    {
        let call = self.call_inner(&mut op, token, classify);
        #[cfg(feature = "tracing")]
        let call = tracing::Instrument::instrument(
            call,
            tracing::debug_span!(
                target: "uno_core::resilience",
                "uno_pipeline_call",
                name = %self.name
            ),
        );
        call.await
    }

    /// One call through every policy (inside the `uno_pipeline_call` span): stopped by the
    /// builder's token or the call's own, whichever is cancelled first.
    async fn call_inner<T, F, Fut, C>(
        &self,
        op: &mut F,
        token: Option<&CancellationToken>,
        classify: Option<&C>,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
        C: Classify<T, E>,
    {
        let rt = &self.rt;
        let bounded = async move {
            let retried = async move {
                let Some(retry) = &self.retry else {
                    return self.attempt(op, None, classify).await.0;
                };
                let mut attempts = retry.start();
                loop {
                    attempts.begin();
                    let (result, verdict) = self.attempt(op, Some(&mut attempts), classify).await;
                    match attempts.judged(result, verdict) {
                        Step::Done(result) => return result,
                        Step::Retry(delay) => {
                            if !delay.is_zero() {
                                rt.sleep(delay).await;
                            }
                        }
                    }
                }
            };
            match &self.timeout {
                Some(limit) => limit.limit(retried).await,
                None => retried.await,
            }
        };
        let for_this_call = until_cancelled(token, bounded);
        until_cancelled(self.token.as_ref(), for_this_call).await
    }

    /// One attempt: breaker, per-attempt timeout, limiter, bulkhead, operation. `retry` is told
    /// when the operation is called, so that attempts stopped before it are counted apart.
    ///
    /// The clock is read once for the breaker, the timeout's start and the limiter: they act at
    /// the same moment (no `.await` between them). The slow-call clock starts from that reading
    /// too, unless the limiter or the bulkhead made the call wait.
    ///
    /// Returns the attempt's result with `classify`'s verdict on it when it is the operation's
    /// own outcome (`None` for a timeout or a refusal, or without a classifier).
    async fn attempt<T, F, Fut, C>(
        &self,
        op: &mut F,
        mut retry: Option<&mut Attempts<'_, E>>,
        classify: Option<&C>,
    ) -> (Result<T, ResilienceError<E>>, Option<Verdict>)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
        C: Classify<T, E>,
    {
        let rt = &self.rt;
        event!(
            debug,
            "uno_core::resilience",
            name = %self.name,
            attempt = retry.as_deref().map_or(1, Attempts::attempt),
            "pipeline attempt"
        );
        let now = (self.attempt_timeout.is_some() || self.limiter.is_some()).then(|| rt.now());
        let admission = match &self.breaker {
            Some(breaker) => match breaker.admit(now) {
                Ok(admission) => Some(admission),
                Err(open) => return (Err(open.into()), None),
            },
            None => None,
        };
        let measure = self
            .breaker
            .as_ref()
            .is_some_and(CircuitBreaker::detects_slow_calls);
        let mut op_time = None;
        let limited = async {
            let mut waited = false;
            match &self.limiter {
                Some(PipelineLimit::Local(limiter))
                    if !now.is_some_and(|now| limiter.try_admit_at(now)) =>
                {
                    limiter.acquire().await;
                    waited = true;
                }
                Some(PipelineLimit::Shared(limit)) => {
                    limit.acquire().await?;
                    waited = true;
                }
                _ => {}
            }
            let _slot = match &self.bulkhead {
                Some(bulkhead) => Some(match bulkhead.try_enter() {
                    Some(slot) => slot,
                    None => {
                        waited = true;
                        bulkhead.enter().await?
                    }
                }),
                None => None,
            };
            let start = measure.then(|| match now {
                Some(now) if !waited => now,
                _ => rt.now(),
            });
            if let Some(attempts) = retry.as_deref_mut() {
                attempts.calling();
            }
            let result = op().await;
            if let Some(start) = start {
                op_time = Some(rt.now().saturating_duration_since(start));
            }
            result
        };
        let result = match (&self.attempt_timeout, now) {
            (Some(limit), Some(now)) => limit.limit_from(now, limited).await,
            _ => limited.await,
        };
        // Judged while the breaker's admission is held: a panicking classifier drops it
        // unreported, which frees its probe slot.
        let verdict = classify.and_then(|classify| judge(classify, &result));
        if let Some(admission) = admission {
            admission.record_judged(&result, verdict, op_time);
        }
        (result, verdict)
    }

    /// The runtime the pipeline runs on.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Pipeline;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let pipeline = Pipeline::<()>::builder(&rt).build().unwrap();
    /// assert_eq!(pipeline.runtime().now(), rt.now()); // the same clock
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The retry policy, to read its [`stats`](Retry::stats).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Pipeline, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).retry(retry).build().unwrap();
    /// let _ = pipeline.run(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(pipeline.retry().unwrap().stats().attempts, 3);
    /// assert!(Pipeline::<()>::builder(&rt).build().unwrap().retry().is_none());
    /// # });
    /// ```
    pub fn retry(&self) -> Option<&Retry<E>> {
        self.retry.as_ref()
    }

    /// The circuit breaker, to read its state and stats.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, Pipeline};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder(&rt).count_window(1).minimum_calls(1).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).circuit_breaker(breaker).build().unwrap();
    /// let _ = pipeline.run(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(pipeline.circuit_breaker().unwrap().state(), CircuitState::Open);
    /// # });
    /// ```
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The in-process rate limiter, if the pipeline has one: `None` without a limiter and for a
    /// limit given to [`shared_rate_limiter`](PipelineBuilder::shared_rate_limiter) (read that one
    /// through your own handle; [`rate_limit_name`](Self::rate_limit_name) names either).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Pipeline, RateLimiter};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).rate_limiter(limiter).build().unwrap();
    /// for _ in 0..2 {
    ///     pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    /// }
    /// assert_eq!(pipeline.rate_limiter().unwrap().stats().waited, 1);
    /// # });
    /// ```
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.limiter.as_ref().and_then(PipelineLimit::local)
    }

    /// The name of the pipeline's rate limit, in-process or shared (`None` without one).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Pipeline, RateLimiter};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).name("api").build().unwrap();
    /// let pipeline = Pipeline::<()>::builder(&rt).shared_rate_limiter(limiter).build().unwrap();
    /// assert_eq!(pipeline.rate_limit_name(), Some("api"));
    /// assert!(pipeline.rate_limiter().is_some()); // an in-process limiter stays one
    /// ```
    pub fn rate_limit_name(&self) -> Option<&str> {
        self.limiter.as_ref().map(PipelineLimit::name)
    }

    /// The bulkhead.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, Pipeline};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(&rt, 2).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).bulkhead(bulkhead).build().unwrap();
    /// pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    /// let stats = pipeline.bulkhead().unwrap().stats();
    /// assert_eq!((stats.admitted, stats.in_flight), (1, 0));
    /// # });
    /// ```
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.bulkhead.as_ref()
    }
}

/// `classify`'s verdict on an attempt's result when it is the operation's own outcome (a value
/// or its own error), `None` for what a policy produced (timeouts, refusals, cancellation).
pub(crate) fn judge<T, E, C: Classify<T, E>>(
    classify: &C,
    result: &Result<T, ResilienceError<E>>,
) -> Option<Verdict> {
    match result {
        Ok(value) => Some(classify.classify(Ok(value))),
        Err(ResilienceError::Inner(err)) => Some(classify.classify(Err(err))),
        Err(_) => None,
    }
}

/// Runs `call` until `token` (if any) is cancelled.
async fn until_cancelled<T, E>(
    token: Option<&CancellationToken>,
    call: impl Future<Output = Result<T, ResilienceError<E>>>,
) -> Result<T, ResilienceError<E>> {
    match token {
        Some(token) => token
            .run_until_cancelled_ref(call)
            .await
            .unwrap_or_else(|Cancelled| Err(ResilienceError::Cancelled)),
        None => call.await,
    }
}

/// One call of a [`Pipeline`] with its own options; from [`Pipeline::call`].
///
/// - [`cancellation`](Self::cancellation): a token for this call alone (a request's, a
///   client's): cancelling it stops this call with [`ResilienceError::Cancelled`], and no other.
///   The builder's token, if any, still applies: the first of the two to be cancelled stops it.
/// - [`classify`](Self::classify): a classifier of the operation's outcomes for this call (see
///   [`Pipeline::run_classified`]).
///
/// Then [`run`](Self::run) or [`run_flat`](Self::run_flat), as the pipeline's own methods.
///
/// # Examples
///
/// ```
/// use uno_core::resilience::{Pipeline, ResilienceError};
/// use uno_core::sync::CancellationToken;
/// # use uno_core::rt::VirtualRuntime;
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
///
/// let pipeline = Pipeline::builder(&rt).build().unwrap();
/// let client_gone = CancellationToken::new();
/// client_gone.cancel();
/// let out = pipeline
///     .call()
///     .cancellation(&client_gone)
///     .run_flat(|| std::future::pending::<Result<(), ResilienceError<()>>>())
///     .await;
/// assert_eq!(out, Err(ResilienceError::Cancelled));
/// # });
/// ```
#[must_use = "a call does nothing until `.run(..)` or `.run_flat(..)`"]
pub struct PipelineCall<'a, E, C = DefaultClassify> {
    pipeline: &'a Pipeline<E>,
    token: Option<&'a CancellationToken>,
    classify: Option<C>,
}

impl<'a, E, C> PipelineCall<'a, E, C> {
    /// Stops this call when `token` is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Pipeline, ResilienceError};
    /// use uno_core::sync::CancellationToken;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let shutdown = CancellationToken::new();
    /// let pipeline = Pipeline::builder(&rt).cancellation(shutdown.clone()).build().unwrap();
    /// let request = CancellationToken::new();
    /// let call = pipeline.call().cancellation(&request).run(|| std::future::pending::<Result<(), ()>>());
    /// shutdown.cancel(); // the builder's token still stops it
    /// assert_eq!(call.await, Err(ResilienceError::Cancelled));
    /// # });
    /// ```
    pub fn cancellation(mut self, token: &'a CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Classifies this call's outcomes with `classify` (a [`Classify`]: any
    /// `Fn(Result<&T, &E>) -> Verdict`; annotate the closure's argument, its types are not known
    /// yet here).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, Pipeline, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder(&rt).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).circuit_breaker(breaker).build().unwrap();
    /// let not_found = pipeline
    ///     .call()
    ///     .classify(|_: Result<&(), &&str>| Verdict::Ignored)
    ///     .run(|| async { Err::<(), _>("404") })
    ///     .await;
    /// assert!(not_found.is_err());
    /// assert_eq!(pipeline.circuit_breaker().unwrap().stats().ignored, 1);
    /// # });
    /// ```
    pub fn classify<C2>(self, classify: C2) -> PipelineCall<'a, E, C2> {
        PipelineCall {
            pipeline: self.pipeline,
            token: self.token,
            classify: Some(classify),
        }
    }

    /// Runs `op` through the pipeline with this call's options; see [`Pipeline::run`].
    ///
    /// # Errors
    ///
    /// As [`Pipeline::run`] (and [`Pipeline::run_classified`] with a classifier).
    ///
    /// # Cancel safety
    ///
    /// As [`Pipeline::run_with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Pipeline;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(&rt).build().unwrap();
    /// assert_eq!(pipeline.call().run(|| async { Ok::<_, ()>(3) }).await, Ok(3));
    /// # });
    /// ```
    pub async fn run<T, F, Fut>(self, mut op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        self.run_flat(move || {
            let attempt = op();
            async move { attempt.await.map_err(ResilienceError::Inner) }
        })
        .await
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`]; a
    /// classifier sees its values and its [`Inner`](ResilienceError::Inner) errors.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::run_flat`].
    ///
    /// # Cancel safety
    ///
    /// As [`Pipeline::run_with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Pipeline, ResilienceError};
    /// use uno_core::sync::CancellationToken;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::<()>::builder(&rt).build().unwrap();
    /// let token = CancellationToken::new();
    /// let out = pipeline.call().cancellation(&token).run_flat(|| async { Ok(1) }).await;
    /// assert_eq!(out, Ok(1));
    /// # });
    /// ```
    pub async fn run_flat<T, F, Fut>(self, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
        C: Classify<T, E>,
    {
        self.pipeline
            .run_judged(op, self.token, self.classify.as_ref())
            .await
    }
}

impl<E, C> fmt::Debug for PipelineCall<'_, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineCall")
            .field("pipeline", &self.pipeline.name)
            .field("cancellation", &self.token)
            .field("classified", &self.classify.is_some())
            .finish()
    }
}

impl<E> Clone for Pipeline<E> {
    fn clone(&self) -> Self {
        Pipeline {
            rt: self.rt.clone(),
            name: self.name.clone(),
            token: self.token.clone(),
            timeout: self.timeout.clone(),
            retry: self.retry.clone(),
            attempt_timeout: self.attempt_timeout.clone(),
            breaker: self.breaker.clone(),
            limiter: self.limiter.clone(),
            bulkhead: self.bulkhead.clone(),
        }
    }
}

impl<E> fmt::Debug for Pipeline<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("cancellation", &self.token)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("circuit_breaker", &self.breaker)
            .field("rate_limiter", &self.limiter)
            .field("bulkhead", &self.bulkhead)
            .finish()
    }
}
