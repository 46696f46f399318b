//! Reads, loads and refreshes: the cache's shared state ([`Inner`]) and its single-flight
//! machinery, under the public [`AsyncCache`](super::AsyncCache).
//!
//! # Implementation notes
//!
//! - **A hit is one read lock.** A read hashes its key once (with the cache's hasher, `S`),
//!   takes its shard from bits 32 and up of that hash, and serves a fresh value under the shard's
//!   read lock: one atomic tick (LRU order and hit count together) and one clone.
//! - **One flight per key.** A miss takes the write lock, looks again (a load may have installed
//!   the value between the two locks), and either joins the key's [`Flight`] or registers a new
//!   one — under that lock, so two misses never both start a load.
//! - **The load is driven by a reader, and handed on.** The reader that registers a flight
//!   polls the fetch in place (a boxed [`Load`]: the fetch under its limit, then
//!   `finish_load`), so the happy path spawns nothing. A driver dropped mid-fetch parks the load
//!   in its flight and wakes the other readers; the first to poll takes it over. The last reader
//!   to leave moves a pending load to a detached task on the runtime (see `flight`), so no
//!   reader's cancellation or panic strands the others or the cache. The outcome is delivered
//!   exactly once, by `LoadFinish`: when the fetch finishes, or as [`CacheError::Cancelled`] if
//!   the load is dropped unfinished (its task dropped by the executor).
//! - **A load installs only while it is current**: only if its flight is still the one
//!   registered for the key. `insert`, `invalidate` and `clear` remove the registration, so a
//!   load they overtook still answers its readers but never overwrites the newer state. The
//!   value is installed before the flight is completed, so a woken reader that reads again sees
//!   it.
//! - **Refresh tickets.** A background refresh holds its entry's ticket, taken under the write
//!   lock; only the holder of the current ticket may replace the value. A failed refresh gives
//!   the ticket back, so the next read in the window tries again; it runs under `refresh_limit`,
//!   so a stuck refresh blocks neither expiry nor later refreshes.
//! - **User code runs outside the locks, and contained**: the fetch closure, `V::clone` of a
//!   loaded value and the refresh-error hook under [`panic::call`], the fetch future inside
//!   `Contained` (see `flight`). Whatever they do, every flight is removed and completed; under a
//!   write lock only `K: Hash + Eq + Clone` and `V: Clone` run (see `store`).

use std::borrow::Borrow;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use super::clock::{self, CacheClock};
use super::error::CacheError;
use super::flight::{Flight, Load, run_fetch};
use super::metrics::CacheMetrics;
use super::stats::{CacheStats, bump};
use super::store::{Shard, ShardState, Write};
use crate::observe::{Name, event};
use crate::panic;
use crate::rt::Runtime;

/// The hook told of a failed background refresh ([`CacheBuilder::on_refresh_error`]).
///
/// [`CacheBuilder::on_refresh_error`]: super::CacheBuilder::on_refresh_error
pub(super) type RefreshListener<K, E> = Arc<dyn Fn(&K, &CacheError<E>) + Send + Sync>;

/// What a fetch (and so a read) ends with.
type Outcome<V, E> = Result<V, CacheError<E>>;

/// Hands a fetch task's outcome to the cache.
type Deliver<V, E> = Box<dyn FnOnce(Outcome<V, E>) + Send>;

/// The settings a cache runs by, checked by the builder.
pub(super) struct Config {
    pub(super) ttl: Option<Duration>,
    pub(super) refresh_after: Option<Duration>,
    pub(super) negative_ttl: Option<Duration>,
    pub(super) fetch_timeout: Option<Duration>,
    /// How long a background refresh may run: `min(fetch_timeout, ttl or refresh_after)`.
    pub(super) refresh_limit: Option<Duration>,
}

/// What every clone of one cache shares.
pub(super) struct Inner<K, V, E, S> {
    pub(super) rt: Runtime,
    /// Where every read and deadline takes its time (see `clock`).
    pub(super) clock: CacheClock,
    pub(super) name: Name,
    pub(super) metrics: CacheMetrics,
    pub(super) shards: Box<[Shard<K, V, E>]>,
    pub(super) shard_mask: usize,
    pub(super) hasher: S,
    pub(super) capacity: usize,
    pub(super) config: Config,
    pub(super) on_refresh_error: Option<RefreshListener<K, E>>,
}

