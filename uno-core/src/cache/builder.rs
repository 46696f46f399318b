//! [`CacheBuilder`]: the configuration of an [`AsyncCache`], checked once, and the sharding.

use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::num::NonZero;
use std::sync::Arc;
use std::time::Duration;

use super::clock::CacheClock;
use super::error::{CacheConfigError, CacheError};
use super::load::{Config, Inner, RefreshListener};
use super::metrics::CacheMetrics;
use super::store::Shard;
use super::{AsyncCache, DefaultHashBuilder};
use crate::observe::Name;
use crate::rt::Runtime;

/// Shards are only split off while each keeps at least this many entries, so small caches have one
/// shard (and exact LRU) and large ones spread their locks.
const MIN_SHARD_CAPACITY: usize = 32;
/// More shards than this buys no less contention on any machine we target.
const MAX_SHARDS: usize = 64;

/// Configures an [`AsyncCache`]; from [`AsyncCache::builder`].
///
/// Only [`max_capacity`](Self::max_capacity) is required; [`name`](Self::name) labels the cache's
/// errors, metrics and events, and [`hasher`](Self::hasher) replaces the default
/// [`DefaultHashBuilder`] (the type parameter `S`). Invalid settings are reported by [`build`](Self::build) as a
/// [`CacheConfigError`], never as a panic.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::cache::{AsyncCache, CacheConfigError};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let cache = AsyncCache::<u32, String, std::io::Error>::builder(&vrt.handle())
///     .max_capacity(10_000)
///     .ttl(Duration::from_secs(60))
///     .refresh_after(Duration::from_secs(45))
///     .build()
///     .unwrap();
/// assert_eq!(cache.max_capacity(), 10_000);
///
/// let bad = AsyncCache::<u32, String, std::io::Error>::builder(&vrt.handle())
///     .max_capacity(10)
///     .ttl(Duration::from_secs(60))
///     .refresh_after(Duration::from_secs(60))
///     .build();
/// assert!(matches!(bad, Err(CacheConfigError::RefreshNotBeforeTtl { .. })));
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct CacheBuilder<K, V, E, S = DefaultHashBuilder> {
    rt: Runtime,
    hasher: S,
    name: Name,
    max_capacity: Option<usize>,
    ttl: Option<Duration>,
    refresh_after: Option<Duration>,
    negative_ttl: Option<Duration>,
    fetch_timeout: Option<Duration>,
    on_refresh_error: Option<RefreshListener<K, E>>,
    _types: PhantomData<fn() -> V>,
}

