//! [`RateLimitAcquire`] (borrowed) and [`RateLimitAcquireOwned`]: waiting for an admission, in
//! arrival order, over one state machine ([`Wait`]).
//!
//! # Implementation notes
//!
//! - **FIFO.** Waiters queue in [`Waiters`] under one lock; `Inner::queued` mirrors the queue's
//!   length so that a newcomer finding it empty takes the lock-free path (one GCRA
//!   compare-and-swap) and never overtakes a waiter.
//! - **Only the front waiter watches the clock**: it sleeps until its admission conforms, while
//!   the others sleep on their wakers. Admitted, it leaves the queue and wakes the next one.
//! - **A dropped waiter consumes nothing**: it leaves the queue and, if it was at the front,
//!   hands the watch to the next waiter at once.

use crate::loom::atomic::Ordering;
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::observe::event;
use crate::resilience::RateLimiter;
use crate::time::{Sleep, deadline_after};

/// The queue of [`RateLimitAcquire`] futures, under the limiter's lock.
#[derive(Default)]
pub(super) struct Waiters {
    /// Waiters in arrival order; only the front one sleeps on the clock.
    pub(super) queue: VecDeque<Waiter>,
    next_id: u64,
}

pub(super) struct Waiter {
    id: u64,
    waker: Option<Waker>,
}

/// The future returned by [`RateLimiter::acquire`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct RateLimitAcquire<'a> {
    wait: Wait<&'a RateLimiter>,
}

/// The future returned by [`RateLimiter::acquire_owned`]: as [`RateLimitAcquire`], holding a
/// clone of the limiter instead of a borrow (`'static`, for a service to keep across polls).
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct RateLimitAcquireOwned {
    wait: Wait<RateLimiter>,
}

impl<'a> RateLimitAcquire<'a> {
    pub(super) fn new(limiter: &'a RateLimiter) -> Self {
        RateLimitAcquire {
            wait: Wait::new(limiter),
        }
    }
}

impl RateLimitAcquireOwned {
    pub(super) fn new(limiter: RateLimiter) -> Self {
        RateLimitAcquireOwned {
            wait: Wait::new(limiter),
        }
    }
}

impl Future for RateLimitAcquire<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.wait.poll(cx)
    }
}

impl Future for RateLimitAcquireOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.wait.poll(cx)
    }
}

/// The one state machine of both acquire futures, over a borrowed or owned limiter.
struct Wait<L: Borrow<RateLimiter>> {
    limiter: L,
    /// Our place in the queue, once queued.
    id: Option<u64>,
    /// Only the front waiter sleeps, until its admission conforms. Allocated only when waiting.
    sleep: Option<Pin<Box<dyn Sleep>>>,
}

impl<L: Borrow<RateLimiter>> Wait<L> {
    fn new(limiter: L) -> Self {
        Wait {
            limiter,
            id: None,
            sleep: None,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        let inner = &*this.limiter.borrow().inner;
        loop {
            let (at, now) = inner.gcra.clock().read(&inner.rt);
            // The lock-free path, for a newcomer when nobody is queued ahead of it.
            if this.id.is_none()
                && inner.queued.load(Ordering::Acquire) == 0
                && inner.gcra.try_admit(at).is_ok()
            {
                inner.admitted();
                return Poll::Ready(());
            }
            let mut state = inner.waiters();
            let id = match this.id {
                Some(id) => {
                    if let Some(w) = state.queue.iter_mut().find(|w| w.id == id)
                        && !w
                            .waker
                            .as_ref()
                            .is_some_and(|old| old.will_wake(cx.waker()))
                    {
                        w.waker = Some(cx.waker().clone());
                    }
                    id
                }
                None => {
                    let id = state.next_id;
                    state.next_id += 1;
                    state.queue.push_back(Waiter {
                        id,
                        waker: Some(cx.waker().clone()),
                    });
                    inner.queued.store(state.queue.len(), Ordering::Release);
                    this.id = Some(id);
                    inner.waited.fetch_add(1, Ordering::Relaxed);
                    inner.metrics.waits.increment(1);
                    event!(
                        debug,
                        "uno_core::resilience",
                        name = %inner.name,
                        queued = state.queue.len(),
                        "waiting for the rate limiter"
                    );
                    id
                }
            };
            if state.queue.front().map(|w| w.id) != Some(id) {
                // Not our turn: the waiter ahead wakes us when it leaves the queue.
                return Poll::Pending;
            }
            match inner.gcra.try_admit(at) {
                Ok(()) => {
                    state.queue.pop_front();
                    inner.queued.store(state.queue.len(), Ordering::Release);
                    let next = state.queue.front_mut().and_then(|w| w.waker.take());
                    drop(state);
                    this.id = None;
                    this.sleep = None;
                    inner.admitted();
                    if let Some(next) = next {
                        next.wake();
                    }
                    return Poll::Ready(());
                }
                Err(wait) => {
                    drop(state);
                    // The timer's own reading when the limiter's clock is the timer (exact on
                    // virtual time); else a fresh one.
                    let now = now.unwrap_or_else(|| inner.rt.now());
                    let deadline = deadline_after(now, wait);
                    match &mut this.sleep {
                        Some(sleep) if sleep.deadline() != deadline => {
                            sleep.as_mut().reset(deadline);
                        }
                        Some(_) => {}
                        None => this.sleep = Some(inner.rt.sleep_until(deadline)),
                    }
                    let sleep = this.sleep.as_mut().expect("set just above");
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The deadline passed: check again.
                }
            }
        }
    }
}

impl<L: Borrow<RateLimiter>> Drop for Wait<L> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let inner = &*self.limiter.borrow().inner;
        let mut state = inner.waiters();
        let Some(pos) = state.queue.iter().position(|w| w.id == id) else {
            return;
        };
        state.queue.remove(pos);
        inner.queued.store(state.queue.len(), Ordering::Release);
        // The front waiter is the only one watching the clock: hand the watch on.
        let next = if pos == 0 {
            state.queue.front_mut().and_then(|w| w.waker.take())
        } else {
            None
        };
        drop(state);
        inner.abandoned.fetch_add(1, Ordering::Relaxed);
        if let Some(next) = next {
            next.wake();
        }
    }
}

impl fmt::Debug for RateLimitAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitAcquire")
            .field("queued", &self.wait.id.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RateLimitAcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitAcquireOwned")
            .field("name", &self.wait.limiter.name())
            .field("queued", &self.wait.id.is_some())
            .finish_non_exhaustive()
    }
}
