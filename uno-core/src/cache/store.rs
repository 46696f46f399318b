//! The storage: shards of entries under `std::sync::RwLock`s, with sampled-LRU eviction.
//!
//! A shard keeps its entries in a dense `Vec` (so eviction can sample random entries in O(1))
//! indexed by their keys' hashes, plus the loads in flight for keys it does not hold fresh.
//! The cache hashes each key once, with its own hasher, and picks the shard from that hash; the
//! index and the flights table reuse the same hash (a pass-through hasher, a `HashTable`), so an
//! operation hashes its key once. No lock here is ever held across an `.await`, and no user code runs under a
//! write lock except `K: Hash + Eq + Clone` and `V: Clone`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::CacheError;
use super::flight::Flights;
use super::stats::Counters;
use crate::loom::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Up to this many entries a shard scans all of them for the victim (exact LRU); above, it samples
/// this many at random (approximate LRU, as Redis does).
pub(super) const EVICTION_SAMPLE: usize = 16;

/// One cached value (or cached error, under a negative TTL) and its deadlines, in nanoseconds on
/// the cache's clock.
pub(super) struct Slot<K, V, E> {
    key: K,
    /// `key`'s hash, kept so that moving or evicting the entry needs no rehash.
    hash: u64,
    pub(super) value: Result<V, CacheError<E>>,
    /// When reads start a background refresh (`None`: never, e.g. for cached errors).
    refresh_at: Option<u64>,
    /// When the entry stops being served (`None`: never).
    expires_at: Option<u64>,
    /// The shard's access tick at the last read or write: the LRU order. Written under a read lock,
    /// hence atomic.
    last_access: AtomicU64,
    /// The ticket of the refresh in flight, if any. Only the refresh holding the current ticket may
    /// replace the value, so a superseded or invalidated refresh can never write a stale value.
    pub(super) refreshing: Option<u64>,
}

impl<K, V, E> Slot<K, V, E> {
    pub(super) fn is_fresh(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether a read at `now` should start a refresh (none is in flight and the window is open).
    pub(super) fn wants_refresh(&self, now: u64) -> bool {
        self.refreshing.is_none() && self.refresh_at.is_some_and(|at| now >= at)
    }

    pub(super) fn touch(&self, tick: u64) {
        self.last_access.store(tick, Ordering::Relaxed);
    }
}

/// What a write installs: the value or cached error and its deadlines.
pub(super) struct Write<V, E> {
    pub(super) value: Result<V, CacheError<E>>,
    pub(super) refresh_at: Option<u64>,
    pub(super) expires_at: Option<u64>,
}

/// The index's hasher: its keys are hashes the cache has already computed (with its seeded
/// hasher, so they stay unpredictable to a client choosing keys), passed through unchanged.
#[derive(Default)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; this just keeps the hasher correct for anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// The positions in `slots` of the entries whose keys share one 64-bit hash: nearly always one.
enum Bucket {
    One(usize),
    Many(Vec<usize>),
}

impl Bucket {
    fn replace(&mut self, from: usize, to: usize) {
        match self {
            Bucket::One(i) => *i = to,
            Bucket::Many(positions) => {
                if let Some(i) = positions.iter_mut().find(|i| **i == from) {
                    *i = to;
                }
            }
        }
    }
}

pub(super) struct ShardState<K, V, E> {
    /// Entry positions by key hash; keys are compared in `slots`.
    index: HashMap<u64, Bucket, BuildHasherDefault<PassThrough>>,
    slots: Vec<Slot<K, V, E>>,
    /// Loads in flight for keys this shard does not hold fresh.
    pub(super) flights: Flights<K, V, E>,
    next_refresh_ticket: u64,
    /// Picks the eviction candidates: sampling needs speed, not quality.
    rng: fastrand::Rng,
}

impl<K, V, E> ShardState<K, V, E> {
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}

impl<K: Hash + Eq + Clone, V, E> ShardState<K, V, E> {
    /// The position of `key`'s entry; `hash` is `key`'s hash by the cache's hasher.
    fn position<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let is_key = |i: usize| self.slots[i].key.borrow() == key;
        match self.index.get(&hash)? {
            &Bucket::One(i) => is_key(i).then_some(i),
            Bucket::Many(positions) => positions.iter().copied().find(|&i| is_key(i)),
        }
    }

