//! uno on tokio: implements uno-core's [`Spawner`] and [`Timer`] with a tokio runtime.
//!
//! Everything else — task handles, the drop policy, primitives, policies — comes from `uno-core`
//! and behaves as on every other backend. Note one difference from plain tokio: a uno
//! [`Task`](uno_core::Task) **cancels** its task when dropped (tokio's `JoinHandle` detaches).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let answer = uno_tokio::run(|rt| async move {
//!     let task = rt.spawn(async { 6 * 7 });
//!     rt.sleep(Duration::from_millis(1)).await;
//!     task.await.unwrap()
//! })
//! .unwrap();
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
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::task::LocalSet;
use uno_core::rt::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use uno_core::task::BlockingJob;
use uno_core::time::{Sleep, Timer};

/// Why [`runtime`] or [`runtime_from`] cannot hand out a uno [`Runtime`].
///
/// # Examples
///
/// ```
/// use uno_tokio::RuntimeError;
///
/// // Outside a tokio runtime:
/// assert_eq!(uno_tokio::runtime().unwrap_err(), RuntimeError::NoRuntime);
///
/// // A tokio runtime without its time driver would panic deep inside tokio at the first sleep;
/// // uno refuses it up front instead.
/// let no_timer = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let err = uno_tokio::runtime_from(no_timer.handle().clone()).unwrap_err();
/// assert_eq!(err, RuntimeError::TimerDisabled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No tokio runtime is running on this thread: call [`runtime`] from inside one, or pass a
    /// [`Handle`] to [`runtime_from`].
    NoRuntime,
    /// The tokio runtime was built without its time driver: build it with `enable_time()` (or
    /// `enable_all()`).
    TimerDisabled,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeError::NoRuntime => "no tokio runtime is running on this thread",
            RuntimeError::TimerDisabled => "the tokio runtime has no time driver (enable_time)",
        })
    }
}

impl std::error::Error for RuntimeError {}

/// A uno [`Runtime`] on the tokio runtime this thread is running in.
///
/// The tokio runtime must have its time driver enabled (`enable_time()` or `enable_all()`).
///
/// # Errors
///
/// [`RuntimeError::NoRuntime`] outside a tokio runtime, [`RuntimeError::TimerDisabled`] if it
/// has no time driver.
///
/// # Examples
///
/// ```
/// // Outside a tokio runtime there is nothing to hand out: a typed error, not a panic.
/// assert!(uno_tokio::runtime().is_err());
///
/// let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let out = tokio.block_on(async {
///     let rt = uno_tokio::runtime().unwrap();
///     rt.spawn(async { 2 + 2 }).await
/// });
/// assert_eq!(out.unwrap(), 4);
/// ```
pub fn runtime() -> Result<Runtime, RuntimeError> {
    let handle = Handle::try_current().map_err(|_| RuntimeError::NoRuntime)?;
    runtime_from(handle)
}

/// A uno [`Runtime`] on the tokio runtime behind `handle`; usable from any thread.
///
/// # Errors
///
/// [`RuntimeError::TimerDisabled`] if the runtime was built without its time driver: checked
/// here, so that no sleep can panic later.
///
/// # Examples
///
/// ```
/// let tokio = tokio::runtime::Runtime::new().unwrap();
/// let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
/// // Spawn from a thread that is not tokio's: the handle knows where to go.
/// let task = std::thread::spawn(move || rt.spawn(async { 6 * 7 })).join().unwrap();
/// assert_eq!(tokio.block_on(task).unwrap(), 42);
/// ```
pub fn runtime_from(handle: Handle) -> Result<Runtime, RuntimeError> {
    if !has_time_driver(&handle) {
        return Err(RuntimeError::TimerDisabled);
    }
    Ok(Runtime::new(
        TokioSpawner {
            handle: handle.clone(),
        },
        TokioTimer { handle },
    ))
}

/// Whether `handle`'s runtime can make sleeps. tokio offers no query for it: creating a sleep is
/// the test, and without a time driver that panics (its message goes to the panic hook once,
/// here, instead of at some later first use deep inside a policy).
fn has_time_driver(handle: &Handle) -> bool {
    let _guard = handle.enter();
    std::panic::catch_unwind(|| drop(tokio::time::sleep(std::time::Duration::ZERO))).is_ok()
}

