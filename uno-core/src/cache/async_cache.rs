//! [`AsyncCache`]: the public handle. Reads, loads and refreshes are in `load`.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::future::Get;
use super::load::Inner;
use super::{CacheBuilder, CacheStats, DefaultHashBuilder};
use crate::rt::Runtime;

/// A concurrent loading cache: `get(key, fetch)` returns the cached value or runs `fetch` once for
/// everyone who is asking, on any [`Runtime`]. Clones share one cache.
///
/// Built with [`AsyncCache::builder`]: a [`max_capacity`](CacheBuilder::max_capacity), and
/// optionally a [`ttl`](CacheBuilder::ttl), a [`refresh_after`](CacheBuilder::refresh_after)
/// window, a [`negative_ttl`](CacheBuilder::negative_ttl) for errors and a
/// [`fetch_timeout`](CacheBuilder::fetch_timeout).
///
/// # Behaviour
///
/// - **Hashing**: every operation hashes its key once, with the cache's hasher (the type parameter
///   `S`, [`DefaultHashBuilder`] unless [`CacheBuilder::hasher`] gave another); that hash picks
///   the shard, finds the entry and finds the key's load in flight.
/// - **Hits** take a shard's `std::sync::RwLock` for reading, read the clock once — the runtime's
///   cheap monotonic clock where its timer lends one
///   ([`Timer::monotonic_clock`](crate::time::Timer::monotonic_clock)), else
///   [`Runtime::now`], so TTLs follow virtual time — and clone the value: no lock is held across an `.await`, there is no per-key lock,
///   and nothing is allocated. Values are returned by `Clone`, so store cheap-to-clone values —
///   `Arc<T>`, `Arc<str>`, `bytes::Bytes`.
/// - **TTL**: a value is served until `ttl` after it was written, then the next read loads it again.
/// - **Refresh-before-expiry** (Caffeine's `refreshAfterWrite`): a read of a value older than
///   `refresh_after` (but younger than `ttl`) returns it at once and starts **one** background
///   refresh for that key, spawned on the runtime and detached. Its value replaces the old one; if it
///   fails, the old value is served until it expires, the failure is counted in
///   [`CacheStats::refresh_failures`] and passed to [`on_refresh_error`](CacheBuilder::on_refresh_error),
///   and the next read in the window tries again. A refresh is dropped if it runs longer than the ttl
///   (or the fetch timeout), and its result is discarded if the entry was reloaded, invalidated or
///   evicted meanwhile, so a stuck refresh blocks neither expiry nor later refreshes.
/// - **Single-flight**: concurrent misses of one key run one fetch, and every reader gets its
///   outcome. The fetch is **driven in place by the reader that started it** (no task is spawned
///   on the happy path), and is handed on if that reader leaves: a reader that is cancelled (its
///   future dropped) or whose task panics passes the fetch to the readers still waiting, one of
///   which drives it on from where it was (it is never restarted); and a fetch whose readers all
///   left is moved to a task of its own, spawned on the runtime and detached, so it still finishes
///   and fills the cache. (This is why `V`, `E` and the fetch future must be `Send + 'static`.)
///   Like `futures::future::Shared`, the fetch makes progress when its driver is polled: a driver
///   that stays alive but is not polled holds the others up. A panic in the fetch — in the
///   closure, in a poll of its future, or in that future's `Drop` (when it completes or when the
///   fetch timeout drops it) — becomes [`CacheError::Panicked`] for every reader; a detached fetch
///   task dropped by the executor becomes [`CacheError::Cancelled`]. Nobody hangs, the flight is
///   always removed (the next read fetches again), and the panic never reaches the executor.
/// - **The refresh-error hook** may panic: the panic is caught and the refresh bookkeeping goes on
///   (the failure is still counted, and the next read in the window refreshes again).
/// - **Errors** go to the readers of that fetch, shared as `Arc<E>`, and are not cached: the next read
///   fetches again. With a `negative_ttl`, an error is cached (and returned by reads) that long.
/// - **Capacity and eviction**: the cache is split into shards (one for capacities below 64, up to
///   about four per core for large ones), each owning an exact share of `max_capacity`, so the cache
///   never holds more than `max_capacity` entries. A full shard evicts an expired entry if it finds
///   one, else its least recently used entry: exactly, in shards of up to 16 entries, and
///   approximately above, from 16 random candidates (sampled LRU, as Redis). Since each shard is
///   full on its own, a large cache may evict a little before it holds exactly `max_capacity`
///   entries. Expired entries are not swept; they stay (counted by
///   [`entry_count`](Self::entry_count)) until reloaded, evicted or invalidated.
/// - **Invalidation**: [`invalidate`](Self::invalidate), [`clear`](Self::clear) and
///   [`insert`](Self::insert) also detach any load or refresh in flight for the key, so its result
///   reaches its current readers but never overwrites the newer state.
///
/// # Examples
///
/// Refresh-before-expiry on virtual time:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use uno_core::cache::AsyncCache;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let cache: AsyncCache<&str, u32, String> = AsyncCache::builder(&rt)
///         .max_capacity(100)
///         .ttl(Duration::from_secs(10))
///         .refresh_after(Duration::from_secs(5))
///         .build()
///         .unwrap();
///     let version = Arc::new(AtomicU32::new(0));
///     let fetch = || {
///         let version = version.clone();
///         move || async move { Ok(version.fetch_add(1, Ordering::SeqCst) + 1) }
///     };
///
///     assert_eq!(cache.get("config", fetch()).await, Ok(1));
///     rt.sleep(Duration::from_secs(6)).await; // inside the refresh window
///     // Served at once from the cache; a refresh starts in the background.
///     assert_eq!(cache.get("config", fetch()).await, Ok(1));
///     rt.sleep(Duration::from_millis(1)).await; // let the refresh run
///     assert_eq!(cache.get("config", fetch()).await, Ok(2));
///     assert_eq!(cache.stats().refreshes, 1);
/// });
/// ```
///
/// [`CacheError::Cancelled`]: super::CacheError::Cancelled
/// [`CacheError::Panicked`]: super::CacheError::Panicked
pub struct AsyncCache<K, V, E, S = DefaultHashBuilder> {
    pub(super) inner: Arc<Inner<K, V, E, S>>,
}

