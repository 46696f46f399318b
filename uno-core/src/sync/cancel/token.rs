//! [`CancellationToken`], the handle, and its [`DropGuard`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::future::{
    RunUntilCancelled, RunUntilCancelledOwned, UntilCancelled, WaitForCancellation,
    WaitForCancellationOwned,
};
use super::tree::Node;

/// A cancellation signal shared by cloning, with child tokens.
///
/// Cancelling a token cancels every child (and their children); cancelling a child leaves its
/// parent alone. A child made from a cancelled token starts cancelled. Children that are dropped
/// are forgotten by their parent, so a long-lived parent does not grow.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// use uno_core::sync::CancellationToken;
///
/// let shutdown = CancellationToken::new();
/// let request = shutdown.child_token();
/// shutdown.cancel();
/// request.cancelled().await; // already cancelled: returns at once
/// assert!(request.is_cancelled());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct CancellationToken {
    pub(super) node: Arc<Node>,
}

impl CancellationToken {
    /// A new, uncancelled root token.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A child token: cancelled when this token is, but cancelling it does not cancel this one.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::CancellationToken;
    ///
    /// let server = CancellationToken::new();
    /// let request = server.child_token();
    /// request.cancel(); // cancels downwards only
    /// assert!(!server.is_cancelled());
    /// let other = server.child_token();
    /// server.cancel();
    /// assert!(other.is_cancelled());
    /// assert!(server.child_token().is_cancelled()); // born cancelled
    /// ```
    pub fn child_token(&self) -> CancellationToken {
        CancellationToken {
            node: self.node.child(),
        }
    }

    /// Cancels this token and all its descendants, waking everything that waits on them.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::CancellationToken;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let shutdown = CancellationToken::new();
    /// let watch = shutdown.child_token();
    /// let worker = rt.spawn(async move { watch.cancelled().await; "stopped" });
    /// shutdown.cancel(); // wakes the worker through its child token
    /// assert_eq!(worker.await.unwrap(), "stopped");
    /// # });
    /// ```
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether the token (or an ancestor) has been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::CancellationToken;
    ///
    /// let root = CancellationToken::new();
    /// let grandchild = root.child_token().child_token();
    /// assert!(!grandchild.is_cancelled());
    /// root.cancel();
    /// assert!(grandchild.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Waits until the token is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::{block_on, poll_once};
    /// use uno_core::sync::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// let mut wait = Box::pin(token.cancelled());
    /// assert!(block_on(poll_once(&mut wait)).is_none()); // not cancelled yet
    /// token.cancel();
    /// block_on(wait); // completes now
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the waiter affects neither the token nor any other waiter.
    pub fn cancelled(&self) -> WaitForCancellation<'_> {
        WaitForCancellation::new(&self.node)
    }

    /// Waits until the token is cancelled, owning a clone of it: the future is `'static`, to
    /// store in a struct or move into a spawned task (tokio-util's `cancelled_owned`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::CancellationToken;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let shutdown = CancellationToken::new();
    /// let stopped = shutdown.clone().cancelled_owned(); // borrows nothing
    /// let watcher = rt.spawn(async move {
    ///     stopped.await;
    ///     "stopped"
    /// });
    /// shutdown.cancel();
    /// assert_eq!(watcher.await.unwrap(), "stopped");
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the waiter affects neither the token nor any other waiter.
    pub fn cancelled_owned(self) -> WaitForCancellationOwned {
        WaitForCancellationOwned::new(self.node)
    }

    /// A guard that cancels this token when dropped, unless [disarmed](DropGuard::disarm).
    /// Bind it (`let _guard = ...`): an unbound guard is dropped, and the token cancelled, at
    /// once.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// {
    ///     let _guard = token.clone().drop_guard();
    ///     // ... an early return, `?` or a panic here still cancels
    /// }
    /// assert!(token.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }

    /// Runs `future` until it completes (`Some(output)`) or this token is cancelled (`None`), as
    /// tokio-util's `run_until_cancelled`.
    ///
    /// The cancellation is checked first at every poll: a token already cancelled means `future`
    /// is never polled, and once the cancellation is seen `future` is dropped at once. For a
    /// `Result<_, Cancelled>` instead of an `Option`, use [`cancellable`](super::cancellable).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// assert_eq!(token.run_until_cancelled(async { 7 }).await, Some(7));
    /// token.cancel();
    /// let stuck = std::future::pending::<i32>();
    /// assert_eq!(token.run_until_cancelled(stuck).await, None);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping the [`RunUntilCancelled`] drops `future` with whatever
    /// it had in progress; the token is not affected.
    pub fn run_until_cancelled<F: Future>(&self, future: F) -> RunUntilCancelled<'_, F> {
        RunUntilCancelled::new(self, future)
    }

    /// [`run_until_cancelled`](Self::run_until_cancelled), owning the token: the future is
    /// `'static` when `future` is, to move into a spawned task.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::CancellationToken;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let shutdown = CancellationToken::new();
    /// let poll_forever = std::future::pending::<u32>();
    /// let worker = rt.spawn(shutdown.clone().run_until_cancelled_owned(poll_forever));
    /// shutdown.cancel();
    /// assert_eq!(worker.await.unwrap(), None); // stopped by the token
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`run_until_cancelled`](Self::run_until_cancelled).
    pub fn run_until_cancelled_owned<F: Future>(self, future: F) -> RunUntilCancelledOwned<F> {
        RunUntilCancelledOwned::new(self, future)
    }

    /// [`cancellable`](super::cancellable) borrowing the token: for a future that lives within the
    /// caller's own (the resilience pipeline), so no reference count is touched.
    pub(crate) fn run_until_cancelled_ref<F: Future>(
        &self,
        future: F,
    ) -> UntilCancelled<F, &CancellationToken> {
        UntilCancelled::new(self, future)
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Cancels its token when dropped; from [`CancellationToken::drop_guard`].
#[derive(Debug)]
#[must_use = "an unbound DropGuard cancels its token at once; bind it with `let _guard = ...`"]
pub struct DropGuard {
    token: Option<CancellationToken>,
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::sync::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// let guard = token.clone().drop_guard();
    /// // ... the work succeeded: keep the token alive
    /// let token = guard.disarm();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn disarm(mut self) -> CancellationToken {
        self.token
            .take()
            .expect("a DropGuard holds its token until dropped")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
    }
}
