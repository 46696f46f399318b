//! [`Runtime`]: the handle every uno API takes, a [`Spawner`] and a [`Timer`] together.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Spawner;
use crate::task::Task;
use crate::time::{Sleep, Timeout, Timer};

struct Parts {
    spawner: Box<dyn Spawner>,
    timer: Box<dyn Timer>,
}

/// The handle every uno API takes: a [`Spawner`] and a [`Timer`], cheap to clone (one `Arc`).
///
/// It can only be built with both parts present, so there is no "timer not set" failure at use.
/// Adapters hand one out (`uno_tokio::runtime()`, `uno_smol::runtime()`, …); tests use
/// [`VirtualRuntime::handle`](super::VirtualRuntime::handle) for deterministic time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let answer = vrt.block_on(async move {
///     let task = rt.spawn(async { 6 * 7 });
///     rt.sleep(Duration::from_secs(3600)).await; // virtual: takes no real time
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone)]
pub struct Runtime {
    parts: Arc<Parts>,
}

impl Runtime {
    /// Bundles a spawner and a timer into a handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::{BoxFuture, Runtime, Spawner};
    /// use uno_core::time::{Timer, VirtualClock};
    ///
    /// # struct ThreadPerTask;
    /// # impl Spawner for ThreadPerTask {
    /// #     fn spawn_boxed(&self, future: BoxFuture<()>) {
    /// #         std::thread::spawn(move || futures_lite::future::block_on(future));
    /// #     }
    /// # }
    /// let clock = VirtualClock::new();
    /// let rt = Runtime::new(ThreadPerTask, clock.clone()); // any Spawner, any Timer
    /// let task = rt.spawn(async { 6 * 7 });
    /// assert_eq!(futures_lite::future::block_on(task).unwrap(), 42);
    /// assert_eq!(rt.now(), clock.now()); // time comes from the timer half
    /// ```
    pub fn new(spawner: impl Spawner, timer: impl Timer) -> Self {
        Runtime {
            parts: Arc::new(Parts {
                spawner: Box::new(spawner),
                timer: Box::new(timer),
            }),
        }
    }

