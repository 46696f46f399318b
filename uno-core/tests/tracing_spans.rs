//! With the `tracing` feature, task names appear in spans: every event a named task emits is inside
//! an `uno_task` span carrying its name. Run with `cargo test -p uno-core --features tracing`.

#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use uno_core::rt::VirtualRuntime;
use uno_core::task::{TaskGroup, TaskManager};

/// Records, for each event, the `task` field of the span it was emitted in.
#[derive(Default)]
struct Recorder {
    spans: Mutex<Vec<(String, String)>>, // (span name, task field), indexed by id - 1
    current: Mutex<Vec<u64>>,
    seen: Arc<Mutex<Vec<(String, String)>>>, // (event message, task)
}

struct TaskField(String);

impl Visit for TaskField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "task" || field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut task = TaskField(String::new());
        attrs.record(&mut task);
        let mut spans = self.spans.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), task.0));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = TaskField(String::new());
        event.record(&mut message);
        let task = self
            .current
            .lock()
            .unwrap()
            .last()
            .map(|id| self.spans.lock().unwrap()[*id as usize - 1].clone())
            .filter(|(name, _)| name == "uno_task")
            .map(|(_, task)| task)
            .unwrap_or_default();
        self.seen.lock().unwrap().push((message.0, task));
    }
    fn enter(&self, id: &Id) {
        self.current.lock().unwrap().push(id.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.current.lock().unwrap().pop();
    }
}

#[test]
fn task_names_appear_in_spans() {
    let recorder = Recorder::default();
    let seen = recorder.seen.clone();
    tracing::subscriber::with_default(recorder, || {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        vrt.block_on(async move {
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
    });
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&("in the group's child".into(), "fetch-prices".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("in the manager's task".into(), "heartbeat".into())),
        "{seen:?}"
    );
}
