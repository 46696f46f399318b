//! With the `tracing` feature, the lifecycle's shutdown steps are events with the target
//! `uno_core::lifecycle`: their messages, levels and fields, as the "Tracing" table of the
//! lifecycle docs lists them. On virtual time, so every duration is exact.
//! Run with `cargo test -p uno-core --features tracing` (`cargo test --workspace` does).

#![cfg(feature = "tracing")]

mod common {
    pub(crate) mod capture;
    pub(crate) mod workload;
}

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use tracing::Level;
use uno_core::lifecycle::{
    AsyncContextGroup, AsyncManager, ShutdownSignal, Signal, SignalSource, on_close,
    run_application_with,
};
use uno_core::rt::VirtualRuntime;

use common::capture::{Event, capture, capture_on_virtual_runtime, of_target};
use common::workload::register_slow_failing_and_hung_resources;

/// One event as the lifecycle docs' table lists it: its level, message and other fields.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
}

/// The lifecycle's events among `events`.
fn lifecycle(events: Vec<Event>) -> Vec<Seen> {
    of_target(events, "uno_core::lifecycle")
        .into_iter()
        .map(|e| Seen {
            level: e.level,
            message: e.message,
            fields: e.fields,
        })
        .collect()
}

fn seen(level: Level, message: &str, fields: &[(&str, &str)]) -> Seen {
    Seen {
        level,
        message: message.to_owned(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn ms(n: u64) -> String {
    format!("{:?}", Duration::from_millis(n))
}

#[test]
fn a_shutdown_reports_each_step_with_its_duration() {
    let events = lifecycle(capture_on_virtual_runtime(|rt| async move {
        let manager = AsyncManager::builder(&rt)
            .name("app")
            .close_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        register_slow_failing_and_hung_resources(&manager, &rt);
        let (token, poller_rt) = (manager.shutdown_token(), rt.clone());
        manager
            .spawn_task("poller", async move {
                token.cancelled().await;
                poller_rt.sleep(Duration::from_millis(100)).await;
                Ok::<_, String>(())
            })
            .unwrap();
        manager
            .spawn_task("deaf", std::future::pending::<Result<(), String>>())
            .unwrap();
        manager.request_shutdown();
        manager.request_shutdown(); // already requested: no second event
        let report = manager.shutdown(Duration::from_secs(2)).await;
        assert_eq!(report.tasks.stopped, ["poller"]);
        assert_eq!(report.tasks.timed_out, ["deaf"]);
    }));
    // The tasks get 1.8 s before the stragglers are cancelled (a tenth is kept for cancelling);
    // then the closes, last registered first: 1 s (the limit), 0, 200 ms.
    let app = ("name", "app");
    assert_eq!(
        events,
        [
            seen(Level::INFO, "shutdown requested", &[app]),
            seen(
                Level::INFO,
                "shutdown started",
                &[app, ("tasks", "2"), ("resources", "3"), ("timeout", "2s")]
            ),
            seen(
                Level::DEBUG,
                "task stopped",
                &[app, ("task", "poller"), ("elapsed", &ms(100))]
            ),
            seen(
                Level::WARN,
                "task missed the shutdown deadline",
                &[
                    app,
                    ("task", "deaf"),
                    ("deadline", "2s"),
                    ("abandoned", "false")
                ]
            ),
            seen(
                Level::WARN,
                "resource close timed out",
                &[app, ("resource", "hung"), ("limit", "1s")]
            ),
            seen(
                Level::WARN,
                "resource close failed",
                &[
                    app,
                    ("resource", "cache"),
                    ("elapsed", &ms(0)),
                    ("error", "flush failed")
                ]
            ),
            seen(
                Level::DEBUG,
                "resource closed",
                &[app, ("resource", "db"), ("elapsed", &ms(200))]
            ),
            seen(
                Level::INFO,
                "shutdown finished",
                &[
                    app,
                    ("elapsed", &ms(1800 + 1000 + 200)),
                    ("tasks_stopped", "1"),
                    ("tasks_cancelled", "1"),
                    ("resources_closed", "1"),
                    ("resources_failed", "2"),
                    ("clean", "false"),
                ]
            ),
        ]
    );
}

#[test]
fn a_panicking_task_and_a_panicking_close_are_warnings() {
    let events = lifecycle(capture_on_virtual_runtime(|rt| async move {
        let manager = AsyncManager::new(&rt);
        manager
            .register_resource("pool", on_close(|| async { panic!("pool poisoned") }))
            .unwrap();
        let token = manager.shutdown_token();
        manager
            .spawn_task("worker", async move {
                token.cancelled().await;
                panic!("worker bug");
                #[allow(unreachable_code)]
                Ok::<_, String>(())
            })
            .unwrap();
        manager.shutdown(Duration::from_secs(1)).await;
    }));
    let name = ("name", "async_manager");
    let warnings: Vec<&Seen> = events.iter().filter(|e| e.level == Level::WARN).collect();
    assert_eq!(
        warnings,
        [
            &seen(
                Level::WARN,
                "task panicked",
                &[name, ("task", "worker"), ("panic", "worker bug")]
            ),
            &seen(
                Level::WARN,
                "resource close failed",
                &[
                    name,
                    ("resource", "pool"),
                    ("elapsed", &ms(0)),
                    ("error", "panicked: pool poisoned")
                ]
            ),
        ]
    );
}

/// A signal source that delivers SIGTERM at once.
struct TerminateNow;

impl SignalSource for TerminateNow {
    fn install(&self) -> io::Result<ShutdownSignal> {
        Ok(ShutdownSignal::new(async { Signal::Terminate }))
    }
}

#[test]
fn run_application_reports_the_signal_received() {
    let events = lifecycle(capture(|| {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let report = vrt
            .block_on(run_application_with(
                &rt,
                |_manager| async { Ok::<_, io::Error>(()) },
                |manager| async move {
                    manager.runtime().sleep(Duration::from_secs(60)).await; // overruns
                },
                TerminateNow,
                Duration::from_secs(1),
            ))
            .unwrap();
        assert_eq!(report.signal, Some(Signal::Terminate));
    }));
    let messages: Vec<(Level, &str)> = events
        .iter()
        .map(|e| (e.level, e.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (Level::INFO, "shutdown signal received"),
            (Level::INFO, "shutdown requested"),
            (Level::WARN, "application cleanup failed"),
            (Level::INFO, "shutdown started"),
            (Level::INFO, "shutdown finished"),
        ]
    );
    assert_eq!(
        events[0],
        seen(
            Level::INFO,
            "shutdown signal received",
            &[("name", "async_manager"), ("signal", "SIGTERM")]
        )
    );
    let error = &events[2].fields["error"];
    assert!(
        error.starts_with("application cleanup") && error.contains("timed out"),
        "{error}"
    );
}

#[test]
fn a_context_group_traces_its_closes_under_its_name() {
    let events = lifecycle(capture(|| {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let group = AsyncContextGroup::builder(&rt)
            .name("request")
            .build()
            .unwrap();
        group.enter_named("socket", on_close(|| async { Ok(()) }));
        vrt.block_on(group.close()).unwrap();
    }));
    assert_eq!(
        events,
        [seen(
            Level::DEBUG,
            "resource closed",
            &[
                ("name", "request"),
                ("resource", "socket"),
                ("elapsed", &ms(0))
            ]
        )]
    );
}
