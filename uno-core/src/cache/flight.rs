//! Single-flight: one shared outcome per load, the table of a shard's loads in flight, and the
//! fetch runner that turns a panic or a timeout into a [`CacheError`] instead of a hang.

use std::borrow::Borrow;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::{Event, EventListener};
use hashbrown::HashTable;

use super::error::CacheError;
use crate::loom::Mutex;
use crate::observe::Name;
use crate::panic::Contained;
use crate::rt::Runtime;

/// A load's fetch and its delivery, boxed so that whichever reader drives it can hand it on:
/// to another reader, or to a spawned task when none is left.
pub(super) type Load = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The outcome of one load, shared by every reader that missed while it ran, and the hand-over of
/// its fetch between them.
///
/// The fetch is driven in place by one reader at a time (it holds the [`Load`]). A driver that is
/// dropped before the load finished hands it on in [`leave`](Self::leave): to the flight's slot,
/// waking the other readers so one of them takes it on its next poll, or — if no reader is left
/// — to a detached task on the cache's runtime, so the load still completes and fills the cache.
/// Only that unhappy path spawns. `readers` counts the readers that have not left; it and the
/// slot change together under one lock, so a load is never parked with nobody to take it.
pub(super) struct Flight<V, E> {
    outcome: OnceLock<Result<V, CacheError<E>>>,
    /// Notified when the outcome is published and when a load is parked for a new driver.
    done: Event,
    handover: Mutex<Handover>,
}

struct Handover {
    /// A load whose driver left, waiting for another reader to take it.
    parked: Option<Load>,
    readers: usize,
}

/// What a waiting reader finds.
pub(super) enum Waited<V, E> {
    Outcome(Result<V, CacheError<E>>),
    /// The driver left: this reader drives the load on.
    TakeOver(Load),
}

impl<V: Clone, E> Flight<V, E> {
    /// A flight with one reader, the one starting the load.
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Flight {
            outcome: OnceLock::new(),
            done: Event::new(),
            handover: Mutex::new(Handover {
                parked: None,
                readers: 1,
            }),
        })
    }

    /// Counts one more reader (under the shard's lock, while the flight is registered).
    pub(super) fn join(&self) {
        self.handover.lock().readers += 1;
    }

    /// Publishes the outcome (the first one wins) and wakes every waiter.
    pub(super) fn complete(&self, outcome: Result<V, CacheError<E>>) {
        let _ = self.outcome.set(outcome);
        // `notify` would allocate the event's list even when nobody ever listened (a driver that
        // found its value at once): skip it then. The fence pairs with the one in `poll_wait`,
        // after a listener registers and before it checks the outcome again: either it sees the
        // outcome, or this sees it listening.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if self.done.total_listeners() > 0 {
            self.done.notify(usize::MAX);
        }
    }

    /// Polls for the outcome, or for a parked load to drive on; listening first and checking
    /// again so a `complete` or a hand-over in between is never missed.
    pub(super) fn poll_wait(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<Waited<V, E>> {
        loop {
            if let Some(outcome) = self.outcome.get() {
                *listener = None;
                return Poll::Ready(Waited::Outcome(outcome.clone()));
            }
            if let Some(load) = self.handover.lock().parked.take() {
                *listener = None;
                return Poll::Ready(Waited::TakeOver(load));
            }
            match listener {
                None => {
                    *listener = Some(self.done.listen());
                    // Pairs with the fence in `complete`, which skips `notify` when it sees no
                    // listener: either this check again sees the outcome, or `complete` sees us.
                    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                }
                Some(l) => {
                    if Pin::new(l).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *listener = None;
                }
            }
        }
    }

    /// The outcome, once published.
    pub(super) fn outcome(&self) -> Option<Result<V, CacheError<E>>> {
        self.outcome.get().cloned()
    }
}

