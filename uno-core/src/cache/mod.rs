//! [`AsyncCache`]: a loading cache with TTL, refresh-before-expiry, single-flight loads, a capacity
//! bound and statistics, on any [`Runtime`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use uno_core::cache::AsyncCache;
//! use uno_core::rt::VirtualRuntime;
//!
//! let vrt = VirtualRuntime::new();
//! let rt = vrt.handle();
//! vrt.block_on(async move {
//!     let users: AsyncCache<u64, Arc<str>, std::io::Error> = AsyncCache::builder(&rt)
//!         .max_capacity(1_000)
//!         .ttl(Duration::from_secs(60))
//!         .refresh_after(Duration::from_secs(50))
//!         .build()
//!         .unwrap();
//!
//!     let name = users.get(7, || async { Ok(Arc::from("ada")) }).await.unwrap();
//!     assert_eq!(&*name, "ada");
//!     // A hit: the fetch is not called.
//!     let again = users.get(7, || async { unreachable!() }).await.unwrap();
//!     assert_eq!(&*again, "ada");
//!     assert_eq!(users.stats().hits, 1);
//! });
//! ```
//!
//! See [`AsyncCache`] for the design (what runs where, and what is guaranteed).

mod builder;
mod error;
mod flight;
mod stats;
mod store;

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::EventListener;

pub use builder::CacheBuilder;
pub use error::{CacheConfigError, CacheError};
pub use stats::CacheStats;

use flight::{Flight, run_fetch};
use stats::bump;
use store::{Shard, Write};

use crate::panic;
use crate::rt::Runtime;
use crate::time::deadline_after;

type RefreshListener<K, E> = Arc<dyn Fn(&K, &CacheError<E>) + Send + Sync>;

/// What a fetch (and so a read) ends with.
type Outcome<V, E> = Result<V, CacheError<E>>;

/// Hands a fetch task's outcome to the cache.
type Deliver<V, E> = Box<dyn FnOnce(Outcome<V, E>) + Send>;

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
/// - **Hits** take a shard's `std::sync::RwLock` for reading, read the clock once through the
///   [`Runtime`], and clone the value: no lock is held across an `.await`, there is no per-key lock,
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
///   outcome. The fetch runs in **its own spawned task**, not in the reader that started it: a
///   reader that is cancelled (its future dropped) or whose task panics does not affect the fetch or
///   the other readers, and a fetch whose readers all left finishes detached and fills the cache.
///   (This is why `V`, `E` and the fetch future must be `Send + 'static`.) A panic in the fetch —
///   in the closure, in a poll of its future, or in that future's `Drop` (when it completes or when
///   the fetch timeout drops it) — becomes [`CacheError::Panicked`] for every reader; a fetch task
///   dropped by the executor becomes [`CacheError::Cancelled`]. Nobody hangs, the flight is always
///   removed (the next read fetches again), and the panic never reaches the executor.
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
pub struct AsyncCache<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

struct Config {
    ttl: Option<Duration>,
    refresh_after: Option<Duration>,
    negative_ttl: Option<Duration>,
    fetch_timeout: Option<Duration>,
    /// How long a background refresh may run: `min(fetch_timeout, ttl or refresh_after)`.
    refresh_limit: Option<Duration>,
}

struct Inner<K, V, E> {
    rt: Runtime,
    shards: Box<[Shard<K, V, E>]>,
    shard_mask: usize,
    hasher: RandomState,
    capacity: usize,
    config: Config,
    on_refresh_error: Option<RefreshListener<K, E>>,
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
        self.inner.shards.iter().map(|s| s.read().len()).sum()
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
        let mut stats = CacheStats::default();
        for shard in self.inner.shards.iter() {
            stats.hits += shard.hits();
            shard.counters.add_to(&mut stats);
        }
        stats
    }
}

