//! Misbehaving user code around `Task`, `shield` and blocking jobs: futures that panic while
//! being dropped (after finishing, when cancelled at each await point, or never polled), closures
//! whose captures panic in `Drop`, and `Drop` impls that block. The handle always resolves, with
//! the panic as a value.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_task {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_task:
            finished_future_panicking_in_drop_is_panicked,
            cancelled_future_panicking_in_drop_is_panicked_at_every_await_point,
            never_polled_future_panicking_in_drop_is_panicked,
            dropped_handle_of_future_panicking_in_drop_leaves_runtime_working,
            shield_reports_panic_in_drop,
            panic_in_poll_then_in_drop_keeps_first_message,
            blocking_job_capture_panicking_in_drop_is_panicked,
            blocking_drop_in_cancelled_future_still_resolves,
            virtual_time_holds_while_blocking_job_runs,
            timeout_whose_future_panics_in_drop_at_expiry_reports_through_its_task,
            cancellable_whose_future_panics_in_drop_reports_through_its_task,
        }
    };
}

use std::time::Duration;

use uno_core::sync::{CancellationToken, cancellable};
use uno_core::task::{self, JoinError, shield, yield_now};

use crate::Env;
use crate::support::{
    BlockOnDrop, PanicOnDrop, assert_duration, eventually, panics_on_drop, within,
};

fn assert_panicked<T: std::fmt::Debug>(outcome: Result<T, JoinError>, expected: &str) {
    match outcome {
        Err(error) if error.is_panic() => assert_eq!(error.panic_message(), Some(expected)),
        other => panic!("expected a panic {expected:?} as a value, got {other:?}"),
    }
}

/// A future that finishes and then panics while it is dropped is reported as that panic, as
/// tokio's `JoinHandle` does (its output is dropped).
pub async fn finished_future_panicking_in_drop_is_panicked(env: Env) {
    let rt = env.rt().clone();
    let task = rt.spawn(panics_on_drop("drop after finish", async { 42 }));
    assert_panicked(within(&rt, "the task", task).await, "drop after finish");
}

/// Cancelled after `k` of its own await points, for each `k`, a future whose drop panics still
/// resolves its handle: through `.await` after `cancel`, and through `cancel_and_wait`.
pub async fn cancelled_future_panicking_in_drop_is_panicked_at_every_await_point(env: Env) {
    let rt = env.rt().clone();
    for k in 0..4usize {
        for use_cancel_and_wait in [false, true] {
            let future = panics_on_drop("drop when cancelled", async move {
                for _ in 0..k {
                    yield_now().await;
                }
                std::future::pending::<()>().await;
            });
            let task = rt.spawn(future);
            for _ in 0..k {
                yield_now().await;
            }
            let outcome = if use_cancel_and_wait {
                within(&rt, "cancel_and_wait", task.cancel_and_wait()).await
            } else {
                task.cancel();
                within(&rt, "the cancelled task", task).await
            };
            assert_panicked(outcome, "drop when cancelled");
        }
    }
}

/// Cancelled before its first poll, the future is dropped unpolled; its panicking drop is still
/// the outcome.
pub async fn never_polled_future_panicking_in_drop_is_panicked(env: Env) {
    let rt = env.rt().clone();
    let task = rt.spawn(panics_on_drop("drop unpolled", async { 1 }));
    task.cancel();
    assert_panicked(within(&rt, "the task", task).await, "drop unpolled");
}

/// Dropping the handle of such a task cancels it; the panic in its drop is contained and the
/// runtime runs the next task as usual.
pub async fn dropped_handle_of_future_panicking_in_drop_leaves_runtime_working(env: Env) {
    let rt = env.rt().clone();
    let probe = crate::support::DropProbe::new();
    let guard = probe.guard();
    let bomb = PanicOnDrop("drop of a dropped task");
    let task = rt.spawn(async move {
        let _guard = guard;
        let _bomb = bomb;
        std::future::pending::<()>().await;
    });
    yield_now().await;
    drop(task);
    probe.wait_dropped(&rt).await;
    let after = rt.spawn(async { "still working" });
    assert_eq!(
        within(&rt, "the next task", after).await.unwrap(),
        "still working"
    );
}

/// `shield` resolves with the panic of the shielded future's drop.
pub async fn shield_reports_panic_in_drop(env: Env) {
    let rt = env.rt().clone();
    let shielded = shield(&rt, panics_on_drop("shielded drop", async { 5 }));
    assert_panicked(within(&rt, "the shield", shielded).await, "shielded drop");
}

/// A future that panics in poll and then again in its drop reports the first panic; nothing
/// aborts (the drop's panic happens after the first has been caught, not during unwinding).
pub async fn panic_in_poll_then_in_drop_keeps_first_message(env: Env) {
    let rt = env.rt().clone();
    let bomb = PanicOnDrop("second, in drop");
    let task = rt.spawn(async move {
        let _bomb = &bomb;
        yield_now().await;
        panic!("first, in poll");
    });
    assert_panicked(within(&rt, "the task", task).await, "first, in poll");
}

