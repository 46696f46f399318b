//! [`RetryBuilder`]: the retry policy's configuration, checked once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::backoff::Jitter;
use super::state::{Counters, DelayFrom, Inner, Metrics, OnRetry, Predicate};
use super::{Backoff, Retry, RetryBudget};
use crate::observe::Name;
use crate::resilience::{ConfigError, ResilienceError};
use crate::rt::Runtime;

/// Builds a [`Retry`]; from [`Retry::builder`].
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct RetryBuilder<E> {
    rt: Runtime,
    name: Option<Arc<str>>,
    max_attempts: u32,
    max_duration: Option<Duration>,
    backoff: Backoff,
    retry_if: Option<Box<Predicate<E>>>,
    delay_from: Option<Box<DelayFrom<E>>>,
    on_retry: Option<Box<OnRetry<E>>>,
    retry_on_timeout: bool,
    retry_on_rejection: bool,
    max_retry_after: Option<Duration>,
    budget: Option<RetryBudget>,
    seed: Option<u64>,
}

impl<E> RetryBuilder<E> {
    /// The defaults; see [`Retry::builder`].
    pub(super) fn new(rt: &Runtime) -> Self {
        RetryBuilder {
            rt: rt.clone(),
            name: None,
            max_attempts: 3,
            max_duration: None,
            backoff: Backoff::exponential(Duration::from_millis(100), 2.0)
                .max_delay(Duration::from_secs(10)),
            retry_if: None,
            delay_from: None,
            on_retry: None,
            retry_on_timeout: true,
            retry_on_rejection: false,
            max_retry_after: None,
            budget: None,
            seed: None,
        }
    }

