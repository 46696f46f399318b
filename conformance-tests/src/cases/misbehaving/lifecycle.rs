//! Misbehaving user code around `TaskManager`, `AsyncManager`, `AsyncContextGroup` and `run_application`.
//!
//! Every shutdown deadline is a hard bound whatever user code does: a task that never stops and
//! whose `Drop` panics or blocks, a task whose executor never polls it again (its handle never
//! resolves), a resource whose close hangs or panics (when called, in a poll, or in the `Drop` of
//! its future). Each shutdown returns in time and reports what timed out or panicked.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_lifecycle {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_lifecycle:
            task_manager_shutdown_is_bounded_when_a_cancelled_task_panics_in_drop,
            task_manager_shutdown_is_bounded_when_a_cancelled_task_blocks_in_drop,
            task_manager_shutdown_is_bounded_when_a_task_is_never_polled_again,
            managed_task_handles_report_panics_in_drop,
            task_dropped_with_its_runtime_while_panicking_in_drop_is_recorded,
            async_manager_shutdown_is_bounded_with_misbehaving_tasks_and_resources,
            context_group_close_survives_misbehaving_closes,
            run_application_reports_a_cleanup_that_panics,
            run_application_closes_what_a_panicking_startup_registered,
        }
    };
}

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::Runtime;
use uno_core::lifecycle::{
    AsyncClose, AsyncContextGroup, AsyncManager, BoxError, CloseError, CloseFuture, on_close,
    run_application,
};
use uno_core::rt::{BoxFuture, Spawner, VirtualRuntime};
use uno_core::task::{ManagedTaskError, TaskManager, TaskShutdownReport, TaskState};

use crate::Env;
use crate::cases::manager::{REAL_CLOCK_SLACK, assert_cancelled_in_time};
use crate::support::{
    BlockOnDrop, DropProbe, PanicOnDrop, SameClock, assert_duration, panics_on_drop, within,
};

type Log = Arc<Mutex<Vec<String>>>;

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// A background task that ignores the shutdown token and holds `guard` until it is dropped.
async fn deaf<G: Send + 'static>(guard: G) -> Result<(), String> {
    let _guard = guard;
    pending::<()>().await;
    Ok(())
}

/// The names and messages of a report's panicked tasks.
fn panics_of(report: &TaskShutdownReport) -> Vec<(String, String)> {
    report
        .panicked
        .iter()
        .map(|p| (p.name.clone(), p.message.clone()))
        .collect()
}

/// Asserts that an operation bounded by `bound` took exactly that on virtual time, and on a real
/// clock no less and not much more.
#[track_caller]
fn assert_took(env: &Env, elapsed: Duration, bound: Duration) {
    assert_duration(
        env,
        elapsed,
        bound,
        bound..=bound + REAL_CLOCK_SLACK,
        format_args!("an operation bounded by {bound:?}"),
    );
}

/// A task that never stops and whose `Drop` panics: the shutdown cancels it within its deadline,
/// reports it as timed out *and* as panicked, and its handle resolves with the panic.
pub async fn task_manager_shutdown_is_bounded_when_a_cancelled_task_panics_in_drop(env: Env) {
    let rt = env.rt().clone();
    let manager = TaskManager::new(&rt);
    let handle = manager
        .spawn("stuck", deaf(PanicOnDrop("stuck task's drop")))
        .unwrap();
    let token = manager.shutdown_token();
    manager
        .spawn("polite", async move {
            token.cancelled().await;
            Ok::<_, String>(())
        })
        .unwrap();
    let start = rt.now();
    let timeout = Duration::from_millis(200);
    let report = within(&env, "shutdown", manager.shutdown(timeout)).await;
    assert_cancelled_in_time(&env, rt.now() - start, timeout);
    assert_eq!(report.stopped, ["polite"]);
    assert_eq!(report.timed_out, ["stuck"]);
    assert!(report.abandoned.is_empty(), "{report:?}");
    assert_eq!(
        panics_of(&report),
        [("stuck".to_string(), "stuck task's drop".to_string())]
    );
    assert!(!report.is_clean());
    assert_eq!(
        manager.state("stuck"),
        Some(TaskState::Failed {
            error: "panicked when cancelled: stuck task's drop".into()
        })
    );
    let outcome = within(&env, "the stuck task's handle", handle).await;
    assert_eq!(
        outcome,
        Err(ManagedTaskError::Panicked {
            message: "stuck task's drop".into()
        })
    );
}

