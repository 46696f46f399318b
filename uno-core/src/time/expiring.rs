//! [`Expiring`]: the one state machine of every timeout, over a [`Limit`] it owns or borrows.
//!
//! # Implementation notes
//!
//! - **The future first.** Each poll polls the future before the deadline, so a ready future
//!   succeeds even with a zero duration or a deadline in the past.
//! - **The sleep is created lazily**, at the first poll that finds the future pending: a timeout
//!   around a future that is ready at once never allocates a sleep.
//! - **At expiry the future is dropped** (cancelled) before the error is returned, and the error
//!   is built once ([`Limit::expired`]), with the time elapsed since the limit's start on the
//!   runtime's clock.
//! - **Owned or borrowed.** [`Timeout`](super::Timeout) owns its limit; the resilience layer's
//!   timeout policy borrows its own, so both run this one poll loop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Elapsed, Sleep};
use crate::rt::Runtime;

/// What a timeout runs by besides its future: the clock, the start and the deadline, and the
/// error to report at expiry. [`Timeout`](super::Timeout) owns it; the resilience layer's timeout
/// policy borrows it, so its happy path touches no reference count.
pub(crate) trait Limit {
    /// The runtime whose clock the limit is measured on.
    fn runtime(&self) -> &Runtime;
    /// When the limit started counting (the error's elapsed time is measured from it).
    fn start(&self) -> Instant;
    /// The time since the start, at expiry: on the runtime's clock unless the limit counts on a
    /// cheaper one.
    fn elapsed(&self) -> Duration {
        self.runtime().now().saturating_duration_since(self.start())
    }
    /// When the future is given up.
    fn deadline(&self) -> Instant;
    /// The error at expiry, `elapsed` after the start. Called at most once.
    fn expired(&mut self, elapsed: Duration) -> Elapsed;
}

/// A [`Limit`] and its sleep, created lazily: what [`Expiring`] checks after its future, and
/// what a hand-written state machine (the `tower` pipeline's per-attempt timeout) checks after
/// whichever stage it is in.
pub(crate) struct Deadline<L> {
    limit: L,
    sleep: Option<Pin<Box<dyn Sleep>>>,
}

impl<L: Limit> Deadline<L> {
    pub(crate) fn new(limit: L) -> Self {
        Deadline { limit, sleep: None }
    }

    pub(crate) fn limit(&self) -> &L {
        &self.limit
    }

    /// `Ready` with the error once the deadline has passed; the sleep is created at the first
    /// call (so only a caller whose work is pending pays for it).
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        let limit = &self.limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| limit.runtime().sleep_until(limit.deadline()));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let elapsed = self.limit.elapsed();
        Poll::Ready(self.limit.expired(elapsed))
    }
}

pin_project_lite::pin_project! {
    /// The one state machine of every timeout, generic over how it holds its [`Limit`]: the
    /// future is polled first, the sleep is created only if it is not ready at once (a timeout
    /// around a ready future never allocates), and at expiry the future is dropped (cancelled)
    /// before the error is returned.
    pub(crate) struct Expiring<F, L> {
        #[pin]
        future: Option<F>,
        deadline: Deadline<L>,
    }
}

impl<F, L: Limit> Expiring<F, L> {
    pub(crate) fn new(future: F, limit: L) -> Self {
        Expiring {
            future: Some(future),
            deadline: Deadline::new(limit),
        }
    }

    pub(crate) fn limit(&self) -> &L {
        self.deadline.limit()
    }

    /// Polls the future, then the deadline: `Err` once the deadline has passed first.
    ///
    /// # Panics
    ///
    /// Polled again after it returned `Ready`.
    pub(crate) fn poll_expiring(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Elapsed>>
    where
        F: Future,
    {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("`Timeout` polled after completion");
        if let Poll::Ready(output) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(output));
        }
        let elapsed = std::task::ready!(this.deadline.poll_expired(cx));
        this.future.set(None);
        Poll::Ready(Err(elapsed))
    }
}
