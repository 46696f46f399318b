//! uno on async-std: implements uno-core's [`Spawner`] with async-std's executor, and keeps time
//! with `async-io`, the reactor async-std itself runs on.
//!
//! **async-std is discontinued upstream**: its README recommends smol as its successor
//! (RUSTSEC-2025-0052). This adapter is kept for applications still on async-std and passes the
//! full conformance suite; new code should prefer `uno-smol`. Moving is a one-line change, since
//! both hand out the same uno [`Runtime`].
//!
//! A uno [`Task`] cancels its task when dropped (async-std's `JoinHandle` detaches).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let answer = uno_async_std::run(|rt| async move {
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
//! | local spawner | `TokioLocalSpawner`, on a `LocalSet` | `SmolLocalSpawner`, on a `LocalExecutor` | [`AsyncStdLocalSpawner`] (`task::spawn_local`) |
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

use std::future::Future;

pub use uno_async_io::AsyncIoTimer;
use uno_core::Task;
use uno_core::rt::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use uno_core::task::BlockingJob;

/// A uno [`Runtime`] on async-std's global executor.
///
/// # Examples
///
/// ```
/// let rt = uno_async_std::runtime();
/// let out = async_std::task::block_on(async { rt.spawn(async { 2 + 2 }).await });
/// assert_eq!(out.unwrap(), 4);
/// ```
pub fn runtime() -> Runtime {
    Runtime::new(AsyncStdSpawner, AsyncIoTimer)
}

/// Runs `main` to completion on the current thread (async-std's `block_on`) with a uno
/// [`Runtime`]. The usual entry point of an application.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let slept = uno_async_std::run(|rt| async move {
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
    async_std::task::block_on(main(runtime()))
}

/// As [`run`], with an [`AsyncStdLocalSpawner`] for `!Send` tasks, which run on this thread while
/// `main` runs.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use uno_core::rt::LocalSpawnerExt;
///
/// let out = uno_async_std::run_local(|_rt, local| async move {
///     let shared = Rc::new(20); // !Send
///     local.spawn_local(async move { *shared + 1 }).await.unwrap()
/// });
/// assert_eq!(out, 21);
/// ```
pub fn run_local<F, Fut>(main: F) -> Fut::Output
where
    F: FnOnce(Runtime, AsyncStdLocalSpawner) -> Fut,
    Fut: Future,
{
    async_std::task::block_on(main(runtime(), AsyncStdLocalSpawner))
}

/// Runs a future to completion on the current thread (async-std's `block_on`).
///
/// # Examples
///
/// ```
/// assert_eq!(uno_async_std::block_on(async { 7 }), 7);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs a blocking closure on async-std's blocking pool and returns its [`Task`]:
/// [`Runtime::spawn_blocking`] on [`runtime`]`()`.
///
/// # Examples
///
/// ```
/// let sum = uno_async_std::block_on(uno_async_std::spawn_blocking(|| (1..=10).sum::<u32>()));
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

/// Spawns onto async-std's global executor. async-std's `JoinHandle` is dropped (detached): uno's
/// [`Task`] carries the result and the drop policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdSpawner;

impl Spawner for AsyncStdSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        drop(async_std::task::spawn(future));
    }

    fn spawn_blocking_job(&self, job: BlockingJob) {
        drop(async_std::task::spawn_blocking(move || job.run()));
    }
}

/// Runs `!Send` futures on the current thread with `async_std::task::spawn_local`. They make
/// progress while the thread runs async-std's executor (inside `block_on` or a worker).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdLocalSpawner;

impl LocalSpawner for AsyncStdLocalSpawner {
    fn spawn_local_boxed(&self, future: LocalBoxFuture<()>) {
        drop(async_std::task::spawn_local(future));
    }
}
