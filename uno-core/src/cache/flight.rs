//! Single-flight: one shared outcome per load, and the fetch wrapper that turns a panic, a timeout
//! or a dropped task into a [`CacheError`] instead of a hang.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::{Event, EventListener};

use super::error::CacheError;
use crate::rt::Runtime;
use crate::task::JoinError;

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

pin_project_lite::pin_project! {
    /// Polls the fetch future with its panics caught, so the cache can hand waiters an error.
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(JoinError::from_panic(payload))),
        }
    }
}

pub(super) fn panicked<E>(payload: Box<dyn std::any::Any + Send>) -> CacheError<E> {
    match JoinError::from_panic(payload) {
        JoinError::Panicked { message } => CacheError::Panicked { message },
        _ => CacheError::Cancelled,
    }
}

/// Runs one fetch future to an outcome: its value, its error (shared), its panic, or a timeout.
pub(super) async fn run_fetch<V, E, Fut>(
    rt: &Runtime,
    limit: Option<Duration>,
    fetch: Fut,
) -> Result<V, CacheError<E>>
where
    Fut: Future<Output = Result<V, E>>,
{
    let fetch = CatchUnwind { future: fetch };
    let output = match limit {
        Some(limit) => match rt.timeout(limit, "cache fetch timed out", fetch).await {
            Ok(output) => output,
            Err(elapsed) => return Err(CacheError::TimedOut(elapsed)),
        },
        None => fetch.await,
    };
    match output {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CacheError::Failed(Arc::new(error))),
        Err(JoinError::Panicked { message }) => Err(CacheError::Panicked { message }),
        Err(_) => Err(CacheError::Cancelled),
    }
}