impl<K, V, E> AsyncCache<K, V, E> {
    /// Starts configuring a cache whose time and background work run on `rt`.
    ///
    /// See [`CacheBuilder`] for the settings; [`max_capacity`](CacheBuilder::max_capacity) is
    /// required.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let sessions: AsyncCache<u64, String, std::io::Error> = AsyncCache::builder(&rt)
    ///     .max_capacity(1_000)
    ///     .ttl(Duration::from_secs(300))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(sessions.entry_count(), 0);
    /// ```
    pub fn builder(rt: &Runtime) -> CacheBuilder<K, V, E> {
        CacheBuilder::new(rt)
    }
}

impl<K, V, E, S> AsyncCache<K, V, E, S> {
    /// The cache's name, from [`CacheBuilder::name`] (default `"cache"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// assert_eq!(cache.name(), "cache");
    /// let named = AsyncCache::<u32, u32, ()>::builder(&rt).name("rates").max_capacity(8);
    /// assert_eq!(named.build().unwrap().name(), "rates");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The configured capacity bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(4_096).build().unwrap();
    /// assert_eq!(cache.max_capacity(), 4_096);
    /// ```
    pub fn max_capacity(&self) -> usize {
        self.inner.capacity
    }

    /// How many entries the cache holds, expired ones not yet removed included. Never more than
    /// [`max_capacity`](Self::max_capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt)
    ///     .max_capacity(10)
    ///     .ttl(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// vrt.clock().advance(Duration::from_secs(2));
    /// assert_eq!(cache.entry_count(), 2); // expired entries still count until they go
    /// ```
    pub fn entry_count(&self) -> usize {
        self.inner.entry_count()
    }

    /// A snapshot of the counters: hits, misses, loads, failures, refreshes, evictions.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, u32, &str>::builder(&rt).max_capacity(1).build().unwrap();
    /// cache.get(1, || async { Ok(1) }).await.unwrap(); // miss, load
    /// cache.get(1, || async { Ok(1) }).await.unwrap(); // hit
    /// let _ = cache.get(2, || async { Err("down") }).await; // miss, failed load
    /// cache.get(3, || async { Ok(3) }).await.unwrap(); // miss, load, evicts key 1
    /// let stats = cache.stats();
    /// assert_eq!((stats.hits, stats.misses, stats.loads), (1, 3, 3));
    /// assert_eq!((stats.load_failures, stats.evictions), (1, 1));
    /// # });
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.stats()
    }
}

