//! Cases: spawning, joining, cancelling, detaching, panics and the drop policy of [`Task`].
//!
//! The drop policy is the point of this module: executors disagree (tokio detaches a dropped
//! handle, smol cancels it), and uno promises one answer everywhere — a dropped [`Task`] is
//! cancelled and its future dropped, a panic comes back as a [`JoinError`] with its payload.
//!
//! [`Task`]: uno_core::Task

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_task {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; task:
            spawn_returns_output,
            many_tasks_all_join,
            output_is_moved_out_of_task,
            dropping_handle_cancels_parked_task,
            dropping_handle_right_after_spawn_cancels,
            dropped_handle_cancels_task_parked_on_never_woken_future,
            cancel_then_await_is_cancelled,
            cancel_and_wait_returns_after_future_dropped,
            cancel_after_finish_keeps_output,
            cancel_racing_completion_is_consistent,
            detached_task_keeps_running,
            panic_with_str_is_join_error,
            panic_with_formatted_string_is_join_error,
            panic_with_non_string_payload_is_join_error,
            panic_after_await_does_not_disturb_runtime,
            detached_panicking_task_is_contained,
            is_finished_tracks_completion,
            yield_now_lets_another_task_run,
            spawn_from_inside_task,
            task_awaited_from_another_task,
            local_spawner_runs_non_send_future,
            local_task_dropped_is_cancelled,
            blocking_job_delivers_output,
            blocking_job_panic_is_join_error,
            blocking_job_dropped_unrun_is_cancelled,
            blocking_job_cancelled_before_run_skips_closure,
            panic_payload_is_kept_whole,
            blocking_panic_payload_is_kept_whole,
            abort_handle_cancels_from_another_task,
            abort_handle_after_finish_keeps_output,
            task_types_are_send_sync,
        }
    };
}

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future;
use uno_core::rt::{LocalSpawnerExt, Runtime};
use uno_core::sync::AsyncEvent;
use uno_core::task::{self, AbortHandle, JoinError, Task, yield_now};

use crate::support::{DropProbe, eventually, within};
use crate::{Env, assert_send_sync};

/// A spawned task's output comes back through its handle.
pub async fn spawn_returns_output(env: Env) {
    let task = env.rt().spawn(async { 40 + 2 });
    assert_eq!(task.await.unwrap(), 42);
}

/// Two hundred tasks spawned at once all run, and each handle returns its own task's output.
pub async fn many_tasks_all_join(env: Env) {
    let rt = env.rt();
    let tasks: Vec<Task<u64>> = (0..200u64)
        .map(|i| {
            let rt2 = rt.clone();
            rt.spawn(async move {
                if i % 3 == 0 {
                    yield_now().await;
                }
                if i % 7 == 0 {
                    rt2.sleep(Duration::from_millis(1)).await;
                }
                i * 2
            })
        })
        .collect();
    for (i, task) in (0..200u64).zip(tasks) {
        assert_eq!(within(rt, "joining task", task).await.unwrap(), i * 2);
    }
}

/// A task's output is moved to the joiner, not copied or cloned: an owned, heap-allocated value
/// arrives intact.
pub async fn output_is_moved_out_of_task(env: Env) {
    let task = env.rt().spawn(async {
        let mut words = vec![String::from("hello")];
        yield_now().await;
        words.push(String::from("world"));
        words
    });
    assert_eq!(task.await.unwrap(), ["hello", "world"]);
}

/// Dropping the handle of a task parked at an await point cancels it: its future is dropped and
/// the code after the await point never runs.
pub async fn dropping_handle_cancels_parked_task(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let started = AsyncEvent::new();
    let ran = Arc::new(AtomicBool::new(false));
    let task = rt.spawn({
        let (guard, started, ran, rt2) = (probe.guard(), started.clone(), ran.clone(), rt.clone());
        async move {
            let _guard = guard;
            started.set();
            // Long enough that it cannot elapse before the handle is dropped, even on a busy host.
            rt2.sleep(Duration::from_secs(30)).await;
            ran.store(true, Ordering::SeqCst);
        }
    });
    within(rt, "task start", started.wait()).await;
    drop(task);
    probe.wait_dropped(rt).await;
    // The future is gone, so the side effect can no longer happen.
    assert!(
        !ran.load(Ordering::SeqCst),
        "cancelled task ran past its await point"
    );
}

