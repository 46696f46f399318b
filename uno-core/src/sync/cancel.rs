use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};

use event_listener::{Event, EventListener};
use slab::Slab;

use crate::loom::atomic::{AtomicBool, Ordering};
use crate::loom::{Mutex, MutexGuard};

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
    node: Arc<Node>,
}

#[derive(Default)]
struct Node {
    cancelled: AtomicBool,
    event: Event,
    children: Mutex<Children>,
    /// The parent and our key in its `children`, so we can unregister on drop.
    parent: Option<(Arc<Node>, usize)>,
}

/// Weak links to the children in a slab: a key is an index, freed keys are reused. Cheaper than
/// a hash map for the common pattern of many short-lived children (one per task or request), and
/// it never grows past the most children alive at once.
///
/// A key is removed only by its own node's drop, and `cancel` empties the slab for good (no child
/// registers after it), so a stale key never removes another child's link.
#[derive(Default)]
struct Children {
    slab: Slab<Weak<Node>>,
}

impl Children {
    /// The key the next [`insert`](Self::insert) will use.
    fn vacant_key(&self) -> usize {
        self.slab.vacant_key()
    }

    fn insert(&mut self, child: Weak<Node>) {
        self.slab.insert(child);
    }

    fn remove(&mut self, key: usize) {
        self.slab.try_remove(key);
        if self.slab.is_empty() {
            // Keep the capacity, drop the free list: keys start from 0 again.
            self.slab.clear();
        }
    }

    fn into_children(self) -> impl Iterator<Item = Arc<Node>> {
        self.slab.into_iter().filter_map(|(_, weak)| weak.upgrade())
    }
}

impl Node {
    fn new(cancelled: bool, parent: Option<(Arc<Node>, usize)>) -> Arc<Self> {
        Arc::new(Node {
            cancelled: AtomicBool::new(cancelled),
            event: Event::new(),
            children: Mutex::default(),
            parent,
        })
    }

    fn children(&self) -> MutexGuard<'_, Children> {
        self.children.lock()
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Unregister from the parent. When we held the parent's last reference, unlink its own
        // parent before it drops, so a long chain of children unwinds in a loop, not recursively
        // (which would overflow the stack).
        let mut link = self.parent.take();
        while let Some((parent, key)) = link {
            parent.children().remove(key);
            link = match Arc::try_unwrap(parent) {
                Ok(mut parent) => parent.parent.take(),
                Err(_) => None,
            };
        }
    }
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
        let mut children = self.node.children();
        // Checked under the lock that `cancel` takes after setting the flag: a child is either
        // registered before the parent's children are taken, or sees the flag.
        if self.node.is_cancelled() {
            return CancellationToken {
                node: Node::new(true, None),
            };
        }
        let key = children.vacant_key();
        let node = Node::new(false, Some((self.node.clone(), key)));
        children.insert(Arc::downgrade(&node));
        CancellationToken { node }
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
    /// assert_eq!(worker.await, Ok("stopped"));
    /// # });
    /// ```
    pub fn cancel(&self) {
        // Iterative, so a deep chain of children cannot overflow the stack.
        let mut pending = vec![self.node.clone()];
        while let Some(node) = pending.pop() {
            if node.cancelled.swap(true, Ordering::AcqRel) {
                continue;
            }
            node.event.notify(usize::MAX);
            let children = std::mem::take(&mut *node.children());
            pending.extend(children.into_children());
        }
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
        WaitForCancellation {
            node: &self.node,
            listener: None,
        }
    }

    /// A guard that cancels this token when dropped, unless [disarmed](DropGuard::disarm).
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

    /// Runs `future` until it completes or this token is cancelled; see [`cancellable`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use uno_core::sync::{CancellationToken, Cancelled};
    ///
    /// let token = CancellationToken::new();
    /// assert_eq!(token.run_until_cancelled(async { 7 }).await, Ok(7));
    /// token.cancel();
    /// let stuck = std::future::pending::<i32>();
    /// assert_eq!(token.run_until_cancelled(stuck).await, Err(Cancelled));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping the [`Cancellable`] drops `future` with whatever it had
    /// in progress; the token is not affected.
    pub fn run_until_cancelled<F: Future>(&self, future: F) -> Cancellable<F> {
        cancellable(self, future)
    }

    /// [`run_until_cancelled`](Self::run_until_cancelled) borrowing the token: for a future that
    /// lives within the caller's own (the resilience pipeline), so no reference count is touched.
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

/// Waits on a node; the shared half of [`WaitForCancellation`] and [`Cancellable`].
fn poll_cancelled(
    node: &Node,
    listener: &mut Option<EventListener>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    loop {
        if node.is_cancelled() {
            *listener = None;
            return Poll::Ready(());
        }
        match listener {
            // Listen, then re-check: a cancel in between is not missed.
            None => *listener = Some(node.event.listen()),
            Some(l) => {
                ready!(Pin::new(l).poll(cx));
                *listener = None;
            }
        }
    }
}

/// The future returned by [`CancellationToken::cancelled`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitForCancellation<'a> {
    node: &'a Node,
    listener: Option<EventListener>,
}

impl Future for WaitForCancellation<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_cancelled(this.node, &mut this.listener, cx)
    }
}

impl fmt::Debug for WaitForCancellation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellation")
            .finish_non_exhaustive()
    }
}

/// Cancels its token when dropped; from [`CancellationToken::drop_guard`].
#[derive(Debug)]
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

/// The error of a [`cancellable`] future: its token was cancelled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation was cancelled")
    }
}

impl std::error::Error for Cancelled {}

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
        if poll_cancelled(node, this.listener, cx).is_ready() {
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