    /// Names the policy, for its errors
    /// ([`RetriesExhausted`](ResilienceError::RetriesExhausted)), metrics and events. Default:
    /// `"retry"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::Retry;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt).name("ledger").max_attempts(2).build().unwrap();
    /// assert_eq!(retry.name(), "ledger");
    /// let err = retry.run(|| async { Err::<(), _>("busy") }).await.unwrap_err();
    /// assert_eq!(err.to_string(), r#"retry "ledger" gave up after 2 attempts"#);
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Calls the operation at most `n` times per call (the first attempt included). Default 3.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{ConfigError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt).max_attempts(5).build().unwrap();
    /// let err = retry.run(|| async { Err::<(), _>("down") }).await.unwrap_err();
    /// assert_eq!(err.attempts(), Some(5));
    /// let zero = Retry::<&str>::builder(&rt).max_attempts(0).build().unwrap_err();
    /// assert_eq!(zero, ConfigError::Zero { what: "retry max_attempts" });
    /// # });
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Makes no retry that would start later than `limit` after the call began (an attempt in
    /// flight is not interrupted: combine with a timeout for that). Useful with a large
    /// `max_attempts`.
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
    /// let retry = Retry::builder(&rt)
    ///     .max_attempts(100)
    ///     .backoff(Backoff::constant(Duration::from_secs(1)))
    ///     .max_duration(Duration::from_millis(3500))
    ///     .build()
    ///     .unwrap();
    /// let err = retry.run(|| async { Err::<(), _>("down") }).await.unwrap_err();
    /// assert_eq!(err.attempts(), Some(4)); // at 0, 1, 2 and 3 s; a retry at 4 s would be too late
    /// assert!(Retry::<()>::builder(&rt).max_duration(Duration::ZERO).build().is_err());
    /// # });
    /// ```
    pub fn max_duration(mut self, limit: Duration) -> Self {
        self.max_duration = Some(limit);
        self
    }

    /// The delays between attempts. Default: exponential from 100 ms, ×2, capped at 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ConfigError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let backoff = Backoff::constant(Duration::from_secs(2));
    /// let retry = Retry::builder(&rt).backoff(backoff).build().unwrap();
    /// let start = rt.now();
    /// let _ = retry.run(|| async { Err::<(), _>(()) }).await;
    /// assert_eq!(rt.now() - start, Duration::from_secs(4)); // two retries, 2 s before each
    /// let bad = Backoff::exponential(Duration::from_secs(1), f64::NAN);
    /// let err = Retry::<()>::builder(&rt).backoff(bad).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidFactor { .. }));
    /// # });
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retries an operation error only when `predicate` says it is transient.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use uno_core::resilience::{ResilienceError, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::builder(&rt)
    ///     .retry_if(|e: &ErrorKind| *e == ErrorKind::TimedOut)
    ///     .build()
    ///     .unwrap();
    /// let mut calls = 0;
    /// let out = retry
    ///     .run(|| {
    ///         calls += 1;
    ///         async { Err::<(), _>(ErrorKind::NotFound) }
    ///     })
    ///     .await;
    /// assert_eq!(out, Err(ResilienceError::Inner(ErrorKind::NotFound)));
    /// assert_eq!(calls, 1); // permanent: not retried
    /// # });
    /// ```
    pub fn retry_if(mut self, predicate: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Box::new(predicate));
        self
    }

    /// Takes the delay before the next attempt from the error when it says (a Retry-After
    /// header); `None` falls back to the backoff. The delay is not capped by the backoff's
    /// maximum, only by [`max_duration`](Self::max_duration).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::Retry;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// // An error that carries the server's Retry-After, in seconds.
    /// let retry = Retry::builder(&rt)
    ///     .max_attempts(2)
    ///     .delay_from(|retry_after_secs: &u64| Some(Duration::from_secs(*retry_after_secs)))
    ///     .build()
    ///     .unwrap();
    /// let start = rt.now();
    /// let _ = retry.run(|| async { Err::<(), u64>(30) }).await;
    /// assert_eq!(rt.now() - start, Duration::from_secs(30)); // not the 100 ms backoff
    /// # });
    /// ```
    pub fn delay_from(
        mut self,
        delay: impl Fn(&E) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.delay_from = Some(Box::new(delay));
        self
    }

    /// Called before each retry with the number of the attempt that failed (1 for the first),
    /// its error and the delay before the next one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let seen = log.clone();
    /// let retry = Retry::builder(&rt)
    ///     .backoff(Backoff::constant(Duration::from_millis(10)))
    ///     .on_retry(move |attempt, err, delay| {
    ///         seen.lock().unwrap().push(format!("{attempt}: {err} ({delay:?})"))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let _ = retry.run(|| async { Err::<(), _>("busy") }).await;
    /// // Not called after the last attempt: there is no retry to announce.
    /// assert_eq!(*log.lock().unwrap(), ["1: busy (10ms)", "2: busy (10ms)"]);
    /// # });
    /// ```
    pub fn on_retry(
        mut self,
        hook: impl Fn(u32, &ResilienceError<E>, Duration) + Send + Sync + 'static,
    ) -> Self {
        self.on_retry = Some(Box::new(hook));
        self
    }

    /// Whether an attempt that timed out is retried. Default `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Retry, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::<()>::builder(&rt).retry_on_timeout(false).build().unwrap();
    /// let per_attempt = TimeoutPolicy::builder(&rt, Duration::from_secs(1)).build().unwrap();
    /// let out: Result<(), _> = retry
    ///     .run_flat(|| per_attempt.run(|| std::future::pending()))
    ///     .await;
    /// let err = out.unwrap_err();
    /// assert!(err.is_timeout());
    /// assert_eq!(err.attempts(), None); // returned after the first attempt, not retried
    /// # });
    /// ```
    pub fn retry_on_timeout(mut self, retry: bool) -> Self {
        self.retry_on_timeout = retry;
        self
    }

    /// Whether refusals by a rate limiter, bulkhead or open circuit are retried (waiting at least
    /// their `retry_after`). Default `false`: they are returned at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{RateLimiter, Retry};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1)).build().unwrap();
    /// let retry = Retry::builder(&rt).retry_on_rejection(true).build().unwrap();
    /// let start = rt.now();
    /// for _ in 0..2 {
    ///     let call = || limiter.try_run(|| async { Ok::<_, ()>(()) });
    ///     assert_eq!(retry.run_flat(call).await, Ok(()));
    /// }
    /// assert_eq!(rt.now() - start, Duration::from_secs(1)); // waited the limiter's retry_after
    /// # });
    /// ```
    pub fn retry_on_rejection(mut self, retry: bool) -> Self {
        self.retry_on_rejection = retry;
        self
    }

    /// The longest delay taken from an outcome that the policy waits before the next attempt:
    /// a [`Verdict::RetryAfter`] from a classifier (60 s unless set) and, once this is set, a
    /// [`delay_from`](Self::delay_from) delay (otherwise bounded by
    /// [`max_duration`](Self::max_duration) only, as before this option existed). A longer
    /// delay ends the call as if the retries had run out, rather than coming back before the
    /// server asked; [`Duration::MAX`] turns the cap off.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) fails with [`ConfigError::Zero`] for a zero cap.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{ConfigError, Retry, Verdict};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let retry = Retry::<()>::builder(&rt).max_retry_after(Duration::from_secs(5)).build().unwrap();
    /// let mut calls = 0;
    /// let out = retry
    ///     .run_classified(
    ///         || { calls += 1; async { Ok::<u16, ()>(503) } },
    ///         // The server asks for 10 minutes: more than the cap.
    ///         |_: Result<&u16, &()>| Verdict::RetryAfter(Duration::from_secs(600)),
    ///     )
    ///     .await;
    /// assert_eq!((out, calls), (Ok(503), 1)); // the last response, at once
    /// assert_eq!(retry.stats().exhausted, 1);
    /// let err = Retry::<()>::builder(&rt).max_retry_after(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "retry max_retry_after" });
    /// # });
    /// ```
    ///
    /// [`Verdict::RetryAfter`]: crate::resilience::Verdict::RetryAfter
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = Some(limit);
        self
    }