/// A task that never stops and whose `Drop` blocks its thread briefly: the shutdown waits for the
/// drop (it fits in the time kept for cancelling) and still returns in time.
pub async fn task_manager_shutdown_is_bounded_when_a_cancelled_task_blocks_in_drop(env: Env) {
    let rt = env.rt().clone();
    let manager = TaskManager::new(&rt);
    let probe = DropProbe::new();
    manager
        .spawn("slow-drop", deaf((BlockOnDrop, probe.guard())))
        .unwrap();
    let start = rt.now();
    let timeout = Duration::from_millis(500);
    let report = within(&env, "shutdown", manager.shutdown(timeout)).await;
    assert_cancelled_in_time(&env, rt.now() - start, timeout);
    assert_eq!(report.timed_out, ["slow-drop"]);
    assert!(report.abandoned.is_empty(), "{report:?}");
    assert!(report.panicked.is_empty(), "{report:?}");
    assert!(probe.is_dropped(), "the shutdown waited for the drop");
    assert_eq!(manager.state("slow-drop"), Some(TaskState::Cancelled));
}

/// An executor that takes futures and never polls or drops them until told to: what a stalled or
/// blocked executor looks like from the outside.
#[derive(Clone, Default)]
struct StalledSpawner {
    held: Arc<Mutex<Vec<BoxFuture<()>>>>,
}

impl Spawner for StalledSpawner {
    fn spawn_boxed(&self, future: BoxFuture<()>) {
        self.held.lock().unwrap().push(future);
    }
}

/// A task whose executor never polls it again never confirms its cancellation: the shutdown still
/// returns at its deadline, reporting it as abandoned. When the executor finally drops it, it is
/// recorded as cancelled.
pub async fn task_manager_shutdown_is_bounded_when_a_task_is_never_polled_again(env: Env) {
    let spawner = StalledSpawner::default();
    let stalled = Runtime::new(spawner.clone(), SameClock(env.rt().clone()));
    let manager = TaskManager::new(&stalled);
    let handle = manager
        .spawn("unpolled", async { Ok::<_, String>(()) })
        .unwrap();
    let start = env.rt().now();
    let timeout = Duration::from_millis(200);
    let report = within(&env, "shutdown", manager.shutdown(timeout)).await;
    assert_took(&env, env.rt().now() - start, timeout);
    assert_eq!(report.timed_out, ["unpolled"]);
    assert_eq!(report.abandoned, ["unpolled"]);
    assert!(!report.is_clean());
    assert_eq!(manager.state("unpolled"), Some(TaskState::Running));
    assert!(!handle.is_finished());
    // The executor drops what it held (it shuts down): the task is cancelled, not lost.
    spawner.held.lock().unwrap().clear();
    assert_eq!(manager.state("unpolled"), Some(TaskState::Cancelled));
    assert_eq!(
        within(&env, "the handle", handle).await,
        Err(ManagedTaskError::Cancelled)
    );
}

/// A task's panic in `Drop` — after it finished, or when it is cancelled by name — is its outcome:
/// the handle resolves with it and the registry lists it, through `TaskManager` and
/// `AsyncManager` alike.
pub async fn managed_task_handles_report_panics_in_drop(env: Env) {
    let rt = env.rt().clone();
    let manager = AsyncManager::new(&rt);
    let finished = manager
        .spawn_task(
            "finished",
            panics_on_drop("dropped after finishing", async { Ok::<_, String>(()) }),
        )
        .unwrap();
    let cancelled = manager
        .tasks()
        .spawn("cancelled", deaf(PanicOnDrop("dropped when cancelled")))
        .unwrap();
    let outcome = within(&env, "the finished task's handle", finished).await;
    assert_eq!(
        outcome,
        Err(ManagedTaskError::Panicked {
            message: "dropped after finishing".into()
        })
    );
    assert_eq!(
        manager.tasks().state("finished"),
        Some(TaskState::Failed {
            error: "panicked: dropped after finishing".into()
        })
    );
    assert!(manager.tasks().cancel("cancelled"));
    let outcome = within(&env, "the cancelled task's handle", cancelled).await;
    assert!(outcome.as_ref().unwrap_err().is_panic(), "{outcome:?}");
    assert_eq!(
        manager.tasks().state("cancelled"),
        Some(TaskState::Failed {
            error: "panicked when cancelled: dropped when cancelled".into()
        })
    );
    let report = within(&env, "shutdown", manager.shutdown(Duration::from_secs(1))).await;
    assert!(report.is_clean(), "{report}");
}

