//! A single-threaded executor on a [`VirtualClock`]: deterministic, and time costs nothing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::{BoxFuture, LocalBoxFuture, LocalSpawner, Runtime, Spawner};
use crate::loom::{Condvar, Mutex};
use crate::task::BlockingJob;
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
    shared: Arc<Shared>,
    clock: VirtualClock,
    local_queue: Rc<RefCell<Vec<LocalBoxFuture<()>>>>,
    tasks: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
    running: Cell<bool>,
}

struct Slot {
    future: LocalBoxFuture<()>,
    waker: Waker,
    flag: Arc<TaskWaker>,
}

/// What other threads (and wakers) can touch.
struct Shared {
    injected: Mutex<Vec<BoxFuture<()>>>,
    ready: Mutex<VecDeque<usize>>,
    main_woken: AtomicBool,
    /// Blocking jobs running on their own threads: the clock holds while any runs.
    blocking: AtomicUsize,
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl Shared {
    fn unpark(&self) {
        *self.notified.lock() = true;
        self.condvar.notify_one();
    }

    fn park(&self) {
        let mut notified = self.notified.lock();
        while !*notified {
            notified = self.condvar.wait(notified);
        }
        *notified = false;
    }
}

struct TaskWaker {
    id: usize,
    scheduled: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.shared.ready.lock().push_back(self.id);
            self.shared.unpark();
        }
    }
}

struct MainWaker(Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.main_woken.store(true, Ordering::Release);
        self.0.unpark();
    }
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
            shared: Arc::new(Shared {
                injected: Mutex::new(Vec::new()),
                ready: Mutex::new(VecDeque::new()),
                main_woken: AtomicBool::new(true),
                blocking: AtomicUsize::new(0),
                notified: Mutex::new(false),
                condvar: Condvar::new(),
            }),
            clock,
            local_queue: Rc::default(),
            tasks: RefCell::default(),
            free: RefCell::default(),
            running: Cell::new(false),
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
    /// assert_eq!(vrt.block_on(task), Ok(42));
    /// ```
    pub fn handle(&self) -> Runtime {
        Runtime::new(
            VirtualSpawner {
                shared: self.shared.clone(),
            },
            self.clock.clone(),
        )
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
    /// assert_eq!(vrt.block_on(sleeper), Ok(()));
    /// ```
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
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
            queue: self.local_queue.clone(),
            shared: self.shared.clone(),
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
        assert!(
            !self.running.replace(true),
            "VirtualRuntime::block_on called re-entrantly"
        );
        struct Reset<'a>(&'a Cell<bool>);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _reset = Reset(&self.running);

        let mut future = pin!(future);
        let main_waker = Waker::from(Arc::new(MainWaker(self.shared.clone())));
        let mut main_cx = Context::from_waker(&main_waker);
        self.shared.main_woken.store(true, Ordering::Release);
        loop {
            if self.shared.main_woken.swap(false, Ordering::AcqRel)
                && let Poll::Ready(output) = future.as_mut().poll(&mut main_cx)
            {
                return output;
            }
            self.admit_spawned();
            let batch: Vec<usize> = self.shared.ready.lock().drain(..).collect();
            if !batch.is_empty() {
                batch.into_iter().for_each(|id| self.poll_task(id));
                continue;
            }
            if self.shared.main_woken.load(Ordering::Acquire) || self.has_spawned() {
                continue;
            }
            // Idle: every task waits. Jump to the next deadline if there is one, unless a blocking
            // job is still running: its end (which unparks us) may be what a task waits for.
            if self.shared.blocking.load(Ordering::Acquire) == 0
                && let Some(deadline) = self.clock.next_deadline()
            {
                self.clock.advance_to(deadline);
                continue;
            }
            self.shared.park();
        }
    }

    fn has_spawned(&self) -> bool {
        !self.shared.injected.lock().is_empty() || !self.local_queue.borrow().is_empty()
    }

    fn admit_spawned(&self) {
        let injected: Vec<BoxFuture<()>> = std::mem::take(&mut *self.shared.injected.lock());
        for future in injected {
            self.insert(future);
        }
        let local: Vec<LocalBoxFuture<()>> = std::mem::take(&mut *self.local_queue.borrow_mut());
        for future in local {
            self.insert(future);
        }
    }

    fn insert(&self, future: LocalBoxFuture<()>) {
        let mut tasks = self.tasks.borrow_mut();
        let id = self.free.borrow_mut().pop().unwrap_or_else(|| {
            tasks.push(None);
            tasks.len() - 1
        });
        let flag = Arc::new(TaskWaker {
            id,
            scheduled: AtomicBool::new(false),
            shared: self.shared.clone(),
        });
        let waker = Waker::from(flag.clone());
        tasks[id] = Some(Slot {
            future,
            waker: waker.clone(),
            flag,
        });
        waker.wake();
    }

    fn poll_task(&self, id: usize) {
        // Take the slot out while polling: the task may spawn (which borrows `tasks`).
        let Some(mut slot) = self.tasks.borrow_mut().get_mut(id).and_then(Option::take) else {
            return; // a stale wake-up for a finished task
        };
        slot.flag.scheduled.store(false, Ordering::Release);
        let mut cx = Context::from_waker(&slot.waker);
        // Futures spawned through `Runtime::spawn` catch their own panics; this guards raw ones.
        let done = catch_unwind(AssertUnwindSafe(|| slot.future.as_mut().poll(&mut cx)))
            .map_or(true, |poll| poll.is_ready());
        if done {
            drop(slot);
            self.free.borrow_mut().push(id);
        } else {
            self.tasks.borrow_mut()[id] = Some(slot);
        }
    }
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for VirtualRuntime {
    fn drop(&mut self) {
        // Dropping a task may spawn or wake others; take everything out first, then drop.
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        drop(tasks);
        let injected = std::mem::take(&mut *self.shared.injected.lock());
        drop(injected);
        let local = std::mem::take(&mut *self.local_queue.borrow_mut());
        drop(local);
    }
}

impl fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The [`Spawner`] of a [`VirtualRuntime`]; usable from any thread.
struct VirtualSpawner {
    shared: Arc<Shared>,
}

impl Spawner for VirtualSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        self.shared.injected.lock().push(future);
        self.shared.unpark();
    }

    fn spawn_blocking_job(&self, job: BlockingJob) {
        /// Counts the job as running until it has finished (or its thread unwound), then wakes
        /// the runtime, which may now advance the clock.
        struct Running(Arc<Shared>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.blocking.fetch_sub(1, Ordering::AcqRel);
                self.0.unpark();
            }
        }
        self.shared.blocking.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.shared.clone());
        let spawned = std::thread::Builder::new()
            .name("uno-virtual-blocking".into())
            .spawn(move || {
                let _running = running;
                job.run();
            });
        // No thread to be had: the closure moved into it comes back dropped, which resolves
        // its task as cancelled and releases the count.
        drop(spawned);
    }
}

/// The [`LocalSpawner`] of a [`VirtualRuntime`], from [`VirtualRuntime::local_spawner`].
#[derive(Clone)]
pub struct VirtualLocalSpawner {
    queue: Rc<RefCell<Vec<LocalBoxFuture<()>>>>,
    shared: Arc<Shared>,
}

impl LocalSpawner for VirtualLocalSpawner {
    fn spawn_local_boxed(&self, future: LocalBoxFuture<()>) {
        self.queue.borrow_mut().push(future);
        self.shared.unpark();
    }
}

impl fmt::Debug for VirtualLocalSpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualLocalSpawner")
            .finish_non_exhaustive()
    }
}
