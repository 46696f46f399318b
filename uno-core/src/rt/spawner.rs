//! The two spawner traits an adapter implements ([`Spawner`], and optionally [`LocalSpawner`]),
//! the boxed futures they take, and [`LocalSpawnerExt`], which gives a local spawn its [`Task`].

use std::future::Future;
use std::pin::Pin;

use crate::task::{BlockingJob, Task};

/// A boxed `Send` future, the unit of work a [`Spawner`] accepts.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A boxed future that may be `!Send`, the unit of work a [`LocalSpawner`] accepts.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// Runs `Send` futures to completion on some executor.
///
/// The trait is object safe and deliberately minimal: it spawns a detached `()` future. Everything a
/// user sees of a task — awaiting its output, cancelling it, the drop policy, panics reported as
/// values — is built by the core on top ([`Task`]), so it behaves the same on every executor.
///
/// An implementation must eventually poll the future until it completes, or drop it (for example when
/// the executor shuts down). It must not poll it after it returned `Ready`.
///
/// # Examples
///
/// ```
/// use uno_core::rt::{BoxFuture, Spawner};
///
/// /// Runs every future on a fresh thread (a toy, but a correct one).
/// struct ThreadPerTask;
///
/// impl Spawner for ThreadPerTask {
///     fn spawn_boxed(&self, future: BoxFuture<()>) {
///         std::thread::spawn(move || futures_lite::future::block_on(future));
///     }
/// }
/// ```
pub trait Spawner: Send + Sync + 'static {
    /// Starts running `future` in the background.
    fn spawn_boxed(&self, future: BoxFuture<()>);

    /// Runs a blocking job on the executor's pool for blocking work.
    ///
    /// The default runs it on a new thread; adapters override it with their executor's pool.
    fn spawn_blocking_job(&self, job: BlockingJob) {
        std::thread::spawn(move || job.run());
    }
}

/// Runs `!Send` futures on the current thread. Optional: not every executor can.
///
/// Use [`LocalSpawnerExt::spawn_local`] to get a [`Task`] back.
pub trait LocalSpawner: 'static {
    /// Starts running `future` on this thread's local executor.
    fn spawn_local_boxed(&self, future: LocalBoxFuture<()>);
}

/// Spawning with a [`Task`] handle on any [`LocalSpawner`].
pub trait LocalSpawnerExt: LocalSpawner {
    /// Spawns a `!Send` future and returns its handle. The handle cancels the task when dropped.
    /// With the `tracing` feature it runs inside the caller's current span, as
    /// [`Runtime::spawn`]'s do.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use uno_core::rt::{LocalSpawnerExt, VirtualRuntime};
    ///
    /// let rt = VirtualRuntime::new();
    /// let local = rt.local_spawner();
    /// let shared = Rc::new(21); // Rc is !Send
    /// let out = rt.block_on(async move {
    ///     let task = local.spawn_local(async move { *shared * 2 });
    ///     task.await.unwrap()
    /// });
    /// assert_eq!(out, 42);
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`Runtime::spawn`]: dropping the [`Task`] cancels the task and loses its output; poll
    /// `&mut task` to stop waiting without cancelling.
    ///
    /// [`Runtime::spawn`]: crate::rt::Runtime::spawn
    fn spawn_local<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        #[cfg(feature = "tracing")]
        let future = tracing::Instrument::in_current_span(future);
        let (runner, task) = crate::task::pair(future);
        self.spawn_local_boxed(Box::pin(runner));
        task
    }
}

impl<S: LocalSpawner + ?Sized> LocalSpawnerExt for S {}