impl<K, V, E, S> AsyncCache<K, V, E, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Returns the value for `key`, calling `fetch` to load it if the cache holds no fresh value —
    /// unless a load for `key` is already running, which this read then joins.
    ///
    /// A hit inside the [refresh window](CacheBuilder::refresh_after) also calls `fetch` to start a
    /// background refresh (at most one per key at a time) and still returns the cached value at
    /// once. Otherwise `fetch` is dropped uncalled. `fetch` is called on the caller's task, and so
    /// is the future it returns, polled in place by this read (a refresh's runs in a task of its
    /// own) until the load is done or this read is dropped (see the hand-over in [`AsyncCache`]).
    ///
    /// # Errors
    ///
    /// The load's error, shared by every reader of that load ([`CacheError::Failed`]), or
    /// [`CacheError::Panicked`], [`CacheError::TimedOut`] or [`CacheError::Cancelled`]. With a
    /// [`negative_ttl`](CacheBuilder::negative_ttl), a cached error is returned until it expires.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the returned future gives up waiting and nothing else: a load it was
    /// driving is handed to another reader of the key, or to a task of its own if none is left,
    /// and still serves the other readers and fills the cache.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::{AsyncCache, CacheError};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// vrt.block_on(async move {
    ///     let cache: AsyncCache<u32, u32, &'static str> =
    ///         AsyncCache::builder(&rt).max_capacity(10).build().unwrap();
    ///
    ///     let err = cache.get(1, || async { Err("backend down") }).await.unwrap_err();
    ///     assert_eq!(err.fetch_error(), Some(&"backend down"));
    ///     // Errors are not cached: the next read fetches again.
    ///     assert_eq!(cache.get(1, || async { Ok(42) }).await.unwrap(), 42);
    ///     let panicked = cache.get(2, || async { panic!("bug") }).await;
    ///     assert!(matches!(panicked, Err(CacheError::Panicked { .. })));
    /// });
    /// ```
    ///
    /// [`CacheError::Cancelled`]: super::CacheError::Cancelled
    /// [`CacheError::Failed`]: super::CacheError::Failed
    /// [`CacheError::Panicked`]: super::CacheError::Panicked
    /// [`CacheError::TimedOut`]: super::CacheError::TimedOut
    pub fn get<F, Fut>(&self, key: K, fetch: F) -> Get<'_, K, V, E, F, S>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        Get::new(self, key, fetch)
    }

    /// The fresh value for `key`, if the cache holds one, without loading, refreshing, counting a
    /// hit or a miss, or touching the LRU order. Cached errors read as `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let cache = AsyncCache::<String, u32, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// assert_eq!(cache.peek("answer"), None); // no load is started
    /// cache.insert("answer".to_string(), 42);
    /// assert_eq!(cache.peek("answer"), Some(42)); // looked up by `&str`
    /// assert_eq!(cache.stats().hits, 0); // peeks are not counted
    /// ```
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.peek(key)
    }

    /// Stores `value` for `key` as if it had just been loaded (its TTL and refresh window start
    /// now), evicting if the cache is full. A load or refresh of `key` in flight is detached: its
    /// readers still get its outcome, but it no longer overwrites this value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<&str, u32, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// cache.insert("warm", 1); // e.g. warming the cache at start-up
    /// assert_eq!(cache.get("warm", || async { Ok(2) }).await, Ok(1)); // a hit: not fetched
    /// cache.insert("warm", 3); // overwrites
    /// assert_eq!(cache.peek("warm"), Some(3));
    /// # });
    /// ```
    pub fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value);
    }

    /// Removes `key`'s entry; returns whether there was one. A load or refresh of `key` in flight is
    /// detached: its current readers still get its outcome, but it is not cached.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, &str, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// cache.insert(7, "old profile");
    /// assert!(cache.invalidate(&7)); // the profile changed
    /// assert!(!cache.invalidate(&7)); // nothing left to remove
    /// assert_eq!(cache.get(7, || async { Ok("new profile") }).await, Ok("new profile"));
    /// # });
    /// ```
    pub fn invalidate<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.invalidate(key)
    }

    /// Removes every entry and detaches every load in flight (as [`invalidate`](Self::invalidate)).
    /// Statistics are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(8).build().unwrap();
    /// cache.get(1, || async { Ok(1) }).await.unwrap();
    /// cache.insert(2, 2);
    /// cache.clear();
    /// assert_eq!(cache.entry_count(), 0);
    /// assert_eq!(cache.stats().loads, 1); // statistics survive
    /// # });
    /// ```
    pub fn clear(&self) {
        self.inner.clear();
    }
}

impl<K, V, E, S> Clone for AsyncCache<K, V, E, S> {
    fn clone(&self) -> Self {
        AsyncCache {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V, E, S> fmt::Debug for AsyncCache<K, V, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCache")
            .field("name", &self.inner.name)
            .field("entry_count", &self.entry_count())
            .field("max_capacity", &self.max_capacity())
            .field("ttl", &self.inner.config.ttl)
            .field("refresh_after", &self.inner.config.refresh_after)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
