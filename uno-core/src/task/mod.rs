//! Tasks: the core's own handle over any [`Spawner`](crate::rt::Spawner), with one drop policy.
//!
//! Executors disagree on what dropping a task handle means (tokio detaches, smol cancels). uno does
//! not inherit either: a [`Task`] **cancels its task when dropped** on every backend, unless it was
//! [detached](Task::detach) explicitly. A panic inside a task is caught and comes back as
//! [`JoinError::Panicked`] with the panic message, again on every backend.

mod error;
mod group;
mod manager;
mod shield;
mod yield_now;

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::atomic::{AtomicU8, Ordering};
use crate::loom::{Arc, AtomicWaker, Mutex, MutexGuard};

pub use error::JoinError;
pub use group::{
    ChildError, ChildHandle, GroupConfigError, GroupError, GroupSpawner, TaskGroup,
    TaskGroupBuilder, task_group,
};
pub use manager::{
    ManagedTask, ManagedTaskError, TaskInfo, TaskManager, TaskManagerError, TaskPanic,
    TaskShutdownReport, TaskState,
};
pub use shield::{Shielded, shield};
pub use yield_now::{YieldNow, yield_now};

/// Cancellation was requested through the handle.
const CANCEL: u8 = 1;
/// The output (or the error) is stored; the task's future has been dropped.
const DONE: u8 = 2;

/// State shared by a [`Task`] and the future that runs it on the executor.
struct Shared<T> {
    state: AtomicU8,
    /// Woken to make the runner notice a cancellation request.
    runner: AtomicWaker,
    /// Woken when the output is stored.
    joiner: AtomicWaker,
    output: Mutex<Option<Result<T, JoinError>>>,
}

impl<T> Shared<T> {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            state: AtomicU8::new(0),
            runner: AtomicWaker::new(),
            joiner: AtomicWaker::new(),
            output: Mutex::new(None),
        })
    }

    fn output(&self) -> MutexGuard<'_, Option<Result<T, JoinError>>> {
        // A panic while holding this lock is impossible (we only move values in and out), but a
        // poisoned lock must never turn into a second panic.
        self.output.lock()
    }

    fn is_cancel_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCEL != 0
    }

    fn complete(&self, result: Result<T, JoinError>) {
        *self.output() = Some(result);
        self.state.fetch_or(DONE, Ordering::AcqRel);
        self.joiner.wake();
    }

    fn request_cancel(&self) {
        if self.state.fetch_or(CANCEL, Ordering::AcqRel) & (CANCEL | DONE) == 0 {
            self.runner.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// The future handed to the executor: runs the user's future, catches its panic, obeys
    /// cancellation, and stores the outcome for the [`Task`].
    ///
    /// If the executor drops it before completion (runtime shut down), the task resolves to
    /// [`JoinError::Cancelled`] instead of hanging its joiner.
    pub(crate) struct Runner<F: Future> {
        shared: Arc<Shared<F::Output>>,
        #[pin]
        future: Option<F>,
    }

    impl<F: Future> PinnedDrop for Runner<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                // Drop the user's future before publishing, so that "cancelled" implies "dropped".
                let outcome = drop_future(this.future).and(Err(JoinError::Cancelled));
                this.shared.complete(outcome);
            }
        }
    }
}

/// Drops the user's future in place, catching a panic from its `Drop`.
///
/// Every path that ends a task goes through here, so a future that panics while being dropped
/// (cancelled, finished, or dropped with the executor) still publishes an outcome — `Panicked`
/// with that message — and its joiner never hangs. After a panicking drop the slot is `None`
/// all the same: assignment writes the new value on the unwind path too.
fn drop_future<F>(mut future: Pin<&mut Option<F>>) -> Result<(), JoinError> {
    catch_unwind(AssertUnwindSafe(|| future.set(None))).map_err(JoinError::from_panic)
}

impl<F: Future> Future for Runner<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        // Register before checking, so a cancel request racing with this poll is never missed.
        this.shared.runner.register(cx.waker());
        if this.shared.is_cancel_requested() {
            let outcome = drop_future(this.future).and(Err(JoinError::Cancelled));
            this.shared.complete(outcome);
            return Poll::Ready(());
        }
        // The panic is caught here, in the core, so every backend reports it the same way.
        let result = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(JoinError::from_panic(payload)),
        };
        // A panic in the finished future's `Drop` wins over its output, as on tokio: the output is
        // dropped and the task reports the panic. A panic in poll keeps its own message.
        let result = match (drop_future(this.future), result) {
            (Err(panic), Ok(value)) => {
                // Its own `Drop` may panic too; the task reports the first panic either way.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
                Err(panic)
            }
            (_, result) => result,
        };
        this.shared.complete(result);
        Poll::Ready(())
    }
}

/// Creates the runner to hand to an executor and the handle to give the user.
pub(crate) fn pair<F: Future>(future: F) -> (Runner<F>, Task<F::Output>) {
    let shared = Shared::new();
    let runner = Runner {
        shared: shared.clone(),
        future: Some(future),
    };
    (
        runner,
        Task {
            shared: Some(shared),
        },
    )
}

