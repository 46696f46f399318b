//! With the `metrics` feature, every resilience policy reports through the handles it registered
//! when it was built: a known workload on virtual time gives exact values, each labelled with the
//! policy's name. Run with `cargo test -p uno-core --features metrics`.

#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::time::Duration;

use futures_lite::future::{block_on, poll_once};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use uno_core::resilience::{
    Backoff, Bulkhead, CircuitBreaker, RateLimiter, Retry, RetryBudget, TimeoutPolicy,
};
use uno_core::rt::VirtualRuntime;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// What the recorder saw so far. Its snapshots drain (counters and gauges go back to zero), so
/// counters and the in-flight/queued gauges (moved by increments) add up across snapshots, and a
/// gauge that is `set` (the breaker's state) is read from the last snapshot.
struct Seen {
    snapshotter: Snapshotter,
    total: BTreeMap<String, f64>,
    last: BTreeMap<String, f64>,
}

impl Seen {
    fn new(snapshotter: Snapshotter) -> Self {
        Seen {
            snapshotter,
            total: BTreeMap::new(),
            last: BTreeMap::new(),
        }
    }

    /// Takes a snapshot; keys are `name{label=value,...}`, labels sorted.
    fn take(&mut self) -> &mut Self {
        self.last.clear();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key().clone();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(v) => v.into_inner(),
                DebugValue::Histogram(_) => panic!("{name}: no histogram expected"),
            };
            *self.total.entry(name.clone()).or_default() += value;
            self.last.insert(name, value);
        }
        self
    }

    fn counter(&self, key: &str) -> u64 {
        match self.total.get(key) {
            Some(n) => *n as u64,
            None => panic!("{key} not in {:#?}", self.total),
        }
    }

    fn gauge(&self, key: &str) -> f64 {
        match self.total.get(key) {
            Some(v) => *v,
            None => panic!("{key} not in {:#?}", self.total),
        }
    }

    fn set_gauge(&self, key: &str) -> f64 {
        match self.last.get(key) {
            Some(v) => *v,
            None => panic!("{key} not in the last snapshot {:#?}", self.last),
        }
    }
}

#[test]
fn retries_count_attempts_retries_and_budget_refusals() {
    let recorder = DebuggingRecorder::new();
    let mut seen = Seen::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let (ledger, budgeted) = metrics::with_local_recorder(&recorder, || {
        let ledger = Retry::builder(&rt)
            .name("ledger")
            .backoff(Backoff::constant(10 * MS))
            .build()
            .unwrap();
        let budgeted = Retry::builder(&rt)
            .name("budgeted")
            .max_attempts(5)
            .backoff(Backoff::constant(10 * MS))
            .budget(RetryBudget::try_new(1, 0.1).unwrap())
            .build()
            .unwrap();
        (ledger, budgeted)
    });
    vrt.block_on(async {
        let mut calls = 0;
        let out = ledger
            .run(|| {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("busy") } else { Ok(n) } }
            })
            .await;
        assert_eq!(out, Ok(3));
        let err = budgeted.run(|| async { Err::<(), _>("down") }).await;
        assert_eq!(err.unwrap_err().attempts(), Some(2)); // one retry, then the budget was empty
    });
    seen.take();
    assert_eq!(seen.counter("uno_retry_attempts_total{name=ledger}"), 3);
    assert_eq!(seen.counter("uno_retry_retries_total{name=ledger}"), 2);
    assert_eq!(
        seen.counter("uno_retry_budget_exhausted_total{name=ledger}"),
        0
    );
    assert_eq!(seen.counter("uno_retry_attempts_total{name=budgeted}"), 2);
    assert_eq!(seen.counter("uno_retry_retries_total{name=budgeted}"), 1);
    assert_eq!(
        seen.counter("uno_retry_budget_exhausted_total{name=budgeted}"),
        1
    );
}

#[test]
fn the_limiter_counts_admissions_waits_and_rejections() {
    let recorder = DebuggingRecorder::new();
    let mut seen = Seen::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let limiter = metrics::with_local_recorder(&recorder, || {
        RateLimiter::builder(&rt, 1, SEC)
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
    assert_eq!(
        seen.counter("uno_rate_limiter_admissions_total{name=api}"),
        3
    );
    assert_eq!(seen.counter("uno_rate_limiter_waits_total{name=api}"), 2);
    assert_eq!(
        seen.counter("uno_resilience_rejections_total{name=api,reason=rate_limited}"),
        1
    );
}

#[test]
fn the_keyed_limiter_counts_as_the_limiter_over_every_key() {
    let recorder = DebuggingRecorder::new();
    let mut seen = Seen::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let limiter = metrics::with_local_recorder(&recorder, || {
        uno_core::resilience::KeyedRateLimiter::builder(&rt, 1, SEC)
            .name("per-user")
            .build()
            .unwrap()
    });
    limiter.try_acquire(&"ann").unwrap();
    limiter.try_acquire(&"bob").unwrap();
    assert!(limiter.try_acquire(&"ann").is_err());
    vrt.block_on(limiter.acquire(&"bob")); // waits a second
    seen.take();
    let admissions = "uno_rate_limiter_admissions_total{name=per-user}";
    assert_eq!(seen.counter(admissions), 3);
    assert_eq!(
        seen.counter("uno_rate_limiter_waits_total{name=per-user}"),
        1
    );
    assert_eq!(
        seen.counter("uno_resilience_rejections_total{name=per-user,reason=rate_limited}"),
        1
    );
}

#[test]
fn the_bulkhead_reports_in_flight_queued_and_both_rejections() {
    let recorder = DebuggingRecorder::new();
    let mut seen = Seen::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let bulkhead = metrics::with_local_recorder(&recorder, || {
        Bulkhead::builder(&rt, 1)
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
    assert_eq!(
        seen.counter("uno_resilience_rejections_total{name=db,reason=bulkhead_full}"),
        1
    );
    assert_eq!(
        seen.counter("uno_resilience_rejections_total{name=db,reason=bulkhead_timeout}"),
        1
    );
}

#[test]
fn the_breaker_reports_its_state_transitions_and_rejections() {
    let recorder = DebuggingRecorder::new();
    let mut seen = Seen::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let breaker = metrics::with_local_recorder(&recorder, || {
        CircuitBreaker::builder(&rt)
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
    let recorder = DebuggingRecorder::new();
    let mut seen = Seen::new(recorder.snapshotter());
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let limit = metrics::with_local_recorder(&recorder, || {
        TimeoutPolicy::builder(&rt, SEC)
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