/// Dropping the handle right after spawning cancels the task whether or not it has started:
/// its future is dropped and its side effect never happens.
pub async fn dropping_handle_right_after_spawn_cancels(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let ran = Arc::new(AtomicBool::new(false));
    let task = rt.spawn({
        let (guard, ran, rt2) = (probe.guard(), ran.clone(), rt.clone());
        async move {
            let _guard = guard;
            rt2.sleep(Duration::from_secs(30)).await;
            ran.store(true, Ordering::SeqCst);
        }
    });
    drop(task);
    probe.wait_dropped(rt).await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "cancelled task produced its side effect"
    );
}

/// A task parked on a future that will never wake it (no timer, no event) is still dropped when
/// its handle is dropped: the cancellation itself wakes the task.
pub async fn dropped_handle_cancels_task_parked_on_never_woken_future(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let started = AsyncEvent::new();
    let task = rt.spawn({
        let (guard, started) = (probe.guard(), started.clone());
        async move {
            let _guard = guard;
            started.set();
            future::pending::<()>().await;
        }
    });
    within(rt, "task start", started.wait()).await;
    assert!(!task.is_finished());
    drop(task);
    probe.wait_dropped(rt).await;
}

/// `cancel()` keeps the handle; awaiting it then gives a cancelled `JoinError`, and by then the
/// task's future has been dropped.
pub async fn cancel_then_await_is_cancelled(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let started = AsyncEvent::new();
    let task = rt.spawn({
        let (guard, started) = (probe.guard(), started.clone());
        async move {
            let _guard = guard;
            started.set();
            future::pending::<u32>().await
        }
    });
    within(rt, "task start", started.wait()).await;
    task.cancel();
    task.cancel(); // a second request is harmless
    let err = within(rt, "joining the cancelled task", task)
        .await
        .unwrap_err();
    assert!(err.is_cancelled());
    assert!(err.is_cancelled() && !err.is_panic());
    assert!(
        probe.is_dropped(),
        "Cancelled was reported before the future was dropped"
    );
}

/// `cancel_and_wait()` returns only once the task's future has been dropped: the drop flag is
/// already set when it yields a cancelled `JoinError`.
pub async fn cancel_and_wait_returns_after_future_dropped(env: Env) {
    let rt = env.rt();
    for wait_for_start in [true, false] {
        let probe = DropProbe::new();
        let started = AsyncEvent::new();
        let task = rt.spawn({
            let (guard, started, rt2) = (probe.guard(), started.clone(), rt.clone());
            async move {
                let _guard = guard;
                started.set();
                rt2.sleep(Duration::from_secs(30)).await;
            }
        });
        if wait_for_start {
            within(rt, "task start", started.wait()).await;
        }
        let outcome = within(rt, "cancel_and_wait", task.cancel_and_wait()).await;
        assert!(
            probe.is_dropped(),
            "cancel_and_wait returned before the future was dropped (started first: {wait_for_start})"
        );
        assert!(outcome.unwrap_err().is_cancelled());
    }
}

/// Cancelling a task that has already finished changes nothing: its real output is kept.
pub async fn cancel_after_finish_keeps_output(env: Env) {
    let rt = env.rt();
    let task = rt.spawn(async { String::from("done") });
    eventually(rt, "task to finish", || task.is_finished()).await;
    task.cancel();
    assert!(task.is_finished());
    assert_eq!(task.await.as_deref().unwrap(), "done");

    let task = rt.spawn(async { 7 });
    eventually(rt, "task to finish", || task.is_finished()).await;
    assert_eq!(
        within(rt, "cancel_and_wait", task.cancel_and_wait())
            .await
            .unwrap(),
        7
    );
}

