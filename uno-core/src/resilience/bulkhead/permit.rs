//! A slot of a bulkhead, owned ([`BulkheadPermit`]) or borrowed by the crate's own callers, over
//! one generic [`Slot`].
//!
//! # Implementation notes
//!
//! - **The slots are a fair semaphore** ([`AsyncSemaphore`](crate::sync::AsyncSemaphore)): a
//!   slot is taken without waiting only when one is free and nobody is queued, so waiters are
//!   served in arrival order, and a waiter dropped after a slot was handed to it gives it back.
//! - **The queue bound is a counter beside the semaphore** (`Inner::queued`): joining takes a
//!   place with one `fetch_update` (refused at `max_queue`), and [`SlotWait`] leaves it on every
//!   exit path, a dropped waiter included. `max_wait` is a sleep polled beside the semaphore's
//!   wait.
//! - **One wait, polled by hand** ([`SlotWait`]): a named future, so `run`, the pipeline, the
//!   owned [`BulkheadAcquire`] and the `tower` service's `poll_ready` share it.
//! - **One slot type, two holdings** ([`Holder`]): a borrowed `&Inner` with a borrowed semaphore
//!   permit for calls that hold the slot within their own future (`run`, the pipeline: no
//!   reference count on the happy path), an `Arc<Inner>` with an owned permit for a
//!   [`BulkheadPermit`]. Both count `admitted` and `in_flight` the same way.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::policy::Inner;
use crate::observe::event;
use crate::resilience::BulkheadRejected;
use crate::sync::{Acquire, AcquireError, AcquireOwned, OwnedSemaphorePermit, SemaphorePermit};
use crate::time::Sleep;

impl Inner {
    /// Joins the queue (one place, bounded by `max_queue`), or says why not.
    fn join_queue(&self) -> Result<(), BulkheadRejected> {
        if let Some(max_queue) = self.max_queue {
            let joined = self
                .queued
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                    (q < max_queue).then_some(q + 1)
                });
            if joined.is_err() {
                let name = self.name.shared();
                return Err(self.reject(BulkheadRejected::QueueFull { name, max_queue }));
            }
        } else {
            self.queued.fetch_add(1, Ordering::AcqRel);
        }
        self.metrics.queued.increment(1.0);
        Ok(())
    }

    /// Leaves the queue (the count and the gauge).
    fn leave_queue(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.metrics.queued.decrement(1.0);
    }

    pub(super) fn reject(&self, why: BulkheadRejected) -> BulkheadRejected {
        let (counter, metric, reason) = match why {
            BulkheadRejected::QueueFull { .. } => (
                &self.rejected_queue_full,
                &self.metrics.full,
                "bulkhead_full",
            ),
            BulkheadRejected::MaxWait { .. } => (
                &self.rejected_max_wait,
                &self.metrics.timed_out,
                "bulkhead_timeout",
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metric.increment(1);
        event!(
            debug,
            "uno_core::resilience",
            name = %self.name,
            reason,
            "call rejected"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = reason;
        why
    }
}

/// How a [`Slot`] holds its bulkhead: borrowed by calls that hold the slot within their own
/// future (`run`, the pipeline: no reference count is touched), owned (an `Arc`) by a
/// [`BulkheadPermit`]. The semaphore permit follows the same form.
pub(crate) trait Holder: Deref<Target = Inner> + Clone + Unpin {
    type Permit;
    type Wait: Future<Output = Result<Self::Permit, AcquireError>> + Unpin;

    fn try_permit(&self) -> Option<Self::Permit>;
    fn wait(&self) -> Self::Wait;
}

impl<'a> Holder for &'a Inner {
    type Permit = SemaphorePermit<'a>;
    type Wait = Acquire<'a>;

    fn try_permit(&self) -> Option<SemaphorePermit<'a>> {
        let inner: &'a Inner = self;
        inner.slots.try_acquire().ok()
    }

    fn wait(&self) -> Acquire<'a> {
        let inner: &'a Inner = self;
        inner.slots.acquire()
    }
}

impl Holder for Arc<Inner> {
    type Permit = OwnedSemaphorePermit;
    type Wait = AcquireOwned;

    fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.try_acquire_owned().ok()
    }

    fn wait(&self) -> AcquireOwned {
        self.slots.acquire_owned()
    }
}

/// One slot of a bulkhead, generic over how it holds it (as the semaphore's own `Wait`): taken
/// without waiting if one is free and nobody is queued, else in arrival order within the queue
/// and wait bounds; released (the permit and the in-flight count) when dropped.
pub(crate) struct Slot<S: Holder> {
    _permit: S::Permit,
    bulkhead: S,
}

