//! [`Get`]: the future of [`AsyncCache::get`](super::AsyncCache::get).

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use sync_wrapper::SyncWrapper;

use super::error::CacheError;
use super::flight::{Flight, Load, Waited};
use super::load::Start;
use super::{AsyncCache, DefaultHashBuilder};

enum GetState<K, V, E, F> {
    Start {
        key: K,
        fetch: F,
    },
    /// Driving the load: this reader polls the fetch in place.
    Drive {
        flight: Arc<Flight<V, E>>,
        /// Only ever reached through `&mut`, so `Get` is `Sync` without asking it of the fetch.
        load: SyncWrapper<Load>,
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
/// Cancel safe: dropping it only stops this reader from waiting. A load it was driving is handed on
/// — to another reader of the key, or to a task of its own if none is left — and still serves the
/// other readers and fills the cache.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Get<'a, K, V, E, F, S = DefaultHashBuilder> {
    cache: &'a AsyncCache<K, V, E, S>,
    state: GetState<K, V, E, F>,
}

impl<'a, K, V, E, F, S> Get<'a, K, V, E, F, S> {
    pub(super) fn new(cache: &'a AsyncCache<K, V, E, S>, key: K, fetch: F) -> Self {
        Get {
            cache,
            state: GetState::Start { key, fetch },
        }
    }
}

// Nothing in a `Get` is pinned in place: the fetch closure is moved out and called, and its future
// is polled inside the `Load`'s own box, which moves freely between readers.
impl<K, V, E, F, S> Unpin for Get<'_, K, V, E, F, S> {}

impl<K, V, E, F, Fut, S> Future for Get<'_, K, V, E, F, S>
where
    S: BuildHasher + Send + Sync + 'static,
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
                Start::Drive(flight, load) => {
                    let load = SyncWrapper::new(load);
                    this.state = GetState::Drive { flight, load };
                }
            }
        }
        loop {
            match std::mem::replace(&mut this.state, GetState::Done) {
                GetState::Drive { flight, mut load } => {
                    // Out of `state` while it runs: if a poll unwinds (nothing in the load should
                    // panic; the fetch's own panics are contained), `Drop` does not hand a
                    // poisoned load on, and dropping it here delivers `Cancelled` instead.
                    match load.get_mut().as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            if let Some(outcome) = flight.outcome() {
                                return Poll::Ready(outcome);
                            }
                            this.state = GetState::Wait {
                                flight,
                                listener: None,
                            };
                        }
                        Poll::Pending => {
                            this.state = GetState::Drive { flight, load };
                            return Poll::Pending;
                        }
                    }
                }
                GetState::Wait {
                    flight,
                    mut listener,
                } => match flight.poll_wait(&mut listener, cx) {
                    Poll::Ready(Waited::Outcome(outcome)) => return Poll::Ready(outcome),
                    Poll::Ready(Waited::TakeOver(load)) => {
                        let load = SyncWrapper::new(load);
                        this.state = GetState::Drive { flight, load };
                    }
                    Poll::Pending => {
                        this.state = GetState::Wait { flight, listener };
                        return Poll::Pending;
                    }
                },
                GetState::Start { .. } | GetState::Done => {
                    panic!("`Get` polled after it completed")
                }
            }
        }
    }
}

impl<K, V, E, F, S> Drop for Get<'_, K, V, E, F, S> {
    fn drop(&mut self) {
        // A reader leaving before its outcome: a load it drives is handed on, so the fetch still
        // completes, answers the other readers and fills the cache.
        // Checked first: a finished read (the hot path) leaves without moving its state.
        if !matches!(self.state, GetState::Drive { .. } | GetState::Wait { .. }) {
            return;
        }
        match std::mem::replace(&mut self.state, GetState::Done) {
            GetState::Drive { flight, load } => {
                flight.leave(Some(load.into_inner()), &self.cache.inner.rt)
            }
            GetState::Wait { flight, .. } => flight.leave(None, &self.cache.inner.rt),
            GetState::Start { .. } | GetState::Done => {}
        }
    }
}

impl<K, V, E, F, S> fmt::Debug for Get<'_, K, V, E, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            GetState::Start { .. } => "start",
            GetState::Drive { .. } => "driving a load",
            GetState::Wait { .. } => "waiting for a load",
            GetState::Done => "done",
        };
        f.debug_struct("Get").field("state", &state).finish()
    }
}
