//! [`VirtualRuntime`]: a single-threaded runtime on a [`VirtualClock`], deterministic, where
//! time costs nothing; and its [`VirtualLocalSpawner`]. The executor itself is in `executor`.

use std::fmt;
use std::future::Future;

use super::executor::{Executor, LocalQueue};
use super::{LocalBoxFuture, LocalSpawner, Runtime};
use crate::time::VirtualClock;

/// A deterministic runtime for tests: one thread, and a [`VirtualClock`] that jumps to the next
/// sleep's deadline whenever every task is idle.
///
/// A test that sleeps for an hour, retries with backoff or waits for a TTL runs in microseconds,
/// and the order of events is the same on every run. [`handle`](Self::handle) gives the
/// [`Runtime`] to pass to the code under test; [`local_spawner`](Self::local_spawner) runs `!Send`
/// futures too.
///
/// # Auto-advance
///
/// When no task can make progress and a sleep is pending, the clock jumps to the earliest deadline.
/// This is sound as long as all progress comes from tasks on this runtime, or from blocking jobs
/// started through [`Runtime::spawn_blocking`]: while any such job runs (on its own thread), the
/// clock holds still and the runtime waits for the job, as tokio's paused clock does, so a
/// `timeout` around a blocking job is decided by the job, not by a jump of the clock.
///
/// What the runtime cannot see still races the clock: a task waiting on a thread of its own or on
/// real I/O (a socket driven by another executor's reactor) while a sleep is pending sees that
/// sleep fire early. Use in-memory I/O and `spawn_blocking` under virtual time; with no sleep
/// pending, the runtime parks until woken from outside.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let elapsed = vrt.block_on(async move {
///     let start = rt.now();
///     rt.sleep(Duration::from_secs(24 * 3600)).await;
///     rt.now() - start
/// });
/// assert_eq!(elapsed, Duration::from_secs(24 * 3600));
/// ```
pub struct VirtualRuntime {
    executor: Executor,
}

impl VirtualRuntime {
    /// A runtime with a fresh [`VirtualClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// assert_eq!(vrt.block_on(async { 1 + 1 }), 2);
    /// ```
    pub fn new() -> Self {
        Self::with_clock(VirtualClock::new())
    }

    /// A runtime on an existing clock (shared, for example, with a test that also advances it).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::time::VirtualClock;
    ///
    /// let clock = VirtualClock::new();
    /// let vrt = VirtualRuntime::with_clock(clock.clone());
    /// let rt = vrt.handle();
    /// let start = rt.now();
    /// clock.advance(Duration::from_secs(60)); // the test moves the runtime's time
    /// assert_eq!(rt.now() - start, Duration::from_secs(60));
    /// ```
    pub fn with_clock(clock: VirtualClock) -> Self {
        VirtualRuntime {
            executor: Executor::new(clock),
        }
    }

    /// The [`Runtime`] handle: spawns onto this runtime, keeps time on its clock.
    ///
    /// Tasks spawned through it run while [`block_on`](Self::block_on) runs; those left when the
    /// `VirtualRuntime` is dropped are dropped (cancelled) with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle(); // pass this to the code under test
    /// let task = rt.spawn(async { 40 + 2 }); // runs once `block_on` runs
    /// assert_eq!(vrt.block_on(task).unwrap(), 42);
    /// ```
    pub fn handle(&self) -> Runtime {
        Runtime::new(self.executor.spawner(), self.executor.clock().clone())
    }

    /// The clock, to read or advance by hand.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// let sleeper = rt.spawn(rt.sleep(Duration::from_secs(30)));
    /// vrt.block_on(uno_core::task::yield_now()); // let the sleep register
    /// assert_eq!(vrt.clock().pending_sleeps(), 1);
    /// vrt.clock().advance(Duration::from_secs(30));
    /// vrt.block_on(sleeper).unwrap();
    /// ```
    pub fn clock(&self) -> &VirtualClock {
        self.executor.clock()
    }

    /// A spawner for `!Send` futures that run on this runtime's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use uno_core::rt::{LocalSpawnerExt, VirtualRuntime};
    ///
    /// let vrt = VirtualRuntime::new();
    /// let hits = Rc::new(Cell::new(0)); // Rc is !Send: Runtime::spawn would refuse it
    /// let counter = hits.clone();
    /// let task = vrt.local_spawner().spawn_local(async move { counter.set(counter.get() + 1) });
    /// vrt.block_on(task).unwrap();
    /// assert_eq!(hits.get(), 1);
    /// ```
    pub fn local_spawner(&self) -> VirtualLocalSpawner {
        VirtualLocalSpawner {
            queue: self.executor.local_queue(),
        }
    }

    /// Runs `future` to completion on the current thread, together with every spawned task,
    /// advancing virtual time whenever all of them are idle.
    ///
    /// It returns as soon as `future` completes: spawned tasks make progress only while some
    /// `block_on` runs (a `future` that is ready at once leaves them unstarted until the next
    /// call), and those still pending when the runtime is dropped are dropped with it.
    ///
    /// # Panics
    ///
    /// If called from inside a task of the same runtime (re-entrantly), or if `future` panics. A
    /// panic inside a spawned task is not propagated: its [`Task`](crate::task::Task) reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// let vrt = VirtualRuntime::new();
    /// let rt = vrt.handle();
    /// let out = vrt.block_on(async move {
    ///     let start = rt.now();
    ///     rt.sleep(Duration::from_secs(3600)).await; // every task idle: the clock jumps
    ///     rt.now() - start
    /// });
    /// assert_eq!(out, Duration::from_secs(3600));
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.executor.block_on(future)
    }
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("clock", self.executor.clock())
            .finish_non_exhaustive()
    }
}

/// The [`LocalSpawner`] of a [`VirtualRuntime`], from [`VirtualRuntime::local_spawner`].
#[derive(Clone)]
pub struct VirtualLocalSpawner {
    queue: LocalQueue,
}

impl LocalSpawner for VirtualLocalSpawner {
    fn spawn_local_boxed(&self, future: LocalBoxFuture<()>) {
        self.queue.push(future);
    }
}

impl fmt::Debug for VirtualLocalSpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualLocalSpawner")
            .finish_non_exhaustive()
    }
}
