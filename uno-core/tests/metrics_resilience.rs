//! With the `metrics` feature, every resilience policy reports through the handles it registered
//! when it was built: a known workload on virtual time gives exact values, each labelled with the
//! policy's name. Run with `cargo test -p uno-core --features metrics`.

#![cfg(feature = "metrics")]

mod common {
    pub(crate) mod recorder;
    pub(crate) mod workload;
}

use std::time::Duration;

use futures_lite::future::{block_on, poll_once};
use uno_core::Runtime;
use uno_core::resilience::{
    Backoff, Bulkhead, CircuitBreaker, RateLimiter, Retry, RetryBudget, TimeoutPolicy,
};
use uno_core::rt::VirtualRuntime;

use common::recorder::{Recorded, build_recorded};
use common::workload::busy_twice;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// Builds a policy with `build` under a new recorder, on a new virtual runtime. The policies
/// register no histograms: a snapshot holding one fails the test.
fn policy<T>(build: impl FnOnce(&Runtime) -> T) -> (VirtualRuntime, Recorded, T) {
    let (vrt, seen, policy) = build_recorded(build);
    (vrt, seen.without_histograms(), policy)
}

#[test]
fn retries_count_attempts_retries_and_budget_refusals() {
    let (vrt, mut seen, (ledger, budgeted)) = policy(|rt| {
        let ledger = Retry::builder(rt)
            .name("ledger")
            .backoff(Backoff::constant(10 * MS))
            .build()
            .unwrap();
        let budgeted = Retry::builder(rt)
            .name("budgeted")
            .max_attempts(5)
            .backoff(Backoff::constant(10 * MS))
            .budget(RetryBudget::try_new(1, 0.1).unwrap())
            .build()
            .unwrap();
        (ledger, budgeted)
    });
    vrt.block_on(async {
        let out = ledger.run(busy_twice()).await;
        assert_eq!(out, Ok(3));
        let err = budgeted.run(|| async { Err::<(), _>("down") }).await;
        assert_eq!(err.unwrap_err().attempts(), Some(2)); // one retry, then the budget was empty
    });
    seen.take();
    seen.assert_counters([
        ("uno_retry_attempts_total{name=ledger}", 3),
        ("uno_retry_retries_total{name=ledger}", 2),
        ("uno_retry_budget_exhausted_total{name=ledger}", 0),
        ("uno_retry_attempts_total{name=budgeted}", 2),
        ("uno_retry_retries_total{name=budgeted}", 1),
        ("uno_retry_budget_exhausted_total{name=budgeted}", 1),
    ]);
}

#[test]
fn the_limiter_counts_admissions_waits_and_rejections() {
    let (vrt, mut seen, limiter) = policy(|rt| {
        RateLimiter::builder(rt, 1, SEC)
            .name("api")
            .build()
            .unwrap()
    });
    limiter.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    vrt.block_on(async {
        limiter.acquire().await; // waits a second
        limiter.acquire().await; // and another
    });
    seen.take();
    seen.assert_counters([
        ("uno_rate_limiter_admissions_total{name=api}", 3),
        ("uno_rate_limiter_waits_total{name=api}", 2),
        (
            "uno_resilience_rejections_total{name=api,reason=rate_limited}",
            1,
        ),
    ]);
}

#[test]
fn the_keyed_limiter_counts_as_the_limiter_over_every_key() {
    let (vrt, mut seen, limiter) = policy(|rt| {
        uno_core::resilience::KeyedRateLimiter::builder(rt, 1, SEC)
            .name("per-user")
            .build()
            .unwrap()
    });
    limiter.try_acquire(&"ann").unwrap();
    limiter.try_acquire(&"bob").unwrap();
    assert!(limiter.try_acquire(&"ann").is_err());
    vrt.block_on(limiter.acquire(&"bob")); // waits a second
    seen.take().assert_counters([
        ("uno_rate_limiter_admissions_total{name=per-user}", 3),
        ("uno_rate_limiter_waits_total{name=per-user}", 1),
        (
            "uno_resilience_rejections_total{name=per-user,reason=rate_limited}",
            1,
        ),
    ]);
}