    /// Draws retries from `budget` (shared with its clones): when it is empty, failures are not
    /// retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{Backoff, Retry, RetryBudget};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let budget = RetryBudget::try_new(1, 0.1).unwrap(); // one retry in reserve
    /// let retry = Retry::builder(&rt).max_attempts(5).budget(budget.clone()).build().unwrap();
    /// let err = retry.run(|| async { Err::<(), _>("down") }).await.unwrap_err();
    /// assert_eq!(err.attempts(), Some(2)); // one retry, then the budget was empty
    /// assert_eq!(retry.stats().budget_exhausted, 1);
    /// assert_eq!(budget.available(), 0);
    /// # });
    /// ```
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Seeds the jitter's random source, so the sequence of delays is reproducible. By default
    /// every policy gets a different seed.
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
    /// let backoff = Backoff::exponential(Duration::from_secs(1), 2.0).full_jitter();
    /// let retry = Retry::builder(&rt).backoff(backoff).seed(7).build().unwrap();
    /// let start = rt.now();
    /// let _ = retry.run(|| async { Err::<(), _>(()) }).await;
    /// let expected: Duration = backoff.delays(7).take(2).sum();
    /// assert_eq!(rt.now() - start, expected); // the same jitter on every run
    /// # });
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for zero `max_attempts` or a zero `max_duration`, and the backoff's
    /// errors (see [`Backoff::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{Backoff, ConfigError, Retry};
    /// # let rt = uno_core::rt::VirtualRuntime::new().handle();
    ///
    /// let backoff = Backoff::constant(Duration::from_millis(50));
    /// let ok = Retry::<()>::builder(&rt).max_attempts(4).backoff(backoff).build();
    /// assert!(ok.is_ok());
    /// let inverted = Backoff::exponential(Duration::from_secs(5), 2.0)
    ///     .max_delay(Duration::from_secs(1));
    /// let err = Retry::<()>::builder(&rt).backoff(inverted).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::InvertedDelays { .. })); // the backoff is validated too
    /// ```
    pub fn build(self) -> Result<Retry<E>, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::Zero {
                what: "retry max_attempts",
            });
        }
        if self.max_duration.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::Zero {
                what: "retry max_duration",
            });
        }
        if self.max_retry_after.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::Zero {
                what: "retry max_retry_after",
            });
        }
        self.backoff.validate()?;
        let name = match self.name {
            Some(name) => Name::new(name),
            None => Name::kind("retry"),
        };
        let metrics = Metrics::new(&name);
        Ok(Retry {
            inner: Arc::new(Inner {
                rt: self.rt,
                name,
                metrics,
                max_attempts: self.max_attempts,
                max_duration: self.max_duration,
                backoff: self.backoff,
                retry_if: self.retry_if,
                delay_from: self.delay_from,
                on_retry: self.on_retry,
                retry_on_timeout: self.retry_on_timeout,
                retry_on_rejection: self.retry_on_rejection,
                max_retry_after: self.max_retry_after,
                budget: self.budget,
                rng: self.seed.map_or_else(Jitter::from_entropy, Jitter::new),
                stats: Counters::default(),
            }),
        })
    }
}

impl<E> fmt::Debug for RetryBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("max_duration", &self.max_duration)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}
