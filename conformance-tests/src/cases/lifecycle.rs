//! Cases: the lifecycle — [`AsyncManager`] (tasks stopped before resources are closed in reverse
//! order, failures and time-outs reported), [`AsyncContextGroup`] (LIFO close on every exit path)
//! and [`run_application`].
//!
//! [`AsyncManager`]: uno_core::lifecycle::AsyncManager
//! [`AsyncContextGroup`]: uno_core::lifecycle::AsyncContextGroup
//! [`run_application`]: uno_core::lifecycle::run_application

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_lifecycle {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; lifecycle:
            manager_stops_tasks_then_closes_resources_in_reverse_order,
            manager_reports_failed_panicked_and_timed_out_closes,
            manager_cancels_tasks_past_the_deadline,
            manager_refuses_duplicates_and_late_registrations,
            zero_close_timeout_is_a_typed_error,
            context_group_closes_lifo_even_when_one_fails,
            context_group_dropped_closes_in_background,
            scoped_context_group_closes_lifo_before_returning,
            scoped_context_group_closes_before_an_error_left_by_question_mark_returns,
            scoped_context_group_closes_before_reraising_a_panic,
            global_manager_runs_work_on_the_runtime_it_was_given,
            run_application_programmatic_shutdown,
            run_application_signal_future_triggers_shutdown,
            run_application_startup_failure_shuts_down_what_started,
            lifecycle_types_are_send_sync,
        }
    };
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::lifecycle::{
    ApplicationError, AsyncClose, AsyncContextGroup, AsyncManager, BoxError, CloseError,
    CloseFuture, ConfigError, ContextGroupError, ContextScope, LifecycleError, ShutdownReason,
    ShutdownReport, context_group, get_async_manager, on_close, run_application,
};
use uno_core::rt::VirtualRuntime;
use uno_core::sync::AsyncEvent;
use uno_core::task::yield_now;

use crate::cases::manager::assert_cancelled_in_time;
use crate::support::{assert_duration, eventually, within};
use crate::{Env, assert_send_sync};

type Log = Arc<Mutex<Vec<String>>>;

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// A resource that logs its close and then succeeds, fails, hangs or panics.
#[derive(Debug)]
struct Probe {
    name: &'static str,
    log: Log,
    behaviour: Behaviour,
}

#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Ok,
    Fail,
    Hang,
    Panic,
}

impl AsyncClose for Probe {
    fn close(&self) -> CloseFuture<'_> {
        Box::pin(async move {
            self.log
                .lock()
                .unwrap()
                .push(format!("close {}", self.name));
            match self.behaviour {
                Behaviour::Ok => Ok(()),
                Behaviour::Fail => Err::<(), BoxError>(format!("{} failed", self.name).into()),
                Behaviour::Hang => std::future::pending().await,
                Behaviour::Panic => panic!("{} panicked", self.name),
            }
        })
    }
}

fn probe(name: &'static str, log: &Log, behaviour: Behaviour) -> Probe {
    Probe {
        name,
        log: log.clone(),
        behaviour,
    }
}

/// Shutdown stops the background tasks first, then closes the resources in reverse registration
/// order.
pub async fn manager_stops_tasks_then_closes_resources_in_reverse_order(env: Env) {
    let rt = env.rt().clone();
    let log: Log = Log::default();
    let manager = AsyncManager::new(&rt);
    for name in ["db", "cache", "http"] {
        manager
            .register_resource(name, probe(name, &log, Behaviour::Ok))
            .unwrap();
    }
    for name in ["poller", "flusher"] {
        let (token, log, rt) = (manager.shutdown_token(), log.clone(), rt.clone());
        manager
            .spawn_task(name, async move {
                token.cancelled().await;
                rt.sleep(Duration::from_millis(10)).await; // some graceful work
                log.lock().unwrap().push(format!("stop {name}"));
                Ok::<_, String>(())
            })
            .unwrap();
    }
    assert!(!manager.is_shutting_down());
    assert_eq!(manager.resources(), ["db", "cache", "http"]);
    let report = within(&env, "shutdown", manager.shutdown(Duration::from_secs(5))).await;
    assert!(manager.is_shutting_down());
    assert!(report.is_clean(), "{report}");
    let mut stopped = report.tasks.stopped.clone();
    stopped.sort();
    assert_eq!(stopped, ["flusher", "poller"]);
    assert_eq!(report.closed, ["http", "cache", "db"]);
    let log = log_of(&log);
    assert_eq!(&log[2..], ["close http", "close cache", "close db"]);
    assert!(log[..2].iter().all(|l| l.starts_with("stop ")), "{log:?}");
}