/// A slot borrowed from a [`Bulkhead`](super::Bulkhead) (see
/// [`Bulkhead::try_enter`](super::Bulkhead::try_enter)).
pub(crate) type BorrowedSlot<'a> = Slot<&'a Inner>;

impl<S: Holder> Slot<S> {
    pub(super) fn try_take(bulkhead: &S) -> Option<Self> {
        let permit = bulkhead.try_permit()?;
        Some(Self::admit(bulkhead.clone(), permit))
    }

    pub(super) fn take(bulkhead: S) -> SlotWait<S> {
        SlotWait {
            bulkhead,
            state: WaitState::Start,
        }
    }

    fn admit(bulkhead: S, permit: S::Permit) -> Self {
        bulkhead.admitted.fetch_add(1, Ordering::Relaxed);
        bulkhead.in_flight.fetch_add(1, Ordering::Relaxed);
        bulkhead.metrics.in_flight.increment(1.0);
        Slot {
            _permit: permit,
            bulkhead,
        }
    }
}

impl<S: Holder> Drop for Slot<S> {
    fn drop(&mut self) {
        self.bulkhead.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.bulkhead.metrics.in_flight.decrement(1.0);
    }
}

/// Waiting for a [`Slot`]: one state machine for the owned and the borrowed forms. Taken on the
/// first poll without waiting if a slot is free and nobody is queued; else it joins the queue
/// (refused at `max_queue`) and waits in arrival order, at most `max_wait`. The queue place is
/// left on every exit path, a dropped future included; a slot handed to a dropped waiter goes
/// back (the semaphore's wait gives it back).
pub(crate) struct SlotWait<S: Holder> {
    bulkhead: S,
    state: WaitState<S>,
}

enum WaitState<S: Holder> {
    Start,
    /// Boxed: waiting allocates anyway (the semaphore's waiter, the `max_wait` sleep), and the
    /// futures holding a `SlotWait` (`run`, the pipeline, the tower service) stay small on the
    /// happy path, where they are moved.
    Queued(Box<Queued<S>>),
    Done,
}

struct Queued<S: Holder> {
    wait: S::Wait,
    deadline: Option<Pin<Box<dyn Sleep>>>,
}

impl<S: Holder> SlotWait<S> {
    /// Polls for the slot; see the type's docs. Not to be polled again once ready.
    pub(crate) fn poll_slot(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Slot<S>, BulkheadRejected>> {
        loop {
            match &mut self.state {
                WaitState::Start => {
                    if let Some(permit) = self.bulkhead.try_permit() {
                        self.state = WaitState::Done;
                        return Poll::Ready(Ok(Slot::admit(self.bulkhead.clone(), permit)));
                    }
                    if let Err(rejected) = self.bulkhead.join_queue() {
                        self.state = WaitState::Done;
                        return Poll::Ready(Err(rejected));
                    }
                    let deadline = self.bulkhead.max_wait.map(|d| self.bulkhead.rt.sleep(d));
                    let wait = self.bulkhead.wait();
                    self.state = WaitState::Queued(Box::new(Queued { wait, deadline }));
                }
                WaitState::Queued(queued) => {
                    if let Poll::Ready(permit) = Pin::new(&mut queued.wait).poll(cx) {
                        self.state = WaitState::Done;
                        self.bulkhead.leave_queue();
                        // The semaphore is private and never closed.
                        let permit = permit.expect("the bulkhead's semaphore is never closed");
                        return Poll::Ready(Ok(Slot::admit(self.bulkhead.clone(), permit)));
                    }
                    let expired = queued
                        .deadline
                        .as_mut()
                        .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
                    if !expired {
                        return Poll::Pending;
                    }
                    // Dropping the wait gives back a slot handed to it in the meantime.
                    self.state = WaitState::Done;
                    self.bulkhead.leave_queue();
                    let inner = &*self.bulkhead;
                    let name = inner.name.shared();
                    let max_wait = inner.max_wait.expect("a deadline is set only for max_wait");
                    return Poll::Ready(Err(
                        inner.reject(BulkheadRejected::MaxWait { name, max_wait })
                    ));
                }
                WaitState::Done => panic!("a bulkhead wait polled after it completed"),
            }
        }
    }
}

impl<S: Holder> Future for SlotWait<S> {
    type Output = Result<Slot<S>, BulkheadRejected>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_slot(cx)
    }
}

impl<S: Holder> Drop for SlotWait<S> {
    fn drop(&mut self) {
        if matches!(self.state, WaitState::Queued(_)) {
            self.bulkhead.leave_queue();
        }
    }
}