/// A blocking closure whose captures panic when dropped: run, or dropped unrun (the pool shut
/// down), the task reports the panic.
pub async fn blocking_job_capture_panicking_in_drop_is_panicked(env: Env) {
    let rt = env.rt().clone();
    let bomb = PanicOnDrop("capture of a blocking job");
    let ran = rt.spawn_blocking(move || {
        let _bomb = bomb;
        7
    });
    assert_panicked(
        within(&rt, "the blocking task", ran).await,
        "capture of a blocking job",
    );

    let bomb = PanicOnDrop("capture of an unrun job");
    let (job, unrun) = task::blocking(move || {
        let _bomb = &bomb;
    });
    drop(job);
    assert_panicked(
        within(&rt, "the unrun job's task", unrun).await,
        "capture of an unrun job",
    );

    let bomb = PanicOnDrop("capture of a cancelled job");
    let (job, cancelled) = task::blocking(move || {
        let _bomb = &bomb;
    });
    cancelled.cancel();
    job.run();
    assert_panicked(
        within(&rt, "the cancelled job's task", cancelled).await,
        "capture of a cancelled job",
    );
}

/// A cancelled future whose `Drop` blocks its thread for a moment resolves as cancelled once
/// that drop has returned.
pub async fn blocking_drop_in_cancelled_future_still_resolves(env: Env) {
    let rt = env.rt().clone();
    let slow = BlockOnDrop;
    let task = rt.spawn(async move {
        let _slow = slow;
        std::future::pending::<()>().await;
    });
    yield_now().await;
    let outcome = within(&rt, "cancel_and_wait", task.cancel_and_wait()).await;
    assert!(outcome.unwrap_err().is_cancelled());
}

/// Virtual time does not jump while a blocking job runs: a timeout around `spawn_blocking` sees
/// the job's output, however long the job takes in real time (on real clocks, a generous timeout
/// is simply not reached).
pub async fn virtual_time_holds_while_blocking_job_runs(env: Env) {
    let rt = env.rt().clone();
    for _ in 0..20 {
        let job = rt.spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(2));
            40 + 2
        });
        let start = rt.now();
        let outcome = rt
            .timeout(Duration::from_secs(5), "blocking job", job)
            .await;
        assert_eq!(outcome.expect("the job beat its timeout").unwrap(), 42);
        assert_duration(
            &env,
            rt.now() - start,
            Duration::ZERO,
            ..,
            "virtual time moved while only a blocking job ran",
        );
    }
    // A sleep after the job still advances virtual time as usual.
    let start = rt.now();
    rt.sleep(Duration::from_secs(1)).await;
    eventually(&rt, "the sleep to have taken its time", || {
        rt.now().saturating_duration_since(start) >= Duration::from_secs(1)
    })
    .await;
}

/// `timeout` drops its future at expiry; if that drop panics, the panic reaches the task that
/// awaited the timeout (as any panic in a future it polls does), the task reports it as a value,
/// and the runtime's timers keep working.
pub async fn timeout_whose_future_panics_in_drop_at_expiry_reports_through_its_task(env: Env) {
    let rt = env.rt().clone();
    let rt2 = rt.clone();
    let task = rt.spawn(async move {
        let slow = panics_on_drop("dropped at expiry", std::future::pending::<()>());
        rt2.timeout(Duration::from_millis(5), "slow call", slow)
            .await
    });
    assert_panicked(within(&rt, "the task", task).await, "dropped at expiry");
    let again = rt
        .timeout(
            Duration::from_millis(5),
            "pending",
            std::future::pending::<()>(),
        )
        .await;
    assert!(again.is_err(), "timers still fire after the panic");
}

/// `cancellable` drops its future when the token fires; a panic in that drop reaches the awaiting
/// task as a value, and every other waiter on the token is still woken.
pub async fn cancellable_whose_future_panics_in_drop_reports_through_its_task(env: Env) {
    let rt = env.rt().clone();
    let token = CancellationToken::new();
    let noisy = {
        let token = token.clone();
        rt.spawn(async move {
            let work = panics_on_drop("dropped on cancel", std::future::pending::<()>());
            cancellable(&token, work).await
        })
    };
    let quiet = {
        let token = token.clone();
        rt.spawn(async move { cancellable(&token, std::future::pending::<()>()).await })
    };
    yield_now().await;
    token.cancel();
    assert_panicked(
        within(&rt, "the noisy task", noisy).await,
        "dropped on cancel",
    );
    let quiet = within(&rt, "the quiet task", quiet).await.unwrap();
    assert!(quiet.is_err(), "the other waiter saw the cancellation");
}
