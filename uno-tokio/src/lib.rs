//! uno on tokio: implements uno-core's [`Spawner`] and [`Timer`] with a tokio runtime.
//!
//! Everything else — task handles, the drop policy, primitives, policies — comes from `uno-core`
//! and behaves as on every other backend. Note one difference from plain tokio: a uno
//! [`Task`] **cancels** its task when dropped (tokio's `JoinHandle` detaches).
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
//!
//! # The three adapters side by side
//!
//! `uno-tokio`, `uno-smol` and `uno-async-std` have the same items with the same names; these are
//! the differences their executors force. Where an executor cannot fail, the function is
//! infallible; every fallible function of this crate fails with [`RuntimeError`].
//!
//! | item | uno-tokio | uno-smol | uno-async-std |
//! |---|---|---|---|
//! | `runtime()` | `Result<Runtime, RuntimeError>`: only inside a tokio runtime with its time driver | `Runtime` (smol's global executor) | `Runtime` (async-std's executor) |
//! | `runtime_from(..)` | from a `tokio::runtime::Handle`; `Result` (the time driver is checked) | from an `Arc<smol::Executor>` you drive; `Runtime` | none: async-std has one executor |
//! | `run`, `run_local`, `block_on` | `Result<T, RuntimeError>`: each builds a tokio runtime, which can fail | `T` | `T` |
//! | `spawn_blocking` | `Result<Task<T>, RuntimeError>`: only inside a tokio runtime | `Task<T>` | `Task<T>` |
//! | `run_application` | `Result<ApplicationReport, ApplicationError<E>>`; `Setup` also if the tokio runtime cannot be built | the same | the same |
//! | `signal::Signal`, `signal::ShutdownSignal` | uno-core's (`uno_core::lifecycle`): one type for every adapter | the same | the same |
//! | `signal::shutdown_signal()`, `signal::OsSignals` | `io::Result<ShutdownSignal>`; only inside a tokio runtime with its I/O driver (else the `io::Error` carries a [`RuntimeError`]); off Unix, Ctrl-C only | `io::Result<ShutdownSignal>`, anywhere (`async-signal`, on `async-io`); off Unix, SIGINT only | as uno-smol |
//! | local spawner | [`TokioLocalSpawner`], on a `LocalSet` | `SmolLocalSpawner`, on a `LocalExecutor` | `AsyncStdLocalSpawner` (`task::spawn_local`) |
//! | upstream | maintained | maintained | **discontinued**: prefer uno-smol |
//!
//! # Features
//!
//! None is on by default.
//!
//! | feature | enables | costs |
//! |---|---|---|
//! | `tokio-util` | `uno_tokio::cancel`: bridges between uno's `CancellationToken` and tokio-util's, both ways | the `tokio-util` crate (no features of its own); one parked task per bridge until either token is cancelled |
//! | `tracing` | uno-core's `tracing` feature: uno's events and spans (see `uno_core::observe`) | the `tracing` crate; an event costs a check of the subscriber's interest when nobody listens |
//! | `test-util` | tokio's `test-util` (paused test time), and the timer lends rate limiters no monotonic clock, so they follow paused time too (see [`TokioTimer`]) | tokio's test clock: each `now()` checks whether time is paused |
//! | `metrics` | uno-core's `metrics` feature: uno's metrics through the `metrics` facade | the `metrics` crate; handles registered when components are built, an atomic add per count with a recorder |
//!
//! The `tracing` and `metrics` features only switch on uno-core's; turning them on in uno-core
//! itself does the same.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

#[cfg(feature = "tokio-util")]
pub mod cancel;
pub mod signal;

pub use signal::run_application;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
#[cfg(not(feature = "test-util"))]
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::task::LocalSet;
use uno_core::Task;
use uno_core::rt::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use uno_core::task::BlockingJob;
use uno_core::time::{MonotonicClock, Sleep, Timer};

/// Why this crate cannot hand out a uno [`Runtime`] or run on tokio.
///
/// - [`NoRuntime`](Self::NoRuntime): call [`runtime`] from inside a tokio runtime, or pass a
///   [`Handle`] to [`runtime_from`];
/// - [`TimerDisabled`](Self::TimerDisabled) / [`IoDisabled`](Self::IoDisabled): build the tokio
///   runtime with `enable_time()` / `enable_io()` (or `enable_all()`);
/// - [`Build`](Self::Build): tokio's I/O error is the [`source`](std::error::Error::source).
///
/// # Examples
///
/// ```
/// use uno_tokio::RuntimeError;
///
/// // Outside a tokio runtime:
/// assert!(matches!(uno_tokio::runtime(), Err(RuntimeError::NoRuntime)));
///
/// // A tokio runtime without its time driver would panic deep inside tokio at the first sleep;
/// // uno refuses it up front instead.
/// let no_timer = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let err = uno_tokio::runtime_from(no_timer.handle().clone()).unwrap_err();
/// assert!(matches!(err, RuntimeError::TimerDisabled));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No tokio runtime is running on this thread.
    NoRuntime,
    /// The tokio runtime was built without its time driver.
    TimerDisabled,
    /// The tokio runtime was built without its I/O driver, which signal handlers need.
    IoDisabled,
    /// Building a tokio runtime failed ([`run`], [`run_local`], [`block_on`]); tokio's I/O error
    /// is the `source`.
    Build(io::Error),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::NoRuntime => f.write_str("no tokio runtime is running on this thread"),
            RuntimeError::TimerDisabled => f.write_str("tokio runtime has no time driver"),
            RuntimeError::IoDisabled => f.write_str("tokio runtime has no I/O driver"),
            RuntimeError::Build(_) => f.write_str("could not build a tokio runtime"),
        }
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RuntimeError::Build(error) => Some(error),
            _ => None,
        }
    }
}

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

