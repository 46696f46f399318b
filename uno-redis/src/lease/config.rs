//! [`LeaseConfig`]: which lease, how long it lasts, how often it is renewed; and acquiring it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::lease::Lease;
use super::scripts::ACQUIRE;
use crate::client::MAX_TIMEOUT;
use crate::{ConfigError, Redis, RedisError};

/// The longest lease accepted (longer ones are a [`ConfigError::TooLong`]).
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// A lease's configuration: its Redis key, its time to live, its renewal and contention
/// intervals and this instance's holder id. Cheap to clone; [`try_acquire`](Self::try_acquire)
/// and [`acquire`](Self::acquire) take the lease.
///
/// # Examples
///
/// ```
/// # uno_smol::block_on(async {
/// use std::time::Duration;
/// use uno_redis::{LeaseConfig, Redis};
///
/// let rt = uno_smol::runtime();
/// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
/// let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
///
/// let key = "uno-doc:lease"; // its fencing counter stays, at `uno-doc:lease:fence`
/// let config = LeaseConfig::builder(&redis, key).ttl(Duration::from_secs(5)).build().unwrap();
/// let lease = config.try_acquire().await.unwrap().expect("nobody holds it");
/// assert!(config.try_acquire().await.unwrap().is_none()); // held: by us
/// let token = lease.token();
/// assert!(lease.release().await.unwrap());
/// let again = config.try_acquire().await.unwrap().unwrap();
/// assert!(again.token() > token); // fencing tokens only grow
/// again.release().await.unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct LeaseConfig {
    pub(super) redis: Redis,
    pub(super) key: Arc<str>,
    pub(super) fence_key: Arc<str>,
    pub(super) holder: Arc<str>,
    pub(super) ttl: Duration,
    pub(super) renew_every: Duration,
    pub(super) retry_every: Duration,
}

/// Builds a [`LeaseConfig`]; from [`LeaseConfig::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct LeaseConfigBuilder {
    redis: Redis,
    key: String,
    holder: Option<String>,
    ttl: Duration,
    renew_every: Option<Duration>,
    retry_every: Option<Duration>,
}

impl LeaseConfig {
    /// A builder for the lease kept at `key` (its fencing counter at `<key>:fence`). Defaults: a
    /// 10 s time to live, renewed every third of it, contended again every quarter of it, and a
    /// random holder id.
    ///
    /// # Examples
    ///
    /// See [`LeaseConfig`] and [`LeaseConfigBuilder::build`].
    pub fn builder(redis: &Redis, key: &str) -> LeaseConfigBuilder {
        LeaseConfigBuilder {
            redis: redis.clone(),
            key: key.to_owned(),
            holder: None,
            ttl: Duration::from_secs(10),
            renew_every: None,
            retry_every: None,
        }
    }

    /// The lease's Redis key.
    ///
    /// # Examples
    ///
    /// See [`LeaseConfigBuilder::holder`].
    pub fn key(&self) -> &str {
        &self.key
    }

    /// This instance's holder id (stored in the lease with the token).
    ///
    /// # Examples
    ///
    /// See [`LeaseConfigBuilder::holder`].
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease's time to live.
    ///
    /// # Examples
    ///
    /// See [`LeaseConfigBuilder::holder`].
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the lease if nobody holds it: `Some(lease)` with a new fencing token, or `None`.
    /// The lease is renewed in the background until it is released, dropped or lost.
    ///
    /// # Errors
    ///
    /// The [`RedisError`] if Redis could not be asked.
    ///
    /// # Cancel safety
    ///
    /// Dropped before the reply, the lease may have been taken on the server without a
    /// [`Lease`] to renew it: it then expires after its time to live.
    ///
    /// # Examples
    ///
    /// See [`LeaseConfig`].
    pub async fn try_acquire(&self) -> Result<Option<Lease>, RedisError> {
        Ok(self.attempt().await?.ok())
    }

    /// `Ok(lease)`, or `Err(time the holder has left)`.
    async fn attempt(&self) -> Result<Result<Lease, Duration>, RedisError> {
        let ttl_ms = self.ttl.as_millis() as u64; // at most a day: fits
        let (won, value): (i64, i64) = self
            .redis
            .eval(
                &ACQUIRE,
                &[&*self.key, &*self.fence_key],
                (&*self.holder, ttl_ms),
            )
            .await?;
        let sent_at = self.redis.runtime().now();
        if won == 1 {
            return Ok(Ok(Lease::start(self.clone(), value as u64, sent_at)));
        }
        Ok(Err(Duration::from_millis(value.max(0) as u64)))
    }

