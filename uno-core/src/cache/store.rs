//! The storage: shards of entries under `std::sync::RwLock`s, with sampled-LRU eviction.
//!
//! A shard keeps its entries in a dense `Vec` (so eviction can sample random entries in O(1))
//! indexed by a `HashMap<K, usize>`, plus the loads in flight for keys it does not hold fresh.
//! No lock here is ever held across an `.await`, and no user code runs under a write lock except
//! `K: Hash + Eq` and `V: Clone`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use super::error::CacheError;
use super::flight::Flight;
use super::stats::Counters;

/// Up to this many entries a shard scans all of them for the victim (exact LRU); above, it samples
/// this many at random (approximate LRU, as Redis does).
pub(super) const EVICTION_SAMPLE: usize = 16;

/// One cached value (or cached error, under a negative TTL) and its clocks.
pub(super) struct Slot<K, V, E> {
    key: K,
    pub(super) value: Result<V, CacheError<E>>,
    /// When reads start a background refresh (`None`: never, e.g. for cached errors).
    refresh_at: Option<Instant>,
    /// When the entry stops being served (`None`: never).
    expires_at: Option<Instant>,
    /// The shard's access tick at the last read or write: the LRU order. Written under a read lock,
    /// hence atomic.
    last_access: AtomicU64,
    /// The ticket of the refresh in flight, if any. Only the refresh holding the current ticket may
    /// replace the value, so a superseded or invalidated refresh can never write a stale value.
    pub(super) refreshing: Option<u64>,
}

impl<K, V, E> Slot<K, V, E> {
    pub(super) fn is_fresh(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether a read at `now` should start a refresh (none is in flight and the window is open).
    pub(super) fn wants_refresh(&self, now: Instant) -> bool {
        self.refreshing.is_none() && self.refresh_at.is_some_and(|at| now >= at)
    }

    pub(super) fn touch(&self, tick: u64) {
        self.last_access.store(tick, Ordering::Relaxed);
    }
}

/// What a write installs: the value or cached error and its deadlines.
pub(super) struct Write<V, E> {
    pub(super) value: Result<V, CacheError<E>>,
    pub(super) refresh_at: Option<Instant>,
    pub(super) expires_at: Option<Instant>,
}

pub(super) struct ShardState<K, V, E> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V, E>>,
    /// Loads in flight, by key. A load installs its value only while it is still registered here,
    /// so `invalidate`/`clear`/`insert` during a load keep its (older) result out of the cache.
    pub(super) flights: HashMap<K, Arc<Flight<V, E>>>,
    next_refresh_ticket: u64,
    rng: u64,
}

impl<K, V, E> ShardState<K, V, E> {
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}

impl<K: Hash + Eq + Clone, V, E> ShardState<K, V, E> {
    pub(super) fn slot<Q>(&self, key: &Q) -> Option<&Slot<K, V, E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(key).map(|&i| &self.slots[i])
    }

    pub(super) fn slot_mut<Q>(&mut self, key: &Q) -> Option<&mut Slot<K, V, E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(key).map(|&i| &mut self.slots[i])
    }

    pub(super) fn take_refresh_ticket(&mut self) -> u64 {
        self.next_refresh_ticket += 1;
        self.next_refresh_ticket
    }

    /// Installs `write` for `key`, replacing an existing entry in place or evicting to make room.
    /// Returns how many entries were evicted.
    pub(super) fn install(
        &mut self,
        key: &K,
        write: Write<V, E>,
        tick: u64,
        capacity: usize,
        now: Instant,
    ) -> u64 {
        if let Some(slot) = self.slot_mut(key) {
            slot.value = write.value;
            slot.refresh_at = write.refresh_at;
            slot.expires_at = write.expires_at;
            slot.refreshing = None;
            slot.touch(tick);
            return 0;
        }
        let mut evicted = 0;
        while self.slots.len() >= capacity {
            let victim = self.victim(now);
            let victim_key = self.slots[victim].key.clone();
            self.remove(&victim_key);
            evicted += 1;
        }
        self.index.insert(key.clone(), self.slots.len());
        self.slots.push(Slot {
            key: key.clone(),
            value: write.value,
            refresh_at: write.refresh_at,
            expires_at: write.expires_at,
            last_access: AtomicU64::new(tick),
            refreshing: None,
        });
        evicted
    }

    /// Removes `key`'s entry; whether there was one.
    pub(super) fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(i) = self.index.remove(key) else {
            return false;
        };
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            // The last entry moved into the hole: point its index there.
            if let Some(position) = self.index.get_mut::<K>(&moved.key) {
                *position = i;
            }
        }
        true
    }

    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.flights.clear();
    }

    /// The entry to evict: an expired one if the candidates hold one, else the least recently used
    /// candidate. Candidates are all entries up to [`EVICTION_SAMPLE`], else a random sample.
    fn victim(&mut self, now: Instant) -> usize {
        let score = |slot: &Slot<K, V, E>| {
            if slot.is_fresh(now) {
                slot.last_access.load(Ordering::Relaxed).saturating_add(1)
            } else {
                0
            }
        };
        let len = self.slots.len();
        if len <= EVICTION_SAMPLE {
            return (0..len).min_by_key(|&i| score(&self.slots[i])).unwrap_or(0);
        }
        let mut best = (u64::MAX, 0);
        for _ in 0..EVICTION_SAMPLE {
            let i = (self.next_random() % len as u64) as usize;
            let s = score(&self.slots[i]);
            if s < best.0 {
                best = (s, i);
            }
        }
        best.1
    }

    /// xorshift64*: sampling needs speed, not quality.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One shard, aligned to its own cache lines so that shards do not falsely share them.
#[repr(align(128))]
pub(super) struct Shard<K, V, E> {
    state: RwLock<ShardState<K, V, E>>,
    /// The LRU clock: one tick per hit or write. It doubles as the hit counter (hits are the ticks
    /// not taken by writes), so a hit pays one atomic add for its LRU tick and its count together.
    clock: AtomicU64,
    /// Ticks taken by writes; only touched under the write lock, off the hit path.
    write_ticks: AtomicU64,
    pub(super) capacity: usize,
    pub(super) counters: Counters,
}

impl<K, V, E> Shard<K, V, E> {
    pub(super) fn new(capacity: usize, seed: u64) -> Self {
        Shard {
            state: RwLock::new(ShardState {
                index: HashMap::new(),
                slots: Vec::new(),
                flights: HashMap::new(),
                next_refresh_ticket: 0,
                rng: seed | 1,
            }),
            clock: AtomicU64::new(0),
            write_ticks: AtomicU64::new(0),
            capacity,
            counters: Counters::default(),
        }
    }

    // A panic under these locks (in `K: Hash`/`Eq` or `V: Clone`) leaves the shard consistent
    // enough to go on; poisoning must not turn one user panic into a panic on every later read.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, ShardState<K, V, E>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, ShardState<K, V, E>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// An LRU tick for a hit; counts the hit.
    pub(super) fn hit_tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// An LRU tick for a write (an install), which is not a hit.
    pub(super) fn write_tick(&self) -> u64 {
        self.write_ticks.fetch_add(1, Ordering::Relaxed);
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// How many hits this shard has served.
    pub(super) fn hits(&self) -> u64 {
        // Writes bump `write_ticks` before `clock`; reading in the opposite order keeps the
        // difference from going negative on a quiet shard, and saturating covers a racing one.
        let writes = self.write_ticks.load(Ordering::Relaxed);
        self.clock.load(Ordering::Relaxed).saturating_sub(writes)
    }
}
