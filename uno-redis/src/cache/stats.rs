//! [`TwoLevelStats`], and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};

use uno_core::cache::CacheStats;

/// A snapshot of one instance's counters, from
/// [`TwoLevelCache::stats`](super::TwoLevelCache::stats). Counters only grow; subtract two
/// snapshots to measure a period. Under concurrent use a snapshot is not atomic across counters.
///
/// # Examples
///
/// ```
/// use uno_redis::cache::TwoLevelStats;
///
/// let stats = TwoLevelStats::default();
/// assert_eq!(stats.l1.hits + stats.l2_hits + stats.fetches + stats.fallbacks, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TwoLevelStats {
    /// The L1 (in-process [`AsyncCache`](uno_core::cache::AsyncCache)) counters: its hits are
    /// reads that never reached Redis, its loads the reads that did.
    pub l1: CacheStats,
    /// Loads answered by a value found in Redis.
    pub l2_hits: u64,
    /// Loads that found no value in Redis.
    pub l2_misses: u64,
    /// Fetches this instance ran as the key's lease holder (loads and refreshes).
    pub fetches: u64,
    /// Fetches this instance ran after taking over the lease of a holder that neither filled nor
    /// released it (it died, or hung past its lease): included in `fetches`.
    pub takeovers: u64,
    /// Loads that waited for another instance's fill.
    pub waits: u64,
    /// Refreshes answered by a value another instance had just refreshed (no fetch here).
    pub refreshes_shared: u64,
    /// Fills refused because the lease was no longer this instance's (an invalidation overtook
    /// the fetch, or the lease expired): the value reached this load's readers, not Redis.
    pub fills_refused: u64,
    /// Fail-open loads that fetched directly because Redis could not be asked.
    pub fallbacks: u64,
    /// Redis calls that failed (timeouts, lost connections, error replies).
    pub redis_errors: u64,
    /// Invalidations received from the broadcast channel (this instance's own included).
    pub invalidations_received: u64,
    /// Times the invalidation subscription was (re-)established after a loss; each clears L1.
    pub resubscribes: u64,
}

/// The live counters (all but L1's, which the `AsyncCache` keeps). Relaxed: statistics only.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) l2_hits: AtomicU64,
    pub(super) l2_misses: AtomicU64,
    pub(super) fetches: AtomicU64,
    pub(super) takeovers: AtomicU64,
    pub(super) waits: AtomicU64,
    pub(super) refreshes_shared: AtomicU64,
    pub(super) fills_refused: AtomicU64,
    pub(super) fallbacks: AtomicU64,
    pub(super) redis_errors: AtomicU64,
    pub(super) invalidations_received: AtomicU64,
    pub(super) resubscribes: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn snapshot(&self, l1: CacheStats) -> TwoLevelStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TwoLevelStats {
            l1,
            l2_hits: get(&self.l2_hits),
            l2_misses: get(&self.l2_misses),
            fetches: get(&self.fetches),
            takeovers: get(&self.takeovers),
            waits: get(&self.waits),
            refreshes_shared: get(&self.refreshes_shared),
            fills_refused: get(&self.fills_refused),
            fallbacks: get(&self.fallbacks),
            redis_errors: get(&self.redis_errors),
            invalidations_received: get(&self.invalidations_received),
            resubscribes: get(&self.resubscribes),
        }
    }
}
