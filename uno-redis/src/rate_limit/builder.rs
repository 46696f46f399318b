//! [`RedisRateLimiterBuilder`]: the limiter's configuration, checked once.

use std::sync::Arc;
use std::time::Duration;

use uno_core::resilience::{KeyedRateLimiter, RateLimiter};

use super::gcra::Gcra;
use super::limiter::{Inner, RedisRateLimiter};
use crate::client::MAX_TIMEOUT;
use crate::{ConfigError, FailurePolicy, Redis};

/// Builds a [`RedisRateLimiter`]; from [`RedisRateLimiter::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct RedisRateLimiterBuilder {
    redis: Redis,
    prefix: String,
    operations: u32,
    period: Duration,
    burst: Option<u32>,
    name: Option<Arc<str>>,
    policy: FailurePolicy,
    share: f64,
    recheck_after: Duration,
    fallback_max_keys: usize,
}

impl RedisRateLimiterBuilder {
    pub(super) fn new(redis: &Redis, prefix: &str, operations: u32, period: Duration) -> Self {
        RedisRateLimiterBuilder {
            redis: redis.clone(),
            prefix: prefix.to_owned(),
            operations,
            period,
            burst: None,
            name: None,
            policy: FailurePolicy::FailClosed,
            share: 1.0,
            recheck_after: Duration::from_secs(1),
            fallback_max_keys: 10_000,
        }
    }

    /// Names the limiter, for its errors, metrics and events. Default: the key prefix.
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
    /// let second = Duration::from_secs(1);
    /// let limiter = RedisRateLimiter::builder(&redis, "doc:name", 10, second).name("partner-api");
    /// assert_eq!(limiter.build().unwrap().name(), "partner-api");
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Admissions that may go at once after an idle spell (at least 1). Default: `operations`.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::{ConfigError, RedisRateLimiter};
    ///
    /// let second = Duration::from_secs(1);
    /// let err = RedisRateLimiter::builder(&redis, "doc:burst", 10, second).burst(0).build();
    /// assert_eq!(err.unwrap_err(), ConfigError::Zero { what: "rate limiter burst" });
    /// # });
    /// ```
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// What the limiter does when Redis cannot be asked. Default: [`FailurePolicy::FailClosed`].
    /// With [`FailurePolicy::FailOpen`], it admits through an in-process limiter per key at
    /// [`fallback_share`](Self::fallback_share) of the rate, and asks Redis again after
    /// [`recheck_after`](Self::recheck_after).
    ///
    /// # Examples
    ///
    /// See [`fallback_share`](Self::fallback_share).
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The share of the rate and burst that one process admits on its own while Redis is
    /// down (fail-open), in `(0, 1]`: with 4 instances, `0.25` keeps the total near the limit.
    /// Rounded down, at least one operation. Default: `1.0`.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::{ConfigError, FailurePolicy, RedisRateLimiter};
    ///
    /// let limit = || RedisRateLimiter::builder(&redis, "doc:share", 100, Duration::from_secs(1));
    /// let open = limit().failure_policy(FailurePolicy::FailOpen).fallback_share(0.25).build();
    /// assert!(open.is_ok());
    /// let err = limit().fallback_share(1.5).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidRatio { .. }));
    /// # });
    /// ```
    pub fn fallback_share(mut self, share: f64) -> Self {
        self.share = share;
        self
    }

    /// How long a fail-open limiter decides alone after Redis failed, before asking it again
    /// (so a down server costs one timeout per spell, not one per call). Default: 1 s.
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
    /// let limit = RedisRateLimiter::builder(&redis, "doc:recheck", 100, Duration::from_secs(1));
    /// assert!(limit.recheck_after(Duration::from_millis(200)).build().is_ok());
    /// # });
    /// ```
    pub fn recheck_after(mut self, after: Duration) -> Self {
        self.recheck_after = after;
        self
    }

