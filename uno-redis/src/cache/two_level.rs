//! [`TwoLevelCache`]: the public handle. The protocol is in `load`, the Redis calls in `l2`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use uno_core::cache::AsyncCache;

use super::builder::TwoLevelCacheBuilder;
use super::error::TwoLevelError;
use super::load::{Shared, load};
use super::stats::TwoLevelStats;
use crate::codec::Codec;
use crate::{FailurePolicy, Redis};

/// A two-level cache: uno's [`AsyncCache`] in each instance (L1) in front of Redis shared by
/// every instance (L2), with single-flight across processes, invalidation broadcast and
/// coordinated refresh-ahead. Clones share one cache.
///
/// - **Reads** (`get(key, fetch)`): an L1 hit costs no Redis call. An L1 miss is single-flighted
///   in the process by L1, then looks in Redis; an L2 miss takes the key's **lease** (`SET NX PX`)
///   and runs `fetch` in exactly one instance while the others wait for its fill (woken through
///   pub/sub, or by polling every [`poll_interval`](TwoLevelCacheBuilder::poll_interval)). A
///   filler that dies stops renewing its lease; a waiter takes over within the
///   [`lease_ttl`](TwoLevelCacheBuilder::lease_ttl). Waiting is bounded by the
///   [`wait_timeout`](TwoLevelCacheBuilder::wait_timeout).
/// - **Invalidation** ([`invalidate`](Self::invalidate)) deletes the value (and any lease, so a
///   fill in flight is refused) and publishes on the cache's channel; every instance's
///   subscriber drops the key from its L1, typically within a millisecond or two. While an
///   instance's subscription is down it misses those messages; it clears its L1 when it
///   resubscribes, so an L1 entry outlives an invalidation by at most that gap (bounded by the
///   L1 ttl).
/// - **Refresh-ahead** ([`refresh_after`](TwoLevelCacheBuilder::refresh_after)): one instance
///   refreshes a key per window (under the same lease); the others pick its value up from Redis.
/// - **Redis down or slow**: every call is bounded by the [`Redis`] client's call timeout. A
///   fail-closed cache answers [`TwoLevelError::Redis`] for misses; a fail-open one fetches
///   directly and counts [`fallbacks`](TwoLevelStats::fallbacks). L1 hits are served either
///   way. After a failure, loads skip Redis for
///   [`recheck_after`](TwoLevelCacheBuilder::recheck_after), then use it again.
/// - **Keys** are told apart by their `Display` form (`K: Display`), which is also their Redis
///   key under the cache's name (`<name>:v:<key>`). Every instance that shares a name shares the
///   values: use the same `V`, codec and key format.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_redis::Redis;
/// use uno_redis::cache::TwoLevelCache;
/// use uno_redis::JsonCodec;
///
/// # futures_lite::future::block_on(async {
/// let rt = uno_smol::runtime();
/// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
/// let Ok(redis) = Redis::builder(&rt, &url).build().await else {
///     return println!("Redis is not reachable: skipping");
/// };
/// let name = format!("doc:users:{}", std::process::id());
/// let users = TwoLevelCache::<u64, String, std::io::Error, _>::builder(&redis, &name, JsonCodec)
///     .ttl(Duration::from_secs(60))
///     .build().await
///     .unwrap();
///
/// let ada = users.get(&7, || async { Ok("ada".to_owned()) }).await.unwrap();
/// assert_eq!(ada, "ada");
/// // Another instance (or this one, after its L1 let go) finds it in Redis: no fetch.
/// let again = users.get(&7, || async { unreachable!() }).await.unwrap();
/// assert_eq!(again, "ada");
/// assert_eq!(users.stats().fetches, 1);
/// users.invalidate(&7).await.unwrap(); // every instance's L1 drops it
/// # });
/// ```
pub struct TwoLevelCache<K: ?Sized, V, E, C> {
    pub(super) l1: AsyncCache<String, V, TwoLevelError<E>>,
    pub(super) handle: Arc<Handle<C>>,
    pub(super) _key: PhantomData<fn(&K)>,
}

/// Shared by the handles only (not by the loads or the subscriber task): when the last one is
/// dropped, the subscriber task ends.
pub(super) struct Handle<C>(pub(super) Arc<Shared<C>>);

