//! loom models of the `Task` state machine (`src/task/`: `Shared` in `state.rs`, `Runner` in
//! `runner.rs`, `Task` in `handle.rs`, `BlockingJob` in `blocking.rs`).
//!
//! Run: `RUSTFLAGS="--cfg uno_loom" cargo test -p uno-core --release --test loom_task`.
//!
//! Each task runs on a model thread of its own (`ThreadSpawner`: the executor is `block_on`), and
//! the handle is awaited on the model's main thread. Covered, in every interleaving loom explores:
//! completion racing the joiner's registration; `cancel` racing the runner between two polls
//! (`yield_now`) and on a future that never completes; the handle dropped while the task runs; an
//! executor that drops the runner unpolled; a blocking job racing `cancel` and a job dropped by its
//! pool. Each model asserts that the joiner is always woken (loom reports a joiner or a runner
//! that is never woken as a deadlock), that exactly one outcome is published (an output is either
//! delivered or never produced, and dropped once), and that "cancelled" implies "the future was
//! dropped" by the time the joiner sees the outcome.
//!
//! Not covered: panics in the user's future or its `Drop` (caught with `catch_unwind`; tested by
//! the conformance suite), atomic-waker's own lock-free code (the models use its contract, see
//! `src/loom.rs`), and real executors' scheduling.

#![cfg(uno_loom)]

mod loom_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use loom::future::block_on;
use loom::thread;
use loom_support::{DropFlag, DroppingSpawner, ThreadSpawner, model};
use uno_core::task::{blocking, yield_now};

/// A task's output that counts how often it was dropped.
#[derive(Debug)]
struct Output(Arc<AtomicUsize>);

impl Drop for Output {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn completion_wakes_the_joiner_and_publishes_once() {
    model(|| {
        let spawner = ThreadSpawner::default();
        let rt = spawner.runtime();
        let drops = Arc::new(AtomicUsize::new(0));
        let output = Output(drops.clone());
        let task = rt.spawn(async move {
            yield_now().await; // a second poll: the joiner may register in between
            output
        });
        let output = block_on(task).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(output);
        spawner.join_all();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn cancel_racing_completion_keeps_exactly_one_outcome() {
    model(|| {
        let spawner = ThreadSpawner::default();
        let rt = spawner.runtime();
        let drops = Arc::new(AtomicUsize::new(0));
        let future_dropped = Arc::new(AtomicBool::new(false));
        let (made, flag) = (drops.clone(), DropFlag(future_dropped.clone()));
        let task = rt.spawn(async move {
            let _flag = flag;
            yield_now().await;
            Output(made)
        });
        task.cancel(); // races the runner's two polls
        let outcome = block_on(task);
        // Whatever won, the future is gone before its outcome is published.
        assert!(future_dropped.load(Ordering::SeqCst));
        match outcome {
            Ok(output) => drop(output),
            Err(error) if error.is_cancelled() => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
        spawner.join_all();
        // An output produced was delivered (and dropped once); a cancelled task made none.
        let delivered = drops.load(Ordering::SeqCst);
        assert!(delivered <= 1, "an output was dropped {delivered} times");
    });
}

#[test]
fn cancel_wakes_a_task_that_never_completes() {
    model(|| {
        let spawner = ThreadSpawner::default();
        let rt = spawner.runtime();
        let future_dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(future_dropped.clone());
        let task = rt.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        task.cancel(); // the runner must be woken to notice, whenever it registered
        assert!(block_on(task).unwrap_err().is_cancelled());
        assert!(future_dropped.load(Ordering::SeqCst));
        spawner.join_all(); // the runner finished: not parked for good
    });
}

#[test]
fn dropping_the_handle_stops_the_task() {
    model(|| {
        let spawner = ThreadSpawner::default();
        let rt = spawner.runtime();
        let future_dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(future_dropped.clone());
        let task = rt.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        drop(task);
        spawner.join_all();
        assert!(future_dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn an_executor_that_drops_the_runner_resolves_the_joiner() {
    model(|| {
        let spawner = DroppingSpawner::default();
        let rt = spawner.runtime();
        let future_dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(future_dropped.clone());
        let task = rt.spawn(async move {
            let _flag = flag;
            7
        });
        assert!(block_on(task).unwrap_err().is_cancelled());
        assert!(future_dropped.load(Ordering::SeqCst));
        spawner.join_all();
    });
}

#[test]
fn a_blocking_job_racing_cancel_keeps_exactly_one_outcome() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let made = drops.clone();
        let (job, task) = blocking(move || Output(made));
        let pool = thread::spawn(move || job.run());
        task.cancel(); // before the job starts: it never runs; after: its output is kept
        match block_on(task) {
            Ok(output) => drop(output),
            Err(error) if error.is_cancelled() => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
        pool.join().unwrap();
        assert!(drops.load(Ordering::SeqCst) <= 1);
    });
}

#[test]
fn a_blocking_job_dropped_by_its_pool_resolves_the_joiner() {
    model(|| {
        let (job, task) = blocking(|| 7);
        let pool = thread::spawn(move || drop(job)); // the pool shut down first
        assert!(block_on(task).unwrap_err().is_cancelled());
        pool.join().unwrap();
    });
}
