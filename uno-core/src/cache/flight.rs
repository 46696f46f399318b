//! Single-flight: one shared outcome per load, and the fetch runner that turns a panic or a
//! timeout into a [`CacheError`] instead of a hang.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::{Event, EventListener};

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