/// How a read starts: answered at once, waiting for a load, or driving the load it started.
pub(super) enum Start<V, E> {
    Ready(Result<V, CacheError<E>>),
    Wait(Arc<Flight<V, E>>),
    Drive(Arc<Flight<V, E>>, Load),
}

impl<K, V, E, S> Inner<K, V, E, S> {
    /// The one hash of `key` that picks its shard and finds its entry and its flight there.
    /// (`K: Borrow<Q>` promises that a key and its borrowed form hash alike.)
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64
    where
        S: BuildHasher,
    {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Shard<K, V, E> {
        // Bits 32 and up: a shard's index takes the low bits of the hash to pick a bucket (and
        // the top seven as tags), so shards must not take theirs from there, or every key of a
        // shard would crowd into the same buckets.
        &self.shards[(hash >> 32) as usize & self.shard_mask]
    }

    /// Now, on the cache's clock.
    #[inline]
    fn now(&self) -> u64 {
        self.clock.now(&self.rt)
    }

    fn value_write(&self, value: Result<V, CacheError<E>>, now: u64) -> Write<V, E> {
        let at = |d: Option<Duration>| d.map(|d| clock::after(now, d));
        Write {
            value,
            refresh_at: at(self.config.refresh_after),
            expires_at: at(self.config.ttl),
        }
    }

    /// Installs `write` in `state` (of `shard`), keeping the entries gauge; returns how many
    /// entries were evicted, counted in the stats and the metrics.
    fn install(
        &self,
        shard: &Shard<K, V, E>,
        state: &mut ShardState<K, V, E>,
        hash: u64,
        key: &K,
        write: Write<V, E>,
        now: u64,
    ) -> u64
    where
        K: Hash + Eq + Clone,
    {
        let before = state.len();
        let evicted = state.install(hash, key, write, shard.write_tick(), shard.capacity, now);
        self.metrics.entries_changed(before, state.len());
        evicted
    }

    /// The error every reader gets when the fetch closure panics before returning its future.
    fn panicked(&self, message: String) -> CacheError<E> {
        CacheError::Panicked {
            name: self.name.shared(),
            message,
        }
    }

    fn count_evictions(&self, shard: &Shard<K, V, E>, evicted: u64) {
        bump(&shard.counters.evictions, evicted);
        self.metrics.evictions.increment(evicted);
    }

    fn count_hit(&self, shard: &Shard<K, V, E>) -> u64 {
        self.metrics.hits.increment(1);
        shard.hit_tick()
    }

    /// See [`AsyncCache::entry_count`](super::AsyncCache::entry_count).
    pub(super) fn entry_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// See [`AsyncCache::stats`](super::AsyncCache::stats).
    pub(super) fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        for shard in self.shards.iter() {
            stats.hits += shard.hits();
            shard.counters.add_to(&mut stats);
        }
        stats
    }
}