/// A handle to a spawned task: await it for the output, [`cancel`](Task::cancel) it, or
/// [`detach`](Task::detach) it.
///
/// Created by [`Runtime::spawn`](crate::rt::Runtime::spawn),
/// [`LocalSpawnerExt::spawn_local`](crate::rt::LocalSpawnerExt::spawn_local) or an adapter's
/// `spawn_blocking`.
///
/// - Awaiting gives `Ok(output)`, `Err(JoinError::Cancelled)` or `Err(JoinError::Panicked { .. })`.
/// - **Dropping the handle cancels the task** (on every backend): the task's future is dropped the
///   next time the executor runs it. Use [`detach`](Task::detach) to let it run on unobserved.
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::JoinError;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let ok = rt.spawn(async { 1 + 1 });
///     assert_eq!(ok.await.unwrap(), 2);
///
///     let boom = rt.spawn(async { panic!("kaboom") });
///     match boom.await {
///         Err(JoinError::Panicked { message }) => assert_eq!(message, "kaboom"),
///         other => panic!("unexpected {other:?}"),
///     }
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
    /// Asks the task to stop. Its future is dropped the next time the executor polls it; awaiting
    /// the handle then yields `Err(JoinError::Cancelled)`, unless the task had already finished, in
    /// which case its real outcome is kept.
    ///
    /// Cancelling a finished or already-cancelled task does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{JoinError, yield_now};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let stuck = rt.spawn(std::future::pending::<()>());
    /// stuck.cancel();
    /// assert_eq!(stuck.await, Err(JoinError::Cancelled));
    ///
    /// let quick = rt.spawn(async { 7 });
    /// yield_now().await; // let it finish
    /// quick.cancel(); // too late: the real outcome is kept
    /// assert_eq!(quick.await, Ok(7));
    /// # });
    /// ```
    pub fn cancel(&self) {
        if let Some(shared) = &self.shared {
            shared.request_cancel();
        }
    }

    /// Cancels the task and waits until its future has been dropped, returning its outcome: the
    /// output if it finished first, otherwise `Err(JoinError::Cancelled)`.
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
    /// assert_eq!(task.await, Ok(1)); // the output is still there
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.shared {
            Some(shared) => shared.state.load(Ordering::Acquire) & DONE != 0,
            None => true,
        }
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = self
            .shared
            .as_ref()
            .expect("`Task` polled after it returned its output or was detached");
        if shared.state.load(Ordering::Acquire) & DONE == 0 {
            shared.joiner.register(cx.waker());
            if shared.state.load(Ordering::Acquire) & DONE == 0 {
                return Poll::Pending;
            }
        }
        let output = shared.output().take();
        self.shared = None;
        Poll::Ready(output.unwrap_or(Err(JoinError::Cancelled)))
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

/// Work for a blocking thread pool, paired with the [`Task`] that reports its outcome.
///
/// Adapters build their `spawn_blocking` from [`blocking`]: run the job on the executor's blocking
/// pool, hand the task to the user. The job catches a panic of the closure, and if it is dropped
/// without running (pool shut down) the task resolves to [`JoinError::Cancelled`].
pub struct BlockingJob {
    job: Option<Box<dyn FnOnce() + Send>>,
    /// Publishes the outcome of a job dropped without running.
    on_drop: Option<Box<dyn FnOnce(JoinError) + Send>>,
}

impl BlockingJob {
    /// Runs the closure on the current thread, storing its outcome for the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future::block_on;
    /// use uno_core::task::{JoinError, blocking};
    ///
    /// let (job, task) = blocking(|| "ran");
    /// job.run(); // on this thread; an adapter runs it on its blocking pool
    /// assert_eq!(block_on(task), Ok("ran"));
    ///
    /// let (job, task) = blocking(|| "never");
    /// drop(job); // the pool shut down before running it
    /// assert_eq!(block_on(task), Err(JoinError::Cancelled));
    /// ```
    pub fn run(mut self) {
        self.on_drop = None;
        if let Some(job) = self.job.take() {
            job();
        }
    }
}

impl Drop for BlockingJob {
    fn drop(&mut self) {
        // Dropped unrun: the closure's captures are dropped here, and a panic in their `Drop`
        // is the task's outcome rather than a panic in the pool that dropped the job.
        let dropped = match self.job.take() {
            Some(job) => {
                catch_unwind(AssertUnwindSafe(move || drop(job))).map_err(JoinError::from_panic)
            }
            None => Ok(()),
        };
        if let Some(on_drop) = self.on_drop.take() {
            on_drop(dropped.err().unwrap_or(JoinError::Cancelled));
        }
    }
}

impl fmt::Debug for BlockingJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJob").finish_non_exhaustive()
    }
}

/// Splits a blocking closure into a [`BlockingJob`] (to run on a thread) and its [`Task`].
///
/// A cancelled task cannot interrupt a closure that is already running; it only prevents a closure
/// that has not started yet from starting.
///
/// # Examples
///
/// ```
/// let (job, task) = uno_core::task::blocking(|| 6 * 7);
/// std::thread::spawn(move || job.run());
/// assert_eq!(futures_lite::future::block_on(task).unwrap(), 42);
/// ```
///
/// # Cancel safety
///
/// Dropping the [`Task`] cancels the job if it has not started, and loses its output; a closure
/// that is already running runs to completion.
pub fn blocking<F, T>(f: F) -> (BlockingJob, Task<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Shared::new();
    let run_shared = shared.clone();
    let drop_shared = shared.clone();
    let job = BlockingJob {
        job: Some(Box::new(move || {
            if run_shared.is_cancel_requested() {
                // Not run; its captures may still panic while being dropped.
                let dropped = catch_unwind(AssertUnwindSafe(move || drop(f)));
                let dropped = dropped.map_err(JoinError::from_panic);
                run_shared.complete(dropped.and(Err(JoinError::Cancelled)));
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::from_panic);
            run_shared.complete(result);
        })),
        on_drop: Some(Box::new(move |error| drop_shared.complete(Err(error)))),
    };
    (
        job,
        Task {
            shared: Some(shared),
        },
    )
}