/// A cancel racing with the task's completion has one consistent outcome: either the task ran and
/// its output is returned, or it was cancelled and its body never ran.
pub async fn cancel_racing_completion_is_consistent(env: Env) {
    let rt = env.rt();
    for round in 0..50 {
        let ran = Arc::new(AtomicBool::new(false));
        let task = rt.spawn({
            let ran = ran.clone();
            async move {
                ran.store(true, Ordering::SeqCst);
                round
            }
        });
        if round % 2 == 1 {
            yield_now().await;
        }
        match within(rt, "cancel_and_wait", task.cancel_and_wait()).await {
            Ok(out) => {
                assert_eq!(out, round);
                assert!(ran.load(Ordering::SeqCst));
            }
            Err(error) if error.is_cancelled() => {
                assert!(
                    !ran.load(Ordering::SeqCst),
                    "reported Cancelled but the body ran"
                );
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

/// A detached task runs on with nobody holding its handle: it reacts to a signal sent after it
/// was detached.
pub async fn detached_task_keeps_running(env: Env) {
    let rt = env.rt();
    let go = AsyncEvent::new();
    let done = AsyncEvent::new();
    let task = rt.spawn({
        let (go, done, rt2) = (go.clone(), done.clone(), rt.clone());
        async move {
            go.wait().await;
            rt2.sleep(Duration::from_millis(5)).await;
            done.set();
        }
    });
    task.detach();
    yield_now().await;
    go.set();
    within(rt, "the detached task", done.wait()).await;
}

/// A panic with a `&'static str` payload comes back as a panic `JoinError` with that exact
/// message.
pub async fn panic_with_str_is_join_error(env: Env) {
    let task: Task<u32> = env.rt().spawn(async { panic!("task exploded") });
    let err = within(env.rt(), "joining the panicked task", task)
        .await
        .unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.panic_message(), Some("task exploded"));
}

/// A panic with a formatted (`String`) payload comes back with the formatted message, whether
/// raised by `panic!` with arguments or by `panic_any(format!(..))`.
pub async fn panic_with_formatted_string_is_join_error(env: Env) {
    let rt = env.rt();
    let id = 17;
    let task: Task<u32> = rt.spawn(async move { panic!("order {id} failed: {}", "out of stock") });
    assert_eq!(
        within(rt, "joining the panicked task", task)
            .await
            .unwrap_err()
            .panic_message(),
        Some("order 17 failed: out of stock")
    );
    let task: Task<u32> =
        rt.spawn(async move { std::panic::panic_any(format!("user {id} not found")) });
    assert_eq!(
        within(rt, "joining the panicked task", task)
            .await
            .unwrap_err()
            .panic_message(),
        Some("user 17 not found")
    );
}

/// A panic with a payload that is not a string is still a a panic `JoinError`, with the
/// documented placeholder message.
pub async fn panic_with_non_string_payload_is_join_error(env: Env) {
    let task: Task<()> = env.rt().spawn(async { std::panic::panic_any(42_u8) });
    assert_eq!(
        within(env.rt(), "joining the panicked task", task)
            .await
            .unwrap_err()
            .panic_message(),
        Some("<non-string panic payload>")
    );
}

/// A panic on a later poll (after an await point) is reported the same way, and the runtime keeps
/// running other tasks afterwards.
pub async fn panic_after_await_does_not_disturb_runtime(env: Env) {
    let rt = env.rt();
    let bystander = rt.spawn({
        let rt2 = rt.clone();
        async move {
            rt2.sleep(Duration::from_millis(20)).await;
            "still here"
        }
    });
    let task: Task<()> = rt.spawn({
        let rt2 = rt.clone();
        async move {
            rt2.sleep(Duration::from_millis(5)).await;
            panic!("late failure");
        }
    });
    assert_eq!(
        within(rt, "joining the panicked task", task)
            .await
            .unwrap_err()
            .panic_message(),
        Some("late failure")
    );
    assert_eq!(
        within(rt, "the bystander", bystander).await.unwrap(),
        "still here"
    );
    let after = rt.spawn(async { 1 });
    assert_eq!(
        within(rt, "a task spawned after the panic", after)
            .await
            .unwrap(),
        1
    );
}

/// A detached task that panics neither takes the runtime down nor affects other tasks; its
/// future is still dropped (unwound) properly.
pub async fn detached_panicking_task_is_contained(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    rt.spawn({
        let guard = probe.guard();
        async move {
            let _guard = guard;
            yield_now().await;
            panic!("nobody is listening");
        }
    })
    .detach();
    probe.wait_dropped(rt).await;
    let task = rt.spawn(async { 5 });
    assert_eq!(within(rt, "a task after the panic", task).await.unwrap(), 5);
}

/// `is_finished` is false while the task waits and becomes true once it has completed, before the
/// handle is awaited.
pub async fn is_finished_tracks_completion(env: Env) {
    let rt = env.rt();
    let go = AsyncEvent::new();
    let task = rt.spawn({
        let go = go.clone();
        async move {
            go.wait().await;
            3
        }
    });
    yield_now().await;
    assert!(!task.is_finished(), "finished before its event was set");
    go.set();
    eventually(rt, "task to finish", || task.is_finished()).await;
    assert_eq!(task.await.unwrap(), 3);

    let cancelled = rt.spawn(future::pending::<()>());
    assert!(!cancelled.is_finished());
    cancelled.cancel();
    eventually(rt, "cancelled task to finish", || cancelled.is_finished()).await;
    assert!(cancelled.await.unwrap_err().is_cancelled());
}

/// `yield_now` lets another task run: a task that spins on `yield_now` until another task sets a
/// flag finishes, even on a single-threaded executor.
pub async fn yield_now_lets_another_task_run(env: Env) {
    let rt = env.rt();
    let flag = Arc::new(AtomicBool::new(false));
    let spinner = rt.spawn({
        let flag = flag.clone();
        async move {
            let mut yields = 0_u64;
            while !flag.load(Ordering::SeqCst) {
                yield_now().await;
                yields += 1;
            }
            yields
        }
    });
    let setter = rt.spawn({
        let flag = flag.clone();
        async move { flag.store(true, Ordering::SeqCst) }
    });
    within(rt, "the spinning task", spinner).await.unwrap();
    within(rt, "the setter", setter).await.unwrap();

    // And the awaiting task itself: yielding in a loop lets a spawned task run.
    let flag = Arc::new(AtomicBool::new(false));
    let setter = rt.spawn({
        let flag = flag.clone();
        async move { flag.store(true, Ordering::SeqCst) }
    });
    eventually(rt, "the spawned task to run", || {
        flag.load(Ordering::SeqCst)
    })
    .await;
    setter.await.unwrap();
}

/// A task can spawn tasks through its own clone of the runtime, await them, and hand their
/// handles back to its parent.
#[allow(
    clippy::async_yields_async,
    reason = "tasks hand a child's handle back to their parent on purpose"
)]
pub async fn spawn_from_inside_task(env: Env) {
    let rt = env.rt();
    let outer = rt.spawn({
        let rt2 = rt.clone();
        async move {
            let child = rt2.spawn(async { 20 });
            let grandchild_handle = rt2.spawn({
                let rt3 = rt2.clone();
                async move { rt3.spawn(async { 2 }) }
            });
            let grandchild = grandchild_handle.await.unwrap();
            child.await.unwrap() + grandchild.await.unwrap()
        }
    });
    assert_eq!(within(rt, "the outer task", outer).await.unwrap(), 22);

    // A handle created inside a task and returned to the caller still works there.
    let inner = rt.spawn({
        let rt2 = rt.clone();
        async move { rt2.spawn(async { "from inside" }) }
    });
    let inner = within(rt, "the spawning task", inner).await.unwrap();
    assert_eq!(
        within(rt, "the inner task", inner).await.unwrap(),
        "from inside"
    );
}

/// One task can await another task's handle; the result (or error) arrives in the awaiting task.
pub async fn task_awaited_from_another_task(env: Env) {
    let rt = env.rt();
    let go = AsyncEvent::new();
    let first = rt.spawn({
        let go = go.clone();
        async move {
            go.wait().await;
            5
        }
    });
    let second = rt.spawn(async move { first.await.map(|v| v + 1) });
    yield_now().await;
    go.set();
    assert_eq!(
        within(rt, "the second task", second)
            .await
            .unwrap()
            .unwrap(),
        6
    );

    let failing: Task<u8> = rt.spawn(async { panic!("inner failure") });
    // A `Task` is itself a `Send` future: spawning it makes a task whose whole job is the join.
    let watcher = rt.spawn(failing);
    assert_eq!(
        within(rt, "the watcher", watcher)
            .await
            .unwrap()
            .unwrap_err()
            .panic_message(),
        Some("inner failure")
    );
}

/// A `!Send` future (holding an `Rc`) runs through the backend's local spawner and its output
/// comes back through the same kind of `Task`.
pub async fn local_spawner_runs_non_send_future(env: Env) {
    let Some(local) = env.local_spawner() else {
        env.skip(
            "task::local_spawner_runs_non_send_future",
            "no local spawner",
        );
        return;
    };
    let rt = env.rt();
    let log = Rc::new(RefCell::new(Vec::new()));
    let task = local.spawn_local({
        let log = log.clone();
        async move {
            log.borrow_mut().push("started");
            yield_now().await;
            log.borrow_mut().push("resumed");
            Rc::strong_count(&log)
        }
    });
    let count = within(rt, "the local task", task).await.unwrap();
    assert_eq!(count, 2, "the task held the only other reference");
    assert_eq!(*log.borrow(), ["started", "resumed"]);
    assert_eq!(
        Rc::strong_count(&log),
        1,
        "the local future was not dropped"
    );

    let task: Task<()> = local.spawn_local(async { panic!("local failure") });
    assert_eq!(
        within(rt, "the panicking local task", task)
            .await
            .unwrap_err()
            .panic_message(),
        Some("local failure")
    );
}

/// Dropping the handle of a local task cancels it too: its `!Send` future is dropped and never
/// resumes.
pub async fn local_task_dropped_is_cancelled(env: Env) {
    let Some(local) = env.local_spawner() else {
        env.skip("task::local_task_dropped_is_cancelled", "no local spawner");
        return;
    };
    let rt = env.rt();
    let probe = DropProbe::new();
    let resumed = Rc::new(Cell::new(false));
    let started = AsyncEvent::new();
    let task = local.spawn_local({
        let (guard, resumed, started) = (probe.guard(), resumed.clone(), started.clone());
        async move {
            let _guard = guard;
            started.set();
            future::pending::<()>().await;
            resumed.set(true);
        }
    });
    within(rt, "local task start", started.wait()).await;
    drop(task);
    probe.wait_dropped(rt).await;
    assert!(!resumed.get());
}

/// A `task::blocking` job run on a plain thread delivers the closure's output to its task.
pub async fn blocking_job_delivers_output(env: Env) {
    let _ = env;
    let (job, task) = task::blocking(|| (1..=10).product::<u64>());
    let thread = std::thread::spawn(move || job.run());
    // No timeout here: on virtual time a pending timer would fire while the thread works.
    assert_eq!(task.await.unwrap(), 3_628_800);
    thread.join().unwrap();
}

/// A panic in a `task::blocking` closure is caught and reported as a panic `JoinError` with its
/// message; the thread running the job does not unwind.
pub async fn blocking_job_panic_is_join_error(env: Env) {
    let _ = env;
    let (job, task) = task::blocking(|| -> u32 { panic!("disk on fire") });
    let thread = std::thread::spawn(move || job.run());
    assert_eq!(
        task.await.unwrap_err().panic_message(),
        Some("disk on fire")
    );
    thread.join().expect("the panic escaped BlockingJob::run");

    let (job, task) = task::blocking(|| -> u32 { panic!("code {}", 500) });
    let thread = std::thread::spawn(move || job.run());
    assert_eq!(task.await.unwrap_err().panic_message(), Some("code 500"));
    thread.join().expect("the panic escaped BlockingJob::run");
}

/// A blocking job dropped without being run (a pool shutting down) resolves its task to
/// a cancelled `JoinError` instead of leaving the joiner hanging.
pub async fn blocking_job_dropped_unrun_is_cancelled(env: Env) {
    let _ = env;
    let ran = Arc::new(AtomicBool::new(false));
    let (job, task) = task::blocking({
        let ran = ran.clone();
        move || ran.store(true, Ordering::SeqCst)
    });
    std::thread::spawn(move || drop(job)).join().unwrap();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(!ran.load(Ordering::SeqCst));
}

/// Cancelling a blocking task before its job starts keeps the closure from running at all.
pub async fn blocking_job_cancelled_before_run_skips_closure(env: Env) {
    let _ = env;
    let calls = Arc::new(AtomicUsize::new(0));
    let (job, task) = task::blocking({
        let calls = calls.clone();
        move || calls.fetch_add(1, Ordering::SeqCst)
    });
    task.cancel();
    std::thread::spawn(move || job.run()).join().unwrap();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a cancelled blocking closure ran"
    );
}

