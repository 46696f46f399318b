//! [`Task`]: the user's handle to a spawned task — await it, cancel it, or detach it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, ready};

use super::JoinError;
use super::state::Shared;
use crate::loom::Arc;

/// A handle to a spawned task: await it for the output, [`cancel`](Task::cancel) it, or
/// [`detach`](Task::detach) it.
///
/// Created by [`Runtime::spawn`](crate::rt::Runtime::spawn),
/// [`LocalSpawnerExt::spawn_local`](crate::rt::LocalSpawnerExt::spawn_local) or an adapter's
/// `spawn_blocking`.
///
/// - Awaiting gives `Ok(output)`, or a [`JoinError`] if the task was cancelled or panicked (with
///   the panic's original payload).
/// - **Dropping the handle cancels the task** (on every backend): the task's future is dropped the
///   next time the executor runs it. Use [`detach`](Task::detach) to let it run on unobserved.
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let ok = rt.spawn(async { 1 + 1 });
///     assert_eq!(ok.await.unwrap(), 2);
///
///     let boom = rt.spawn(async { panic!("kaboom") });
///     let err = boom.await.unwrap_err();
///     assert_eq!(err.panic_message(), Some("kaboom"));
/// });
/// ```
///
/// # Cancel safety
///
/// Awaiting a `Task` is cancel safe only in the sense that it does not lose the output *while the
/// handle lives*: dropping the `Task` future (the handle itself) cancels the task. To stop waiting
/// without cancelling, poll `&mut task` in a `select` and keep the handle.
#[must_use = "dropping a Task cancels it; call .detach() to let it run in the background"]
pub struct Task<T> {
    /// `None` once detached or once the output was taken.
    shared: Option<Arc<Shared<T>>>,
}

impl<T> Task<T> {
    /// The handle over `shared`, whose other half runs the task.
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Task {
            shared: Some(shared),
        }
    }

    /// Asks the task to stop. Its future is dropped the next time the executor polls it; awaiting
    /// the handle then yields a cancelled [`JoinError`], unless the task had already finished, in
    /// which case its real outcome is kept.
    ///
    /// Cancelling a finished or already-cancelled task does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::yield_now;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let stuck = rt.spawn(std::future::pending::<()>());
    /// stuck.cancel();
    /// assert!(stuck.await.unwrap_err().is_cancelled());
    ///
    /// let quick = rt.spawn(async { 7 });
    /// yield_now().await; // let it finish
    /// quick.cancel(); // too late: the real outcome is kept
    /// assert_eq!(quick.await.unwrap(), 7);
    /// # });
    /// ```
    pub fn cancel(&self) {
        if let Some(shared) = &self.shared {
            shared.request_cancel();
        }
    }

    /// Cancels the task and waits until its future has been dropped, returning its outcome: the
    /// output if it finished first, otherwise a cancelled [`JoinError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let rt2 = rt.clone();
    /// let poller = rt.spawn(async move {
    ///     rt2.sleep(Duration::from_secs(3600)).await;
    ///     "polled"
    /// });
    /// let outcome = poller.cancel_and_wait().await; // its future is gone when this returns
    /// assert!(outcome.unwrap_err().is_cancelled());
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancellation has been requested as soon as this is called; dropping the returned future only
    /// gives up waiting for the task's future to be dropped.
    pub fn cancel_and_wait(self) -> Task<T> {
        self.cancel();
        self
    }

    /// Lets the task run to completion in the background with nobody observing it.
    ///
    /// Its output is dropped; a panic is caught and discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::yield_now;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// let (a, b) = (runs.clone(), runs.clone());
    /// vrt.block_on(async move {
    ///     rt.spawn(async move { a.fetch_add(1, Ordering::SeqCst); }).detach(); // runs on
    ///     drop(rt.spawn(async move { b.fetch_add(10, Ordering::SeqCst); })); // cancelled
    ///     yield_now().await;
    /// });
    /// assert_eq!(runs.load(Ordering::SeqCst), 1);
    /// ```
    pub fn detach(mut self) {
        self.shared = None;
    }

    /// Whether the task has finished (completed, panicked or been cancelled and dropped).
    ///
    /// Returns `true` after the output has been taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::yield_now;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let task = rt.spawn(async { 1 });
    /// assert!(!task.is_finished()); // not run yet
    /// yield_now().await;
    /// assert!(task.is_finished());
    /// assert_eq!(task.await.unwrap(), 1); // the output is still there
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.shared {
            Some(shared) => shared.is_done(),
            None => true,
        }
    }
}

