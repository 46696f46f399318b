//! A child's [`ChildHandle`] and the cloneable [`GroupSpawner`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::ChildError;
use super::state::{ChildControl, Shared};
use super::task_group::spawn_child;
use crate::sync::CancellationToken;

/// Spawns into a [`TaskGroup`](super::TaskGroup) from anywhere, including from its own children. Cheap to clone.
///
/// It does not keep the group alive: once the group is dropped or shut down, children spawned
/// through it start cancelled.
pub struct GroupSpawner<T, E> {
    pub(super) shared: Arc<Shared<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> GroupSpawner<T, E> {
    /// Starts a child; see [`TaskGroup::spawn`](super::TaskGroup::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// vrt.block_on(async move {
    ///     let group = TaskGroup::<u32, ()>::new(&rt);
    ///     let spawner = group.spawner();
    ///     group.spawn("parent", async move {
    ///         spawner.spawn("child", async { Ok(2) });
    ///         Ok(1)
    ///     });
    ///     let mut all = group.join_all().await.unwrap();
    ///     all.sort();
    ///     assert_eq!(all, [1, 2]);
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`TaskGroup::spawn`](super::TaskGroup::spawn): dropping the handle neither cancels the child nor loses its
    /// outcome.
    pub fn spawn<F>(&self, name: impl Into<String>, future: F) -> ChildHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        spawn_child(&self.shared, name.into(), future)
    }
}

impl<T, E> Clone for GroupSpawner<T, E> {
    fn clone(&self) -> Self {
        GroupSpawner {
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> fmt::Debug for GroupSpawner<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSpawner").finish_non_exhaustive()
    }
}

/// The handle of one child of a [`TaskGroup`](super::TaskGroup): await it for the child's outcome, or
/// [`cancel`](Self::cancel) just this child.
///
/// Dropping the handle does not cancel the child (the group owns it), so ignoring it is fine when
/// the outcome is taken from the group instead.
///
/// # Cancel safety
///
/// Awaiting is cancel safe: the outcome is only taken when the handle returns it.
pub struct ChildHandle<T, E> {
    pub(super) shared: Arc<Shared<T, E>>,
    pub(super) key: usize,
    pub(super) id: u64,
    /// The child's cell: its name, and the group's hold on its future.
    pub(super) cell: Arc<dyn ChildControl>,
    pub(super) token: CancellationToken,
    pub(super) done: bool,
}

impl<T, E> ChildHandle<T, E> {
    /// The child's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let group = TaskGroup::<(), ()>::new(&rt);
    /// let child = group.spawn("indexer", async { Ok(()) });
    /// assert_eq!(child.name(), "indexer");
    /// ```
    pub fn name(&self) -> &str {
        self.cell.name()
    }

    /// Cancels this child only: its outcome becomes [`ChildError::Cancelled`] unless it had
    /// already finished. In a fail-fast group, a cancellation is not a failure: siblings run on.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), ()>::new(&rt);
    /// let stuck = group.spawn("stuck", std::future::pending());
    /// let other = group.spawn("other", async { Ok(()) });
    /// stuck.cancel();
    /// assert!(stuck.await.unwrap_err().is_cancelled());
    /// other.await.unwrap(); // not a failure: the sibling ran on
    /// # });
    /// ```
    pub fn cancel(&self) {
        self.shared.cancel_child(self.key, self.id, &self.token);
    }

    /// Whether the child has finished (its future dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{TaskGroup, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<u32, ()>::new(&rt);
    /// let child = group.spawn("quick", async { Ok(1) });
    /// assert!(!child.is_finished());
    /// yield_now().await; // let it run
    /// assert!(child.is_finished());
    /// assert_eq!(child.await.unwrap(), 1);
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.shared.is_child_done(self.key, self.id)
    }
}

impl<T, E> Future for ChildHandle<T, E> {
    type Output = Result<T, ChildError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let taken = || ChildError::AlreadyTaken {
            name: this.cell.name().to_string(),
        };
        if this.done {
            return Poll::Ready(Err(taken()));
        }
        let outcome = std::task::ready!(this.shared.poll_child(this.key, this.id, cx));
        this.done = true;
        Poll::Ready(outcome.unwrap_or_else(|()| Err(taken())))
    }
}

impl<T, E> Drop for ChildHandle<T, E> {
    fn drop(&mut self) {
        self.shared.release_handle(self.key, self.id);
    }
}

impl<T, E> fmt::Debug for ChildHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildHandle")
            .field("name", &self.cell.name())
            .finish_non_exhaustive()
    }
}