/// The handle and error types cross threads: `Task<T>` and `JoinError` are `Send + Sync`, and so
/// is the `Runtime` handle; a handle moved to another task can be awaited there.
pub async fn task_types_are_send_sync(env: Env) {
    assert_send_sync::<Task<u32>>();
    assert_send_sync::<JoinError>();
    assert_send_sync::<AbortHandle>();
    assert_send_sync::<Runtime>();
    let rt = env.rt();
    let shared = Arc::new(Mutex::new(Some(rt.spawn(async { 9 }))));
    let joiner = rt.spawn({
        let shared = shared.clone();
        async move {
            let task = shared.lock().unwrap().take().unwrap();
            task.await
        }
    });
    assert_eq!(within(rt, "the joiner", joiner).await.unwrap().unwrap(), 9);
}

/// A panic payload that is neither a `&str` nor a `String`, to tell the original from a copy.
#[derive(Debug, PartialEq)]
struct OutOfStock {
    order: u32,
}

/// A task's panic keeps its original payload on every backend: `try_into_panic` gives it back as
/// it was raised, `resume_panic` re-raises that same value, and the message of a payload that is
/// not text says so.
pub async fn panic_payload_is_kept_whole(env: Env) {
    let rt = env.rt();
    let err = within(
        rt,
        "the panicked task",
        rt.spawn(async { std::panic::panic_any(OutOfStock { order: 17 }) }),
    )
    .await
    .unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.panic_message(), Some("<non-string panic payload>"));
    let payload = err.try_into_panic().expect("a panic gives its payload");
    assert_eq!(payload.downcast_ref(), Some(&OutOfStock { order: 17 }));

    let err = within(
        rt,
        "the panicked task",
        rt.spawn(async { std::panic::panic_any(OutOfStock { order: 18 }) }),
    )
    .await
    .unwrap_err();
    let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| err.resume_panic()));
    let raised = raised.expect_err("resume_panic re-raises");
    assert_eq!(raised.downcast_ref(), Some(&OutOfStock { order: 18 }));

    // A cancelled task's error is given back, not turned into a payload.
    let cancelled = rt.spawn(future::pending::<()>()).cancel_and_wait();
    let err = within(rt, "the cancelled task", cancelled)
        .await
        .unwrap_err();
    assert!(err.try_into_panic().unwrap_err().is_cancelled());
}

