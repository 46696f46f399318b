//! [`Get`]: the future of [`AsyncCache::get`](super::AsyncCache::get).

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;

use super::error::CacheError;
use super::flight::Flight;
use super::load::Start;
use super::{AsyncCache, DefaultHashBuilder};

enum GetState<K, V, E, F> {
    Start {
        key: K,
        fetch: F,
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
/// Cancel safe: dropping it only stops this reader from waiting. The load it may have started runs
/// in its own task and still serves the other readers and the cache.
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

// Nothing in a `Get` is ever pinned: the fetch closure is moved out and called, and its future is
// spawned, never polled in place.
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
            }
        }
        match &mut this.state {
            GetState::Wait { flight, listener } => {
                let outcome = std::task::ready!(flight.poll_outcome(listener, cx));
                this.state = GetState::Done;
                Poll::Ready(outcome)
            }
            GetState::Start { .. } | GetState::Done => {
                panic!("`Get` polled after it completed")
            }
        }
    }
}

impl<K, V, E, F, S> fmt::Debug for Get<'_, K, V, E, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            GetState::Start { .. } => "start",
            GetState::Wait { .. } => "waiting for a load",
            GetState::Done => "done",
        };
        f.debug_struct("Get").field("state", &state).finish()
    }
}