impl<C> Drop for Handle<C> {
    fn drop(&mut self) {
        self.0.closing.store(true, Ordering::Release);
        self.0.closed.notify(usize::MAX);
    }
}

impl<K: ?Sized, V, E, C> TwoLevelCache<K, V, E, C> {
    /// Starts configuring a cache named `name` on `redis`, storing values through `codec`.
    ///
    /// The name is the cache's identity across instances: its key prefix in Redis and its
    /// channel (`<name>:events`), its L1's name in metrics. See [`TwoLevelCacheBuilder`] for the
    /// settings and their defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::Redis;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::JsonCodec;
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    ///
    /// let prices = TwoLevelCache::<str, f64, String, _>::builder(&redis, "doc:prices", JsonCodec)
    ///     .build().await
    ///     .unwrap();
    /// assert_eq!(prices.name(), "doc:prices");
    /// # });
    /// ```
    pub fn builder(redis: &Redis, name: &str, codec: C) -> TwoLevelCacheBuilder<K, V, E, C> {
        TwoLevelCacheBuilder::new(redis, name, codec)
    }

    fn shared(&self) -> &Shared<C> {
        &self.handle.0
    }

    /// The cache's name (its key prefix in Redis).
    ///
    /// # Examples
    ///
    /// See [`builder`](Self::builder).
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// The failure policy it was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::{FailurePolicy, Redis};
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::JsonCodec;
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let cache = TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:policy", JsonCodec)
    ///     .failure_policy(FailurePolicy::FailOpen)
    ///     .build().await
    ///     .unwrap();
    /// assert_eq!(cache.failure_policy(), FailurePolicy::FailOpen);
    /// # });
    /// ```
    pub fn failure_policy(&self) -> FailurePolicy {
        self.shared().config.policy
    }

    /// Whether this instance currently hears the cache's channel (invalidations from other
    /// instances reach its L1). False until the background subscription is made, and while it
    /// is being re-made after a loss.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_redis::Redis;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::JsonCodec;
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let cache = TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:subscribed", JsonCodec)
    ///     .build().await
    ///     .unwrap();
    /// while !cache.is_subscribed() {
    ///     rt.sleep(Duration::from_millis(5)).await;
    /// }
    /// # });
    /// ```
    pub fn is_subscribed(&self) -> bool {
        self.shared().subscribed.load(Ordering::Acquire)
    }

    /// A snapshot of this instance's counters (L1's included).
    ///
    /// # Examples
    ///
    /// See the [type's example](Self).
    pub fn stats(&self) -> TwoLevelStats {
        self.shared().counters.snapshot(self.l1.stats())
    }

    /// How many keys this instance's loads are waiting on (zero when no load runs): for tests
    /// and debugging.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::Redis;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::JsonCodec;
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let cache = TwoLevelCache::<str, u32, (), _>::builder(&redis, "doc:waiting", JsonCodec)
    ///     .build().await
    ///     .unwrap();
    /// assert_eq!(cache.keys_waited_on(), 0);
    /// # });
    /// ```
    pub fn keys_waited_on(&self) -> usize {
        self.shared().notices.len()
    }
}

