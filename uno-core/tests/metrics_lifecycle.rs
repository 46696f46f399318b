//! With the `metrics` feature, managers and context groups report their resources, closes by
//! outcome, close durations and shutdown durations, under their names: exact values after a
//! known workload on virtual time. Run with `cargo test -p uno-core --features metrics`
//! (`cargo test --workspace` does).

#![cfg(feature = "metrics")]

mod common {
    pub(crate) mod recorder;
    pub(crate) mod workload;
}

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::DebugValue;
use uno_core::lifecycle::{AsyncContextGroup, AsyncManager, on_close};

use common::recorder::{build_recorded, metrics, seconds};
use common::workload::register_slow_failing_and_hung_resources;

#[test]
fn a_manager_reports_resources_closes_and_shutdown_under_its_name() {
    // The handles are registered when the manager is built: under the recorder.
    let (vrt, mut seen, manager) = build_recorded(|rt| {
        AsyncManager::builder(rt)
            .name("app")
            .close_timeout(Duration::from_secs(1))
            .build()
            .unwrap()
    });
    let rt = vrt.handle();
    register_slow_failing_and_hung_resources(&manager, &rt);
    let before = seen.take_changes();
    assert_eq!(
        before["uno_lifecycle_resources{name=app}"],
        DebugValue::Gauge(3.0.into())
    );

    vrt.block_on(manager.shutdown(Duration::from_secs(5)));
    let after = seen.take_changes();
    let expected = metrics([
        // From 3 to 0: every resource was taken for closing.
        (
            "uno_lifecycle_resources{name=app}",
            DebugValue::Gauge((-3.0).into()),
        ),
        (
            "uno_lifecycle_closes_total{name=app,outcome=ok}",
            DebugValue::Counter(1),
        ),
        (
            "uno_lifecycle_closes_total{name=app,outcome=error}",
            DebugValue::Counter(1),
        ),
        (
            "uno_lifecycle_closes_total{name=app,outcome=timeout}",
            DebugValue::Counter(1),
        ),
        (
            // Last registered first: the hung one at its limit, the failing one at once, the db.
            "uno_lifecycle_close_duration_seconds{name=app}",
            DebugValue::Histogram(vec![1.0.into(), 0.0.into(), 0.2.into()]),
        ),
        (
            // No tasks: the closes alone.
            "uno_lifecycle_shutdown_duration_seconds{name=app}",
            seconds(&[Duration::from_millis(1200)]),
        ),
    ]);
    // The manager's background tasks report as a task manager of the same name (none here).
    let after: BTreeMap<_, _> = after
        .into_iter()
        .filter(|(k, _)| k.starts_with("uno_lifecycle_"))
        .collect();
    assert_eq!(after, expected);
}

#[test]
fn context_groups_count_what_they_hold_and_close_including_on_drop() {
    let (vrt, mut seen, (closed, dropped)) = build_recorded(|rt| {
        let group = |name: &str| AsyncContextGroup::builder(rt).name(name).build().unwrap();
        (group("request"), group("dropped"))
    });
    closed.enter_named("socket", on_close(|| async { Ok(()) }));
    closed.enter_named("pool", on_close(|| async { panic!("pool poisoned") }));
    dropped.enter_named("file", on_close(|| async { Ok(()) }));
    let held = seen.take_changes();
    assert_eq!(
        held["uno_lifecycle_resources{name=request}"],
        DebugValue::Gauge(2.0.into())
    );
    assert_eq!(
        held["uno_lifecycle_resources{name=dropped}"],
        DebugValue::Gauge(1.0.into())
    );

    vrt.block_on(closed.close()).unwrap_err();
    drop(dropped); // closes in a detached task on the runtime
    vrt.block_on(uno_core::task::yield_now());
    let mut after = seen.take_changes();
    assert!(
        !after
            .keys()
            .any(|k| k.starts_with("uno_lifecycle_shutdown")),
        "a group has no shutdown"
    );
    for (name, ok, error) in [("request", 1u32, 1u32), ("dropped", 1, 0)] {
        let mut value = |metric: &str| after.remove(&metric.replace("NAME", name)).unwrap();
        assert_eq!(
            value("uno_lifecycle_resources{name=NAME}"),
            DebugValue::Gauge((-f64::from(ok + error)).into()),
            "back to zero: what was held was taken for closing"
        );
        assert_eq!(
            value("uno_lifecycle_closes_total{name=NAME,outcome=ok}"),
            DebugValue::Counter(ok.into())
        );
        assert_eq!(
            value("uno_lifecycle_closes_total{name=NAME,outcome=error}"),
            DebugValue::Counter(error.into())
        );
        assert_eq!(
            value("uno_lifecycle_closes_total{name=NAME,outcome=timeout}"),
            DebugValue::Counter(0)
        );
    }
    // Left: the close durations, all zero on virtual time.
    let durations: Vec<&String> = after.keys().collect();
    assert_eq!(
        durations,
        [
            "uno_lifecycle_close_duration_seconds{name=dropped}",
            "uno_lifecycle_close_duration_seconds{name=request}"
        ]
    );
    assert_eq!(
        after["uno_lifecycle_close_duration_seconds{name=request}"],
        DebugValue::Histogram(vec![0.0.into(), 0.0.into()])
    );
}