impl<V, E> Flight<V, E> {
    /// A reader leaves before it got the outcome, with the load if it was driving it. The load
    /// goes to the readers still waiting, or, if none is left, to a task of its own on `rt`.
    pub(super) fn leave(&self, load: Option<Load>, rt: &Runtime) {
        let (parked, orphan) = {
            let mut handover = self.handover.lock();
            handover.readers = handover.readers.saturating_sub(1);
            match load {
                Some(load) if handover.readers > 0 => {
                    handover.parked = Some(load);
                    (true, None)
                }
                Some(load) => (false, Some(load)),
                // The last reader leaves while a load is parked for it: nobody will take it.
                None if handover.readers == 0 => (false, handover.parked.take()),
                None => (false, None),
            }
        };
        if parked {
            self.done.notify(usize::MAX);
        }
        // Spawned outside the lock: a spawner that drops the future at once (a runtime shutting
        // down) runs the load's `Drop`, which delivers `Cancelled` through the shard's lock.
        if let Some(load) = orphan {
            rt.spawn(load).detach();
        }
    }
}

/// A shard's loads in flight, by key, found by the hash the operation already computed (so a miss
/// hashes its key once, not once per table). A load installs its value only while it is still
/// registered here, so `invalidate`/`clear`/`insert` during a load keep its (older) result out of
/// the cache.
pub(super) struct Flights<K, V, E> {
    table: HashTable<FlightEntry<K, V, E>>,
}

struct FlightEntry<K, V, E> {
    /// `key`'s hash, kept for the table's rehashing when it grows.
    hash: u64,
    key: K,
    flight: Arc<Flight<V, E>>,
}

impl<K, V, E> Flights<K, V, E> {
    pub(super) fn new() -> Self {
        Flights {
            table: HashTable::new(),
        }
    }

    pub(super) fn clear(&mut self) {
        self.table.clear();
    }
}

impl<K: Eq, V, E> Flights<K, V, E> {
    /// The load in flight for `key` (whose hash is `hash`).
    pub(super) fn get<Q>(&self, hash: u64, key: &Q) -> Option<&Arc<Flight<V, E>>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let entry = self.table.find(hash, |e| e.key.borrow() == key)?;
        Some(&entry.flight)
    }

    /// Registers `flight` as the load of `key`, which has none (checked by the caller under the
    /// same lock).
    pub(super) fn insert(&mut self, hash: u64, key: K, flight: Arc<Flight<V, E>>) {
        let entry = FlightEntry { hash, key, flight };
        self.table.insert_unique(hash, entry, |e| e.hash);
    }

    /// Removes the registration of `key`'s load, detaching it: it still answers its readers, but
    /// installs nothing.
    pub(super) fn remove<Q>(&mut self, hash: u64, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if let Ok(entry) = self.table.find_entry(hash, |e| e.key.borrow() == key) {
            entry.remove();
        }
    }

    /// Removes `flight`'s registration if it is still the current load of `key`; whether it was.
    pub(super) fn remove_if_current(
        &mut self,
        hash: u64,
        key: &K,
        flight: &Arc<Flight<V, E>>,
    ) -> bool {
        let current = |e: &FlightEntry<K, V, E>| Arc::ptr_eq(&e.flight, flight) && e.key == *key;
        match self.table.find_entry(hash, current) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }
}

/// Runs one fetch future to an outcome: its value, its error (shared), its panic, or a timeout.
///
/// The future's panics are contained wherever they happen — in a poll, in its `Drop` once it
/// completed, or in its `Drop` when the time limit abandons it — and become
/// [`CacheError::Panicked`], so the task delivering the outcome never unwinds past it.
pub(super) async fn run_fetch<V, E, Fut>(
    rt: &Runtime,
    name: &Name,
    limit: Option<Duration>,
    fetch: Fut,
) -> Result<V, CacheError<E>>
where
    Fut: Future<Output = Result<V, E>>,
{
    let mut fetch = pin!(Contained::new(fetch));
    let output = match limit {
        Some(limit) => {
            // No message: the cache's error says what timed out, the `Elapsed` (its source) how long.
            let outcome = rt.timeout(limit, "", fetch.as_mut()).await;
            match outcome {
                Ok(output) => output,
                // A panic while dropping the abandoned fetch is the more specific fault.
                Err(elapsed) => {
                    let name = name.shared();
                    return Err(match fetch.as_mut().cancel() {
                        Ok(()) => CacheError::TimedOut { name, elapsed },
                        Err(message) => CacheError::Panicked { name, message },
                    });
                }
            }
        }
        None => fetch.as_mut().await,
    };
    match output {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CacheError::Failed {
            name: name.shared(),
            error: Arc::new(error),
        }),
        Err(message) => Err(CacheError::Panicked {
            name: name.shared(),
            message,
        }),
    }
}
