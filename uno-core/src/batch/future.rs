//! The future of [`AsyncBatcher::add_item`](super::AsyncBatcher::add_item).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::builder::OverflowPolicy;
use super::error::BatchError;
use super::shared::{ReplySlot, Shared};
use crate::sync::{Acquire, TryAcquireError};

/// The future returned by [`AsyncBatcher::add_item`](super::AsyncBatcher::add_item): resolves to
/// this item's own result.
///
/// # Cancel safety
///
/// Dropping it before the item is queued (while waiting for room) queues nothing. Dropping it
/// after the item is queued does not remove the item or disturb its batch: the item is still
/// processed with the others, and only its result is dropped.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct AddItem<'a, I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    shared: &'a Arc<Shared<I, O, E>>,
    state: State<'a, I, O, E>,
}

enum State<'a, I, O, E> {
    Start(I),
    /// Waiting for room in the bounded queue.
    Room(Acquire<'a>, I),
    /// Queued; the result arrives in the slot.
    Queued(ReplySlot<O, E>),
    Done,
}

impl<'a, I, O, E> AddItem<'a, I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    pub(super) fn new(shared: &'a Arc<Shared<I, O, E>>, item: I) -> Self {
        AddItem {
            shared,
            state: State::Start(item),
        }
    }
}

// The item is moved, never pinned, so the future can be `Unpin` whatever `I` is.
impl<I, O, E> Unpin for AddItem<'_, I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
}

impl<I, O, E> Future for AddItem<'_, I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    type Output = Result<O, BatchError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = this.shared;
        loop {
            // The common poll — queued, result not in yet — polls the slot in place.
            if let State::Queued(reply) = &mut this.state {
                let result = std::task::ready!(reply.poll_take(cx));
                this.state = State::Done;
                // The slot is answered exactly once, and read only here, once.
                let cancelled = || {
                    Err(BatchError::Cancelled {
                        name: shared.name.shared(),
                    })
                };
                return Poll::Ready(result.unwrap_or_else(cancelled));
            }
            match std::mem::replace(&mut this.state, State::Done) {
                State::Start(item) => {
                    let Some(sem) = &shared.queue_permits else {
                        this.state = State::Queued(shared.enqueue(item, None)?);
                        continue;
                    };
                    match shared.config.overflow {
                        // A free permit is taken at once (as the first poll of `acquire` would,
                        // and as fairly: not past waiters), without building the waiting future.
                        OverflowPolicy::Wait => match sem.try_acquire() {
                            Ok(permit) => {
                                this.state = State::Queued(shared.enqueue(item, Some(permit))?);
                            }
                            Err(TryAcquireError::NoPermits) => {
                                this.state = State::Room(sem.acquire(), item);
                            }
                            Err(TryAcquireError::Closed) => {
                                return Poll::Ready(Err(shared.closed()));
                            }
                        },
                        OverflowPolicy::Reject => match sem.try_acquire() {
                            Ok(permit) => {
                                this.state = State::Queued(shared.enqueue(item, Some(permit))?);
                            }
                            Err(TryAcquireError::NoPermits) => {
                                shared.count_rejected();
                                return Poll::Ready(Err(BatchError::Rejected {
                                    name: shared.name.shared(),
                                }));
                            }
                            Err(TryAcquireError::Closed) => {
                                return Poll::Ready(Err(shared.closed()));
                            }
                        },
                    }
                }
                State::Room(mut acquire, item) => match Pin::new(&mut acquire).poll(cx) {
                    Poll::Pending => {
                        this.state = State::Room(acquire, item);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(permit)) => {
                        this.state = State::Queued(shared.enqueue(item, Some(permit))?);
                    }
                    // The semaphore is closed only when the batcher is.
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(shared.closed())),
                },
                State::Queued(_) => unreachable!("polled in place above"),
                State::Done => panic!("`AddItem` polled after completion"),
            }
        }
    }
}

impl<I, O, E> fmt::Debug for AddItem<'_, I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start(_) => "start",
            State::Room(..) => "waiting for room",
            State::Queued(_) => "queued",
            State::Done => "done",
        };
        f.debug_struct("AddItem").field("state", &state).finish()
    }
}