impl<K, V, E> CacheBuilder<K, V, E> {
    pub(super) fn new(rt: &Runtime) -> Self {
        CacheBuilder {
            rt: rt.clone(),
            hasher: DefaultHashBuilder::default(),
            name: Name::kind("cache"),
            max_capacity: None,
            ttl: None,
            refresh_after: None,
            negative_ttl: None,
            fetch_timeout: None,
            on_refresh_error: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, E, S> CacheBuilder<K, V, E, S> {
    /// The hasher of the cache's keys (default: [`DefaultHashBuilder`], fast and randomly seeded
    /// per cache). Each operation hashes its key once with it; that one hash picks the shard,
    /// finds the entry and finds the load in flight. Give [`std::hash::RandomState`] (SipHash)
    /// for keys from an adversary who can measure timings, or a fixed-seed hasher for
    /// reproducible runs. The hasher must be deterministic for one instance, as for a `HashMap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::hash::RandomState;
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let cache: AsyncCache<String, u32, (), RandomState> = AsyncCache::builder(&rt)
    ///     .hasher(RandomState::new()) // SipHash, as std's HashMap
    ///     .max_capacity(100)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cache.get("a".to_string(), || async { Ok(1) }).await, Ok(1));
    /// assert_eq!(cache.peek("a"), Some(1));
    /// # });
    /// ```
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, E, S2> {
        CacheBuilder {
            rt: self.rt,
            hasher,
            name: self.name,
            max_capacity: self.max_capacity,
            ttl: self.ttl,
            refresh_after: self.refresh_after,
            negative_ttl: self.negative_ttl,
            fetch_timeout: self.fetch_timeout,
            on_refresh_error: self.on_refresh_error,
            _types: PhantomData,
        }
    }

    /// The cache's name (default `"cache"`): shown in its errors
    /// ([`CacheError::name`]), the `name` label of its metrics and the `name` field of its
    /// `tracing` events, so two caches are told apart. Read it back with
    /// [`AsyncCache::name`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let profiles = AsyncCache::<u32, String, std::io::Error>::builder(&rt)
    ///     .name("profiles")
    ///     .max_capacity(100)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(profiles.name(), "profiles");
    /// let down = || async { Err(std::io::Error::other("connection refused")) };
    /// let err = profiles.get(1, down).await.unwrap_err();
    /// assert_eq!(err.to_string(), r#"fetch for cache "profiles" failed"#);
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// The most entries the cache holds (required, > 0); it never holds more. Each shard owns a
    /// share of the capacity and evicts within itself — expired entries first, then the least
    /// recently used (exactly in small shards, sampled among 16 candidates in large ones, as Redis
    /// does) — so a large cache may evict slightly before it holds `entries` in all.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::cache::{AsyncCache, CacheConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(2).build().unwrap();
    /// cache.insert(1, 10);
    /// cache.insert(2, 20);
    /// cache.insert(3, 30); // full: the least recently used entry goes
    /// assert_eq!((cache.entry_count(), cache.peek(&1)), (2, None));
    /// let err = AsyncCache::<u32, u32, ()>::builder(&rt).build().unwrap_err();
    /// assert_eq!(err, CacheConfigError::MissingCapacity);
    /// ```
    pub fn max_capacity(mut self, entries: usize) -> Self {
        self.max_capacity = Some(entries);
        self
    }

    /// How long a value is served after it was written (loaded or refreshed). Unset: values never
    /// expire, only get evicted or invalidated.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::{AsyncCache, CacheConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let cache = AsyncCache::<&str, u32, ()>::builder(&rt)
    ///     .max_capacity(10)
    ///     .ttl(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// cache.insert("rate", 3);
    /// vrt.clock().advance(Duration::from_secs(60));
    /// assert_eq!(cache.peek("rate"), None); // expired
    /// let zero = AsyncCache::<&str, u32, ()>::builder(&rt).max_capacity(10).ttl(Duration::ZERO);
    /// let err = zero.build();
    /// assert_eq!(err.unwrap_err(), CacheConfigError::ZeroTtl);
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Refresh-before-expiry (Caffeine's `refreshAfterWrite`): once a value is this old, a read
    /// still returns it at once and starts one background refresh for its key. Must be shorter than
    /// the [`ttl`](Self::ttl). Unset: no refresh; values are reloaded only after they expire.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let cache = AsyncCache::<&str, u32, ()>::builder(&rt)
    ///     .max_capacity(10)
    ///     .ttl(Duration::from_secs(60))
    ///     .refresh_after(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// cache.insert("price", 1);
    /// rt.sleep(Duration::from_secs(45)).await;
    /// assert_eq!(cache.get("price", || async { Ok(2) }).await, Ok(1)); // old value, at once
    /// rt.sleep(Duration::from_millis(1)).await; // the background refresh runs
    /// assert_eq!(cache.peek("price"), Some(2));
    /// # });
    /// ```
    pub fn refresh_after(mut self, refresh_after: Duration) -> Self {
        self.refresh_after = Some(refresh_after);
        self
    }

    /// Caches fetch errors for this long, so a failing backend is not asked again by every read.
    /// Unset (the default): errors are never cached; each read after a failure fetches anew.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::{AsyncCache, CacheConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let cache = AsyncCache::<u32, u32, &str>::builder(&rt)
    ///     .max_capacity(10)
    ///     .negative_ttl(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// assert!(cache.get(1, || async { Err("down") }).await.is_err());
    /// let cached = cache.get(1, || async { Ok(1) }).await; // not fetched: the error is cached
    /// assert_eq!(cached.unwrap_err().fetch_error(), Some(&"down"));
    /// rt.sleep(Duration::from_secs(5)).await;
    /// assert_eq!(cache.get(1, || async { Ok(1) }).await, Ok(1));
    /// # let zero = AsyncCache::<u32, u32, &str>::builder(&rt).max_capacity(1);
    /// # let zero = zero.negative_ttl(Duration::ZERO);
    /// # assert_eq!(zero.build().unwrap_err(), CacheConfigError::ZeroNegativeTtl);
    /// # });
    /// ```
    pub fn negative_ttl(mut self, negative_ttl: Duration) -> Self {
        self.negative_ttl = Some(negative_ttl);
        self
    }

    /// Gives up on a fetch that runs longer than this ([`CacheError::TimedOut`]), dropping it.
    /// Unset: loads may run as long as they like. Background refreshes are always limited, to this
    /// or to the ttl (without a ttl, to `refresh_after`), whichever is shorter, so a stuck refresh
    /// is dropped and a later read can start another.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::{AsyncCache, CacheConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let cache = AsyncCache::<u32, u32, ()>::builder(&rt)
    ///     .max_capacity(10)
    ///     .fetch_timeout(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let err = cache.get(1, || std::future::pending()).await.unwrap_err();
    /// assert!(err.is_timeout());
    /// let zero = AsyncCache::<u32, u32, ()>::builder(&rt).max_capacity(10);
    /// let zero = zero.fetch_timeout(Duration::ZERO);
    /// assert_eq!(zero.build().unwrap_err(), CacheConfigError::ZeroFetchTimeout);
    /// # });
    /// ```
    pub fn fetch_timeout(mut self, fetch_timeout: Duration) -> Self {
        self.fetch_timeout = Some(fetch_timeout);
        self
    }

    /// Called with the key and the error each time a background refresh fails (the old value is
    /// kept until it expires). Runs on the refresh's task; keep it short and non-blocking. A panic
    /// in it is caught and ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use uno_core::cache::AsyncCache;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let failures = Arc::new(Mutex::new(Vec::new()));
    /// let log = failures.clone();
    /// let cache = AsyncCache::<&str, u32, &str>::builder(&rt)
    ///     .max_capacity(10)
    ///     .ttl(Duration::from_secs(60))
    ///     .refresh_after(Duration::from_secs(30))
    ///     .on_refresh_error(move |key, err| {
    ///         let cause = err.fetch_error().copied().unwrap_or("no fetch error");
    ///         log.lock().unwrap().push(format!("{key}: {err}: {cause}"));
    ///     })
    ///     .build()
    ///     .unwrap();
    /// cache.insert("quota", 7);
    /// rt.sleep(Duration::from_secs(31)).await;
    /// assert_eq!(cache.get("quota", || async { Err("timeout") }).await, Ok(7));
    /// rt.sleep(Duration::from_millis(1)).await; // the refresh fails in the background
    /// assert_eq!(*failures.lock().unwrap(), [r#"quota: fetch for cache "cache" failed: timeout"#]);
    /// assert_eq!(cache.peek("quota"), Some(7)); // the old value is kept
    /// # });
    /// ```
    pub fn on_refresh_error(
        mut self,
        listener: impl Fn(&K, &CacheError<E>) + Send + Sync + 'static,
    ) -> Self {
        self.on_refresh_error = Some(Arc::new(listener));
        self
    }

    /// Checks the configuration and builds the cache.
    ///
    /// # Errors
    ///
    /// A [`CacheConfigError`] naming the first invalid setting: a missing or zero capacity, a zero
    /// duration, or a `refresh_after` not shorter than the `ttl`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::cache::{AsyncCache, CacheConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let cache = AsyncCache::<u32, String, ()>::builder(&rt).max_capacity(500).build().unwrap();
    /// assert_eq!(cache.max_capacity(), 500);
    /// let zero = AsyncCache::<u32, String, ()>::builder(&rt).max_capacity(0).build();
    /// assert_eq!(zero.unwrap_err(), CacheConfigError::ZeroCapacity);
    /// let zero = AsyncCache::<u32, String, ()>::builder(&rt).max_capacity(9);
    /// let zero = zero.refresh_after(Duration::ZERO);
    /// assert_eq!(zero.build().unwrap_err(), CacheConfigError::ZeroRefreshAfter);
    /// ```
    pub fn build(self) -> Result<AsyncCache<K, V, E, S>, CacheConfigError>
    where
        S: BuildHasher,
    {
        let capacity = match self.max_capacity {
            None => return Err(CacheConfigError::MissingCapacity),
            Some(0) => return Err(CacheConfigError::ZeroCapacity),
            Some(n) => n,
        };
        if self.ttl == Some(Duration::ZERO) {
            return Err(CacheConfigError::ZeroTtl);
        }
        if self.refresh_after == Some(Duration::ZERO) {
            return Err(CacheConfigError::ZeroRefreshAfter);
        }
        if let (Some(refresh_after), Some(ttl)) = (self.refresh_after, self.ttl)
            && refresh_after >= ttl
        {
            return Err(CacheConfigError::RefreshNotBeforeTtl { refresh_after, ttl });
        }
        if self.negative_ttl == Some(Duration::ZERO) {
            return Err(CacheConfigError::ZeroNegativeTtl);
        }
        if self.fetch_timeout == Some(Duration::ZERO) {
            return Err(CacheConfigError::ZeroFetchTimeout);
        }

        let shard_count = shard_count(capacity);
        let (base, extra) = (capacity / shard_count, capacity % shard_count);
        let shards = (0..shard_count)
            .map(|i| Shard::new(base + usize::from(i < extra), fastrand::u64(..)))
            .collect();
        let refresh_limit = self.refresh_after.map(|refresh_after| {
            let limit = self.ttl.unwrap_or(refresh_after);
            self.fetch_timeout
                .map_or(limit, |timeout| timeout.min(limit))
        });
        Ok(AsyncCache {
            inner: Arc::new(Inner {
                clock: CacheClock::of(&self.rt),
                rt: self.rt,
                metrics: CacheMetrics::new(&self.name),
                name: self.name,
                shards,
                shard_mask: shard_count - 1,
                hasher: self.hasher,
                capacity,
                config: Config {
                    ttl: self.ttl,
                    refresh_after: self.refresh_after,
                    negative_ttl: self.negative_ttl,
                    fetch_timeout: self.fetch_timeout,
                    refresh_limit,
                },
                on_refresh_error: self.on_refresh_error,
            }),
        })
    }
}

/// A power of two: about four shards per core, but none holding fewer than
/// [`MIN_SHARD_CAPACITY`] entries.
fn shard_count(capacity: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(4, NonZero::get);
    let wanted = (cores * 4).next_power_of_two().min(MAX_SHARDS);
    let by_size = capacity / MIN_SHARD_CAPACITY;
    let by_size = if by_size == 0 {
        1
    } else {
        1 << by_size.ilog2()
    };
    wanted.min(by_size)
}

impl<K, V, E, S> fmt::Debug for CacheBuilder<K, V, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("name", &self.name)
            .field("max_capacity", &self.max_capacity)
            .field("ttl", &self.ttl)
            .field("refresh_after", &self.refresh_after)
            .field("negative_ttl", &self.negative_ttl)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("on_refresh_error", &self.on_refresh_error.is_some())
            .finish()
    }
}
