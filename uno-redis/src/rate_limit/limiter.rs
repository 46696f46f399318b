//! [`RedisRateLimiter`]: the public handle, its admissions, its fallback and its counters.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use uno_core::resilience::{KeyedRateLimiter, LimitError, LimitUnavailable, RateLimit, RetryAfter};

use super::RedisRateLimiterBuilder;
use super::gcra::{GCRA, Gcra};
use super::key::{RateKey, redis_key};
use super::queue::Queues;
use crate::observe::event;
use crate::{FailurePolicy, Redis, RedisError};

/// uno's GCRA rate limiter, shared by every process that uses the same Redis key prefix.
///
/// Each check is one atomic script on the server (`EVALSHA`, loaded once and again after a
/// `NOSCRIPT`), on the server's clock, so processes agree whatever their own clocks say. Limits
/// are keyed ([`RateKey`]: per tenant, per user; the unit key `()` for one global limit), and a
/// key expires once its limit is full again, so idle keys cost nothing.
///
/// The semantics are those of uno's in-process [`RateLimiter`](uno_core::resilience::RateLimiter): `operations` per `period` with a
/// burst, [`try_acquire`](Self::try_acquire) answering at once with the time to wait, and
/// [`acquire`](Self::acquire) waiting on uno's timer (this process's waiters of one key in
/// arrival order). It implements [`RateLimit`], so the `Pipeline` and the tower layer take it.
///
/// When Redis cannot be asked, its [`FailurePolicy`] decides: fail-closed answers
/// [`LimitError::Unavailable`]; fail-open admits through an in-process limiter per key at the
/// configured share of the rate (a [`KeyedRateLimiter`], which forgets idle keys and holds at
/// most [`fallback_max_keys`](RedisRateLimiterBuilder::fallback_max_keys) at once).
/// [`stats`](Self::stats) counts both.
///
/// # Examples
///
/// ```
/// # uno_smol::block_on(async {
/// use std::time::Duration;
/// use uno_redis::{Redis, RedisRateLimiter};
///
/// let rt = uno_smol::runtime();
/// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
/// let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
///
/// let prefix = format!("uno-doc:limiter:{}", std::process::id());
/// let per_tenant = RedisRateLimiter::builder(&redis, &prefix, 2, Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert!(per_tenant.try_acquire("acme").await.is_ok());
/// assert!(per_tenant.try_acquire("acme").await.is_ok());
/// let refused = per_tenant.try_acquire("acme").await.unwrap_err();
/// assert!(refused.retry_after().unwrap() > Duration::from_secs(29));
/// assert!(per_tenant.try_acquire("globex").await.is_ok()); // another key, another limit
/// # per_tenant.reset("acme").await.unwrap();
/// # per_tenant.reset("globex").await.unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    redis: Redis,
    name: Arc<str>,
    prefix: String,
    operations: u32,
    period: Duration,
    burst: u32,
    gcra: Gcra,
    policy: FailurePolicy,
    recheck_after: Duration,
    queues: Queues,
    /// While set and in the future, a fail-open limiter decides alone; once past, the next call
    /// asks Redis again (and a success is a recovery).
    fallback_until: Mutex<Option<Instant>>,
    local: KeyedRateLimiter<String>,
    admitted: AtomicU64,
    rejected: AtomicU64,
    unavailable: AtomicU64,
    fallbacks: AtomicU64,
    recoveries: AtomicU64,
}

/// A snapshot of a [`RedisRateLimiter`]'s counters (this process's, shared by its clones).
///
/// # Examples
///
/// See [`RedisRateLimiter::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisRateLimiterStats {
    /// Calls admitted (by Redis or, failing open, by the fallback).
    pub admitted: u64,
    /// `try_acquire` calls refused with a time to wait (an `acquire` that waits is not a refusal:
    /// it counts once, when admitted).
    pub rejected: u64,
    /// Calls answered [`LimitError::Unavailable`] (fail-closed).
    pub unavailable: u64,
    /// Calls decided by the in-process fallback (fail-open).
    pub fallbacks: u64,
    /// Times Redis answered again after the limiter had fallen back.
    pub recoveries: u64,
}

/// The future of [`RedisRateLimiter::acquire`] and [`RedisRateLimiter::try_acquire`]: owned (no
/// borrow of the limiter), so a service can hold it across polls.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct RedisAcquire {
    future: Pin<Box<dyn Future<Output = Result<(), LimitError>> + Send>>,
}