/// The payload of a panic in a blocking closure is kept whole too.
pub async fn blocking_panic_payload_is_kept_whole(env: Env) {
    let rt = env.rt();
    let job = rt.spawn_blocking(|| std::panic::panic_any(OutOfStock { order: 3 }));
    let err = within(rt, "the blocking job", job).await.unwrap_err();
    assert_eq!(
        err.into_panic().downcast_ref(),
        Some(&OutOfStock { order: 3 })
    );
}

/// A task's `AbortHandle` cancels it from another task while the `Task` itself is awaited
/// elsewhere: the future is dropped and the `Task` resolves to a cancelled `JoinError`. Clones
/// share the task, and `is_finished` follows it.
pub async fn abort_handle_cancels_from_another_task(env: Env) {
    let rt = env.rt();
    let probe = DropProbe::new();
    let task = {
        let guard = probe.guard();
        rt.spawn(async move {
            let _guard = guard;
            future::pending::<()>().await;
        })
    };
    let abort = task.abort_handle();
    let clone = abort.clone();
    assert!(!abort.is_finished());
    let aborter = rt.spawn(async move { clone.abort() });
    within(rt, "the aborter", aborter).await.unwrap();
    let err = within(rt, "the aborted task", task).await.unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(probe.is_dropped());
    assert!(abort.is_finished());
    abort.abort(); // aborting a finished task does nothing
}

/// Aborting a task that has already finished keeps its real outcome, as `Task::cancel` does, and
/// dropping an `AbortHandle` leaves the task alone.
pub async fn abort_handle_after_finish_keeps_output(env: Env) {
    let rt = env.rt();
    let task = rt.spawn(async { 7 });
    let abort = task.abort_handle();
    eventually(rt, "the task to finish", || abort.is_finished()).await;
    abort.abort();
    assert_eq!(within(rt, "the finished task", task).await.unwrap(), 7);

    let (go, rt2) = (AsyncEvent::new(), rt.clone());
    let set = go.clone();
    let task = rt.spawn(async move {
        go.wait().await;
        rt2.sleep(Duration::from_millis(1)).await;
        "ran"
    });
    drop(task.abort_handle());
    set.set();
    assert_eq!(within(rt, "the task", task).await.unwrap(), "ran");
}
