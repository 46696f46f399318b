//! With the `tracing` feature: `Runtime::spawn` carries the caller's span into the task
//! (`spawn_without_span` does not), a group's children run in spans naming the group and the child,
//! and groups and managers report failures (WARN) and shutdowns (DEBUG) with their names.

#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;
use uno_core::rt::VirtualRuntime;
use uno_core::task::{TaskGroup, TaskManager};

/// The fields of a span or an event, as text.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// An event as the test sees it: level, target, fields (with `message`), and the spans it was
/// emitted in, innermost last, as `name{field=value,..}`.
#[derive(Clone, Debug)]
struct Seen {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
    spans: Vec<String>,
}

impl Seen {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Recorder {
    spans: Mutex<Vec<(String, &'static Metadata<'static>)>>, // by id - 1
    current: Mutex<Vec<u64>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let fields: Vec<_> = fields.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut spans = self.spans.lock().unwrap();
        let text = format!("{}{{{}}}", attrs.metadata().name(), fields.join(","));
        spans.push((text, attrs.metadata()));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = self.spans.lock().unwrap();
        let stack = self.current.lock().unwrap();
        self.seen.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields: fields.0,
            spans: stack
                .iter()
                .map(|id| spans[*id as usize - 1].0.clone())
                .collect(),
        });
    }
    /// What `Span::current()` (and so `Runtime::spawn`) reads: the innermost entered span.
    fn current_span(&self) -> Current {
        let spans = self.spans.lock().unwrap();
        match self.current.lock().unwrap().last() {
            Some(&id) => Current::new(Id::from_u64(id), spans[id as usize - 1].1),
            None => Current::none(),
        }
    }
    fn enter(&self, id: &Id) {
        self.current.lock().unwrap().push(id.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.current.lock().unwrap().pop();
    }
}

/// Runs `test` on a `VirtualRuntime` under the recorder and returns every event it saw.
fn capture<F, Fut>(test: F) -> Vec<Seen>
where
    F: FnOnce(uno_core::Runtime) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let recorder = Recorder::default();
    let seen = recorder.seen.clone();
    tracing::subscriber::with_default(recorder, || {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        vrt.block_on(test(rt));
    });
    seen.lock().unwrap().clone()
}

fn find<'a>(seen: &'a [Seen], message: &str) -> &'a Seen {
    seen.iter()
        .find(|event| event.field("message") == message)
        .unwrap_or_else(|| panic!("no event {message:?} in {seen:#?}"))
}

#[test]
fn a_spawned_task_runs_in_the_callers_span_unless_spawned_without_it() {
    let seen = capture(|rt| async move {
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
    assert_eq!(find(&seen, "in the spawned task").spans, ["request{id=7}"]);
    assert!(
        find(&seen, "in the task without span").spans.is_empty(),
        "{seen:#?}"
    );
}

#[test]
fn group_children_run_in_spans_naming_the_group_and_failures_are_warnings() {
    let seen = capture(|rt| async move {
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
    assert_eq!(child.spans, ["uno_task{name=imports,task=prices}"]);

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
        !seen
            .iter()
            .any(|e| e.field("message").contains("cancelling")),
        "a supervisor does not cancel siblings: {seen:#?}"
    );
}

#[test]
fn a_fail_fast_group_says_when_it_cancels_the_other_children() {
    let seen = capture(|rt| async move {
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
    let seen = capture(|rt| async move {
        let tasks = TaskManager::builder(&rt).name("jobs").build();
        tasks
            .spawn("heartbeat", async {
                tracing::info!("in a managed task");
                Ok::<_, String>(())
            })
            .unwrap();
        tasks.spawn("import", async { Err("bad row 7") }).unwrap();
        tasks
            .spawn("buggy", async {
                panic!("index 3 of 2") as Result<(), String>
            })
            .unwrap();
        tasks
            .spawn("stuck", std::future::pending::<Result<(), String>>())
            .unwrap();
        tasks.shutdown(Duration::from_secs(1)).await;
    });
    assert_eq!(
        find(&seen, "in a managed task").spans,
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
