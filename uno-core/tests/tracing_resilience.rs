//! With the `tracing` feature, the resilience policies emit the events of their docs' "Tracing"
//! table: a `uno_pipeline_call` span per pipeline call with an event per attempt, retries at
//! DEBUG, breaker transitions at WARN (open) and INFO (half-open, closed), rejections at DEBUG,
//! each with the policy's `name`. Run with `cargo test -p uno-core --features tracing`.

#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use uno_core::resilience::{Backoff, CircuitBreaker, Pipeline, RateLimiter, Retry};
use uno_core::rt::VirtualRuntime;

const MS: Duration = Duration::from_millis(1);

/// One event as seen: level, target, message, fields, and the span it was emitted in.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
    span: Option<(String, BTreeMap<String, String>)>,
}

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

#[derive(Default)]
struct Capture {
    spans: Mutex<Vec<(String, BTreeMap<String, String>)>>,
    current: Mutex<Vec<u64>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields.0));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or_default();
        let span = self
            .current
            .lock()
            .unwrap()
            .last()
            .map(|id| self.spans.lock().unwrap()[*id as usize - 1].clone());
        self.seen.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message,
            fields,
            span,
        });
    }
    fn enter(&self, id: &Id) {
        self.current.lock().unwrap().push(id.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.current.lock().unwrap().pop();
    }
}

/// Runs `test` on a virtual runtime under a capturing subscriber; returns what it saw.
fn capture(test: impl FnOnce(&VirtualRuntime)) -> Vec<Seen> {
    let subscriber = Capture::default();
    let seen = subscriber.seen.clone();
    tracing::subscriber::with_default(subscriber, || test(&VirtualRuntime::new()));
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|s| s.target == "uno_core::resilience"),
        "{seen:#?}"
    );
    seen
}

fn with_message<'a>(seen: &'a [Seen], message: &str) -> Vec<&'a Seen> {
    seen.iter().filter(|s| s.message == message).collect()
}

fn field<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.fields
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` in {seen:?}"))
}

#[test]
fn a_pipeline_call_is_a_span_with_an_event_per_attempt_and_debug_retries() {
    let seen = capture(|vrt| {
        let rt = vrt.handle();
        let pipeline = Pipeline::builder(&rt)
            .name("quotes")
            .retry(
                Retry::builder(&rt)
                    .name("quotes-retry")
                    .backoff(Backoff::constant(10 * MS))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        vrt.block_on(async {
            let mut calls = 0;
            let out = pipeline
                .run(|| {
                    calls += 1;
                    let n = calls;
                    async move { if n < 3 { Err("busy") } else { Ok(n) } }
                })
                .await;
            assert_eq!(out, Ok(3));
        });
    });
    let attempts = with_message(&seen, "pipeline attempt");
    assert_eq!(attempts.len(), 3, "{seen:#?}");
    for (i, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.level, Level::DEBUG);
        assert_eq!(field(attempt, "name"), "quotes");
        assert_eq!(field(attempt, "attempt"), (i + 1).to_string());
        let (span, fields) = attempt.span.as_ref().expect("inside the call's span");
        assert_eq!(span, "uno_pipeline_call");
        assert_eq!(fields.get("name").map(String::as_str), Some("quotes"));
    }
    let retries = with_message(&seen, "retrying");
    assert_eq!(retries.len(), 2, "{seen:#?}");
    for (i, retry) in retries.iter().enumerate() {
        assert_eq!(retry.level, Level::DEBUG);
        assert_eq!(field(retry, "name"), "quotes-retry");
        assert_eq!(field(retry, "attempt"), (i + 1).to_string());
        assert_eq!(field(retry, "delay"), "10ms");
    }
}

#[test]
fn breaker_transitions_are_warn_when_opening_and_info_otherwise_rejections_debug() {
    let seen = capture(|vrt| {
        let rt = vrt.handle();
        let breaker = CircuitBreaker::builder(&rt)
            .name("payments")
            .count_window(1)
            .minimum_calls(1)
            .half_open_probes(1)
            .build()
            .unwrap();
        breaker.try_acquire().unwrap().failure();
        assert!(breaker.try_acquire().is_err());
        vrt.clock().advance(Duration::from_secs(30));
        breaker.try_acquire().unwrap().success();
        let limiter = RateLimiter::builder(&rt, 1, Duration::from_secs(1))
            .name("api")
            .build()
            .unwrap();
        limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_err());
    });
    let opened = with_message(&seen, "circuit breaker opened");
    assert_eq!(opened.len(), 1, "{seen:#?}");
    assert_eq!(opened[0].level, Level::WARN);
    assert_eq!(field(opened[0], "name"), "payments");
    assert_eq!(
        (field(opened[0], "from"), field(opened[0], "to")),
        ("closed", "open")
    );
    let changes = with_message(&seen, "circuit breaker state change");
    let changes: Vec<_> = changes
        .iter()
        .map(|c| {
            assert_eq!(c.level, Level::INFO);
            assert_eq!(field(c, "name"), "payments");
            (field(c, "from"), field(c, "to"))
        })
        .collect();
    assert_eq!(changes, [("open", "half_open"), ("half_open", "closed")]);
    let rejected = with_message(&seen, "call rejected");
    let rejected: Vec<_> = rejected
        .iter()
        .map(|r| {
            assert_eq!(r.level, Level::DEBUG);
            (field(r, "name"), field(r, "reason"))
        })
        .collect();
    assert_eq!(
        rejected,
        [("payments", "circuit_open"), ("api", "rate_limited")]
    );
}
