//! With the `metrics` feature, task groups and task managers report their children and tasks:
//! spawned, running, and ended by outcome, under the `name` label given to their builders. Handles
//! bind at construction, so the recorder is installed only while the components are built.

#![cfg(feature = "metrics")]

mod common {
    pub(crate) mod recorder;
    pub(crate) mod workload;
}

use std::time::Duration;

use metrics_util::debugging::DebuggingRecorder;
use uno_core::rt::VirtualRuntime;
use uno_core::task::{TaskGroup, TaskManager, yield_now};

use common::recorder::{Recorded, build_recorded};
use common::workload::spawn_one_task_of_each_outcome;

/// After one child or task of each outcome (ok, error, panicked, cancelled) of the component
/// `name`, whose metrics are `{prefix}_running`, `{prefix}_spawned_total` and
/// `{prefix}_{ended}_total`: none running, four spawned, one ended by each outcome, nothing else.
fn assert_one_of_each_outcome(seen: &mut Recorded, prefix: &str, ended: &str, name: &str) {
    seen.take();
    assert_eq!(seen.gauge(&format!("{prefix}_running{{name={name}}}")), 0.0);
    assert_eq!(
        seen.counter(&format!("{prefix}_spawned_total{{name={name}}}")),
        4
    );
    for outcome in ["ok", "error", "panicked", "cancelled"] {
        let ended = format!("{prefix}_{ended}_total{{name={name},outcome={outcome}}}");
        assert_eq!(seen.counter(&ended), 1, "{outcome}");
    }
    assert_eq!(seen.total().len(), 6, "{:#?}", seen.total());
}

#[test]
fn a_task_group_counts_its_children_by_outcome() {
    let (vrt, mut seen, group) = build_recorded(|rt| {
        TaskGroup::<(), &str>::builder(rt)
            .name("imports")
            .supervisor()
            .build()
            .unwrap()
    });
    let running = "uno_task_group_children_running{name=imports}";
    vrt.block_on(async {
        group.spawn("ok", async { Ok(()) });
        group.spawn("bad", async { Err("no such file") });
        group.spawn("boom", async { panic!("bug") });
        let stuck = group.spawn("stuck", std::future::pending());
        assert_eq!(seen.take().gauge(running), 4.0);
        yield_now().await; // the first three end
        stuck.cancel();
        let err = group.join_all().await.unwrap_err();
        assert_eq!(err.names(), ["bad", "boom"]);
    });
    assert_one_of_each_outcome(&mut seen, "uno_task_group_children", "completed", "imports");
}

#[test]
fn a_task_manager_counts_its_tasks_by_outcome() {
    let (vrt, mut seen, tasks) = build_recorded(|rt| TaskManager::builder(rt).name("jobs").build());
    let running = "uno_task_manager_tasks_running{name=jobs}";
    vrt.block_on(async {
        spawn_one_task_of_each_outcome(&tasks);
        assert_eq!(seen.take().gauge(running), 4.0);
        let report = tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(report.timed_out, ["stuck"]);
    });
    assert_one_of_each_outcome(&mut seen, "uno_task_manager_tasks", "finished", "jobs");
}

#[test]
fn components_built_without_a_recorder_report_nothing_to_one_installed_later() {
    let recorder = DebuggingRecorder::new();
    let mut seen = Recorded::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let group = TaskGroup::<(), ()>::new(&rt); // built before the recorder: its handles are no-ops
    metrics::with_local_recorder(&recorder, || {
        vrt.block_on(async move {
            group.spawn("ok", async { Ok(()) });
            group.join_all().await.unwrap();
        })
    });
    assert!(seen.take().total().is_empty());
}
