//! With the `tracing` feature, task names appear in spans: every event a named task emits is inside
//! an `uno_task` span carrying its name. Run with `cargo test -p uno-core --features tracing`.

#![cfg(feature = "tracing")]

mod common {
    pub(crate) mod capture;
}

use uno_core::task::{TaskGroup, TaskManager};

use common::capture::capture_on_virtual_runtime;

#[test]
fn task_names_appear_in_spans() {
    let events = capture_on_virtual_runtime(|rt| async move {
        let group: TaskGroup<(), ()> = TaskGroup::new(&rt);
        group.spawn("fetch-prices", async {
            tracing::info!("in the group's child");
            Ok(())
        });
        group.join_all().await.unwrap();
        let manager = TaskManager::new(&rt);
        manager
            .spawn("heartbeat", async {
                tracing::info!("in the manager's task");
                Ok::<_, String>(())
            })
            .unwrap();
        manager.shutdown(std::time::Duration::from_secs(1)).await;
    });
    // (event message, the `task` of the `uno_task` span it was emitted in)
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|event| {
            let task = event
                .spans
                .last()
                .filter(|span| span.name == "uno_task")
                .map(|span| span.fields["task"].clone())
                .unwrap_or_default();
            (event.message.clone(), task)
        })
        .collect();
    assert!(
        seen.contains(&("in the group's child".into(), "fetch-prices".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("in the manager's task".into(), "heartbeat".into())),
        "{seen:?}"
    );
}