/// A managed task's runtime shuts down (drops its tasks) and the task's `Drop` panics: the panic
/// stays inside the manager — it does not unwind out of the runtime's shutdown — and becomes the
/// task's outcome, in the registry and through its handle.
pub async fn task_dropped_with_its_runtime_while_panicking_in_drop_is_recorded(env: Env) {
    let doomed = VirtualRuntime::new();
    let manager = TaskManager::new(&doomed.handle());
    let handle = manager
        .spawn("doomed", deaf(PanicOnDrop("dropped with its runtime")))
        .unwrap();
    doomed.block_on(async {
        for _ in 0..10 {
            uno_core::task::yield_now().await; // the task starts on the doomed runtime
        }
    });
    assert_eq!(manager.state("doomed"), Some(TaskState::Running));
    drop(doomed); // shuts down with the task still running
    assert_eq!(
        manager.state("doomed"),
        Some(TaskState::Failed {
            error: "panicked when cancelled: dropped with its runtime".into()
        })
    );
    assert_eq!(
        within(&env, "the handle", handle).await,
        Err(ManagedTaskError::Panicked {
            message: "dropped with its runtime".into()
        })
    );
}

/// A resource whose close misbehaves in one way.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Close {
    Ok,
    /// Never finishes.
    Hangs,
    /// `close` itself panics, before returning a future.
    PanicsWhenCalled,
    /// The future panics when polled.
    PanicsInPoll,
    /// The future finishes `Ok`, and panics when dropped.
    PanicsInDropAfterFinishing,
    /// The future never finishes, and panics when the time limit drops it.
    HangsThenPanicsInDrop,
    /// The future never finishes, and blocks its thread briefly when dropped.
    HangsThenBlocksInDrop,
}

struct Misbehaving {
    name: &'static str,
    close: Close,
    log: Log,
}

impl AsyncClose for Misbehaving {
    fn close(&self) -> CloseFuture<'_> {
        self.log
            .lock()
            .unwrap()
            .push(format!("close {}", self.name));
        let name = self.name;
        match self.close {
            Close::Ok => Box::pin(async { Ok(()) }),
            Close::Hangs => Box::pin(pending()),
            Close::PanicsWhenCalled => panic!("{name}: close called"),
            Close::PanicsInPoll => Box::pin(async move {
                if !name.is_empty() {
                    panic!("{name}: close polled");
                }
                Ok::<(), BoxError>(())
            }),
            Close::PanicsInDropAfterFinishing => Box::pin(panics_on_drop(
                "close future dropped after finishing",
                async { Ok(()) },
            )),
            Close::HangsThenPanicsInDrop => Box::pin(panics_on_drop(
                "close future dropped at its time limit",
                pending(),
            )),
            Close::HangsThenBlocksInDrop => Box::pin(async move {
                let _slow = BlockOnDrop;
                pending().await
            }),
        }
    }
}

/// Every kind of misbehaving resource, in registration order.
const CLOSES: [(&str, Close); 7] = [
    ("ok", Close::Ok),
    ("hangs", Close::Hangs),
    ("panics-when-called", Close::PanicsWhenCalled),
    ("panics-in-poll", Close::PanicsInPoll),
    ("panics-in-drop", Close::PanicsInDropAfterFinishing),
    ("hangs-then-panics-in-drop", Close::HangsThenPanicsInDrop),
    ("hangs-then-blocks-in-drop", Close::HangsThenBlocksInDrop),
];

