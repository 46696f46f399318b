//! With the `metrics` feature, task groups and task managers report their children and tasks:
//! spawned, running, and ended by outcome, under the `name` label given to their builders. Handles
//! bind at construction, so the recorder is installed only while the components are built.

#![cfg(feature = "metrics")]

mod common {
    pub(crate) mod recorder;
}

use std::time::Duration;

use metrics_util::debugging::DebuggingRecorder;
use uno_core::rt::VirtualRuntime;
use uno_core::task::{TaskGroup, TaskManager, yield_now};

use common::recorder::{Recorded, build_recorded};

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
    seen.take();
    assert_eq!(seen.gauge(running), 0.0);
    assert_eq!(
        seen.counter("uno_task_group_children_spawned_total{name=imports}"),
        4
    );
    for outcome in ["ok", "error", "panicked", "cancelled"] {
        let completed =
            format!("uno_task_group_children_completed_total{{name=imports,outcome={outcome}}}");
        assert_eq!(seen.counter(&completed), 1, "{outcome}");
    }
    assert_eq!(seen.total().len(), 6, "{:#?}", seen.total());
}

#[test]
fn a_task_manager_counts_its_tasks_by_outcome() {
    let (vrt, mut seen, tasks) = build_recorded(|rt| TaskManager::builder(rt).name("jobs").build());
    let running = "uno_task_manager_tasks_running{name=jobs}";
    vrt.block_on(async {
        tasks
            .spawn("warmup", async { Ok::<_, String>(()) })
            .unwrap();
        tasks
            .spawn("import", async { Err("bad row".to_string()) })
            .unwrap();
        tasks
            .spawn("buggy", async {
                panic!("index 3 of 2") as Result<(), String>
            })
            .unwrap();
        tasks
            .spawn("stuck", std::future::pending::<Result<(), String>>())
            .unwrap();
        assert_eq!(seen.take().gauge(running), 4.0);
        let report = tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(report.timed_out, ["stuck"]);
    });
    seen.take();
    assert_eq!(seen.gauge(running), 0.0);
    assert_eq!(
        seen.counter("uno_task_manager_tasks_spawned_total{name=jobs}"),
        4
    );
    for outcome in ["ok", "error", "panicked", "cancelled"] {
        let finished =
            format!("uno_task_manager_tasks_finished_total{{name=jobs,outcome={outcome}}}");
        assert_eq!(seen.counter(&finished), 1, "{outcome}");
    }
    assert_eq!(seen.total().len(), 6, "{:#?}", seen.total());
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