impl<K, V, E> AsyncCache<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Returns the value for `key`, calling `fetch` to load it if the cache holds no fresh value —
    /// unless a load for `key` is already running, which this read then joins.
    ///
    /// A hit inside the [refresh window](CacheBuilder::refresh_after) also calls `fetch` to start a
    /// background refresh (at most one per key at a time) and still returns the cached value at
    /// once. Otherwise `fetch` is dropped uncalled. `fetch` is called on the caller's task; the
    /// future it returns runs in a task of its own.
    ///
    /// # Errors
    ///
    /// The load's error, shared by every reader of that load ([`CacheError::Failed`]), or
    /// [`CacheError::Panicked`], [`CacheError::TimedOut`] or [`CacheError::Cancelled`]. With a
    /// [`negative_ttl`](CacheBuilder::negative_ttl), a cached error is returned until it expires.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the returned future gives up waiting and nothing else: a load it started
    /// keeps running in its own task, serves the other readers and fills the cache.
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
    ///     assert!(matches!(cache.get(2, || async { panic!("bug") }).await, Err(CacheError::Panicked { .. })));
    /// });
    /// ```
    pub fn get<F, Fut>(&self, key: K, fetch: F) -> Get<'_, K, V, E, F>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        Get {
            cache: self,
            state: GetState::Start { key, fetch },
        }
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
        let now = self.inner.rt.now();
        let hash = self.inner.hash(key);
        let state = self.inner.shard(hash).read();
        let slot = state.slot(hash, key)?;
        match &slot.value {
            Ok(value) if slot.is_fresh(now) => Some(value.clone()),
            _ => None,
        }
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
        let inner = &*self.inner;
        let now = inner.rt.now();
        let write = inner.value_write(Ok(value), now);
        let hash = inner.hash(&key);
        let shard = inner.shard(hash);
        let evicted = {
            let mut state = shard.write();
            state.flights.remove(&key);
            state.install(hash, &key, write, shard.write_tick(), shard.capacity, now)
        };
        bump(&shard.counters.evictions, evicted);
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
        let hash = self.inner.hash(key);
        let mut state = self.inner.shard(hash).write();
        state.flights.remove(key);
        state.remove(hash, key)
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
        for shard in self.inner.shards.iter() {
            shard.write().clear();
        }
    }
}

impl<K, V, E> Clone for AsyncCache<K, V, E> {
    fn clone(&self) -> Self {
        AsyncCache {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V, E> fmt::Debug for AsyncCache<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCache")
            .field("entry_count", &self.entry_count())
            .field("max_capacity", &self.max_capacity())
            .field("ttl", &self.inner.config.ttl)
            .field("refresh_after", &self.inner.config.refresh_after)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// How a read starts: answered at once, or waiting for a load.
enum Start<V, E> {
    Ready(Result<V, CacheError<E>>),
    Wait(Arc<Flight<V, E>>),
}

impl<K, V, E> Inner<K, V, E> {
    /// The one hash of `key` that both picks its shard and indexes it there. (`K: Borrow<Q>`
    /// promises that a key and its borrowed form hash alike.)
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Shard<K, V, E> {
        // Bits 32 and up: a shard's index takes the low bits of the hash to pick a bucket (and
        // the top seven as tags), so shards must not take theirs from there, or every key of a
        // shard would crowd into the same buckets.
        &self.shards[(hash >> 32) as usize & self.shard_mask]
    }

    fn value_write(&self, value: Result<V, CacheError<E>>, now: Instant) -> Write<V, E> {
        let at = |d: Option<Duration>| d.map(|d| deadline_after(now, d));
        Write {
            value,
            refresh_at: at(self.config.refresh_after),
            expires_at: at(self.config.ttl),
        }
    }
}

impl<K, V, E> Inner<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// The synchronous part of [`AsyncCache::get`]: the hit path, or registering as (or joining)
    /// the load of `key`.
    fn start_get<F, Fut>(self: &Arc<Self>, key: K, fetch: F) -> Start<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let now = self.rt.now();
        let hash = self.hash(&key);
        let shard = self.shard(hash);
        {
            let state = shard.read();
            if let Some(slot) = state.slot(hash, &key)
                && slot.is_fresh(now)
            {
                slot.touch(shard.hit_tick());
                let value = slot.value.clone();
                let refresh = slot.wants_refresh(now);
                drop(state);
                if refresh {
                    self.start_refresh(hash, key, fetch, now);
                }
                return Start::Ready(value);
            }
        }

        let mut state = shard.write();
        // Someone may have loaded the value between the two locks.
        if let Some(slot) = state.slot(hash, &key)
            && slot.is_fresh(now)
        {
            slot.touch(shard.hit_tick());
            let value = slot.value.clone();
            drop(state);
            return Start::Ready(value);
        }
        bump(&shard.counters.misses, 1);
        if let Some(flight) = state.flights.get(&key) {
            return Start::Wait(flight.clone());
        }
        let flight = Flight::new();
        state.flights.insert(key.clone(), flight.clone());
        drop(state);
        bump(&shard.counters.loads, 1);
        self.spawn_load(hash, key, fetch, flight.clone());
        Start::Wait(flight)
    }

    /// Runs the load of `key` in its own task, so that no reader's fate can strand the others.
    fn spawn_load<F, Fut>(self: &Arc<Self>, hash: u64, key: K, fetch: F, flight: Arc<Flight<V, E>>)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        // The flight is registered but no task runs it yet: a panicking closure must still
        // complete it, or its readers would wait forever.
        let future = match panic::call(fetch) {
            Ok(future) => future,
            Err(message) => {
                self.finish_load(hash, &key, &flight, Err(CacheError::Panicked { message }));
                return;
            }
        };
        let inner = self.clone();
        let finish = Finish::new(move |outcome| inner.finish_load(hash, &key, &flight, outcome));
        let (rt, limit) = (self.rt.clone(), self.config.fetch_timeout);
        self.rt
            .spawn(async move {
                let outcome = run_fetch(&rt, limit, future).await;
                finish.run(outcome);
            })
            .detach();
    }

