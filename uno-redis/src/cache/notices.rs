//! Fill notices: how a load waiting for another instance's fill is woken in this process.
//!
//! The subscriber task hears `filled` / `released` / `invalidated` messages on the cache's channel
//! and wakes the local waiters of that key. A waiter registers (and starts listening) *before*
//! it looks at Redis again, so a fill published between its look and its wait is never missed;
//! a lost message (the subscription dropped) only costs it one poll interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_listener::{Event, EventListener};

/// The keys some load of this process is waiting on, each with its wake-up event.
#[derive(Debug, Default)]
pub(super) struct FillNotices {
    /// Per key: its event and how many registrations share it (removed at zero, so the map only
    /// holds keys being waited on).
    keys: Mutex<HashMap<String, (Arc<Event>, usize)>>,
}

impl FillNotices {
    fn keys(&self) -> MutexGuard<'_, HashMap<String, (Arc<Event>, usize)>> {
        // Nothing under this lock runs user code or can panic midway; a poisoned map is whole.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers interest in `key` until the returned registration is dropped (cancel safe: the
    /// drop unregisters, whichever await point the waiter was dropped at).
    pub(super) fn register<'a>(&'a self, key: &str) -> Registration<'a> {
        let mut keys = self.keys();
        let (event, count) = keys
            .entry(key.to_owned())
            .or_insert_with(|| (Arc::new(Event::new()), 0));
        *count += 1;
        Registration {
            notices: self,
            key: key.to_owned(),
            event: event.clone(),
        }
    }

    /// Wakes every waiter of `key`.
    pub(super) fn notify(&self, key: &str) {
        let event = self.keys().get(key).map(|(event, _)| event.clone());
        if let Some(event) = event {
            event.notify(usize::MAX);
        }
    }

    /// Wakes every waiter of every key (the subscription was lost or restored: messages may
    /// have been missed, so everyone looks again).
    pub(super) fn notify_all(&self) {
        let events: Vec<_> = self.keys().values().map(|(e, _)| e.clone()).collect();
        for event in events {
            event.notify(usize::MAX);
        }
    }

    /// How many keys are being waited on (for tests: zero once every load has ended).
    pub(super) fn len(&self) -> usize {
        self.keys().len()
    }
}

/// One load's interest in one key; unregisters on drop.
#[derive(Debug)]
pub(super) struct Registration<'a> {
    notices: &'a FillNotices,
    key: String,
    event: Arc<Event>,
}

impl Registration<'_> {
    /// A listener for the next notice of the key; take it before looking at Redis.
    pub(super) fn listen(&self) -> EventListener {
        self.event.listen()
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut keys = self.notices.keys();
        if let Some((_, count)) = keys.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                keys.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_reaches_a_listener_taken_before_it_and_registrations_clean_up() {
        let notices = FillNotices::default();
        let first = notices.register("k");
        let second = notices.register("k");
        let listener = first.listen();
        notices.notify("other"); // not ours
        notices.notify("k");
        futures_lite::future::block_on(listener);
        drop(first);
        assert_eq!(notices.len(), 1);
        let listener = second.listen();
        notices.notify_all();
        futures_lite::future::block_on(listener);
        drop(second);
        assert_eq!(notices.len(), 0);
    }
}
