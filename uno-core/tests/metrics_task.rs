//! With the `metrics` feature, task groups and task managers report their children and tasks:
//! spawned, running, and ended by outcome, under the `name` label given to their builders. Handles
//! bind at construction, so the recorder is installed only while the components are built.

#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use uno_core::rt::VirtualRuntime;
use uno_core::task::{TaskGroup, TaskManager, yield_now};

/// Every metric in the snapshot, by name and labels (`name=..`, then the others, sorted).
fn metrics(snapshotter: &Snapshotter) -> BTreeMap<(String, Vec<String>), DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key().clone();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            ((key.name().to_owned(), labels), value)
        })
        .collect()
}

/// `later` added to `earlier`: a snapshot drains what it reads (counters and gauges start again
/// from zero), so the totals since construction are the sum of the snapshots.
fn add(
    earlier: &BTreeMap<(String, Vec<String>), DebugValue>,
    later: BTreeMap<(String, Vec<String>), DebugValue>,
) -> BTreeMap<(String, Vec<String>), DebugValue> {
    later
        .into_iter()
        .map(|(key, value)| {
            let value = match (earlier.get(&key), value) {
                (Some(DebugValue::Counter(a)), DebugValue::Counter(b)) => {
                    DebugValue::Counter(a + b)
                }
                (Some(DebugValue::Gauge(a)), DebugValue::Gauge(b)) => {
                    DebugValue::Gauge((a.into_inner() + b.into_inner()).into())
                }
                (_, value) => value,
            };
            (key, value)
        })
        .collect()
}

fn value<'a>(
    seen: &'a BTreeMap<(String, Vec<String>), DebugValue>,
    metric: &str,
    labels: &[&str],
) -> &'a DebugValue {
    let key = (
        metric.to_owned(),
        labels.iter().map(|l| (*l).to_owned()).collect(),
    );
    seen.get(&key)
        .unwrap_or_else(|| panic!("no {key:?} in {seen:#?}"))
}

#[test]
fn a_task_group_counts_its_children_by_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let group = metrics::with_local_recorder(&recorder, || {
        TaskGroup::<(), &str>::builder(&rt)
            .name("imports")
            .supervisor()
            .build()
            .unwrap()
    });
    let mid = vrt.block_on(async move {
        group.spawn("ok", async { Ok(()) });
        group.spawn("bad", async { Err("no such file") });
        group.spawn("boom", async { panic!("bug") });
        let stuck = group.spawn("stuck", std::future::pending());
        let mid = metrics(&snapshotter);
        yield_now().await; // the first three end
        stuck.cancel();
        let err = group.join_all().await.unwrap_err();
        assert_eq!(err.names(), ["bad", "boom"]);
        let end = add(&mid, metrics(&snapshotter));
        (mid, end)
    });
    let (mid, end) = mid;
    let running = "uno_task_group_children_running";
    assert_eq!(
        value(&mid, running, &["name=imports"]),
        &DebugValue::Gauge(4.0.into())
    );
    assert_eq!(
        value(&end, running, &["name=imports"]),
        &DebugValue::Gauge(0.0.into())
    );
    assert_eq!(
        value(
            &end,
            "uno_task_group_children_spawned_total",
            &["name=imports"]
        ),
        &DebugValue::Counter(4)
    );
    for outcome in ["ok", "error", "panicked", "cancelled"] {
        let outcome_label = format!("outcome={outcome}");
        let labels = ["name=imports", outcome_label.as_str()];
        assert_eq!(
            value(&end, "uno_task_group_children_completed_total", &labels),
            &DebugValue::Counter(1),
            "{outcome}"
        );
    }
    assert_eq!(end.len(), 6, "{end:#?}");
}

#[test]
fn a_task_manager_counts_its_tasks_by_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let tasks =
        metrics::with_local_recorder(&recorder, || TaskManager::builder(&rt).name("jobs").build());
    let (mid, end) = vrt.block_on(async move {
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
        let mid = metrics(&snapshotter);
        let report = tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(report.timed_out, ["stuck"]);
        let end = add(&mid, metrics(&snapshotter));
        (mid, end)
    });
    let running = "uno_task_manager_tasks_running";
    assert_eq!(
        value(&mid, running, &["name=jobs"]),
        &DebugValue::Gauge(4.0.into())
    );
    assert_eq!(
        value(&end, running, &["name=jobs"]),
        &DebugValue::Gauge(0.0.into())
    );
    assert_eq!(
        value(&end, "uno_task_manager_tasks_spawned_total", &["name=jobs"]),
        &DebugValue::Counter(4)
    );
    for outcome in ["ok", "error", "panicked", "cancelled"] {
        let outcome_label = format!("outcome={outcome}");
        let labels = ["name=jobs", outcome_label.as_str()];
        assert_eq!(
            value(&end, "uno_task_manager_tasks_finished_total", &labels),
            &DebugValue::Counter(1),
            "{outcome}"
        );
    }
    assert_eq!(end.len(), 6, "{end:#?}");
}

#[test]
fn components_built_without_a_recorder_report_nothing_to_one_installed_later() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let group = TaskGroup::<(), ()>::new(&rt); // built before the recorder: its handles are no-ops
    metrics::with_local_recorder(&recorder, || {
        vrt.block_on(async move {
            group.spawn("ok", async { Ok(()) });
            group.join_all().await.unwrap();
        })
    });
    assert!(metrics(&snapshotter).is_empty());
}
