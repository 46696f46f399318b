//! Cases: [`TaskManager`] — a long-lived registry of named tasks: list with state and age, cancel
//! by name, duplicate names refused, graceful shutdown with a deadline and a report.
//!
//! [`TaskManager`]: uno_core::task::TaskManager

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_manager {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; manager:
            list_shows_name_state_and_age,
            duplicate_running_name_is_a_typed_error,
            cancel_by_name_cancels_only_that_task,
            failed_and_panicked_tasks_are_listed_as_failed,
            shutdown_reports_tasks_that_did_not_stop_in_time,
            spawn_after_shutdown_is_refused,
            spawn_returns_a_handle_with_the_outcome,
            manager_types_are_send_sync,
        }
    };
}

use std::time::Duration;

use uno_core::lifecycle::AsyncManager;
use uno_core::task::{
    ManagedTask, ManagedTaskError, TaskInfo, TaskManager, TaskManagerError, TaskPanic,
    TaskShutdownReport, TaskState, yield_now,
};

use crate::support::{DropProbe, assert_duration, eventually, within};
use crate::{Env, assert_send_sync, poll_times};

/// How much later than its deadline a shutdown on a real clock may return: the time for its own
/// task to be woken and polled, on a machine that may be busy.
pub(crate) const REAL_CLOCK_SLACK: Duration = Duration::from_secs(2);

/// Checks when a shutdown of `timeout` that had to cancel tasks returned: the last tenth of the
/// timeout (at most a second) is kept for cancelling, and a cancelled task that is dropped at once
/// ends it there — exactly, on virtual time; on a real clock, no earlier, and never much later
/// than the deadline.
#[track_caller]
pub(crate) fn assert_cancelled_in_time(env: &Env, elapsed: Duration, timeout: Duration) {
    let graceful = timeout - (timeout / 10).min(Duration::from_secs(1));
    assert_duration(
        env,
        elapsed,
        graceful,
        graceful..=timeout + REAL_CLOCK_SLACK,
        format_args!("a shutdown of {timeout:?} that cancelled tasks"),
    );
}

fn state_of(manager: &TaskManager, name: &str) -> TaskState {
    manager.state(name).expect("the task is listed")
}

/// `list` shows every task in spawn order with its state and its age on the runtime's clock.
pub async fn list_shows_name_state_and_age(env: Env) {
    let rt = env.rt().clone();
    let manager = TaskManager::new(&rt);
    manager
        .spawn("quick", async { Ok::<_, String>(()) })
        .unwrap();
    let rt2 = rt.clone();
    manager
        .spawn("slow", async move {
            rt2.sleep(Duration::from_secs(3600)).await;
            Ok::<_, String>(())
        })
        .unwrap();
    eventually(&env, "quick to finish", || {
        state_of(&manager, "quick") == TaskState::Finished
    })
    .await;
    rt.sleep(Duration::from_millis(30)).await;
    let listed: Vec<TaskInfo> = manager.list();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["quick", "slow"]);
    assert_eq!(listed[0].state, TaskState::Finished);
    assert_eq!(listed[1].state, TaskState::Running);
    assert_duration(
        &env,
        listed[1].age,
        Duration::from_millis(30),
        Duration::from_millis(30)..,
        "the running task's age",
    );
    assert_eq!(manager.remove_finished(), 1);
    assert_eq!(manager.list().len(), 1);
}

/// A second running task with the same name is refused with a typed error; once the first has
/// finished the name can be reused.
pub async fn duplicate_running_name_is_a_typed_error(env: Env) {
    let manager = TaskManager::new(env.rt());
    let token = manager.shutdown_token().child_token();
    let waiter = token.clone();
    manager
        .spawn("worker", async move {
            waiter.cancelled().await;
            Ok::<_, String>(())
        })
        .unwrap();
    let err = manager
        .spawn("worker", async { Ok::<_, String>(()) })
        .unwrap_err();
    assert_eq!(
        err,
        TaskManagerError::DuplicateName {
            name: "worker".into()
        }
    );
    assert!(err.to_string().contains("worker"));
    token.cancel();
    eventually(&env, "worker to finish", || {
        state_of(&manager, "worker") == TaskState::Finished
    })
    .await;
    manager
        .spawn("worker", async { Ok::<_, String>(()) })
        .expect("a finished task's name can be reused");
    assert_eq!(manager.list().len(), 1);
}

