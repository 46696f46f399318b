//! The pipeline: every policy stacked in Uno's decorator order on one operation.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::resilience::retry::Attempts;
use crate::resilience::{
    Bulkhead, CircuitBreaker, ConfigError, RateLimiter, ResilienceError, Retry, TimeoutPolicy,
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
/// The pipeline holds its [`Runtime`]. Policies are stored by value (each a cheap handle), so a
/// call allocates nothing on the happy path. Clones share every policy's state.
///
/// # Panics
///
/// A panic in the operation (the closure, its future's `poll` or its `Drop`) or in a policy's
/// callback propagates out of `run` unchanged (see [the module](super), "Panics in user code"):
/// the attempt's bulkhead slot, limiter queue place and breaker probe slot are released first,
/// a budget token taken for a retry that did not reach the operation goes back, and no further
/// attempt is made.
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
/// let pipeline = Pipeline::builder(rt.clone())
///     .retry(Retry::builder()
///         .max_attempts(3)
///         .backoff(Backoff::constant(Duration::from_millis(50)))
///         .build()
///         .unwrap())
///     .attempt_timeout(Duration::from_secs(1), "calling the flaky service")
///     .rate_limiter(RateLimiter::per_second(10).build().unwrap())
///     .bulkhead(Bulkhead::builder(5).build().unwrap())
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
    rt: Runtime,
    token: Option<CancellationToken>,
    timeout: Option<TimeoutPolicy>,
    retry: Option<Retry<E>>,
    attempt_timeout: Option<TimeoutPolicy>,
    breaker: Option<CircuitBreaker>,
    limiter: Option<RateLimiter>,
    bulkhead: Option<Bulkhead>,
}