/// Every resource is closed even when some fail: a failing close, a panicking one and one that
/// hangs past its time limit are each reported with their error.
pub async fn manager_reports_failed_panicked_and_timed_out_closes(env: Env) {
    let rt = env.rt().clone();
    let log: Log = Log::default();
    let manager = AsyncManager::builder(&rt)
        .name("closes")
        .close_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    manager
        .register_resource("first", probe("first", &log, Behaviour::Ok))
        .unwrap();
    manager
        .register_resource("hangs", probe("hangs", &log, Behaviour::Hang))
        .unwrap();
    manager
        .register_resource("panics", probe("panics", &log, Behaviour::Panic))
        .unwrap();
    manager
        .register_resource("fails", probe("fails", &log, Behaviour::Fail))
        .unwrap();
    let start = rt.now();
    let report: ShutdownReport =
        within(&env, "shutdown", manager.shutdown(Duration::from_secs(1))).await;
    let elapsed = rt.now() - start;
    assert_eq!(
        log_of(&log),
        ["close fails", "close panics", "close hangs", "close first"]
    );
    assert_eq!(report.closed, ["first"]);
    let failed: Vec<&str> = report.failed.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(failed, ["fails", "panics", "hangs"]);
    assert!(
        matches!(&report.failed[0].error, CloseError::Failed(e) if e.to_string() == "fails failed")
    );
    assert!(
        matches!(&report.failed[1].error, CloseError::Panicked { message } if message == "panics panicked")
    );
    assert!(report.failed[2].error.is_timeout());
    assert!(!report.is_clean());
    let text = report.to_string();
    assert!(
        text.contains(r#"async manager "closes" shut down with problems"#),
        "{text}"
    );
    assert!(
        text.contains(r#"could not close resource "hangs": close: timed out"#),
        "{text}"
    );
    assert_duration(
        &env,
        elapsed,
        Duration::from_millis(50),
        Duration::from_millis(50)..,
        "the shutdown (the hanging close's timeout)",
    );
}

/// A task that ignores the shutdown token is cancelled at the deadline and reported; the
/// resources are still closed afterwards.
pub async fn manager_cancels_tasks_past_the_deadline(env: Env) {
    let rt = env.rt().clone();
    let log: Log = Log::default();
    let manager = AsyncManager::new(&rt);
    manager
        .register_resource("db", probe("db", &log, Behaviour::Ok))
        .unwrap();
    let log2 = log.clone();
    manager
        .spawn_task("deaf", async move {
            struct OnDrop(Log);
            impl Drop for OnDrop {
                fn drop(&mut self) {
                    self.0.lock().unwrap().push("drop deaf".into());
                }
            }
            let _on_drop = OnDrop(log2);
            std::future::pending::<()>().await;
            Ok::<_, String>(())
        })
        .unwrap();
    let start = rt.now();
    let timeout = Duration::from_millis(200);
    let report = within(&env, "shutdown", manager.shutdown(timeout)).await;
    let elapsed = rt.now() - start;
    assert_eq!(report.tasks.timed_out, ["deaf"]);
    assert_eq!(report.closed, ["db"]);
    assert_eq!(log_of(&log), ["drop deaf", "close db"]);
    assert_cancelled_in_time(&env, elapsed, timeout);
    assert_duration(
        &env,
        report.elapsed,
        elapsed,
        ..,
        "the report's elapsed time",
    );
}

/// Duplicate names and registrations after shutdown are typed errors naming the manager.
pub async fn manager_refuses_duplicates_and_late_registrations(env: Env) {
    let log: Log = Log::default();
    let manager = AsyncManager::builder(env.rt()).name("app").build().unwrap();
    let duplicate = |name: &str| LifecycleError::DuplicateName {
        manager: "app".into(),
        name: name.into(),
    };
    let shutting_down = LifecycleError::ShuttingDown {
        manager: "app".into(),
    };
    manager
        .register_resource("db", probe("db", &log, Behaviour::Ok))
        .unwrap();
    assert_eq!(
        manager
            .register_resource("db", probe("db", &log, Behaviour::Ok))
            .unwrap_err(),
        duplicate("db")
    );
    let token = manager.shutdown_token();
    manager
        .spawn_task("t", async move {
            token.cancelled().await;
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(
        manager
            .spawn_task("t", async { Ok::<_, String>(()) })
            .unwrap_err(),
        duplicate("t")
    );
    assert_eq!(
        duplicate("t").to_string(),
        r#"async manager "app" already has a resource or task named "t""#
    );
    within(&env, "shutdown", manager.shutdown(Duration::from_secs(1))).await;
    assert_eq!(
        manager
            .register_resource("late", probe("late", &log, Behaviour::Ok))
            .unwrap_err(),
        shutting_down
    );
    assert_eq!(
        manager
            .spawn_task("late", async { Ok::<_, String>(()) })
            .unwrap_err(),
        shutting_down
    );
    let again = manager.shutdown(Duration::from_secs(1)).await;
    assert!(again.closed.is_empty() && again.tasks.stopped.is_empty());
}

/// A zero or unbounded close timeout, or an empty name, is refused with a typed error.
pub async fn zero_close_timeout_is_a_typed_error(env: Env) {
    let manager = |d| {
        AsyncManager::builder(env.rt())
            .close_timeout(d)
            .build()
            .unwrap_err()
    };
    let err = manager(Duration::ZERO);
    assert_eq!(err, ConfigError::ZeroCloseTimeout);
    assert_eq!(err.to_string(), "close timeout must be greater than zero");
    assert_eq!(manager(Duration::MAX), ConfigError::UnboundedCloseTimeout);
    assert_eq!(
        AsyncManager::builder(env.rt())
            .name("")
            .build()
            .unwrap_err(),
        ConfigError::EmptyName
    );
    let group = |d| {
        AsyncContextGroup::builder(env.rt())
            .close_timeout(d)
            .build()
            .unwrap_err()
    };
    assert_eq!(group(Duration::ZERO), ConfigError::ZeroCloseTimeout);
    assert_eq!(group(Duration::MAX), ConfigError::UnboundedCloseTimeout);
}

/// The exit stack closes in LIFO order, every entry even when one fails, and collects the errors.
pub async fn context_group_closes_lifo_even_when_one_fails(env: Env) {
    let log: Log = Log::default();
    let stack = AsyncContextGroup::builder(env.rt())
        .name("stack")
        .build()
        .unwrap();
    let first = stack.enter_named("a", probe("a", &log, Behaviour::Ok));
    stack.enter_named("b", probe("b", &log, Behaviour::Fail));
    stack.enter(probe("c", &log, Behaviour::Ok));
    assert_eq!(first.name, "a", "enter gives the resource back");
    assert_eq!(stack.len(), 3);
    let err = within(&env, "close", stack.close()).await.unwrap_err();
    assert_eq!(log_of(&log), ["close c", "close b", "close a"]);
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].name, "b");
    assert_eq!(
        err.to_string(),
        r#"1 resource of context group "stack" did not close"#
    );
    assert_eq!(
        chain(&err),
        [
            r#"1 resource of context group "stack" did not close"#,
            r#"could not close resource "b""#,
            "b failed",
        ]
    );
    assert!(stack.is_empty());
    // Usable again, and an empty close succeeds.
    within(&env, "empty close", stack.close()).await.unwrap();
}

/// Dropping the exit stack without `close` (an early return, a cancelled owner) still closes
/// everything, LIFO, in the background.
pub async fn context_group_dropped_closes_in_background(env: Env) {
    let log: Log = Log::default();
    let entered = AsyncEvent::new();
    let owner = {
        let (rt, log, entered) = (env.rt().clone(), log.clone(), entered.clone());
        env.rt().spawn(async move {
            let stack = AsyncContextGroup::new(&rt);
            stack.enter_named("outer", probe("outer", &log, Behaviour::Ok));
            stack.enter_named("inner", probe("inner", &log, Behaviour::Fail));
            entered.set();
            std::future::pending::<()>().await;
            drop(stack);
        })
    };
    within(&env, "the owner to enter", entered.wait()).await;
    owner.cancel_and_wait().await.unwrap_err();
    eventually(&env, "both closed", || log_of(&log).len() == 2).await;
    assert_eq!(log_of(&log), ["close inner", "close outer"]);
}

/// The scoped form closes everything the body entered, last in first out, before it returns the
/// body's value; a close that fails turns the result into an error naming it.
pub async fn scoped_context_group_closes_lifo_before_returning(env: Env) {
    let log: Log = Log::default();
    let body_log = log.clone();
    let value = within(
        &env,
        "context_group",
        context_group(env.rt(), |scope| async move {
            for name in ["a", "b", "c"] {
                yield_now().await; // resources entered across await points
                scope.enter_named(name, probe(name, &body_log, Behaviour::Ok));
            }
            body_log.lock().unwrap().push("body done".into());
            Ok::<_, String>(7)
        }),
    )
    .await
    .unwrap();
    assert_eq!(value, 7);
    assert_eq!(log_of(&log), ["body done", "close c", "close b", "close a"]);

    let body_log = log.clone();
    let err = within(
        &env,
        "context_group",
        context_group(env.rt(), |scope| async move {
            scope.enter_named("kept", probe("kept", &body_log, Behaviour::Ok));
            scope.enter_named("broken", probe("broken", &body_log, Behaviour::Fail));
            Ok::<_, String>(8)
        }),
    )
    .await
    .unwrap_err();
    let close = err.close_error().expect("the close failed");
    assert_eq!(close.errors.len(), 1);
    assert_eq!(close.errors[0].name, "broken");
    assert!(err.body_error().is_none());
    assert_eq!(
        chain(err.close_error().unwrap()),
        [
            r#"1 resource of context group "context_group" did not close"#,
            r#"could not close resource "broken""#,
            "broken failed",
        ]
    );
    assert_eq!(&log_of(&log)[4..], ["close broken", "close kept"]);
}

/// The messages of `error` and its sources, checking that none repeats the next (std's rule:
/// Display or source, never both).
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        let message = e.to_string();
        let last = messages.last().unwrap();
        assert!(!last.contains(&message), "{last:?} repeats {message:?}");
        messages.push(message);
        next = e.source();
    }
    messages
}

