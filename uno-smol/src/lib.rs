//! uno on smol: implements uno-core's [`Spawner`] and [`Timer`] with smol's executor and
//! `async-io`'s timers.
//!
//! Everything else comes from `uno-core` and behaves as on every other backend. A uno
//! [`Task`](uno_core::Task) cancels its task when dropped, as smol's own `Task` does.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let answer = uno_smol::run(|rt| async move {
//!     let task = rt.spawn(async { 6 * 7 });
//!     rt.sleep(Duration::from_millis(1)).await;
//!     task.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

pub mod signal;

pub use signal::run_application;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use smol::{Executor, LocalExecutor};
use uno_core::rt::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use uno_core::task::BlockingJob;
use uno_core::time::{Sleep, Timer};

/// A uno [`Runtime`] on smol's global executor (`smol::spawn`), with `async-io` timers.
///
/// # Examples
///
/// ```
/// let rt = uno_smol::runtime();
/// let out = smol::block_on(async { rt.spawn(async { 2 + 2 }).await });
/// assert_eq!(out.unwrap(), 4);
/// ```
pub fn runtime() -> Runtime {
    Runtime::new(SmolSpawner { executor: None }, AsyncIoTimer)
}

/// A uno [`Runtime`] on an executor of your own. You drive it (for example with
/// `executor.run(..)` on as many threads as you like).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let executor = Arc::new(smol::Executor::new());
/// let rt = uno_smol::runtime_on(executor.clone());
/// let task = rt.spawn(async { "ran on my executor" });
/// assert_eq!(smol::block_on(executor.run(task)).unwrap(), "ran on my executor");
/// ```
pub fn runtime_on(executor: Arc<Executor<'static>>) -> Runtime {
    Runtime::new(
        SmolSpawner {
            executor: Some(executor),
        },
        AsyncIoTimer,
    )
}

/// Runs `main` to completion on the current thread with a uno [`Runtime`] on smol's global
/// executor. The usual entry point of an application.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let slept = uno_smol::run(|rt| async move {
///     let start = rt.now();
///     rt.sleep(Duration::from_millis(5)).await;
///     rt.now() - start
/// });
/// assert!(slept >= Duration::from_millis(5));
/// ```
pub fn run<F, Fut>(main: F) -> Fut::Output
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future,
{
    smol::block_on(main(runtime()))
}

/// As [`run`], with a [`SmolLocalSpawner`] for `!Send` tasks, driven on this thread.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use uno_core::rt::LocalSpawnerExt;
///
/// let out = uno_smol::run_local(|_rt, local| async move {
///     let shared = Rc::new(20); // !Send
///     local.spawn_local(async move { *shared + 1 }).await.unwrap()
/// });
/// assert_eq!(out, 21);
/// ```
pub fn run_local<F, Fut>(main: F) -> Fut::Output
where
    F: FnOnce(Runtime, SmolLocalSpawner) -> Fut,
    Fut: Future,
{
    let local = Rc::new(LocalExecutor::new());
    let spawner = SmolLocalSpawner {
        executor: local.clone(),
    };
    smol::block_on(local.run(main(runtime(), spawner)))
}

/// Runs a future to completion on the current thread (smol's `block_on`).
///
/// # Examples
///
/// ```
/// assert_eq!(uno_smol::block_on(async { 7 }), 7);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

/// Spawns onto smol's global executor, or onto an executor of your own. smol's `Task` is
/// detached: uno's [`Task`](uno_core::Task) carries the result and the drop policy.
#[derive(Clone)]
pub struct SmolSpawner {
    executor: Option<Arc<Executor<'static>>>,
}

impl fmt::Debug for SmolSpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolSpawner")
            .field("global", &self.executor.is_none())
            .finish()
    }
}

impl Spawner for SmolSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        match &self.executor {
            Some(executor) => executor.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
    }

    fn spawn_blocking_job(&self, job: BlockingJob) {
        smol::unblock(move || job.run()).detach();
    }
}

/// Timers from `async-io`, the reactor behind smol and async-std.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoTimer;

impl Timer for AsyncIoTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(AsyncIoSleep {
            timer: async_io::Timer::at(deadline),
            deadline,
        })
    }
}

struct AsyncIoSleep {
    timer: async_io::Timer,
    deadline: Instant,
}

impl Future for AsyncIoSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}

impl Sleep for AsyncIoSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
        self.timer.set_at(deadline);
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Runs `!Send` futures on a smol [`LocalExecutor`] (they run while it is driven).
#[derive(Clone)]
pub struct SmolLocalSpawner {
    executor: Rc<LocalExecutor<'static>>,
}

impl SmolLocalSpawner {
    /// A spawner onto `executor`. Drive it with `executor.run(..)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use uno_core::rt::LocalSpawnerExt;
    /// use uno_smol::SmolLocalSpawner;
    ///
    /// let executor = Rc::new(smol::LocalExecutor::new());
    /// let local = SmolLocalSpawner::new(executor.clone());
    /// let task = local.spawn_local(async { Rc::new("local").to_string() });
    /// assert_eq!(smol::block_on(executor.run(task)).unwrap(), "local");
    /// ```
    pub fn new(executor: Rc<LocalExecutor<'static>>) -> Self {
        SmolLocalSpawner { executor }
    }
}

impl fmt::Debug for SmolLocalSpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolLocalSpawner").finish_non_exhaustive()
    }
}

impl LocalSpawner for SmolLocalSpawner {
    fn spawn_local_boxed(&self, future: LocalBoxFuture<()>) {
        self.executor.spawn(future).detach();
    }
}
