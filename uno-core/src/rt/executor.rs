//! The executor under [`VirtualRuntime`](super::VirtualRuntime): one thread, every spawned task
//! polled in turn, and the virtual clock moved on whenever all of them wait.
//!
//! # Implementation notes
//!
//! - **Tasks live in a slot vector** (`tasks`) with a free list of ids; a slot is taken out
//!   while its task is polled (the task may spawn, which borrows `tasks`) and put back if it is
//!   still pending. A stale wake-up for a finished task finds no slot and is ignored.
//! - **Spawns arrive by queue**: `injected` from any thread ([`VirtualSpawner`]), the local
//!   queue from this one ([`LocalQueue`]); both are admitted at the top of each turn.
//! - **A wake-up schedules a task once**: its waker's `scheduled` flag is swapped before its id
//!   is queued in `ready`, and cleared just before the task is polled, so a task woken many
//!   times between two polls is polled once. The main future is polled only when its own waker
//!   fired (`main_woken`).
//! - **Idle means every task waits**: nothing ready, nothing spawned, no main wake-up. Then the
//!   clock jumps to the next sleep's deadline — unless a blocking job is running (`blocking`
//!   counts them), whose end may be what a task waits for — and otherwise the thread parks
//!   until something unparks it (a wake-up, a spawn, a blocking job's end).
//! - **A panic in a raw spawned future ends that task only**: futures spawned through
//!   [`Runtime::spawn`](super::Runtime::spawn) catch their own; this guards the raw seam.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::{BoxFuture, LocalBoxFuture, Spawner};
use crate::loom::{Condvar, Mutex};
use crate::panic;
use crate::task::BlockingJob;
use crate::time::VirtualClock;

/// The run queue, the tasks and the clock of one [`VirtualRuntime`](super::VirtualRuntime).
pub(super) struct Executor {
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

impl Executor {
    pub(super) fn new(clock: VirtualClock) -> Self {
        Executor {
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

    pub(super) fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The [`Spawner`] half of the runtime's handle.
    pub(super) fn spawner(&self) -> VirtualSpawner {
        VirtualSpawner {
            shared: self.shared.clone(),
        }
    }

    /// The queue a [`VirtualLocalSpawner`](super::VirtualLocalSpawner) pushes onto.
    pub(super) fn local_queue(&self) -> LocalQueue {
        LocalQueue {
            queue: self.local_queue.clone(),
            shared: self.shared.clone(),
        }
    }

    /// See [`VirtualRuntime::block_on`](super::VirtualRuntime::block_on).
    pub(super) fn block_on<F: Future>(&self, future: F) -> F::Output {
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
        let done =
            panic::call(|| slot.future.as_mut().poll(&mut cx)).map_or(true, |poll| poll.is_ready());
        if done {
            drop(slot);
            self.free.borrow_mut().push(id);
        } else {
            self.tasks.borrow_mut()[id] = Some(slot);
        }
    }
}

impl Drop for Executor {
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

/// The [`Spawner`] of a [`VirtualRuntime`](super::VirtualRuntime); usable from any thread.
pub(super) struct VirtualSpawner {
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

/// The local spawn queue of an [`Executor`]: `!Send`, on the runtime's own thread.
#[derive(Clone)]
pub(super) struct LocalQueue {
    queue: Rc<RefCell<Vec<LocalBoxFuture<()>>>>,
    shared: Arc<Shared>,
}

impl LocalQueue {
    pub(super) fn push(&self, future: LocalBoxFuture<()>) {
        self.queue.borrow_mut().push(future);
        self.shared.unpark();
    }
}