/// `cancel(name)` cancels that task (its future is dropped) and leaves the others running.
pub async fn cancel_by_name_cancels_only_that_task(env: Env) {
    let rt = env.rt().clone();
    let manager = TaskManager::new(&rt);
    let probe = DropProbe::new();
    let mut guard = Some(probe.guard());
    for name in ["a", "b"] {
        let rt = rt.clone();
        let guard = if name == "a" { guard.take() } else { None };
        manager
            .spawn(name, async move {
                let _guard = guard;
                rt.sleep(Duration::from_secs(3600)).await;
                Ok::<_, String>(())
            })
            .unwrap();
    }
    assert!(manager.cancel("a"));
    assert!(!manager.cancel("missing"));
    probe.wait_dropped(&rt).await;
    eventually(&env, "a to be cancelled", || {
        state_of(&manager, "a") == TaskState::Cancelled
    })
    .await;
    assert_eq!(state_of(&manager, "b"), TaskState::Running);
    assert!(within(&env, "cancel_and_wait", manager.cancel_and_wait("b")).await);
    assert_eq!(state_of(&manager, "b"), TaskState::Cancelled);
    assert!(!manager.cancel("b"), "b is no longer running");
}

/// A task returning an error, or panicking, is listed as failed with the error's text.
pub async fn failed_and_panicked_tasks_are_listed_as_failed(env: Env) {
    let manager = TaskManager::new(env.rt());
    manager
        .spawn("erring", async { Err::<(), _>("bad config") })
        .unwrap();
    manager
        .spawn("panicking", async {
            if manager_sane() {
                panic!("oops");
            }
            Ok::<_, String>(())
        })
        .unwrap();
    eventually(&env, "both to fail", || {
        manager
            .list()
            .iter()
            .all(|t| matches!(t.state, TaskState::Failed { .. }))
    })
    .await;
    assert_eq!(
        state_of(&manager, "erring"),
        TaskState::Failed {
            error: "bad config".into()
        }
    );
    assert_eq!(
        state_of(&manager, "panicking"),
        TaskState::Failed {
            error: "panicked: oops".into()
        }
    );
}

fn manager_sane() -> bool {
    true
}

/// Shutdown cancels the token, waits until the deadline for tasks to stop, then cancels the rest
/// and reports them as timed out.
pub async fn shutdown_reports_tasks_that_did_not_stop_in_time(env: Env) {
    let rt = env.rt().clone();
    let manager = TaskManager::new(&rt);
    let token = manager.shutdown_token();
    manager
        .spawn("polite", async move {
            token.cancelled().await;
            Ok::<_, String>(())
        })
        .unwrap();
    let probe = DropProbe::new();
    let guard = probe.guard();
    manager
        .spawn("stubborn", async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok::<_, String>(())
        })
        .unwrap();
    manager
        .spawn("done-already", async { Ok::<_, String>(()) })
        .unwrap();
    eventually(&env, "done-already to finish", || {
        state_of(&manager, "done-already") == TaskState::Finished
    })
    .await;
    let start = rt.now();
    let timeout = Duration::from_millis(200);
    let report: TaskShutdownReport = within(&env, "shutdown", manager.shutdown(timeout)).await;
    let elapsed = rt.now() - start;
    assert_eq!(report.stopped, ["polite"]);
    assert_eq!(report.timed_out, ["stubborn"]);
    assert!(report.abandoned.is_empty(), "{report:?}");
    assert!(!report.is_clean());
    assert!(probe.is_dropped(), "a timed-out task must be cancelled");
    assert_eq!(state_of(&manager, "stubborn"), TaskState::Cancelled);
    assert_cancelled_in_time(&env, elapsed, timeout);
    let again = manager.shutdown(Duration::from_millis(50)).await;
    assert!(again.stopped.is_empty() && again.timed_out.is_empty());
}

