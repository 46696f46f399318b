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
use crate::observe::Name;
use crate::panic::Contained;
use crate::rt::Runtime;

/// The outcome of one load, shared by every reader that missed while it ran.
pub(super) struct Flight<V, E> {
    outcome: OnceLock<Result<V, CacheError<E>>>,
    done: Event,
}

impl<V: Clone, E> Flight<V, E> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Flight {
            outcome: OnceLock::new(),
            done: Event::new(),
        })
    }

    /// Publishes the outcome (the first one wins) and wakes every waiter.
    pub(super) fn complete(&self, outcome: Result<V, CacheError<E>>) {
        let _ = self.outcome.set(outcome);
        self.done.notify(usize::MAX);
    }

    /// Polls for the outcome, listening first and checking again so a `complete` in between is
    /// never missed.
    pub(super) fn poll_outcome(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<V, CacheError<E>>> {
        loop {
            if let Some(outcome) = self.outcome.get() {
                *listener = None;
                return Poll::Ready(outcome.clone());
            }
            match listener {
                None => *listener = Some(self.done.listen()),
                Some(l) => {
                    if Pin::new(l).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *listener = None;
                }
            }
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