/// How many of [`CLOSES`] run into the close time limit.
const CLOSES_TIMING_OUT: u32 = 3;

/// Checks the failures of closing [`CLOSES`] (LIFO), each with its own error.
fn assert_close_failures(failed: &[(String, &CloseError)]) {
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "hangs-then-blocks-in-drop",
            "hangs-then-panics-in-drop",
            "panics-in-drop",
            "panics-in-poll",
            "panics-when-called",
            "hangs",
        ]
    );
    let panicked = |i: usize, expected: &str| match failed[i].1 {
        CloseError::Panicked { message } => assert_eq!(message, expected),
        other => panic!("{}: expected a panic, got {other}", failed[i].0),
    };
    assert!(failed[0].1.is_timeout(), "{}", failed[0].1);
    panicked(1, "close future dropped at its time limit");
    panicked(2, "close future dropped after finishing");
    panicked(3, "panics-in-poll: close polled");
    panicked(4, "panics-when-called: close called");
    assert!(failed[5].1.is_timeout(), "{}", failed[5].1);
}

/// `AsyncManager::shutdown` with tasks that never stop (one panics in `Drop`, one blocks in it) and
/// resources whose closes hang or panic in every way: it returns within its bound — the timeout
/// plus one close timeout per close that hangs — and reports every one of them.
pub async fn async_manager_shutdown_is_bounded_with_misbehaving_tasks_and_resources(env: Env) {
    let rt = env.rt().clone();
    let log = Log::default();
    let close_timeout = Duration::from_millis(100);
    let manager = AsyncManager::builder(&rt)
        .close_timeout(close_timeout)
        .build()
        .unwrap();
    for (name, close) in CLOSES {
        manager
            .register_resource(
                name,
                Misbehaving {
                    name,
                    close,
                    log: log.clone(),
                },
            )
            .unwrap();
    }
    manager
        .spawn_task("drop-panics", deaf(PanicOnDrop("task dropped at shutdown")))
        .unwrap();
    manager
        .spawn_task("drop-blocks", deaf(BlockOnDrop))
        .unwrap();
    let start = rt.now();
    let timeout = Duration::from_millis(500);
    let report = within(&env, "shutdown", manager.shutdown(timeout)).await;
    let elapsed = rt.now() - start;
    let graceful = timeout - timeout / 10;
    assert_took(&env, elapsed, graceful + close_timeout * CLOSES_TIMING_OUT);

    let mut timed_out = report.tasks.timed_out.clone();
    timed_out.sort();
    assert_eq!(timed_out, ["drop-blocks", "drop-panics"]);
    assert!(report.tasks.abandoned.is_empty(), "{report}");
    assert_eq!(
        panics_of(&report.tasks),
        [(
            "drop-panics".to_string(),
            "task dropped at shutdown".to_string()
        )]
    );
    assert_eq!(report.closed, ["ok"]);
    let failed: Vec<(String, &CloseError)> = report
        .failed
        .iter()
        .map(|f| (f.name.clone(), &f.error))
        .collect();
    assert_close_failures(&failed);
    let closes: Vec<String> = CLOSES
        .iter()
        .rev()
        .map(|(name, _)| format!("close {name}"))
        .collect();
    assert_eq!(log_of(&log), closes, "every resource was attempted, LIFO");
    assert!(!report.is_clean());
    let text = report.to_string();
    assert!(text.contains("task dropped at shutdown"), "{text}");
}

/// `AsyncContextGroup::close` attempts every resource, LIFO, whatever their closes do, and returns
/// each failure: within one close timeout per close that hangs.
pub async fn context_group_close_survives_misbehaving_closes(env: Env) {
    let rt = env.rt().clone();
    let log = Log::default();
    let close_timeout = Duration::from_millis(100);
    let stack = AsyncContextGroup::builder(&rt)
        .close_timeout(close_timeout)
        .build()
        .unwrap();
    for (name, close) in CLOSES {
        stack.enter_named(
            name,
            Misbehaving {
                name,
                close,
                log: log.clone(),
            },
        );
    }
    let start = rt.now();
    let err = within(&env, "close", stack.close()).await.unwrap_err();
    assert_took(&env, rt.now() - start, close_timeout * CLOSES_TIMING_OUT);
    let failed: Vec<(String, &CloseError)> = err
        .errors
        .iter()
        .map(|f| (f.name.clone(), &f.error))
        .collect();
    assert_close_failures(&failed);
    assert_eq!(log_of(&log).len(), CLOSES.len());
    assert!(stack.is_empty());
}