    /// Waits until the lease is taken: asks again when the holder's time to live runs out, and
    /// at least every contention interval.
    ///
    /// # Errors
    ///
    /// The [`RedisError`] if Redis could not be asked (the wait ends there: call again).
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting, nothing is taken; dropped while a request is in flight, as
    /// [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// use std::time::Duration;
    /// use uno_redis::{LeaseConfig, Redis};
    ///
    /// let rt = uno_smol::runtime();
    /// let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let key = "uno-doc:lease-wait";
    /// let short = |holder| {
    ///     let config = LeaseConfig::builder(&redis, key).holder(holder);
    ///     config.ttl(Duration::from_millis(300)).build().unwrap()
    /// };
    /// let first = short("a").acquire().await.unwrap();
    /// drop(rt.spawn(async move { first.release().await })); // released soon
    /// let second = short("b").acquire().await.unwrap(); // waits for it
    /// second.release().await.unwrap();
    /// # });
    /// ```
    pub async fn acquire(&self) -> Result<Lease, RedisError> {
        loop {
            match self.attempt().await? {
                Ok(lease) => return Ok(lease),
                Err(left) => {
                    let wait = left.clamp(Duration::from_millis(1), self.retry_every);
                    self.redis.runtime().sleep(wait).await;
                }
            }
        }
    }
}

impl LeaseConfigBuilder {
    /// This instance's holder id (default: random), stored in the lease with its token.
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::LeaseConfig;
    ///
    /// let config = LeaseConfig::builder(&redis, "jobs:nightly").holder("web-3").build().unwrap();
    /// assert_eq!((config.key(), config.holder()), ("jobs:nightly", "web-3"));
    /// assert_eq!(config.ttl(), Duration::from_secs(10));
    /// # });
    /// ```
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = Some(holder.into());
        self
    }

    /// How long the lease lasts without renewal: after a crash, another instance takes over
    /// within it. Default: 10 s.
    ///
    /// # Examples
    ///
    /// See [`build`](Self::build).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How often the holder renews (less than the time to live). Default: a third of it.
    ///
    /// # Examples
    ///
    /// See [`build`](Self::build).
    pub fn renew_every(mut self, every: Duration) -> Self {
        self.renew_every = Some(every);
        self
    }

    /// How often a waiting [`acquire`](LeaseConfig::acquire) (and a leader job out of office)
    /// asks again at most. Default: a quarter of the time to live.
    ///
    /// # Examples
    ///
    /// See [`build`](Self::build).
    pub fn retry_every(mut self, every: Duration) -> Self {
        self.retry_every = Some(every);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyKeyPrefix`] for an empty key or holder; [`ConfigError::Zero`] for a
    /// zero time to live or interval; [`ConfigError::TooLong`] for a time to live over a day
    /// or a contention interval over an hour; [`ConfigError::Inconsistent`] for a renewal
    /// interval not shorter than the time to live; [`ConfigError::Zero`] also for a time to live
    /// under a millisecond (Redis counts in milliseconds).
    ///
    /// # Examples
    ///
    /// ```
    /// # uno_smol::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = uno_redis::Redis::builder(&rt, &url).build().await else { return };
    /// use std::time::Duration;
    /// use uno_redis::{ConfigError, LeaseConfig};
    ///
    /// let lease = |key| LeaseConfig::builder(&redis, key);
    /// assert_eq!(lease("").build().unwrap_err(), ConfigError::EmptyKeyPrefix);
    /// let err = lease("k").ttl(Duration::MAX).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::TooLong { .. }));
    /// let err = lease("k").ttl(Duration::ZERO).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::Zero { .. }));
    /// let second = Duration::from_secs(1);
    /// let err = lease("k").ttl(second).renew_every(second).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::Inconsistent { .. }));
    /// # });
    /// ```
    pub fn build(self) -> Result<LeaseConfig, ConfigError> {
        if self.key.is_empty() {
            return Err(ConfigError::EmptyKeyPrefix);
        }
        if self.ttl < Duration::from_millis(1) {
            return Err(ConfigError::Zero {
                what: "lease ttl (in milliseconds)",
            });
        }
        if self.ttl > MAX_TTL {
            return Err(ConfigError::TooLong {
                what: "lease ttl",
                max: MAX_TTL,
            });
        }
        let renew_every = self.renew_every.unwrap_or(self.ttl / 3);
        let retry_every = self.retry_every.unwrap_or(self.ttl / 4);
        for (what, every) in [
            ("lease renewal interval", renew_every),
            ("lease contention interval", retry_every),
        ] {
            if every.is_zero() {
                return Err(ConfigError::Zero { what });
            }
            if every > MAX_TIMEOUT.max(self.ttl) {
                return Err(ConfigError::TooLong {
                    what,
                    max: MAX_TIMEOUT.max(self.ttl),
                });
            }
        }
        if renew_every >= self.ttl {
            return Err(ConfigError::Inconsistent {
                what: "the lease renewal interval must be shorter than its ttl",
            });
        }
        let holder = match self.holder {
            Some(holder) if holder.is_empty() => return Err(ConfigError::EmptyKeyPrefix),
            Some(holder) => holder,
            None => format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
        };
        Ok(LeaseConfig {
            fence_key: Arc::from(format!("{}:fence", self.key)),
            key: Arc::from(self.key),
            holder: Arc::from(holder),
            redis: self.redis,
            ttl: self.ttl,
            renew_every,
            retry_every,
        })
    }
}

impl fmt::Debug for LeaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseConfig")
            .field("key", &self.key)
            .field("holder", &self.holder)
            .field("ttl", &self.ttl)
            .field("renew_every", &self.renew_every)
            .finish_non_exhaustive()
    }
}