/// The future returned by [`Bulkhead::acquire`](super::Bulkhead::acquire): a slot, owned
/// (`'static`: it holds a clone of the bulkhead, so a service can keep it between polls).
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct BulkheadAcquire {
    wait: SlotWait<Arc<Inner>>,
}

impl BulkheadAcquire {
    pub(super) fn new(bulkhead: Arc<Inner>) -> Self {
        BulkheadAcquire {
            wait: Slot::take(bulkhead),
        }
    }
}

impl Future for BulkheadAcquire {
    type Output = Result<BulkheadPermit, BulkheadRejected>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.wait.poll_slot(cx).map_ok(BulkheadPermit::new)
    }
}

impl fmt::Debug for BulkheadAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadAcquire")
            .field("name", &self.wait.bulkhead.name)
            .field("queued", &matches!(self.wait.state, WaitState::Queued(_)))
            .finish()
    }
}

/// A slot in a [`Bulkhead`](super::Bulkhead), released when dropped.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct BulkheadPermit {
    _slot: Slot<Arc<Inner>>,
}

impl BulkheadPermit {
    pub(super) fn new(slot: Slot<Arc<Inner>>) -> Self {
        BulkheadPermit { _slot: slot }
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_lite::future::{block_on, poll_once};

    use super::*;
    use crate::resilience::Bulkhead;
    use crate::rt::VirtualRuntime;

    fn stats(b: &Bulkhead) -> (usize, usize, u64, u64, u64) {
        let s = b.stats();
        (
            s.in_flight,
            s.queued,
            s.admitted,
            s.rejected_queue_full,
            s.rejected_max_wait,
        )
    }

    #[test]
    fn owned_and_borrowed_slots_share_the_bound_and_the_counters() {
        let rt = VirtualRuntime::new().handle();
        let b = Bulkhead::builder(&rt, 2).build().unwrap();
        let owned = b.try_acquire().unwrap();
        let borrowed = b.try_enter().unwrap();
        assert!(
            b.try_acquire().is_none() && b.try_enter().is_none(),
            "both slots taken"
        );
        assert_eq!(stats(&b), (2, 0, 2, 0, 0));
        drop(borrowed);
        assert_eq!(stats(&b).0, 1);
        let again = b.try_enter().expect("the borrowed slot came back");
        drop((owned, again));
        assert_eq!(stats(&b), (0, 0, 3, 0, 0));
    }

    #[test]
    fn a_full_queue_rejects_at_once_and_a_dropped_waiter_leaves_it() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let b = Bulkhead::builder(&rt, 1).max_queue(1).build().unwrap();
        let held = b.try_enter().unwrap();
        let mut first = Box::pin(b.enter());
        assert!(block_on(poll_once(&mut first)).is_none(), "queued");
        assert_eq!(stats(&b).1, 1);
        let second = block_on(poll_once(Box::pin(b.acquire())));
        let full = BulkheadRejected::QueueFull {
            name: "bulkhead".into(),
            max_queue: 1,
        };
        assert_eq!(second.map(|r| r.unwrap_err()), Some(full));
        drop(first);
        assert_eq!(stats(&b), (1, 0, 1, 1, 0), "the waiter left the queue");
        drop(held);
        assert_eq!(stats(&b).0, 0);
    }

    #[test]
    fn a_waiter_gets_the_released_slot_before_any_newcomer() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let b = Bulkhead::builder(&rt, 1).build().unwrap();
        let held = b.try_acquire().unwrap();
        let mut waiter = Box::pin(b.acquire());
        assert!(block_on(poll_once(&mut waiter)).is_none());
        drop(held);
        assert!(b.try_enter().is_none(), "the slot is handed to the waiter");
        let permit = block_on(waiter).unwrap();
        assert_eq!(stats(&b), (1, 0, 2, 0, 0));
        drop(permit);
        // A waiter granted a slot and dropped before it saw it gives the slot back.
        let held = b.try_enter().unwrap();
        let mut waiter = Box::pin(b.enter());
        assert!(block_on(poll_once(&mut waiter)).is_none());
        drop(held);
        drop(waiter);
        assert!(b.try_enter().is_some(), "the slot went back");
    }

    #[test]
    fn a_waiter_is_rejected_after_max_wait() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let max_wait = Duration::from_secs(2);
        let b = Bulkhead::builder(&rt, 1)
            .max_wait(max_wait)
            .build()
            .unwrap();
        let _held = b.try_acquire().unwrap();
        let start = rt.now();
        let err = vrt.block_on(b.enter()).err();
        let name = "bulkhead".into();
        assert_eq!(err, Some(BulkheadRejected::MaxWait { name, max_wait }));
        assert_eq!(rt.now() - start, max_wait);
        assert_eq!(stats(&b), (1, 0, 1, 0, 1));
    }
}
