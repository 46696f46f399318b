//! [`CacheStats`], and the counters each shard keeps for it.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of an [`AsyncCache`](super::AsyncCache)'s counters, from
/// [`stats`](super::AsyncCache::stats).
///
/// Counters only grow (until the cache is dropped); subtract two snapshots to measure a period.
/// Under concurrent use a snapshot is not atomic across counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from the cache (a fresh value, a value in its refresh window, or a cached
    /// error under a negative TTL).
    pub hits: u64,
    /// Reads that found no fresh entry and so waited for a fetch (their own or a shared one).
    pub misses: u64,
    /// Fetches started for misses. Concurrent misses of one key share one load.
    pub loads: u64,
    /// Loads that ended in an error (including panics, timeouts and dropped fetch tasks).
    pub load_failures: u64,
    /// Background refreshes started (refresh-before-expiry).
    pub refreshes: u64,
    /// Background refreshes that failed; the old value was kept until its expiry.
    pub refresh_failures: u64,
    /// Entries removed to make room under the capacity bound.
    pub evictions: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or `1.0` before any read.
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
    /// assert_eq!(cache.stats().hit_rate(), 1.0); // no reads yet
    /// for _ in 0..4 {
    ///     cache.get(1, || async { Ok(1) }).await.unwrap(); // one miss, then three hits
    /// }
    /// assert_eq!(cache.stats().hit_rate(), 0.75);
    /// # });
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let reads = self.hits + self.misses;
        if reads == 0 {
            1.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

/// Live counters of one shard (all but hits, which the shard's LRU clock counts); summed into a
/// [`CacheStats`]. Relaxed: they are statistics, and no other memory is published through them.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) misses: AtomicU64,
    pub(super) loads: AtomicU64,
    pub(super) load_failures: AtomicU64,
    pub(super) refreshes: AtomicU64,
    pub(super) refresh_failures: AtomicU64,
    pub(super) evictions: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64, by: u64) {
    if by != 0 {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

impl Counters {
    pub(super) fn add_to(&self, stats: &mut CacheStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.misses += get(&self.misses);
        stats.loads += get(&self.loads);
        stats.load_failures += get(&self.load_failures);
        stats.refreshes += get(&self.refreshes);
        stats.refresh_failures += get(&self.refresh_failures);
        stats.evictions += get(&self.evictions);
    }
}
