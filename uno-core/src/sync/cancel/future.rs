//! The futures that wait for a cancellation: [`WaitForCancellation`] and its owned form, and the
//! futures that race one against the user's future — [`cancellable`]'s [`Cancellable`] and
//! [`RunUntilCancelled`] (borrowed and owned) — over the one state machine they share with the
//! resilience pipeline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;

use super::tree::Node;
use super::{CancellationToken, Cancelled};

/// The future returned by [`CancellationToken::cancelled`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitForCancellation<'a> {
    node: &'a Node,
    listener: Option<EventListener>,
}

impl<'a> WaitForCancellation<'a> {
    pub(super) fn new(node: &'a Node) -> Self {
        WaitForCancellation {
            node,
            listener: None,
        }
    }
}

impl Future for WaitForCancellation<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.node.poll_cancelled(&mut this.listener, cx)
    }
}

impl fmt::Debug for WaitForCancellation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellation")
            .finish_non_exhaustive()
    }
}

/// The future returned by [`CancellationToken::cancelled_owned`]: it owns (a clone of) the
/// token, so it is `'static` and can be stored or moved into a spawned task.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitForCancellationOwned {
    node: Arc<Node>,
    listener: Option<EventListener>,
}

impl WaitForCancellationOwned {
    pub(super) fn new(node: Arc<Node>) -> Self {
        WaitForCancellationOwned {
            node,
            listener: None,
        }
    }
}

impl Future for WaitForCancellationOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.node.poll_cancelled(&mut this.listener, cx)
    }
}

impl fmt::Debug for WaitForCancellationOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationOwned")
            .field("cancelled", &self.node.is_cancelled())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The one state machine of [`cancellable`], generic over how it holds the token: owned by
    /// [`Cancellable`], borrowed by the resilience pipeline (whose happy path then is one load
    /// of the token's flag and no reference count).
    ///
    /// A token cancelled before the first poll means the future is never polled; once the
    /// cancellation is seen the future is dropped at once, before the error is returned. Only a
    /// pending future pays for a listener.
    pub(crate) struct UntilCancelled<F, T> {
        #[pin]
        future: Option<F>,
        token: T,
        listener: Option<EventListener>,
    }
}

impl<F, T: std::borrow::Borrow<CancellationToken>> UntilCancelled<F, T> {
    pub(crate) fn new(token: T, future: F) -> Self {
        UntilCancelled {
            future: Some(future),
            token,
            listener: None,
        }
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        self.token.borrow()
    }
}

impl<F: Future, T: std::borrow::Borrow<CancellationToken>> Future for UntilCancelled<F, T> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("`Cancellable` polled after completion");
        };
        let node = &this.token.borrow().node;
        if node.is_cancelled() {
            this.future.set(None);
            return Poll::Ready(Err(Cancelled));
        }
        if let Poll::Ready(output) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(output));
        }
        if node.poll_cancelled(this.listener, cx).is_ready() {
            this.future.set(None);
            return Poll::Ready(Err(Cancelled));
        }
        Poll::Pending
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`cancellable`].
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct Cancellable<F> {
        #[pin]
        inner: UntilCancelled<F, CancellationToken>,
    }
}

/// Runs `future` until it completes (`Ok(output)`) or `token` is cancelled (`Err(Cancelled)`).
///
/// The `Result` form, for `?` and for APIs whose error type wraps [`Cancelled`];
/// [`CancellationToken::run_until_cancelled`] is the same race with tokio-util's `Option` output.
///
/// Once the token is seen cancelled, `future` is dropped at once and never polled again; a token
/// cancelled before the first poll means `future` is never polled at all.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// use uno_core::sync::{Cancelled, CancellationToken, cancellable};
///
/// let token = CancellationToken::new();
/// assert_eq!(cancellable(&token, async { 7 }).await, Ok(7));
/// token.cancel();
/// assert_eq!(cancellable(&token, async { 7 }).await, Err(Cancelled));
/// # });
/// ```
///
/// # Cancel safety
///
/// As cancel safe as `future`: dropping the `Cancellable` drops `future`.
pub fn cancellable<F: Future>(token: &CancellationToken, future: F) -> Cancellable<F> {
    Cancellable {
        inner: UntilCancelled::new(token.clone(), future),
    }
}

impl<F: Future> Future for Cancellable<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for Cancellable<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellable")
            .field("token", self.inner.token())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`CancellationToken::run_until_cancelled`]: `Some(output)`, or
    /// `None` if the token was cancelled first (tokio-util's shape).
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct RunUntilCancelled<'a, F> {
        #[pin]
        inner: UntilCancelled<F, &'a CancellationToken>,
    }
}

impl<'a, F> RunUntilCancelled<'a, F> {
    pub(super) fn new(token: &'a CancellationToken, future: F) -> Self {
        RunUntilCancelled {
            inner: UntilCancelled::new(token, future),
        }
    }
}

impl<F: Future> Future for RunUntilCancelled<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(Result::ok)
    }
}

impl<F> fmt::Debug for RunUntilCancelled<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled")
            .field("token", self.inner.token())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`CancellationToken::run_until_cancelled_owned`]: as
    /// [`RunUntilCancelled`], owning its token, so it is `'static` when the future is.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct RunUntilCancelledOwned<F> {
        #[pin]
        inner: UntilCancelled<F, CancellationToken>,
    }
}

impl<F> RunUntilCancelledOwned<F> {
    pub(super) fn new(token: CancellationToken, future: F) -> Self {
        RunUntilCancelledOwned {
            inner: UntilCancelled::new(token, future),
        }
    }
}

impl<F: Future> Future for RunUntilCancelledOwned<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(Result::ok)
    }
}

impl<F> fmt::Debug for RunUntilCancelledOwned<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelledOwned")
            .field("token", self.inner.token())
            .finish_non_exhaustive()
    }
}
