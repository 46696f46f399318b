//! uno on smol: implements uno-core's [`Spawner`] with smol's executor, and keeps time with
//! `async-io`'s timers ([`AsyncIoTimer`], the same as uno-async-std's).
//!
//! Everything else comes from `uno-core` and behaves as on every other backend. A uno
//! [`Task`] cancels its task when dropped, as smol's own `Task` does.
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
//!
//! # The three adapters side by side
//!
//! `uno-tokio`, `uno-smol` and `uno-async-std` have the same items with the same names; these are
//! the differences their executors force. Where an executor cannot fail, the function is
//! infallible; uno-tokio fails with its `RuntimeError`.
//!
//! | item | uno-tokio | uno-smol | uno-async-std |
//! |---|---|---|---|
//! | `runtime()` | `Result<Runtime, RuntimeError>`: only inside a tokio runtime with its time driver | `Runtime` (smol's global executor) | `Runtime` (async-std's executor) |
//! | `runtime_from(..)` | from a `tokio::runtime::Handle`; `Result` (the time driver is checked) | from an `Arc<smol::Executor>` you drive; `Runtime` | none: async-std has one executor |
//! | `run`, `run_local`, `block_on` | `Result<T, RuntimeError>`: each builds a tokio runtime, which can fail | `T` | `T` |
//! | `spawn_blocking` | `Result<Task<T>, RuntimeError>`: only inside a tokio runtime | `Task<T>` | `Task<T>` |
//! | `run_application` | `Result<ApplicationReport, ApplicationError<E>>`; `Setup` also if the tokio runtime cannot be built | the same | the same |
//! | `signal::Signal`, `signal::ShutdownSignal` | uno-core's (`uno_core::lifecycle`): one type for every adapter | the same | the same |
//! | `signal::shutdown_signal()`, `signal::OsSignals` | `io::Result<ShutdownSignal>`; only inside a tokio runtime with its I/O driver (else the `io::Error` carries a `RuntimeError`); off Unix, Ctrl-C only | `io::Result<ShutdownSignal>`, anywhere (`async-signal`, on `async-io`); off Unix, SIGINT only | as uno-smol |
//! | local spawner | `TokioLocalSpawner`, on a `LocalSet` | [`SmolLocalSpawner`], on a `LocalExecutor` | `AsyncStdLocalSpawner` (`task::spawn_local`) |
//! | upstream | maintained | maintained | **discontinued**: prefer uno-smol |
//!
//! # Features
//!
//! None is on by default.
//!
//! | feature | enables | costs |
//! |---|---|---|
//! | `tracing` | uno-core's `tracing` feature: uno's events and spans (see `uno_core::observe`) | the `tracing` crate; an event costs a check of the subscriber's interest when nobody listens |
//! | `metrics` | uno-core's `metrics` feature: uno's metrics through the `metrics` facade | the `metrics` crate; handles registered when components are built, an atomic add per count with a recorder |
//!
//! Both only switch on uno-core's features; turning them on in uno-core itself does the same.
//! (uno-tokio has a third, `tokio-util`, for its cancellation bridges.)

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
use std::rc::Rc;
use std::sync::Arc;

use smol::{Executor, LocalExecutor};
pub use uno_async_io::AsyncIoTimer;
use uno_core::Task;
use uno_core::rt::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use uno_core::task::BlockingJob;

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
/// let rt = uno_smol::runtime_from(executor.clone());
/// let task = rt.spawn(async { "ran on my executor" });
/// assert_eq!(smol::block_on(executor.run(task)).unwrap(), "ran on my executor");
/// ```
pub fn runtime_from(executor: Arc<Executor<'static>>) -> Runtime {
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

/// Runs a future to completion on the current thread (smol's `block_on`); inside, [`runtime`]
/// spawns onto smol's global executor.
///
/// # Examples
///
/// ```
/// assert_eq!(uno_smol::block_on(async { 7 }), 7);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

/// Runs a blocking closure on smol's blocking pool and returns its [`Task`]:
/// [`Runtime::spawn_blocking`] on [`runtime`]`()`.
///
/// # Examples
///
/// ```
/// let sum = uno_smol::block_on(uno_smol::spawn_blocking(|| (1..=10).sum::<u32>()));
/// assert_eq!(sum.unwrap(), 55);
/// ```
///
/// # Cancel safety
///
/// Dropping the [`Task`] cancels the job if it has not started, and loses its output; a closure
/// already running runs to completion.
pub fn spawn_blocking<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    runtime().spawn_blocking(f)
}

/// Spawns onto smol's global executor, or onto an executor of your own. smol's `Task` is
/// detached: uno's [`Task`] carries the result and the drop policy.
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