/// After shutdown the manager refuses new tasks with a typed error.
pub async fn spawn_after_shutdown_is_refused(env: Env) {
    let manager = TaskManager::new(env.rt());
    let report = within(
        &env,
        "shutdown",
        manager.shutdown(Duration::from_millis(10)),
    )
    .await;
    assert!(report.is_clean());
    assert!(manager.is_shut_down());
    assert!(manager.shutdown_token().is_cancelled());
    assert_eq!(
        manager
            .spawn("late", async { Ok::<_, String>(()) })
            .unwrap_err(),
        TaskManagerError::ShutDown
    );
}

/// `spawn` (and `AsyncManager::spawn_task`) return a handle that resolves with the task's outcome:
/// its `Ok`, its error value, its panic, or its cancellation. Dropping the handle — even while
/// awaiting it — does not cancel the task, and the registry's rows are the same as before.
pub async fn spawn_returns_a_handle_with_the_outcome(env: Env) {
    let manager = TaskManager::new(env.rt());
    let ok = manager.spawn("ok", async { Ok::<_, String>(()) }).unwrap();
    let failed = manager
        .spawn("failed", async { Err::<(), _>("bad input".to_string()) })
        .unwrap();
    let panicked = manager
        .spawn("panicked", async {
            if manager_sane() {
                panic!("oops");
            }
            Ok::<_, String>(())
        })
        .unwrap();
    let stuck: ManagedTask<String> = manager
        .spawn("stuck", std::future::pending::<Result<(), String>>())
        .unwrap();
    assert_eq!(stuck.name(), "stuck");
    assert_eq!(within(&env, "ok", ok).await, Ok(()));
    assert_eq!(
        within(&env, "failed", failed).await,
        Err(ManagedTaskError::Failed("bad input".into()))
    );
    assert_eq!(
        within(&env, "panicked", panicked).await,
        Err(ManagedTaskError::Panicked {
            message: "oops".into()
        })
    );
    assert!(!stuck.is_finished());
    assert!(manager.cancel("stuck"));
    let cancelled = within(&env, "stuck", stuck).await;
    assert_eq!(cancelled, Err(ManagedTaskError::Cancelled));
    assert!(cancelled.unwrap_err().is_cancelled());

    // Giving up on a handle mid-wait (or dropping it) leaves the task running in the registry.
    let gate = manager.shutdown_token().child_token();
    let release = gate.clone();
    let waited = manager
        .spawn("waited-on", async move {
            gate.cancelled().await;
            Ok::<_, String>(())
        })
        .unwrap();
    assert!(poll_times(waited, 2).await.is_none());
    for _ in 0..3 {
        yield_now().await;
    }
    assert_eq!(manager.state("waited-on"), Some(TaskState::Running));
    release.cancel();
    eventually(&env, "waited-on to finish", || {
        manager.state("waited-on") == Some(TaskState::Finished)
    })
    .await;
    let states: Vec<TaskState> = manager.list().into_iter().map(|t| t.state).collect();
    assert_eq!(states.len(), 5);

    let lifecycle = AsyncManager::new(env.rt());
    let job = lifecycle
        .spawn_task("job", async { Err::<(), _>(7) })
        .unwrap();
    assert_eq!(
        within(&env, "job", job).await,
        Err(ManagedTaskError::Failed(7))
    );
}

/// The manager's public types can cross threads.
pub async fn manager_types_are_send_sync(_env: Env) {
    assert_send_sync::<TaskManager>();
    assert_send_sync::<TaskInfo>();
    assert_send_sync::<TaskShutdownReport>();
    assert_send_sync::<TaskManagerError>();
    assert_send_sync::<TaskPanic>();
    assert_send_sync::<ManagedTask<String>>();
    assert_send_sync::<ManagedTaskError<String>>();
}