fn parse_count(text: &str) -> Result<u32, String> {
    text.parse().map_err(|_| format!("`{text}` is not a count"))
}

/// A body left by `?`: by the time the caller sees the error, every resource has been closed
/// (LIFO), and the close errors come with the body's error. (An `AsyncContextGroup` dropped by the
/// `?` closes in a detached task, after the caller has moved on.)
pub async fn scoped_context_group_closes_before_an_error_left_by_question_mark_returns(env: Env) {
    let log: Log = Log::default();
    let body_log = log.clone();
    let rt = env.rt().clone();
    let result: Result<u32, ContextGroupError<String>> = within(
        &env,
        "context_group",
        context_group(env.rt(), |scope: ContextScope| async move {
            scope.enter_named("connection", probe("connection", &body_log, Behaviour::Ok));
            rt.sleep(Duration::from_millis(1)).await;
            scope.enter_named(
                "transaction",
                probe("transaction", &body_log, Behaviour::Fail),
            );
            let count = parse_count("many")?;
            body_log.lock().unwrap().push("unreachable".into());
            Ok(count)
        }),
    )
    .await;
    // Nothing else has run since the error came back: the closes were part of returning it.
    assert_eq!(log_of(&log), ["close transaction", "close connection"]);
    match result {
        Err(ContextGroupError::Body {
            error,
            close: Some(close),
        }) => {
            assert_eq!(error, "`many` is not a count");
            assert_eq!(close.errors[0].name, "transaction");
        }
        other => panic!("expected the body's error and the failed close, got {other:?}"),
    }
}