    /// The most keys the fail-open fallback tracks at once (idle keys are forgotten first; at
    /// the bound a new key is refused, as uno's [`KeyedRateLimiter`] does). Default: 10 000.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::{ConfigError, RedisRateLimiter};
    ///
    /// let limit = || RedisRateLimiter::builder(&redis, "doc:keys", 100, Duration::from_secs(1));
    /// assert!(limit().fallback_max_keys(100).build().is_ok());
    /// assert!(matches!(limit().fallback_max_keys(0).build(), Err(ConfigError::Zero { .. })));
    /// # });
    /// ```
    pub fn fallback_max_keys(mut self, n: usize) -> Self {
        self.fallback_max_keys = n;
        self
    }

    /// Builds the limiter (no call to Redis: the script is loaded on first use).
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyKeyPrefix`]; [`ConfigError::Zero`] for zero operations, period, burst
    /// or recheck interval; [`ConfigError::RateTooHigh`] for more than one operation per
    /// microsecond; [`ConfigError::TooLong`] for a horizon (period / operations × burst) beyond
    /// about 35 years (`Duration::MAX`, `u32::MAX` bursts) or a recheck interval over an hour;
    /// [`ConfigError::InvalidRatio`] for a fallback share outside `(0, 1]`.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::{ConfigError, RedisRateLimiter};
    ///
    /// let second = Duration::from_secs(1);
    /// let build = |prefix, ops, period| RedisRateLimiter::builder(&redis, prefix, ops, period).build();
    /// assert_eq!(build("", 1, second).unwrap_err(), ConfigError::EmptyKeyPrefix);
    /// assert!(matches!(build("doc", 0, second), Err(ConfigError::Zero { .. })));
    /// assert!(matches!(build("doc", u32::MAX, second), Err(ConfigError::RateTooHigh { .. })));
    /// assert!(matches!(build("doc", 1, Duration::MAX), Err(ConfigError::TooLong { .. })));
    /// # });
    /// ```
    pub fn build(self) -> Result<RedisRateLimiter, ConfigError> {
        if self.prefix.is_empty() {
            return Err(ConfigError::EmptyKeyPrefix);
        }
        let burst = self.burst.unwrap_or(self.operations);
        // uno's own limiter checks the zero settings (the Redis limit has the same semantics).
        RateLimiter::builder(self.redis.runtime(), self.operations, self.period)
            .burst(burst)
            .build()
            .map_err(from_core)?;
        if !(self.share > 0.0 && self.share <= 1.0) {
            return Err(ConfigError::InvalidRatio {
                what: "rate limiter fallback share",
                value: self.share,
            });
        }
        if self.recheck_after.is_zero() {
            return Err(ConfigError::Zero {
                what: "rate limiter recheck interval",
            });
        }
        if self.recheck_after > MAX_TIMEOUT {
            return Err(ConfigError::TooLong {
                what: "rate limiter recheck interval",
                max: MAX_TIMEOUT,
            });
        }
        let gcra = Gcra::new(self.operations, self.period, burst)?;
        // The share rounds down, to at least one: never more than the share of the rate.
        let scaled = |n: u32| ((f64::from(n) * self.share).floor() as u32).max(1);
        let (local_operations, local_burst) = (scaled(self.operations), scaled(burst));
        let name = self.name.unwrap_or_else(|| Arc::from(self.prefix.as_str()));
        let local = KeyedRateLimiter::builder(self.redis.runtime(), local_operations, self.period)
            .burst(local_burst)
            .max_keys(self.fallback_max_keys)
            .name(name.clone())
            .build()
            .map_err(from_core)?;
        Ok(RedisRateLimiter {
            inner: Arc::new(Inner::new(
                self.redis,
                name,
                self.prefix,
                (self.operations, self.period, burst),
                gcra,
                self.policy,
                local,
                self.recheck_after,
            )),
        })
    }
}

/// uno-core's configuration errors, in this crate's type.
fn from_core(err: uno_core::resilience::ConfigError) -> ConfigError {
    use uno_core::resilience::ConfigError as Core;
    match err {
        Core::Zero { what } => ConfigError::Zero { what },
        // The fallback's bound is this builder's setting, under uno-core's name.
        Core::RateTooHigh { operations, period } => ConfigError::RateTooHigh { operations, period },
        _ => ConfigError::Inconsistent {
            what: "the rate limiter's configuration",
        },
    }
}