    pub(super) fn slot<Q>(&self, hash: u64, key: &Q) -> Option<&Slot<K, V, E>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.position(hash, key).map(|i| &self.slots[i])
    }

    pub(super) fn slot_mut<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut Slot<K, V, E>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.position(hash, key).map(|i| &mut self.slots[i])
    }

    pub(super) fn take_refresh_ticket(&mut self) -> u64 {
        self.next_refresh_ticket += 1;
        self.next_refresh_ticket
    }

    /// Installs `write` for `key` (whose hash is `hash`), replacing an existing entry in place or
    /// evicting to make room. Returns how many entries were evicted.
    pub(super) fn install(
        &mut self,
        hash: u64,
        key: &K,
        write: Write<V, E>,
        tick: u64,
        capacity: usize,
        now: u64,
    ) -> u64 {
        if let Some(slot) = self.slot_mut(hash, key) {
            slot.value = write.value;
            slot.refresh_at = write.refresh_at;
            slot.expires_at = write.expires_at;
            slot.refreshing = None;
            slot.touch(tick);
            return 0;
        }
        // Cloned before anything changes, so a panicking `Clone` leaves the shard as it was.
        let key = key.clone();
        let mut evicted = 0;
        while self.slots.len() >= capacity {
            let victim = self.victim(now);
            self.remove_at(victim);
            evicted += 1;
        }
        let position = self.slots.len();
        match self.index.entry(hash) {
            Entry::Vacant(entry) => {
                entry.insert(Bucket::One(position));
            }
            Entry::Occupied(mut entry) => {
                let bucket = entry.get_mut();
                match bucket {
                    Bucket::One(other) => *bucket = Bucket::Many(vec![*other, position]),
                    Bucket::Many(positions) => positions.push(position),
                }
            }
        }
        self.slots.push(Slot {
            key,
            hash,
            value: write.value,
            refresh_at: write.refresh_at,
            expires_at: write.expires_at,
            last_access: AtomicU64::new(tick),
            refreshing: None,
        });
        evicted
    }

    /// Removes `key`'s entry; whether there was one.
    pub(super) fn remove<Q>(&mut self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.position(hash, key) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    /// Removes the entry at position `i`. Runs no user code, so it cannot stop half-way.
    fn remove_at(&mut self, i: usize) {
        let hash = self.slots[i].hash;
        if let Entry::Occupied(mut entry) = self.index.entry(hash) {
            match entry.get_mut() {
                Bucket::One(_) => {
                    entry.remove();
                }
                Bucket::Many(positions) => {
                    positions.retain(|&p| p != i);
                    if let [only] = positions[..] {
                        entry.insert(Bucket::One(only));
                    }
                }
            }
        }
        let last = self.slots.len() - 1;
        self.slots.swap_remove(i);
        if i != last {
            // The last entry moved into the hole: point its index there.
            let moved = self.slots[i].hash;
            if let Some(bucket) = self.index.get_mut(&moved) {
                bucket.replace(last, i);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.flights.clear();
    }

    /// The entry to evict: an expired one if the candidates hold one, else the least recently used
    /// candidate. Candidates are all entries up to [`EVICTION_SAMPLE`], else a random sample.
    fn victim(&mut self, now: u64) -> usize {
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
            let i = self.rng.usize(..len);
            let s = score(&self.slots[i]);
            if s < best.0 {
                best = (s, i);
            }
        }
        best.1
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
                index: HashMap::default(),
                slots: Vec::new(),
                flights: Flights::new(),
                next_refresh_ticket: 0,
                rng: fastrand::Rng::with_seed(seed),
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
        self.state.read()
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, ShardState<K, V, E>> {
        self.state.write()
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

#[cfg(test)]
mod tests {
    use super::{Shard, Write};

    fn write(value: u32) -> Write<u32, ()> {
        Write {
            value: Ok(value),
            refresh_at: None,
            expires_at: None,
        }
    }

    fn value(state: &super::ShardState<String, u32, ()>, hash: u64, key: &str) -> Option<u32> {
        state
            .slot(hash, key)
            .map(|slot| *slot.value.as_ref().unwrap())
    }

    /// Distinct keys whose 64-bit hashes collide share one index bucket; each is still found,
    /// replaced, moved and removed on its own.
    #[test]
    fn colliding_hashes_keep_keys_apart() {
        let shard: Shard<String, u32, ()> = Shard::new(8, 1);
        let mut state = shard.write();
        let now = 0;
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            state.install(7, &key.to_owned(), write(i as u32), 0, 8, now);
        }
        state.install(9, &"d".to_owned(), write(3), 0, 8, now);
        assert_eq!(state.len(), 4);
        assert_eq!(value(&state, 7, "b"), Some(1));
        assert_eq!(
            value(&state, 7, "d"),
            None,
            "same key, other hash: not found"
        );

        state.install(7, &"b".to_owned(), write(10), 0, 8, now);
        assert_eq!((state.len(), value(&state, 7, "b")), (4, Some(10)));

        // Removing "a" moves the last entry ("d") into its place; every key stays reachable.
        assert!(state.remove(7, "a"));
        assert!(!state.remove(7, "a"));
        assert_eq!(value(&state, 7, "a"), None);
        assert_eq!(value(&state, 7, "b"), Some(10));
        assert_eq!(value(&state, 7, "c"), Some(2));
        assert_eq!(value(&state, 9, "d"), Some(3));

        assert!(state.remove(7, "c"));
        assert!(state.remove(7, "b"));
        assert_eq!(value(&state, 9, "d"), Some(3));
        assert_eq!(state.len(), 1);
        assert!(state.index.len() == 1 && state.slots.len() == 1);
    }

    /// Eviction in a full shard keeps the index pointing at the right entries.
    #[test]
    fn eviction_keeps_the_index_consistent() {
        let shard: Shard<String, u32, ()> = Shard::new(3, 1);
        let mut state = shard.write();
        let now = 0;
        for i in 0..20u32 {
            let evicted = state.install(
                u64::from(i % 4),
                &i.to_string(),
                write(i),
                u64::from(i),
                3,
                now,
            );
            assert_eq!(evicted, u64::from(i >= 3));
            assert!(state.len() <= 3);
            // The entry just written is the most recently used: never the victim.
            assert_eq!(value(&state, u64::from(i % 4), &i.to_string()), Some(i));
        }
        let positions: usize = state
            .index
            .values()
            .map(|bucket| match bucket {
                super::Bucket::One(_) => 1,
                super::Bucket::Many(positions) => positions.len(),
            })
            .sum();
        assert_eq!(positions, state.len());
        for i in 17..20u32 {
            assert_eq!(value(&state, u64::from(i % 4), &i.to_string()), Some(i));
        }
    }
}