impl Future for RedisAcquire {
    type Output = Result<(), LimitError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for RedisAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAcquire").finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A builder for `operations` per `period`, kept in Redis under `prefix` (`<prefix>:<key>`
    /// per key). Every process that builds a limiter with the same prefix and numbers shares the
    /// limit. Defaults: burst = `operations`, fail-closed, name = the prefix.
    ///
    /// # Examples
    ///
    /// See [`RedisRateLimiter`]; the checks are listed under
    /// [`build`](RedisRateLimiterBuilder::build).
    pub fn builder(
        redis: &Redis,
        prefix: &str,
        operations: u32,
        period: Duration,
    ) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder::new(redis, prefix, operations, period)
    }

    /// The limiter's name (in errors, metrics and events).
    ///
    /// # Examples
    ///
    /// See [`RedisRateLimiterBuilder::name`].
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configured burst.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::RedisRateLimiter;
    ///
    /// let limit = RedisRateLimiter::builder(&redis, "doc:b", 50, Duration::from_secs(1));
    /// assert_eq!(limit.burst(5).build().unwrap().burst(), 5);
    /// # });
    /// ```
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// The time between two admissions at the sustained rate (rounded up to a microsecond, the
    /// resolution of Redis' clock, so the rate is never exceeded).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::RedisRateLimiter;
    ///
    /// let limiter = RedisRateLimiter::builder(&redis, "doc:i", 3, Duration::from_secs(1));
    /// assert_eq!(limiter.build().unwrap().interval(), Duration::from_micros(333_334));
    /// # });
    /// ```
    pub fn interval(&self) -> Duration {
        self.inner.gcra.interval()
    }

    /// Answers at once whether `key` is admitted now (one round trip).
    ///
    /// # Errors
    ///
    /// [`LimitError::RateLimited`] with the time until the next admission would conform (if
    /// nobody else takes it first); [`LimitError::Unavailable`] when Redis could not be asked and
    /// the limiter fails closed (the [`RedisError`] is its source).
    ///
    /// # Cancel safety
    ///
    /// Dropped before the reply, the check may still have admitted on the server (the
    /// admission is then lost, never doubled).
    ///
    /// # Examples
    ///
    /// See [`RedisRateLimiter`].
    pub fn try_acquire(&self, key: impl RateKey) -> RedisAcquire {
        let inner = self.inner.clone();
        let key = redis_key(&inner.prefix, &key);
        RedisAcquire {
            future: Box::pin(async move { inner.decide(&key).await }),
        }
    }

    /// Waits until `key` is admitted: refused, it sleeps on uno's timer until the admission
    /// would conform and asks again. Waiters of this process for one key queue in arrival
    /// order and only the front one asks Redis; processes compete through the script.
    ///
    /// # Errors
    ///
    /// [`LimitError::Unavailable`] when Redis could not be asked and the limiter fails closed
    /// (a fail-open limiter waits on its fallback instead). Never `RateLimited`.
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting, it consumes nothing (the script writes only when it admits) and
    /// leaves the queue; dropped while a check is in flight, as
    /// [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// use uno_redis::{Redis, RedisRateLimiter};
    ///
    /// let rt = uno_smol::runtime();
    /// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let prefix = format!("uno-doc:acquire:{}", std::process::id());
    /// let limiter = RedisRateLimiter::builder(&redis, &prefix, 20, Duration::from_secs(1))
    ///     .burst(1)
    ///     .build()
    ///     .unwrap();
    /// let start = rt.now();
    /// for _ in 0..3 {
    ///     limiter.acquire(()).await.unwrap();
    /// }
    /// assert!(rt.now() - start >= Duration::from_millis(99)); // 50 ms apart after the first
    /// # limiter.reset(()).await.unwrap();
    /// # });
    /// ```
    pub fn acquire(&self, key: impl RateKey) -> RedisAcquire {
        let inner = self.inner.clone();
        let key = redis_key(&inner.prefix, &key);
        RedisAcquire {
            future: Box::pin(async move { inner.wait(&key).await }),
        }
    }

    /// Forgets `key`'s state in Redis (its next calls find a full burst). For tests and
    /// administrative resets.
    ///
    /// # Errors
    ///
    /// The [`RedisError`] if Redis could not be asked.
    ///
    /// # Cancel safety
    ///
    /// Dropped before the reply, the key may or may not be deleted.
    ///
    /// # Examples
    ///
    /// See [`RedisRateLimiter`].
    pub async fn reset(&self, key: impl RateKey) -> Result<(), RedisError> {
        let key = redis_key(&self.inner.prefix, &key);
        self.inner
            .redis
            .query::<i64>(redis::cmd("DEL").arg(&key))
            .await
            .map(drop)
    }

    /// A snapshot of this process's counters (shared by the limiter's clones).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::RedisRateLimiter;
    ///
    /// let prefix = format!("uno-doc:stats:{}", std::process::id());
    /// let limiter = RedisRateLimiter::builder(&redis, &prefix, 1, Duration::from_secs(60));
    /// let limiter = limiter.build().unwrap();
    /// assert!(limiter.try_acquire(()).await.is_ok());
    /// assert!(limiter.try_acquire(()).await.is_err());
    /// let stats = limiter.stats();
    /// assert_eq!((stats.admitted, stats.rejected, stats.fallbacks), (1, 1, 0));
    /// # limiter.reset(()).await.unwrap();
    /// # });
    /// ```
    pub fn stats(&self) -> RedisRateLimiterStats {
        let inner = &*self.inner;
        RedisRateLimiterStats {
            admitted: inner.admitted.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            unavailable: inner.unavailable.load(Ordering::Relaxed),
            fallbacks: inner.fallbacks.load(Ordering::Relaxed),
            recoveries: inner.recoveries.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    #[allow(clippy::too_many_arguments)] // private; the builder names each argument
    pub(super) fn new(
        redis: Redis,
        name: Arc<str>,
        prefix: String,
        (operations, period, burst): (u32, Duration, u32),
        gcra: Gcra,
        policy: FailurePolicy,
        local: KeyedRateLimiter<String>,
        recheck_after: Duration,
    ) -> Self {
        Inner {
            redis,
            name,
            prefix,
            operations,
            period,
            burst,
            gcra,
            policy,
            recheck_after,
            queues: Queues::default(),
            fallback_until: Mutex::new(None),
            local,
            admitted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
        }
    }

    fn fallback_until(&self) -> MutexGuard<'_, Option<Instant>> {
        // Plain data under the lock, and no code that can panic.
        self.fallback_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// One decision for `key`: by Redis, or by the fallback while it is in charge.
    async fn decide(&self, key: &str) -> Result<(), LimitError> {
        let now = self.redis.runtime().now();
        let falling_back = *self.fallback_until();
        if falling_back.is_some_and(|until| now < until) {
            return self.decide_locally(key);
        }
        let reply: Result<(i64, i64), RedisError> = self
            .redis
            .eval(
                &GCRA,
                &[key],
                (self.gcra.interval_us, self.gcra.tolerance_us),
            )
            .await;
        match reply {
            Ok(reply) => {
                if falling_back.is_some() && self.fallback_until().take().is_some() {
                    event!(info, name = %self.name, "rate limiter back on redis");
                    self.recoveries.fetch_add(1, Ordering::Relaxed);
                }
                self.counted(match reply {
                    (1, _) => Ok(()),
                    (_, wait_us) => Err(Duration::from_micros(wait_us.max(1) as u64)),
                })
            }
            Err(err) => self.unavailable(key, err),
        }
    }

    /// Redis could not be asked (or answered an error): the failure policy decides.
    fn unavailable(&self, key: &str, err: RedisError) -> Result<(), LimitError> {
        match self.policy {
            FailurePolicy::FailOpen => {
                let until = self.redis.runtime().now() + self.recheck_after;
                if self.fallback_until().replace(until).is_none() {
                    event!(warn, name = %self.name, error = %err, "rate limiter falling back in-process");
                }
                self.decide_locally(key)
            }
            _ => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
                Err(LimitError::Unavailable(LimitUnavailable::new(
                    self.name.clone(),
                    err,
                )))
            }
        }
    }

    /// The fail-open decision: this key's in-process limit at the configured share.
    fn decide_locally(&self, key: &str) -> Result<(), LimitError> {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.counted(self.local.try_acquire(key).map_err(|e| e.retry_after))
    }

    fn counted(&self, decision: Result<(), Duration>) -> Result<(), LimitError> {
        match decision {
            Ok(()) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(wait) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(LimitError::RateLimited(RetryAfter::new(
                    self.name.clone(),
                    wait,
                )))
            }
        }
    }

    /// Waits for an admission (see [`RedisRateLimiter::acquire`]).
    async fn wait(&self, key: &str) -> Result<(), LimitError> {
        let mut wait = Duration::ZERO;
        if !self.queues.is_queued(key) {
            match self.decide(key).await {
                Err(LimitError::RateLimited(refused)) => {
                    self.rejected.fetch_sub(1, Ordering::Relaxed); // a wait, not a refusal
                    wait = refused.retry_after;
                }
                other => return other,
            }
        }
        let place = self.queues.join(key);
        let _turn = place.turn().await;
        loop {
            if !wait.is_zero() {
                self.redis.runtime().sleep(wait).await;
            }
            match self.decide(key).await {
                Err(LimitError::RateLimited(refused)) => {
                    self.rejected.fetch_sub(1, Ordering::Relaxed);
                    wait = refused.retry_after;
                }
                other => return other,
            }
        }
    }
}

impl<K: RateKey> RateLimit<K> for RedisRateLimiter {
    type Acquire = RedisAcquire;
    type TryAcquire = RedisAcquire;

    fn name(&self) -> &str {
        RedisRateLimiter::name(self)
    }

    fn acquire(&self, key: K) -> RedisAcquire {
        RedisRateLimiter::acquire(self, key)
    }

    fn try_acquire(&self, key: K) -> RedisAcquire {
        RedisRateLimiter::try_acquire(self, key)
    }
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisRateLimiter")
            .field("name", &inner.name)
            .field("prefix", &inner.prefix)
            .field("operations", &inner.operations)
            .field("period", &inner.period)
            .field("burst", &inner.burst)
            .field("policy", &inner.policy)
            .finish_non_exhaustive()
    }
}