/// Pushes to the log when dropped: here, when a panic unwinds the task that owns it.
struct LogOnDrop(Log, &'static str);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1.into());
    }
}

/// A panicking body: every resource is closed, LIFO, and then the panic is re-raised to the
/// caller — whose own unwinding comes after the closes.
pub async fn scoped_context_group_closes_before_reraising_a_panic(env: Env) {
    let log: Log = Log::default();
    let (rt, task_log) = (env.rt().clone(), log.clone());
    let task = env.rt().spawn(async move {
        let _unwinding = LogOnDrop(task_log.clone(), "caller unwound");
        let body_log = task_log.clone();
        let result = context_group(&rt, |scope| async move {
            scope.enter_named("outer", probe("outer", &body_log, Behaviour::Ok));
            yield_now().await;
            scope.enter_named("inner", probe("inner", &body_log, Behaviour::Ok));
            if scope.len() == 2 {
                panic!("bug in the body");
            }
            Ok::<_, String>(())
        })
        .await;
        task_log
            .lock()
            .unwrap()
            .push(format!("returned {result:?}"));
    });
    match within(&env, "the task running the group", task).await {
        Err(error) if error.is_panic() => {
            assert_eq!(error.panic_message(), Some("bug in the body"))
        }
        other => panic!("expected the body's panic, got {other:?}"),
    }
    assert_eq!(
        log_of(&log),
        ["close inner", "close outer", "caller unwound"]
    );
}

