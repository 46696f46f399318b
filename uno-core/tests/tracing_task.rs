//! With the `tracing` feature: `Runtime::spawn` carries the caller's span into the task
//! (`spawn_without_span` does not), a group's children run in spans naming the group and the child,
//! and groups and managers report failures (WARN) and shutdowns (DEBUG) with their names.

#![cfg(feature = "tracing")]

mod common {
    pub(crate) mod capture;
    pub(crate) mod workload;
}

use std::time::Duration;

use tracing::Level;
use uno_core::task::{TaskGroup, TaskManager};

use common::capture::{Event, capture_on_virtual_runtime, find};
use common::workload::spawn_one_task_of_each_outcome;

/// The spans `event` was emitted in, innermost last, as `name{field=value,..}`.
fn spans(event: &Event) -> Vec<String> {
    event.spans.iter().map(ToString::to_string).collect()
}

#[test]
fn a_spawned_task_runs_in_the_callers_span_unless_spawned_without_it() {
    let seen = capture_on_virtual_runtime(|rt| async move {
        let (inherited, detached) = {
            let request = tracing::info_span!("request", id = 7);
            let _entered = request.enter();
            (
                rt.spawn(async { tracing::info!("in the spawned task") }),
                rt.spawn_without_span(async { tracing::info!("in the task without span") }),
            )
        }; // the caller leaves its span before the tasks run
        inherited.await.unwrap();
        detached.await.unwrap();
    });
    assert_eq!(spans(find(&seen, "in the spawned task")), ["request{id=7}"]);
    assert!(
        find(&seen, "in the task without span").spans.is_empty(),
        "{seen:#?}"
    );
}

#[test]
fn group_children_run_in_spans_naming_the_group_and_failures_are_warnings() {
    let seen = capture_on_virtual_runtime(|rt| async move {
        let group = TaskGroup::<(), &str>::builder(&rt)
            .name("imports")
            .supervisor()
            .build()
            .unwrap();
        group.spawn("prices", async {
            tracing::info!("in a child");
            Ok(())
        });
        group.spawn("rates", async { Err("no such file") });
        group.spawn("fx", async { panic!("bad row") });
        group.spawn("feed", std::future::pending());
        for _ in 0..3 {
            uno_core::task::yield_now().await;
        }
        group.shutdown().await;
    });
    let child = find(&seen, "in a child");
    assert_eq!(spans(child), ["uno_task{name=imports,task=prices}"]);

    let failed = find(&seen, "task group child failed");
    assert_eq!(failed.level, Level::WARN);
    assert_eq!(failed.target, "uno_core::task");
    assert_eq!(
        (failed.field("name"), failed.field("task")),
        ("imports", "rates")
    );

    let panicked = find(&seen, "task group child panicked");
    assert_eq!(panicked.level, Level::WARN);
    assert_eq!(panicked.field("task"), "fx");
    assert_eq!(panicked.field("panic"), "bad row");

    let shut = find(&seen, "task group shut down");
    assert_eq!(shut.level, Level::DEBUG);
    assert_eq!(shut.field("name"), "imports");
    assert!(
        !seen.iter().any(|e| e.message.contains("cancelling")),
        "a supervisor does not cancel siblings: {seen:#?}"
    );
}

#[test]
fn a_fail_fast_group_says_when_it_cancels_the_other_children() {
    let seen = capture_on_virtual_runtime(|rt| async move {
        let group = TaskGroup::<(), &str>::builder(&rt)
            .name("fetch")
            .build()
            .unwrap();
        group.spawn("slow", std::future::pending());
        group.spawn("broken", async { Err("refused") });
        group.join_all().await.unwrap_err();
    });
    let cancelling = find(
        &seen,
        "task group cancelling the other children after a failure",
    );
    assert_eq!(cancelling.level, Level::DEBUG);
    assert_eq!(
        (cancelling.field("name"), cancelling.field("task")),
        ("fetch", "broken")
    );
}

#[test]
fn a_task_manager_names_its_spans_and_reports_failures_and_shutdown() {
    let seen = capture_on_virtual_runtime(|rt| async move {
        let tasks = TaskManager::builder(&rt).name("jobs").build();
        spawn_one_task_of_each_outcome(&tasks);
        tasks.shutdown(Duration::from_secs(1)).await;
    });
    assert_eq!(
        spans(find(&seen, "in a managed task")),
        ["uno_task{name=jobs,task=heartbeat}"]
    );
    let failed = find(&seen, "task manager task failed");
    assert_eq!(failed.level, Level::WARN);
    assert_eq!(
        (
            failed.field("name"),
            failed.field("task"),
            failed.field("error")
        ),
        ("jobs", "import", "bad row 7")
    );
    let panicked = find(&seen, "task manager task panicked");
    assert_eq!(panicked.level, Level::WARN);
    assert_eq!(
        (panicked.field("task"), panicked.field("panic")),
        ("buggy", "index 3 of 2")
    );
    let starting = find(&seen, "task manager shutting down");
    assert_eq!(starting.level, Level::DEBUG);
    assert_eq!(starting.field("running"), "4");
    let late = find(&seen, "task manager tasks did not stop in time");
    assert_eq!(late.level, Level::WARN);
    assert_eq!(
        (late.field("timed_out"), late.field("abandoned")),
        ("1", "0")
    );
}
