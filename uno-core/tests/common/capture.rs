//! A `tracing` subscriber that keeps what it sees, for the tracing tests: every event with its
//! level, target, message and fields, and the spans it was emitted in. It answers
//! `Span::current()`, so `Runtime::spawn` carries the caller's span as it does under a real
//! subscriber. Installed for one thread only (`tracing::subscriber::with_default`): tests running
//! in parallel do not see each other's events.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};
use tracing_core::span::Current;
use uno_core::Runtime;
use uno_core::rt::VirtualRuntime;

/// A span as created: its name and the fields given at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) name: String,
    pub(crate) fields: BTreeMap<String, String>,
}

/// `name{field=value,..}`, fields sorted.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<_> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "{}{{{}}}", self.name, fields.join(","))
    }
}

/// An event as seen: its level, target, message, other fields (each as its `Debug` text, strings
/// unquoted), and the spans it was emitted in, innermost last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) level: Level,
    pub(crate) target: String,
    pub(crate) message: String,
    pub(crate) fields: BTreeMap<String, String>,
    pub(crate) spans: Vec<Span>,
}

impl Event {
    /// The field `name`; panics when the event has none.
    #[allow(dead_code, reason = "tracing_spans.rs reads spans, not event fields")]
    pub(crate) fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("no field `{name}` in {self:?}"))
    }
}

/// Runs `f` under the capturing subscriber (on this thread); returns every event it saw.
pub(crate) fn capture(f: impl FnOnce()) -> Vec<Event> {
    let subscriber = Capture::default();
    let events = Arc::clone(&subscriber.events);
    tracing::subscriber::with_default(subscriber, f);
    events.lock().unwrap().clone()
}

/// Runs `test` to its end on a new `VirtualRuntime`, under the capturing subscriber.
#[allow(
    dead_code,
    reason = "tracing_resilience.rs drives its runtime's clock itself"
)]
pub(crate) fn capture_on_virtual_runtime<F, Fut>(test: F) -> Vec<Event>
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future<Output = ()>,
{
    capture(|| {
        let vrt = VirtualRuntime::new();
        vrt.block_on(test(vrt.handle()));
    })
}

/// The events of `target` alone.
#[allow(dead_code, reason = "only the tests of one component's events filter")]
pub(crate) fn of_target(events: Vec<Event>, target: &str) -> Vec<Event> {
    events.into_iter().filter(|e| e.target == target).collect()
}

/// The events with `message`, in order.
#[allow(
    dead_code,
    reason = "not every tracing test looks events up by message"
)]
pub(crate) fn with_message<'a>(events: &'a [Event], message: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.message == message).collect()
}

/// The first event with `message`; panics when there is none.
#[allow(
    dead_code,
    reason = "not every tracing test looks events up by message"
)]
pub(crate) fn find<'a>(events: &'a [Event], message: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.message == message)
        .unwrap_or_else(|| panic!("no event {message:?} in {events:#?}"))
}

/// The fields of a span or an event, as text.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

#[derive(Default)]
struct Capture {
    /// Every span created, by id - 1, with the metadata `current_span` answers with.
    spans: Mutex<Vec<(Span, &'static Metadata<'static>)>>,
    /// The ids of the entered spans, innermost last.
    entered: Mutex<Vec<u64>>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let span = Span {
            name: attrs.metadata().name().to_owned(),
            fields: fields.0,
        };
        let mut spans = self.spans.lock().unwrap();
        spans.push((span, attrs.metadata()));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or_default();
        let spans = self.spans.lock().unwrap();
        let spans = self
            .entered
            .lock()
            .unwrap()
            .iter()
            .map(|id| spans[*id as usize - 1].0.clone())
            .collect();
        self.events.lock().unwrap().push(Event {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message,
            fields,
            spans,
        });
    }
    /// What `Span::current()` (and so `Runtime::spawn`) reads: the innermost entered span.
    fn current_span(&self) -> Current {
        let spans = self.spans.lock().unwrap();
        match self.entered.lock().unwrap().last() {
            Some(&id) => Current::new(Id::from_u64(id), spans[id as usize - 1].1),
            None => Current::none(),
        }
    }
    fn enter(&self, id: &Id) {
        self.entered.lock().unwrap().push(id.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.entered.lock().unwrap().pop();
    }
}
