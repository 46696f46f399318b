//! With the `tracing` feature, the resilience policies emit the events of their docs' "Tracing"
//! table: a `uno_pipeline_call` span per pipeline call with an event per attempt, retries at
//! DEBUG, breaker transitions at WARN (open) and INFO (half-open, closed), rejections at DEBUG,
//! each with the policy's `name`. Run with `cargo test -p uno-core --features tracing`.

#![cfg(feature = "tracing")]

mod common {
    pub(crate) mod capture;
    pub(crate) mod workload;
}

use std::time::Duration;

use tracing::Level;
use uno_core::resilience::{Backoff, CircuitBreaker, Pipeline, RateLimiter, Retry};
use uno_core::rt::VirtualRuntime;

use common::capture::{Event, capture, with_message};
use common::workload::busy_twice;

const MS: Duration = Duration::from_millis(1);

/// Runs `test` on a virtual runtime under the capturing subscriber; returns what it saw, all of
/// it from the resilience policies.
fn capture_resilience(test: impl FnOnce(&VirtualRuntime)) -> Vec<Event> {
    let seen = capture(|| test(&VirtualRuntime::new()));
    assert!(
        seen.iter().all(|s| s.target == "uno_core::resilience"),
        "{seen:#?}"
    );
    seen
}

#[test]
fn a_pipeline_call_is_a_span_with_an_event_per_attempt_and_debug_retries() {
    let seen = capture_resilience(|vrt| {
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
            let out = pipeline.run(busy_twice()).await;
            assert_eq!(out, Ok(3));
        });
    });
    let attempts = with_message(&seen, "pipeline attempt");
    assert_eq!(attempts.len(), 3, "{seen:#?}");
    for (i, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.level, Level::DEBUG);
        assert_eq!(attempt.field("name"), "quotes");
        assert_eq!(attempt.field("attempt"), (i + 1).to_string());
        let span = attempt.spans.last().expect("inside the call's span");
        assert_eq!(span.name, "uno_pipeline_call");
        assert_eq!(span.fields.get("name").map(String::as_str), Some("quotes"));
    }
    let retries = with_message(&seen, "retrying");
    assert_eq!(retries.len(), 2, "{seen:#?}");
    for (i, retry) in retries.iter().enumerate() {
        assert_eq!(retry.level, Level::DEBUG);
        assert_eq!(retry.field("name"), "quotes-retry");
        assert_eq!(retry.field("attempt"), (i + 1).to_string());
        assert_eq!(retry.field("delay"), "10ms");
    }
}

#[test]
fn breaker_transitions_are_warn_when_opening_and_info_otherwise_rejections_debug() {
    let seen = capture_resilience(|vrt| {
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
    assert_eq!(opened[0].field("name"), "payments");
    assert_eq!(
        (opened[0].field("from"), opened[0].field("to")),
        ("closed", "open")
    );
    let changes = with_message(&seen, "circuit breaker state change");
    let changes: Vec<_> = changes
        .iter()
        .map(|c| {
            assert_eq!(c.level, Level::INFO);
            assert_eq!(c.field("name"), "payments");
            (c.field("from"), c.field("to"))
        })
        .collect();
    assert_eq!(changes, [("open", "half_open"), ("half_open", "closed")]);
    let rejected = with_message(&seen, "call rejected");
    let rejected: Vec<_> = rejected
        .iter()
        .map(|r| {
            assert_eq!(r.level, Level::DEBUG);
            (r.field("name"), r.field("reason"))
        })
        .collect();
    assert_eq!(
        rejected,
        [("payments", "circuit_open"), ("api", "rate_limited")]
    );
}