/// Builds a [`Pipeline`]; from [`Pipeline::builder`].
pub struct PipelineBuilder<E> {
    rt: Runtime,
    token: Option<CancellationToken>,
    timeout: Option<(Duration, Cow<'static, str>)>,
    retry: Option<Retry<E>>,
    attempt_timeout: Option<(Duration, Cow<'static, str>)>,
    breaker: Option<CircuitBreaker>,
    limiter: Option<RateLimiter>,
    bulkhead: Option<Bulkhead>,
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
    /// let bare = Pipeline::builder(rt.clone()).build().unwrap(); // no policy: just calls `op`
    /// assert_eq!(bare.run(|| async { Ok::<_, ()>(5) }).await, Ok(5));
    /// let err = Pipeline::<()>::builder(rt).timeout(Duration::ZERO, "never").build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "pipeline timeout" });
    /// # });
    /// ```
    pub fn builder(rt: Runtime) -> PipelineBuilder<E> {
        PipelineBuilder {
            rt,
            token: None,
            timeout: None,
            retry: None,
            attempt_timeout: None,
            breaker: None,
            limiter: None,
            bulkhead: None,
        }
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
    /// let pipeline = Pipeline::builder(rt.clone())
    ///     .retry(Retry::builder().max_attempts(2).build().unwrap())
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
    /// use uno_core::resilience::{Pipeline, ResilienceError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(rt.clone())
    ///     .retry(Retry::builder().retry_on_rejection(true).build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// // The operation reports an overload as a refusal, so the retry waits its `retry_after`.
    /// let mut overloaded = true;
    /// let out = pipeline
    ///     .run_flat(|| {
    ///         let busy = std::mem::replace(&mut overloaded, false);
    ///         async move {
    ///             let retry_after = Duration::from_secs(2);
    ///             if busy { Err(ResilienceError::RateLimited { retry_after }) }
    ///             else { Ok::<_, ResilienceError<()>>("done") }
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok("done"));
    /// # });
    /// ```
    pub async fn run_flat<T, F, Fut>(&self, mut op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let rt = &self.rt;
        let op = &mut op;
        let bounded = async move {
            let retried = async move {
                let Some(retry) = &self.retry else {
                    return self.attempt(op, None).await;
                };
                let mut attempts = retry.start(rt);
                loop {
                    attempts.begin();
                    match self.attempt(op, Some(&mut attempts)).await {
                        Ok(value) => {
                            attempts.succeeded();
                            return Ok(value);
                        }
                        Err(err) => {
                            let delay = attempts.failed(rt, err)?;
                            if !delay.is_zero() {
                                rt.sleep(delay).await;
                            }
                        }
                    }
                }
            };
            match &self.timeout {
                Some(limit) => limit.limit(rt, retried).await,
                None => retried.await,
            }
        };
        match &self.token {
            Some(token) => token
                .run_until_cancelled_ref(bounded)
                .await
                .unwrap_or_else(|Cancelled| Err(ResilienceError::Cancelled)),
            None => bounded.await,
        }
    }

    /// One attempt: breaker, per-attempt timeout, limiter, bulkhead, operation. `retry` is told
    /// when the operation is called, so that attempts stopped before it are counted apart.
    ///
    /// The clock is read once for the breaker, the timeout's start and the limiter: they act at
    /// the same moment (no `.await` between them). The slow-call clock starts from that reading
    /// too, unless the limiter or the bulkhead made the call wait.
    async fn attempt<T, F, Fut>(
        &self,
        op: &mut F,
        mut retry: Option<&mut Attempts<'_, E>>,
    ) -> Result<T, ResilienceError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let rt = &self.rt;
        let now = (self.attempt_timeout.is_some() || self.limiter.is_some()).then(|| rt.now());
        let admission = match &self.breaker {
            Some(breaker) => Some(breaker.admit(rt, now)?),
            None => None,
        };
        let measure = self
            .breaker
            .as_ref()
            .is_some_and(CircuitBreaker::detects_slow_calls);
        let mut op_time = None;
        let limited = async {
            let mut waited = false;
            if let Some(limiter) = &self.limiter
                && !now.is_some_and(|now| limiter.try_admit_at(now))
            {
                limiter.acquire(rt).await;
                waited = true;
            }
            let _slot = match &self.bulkhead {
                Some(bulkhead) => Some(match bulkhead.try_enter() {
                    Some(slot) => slot,
                    None => {
                        waited = true;
                        bulkhead.enter(rt).await?
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
            (Some(limit), Some(now)) => limit.limit_from(rt, now, limited).await,
            _ => limited.await,
        };
        if let Some(admission) = admission {
            admission.record_result(&result, rt, op_time);
        }
        result
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
    /// let pipeline = Pipeline::<()>::builder(rt.clone()).build().unwrap();
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
    /// let retry = Retry::builder().build().unwrap();
    /// let pipeline = Pipeline::builder(rt.clone()).retry(retry).build().unwrap();
    /// let _ = pipeline.run(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(pipeline.retry().unwrap().stats().attempts, 3);
    /// assert!(Pipeline::<()>::builder(rt).build().unwrap().retry().is_none());
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
    /// let breaker = CircuitBreaker::builder().count_window(1).minimum_calls(1).build().unwrap();
    /// let pipeline = Pipeline::builder(rt).circuit_breaker(breaker).build().unwrap();
    /// let _ = pipeline.run(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(pipeline.circuit_breaker().unwrap().state(), CircuitState::Open);
    /// # });
    /// ```
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The rate limiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Pipeline, RateLimiter};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::per_second(1).build().unwrap();
    /// let pipeline = Pipeline::builder(rt).rate_limiter(limiter).build().unwrap();
    /// for _ in 0..2 {
    ///     pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    /// }
    /// assert_eq!(pipeline.rate_limiter().unwrap().stats().waited, 1);
    /// # });
    /// ```
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.limiter.as_ref()
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
    /// let bulkhead = Bulkhead::builder(2).build().unwrap();
    /// let pipeline = Pipeline::builder(rt).bulkhead(bulkhead).build().unwrap();
    /// pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    /// let stats = pipeline.bulkhead().unwrap().stats();
    /// assert_eq!((stats.admitted, stats.in_flight), (1, 0));
    /// # });
    /// ```
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.bulkhead.as_ref()
    }
}

impl<E> PipelineBuilder<E> {
    /// Stops the call (with [`ResilienceError::Cancelled`]) when `token` is cancelled.
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
    /// let pipeline = Pipeline::builder(rt).cancellation(shutdown.clone()).build().unwrap();
    /// let call = pipeline.run(|| std::future::pending::<Result<(), ()>>());
    /// shutdown.cancel();
    /// assert_eq!(call.await, Err(ResilienceError::Cancelled));
    /// # });
    /// ```
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Bounds the whole call, retries and backoff included, reporting `message` at expiry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Pipeline, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let backoff = Backoff::constant(Duration::from_secs(1));
    /// let retry = Retry::builder().max_attempts(10).backoff(backoff);
    /// let pipeline = Pipeline::builder(rt.clone())
    ///     .timeout(Duration::from_millis(2500), "syncing the account")
    ///     .retry(retry.build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// let err = pipeline.run(|| async { Err::<(), _>("busy") }).await.unwrap_err();
    /// assert_eq!(err.to_string(), "syncing the account (timed out after 2.5s)"); // mid-backoff
    /// # });
    /// ```
    pub fn timeout(mut self, duration: Duration, message: impl Into<Cow<'static, str>>) -> Self {
        self.timeout = Some((duration, message.into()));
        self
    }

    /// Retries failed attempts with `retry`.
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
    /// let retry = Retry::builder().max_attempts(4).build().unwrap();
    /// let pipeline = Pipeline::builder(rt).retry(retry).build().unwrap();
    /// let mut calls = 0;
    /// let out = pipeline
    ///     .run(|| {
    ///         calls += 1;
    ///         let n = calls;
    ///         async move { if n < 4 { Err("busy") } else { Ok(n) } }
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok(4));
    /// # });
    /// ```
    pub fn retry(mut self, retry: Retry<E>) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Bounds each attempt, reporting `message` at expiry (Uno's `@timeout_handler`).
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
    /// let pipeline = Pipeline::builder(rt.clone())
    ///     .retry(Retry::builder().build().unwrap())
    ///     .attempt_timeout(Duration::from_secs(1), "one attempt")
    ///     .build()
    ///     .unwrap();
    /// let mut slow = true; // only the first attempt hangs
    /// let out = pipeline
    ///     .run(|| {
    ///         let hang = std::mem::replace(&mut slow, false);
    ///         let rt = rt.clone();
    ///         async move {
    ///             if hang { rt.sleep(Duration::from_secs(60)).await }
    ///             Ok::<_, ()>("fresh")
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok("fresh"));
    /// # });
    /// ```
    pub fn attempt_timeout(
        mut self,
        duration: Duration,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.attempt_timeout = Some((duration, message.into()));
        self
    }

    /// Guards each attempt with `breaker`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, Pipeline, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder().count_window(2).minimum_calls(2).build().unwrap();
    /// let pipeline = Pipeline::builder(rt).circuit_breaker(breaker).build().unwrap();
    /// for _ in 0..2 {
    ///     let _ = pipeline.run(|| async { Err::<(), _>("down") }).await;
    /// }
    /// let err = pipeline.run(|| async { Ok::<_, &str>(()) }).await.unwrap_err();
    /// assert!(matches!(err, ResilienceError::CircuitOpen { .. })); // failing fast now
    /// # });
    /// ```
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Admits each attempt through `limiter` (waiting, in arrival order).
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
    /// let limiter = RateLimiter::per_second(2).burst(1).build().unwrap();
    /// let pipeline = Pipeline::builder(rt.clone()).rate_limiter(limiter).build().unwrap();
    /// let start = rt.now();
    /// for _ in 0..3 {
    ///     pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    /// }
    /// assert_eq!(rt.now() - start, Duration::from_secs(1)); // 0, 0.5 and 1 s
    /// # });
    /// ```
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Runs each attempt in a `bulkhead` slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Bulkhead, BulkheadRejected, Pipeline, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let bulkhead = Bulkhead::builder(1).max_queue(0).build().unwrap();
    /// let pipeline = Pipeline::builder(rt).bulkhead(bulkhead.clone()).build().unwrap();
    /// let _busy = bulkhead.try_acquire().unwrap(); // someone else holds the only slot
    /// let err = pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    /// assert_eq!(err, ResilienceError::Rejected(BulkheadRejected::QueueFull { max_queue: 0 }));
    /// # });
    /// ```
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.bulkhead = Some(bulkhead);
        self
    }

    /// Builds the pipeline.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for a zero timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, Pipeline};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let builder = Pipeline::<()>::builder(rt.clone());
    /// let ok = builder.attempt_timeout(Duration::from_secs(1), "attempt").build();
    /// assert!(ok.is_ok());
    /// let builder = Pipeline::<()>::builder(rt);
    /// let err = builder.attempt_timeout(Duration::ZERO, "attempt").build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "pipeline attempt_timeout" });
    /// ```
    pub fn build(self) -> Result<Pipeline<E>, ConfigError> {
        // Each slot names itself in the error, so a zero overall and a zero per-attempt timeout
        // are told apart.
        let policy = |t: Option<(Duration, Cow<'static, str>)>, what: &'static str| {
            t.map(|(d, m)| TimeoutPolicy::new(d, m))
                .transpose()
                .map_err(|_| ConfigError::Zero { what })
        };
        Ok(Pipeline {
            rt: self.rt,
            token: self.token,
            timeout: policy(self.timeout, "pipeline timeout")?,
            retry: self.retry,
            attempt_timeout: policy(self.attempt_timeout, "pipeline attempt_timeout")?,
            breaker: self.breaker,
            limiter: self.limiter,
            bulkhead: self.bulkhead,
        })
    }
}

impl<E> Clone for Pipeline<E> {
    fn clone(&self) -> Self {
        Pipeline {
            rt: self.rt.clone(),
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

impl<E> fmt::Debug for PipelineBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder").finish_non_exhaustive()
    }
}