impl<K, V, E, S> Inner<K, V, E, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// See [`AsyncCache::peek`](super::AsyncCache::peek).
    pub(super) fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.now();
        let hash = self.hash(key);
        let state = self.shard(hash).read();
        let slot = state.slot(hash, key)?;
        match &slot.value {
            Ok(value) if slot.is_fresh(now) => Some(value.clone()),
            _ => None,
        }
    }

    /// See [`AsyncCache::insert`](super::AsyncCache::insert): installs `value` and detaches a
    /// load of `key` in flight.
    pub(super) fn insert(&self, key: K, value: V) {
        let now = self.now();
        let write = self.value_write(Ok(value), now);
        let hash = self.hash(&key);
        let shard = self.shard(hash);
        let evicted = {
            let mut state = shard.write();
            state.flights.remove(hash, &key);
            self.install(shard, &mut state, hash, &key, write, now)
        };
        self.count_evictions(shard, evicted);
    }

    /// See [`AsyncCache::invalidate`](super::AsyncCache::invalidate): removes `key`'s entry and
    /// detaches its load in flight.
    pub(super) fn invalidate<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let removed = {
            let mut state = self.shard(hash).write();
            state.flights.remove(hash, key);
            state.remove(hash, key)
        };
        if removed {
            self.metrics.invalidations.increment(1);
            self.metrics.entries_changed(1, 0);
        }
        removed
    }

    /// See [`AsyncCache::clear`](super::AsyncCache::clear).
    pub(super) fn clear(&self) {
        for shard in self.shards.iter() {
            let removed = {
                let mut state = shard.write();
                let removed = state.len();
                state.clear();
                removed
            };
            self.metrics.invalidations.increment(removed as u64);
            self.metrics.entries_changed(removed, 0);
        }
    }

    /// The synchronous part of [`AsyncCache::get`](super::AsyncCache::get): the hit path, or
    /// registering as (or joining) the load of `key`.
    pub(super) fn start_get<F, Fut>(self: &Arc<Self>, key: K, fetch: F) -> Start<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let now = self.now();
        let hash = self.hash(&key);
        let shard = self.shard(hash);
        {
            let state = shard.read();
            if let Some(slot) = state.slot(hash, &key)
                && slot.is_fresh(now)
            {
                slot.touch(self.count_hit(shard));
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
            slot.touch(self.count_hit(shard));
            let value = slot.value.clone();
            drop(state);
            return Start::Ready(value);
        }
        bump(&shard.counters.misses, 1);
        self.metrics.misses.increment(1);
        if let Some(flight) = state.flights.get(hash, &key) {
            flight.join();
            return Start::Wait(flight.clone());
        }
        let flight = Flight::new();
        state.flights.insert(hash, key.clone(), flight.clone());
        drop(state);
        bump(&shard.counters.loads, 1);
        match self.load(hash, key, fetch, &flight, now) {
            Some(load) => Start::Drive(flight, load),
            None => Start::Wait(flight),
        }
    }

    /// The load of `key` (a miss at `started`), for the reader that started it to drive: the fetch
    /// under its time limit, then [`finish_load`](Self::finish_load). `None` if the fetch closure
    /// panicked (the flight is then already completed with the panic).
    fn load<F, Fut>(
        self: &Arc<Self>,
        hash: u64,
        key: K,
        fetch: F,
        flight: &Arc<Flight<V, E>>,
        started: u64,
    ) -> Option<Load>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        // The flight is registered but nothing drives it yet: a panicking closure must still
        // complete it, or its readers would wait forever.
        let future = match panic::call(fetch) {
            Ok(future) => future,
            Err(message) => {
                let outcome = Err(self.panicked(message));
                self.finish_load(hash, &key, flight, outcome, started);
                return None;
            }
        };
        let finish = LoadFinish {
            inner: self.clone(),
            hash,
            key,
            flight: flight.clone(),
            started,
            finished: false,
        };
        let limit = self.config.fetch_timeout;
        Some(Box::pin(async move {
            let outcome = run_fetch(&finish.inner.rt, &finish.inner.name, limit, future).await;
            finish.run(outcome);
        }))
    }

    /// Runs a fetch's `future` in a detached task of its own, within `limit`, and hands its
    /// outcome to `finish` (which answers `Cancelled` if the executor drops the task instead).
    fn spawn_fetch<Fut>(&self, limit: Option<Duration>, future: Fut, finish: Finish<V, E>)
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (rt, name) = (self.rt.clone(), self.name.clone());
        self.rt
            .spawn(async move {
                let outcome = run_fetch(&rt, &name, limit, future).await;
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
        started: u64,
    ) {
        let shard = self.shard(hash);
        let now = self.now();
        let (outcome, write) = match outcome {
            // `V::clone` is user code: a value that cannot be cloned is not cached, and the
            // readers get the panic instead.
            Ok(value) => match panic::call(|| value.clone()) {
                Ok(copy) => (Ok(value), Some(self.value_write(Ok(copy), now))),
                Err(message) => {
                    let name = self.name.shared();
                    (Err(CacheError::Panicked { name, message }), None)
                }
            },
            Err(error) => {
                let write = match self.config.negative_ttl {
                    Some(ttl) if !error.is_cancelled() => Some(Write {
                        value: Err(error.clone()),
                        refresh_at: None,
                        expires_at: Some(clock::after(now, ttl)),
                    }),
                    _ => None,
                };
                (Err(error), write)
            }
        };
        let mut evicted = 0;
        {
            let mut state = shard.write();
            // Only while it is still the key's current load: unregistered, and its value installed.
            if state.flights.remove_if_current(hash, key, flight)
                && let Some(write) = write
            {
                evicted = self.install(shard, &mut state, hash, key, write, now);
            }
        }
        self.count_evictions(shard, evicted);
        let duration = clock::between(started, now);
        self.metrics.load_duration.record_duration(duration);
        if outcome.is_err() {
            bump(&shard.counters.load_failures, 1);
            self.metrics.loads_failed.increment(1);
        } else {
            self.metrics.loads_ok.increment(1);
        }
        event!(
            debug,
            "uno_core::cache",
            name = %self.name,
            outcome = outcome_label(&outcome),
            ?duration,
            "cache load finished"
        );
        flight.complete(outcome);
    }

    /// Starts the background refresh of `key` unless another reader just did.
    fn start_refresh<F, Fut>(self: &Arc<Self>, hash: u64, key: K, fetch: F, now: u64)
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
                let outcome = Err(self.panicked(message));
                self.finish_refresh(hash, &key, ticket, outcome, now);
                return;
            }
        };
        let inner = self.clone();
        let finish = Finish::new(&self.name, move |outcome| {
            inner.finish_refresh(hash, &key, ticket, outcome, now);
        });
        self.spawn_fetch(self.config.refresh_limit, future, finish);
    }

    /// Applies a refresh's outcome (of a refresh started at `started`) if it still holds its
    /// entry's ticket; reports a failure.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn finish_refresh(
        &self,
        hash: u64,
        key: &K,
        ticket: u64,
        outcome: Result<V, CacheError<E>>,
        started: u64,
    ) {
        let shard = self.shard(hash);
        let now = self.now();
        let duration = clock::between(started, now);
        let label = outcome_label(&outcome);
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
                        // Replaces the entry in place: nothing is evicted.
                        self.install(shard, &mut state, hash, key, write, now);
                    }
                    None => {
                        if let Some(slot) = state.slot_mut(hash, key) {
                            slot.refreshing = None;
                        }
                    }
                }
            }
        }
        let Some(error) = error else {
            self.metrics.refreshes_ok.increment(1);
            event!(
                debug,
                "uno_core::cache",
                name = %self.name,
                outcome = label,
                ?duration,
                "cache refresh finished"
            );
            return;
        };
        event!(
            warn,
            "uno_core::cache",
            name = %self.name,
            outcome = label,
            ?duration,
            "cache refresh failed"
        );
        if let Some(listener) = &self.on_refresh_error {
            // A panicking listener must not take the refresh bookkeeping down with it. Nor is it
            // called while this thread unwinds (a second panic would abort the process).
            if !std::thread::panicking() {
                let _ = panic::call(|| listener(key, &error));
            }
        }
        // Counted after the listener ran: a failure seen in the stats has been reported.
        bump(&shard.counters.refresh_failures, 1);
        self.metrics.refreshes_failed.increment(1);
    }
}