/// Builds a multi-thread tokio runtime, runs `main` on it with its uno [`Runtime`], and returns
/// the output. The usual entry point of an application.
///
/// # Errors
///
/// The I/O error of building the tokio runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let slept = uno_tokio::run(|rt| async move {
///     let start = rt.now();
///     rt.sleep(Duration::from_millis(5)).await;
///     rt.now() - start
/// })
/// .unwrap();
/// assert!(slept >= Duration::from_millis(5));
/// ```
pub fn run<F, Fut>(main: F) -> std::io::Result<Fut::Output>
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future,
{
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rt = runtime_from(tokio.handle().clone()).map_err(std::io::Error::other)?;
    Ok(tokio.block_on(main(rt)))
}

/// As [`run`], on a current-thread tokio runtime, with a [`TokioLocalSpawner`] for `!Send` tasks.
///
/// # Errors
///
/// The I/O error of building the tokio runtime.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use uno_core::rt::LocalSpawnerExt;
///
/// let out = uno_tokio::run_local(|_rt, local| async move {
///     let shared = Rc::new(20); // !Send
///     local.spawn_local(async move { *shared + 1 }).await.unwrap()
/// })
/// .unwrap();
/// assert_eq!(out, 21);
/// ```
pub fn run_local<F, Fut>(main: F) -> std::io::Result<Fut::Output>
where
    F: FnOnce(Runtime, TokioLocalSpawner) -> Fut,
    Fut: Future,
{
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = Rc::new(LocalSet::new());
    let rt = runtime_from(tokio.handle().clone()).map_err(std::io::Error::other)?;
    let spawner = TokioLocalSpawner {
        local: local.clone(),
    };
    Ok(local.block_on(&tokio, main(rt, spawner)))
}

/// Spawns onto a tokio runtime. The tokio `JoinHandle` is dropped (detached): uno's
/// [`Task`](uno_core::Task) carries the result and the drop policy.
#[derive(Debug, Clone)]
pub struct TokioSpawner {
    handle: Handle,
}

impl Spawner for TokioSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        drop(self.handle.spawn(future));
    }

    fn spawn_blocking_job(&self, job: BlockingJob) {
        drop(self.handle.spawn_blocking(move || job.run()));
    }
}

/// tokio's timer: honours tokio's paused/auto-advanced test time too.
#[derive(Debug, Clone)]
pub struct TokioTimer {
    handle: Handle,
}

impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        // Entering the handle lets a sleep be created from any thread, not only tokio's.
        let _guard = self.handle.enter();
        Box::pin(TokioSleep {
            sleep: tokio::time::sleep_until(deadline.into()),
        })
    }
}

pin_project_lite::pin_project! {
    struct TokioSleep {
        #[pin]
        sleep: tokio::time::Sleep,
    }
}

impl Future for TokioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let sleep = self.project().sleep;
        // tokio rounds deadlines up to its next millisecond tick; the seam promises that a passed
        // deadline is ready at the first poll.
        if tokio::time::Instant::now() >= sleep.deadline() {
            return Poll::Ready(());
        }
        sleep.poll(cx)
    }
}

impl Sleep for TokioSleep {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.project().sleep.reset(deadline.into());
    }

    fn deadline(&self) -> Instant {
        self.sleep.deadline().into_std()
    }
}

/// Runs `!Send` futures on a tokio [`LocalSet`] (they run while the `LocalSet` is driven).
#[derive(Debug, Clone)]
pub struct TokioLocalSpawner {
    local: Rc<LocalSet>,
}

impl TokioLocalSpawner {
    /// A spawner onto `local`. Drive it with `local.block_on(..)` or `local.run_until(..)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use tokio::task::LocalSet;
    /// use uno_core::rt::LocalSpawnerExt;
    /// use uno_tokio::TokioLocalSpawner;
    ///
    /// let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// let set = Rc::new(LocalSet::new());
    /// let local = TokioLocalSpawner::new(set.clone());
    /// let task = local.spawn_local(async { Rc::new("local").to_string() });
    /// assert_eq!(set.block_on(&tokio, task).unwrap(), "local");
    /// ```
    pub fn new(local: Rc<LocalSet>) -> Self {
        TokioLocalSpawner { local }
    }
}

impl LocalSpawner for TokioLocalSpawner {
    fn spawn_local_boxed(&self, future: LocalBoxFuture<()>) {
        drop(self.local.spawn_local(future));
    }
}