/// A name no other case (on any backend in this process) uses in the process-wide manager.
fn unique_name(env: &Env, what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{what}-{n}", env.backend())
}

/// The process-wide manager used from a first runtime (as a previous test would), which then goes
/// away, and then from the backend's: each time the work runs on the runtime it was given, and
/// both views share one registry. Nothing is lost.
pub async fn global_manager_runs_work_on_the_runtime_it_was_given(env: Env) {
    let first = VirtualRuntime::new();
    let on_first = unique_name(&env, "on-first");
    let handle = first.handle();
    let name = on_first.clone();
    let outcome = first.block_on(async move {
        let manager = get_async_manager(&handle);
        let task = manager
            .spawn_task(name, async { Ok::<_, String>(()) })
            .unwrap();
        task.await
    });
    assert_eq!(outcome, Ok(()), "ran on the first runtime");
    drop(first); // that runtime is gone, as a finished test's is

    let manager = get_async_manager(env.rt());
    let here = unique_name(&env, "here");
    let rt = env.rt().clone();
    let task = manager
        .spawn_task(here.clone(), async move {
            rt.sleep(Duration::from_millis(5)).await; // this runtime's timer
            Ok::<_, String>(())
        })
        .unwrap();
    let outcome = within(&env, "the task spawned through the global manager", task).await;
    assert_eq!(outcome, Ok(()), "ran on this runtime");
    let listed: Vec<String> = manager.tasks().list().into_iter().map(|t| t.name).collect();
    assert!(
        listed.contains(&on_first) && listed.contains(&here),
        "{listed:?}"
    );
    assert!(!manager.is_shutting_down());
}