    /// Installs a load's outcome (if the load is still the current one for its key) and wakes its
    /// readers. Installing first means a woken reader that reads again sees the value.
    ///
    /// Whatever user code does here, the flight is removed and completed: a wedged flight would
    /// hang its readers and every later read of the key.
    fn finish_load(
        &self,
        hash: u64,
        key: &K,
        flight: &Arc<Flight<V, E>>,
        outcome: Result<V, CacheError<E>>,
    ) {
        let shard = self.shard(hash);
        let now = self.rt.now();
        let (outcome, write) = match outcome {
            // `V::clone` is user code: a value that cannot be cloned is not cached, and the
            // readers get the panic instead.
            Ok(value) => match panic::call(|| value.clone()) {
                Ok(copy) => (Ok(value), Some(self.value_write(Ok(copy), now))),
                Err(message) => (Err(CacheError::Panicked { message }), None),
            },
            Err(error) => {
                let write = match self.config.negative_ttl {
                    Some(ttl) if !error.is_cancelled() => Some(Write {
                        value: Err(error.clone()),
                        refresh_at: None,
                        expires_at: Some(deadline_after(now, ttl)),
                    }),
                    _ => None,
                };
                (Err(error), write)
            }
        };
        let mut evicted = 0;
        {
            let mut state = shard.write();
            if state
                .flights
                .get(key)
                .is_some_and(|f| Arc::ptr_eq(f, flight))
            {
                state.flights.remove(key);
                if let Some(write) = write {
                    evicted =
                        state.install(hash, key, write, shard.write_tick(), shard.capacity, now);
                }
            }
        }
        bump(&shard.counters.evictions, evicted);
        if outcome.is_err() {
            bump(&shard.counters.load_failures, 1);
        }
        flight.complete(outcome);
    }

