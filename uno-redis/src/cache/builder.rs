//! [`TwoLevelCacheBuilder`]: a two-level cache's configuration, checked once by
//! [`build`](TwoLevelCacheBuilder::build).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_listener::Event;
use uno_core::cache::AsyncCache;

use super::TwoLevelCache;
use super::health::Health;
use super::l2::L2;
use super::load::{Config, Shared};
use super::notices::FillNotices;
use super::stats::Counters;
use super::subscriber;
use super::two_level::Handle;
use crate::codec::Codec;
use crate::{ConfigError, FailurePolicy, Redis};

/// The longest duration any setting accepts (a year): anything longer is a mistake, and
/// `Duration::MAX` would overflow Redis' expiry arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The builder's type parameters: a function type, so the builder is `Send + Sync` whatever they
/// are, and `K` may be unsized.
type Types<K, V, E> = fn(&K) -> (V, E);

/// Configures a [`TwoLevelCache`]; made by [`TwoLevelCache::builder`].
///
/// | setting | default | what it is |
/// |---|---|---|
/// | [`max_capacity`](Self::max_capacity) | 10 000 | L1 entries per instance |
/// | [`ttl`](Self::ttl) | 10 min | how long a value lives in Redis |
/// | [`l1_ttl`](Self::l1_ttl) | the `ttl` | how long an instance serves a value from memory |
/// | [`refresh_after`](Self::refresh_after) | none | refresh-ahead: one instance refreshes a value this old |
/// | [`lease_ttl`](Self::lease_ttl) | 10 s | how soon a dead filler's lease is taken over |
/// | [`poll_interval`](Self::poll_interval) | 200 ms | how often a waiter looks again without a notice |
/// | [`wait_timeout`](Self::wait_timeout) | 3 × `lease_ttl` | the hard bound on waiting for another's fill |
/// | [`failure_policy`](Self::failure_policy) | [`FailClosed`](FailurePolicy::FailClosed) | Redis down: error, or fetch directly |
/// | [`recheck_after`](Self::recheck_after) | 1 s | after Redis failed, how long loads skip it |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_redis::cache::TwoLevelCache;
/// use uno_redis::JsonCodec;
/// use uno_redis::{ConfigError, Redis};
/// # futures_lite::future::block_on(async {
/// # let rt = uno_smol::runtime();
/// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
/// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
///
/// let zero = TwoLevelCache::<str, u64, String, _>::builder(&redis, "doc:zero", JsonCodec)
///     .ttl(Duration::ZERO)
///     .build().await;
/// assert_eq!(zero.unwrap_err(), ConfigError::Zero { what: "cache ttl" });
/// let forever = TwoLevelCache::<str, u64, String, _>::builder(&redis, "doc:zero", JsonCodec)
///     .lease_ttl(Duration::MAX)
///     .build().await;
/// assert!(matches!(forever, Err(ConfigError::TooLong { what: "cache lease_ttl", .. })));
/// let unnamed = TwoLevelCache::<str, u64, String, _>::builder(&redis, "", JsonCodec).build().await;
/// assert_eq!(unnamed.unwrap_err(), ConfigError::EmptyKeyPrefix);
/// # });
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct TwoLevelCacheBuilder<K: ?Sized, V, E, C> {
    redis: Redis,
    name: String,
    codec: C,
    max_capacity: usize,
    ttl: Duration,
    l1_ttl: Option<Duration>,
    refresh_after: Option<Duration>,
    lease_ttl: Duration,
    poll_interval: Duration,
    wait_timeout: Option<Duration>,
    policy: FailurePolicy,
    recheck_after: Duration,
    _types: PhantomData<Types<K, V, E>>,
}

impl<K: ?Sized, V, E, C> TwoLevelCacheBuilder<K, V, E, C> {
    pub(super) fn new(redis: &Redis, name: &str, codec: C) -> Self {
        TwoLevelCacheBuilder {
            redis: redis.clone(),
            name: name.to_owned(),
            codec,
            max_capacity: 10_000,
            ttl: Duration::from_secs(600),
            l1_ttl: None,
            refresh_after: None,
            lease_ttl: Duration::from_secs(10),
            poll_interval: Duration::from_millis(200),
            wait_timeout: None,
            policy: FailurePolicy::default(),
            recheck_after: Duration::from_secs(1),
            _types: PhantomData,
        }
    }