/// `run_application`: startup, then a programmatic shutdown through the manager's token, then
/// cleanup, then the manager's graceful shutdown.
pub async fn run_application_programmatic_shutdown(env: Env) {
    let rt = env.rt().clone();
    let log: Log = Log::default();
    let (log_start, log_clean) = (log.clone(), log.clone());
    let rt2 = rt.clone();
    let report = within(
        &env,
        "run_application",
        run_application(
            &rt,
            move |manager: AsyncManager| async move {
                manager.register_resource("db", probe("db", &log_start, Behaviour::Ok))?;
                let (token, trigger) = (manager.shutdown_token(), manager.clone());
                manager.spawn_task("worker", async move {
                    token.cancelled().await;
                    Ok::<_, String>(())
                })?;
                // Something asks the application to stop, a little later.
                manager.spawn_task("admin", async move {
                    rt2.sleep(Duration::from_millis(10)).await;
                    trigger.request_shutdown();
                    Ok::<_, String>(())
                })?;
                log_start.lock().unwrap().push("started".into());
                Ok::<_, LifecycleError>(())
            },
            move |manager: AsyncManager| async move {
                assert!(manager.is_shutting_down());
                log_clean.lock().unwrap().push("cleanup".into());
            },
            std::future::pending::<()>(),
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap();
    assert_eq!(report.reason, ShutdownReason::Requested);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.shutdown.closed, ["db"]);
    assert_eq!(log_of(&log), ["started", "cleanup", "close db"]);
    assert!(
        report
            .to_string()
            .starts_with("graceful shutdown on request")
    );
}

/// The shutdown-signal future (what adapters build from SIGINT/SIGTERM) ends the application.
pub async fn run_application_signal_future_triggers_shutdown(env: Env) {
    let rt = env.rt().clone();
    let signal = AsyncEvent::new();
    let (signal2, rt2) = (signal.clone(), rt.clone());
    let sender = rt.spawn(async move {
        rt2.sleep(Duration::from_millis(10)).await;
        signal2.set();
    });
    let wait = signal.clone();
    let report = within(
        &env,
        "run_application",
        run_application(
            &rt,
            |_manager| async { Ok::<_, String>(()) },
            |_manager| async {},
            async move { wait.wait().await },
            Duration::from_secs(1),
        ),
    )
    .await
    .unwrap();
    sender.await.unwrap();
    assert_eq!(report.reason, ShutdownReason::Signal);
    assert_eq!(
        report.signal, None,
        "a plain future does not say which signal"
    );
    assert!(report.cleanup.is_ok());
}

/// A failing startup shuts down what it had registered and returns its error with the report.
pub async fn run_application_startup_failure_shuts_down_what_started(env: Env) {
    let log: Log = Log::default();
    let log2 = log.clone();
    let result = within(
        &env,
        "run_application",
        run_application(
            env.rt(),
            move |manager: AsyncManager| async move {
                manager
                    .register_resource("db", probe("db", &log2, Behaviour::Ok))
                    .unwrap();
                Err("cannot bind port 80")
            },
            |_manager| async { panic!("cleanup must not run after a failed startup") },
            std::future::pending::<()>(),
            Duration::from_secs(1),
        ),
    )
    .await;
    match result {
        Err(ApplicationError::Startup { error, report }) => {
            assert_eq!(error, "cannot bind port 80");
            assert_eq!(report.closed, ["db"]);
        }
        other => panic!("expected a startup error, got {other:?}"),
    }
    assert_eq!(log_of(&log), ["close db"]);
}

/// The lifecycle's public types can cross threads.
pub async fn lifecycle_types_are_send_sync(env: Env) {
    assert_send_sync::<AsyncManager>();
    assert_send_sync::<AsyncContextGroup>();
    assert_send_sync::<ContextScope>();
    assert_send_sync::<ContextGroupError<String>>();
    assert_send_sync::<ShutdownReport>();
    assert_send_sync::<CloseError>();
    assert_send_sync::<LifecycleError>();
    assert_send_sync::<ConfigError>();
    assert_send_sync::<uno_core::lifecycle::AsyncManagerBuilder>();
    assert_send_sync::<uno_core::lifecycle::AsyncContextGroupBuilder>();
    assert_send_sync::<uno_core::lifecycle::ContextCloseError>();
    assert_send_sync::<uno_core::lifecycle::ApplicationReport>();
    let resource = on_close(|| async { Ok(()) });
    within(&env, "an on_close resource", resource.close())
        .await
        .unwrap();
}