impl<K, V, E, C> TwoLevelCache<K, V, E, C>
where
    K: fmt::Display + ?Sized,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    C: Codec<V>,
{
    /// Returns the value of `key`: from L1, from Redis, from another instance's fill, or by
    /// calling `fetch` (in one instance at a time, under the key's lease) and filling both
    /// levels.
    ///
    /// `fetch` is called at most once, by the process's load (L1's single flight: driven by the
    /// first reader, then by another if it is dropped, or by a task of its own once no reader is
    /// left), and only by the instance holding the lease; otherwise it is dropped uncalled. A read in the
    /// refresh window returns the L1 value at once and refreshes in the background.
    ///
    /// # Errors
    ///
    /// [`TwoLevelError::Fetch`] (the fetch's error, not cached), [`TwoLevelError::Codec`] (the
    /// value in Redis could not be decoded, or the fetched one encoded),
    /// [`TwoLevelError::WaitTimedOut`] (another instance held the lease past the wait timeout),
    /// [`TwoLevelError::Panicked`] (the fetch or codec panicked; the lease is released),
    /// [`TwoLevelError::Cancelled`] (the executor dropped the load), and, for a fail-closed
    /// cache, [`TwoLevelError::Redis`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future only stops this reader from waiting: the load it may be
    /// driving is handed on (to another reader, or to a task of its own), still serves the other
    /// readers, fills both levels and releases its lease. Nothing is left registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::Redis;
    /// use uno_redis::cache::{TwoLevelCache, TwoLevelError};
    /// use uno_redis::JsonCodec;
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let name = format!("doc:get:{}", std::process::id());
    /// let cache = TwoLevelCache::<str, u32, &str, _>::builder(&redis, &name, JsonCodec)
    ///     .build().await
    ///     .unwrap();
    /// let err = cache.get("k", || async { Err("db down") }).await.unwrap_err();
    /// assert_eq!(err.fetch_error(), Some(&"db down")); // not cached: the next read fetches
    /// assert_eq!(cache.get("k", || async { Ok(1) }).await.unwrap(), 1);
    /// cache.invalidate("k").await.unwrap();
    /// # });
    /// ```
    pub async fn get<F, Fut>(&self, key: &K, fetch: F) -> Result<V, TwoLevelError<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let key = key.to_string();
        let shared = self.handle.0.clone();
        let l1 = self.l1.clone();
        let load_key = key.clone();
        self.l1
            .get(key, move || {
                // L1 calls this for a miss (no fresh value) or for a refresh (a fresh one).
                let refresh = l1.peek(&load_key).is_some();
                load(shared, load_key, fetch, refresh)
            })
            .await
            .map_err(TwoLevelError::from_l1)
    }

    /// The value of `key` in this instance's L1, if it holds a fresh one; asks nobody.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::Redis;
    /// use uno_redis::cache::TwoLevelCache;
    /// use uno_redis::JsonCodec;
    /// # futures_lite::future::block_on(async {
    /// # let rt = uno_smol::runtime();
    /// # let url = std::env::var("UNO_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    /// # let Ok(redis) = Redis::builder(&rt, &url).build().await else { return };
    /// let name = format!("doc:peek:{}", std::process::id());
    /// let cache = TwoLevelCache::<str, u32, (), _>::builder(&redis, &name, JsonCodec)
    ///     .build().await
    ///     .unwrap();
    /// assert_eq!(cache.peek_l1("k"), None);
    /// cache.get("k", || async { Ok(3) }).await.unwrap();
    /// assert_eq!(cache.peek_l1("k"), Some(3));
    /// cache.invalidate("k").await.unwrap();
    /// assert_eq!(cache.peek_l1("k"), None);
    /// # });
    /// ```
    pub fn peek_l1(&self, key: &K) -> Option<V> {
        self.l1.peek(key.to_string().as_str())
    }

    /// Removes `key` everywhere: from this L1 at once, from Redis (its value, and its lease, so a
    /// fill in flight is refused), and from every other instance's L1 through the cache's
    /// channel. A load of the key in flight here is detached (its readers get its value, L1
    /// does not keep it).
    ///
    /// # Errors
    ///
    /// [`TwoLevelError::Redis`] if Redis could not be told, whatever the failure policy (this
    /// instance's L1 was cleared of the key anyway; the others keep theirs until their L1 ttl).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future after this L1 was cleared may or may not leave the Redis part done;
    /// call again to be sure (it is idempotent).
    ///
    /// # Examples
    ///
    /// See [`peek_l1`](Self::peek_l1).
    pub async fn invalidate(&self, key: &K) -> Result<(), TwoLevelError<E>> {
        let key = key.to_string();
        self.l1.invalidate(key.as_str());
        let shared = self.shared();
        shared.l2.invalidate(&key).await.map_err(|source| {
            shared.redis_failed(&source);
            TwoLevelError::Redis {
                name: shared.name.clone(),
                source,
            }
        })
    }
}

impl<K: ?Sized, V, E, C> Clone for TwoLevelCache<K, V, E, C> {
    fn clone(&self) -> Self {
        TwoLevelCache {
            l1: self.l1.clone(),
            handle: self.handle.clone(),
            _key: PhantomData,
        }
    }
}

impl<K: ?Sized, V, E, C> fmt::Debug for TwoLevelCache<K, V, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        f.debug_struct("TwoLevelCache")
            .field("name", &shared.name)
            .field("failure_policy", &shared.config.policy)
            .field("subscribed", &self.is_subscribed())
            .field("l1_entries", &self.l1.entry_count())
            .finish_non_exhaustive()
    }
}