    /// The most entries this instance's L1 holds (default 10 000; > 0). Redis holds as many as
    /// its own `maxmemory` policy allows.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// assert!(builder().max_capacity(100_000).build().await.is_ok());
    /// let zero = builder().max_capacity(0).build().await;
    /// assert_eq!(zero.unwrap_err(), ConfigError::Zero { what: "cache max_capacity" });
    /// # });
    /// ```
    pub fn max_capacity(mut self, entries: usize) -> Self {
        self.max_capacity = entries;
        self
    }

    /// How long a filled value lives in Redis (default 10 minutes; `PX` of its key).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// assert!(builder().ttl(Duration::from_secs(3600)).build().await.is_ok());
    /// let forever = builder().ttl(Duration::MAX).build().await;
    /// assert!(matches!(forever, Err(ConfigError::TooLong { what: "cache ttl", .. })));
    /// # });
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an instance serves a value from its L1 (default: the [`ttl`](Self::ttl); not
    /// longer). A value read from Redis near its expiry starts a full L1 ttl, so without an
    /// invalidation a value may be served up to `ttl + l1_ttl` after it was fetched: keep
    /// `l1_ttl` short when staleness matters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// let short = builder().ttl(Duration::from_secs(600)).l1_ttl(Duration::from_secs(5));
    /// assert!(short.build().await.is_ok());
    /// let longer = builder().ttl(Duration::from_secs(5)).l1_ttl(Duration::from_secs(600));
    /// assert!(matches!(longer.build().await, Err(ConfigError::Inconsistent { .. })));
    /// # });
    /// ```
    pub fn l1_ttl(mut self, l1_ttl: Duration) -> Self {
        self.l1_ttl = Some(l1_ttl);
        self
    }

    /// Refresh-ahead (shorter than the L1 ttl): a read of an L1 value this old returns it at once
    /// and refreshes it in the background; the refresh takes the value from Redis if another
    /// instance refreshed it less than `refresh_after` ago, else takes the key's lease and
    /// fetches, so one instance fetches per window, not each.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// let ahead = builder().l1_ttl(Duration::from_secs(60)).refresh_after(Duration::from_secs(45));
    /// assert!(ahead.build().await.is_ok());
    /// let late = builder().l1_ttl(Duration::from_secs(60)).refresh_after(Duration::from_secs(60));
    /// assert!(matches!(late.build().await, Err(ConfigError::Inconsistent { .. })));
    /// # });
    /// ```
    pub fn refresh_after(mut self, refresh_after: Duration) -> Self {
        self.refresh_after = Some(refresh_after);
        self
    }

    /// How long a key's lease lives without renewal (default 10 s). The filler renews it every
    /// third of that while its fetch runs, so a slow fetch keeps it; a filler that dies stops
    /// renewing, and a waiter takes over within this long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// assert!(builder().lease_ttl(Duration::from_secs(2)).build().await.is_ok());
    /// let zero = builder().lease_ttl(Duration::ZERO).build().await;
    /// assert_eq!(zero.unwrap_err(), ConfigError::Zero { what: "cache lease_ttl" });
    /// # });
    /// ```
    pub fn lease_ttl(mut self, lease_ttl: Duration) -> Self {
        self.lease_ttl = lease_ttl;
        self
    }

    /// How often a waiter looks at Redis again when no notice came (default 200 ms): the bound on
    /// a missed notice and on noticing a lease expiry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// assert!(builder().poll_interval(Duration::from_millis(50)).build().await.is_ok());
    /// let slow = builder().wait_timeout(Duration::from_secs(1)).poll_interval(Duration::from_secs(2));
    /// assert!(matches!(slow.build().await, Err(ConfigError::Inconsistent { .. })));
    /// # });
    /// ```
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// The hard bound on a load's waiting for another instance's fill (default 3 × the lease
    /// ttl): then it answers [`TwoLevelError::WaitTimedOut`](super::TwoLevelError::WaitTimedOut).
    /// The fetch this instance runs itself is not bounded by it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// assert!(builder().wait_timeout(Duration::from_secs(3)).build().await.is_ok());
    /// let zero = builder().wait_timeout(Duration::ZERO).build().await;
    /// assert_eq!(zero.unwrap_err(), ConfigError::Zero { what: "cache wait_timeout" });
    /// # });
    /// ```
    pub fn wait_timeout(mut self, wait_timeout: Duration) -> Self {
        self.wait_timeout = Some(wait_timeout);
        self
    }

    /// What a load does when Redis cannot be asked (default
    /// [`FailClosed`](FailurePolicy::FailClosed): an error). With
    /// [`FailOpen`](FailurePolicy::FailOpen) it fetches directly (L1 still single-flights it in
    /// this process) and counts a [`fallback`](super::TwoLevelStats::fallbacks). L1 hits are
    /// served either way: they never ask Redis.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// let open = builder().failure_policy(FailurePolicy::FailOpen).build().await.unwrap();
    /// assert_eq!(open.failure_policy(), FailurePolicy::FailOpen);
    /// # });
    /// ```
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// After a Redis call timed out or found no connection, how long loads skip Redis (answering
    /// by the failure policy at once, instead of each waiting for a call timeout) before trying
    /// it again (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::{ConfigError, FailurePolicy, JsonCodec, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let builder = || TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:settings", JsonCodec);
    /// assert!(builder().recheck_after(Duration::from_millis(250)).build().await.is_ok());
    /// let zero = builder().recheck_after(Duration::ZERO).build().await;
    /// assert_eq!(zero.unwrap_err(), ConfigError::Zero { what: "cache recheck_after" });
    /// # });
    /// ```
    pub fn recheck_after(mut self, recheck_after: Duration) -> Self {
        self.recheck_after = recheck_after;
        self
    }
}

fn check(what: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(ConfigError::Zero { what })
    } else if d > MAX_DURATION {
        Err(ConfigError::TooLong {
            what,
            max: MAX_DURATION,
        })
    } else {
        Ok(d)
    }
}