impl<T: Send + 'static> Task<T> {
    /// A cloneable handle that can cancel this task and tell whether it finished, without owning
    /// its output (tokio's `AbortHandle`): for a supervisor, a registry or a signal handler that
    /// must be able to stop the task while someone else awaits it.
    ///
    /// Dropping an `AbortHandle` does nothing; the [`Task`] keeps its drop policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let server = rt.spawn(std::future::pending::<()>());
    /// let stop = server.abort_handle();
    /// let stop_too = stop.clone(); // cheap to clone, `Send + Sync`
    /// assert!(!stop.is_finished());
    /// stop_too.abort();
    /// assert!(server.await.unwrap_err().is_cancelled());
    /// assert!(stop.is_finished());
    /// # });
    /// ```
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            control: self
                .shared
                .as_ref()
                .map(|shared| StdArc::new(Control(shared.clone())) as StdArc<dyn Abort>),
        }
    }
}

/// What an [`AbortHandle`] needs of a task's shared state, whatever its output type.
trait Abort: Send + Sync {
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

/// The task's shared state, behind a std `Arc` the handle can erase to `dyn Abort` (the model
/// builds' `Arc` cannot be unsized).
struct Control<T>(Arc<Shared<T>>);

impl<T: Send> Abort for Control<T> {
    fn abort(&self) {
        self.0.request_cancel();
    }

    fn is_finished(&self) -> bool {
        self.0.is_done()
    }
}

/// A cloneable handle that cancels a task, from [`Task::abort_handle`].
///
/// [`abort`](Self::abort) is [`Task::cancel`] from anywhere: the task's future is dropped the
/// next time the executor polls it, and its [`Task`] resolves to a cancelled [`JoinError`] unless
/// it had already finished. Dropping the handle does nothing.
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// # vrt.block_on(async move {
/// let poller = rt.spawn(std::future::pending::<()>());
/// let abort = poller.abort_handle();
/// let rt2 = rt.clone();
/// rt.spawn(async move { abort.abort() }).detach(); // from another task
/// assert!(poller.await.unwrap_err().is_cancelled());
/// # });
/// ```
#[derive(Clone)]
pub struct AbortHandle {
    /// `None` for a task detached or joined before the handle was made: nothing to abort.
    control: Option<StdArc<dyn Abort>>,
}

impl AbortHandle {
    /// Asks the task to stop; see [`Task::cancel`]. Aborting a finished task does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::yield_now;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let quick = rt.spawn(async { 7 });
    /// let abort = quick.abort_handle();
    /// yield_now().await; // it finishes
    /// abort.abort(); // too late: the real outcome is kept
    /// assert_eq!(quick.await.unwrap(), 7);
    /// # });
    /// ```
    pub fn abort(&self) {
        if let Some(control) = &self.control {
            control.abort();
        }
    }

    /// Whether the task has finished (completed, panicked, or been cancelled and dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::yield_now;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let task = rt.spawn(async { 1 });
    /// let abort = task.abort_handle();
    /// assert!(!abort.is_finished());
    /// yield_now().await;
    /// assert!(abort.is_finished());
    /// # drop(task);
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.control
            .as_ref()
            .is_none_or(|control| control.is_finished())
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = self
            .shared
            .as_ref()
            .expect("`Task` polled after it returned its output or was detached");
        let output = ready!(shared.poll_outcome(cx));
        self.shared = None;
        Poll::Ready(output)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.request_cancel();
        }
    }
}

impl<T> Unpin for Task<T> {}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}
