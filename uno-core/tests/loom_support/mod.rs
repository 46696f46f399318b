//! Shared pieces of the model-checking tests (`tests/loom_*.rs`): the model runner, clocks that
//! move only when a model moves them, a spawner that runs each task on its own model thread, and a
//! waker that only records that it was woken.
//!
//! The clocks and the waker use std atomics on purpose: they are test scaffolding, not the code
//! under test, and a waker that does no model operation may be woken anywhere (also inside a
//! dependency's std lock).

#![allow(dead_code, reason = "each model file uses a different subset")]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use uno_core::Runtime;
use uno_core::rt::{BoxFuture, Spawner};
use uno_core::time::{Sleep, Timer};

/// Runs `f` under loom, every interleaving up to the preemption bound: `LOOM_MAX_PREEMPTIONS`
/// when set, else 3 (tokio's CI uses 2; every model here was also run with 3 to 4).
#[cfg(uno_loom)]
pub(crate) fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// A clock that moves only by [`advance`](ManualClock::advance), which wakes every sleep that was
/// pending. Its state is std's and it never wakes under its lock, so each of its calls is one step
/// between the model's own (a sleep's poll cannot interleave with an advance).
#[derive(Clone)]
pub(crate) struct ManualClock {
    base: Instant,
    offset_ns: Arc<AtomicU64>,
    sleepers: Arc<Mutex<Vec<Waker>>>,
}

impl ManualClock {
    pub(crate) fn new() -> Self {
        ManualClock {
            base: Instant::now(),
            offset_ns: Arc::new(AtomicU64::new(0)),
            sleepers: Arc::default(),
        }
    }

    /// A clock of its own (another thread's reading, say) at this one's time plus `by`.
    pub(crate) fn fork(&self, by: Duration) -> Self {
        let clock = ManualClock {
            base: self.base,
            offset_ns: Arc::new(AtomicU64::new(self.offset_ns.load(Ordering::SeqCst))),
            sleepers: Arc::default(),
        };
        clock.advance(by);
        clock
    }

    pub(crate) fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).expect("a model advances by less than 584 years");
        self.offset_ns.fetch_add(by, Ordering::SeqCst);
        let sleepers = std::mem::take(&mut *self.sleepers.lock().unwrap());
        for sleeper in sleepers {
            sleeper.wake();
        }
    }

    /// A runtime whose timer is this clock; spawning on it panics.
    pub(crate) fn runtime(&self) -> Runtime {
        Runtime::new(NoSpawner, self.clone())
    }
}

impl Timer for ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(ManualSleep {
            clock: self.clone(),
            deadline,
        })
    }
}

struct ManualSleep {
    clock: ManualClock,
    deadline: Instant,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut sleepers = self.clock.sleepers.lock().unwrap();
        if self.clock.now() >= self.deadline {
            return Poll::Ready(());
        }
        sleepers.push(cx.waker().clone());
        Poll::Pending
    }
}

impl Sleep for ManualSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// For models that only need a clock.
pub(crate) struct NoSpawner;

impl Spawner for NoSpawner {
    fn spawn_boxed(&self, _: BoxFuture<()>) {
        panic!("this model spawns nothing");
    }
}

/// The model checker's threads and `block_on`: loom's or shuttle's, by the build's cfg.
#[cfg(uno_loom)]
use loom::{future::block_on as model_block_on, thread as model_thread};
#[cfg(uno_shuttle)]
use shuttle::{future::block_on as model_block_on, thread as model_thread};

/// Runs every spawned future on a model thread of its own (`block_on`), keeping the handles so the
/// model can join them: a runner that never finishes is then a reported deadlock.
#[cfg(any(uno_loom, uno_shuttle))]
#[derive(Clone, Default)]
pub(crate) struct ThreadSpawner {
    threads: Arc<Mutex<Vec<model_thread::JoinHandle<()>>>>,
}

#[cfg(any(uno_loom, uno_shuttle))]
impl ThreadSpawner {
    pub(crate) fn runtime(&self) -> Runtime {
        Runtime::new(self.clone(), ManualClock::new())
    }

    /// Joins every thread spawned so far, and those they spawned, until none is left.
    pub(crate) fn join_all(&self) {
        loop {
            let threads = std::mem::take(&mut *self.threads.lock().unwrap());
            if threads.is_empty() {
                return;
            }
            for thread in threads {
                thread.join().unwrap();
            }
        }
    }
}

#[cfg(any(uno_loom, uno_shuttle))]
impl Spawner for ThreadSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        let thread = model_thread::spawn(move || model_block_on(future));
        self.threads.lock().unwrap().push(thread);
    }
}

/// An executor that shut down: drops every future it is given, on a model thread, unpolled.
#[cfg(uno_loom)]
#[derive(Clone, Default)]
pub(crate) struct DroppingSpawner {
    threads: Arc<Mutex<Vec<loom::thread::JoinHandle<()>>>>,
}

#[cfg(uno_loom)]
impl DroppingSpawner {
    pub(crate) fn runtime(&self) -> Runtime {
        Runtime::new(self.clone(), ManualClock::new())
    }

    pub(crate) fn join_all(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap());
        for thread in threads {
            thread.join().unwrap();
        }
    }
}

#[cfg(uno_loom)]
impl Spawner for DroppingSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        let thread = loom::thread::spawn(move || drop(future));
        self.threads.lock().unwrap().push(thread);
    }
}

/// A waker that records that it was woken.
#[derive(Default)]
pub(crate) struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Flag {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A waker plus its flag.
pub(crate) fn flag_waker() -> (Waker, Arc<Flag>) {
    let flag = Arc::new(Flag::default());
    (Waker::from(flag.clone()), flag)
}

/// Polls `future` once with `waker`.
pub(crate) fn poll_with<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Sets its flag when dropped: shows that a future (which owns it) has been dropped.
pub(crate) struct DropFlag(pub(crate) Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