impl<K, V, E, C> TwoLevelCacheBuilder<K, V, E, C>
where
    K: ?Sized,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    C: Codec<V>,
{
    /// Checks the configuration, subscribes to the cache's channel (within the client's call
    /// timeout) and builds the cache, with its subscriber task on the client's runtime. If Redis
    /// cannot be asked, the cache is built anyway: the task keeps subscribing in the background
    /// (until then invalidations from other instances are not heard; the subscription, once
    /// made, clears L1).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves nothing behind (no task, no subscription).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`]: [`EmptyKeyPrefix`](ConfigError::EmptyKeyPrefix) for an empty name,
    /// [`Zero`](ConfigError::Zero) for a zero capacity or duration,
    /// [`TooLong`](ConfigError::TooLong) for a duration over [`MAX_DURATION`],
    /// [`Inconsistent`](ConfigError::Inconsistent) for an `l1_ttl` longer than the `ttl`, a
    /// `refresh_after` not shorter than the L1 ttl, or a `poll_interval` longer than the
    /// `wait_timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::JsonCodec;
    /// use uno_redis::{ConfigError, Redis};
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    ///
    /// let cache = TwoLevelCache::<u64, String, String, _>::builder(&redis, "doc:build", JsonCodec)
    ///     .ttl(Duration::from_secs(60))
    ///     .l1_ttl(Duration::from_secs(5))
    ///     .build().await
    ///     .unwrap();
    /// assert_eq!(cache.name(), "doc:build");
    /// let inverted = TwoLevelCache::<u64, String, String, _>::builder(&redis, "doc:build", JsonCodec)
    ///     .ttl(Duration::from_secs(5))
    ///     .l1_ttl(Duration::from_secs(60))
    ///     .build().await;
    /// assert!(matches!(inverted, Err(ConfigError::Inconsistent { .. })));
    /// # });
    /// ```
    pub async fn build(self) -> Result<TwoLevelCache<K, V, E, C>, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyKeyPrefix);
        }
        if self.max_capacity == 0 {
            return Err(ConfigError::Zero {
                what: "cache max_capacity",
            });
        }
        let ttl = check("cache ttl", self.ttl)?;
        let l1_ttl = check("cache l1_ttl", self.l1_ttl.unwrap_or(ttl))?;
        let lease_ttl = check("cache lease_ttl", self.lease_ttl)?;
        let poll_interval = check("cache poll_interval", self.poll_interval)?;
        let wait_timeout = check(
            "cache wait_timeout",
            self.wait_timeout.unwrap_or(lease_ttl * 3),
        )?;
        let recheck_after = check("cache recheck_after", self.recheck_after)?;
        let refresh_after = self
            .refresh_after
            .map(|d| check("cache refresh_after", d))
            .transpose()?;
        if l1_ttl > ttl {
            return Err(ConfigError::Inconsistent {
                what: "the cache's l1_ttl is longer than its ttl",
            });
        }
        if refresh_after.is_some_and(|r| r >= l1_ttl) {
            return Err(ConfigError::Inconsistent {
                what: "the cache's refresh_after is not shorter than its l1_ttl",
            });
        }
        if poll_interval > wait_timeout {
            return Err(ConfigError::Inconsistent {
                what: "the cache's poll_interval is longer than its wait_timeout",
            });
        }

        let rt = self.redis.runtime().clone();
        let mut l1 = AsyncCache::builder(&rt)
            .name(self.name.as_str())
            .max_capacity(self.max_capacity)
            .ttl(l1_ttl);
        if let Some(refresh_after) = refresh_after {
            l1 = l1.refresh_after(refresh_after);
        }
        // Every setting L1 checks was checked above.
        let l1 = l1.build().map_err(|_| ConfigError::Inconsistent {
            what: "the cache's L1 settings were refused",
        })?;
        let shared = Arc::new(Shared {
            name: Arc::from(self.name.as_str()),
            l2: L2::new(self.redis, &self.name, ttl),
            rt: rt.clone(),
            codec: self.codec,
            config: Config {
                refresh_after,
                // Floors keep a tiny setting from turning renewals or polls into a busy loop.
                lease_ttl: lease_ttl.max(Duration::from_millis(30)),
                poll_interval: poll_interval.max(Duration::from_millis(1)),
                wait_timeout,
                policy: self.policy,
            },
            counters: Counters::default(),
            notices: FillNotices::default(),
            health: Health::new(recheck_after),
            subscribed: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            closed: Event::new(),
        });
        // Subscribed before the first value is loaded, so no invalidation can be missed in
        // between; if Redis cannot be asked now, the task keeps trying (and clears L1 when it
        // gets through).
        let first = shared
            .l2
            .redis()
            .subscribe(&[shared.l2.channel()])
            .await
            .ok();
        shared.subscribed.store(first.is_some(), Ordering::Release);
        rt.spawn(subscriber::run(l1.clone(), shared.clone(), first))
            .detach();
        Ok(TwoLevelCache {
            l1,
            handle: Arc::new(Handle(shared)),
            _key: PhantomData,
        })
    }
}

impl<K: ?Sized, V, E, C> fmt::Debug for TwoLevelCacheBuilder<K, V, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoLevelCacheBuilder")
            .field("name", &self.name)
            .field("max_capacity", &self.max_capacity)
            .field("ttl", &self.ttl)
            .field("l1_ttl", &self.l1_ttl)
            .field("refresh_after", &self.refresh_after)
            .field("lease_ttl", &self.lease_ttl)
            .field("poll_interval", &self.poll_interval)
            .field("wait_timeout", &self.wait_timeout)
            .field("failure_policy", &self.policy)
            .field("recheck_after", &self.recheck_after)
            .finish_non_exhaustive()
    }
}