    /// Spawns a future and returns its [`Task`] handle.
    ///
    /// The task starts running at once, whether or not the handle is polled. Dropping the handle
    /// cancels the task on every backend; call [`Task::detach`] to let it run on.
    ///
    /// With the `tracing` feature, the task runs inside the caller's current span (the span
    /// entered where `spawn` is called), so its events are attributed to the request or job that
    /// started it; [`spawn_without_span`](Self::spawn_without_span) opts out.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// vrt.block_on(async move {
    ///     let task = rt.spawn(async { "done" });
    ///     assert_eq!(task.await.unwrap(), "done");
    ///
    ///     let forever = rt.spawn(std::future::pending::<()>());
    ///     forever.cancel(); // or drop the handle
    ///     assert!(forever.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// The task runs whether or not its handle is polled, but awaiting the handle is not a
    /// cancel-safe way to wait: dropping the [`Task`] (for example, in the losing branch of a
    /// `select`) cancels the task and loses its output. To stop waiting without cancelling, poll
    /// `&mut task` and keep the handle, or [`detach`](Task::detach) it.
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let future = tracing::Instrument::in_current_span(future);
        self.spawn_without_span(future)
    }

    /// [`spawn`](Self::spawn), without the caller's span: the task starts outside any span (with
    /// the `tracing` feature; without it the two are the same).
    ///
    /// For a long-lived background task started while handling a request (a cache refresher, a
    /// connection's reader) that should not keep that request's span open, nor have its events
    /// attributed to it; or for a future that already carries a span of its own
    /// (`tracing::Instrument::instrument`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// vrt.block_on(async move {
    ///     // Inside a request's span, this task would still start outside it.
    ///     let refresher = rt.spawn_without_span(async { "refreshed" });
    ///     assert_eq!(refresher.await.unwrap(), "refreshed");
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`spawn`](Self::spawn): dropping the [`Task`] cancels the task and loses its output.
    pub fn spawn_without_span<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (runner, task) = crate::task::pair(future);
        self.parts.spawner.spawn_boxed(Box::pin(runner));
        task
    }

    /// Runs a blocking closure on the executor's blocking pool and returns its [`Task`].
    ///
    /// A panic in the closure comes back as a [`JoinError`](crate::task::JoinError) with its
    /// payload. Cancelling the task cannot interrupt a closure that is already running; it only
    /// stops one that has not started yet. With the `tracing` feature the closure runs inside the
    /// caller's current span, as [`spawn`](Self::spawn)'s futures do.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// let sum = vrt.block_on(async move { rt.spawn_blocking(|| (1..=10).sum::<u32>()).await });
    /// assert_eq!(sum.unwrap(), 55);
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the [`Task`] cancels the job if it has not started, and loses its output. A closure
    /// that is already running runs to completion; only its output is discarded.
    pub fn spawn_blocking<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let f = {
            let span = tracing::Span::current();
            move || span.in_scope(f)
        };
        let (job, task) = crate::task::blocking(f);
        self.parts.spawner.spawn_blocking_job(job);
        task
    }

    /// The spawner half.
    ///
    /// # Examples
    ///
    /// ```
    /// # use uno_core::rt::VirtualRuntime;
    /// use uno_core::sync::AsyncEvent;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let done = AsyncEvent::new();
    /// let set = done.clone();
    /// // The raw seam: a detached `()` future, no `Task` handle.
    /// rt.spawner().spawn_boxed(Box::pin(async move { set.set() }));
    /// vrt.block_on(done.wait());
    /// assert!(done.is_set());
    /// ```
    pub fn spawner(&self) -> &dyn Spawner {
        &*self.parts.spawner
    }

    /// The timer half.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// use uno_core::time::Timer;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let timer = rt.timer();
    /// let start = timer.now();
    /// vrt.block_on(timer.sleep(Duration::from_secs(2)));
    /// assert_eq!(timer.now() - start, Duration::from_secs(2));
    /// ```
    pub fn timer(&self) -> &dyn Timer {
        &*self.parts.timer
    }

    /// The current instant, as this runtime's timer sees it (virtual under
    /// [`VirtualRuntime`](super::VirtualRuntime)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// let start = rt.now();
    /// vrt.clock().advance(Duration::from_secs(3)); // virtual time moves only when told to
    /// assert_eq!(rt.now() - start, Duration::from_secs(3));
    /// ```
    pub fn now(&self) -> Instant {
        self.parts.timer.now()
    }

    /// A future that completes once `duration` has passed on this runtime's clock.
    ///
    /// A duration too large to add to the current instant saturates to a deadline decades away.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let start = rt.now();
    /// rt.sleep(Duration::from_millis(250)).await;
    /// assert_eq!(rt.now() - start, Duration::from_millis(250));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the sleep unregisters it and has no other effect.
    pub fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.parts.timer.sleep(duration)
    }

    /// A future that completes at `deadline` (at once if it has passed).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let deadline = rt.now() + Duration::from_secs(2);
    /// rt.sleep_until(deadline).await;
    /// assert_eq!(rt.now(), deadline);
    /// rt.sleep_until(deadline).await; // in the past: ready at once
    /// assert_eq!(rt.now(), deadline);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Runtime::sleep`].
    pub fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.parts.timer.sleep_until(deadline)
    }

    /// Runs `future` with a time limit; see [`crate::time::timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let quick = rt.timeout(Duration::from_secs(1), "reading the cache", async { 5 });
    /// assert_eq!(quick.await, Ok(5));
    ///
    /// let hung = std::future::pending::<()>();
    /// let err = rt.timeout(Duration::from_secs(1), "calling the API", hung).await.unwrap_err();
    /// assert_eq!(err.message(), "calling the API");
    /// assert_eq!(err.elapsed(), Duration::from_secs(1));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping the [`Timeout`] drops `future` with whatever it had in
    /// progress.
    pub fn timeout<F: Future>(
        &self,
        duration: Duration,
        message: impl Into<std::borrow::Cow<'static, str>>,
        future: F,
    ) -> Timeout<F> {
        crate::time::timeout(self, duration, message, future)
    }

    /// Runs `future` until `deadline`; see [`crate::time::timeout_at`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let deadline = rt.now() + Duration::from_secs(5);
    /// let slow = rt.sleep(Duration::from_secs(10));
    /// let err = rt.timeout_at(deadline, "nightly export", slow).await.unwrap_err();
    /// assert_eq!(err.elapsed(), Duration::from_secs(5));
    /// assert_eq!(rt.now(), deadline);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping the [`Timeout`] drops `future` with whatever it had in
    /// progress.
    pub fn timeout_at<F: Future>(
        &self,
        deadline: Instant,
        message: impl Into<std::borrow::Cow<'static, str>>,
        future: F,
    ) -> Timeout<F> {
        crate::time::timeout_at(self, deadline, message, future)
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}