    /// Starts the background refresh of `key` unless another reader just did.
    fn start_refresh<F, Fut>(self: &Arc<Self>, hash: u64, key: K, fetch: F, now: Instant)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let shard = self.shard(hash);
        let ticket = {
            let mut state = shard.write();
            let ticket = state.take_refresh_ticket();
            match state.slot_mut(hash, &key) {
                Some(slot) if slot.is_fresh(now) && slot.wants_refresh(now) => {
                    slot.refreshing = Some(ticket);
                }
                _ => return,
            }
            ticket
        };
        bump(&shard.counters.refreshes, 1);
        let future = match panic::call(fetch) {
            Ok(future) => future,
            Err(message) => {
                let outcome = Err(CacheError::Panicked { message });
                self.finish_refresh(hash, &key, ticket, outcome);
                return;
            }
        };
        let inner = self.clone();
        let finish = Finish::new(move |outcome| inner.finish_refresh(hash, &key, ticket, outcome));
        let (rt, limit) = (self.rt.clone(), self.config.refresh_limit);
        self.rt
            .spawn(async move {
                let outcome = run_fetch(&rt, limit, future).await;
                finish.run(outcome);
            })
            .detach();
    }

    /// Applies a refresh's outcome if it still holds its entry's ticket; reports a failure.
    fn finish_refresh(&self, hash: u64, key: &K, ticket: u64, outcome: Result<V, CacheError<E>>) {
        let shard = self.shard(hash);
        let now = self.rt.now();
        let (write, error) = match outcome {
            Ok(value) => (Some(self.value_write(Ok(value), now)), None),
            Err(error) => (None, Some(error)),
        };
        {
            let mut state = shard.write();
            let current = state
                .slot(hash, key)
                .is_some_and(|slot| slot.refreshing == Some(ticket));
            if current {
                match write {
                    Some(write) => {
                        state.install(hash, key, write, shard.write_tick(), shard.capacity, now);
                    }
                    None => {
                        if let Some(slot) = state.slot_mut(hash, key) {
                            slot.refreshing = None;
                        }
                    }
                }
            }
        }
        if let Some(error) = error {
            if let Some(listener) = &self.on_refresh_error {
                // A panicking listener must not take the refresh bookkeeping down with it. Nor is
                // it called while this thread unwinds (a second panic would abort the process).
                if !std::thread::panicking() {
                    let _ = panic::call(|| listener(key, &error));
                }
            }
            // Counted after the listener ran: a failure seen in the stats has been reported.
            bump(&shard.counters.refresh_failures, 1);
        }
    }
}

/// Delivers a fetch task's outcome exactly once: when it finishes, or — if the executor drops the
/// task first — as [`CacheError::Cancelled`], so no reader waits for a task that is gone.
struct Finish<V, E> {
    deliver: Option<Deliver<V, E>>,
}

impl<V, E> Finish<V, E> {
    fn new(deliver: impl FnOnce(Outcome<V, E>) + Send + 'static) -> Self {
        Finish {
            deliver: Some(Box::new(deliver)),
        }
    }

    fn run(mut self, outcome: Outcome<V, E>) {
        if let Some(deliver) = self.deliver.take() {
            deliver(outcome);
        }
    }
}

impl<V, E> Drop for Finish<V, E> {
    fn drop(&mut self) {
        if let Some(deliver) = self.deliver.take() {
            deliver(Err(CacheError::Cancelled));
        }
    }
}

enum GetState<K, V, E, F> {
    Start {
        key: K,
        fetch: F,
    },
    Wait {
        flight: Arc<Flight<V, E>>,
        listener: Option<EventListener>,
    },
    Done,
}

/// The future returned by [`AsyncCache::get`].
///
/// # Cancel safety
///
/// Cancel safe: dropping it only stops this reader from waiting. The load it may have started runs
/// in its own task and still serves the other readers and the cache.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Get<'a, K, V, E, F> {
    cache: &'a AsyncCache<K, V, E>,
    state: GetState<K, V, E, F>,
}

// Nothing in a `Get` is ever pinned: the fetch closure is moved out and called, and its future is
// spawned, never polled in place.
impl<K, V, E, F> Unpin for Get<'_, K, V, E, F> {}

impl<K, V, E, F, Fut> Future for Get<'_, K, V, E, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    type Output = Result<V, CacheError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let GetState::Start { .. } = this.state {
            let GetState::Start { key, fetch } = std::mem::replace(&mut this.state, GetState::Done)
            else {
                unreachable!("checked just above")
            };
            match this.cache.inner.start_get(key, fetch) {
                Start::Ready(outcome) => return Poll::Ready(outcome),
                Start::Wait(flight) => {
                    this.state = GetState::Wait {
                        flight,
                        listener: None,
                    }
                }
            }
        }
        match &mut this.state {
            GetState::Wait { flight, listener } => {
                let outcome = std::task::ready!(flight.poll_outcome(listener, cx));
                this.state = GetState::Done;
                Poll::Ready(outcome)
            }
            GetState::Start { .. } | GetState::Done => {
                panic!("`Get` polled after it completed")
            }
        }
    }
}

impl<K, V, E, F> fmt::Debug for Get<'_, K, V, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            GetState::Start { .. } => "start",
            GetState::Wait { .. } => "waiting for a load",
            GetState::Done => "done",
        };
        f.debug_struct("Get").field("state", &state).finish()
    }
}
