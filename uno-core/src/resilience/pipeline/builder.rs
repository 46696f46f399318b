//! [`PipelineBuilder`]: which policies a pipeline stacks.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use super::{Pipeline, PipelineLimit};
use crate::observe::Name;
use crate::resilience::{
    Bulkhead, CircuitBreaker, ConfigError, RateLimit, RateLimiter, Retry, TimeoutPolicy,
};
use crate::rt::Runtime;
use crate::sync::CancellationToken;

/// Builds a [`Pipeline`]; from [`Pipeline::builder`].
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct PipelineBuilder<E> {
    rt: Runtime,
    name: Option<Arc<str>>,
    token: Option<CancellationToken>,
    timeout: Option<(Duration, Cow<'static, str>)>,
    retry: Option<Retry<E>>,
    attempt_timeout: Option<(Duration, Cow<'static, str>)>,
    breaker: Option<CircuitBreaker>,
    limiter: Option<PipelineLimit>,
    bulkhead: Option<Bulkhead>,
}

impl<E> PipelineBuilder<E> {
    /// See [`Pipeline::builder`].
    pub(super) fn new(rt: &Runtime) -> Self {
        PipelineBuilder {
            rt: rt.clone(),
            name: None,
            token: None,
            timeout: None,
            retry: None,
            attempt_timeout: None,
            breaker: None,
            limiter: None,
            bulkhead: None,
        }
    }

    /// Names the pipeline, for its `tracing` span and the errors of its own timeouts. Default:
    /// `"pipeline"`. (Its policies keep their own names.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Pipeline;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let pipeline = Pipeline::builder(&rt)
    ///     .name("checkout")
    ///     .timeout(Duration::from_secs(1), "placing the order")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pipeline.name(), "checkout");
    /// let err = pipeline.run(|| std::future::pending::<Result<(), &str>>()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "checkout: placing the order: timed out after 1s");
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Stops the call (with
    /// [`ResilienceError::Cancelled`](crate::resilience::ResilienceError::Cancelled)) when
    /// `token` is cancelled.
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
    /// let retry = Retry::builder(&rt).max_attempts(10).backoff(backoff);
    /// let pipeline = Pipeline::builder(&rt)
    ///     .timeout(Duration::from_millis(2500), "syncing the account")
    ///     .retry(retry.build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// let err = pipeline.run(|| async { Err::<(), _>("busy") }).await.unwrap_err();
    /// assert_eq!(err.to_string(), "syncing the account: timed out after 2.5s"); // mid-backoff
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
    /// let retry = Retry::builder(&rt).max_attempts(4).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).retry(retry).build().unwrap();
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
    /// let pipeline = Pipeline::builder(&rt)
    ///     .retry(Retry::builder(&rt).build().unwrap())
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
    /// let breaker = CircuitBreaker::builder(&rt).count_window(2).minimum_calls(2).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).circuit_breaker(breaker).build().unwrap();
    /// for _ in 0..2 {
    ///     let _ = pipeline.run(|| async { Err::<(), _>("down") }).await;
    /// }
    /// let err = pipeline.run(|| async { Ok::<_, &str>(()) }).await.unwrap_err();
    /// assert!(matches!(err, ResilienceError::CircuitOpen(_))); // failing fast now
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
    /// let limiter = RateLimiter::builder(&rt, 2, Duration::from_secs(1)).burst(1).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).rate_limiter(limiter).build().unwrap();
    /// let start = rt.now();
    /// for _ in 0..3 {
    ///     pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap();
    /// }
    /// assert_eq!(rt.now() - start, Duration::from_secs(1)); // 0, 0.5 and 1 s
    /// # });
    /// ```
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(PipelineLimit::Local(limiter));
        self
    }

    /// Admits each attempt through any [`RateLimit`]: a limit shared by many processes (such
    /// as `uno_redis::RedisRateLimiter`) or one of your own. Its
    /// [`acquire`](RateLimit::acquire) is awaited at the limiter's place in the pipeline;
    /// its refusal ([`LimitError::RateLimited`](crate::resilience::LimitError::RateLimited))
    /// becomes [`ResilienceError::RateLimited`](crate::resilience::ResilienceError::RateLimited)
    /// and an unreachable limit
    /// ([`LimitError::Unavailable`](crate::resilience::LimitError::Unavailable))
    /// [`ResilienceError::Unavailable`](crate::resilience::ResilienceError::Unavailable); the
    /// breaker counts neither, the retry retries them only with
    /// [`retry_on_rejection`](crate::resilience::RetryBuilder::retry_on_rejection) (a refusal).
    ///
    /// Each admission is boxed (one allocation per attempt, beside a remote limiter's round
    /// trip); an in-process [`RateLimiter`] given here takes [`rate_limiter`](Self::rate_limiter)'s
    /// allocation-free path. Replaces a limiter set before. [`Pipeline::rate_limiter`] returns
    /// only an in-process limiter; [`Pipeline::rate_limit_name`] names either.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::{Ready, ready};
    /// use std::time::Duration;
    /// use uno_core::resilience::{LimitError, Pipeline, RateLimit, ResilienceError, RetryAfter};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// /// A limit that refuses everything (a remote limiter would ask its server).
    /// #[derive(Clone)]
    /// struct Closed;
    /// impl RateLimit for Closed {
    ///     type Acquire = Ready<Result<(), LimitError>>;
    ///     type TryAcquire = Ready<Result<(), LimitError>>;
    ///     fn name(&self) -> &str { "closed" }
    ///     fn acquire(&self, (): ()) -> Self::Acquire { self.try_acquire(()) }
    ///     fn try_acquire(&self, (): ()) -> Self::TryAcquire {
    ///         ready(Err(RetryAfter::new("closed", Duration::from_secs(1)).into()))
    ///     }
    /// }
    ///
    /// let pipeline = Pipeline::builder(&rt).shared_rate_limiter(Closed).build().unwrap();
    /// assert_eq!(pipeline.rate_limit_name(), Some("closed"));
    /// # vrt.block_on(async move {
    /// let err = pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    /// assert!(matches!(err, ResilienceError::RateLimited(RetryAfter { .. })));
    /// # });
    /// ```
    pub fn shared_rate_limiter<L: RateLimit>(mut self, limiter: L) -> Self {
        self.limiter = Some(PipelineLimit::shared(limiter));
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
    /// let bulkhead = Bulkhead::builder(&rt, 1).max_queue(0).build().unwrap();
    /// let pipeline = Pipeline::builder(&rt).bulkhead(bulkhead.clone()).build().unwrap();
    /// let _busy = bulkhead.try_acquire().unwrap(); // someone else holds the only slot
    /// let err = pipeline.run(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    /// assert!(matches!(err, ResilienceError::Rejected(BulkheadRejected::QueueFull { .. })));
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
    /// let builder = Pipeline::<()>::builder(&rt);
    /// let ok = builder.attempt_timeout(Duration::from_secs(1), "attempt").build();
    /// assert!(ok.is_ok());
    /// let builder = Pipeline::<()>::builder(&rt);
    /// let err = builder.attempt_timeout(Duration::ZERO, "attempt").build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "pipeline attempt_timeout" });
    /// ```
    pub fn build(self) -> Result<Pipeline<E>, ConfigError> {
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind("pipeline"),
        };
        // Each slot names itself in the error, so a zero overall and a zero per-attempt timeout
        // are told apart. Both run on the pipeline's runtime, under the pipeline's name.
        let rt = &self.rt;
        let policy = |t: Option<(Duration, Cow<'static, str>)>, what: &'static str| match t {
            Some((d, _)) if d.is_zero() => Err(ConfigError::Zero { what }),
            Some((d, m)) => Ok(Some(Arc::new(TimeoutPolicy::with_name(
                rt,
                d,
                m,
                name.clone(),
                "pipeline",
            )))),
            None => Ok(None),
        };
        let timeout = policy(self.timeout, "pipeline timeout")?;
        let attempt_timeout = policy(self.attempt_timeout, "pipeline attempt_timeout")?;
        Ok(Pipeline {
            rt: self.rt,
            name,
            token: self.token,
            timeout,
            retry: self.retry,
            attempt_timeout,
            breaker: self.breaker,
            limiter: self.limiter,
            bulkhead: self.bulkhead,
        })
    }
}

impl<E> fmt::Debug for PipelineBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