#[test]
fn the_bulkhead_reports_in_flight_queued_and_both_rejections() {
    let (vrt, mut seen, bulkhead) = policy(|rt| {
        Bulkhead::builder(rt, 1)
            .name("db")
            .max_queue(1)
            .max_wait(SEC)
            .build()
            .unwrap()
    });
    let held = bulkhead.try_acquire().unwrap();
    let mut waiter = Box::pin(bulkhead.acquire());
    assert!(block_on(poll_once(&mut waiter)).is_none(), "queued");
    let full = block_on(poll_once(Box::pin(bulkhead.acquire())));
    assert!(matches!(full, Some(Err(_))), "the queue of one is full");
    seen.take();
    assert_eq!(seen.gauge("uno_bulkhead_in_flight{name=db}"), 1.0);
    assert_eq!(seen.gauge("uno_bulkhead_queued{name=db}"), 1.0);
    assert!(vrt.block_on(waiter).is_err(), "waited a second in vain");
    drop(held);
    seen.take();
    assert_eq!(seen.gauge("uno_bulkhead_in_flight{name=db}"), 0.0);
    assert_eq!(seen.gauge("uno_bulkhead_queued{name=db}"), 0.0);
    seen.assert_counters([
        (
            "uno_resilience_rejections_total{name=db,reason=bulkhead_full}",
            1,
        ),
        (
            "uno_resilience_rejections_total{name=db,reason=bulkhead_timeout}",
            1,
        ),
    ]);
}

#[test]
fn the_breaker_reports_its_state_transitions_and_rejections() {
    let (vrt, mut seen, breaker) = policy(|rt| {
        CircuitBreaker::builder(rt)
            .name("payments")
            .count_window(1)
            .minimum_calls(1)
            .half_open_probes(1)
            .open_duration(30 * SEC)
            .build()
            .unwrap()
    });
    let state = "uno_circuit_breaker_state{name=payments}";
    assert_eq!(seen.take().set_gauge(state), 0.0, "closed");
    breaker.try_acquire().unwrap().failure();
    assert_eq!(seen.take().set_gauge(state), 2.0, "open");
    assert!(breaker.try_acquire().is_err());
    vrt.clock().advance(30 * SEC);
    let probe = breaker.try_acquire().unwrap();
    assert_eq!(seen.take().set_gauge(state), 1.0, "half-open");
    probe.success();
    assert_eq!(seen.take().set_gauge(state), 0.0, "closed again");
    let transition = |from: &str, to: &str| {
        seen.counter(&format!(
            "uno_circuit_breaker_transitions_total{{from={from},name=payments,to={to}}}"
        ))
    };
    assert_eq!(transition("closed", "open"), 1);
    assert_eq!(transition("open", "half_open"), 1);
    assert_eq!(transition("half_open", "closed"), 1);
    assert_eq!(transition("half_open", "open"), 0);
    assert_eq!(
        seen.counter("uno_resilience_rejections_total{name=payments,reason=circuit_open}"),
        1
    );
}

#[test]
fn a_timeout_policy_counts_its_expiries() {
    let (vrt, mut seen, limit) = policy(|rt| {
        TimeoutPolicy::builder(rt, SEC)
            .name("invoice")
            .build()
            .unwrap()
    });
    vrt.block_on(async {
        assert_eq!(limit.run(|| async { Ok::<_, ()>(1) }).await, Ok(1));
        let hung = limit.run(std::future::pending::<Result<(), ()>>).await;
        assert!(hung.unwrap_err().is_timeout());
    });
    seen.take();
    assert_eq!(seen.counter("uno_timeout_expired_total{name=invoice}"), 1);
}