/// A cleanup that panics — when called, in the `Drop` of its future after it finished, or in that
/// `Drop` when the deadline abandons it — is reported in the application's report, and the
/// shutdown still closes the resources.
pub async fn run_application_reports_a_cleanup_that_panics(env: Env) {
    let rt = env.rt().clone();
    #[derive(Clone, Copy, Debug)]
    enum Cleanup {
        PanicsWhenCalled,
        PanicsInDropAfterFinishing,
        HangsThenPanicsInDrop,
    }
    for cleanup in [
        Cleanup::PanicsWhenCalled,
        Cleanup::PanicsInDropAfterFinishing,
        Cleanup::HangsThenPanicsInDrop,
    ] {
        let log = Log::default();
        let log2 = log.clone();
        let deadline = Duration::from_millis(100);
        let start = rt.now();
        let report = within(
            &env,
            "run_application",
            run_application(
                &rt,
                move |manager: AsyncManager| async move {
                    let log = log2.clone();
                    manager
                        .register_resource(
                            "db",
                            on_close(move || {
                                log.lock().unwrap().push("close db".into());
                                async { Ok(()) }
                            }),
                        )
                        .unwrap();
                    manager.request_shutdown();
                    Ok::<_, String>(())
                },
                move |_manager: AsyncManager| {
                    if let Cleanup::PanicsWhenCalled = cleanup {
                        panic!("cleanup called");
                    }
                    panics_on_drop("cleanup dropped", async move {
                        if let Cleanup::HangsThenPanicsInDrop = cleanup {
                            pending::<()>().await;
                        }
                    })
                },
                pending::<()>(),
                deadline,
            ),
        )
        .await
        .unwrap();
        let expected = match cleanup {
            Cleanup::PanicsWhenCalled => "cleanup called",
            _ => "cleanup dropped",
        };
        match &report.cleanup {
            Err(CloseError::Panicked { message }) => assert_eq!(message, expected, "{cleanup:?}"),
            other => panic!("{cleanup:?}: expected a panic, got {other:?}"),
        }
        assert_eq!(report.shutdown.closed, ["db"], "{cleanup:?}");
        assert_eq!(log_of(&log), ["close db"], "{cleanup:?}");
        if let Cleanup::HangsThenPanicsInDrop = cleanup {
            assert_took(&env, rt.now() - start, deadline);
        }
    }
}

/// A startup that panics after registering resources: they are closed, then the panic goes on to
/// the caller (here, the task running the application, whose handle reports it).
pub async fn run_application_closes_what_a_panicking_startup_registered(env: Env) {
    let rt = env.rt().clone();
    let log = Log::default();
    let log2 = log.clone();
    let rt2 = rt.clone();
    let app = rt.spawn(async move {
        run_application(
            &rt2,
            move |manager: AsyncManager| async move {
                let log = log2.clone();
                manager
                    .register_resource(
                        "db",
                        on_close(move || {
                            log.lock().unwrap().push("close db".into());
                            async { Ok(()) }
                        }),
                    )
                    .unwrap();
                if manager.resources().len() == 1 {
                    panic!("startup bug");
                }
                Ok::<_, String>(())
            },
            |_manager: AsyncManager| async {},
            pending::<()>(),
            Duration::from_secs(1),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    let outcome = within(&env, "the application task", app).await;
    match outcome {
        Err(error) if error.is_panic() => assert_eq!(error.panic_message(), Some("startup bug")),
        other => panic!("expected the startup's panic, got {other:?}"),
    }
    assert_eq!(
        log_of(&log),
        ["close db"],
        "closed before the panic went on"
    );
}
