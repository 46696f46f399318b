//! The per-key queue of this process's waiters.
//!
//! A waiter refused once joins its key's queue; only the front waiter of each key sleeps and asks
//! Redis again, so waiters of one process are served in arrival order (FIFO-ish: `async-lock`'s
//! mutex is fair under contention) and do not stampede the server. Waiters of other processes
//! compete through the script itself. A newcomer that finds its key queued joins the queue
//! instead of overtaking it.
//!
//! Queues exist only while someone waits: the last waiter to leave removes its key's entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_lock::{Mutex as TurnLock, MutexGuardArc};

#[derive(Default)]
pub(super) struct Queues {
    map: Mutex<HashMap<String, Arc<TurnLock<()>>>>,
}

/// A waiter's place in its key's queue; leaving it (drop) removes the queue when it was the last.
pub(super) struct Place<'a> {
    queues: &'a Queues,
    key: String,
    lock: Option<Arc<TurnLock<()>>>,
}

impl Queues {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<TurnLock<()>>>> {
        // Plain data under the lock, and no code that can panic.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether someone of this process waits for `key`.
    pub(super) fn is_queued(&self, key: &str) -> bool {
        self.map().contains_key(key)
    }

    /// Joins `key`'s queue.
    pub(super) fn join(&self, key: &str) -> Place<'_> {
        let lock = self.map().entry(key.to_owned()).or_default().clone();
        Place {
            queues: self,
            key: key.to_owned(),
            lock: Some(lock),
        }
    }
}

impl Place<'_> {
    /// Waits for this waiter's turn: the front of the queue.
    pub(super) async fn turn(&self) -> MutexGuardArc<()> {
        self.lock.as_ref().expect("set until drop").lock_arc().await
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let lock = self.lock.take().expect("set until drop");
        let mut map = self.queues.map();
        drop(lock);
        // Ours and the map's were the last two references: nobody else waits for this key.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}