/// The `outcome` field of the cache's events: `ok`, `error`, `panic`, `timeout` or `cancelled`.
fn outcome_label<V, E>(outcome: &Outcome<V, E>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(CacheError::Failed { .. }) => "error",
        Err(CacheError::Panicked { .. }) => "panic",
        Err(CacheError::TimedOut { .. }) => "timeout",
        Err(CacheError::Cancelled { .. }) => "cancelled",
    }
}

/// Delivers a load's outcome exactly once: when its fetch finishes, or — if the load is dropped
/// first (its hand-over task dropped by the executor, or by a runtime shutting down) — as
/// [`CacheError::Cancelled`], so no reader waits for a load that is gone. A concrete type, not a
/// boxed closure as [`Finish`], so the hot miss path allocates nothing for it.
struct LoadFinish<K, V, E, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    inner: Arc<Inner<K, V, E, S>>,
    hash: u64,
    key: K,
    flight: Arc<Flight<V, E>>,
    started: u64,
    finished: bool,
}

impl<K, V, E, S> LoadFinish<K, V, E, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn run(mut self, outcome: Outcome<V, E>) {
        self.finished = true;
        let this = &self;
        this.inner
            .finish_load(this.hash, &this.key, &this.flight, outcome, this.started);
    }
}

impl<K, V, E, S> Drop for LoadFinish<K, V, E, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            let outcome = Err(CacheError::Cancelled {
                name: self.inner.name.shared(),
            });
            self.inner
                .finish_load(self.hash, &self.key, &self.flight, outcome, self.started);
        }
    }
}

/// Delivers a refresh task's outcome exactly once: when it finishes, or — if the executor drops the
/// task first — as [`CacheError::Cancelled`], so no reader waits for a task that is gone.
struct Finish<V, E> {
    deliver: Option<Deliver<V, E>>,
    name: Name,
}

impl<V, E> Finish<V, E> {
    fn new(name: &Name, deliver: impl FnOnce(Outcome<V, E>) + Send + 'static) -> Self {
        Finish {
            deliver: Some(Box::new(deliver)),
            name: name.clone(),
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
            deliver(Err(CacheError::Cancelled {
                name: self.name.shared(),
            }));
        }
    }
}
