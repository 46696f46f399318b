//! uno on async-std: implements uno-core's [`Spawner`] with async-std's executor, and keeps time
//! with `async-io`, the reactor async-std itself runs on.
//!
//! **async-std is discontinued upstream**: its README recommends smol as its successor
//! (RUSTSEC-2025-0052). This adapter is kept for applications still on async-std and passes the
//! full conformance suite; new code should prefer `uno-smol`. Moving is a one-line change, since
//! both hand out the same uno [`Runtime`].
//!
//! A uno [`Task`](uno_core::Task) cancels its task when dropped (async-std's `JoinHandle` detaches).
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

use uno_core::rt::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use uno_core::task::BlockingJob;
pub use uno_smol::AsyncIoTimer;

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

/// Spawns onto async-std's global executor. async-std's `JoinHandle` is dropped (detached): uno's
/// [`Task`](uno_core::Task) carries the result and the drop policy.
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