/// The multi-thread tokio runtime of [`run`], [`block_on`] and [`run_application`], with every
/// driver.
fn multi_thread() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Builds a multi-thread tokio runtime, runs `main` on it with its uno [`Runtime`], and returns
/// the output. The usual entry point of an application.
///
/// # Errors
///
/// [`RuntimeError::Build`] if the tokio runtime cannot be built.
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
pub fn run<F, Fut>(main: F) -> Result<Fut::Output, RuntimeError>
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future,
{
    let tokio = multi_thread().map_err(RuntimeError::Build)?;
    let rt = runtime_from(tokio.handle().clone())?;
    Ok(tokio.block_on(main(rt)))
}

/// As [`run`], on a current-thread tokio runtime, with a [`TokioLocalSpawner`] for `!Send` tasks.
///
/// # Errors
///
/// [`RuntimeError::Build`] if the tokio runtime cannot be built.
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
pub fn run_local<F, Fut>(main: F) -> Result<Fut::Output, RuntimeError>
where
    F: FnOnce(Runtime, TokioLocalSpawner) -> Fut,
    Fut: Future,
{
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::Build)?;
    let local = Rc::new(LocalSet::new());
    let rt = runtime_from(tokio.handle().clone())?;
    let spawner = TokioLocalSpawner {
        local: local.clone(),
    };
    Ok(local.block_on(&tokio, main(rt, spawner)))
}

/// Runs a future to completion on the current thread, on a multi-thread tokio runtime built for
/// it (as [`run`] does; inside, [`runtime`] hands out its uno [`Runtime`]). The runtime is dropped
/// when the future is done: tasks still running then are cancelled.
///
/// # Errors
///
/// [`RuntimeError::Build`] if the tokio runtime cannot be built.
///
/// # Examples
///
/// ```
/// let out = uno_tokio::block_on(async {
///     let rt = uno_tokio::runtime().unwrap();
///     rt.spawn(async { 7 }).await.unwrap()
/// })
/// .unwrap();
/// assert_eq!(out, 7);
/// ```
pub fn block_on<F: Future>(future: F) -> Result<F::Output, RuntimeError> {
    Ok(multi_thread()
        .map_err(RuntimeError::Build)?
        .block_on(future))
}

/// Runs a blocking closure on the blocking pool of the tokio runtime this thread is running in,
/// and returns its [`Task`]: [`Runtime::spawn_blocking`] on [`runtime`]`()`.
///
/// # Errors
///
/// As [`runtime`]: [`RuntimeError::NoRuntime`] outside a tokio runtime,
/// [`RuntimeError::TimerDisabled`] if it has no time driver.
///
/// # Examples
///
/// ```
/// let sum = uno_tokio::block_on(async {
///     uno_tokio::spawn_blocking(|| (1..=10).sum::<u32>()).unwrap().await
/// })
/// .unwrap();
/// assert_eq!(sum.unwrap(), 55);
/// ```
///
/// # Cancel safety
///
/// Dropping the [`Task`] cancels the job if it has not started, and loses its output; a closure
/// already running runs to completion.
pub fn spawn_blocking<F, T>(f: F) -> Result<Task<T>, RuntimeError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Ok(runtime()?.spawn_blocking(f))
}

/// Spawns onto a tokio runtime. The tokio `JoinHandle` is dropped (detached): uno's
/// [`Task`] carries the result and the drop policy.
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
///
/// It lends rate limiters a cheaper clock than `now()` ([`Timer::monotonic_clock`]: the CPU's
/// counter, calibrated once per process). That clock does not stop when tokio's test time is
/// paused: if you pause it (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`), turn
/// on this crate's `test-util` feature, which turns on tokio's and makes the timer lend none, so
/// everything follows the paused time. uno's own [`VirtualRuntime`](uno_core::rt::VirtualRuntime)
/// needs nothing of the kind.
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

    /// The machine's clock through a calibrated CPU counter; none with the `test-util` feature
    /// (tokio's time may then be paused).
    fn monotonic_clock(&self) -> Option<MonotonicClock> {
        #[cfg(not(feature = "test-util"))]
        return Some(monotonic_clock());
        #[cfg(feature = "test-util")]
        return None;
    }
}

/// The machine's monotonic clock as nanoseconds since its first reading: a calibrated CPU counter
/// (the TSC, where it is invariant) through `quanta`, else the OS's monotonic clock. Calibrated
/// once per process, on first use (up to about 200 ms), which [`Timer::monotonic_clock`] does
/// when a component that reads it is built, not on its hot path.
#[cfg(not(feature = "test-util"))]
fn monotonic_nanos() -> u64 {
    static CLOCK: OnceLock<(quanta::Clock, u64)> = OnceLock::new();
    let (clock, start) = CLOCK.get_or_init(start_clock);
    clock.delta_as_nanos(*start, clock.raw())
}

/// The clock behind [`monotonic_nanos`] and its first reading.
#[cfg(not(feature = "test-util"))]
#[cold]
fn start_clock() -> (quanta::Clock, u64) {
    let clock = quanta::Clock::new();
    let start = clock.raw();
    (clock, start)
}

/// [`monotonic_nanos`], calibrated now.
#[cfg(not(feature = "test-util"))]
fn monotonic_clock() -> MonotonicClock {
    monotonic_nanos();
    MonotonicClock::new(monotonic_nanos)
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
