//! loom models of the circuit breaker's admission (`src/resilience/circuit_breaker/`).
//!
//! Run: `RUSTFLAGS="--cfg uno_loom" cargo test -p uno-core --release --test loom_breaker`.
//!
//! Covered, in every interleaving loom explores: concurrent admissions when the open period has
//! just ended (one of them moves the breaker to half-open) never admit more probes than
//! configured, and the state changes exactly once; a failed probe racing a newcomer reopens the
//! breaker and admits nobody else; a successful probe racing a newcomer closes it, and a newcomer
//! admitted through the lock-free closed path counts in the new epoch; a trip racing a closed
//! admission leaves the breaker open (a result of the old epoch never closes it again).
//!
//! Time is a `ManualClock` (tests/loom_support), std state: one step between loom's. The
//! listener is user code, called outside the breaker's lock; its log is std. Not covered: the
//! time-based window's arithmetic and slow-call detection (unit tests), panicking listeners
//! (the conformance suite).

#![cfg(uno_loom)]

mod loom_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loom::thread;
use loom_support::{ManualClock, model};
use uno_core::Runtime;
use uno_core::resilience::{CircuitBreaker, CircuitState, StateChange};

use CircuitState::{Closed, HalfOpen, Open};

type Log = Arc<Mutex<Vec<(CircuitState, CircuitState)>>>;

/// A breaker that opens on one failure, with `probes` half-open probes, and its change log.
fn breaker(rt: &Runtime, probes: u32) -> (CircuitBreaker, Log) {
    let log = Log::default();
    let record = log.clone();
    let breaker = CircuitBreaker::builder(rt)
        .minimum_calls(1)
        .count_window(1)
        .open_duration(Duration::from_secs(1))
        .half_open_probes(probes)
        .on_state_change(move |change: StateChange| {
            record.lock().unwrap().push((change.from, change.to));
        })
        .build()
        .unwrap();
    (breaker, log)
}

/// Opens `breaker` with one failure and lets its open period end.
fn trip_and_wait(breaker: &CircuitBreaker, clock: &ManualClock) {
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), Open);
    clock.advance(Duration::from_secs(1));
}

#[test]
fn half_open_admits_exactly_the_configured_probes() {
    model(|| {
        let clock = ManualClock::new();
        let rt = clock.runtime();
        let (breaker, log) = breaker(&rt, 2);
        trip_and_wait(&breaker, &clock);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let breaker = breaker.clone();
                thread::spawn(move || breaker.try_acquire().ok())
            })
            .collect();
        let mut permits: Vec<_> = breaker.try_acquire().ok().into_iter().collect();
        for caller in callers {
            permits.extend(caller.join().unwrap());
        }
        // Three callers, permits held throughout: exactly the two probes get in.
        assert_eq!(permits.len(), 2);
        assert_eq!(breaker.state(), HalfOpen);
        assert_eq!(*log.lock().unwrap(), [(Closed, Open), (Open, HalfOpen)]);
        for permit in permits {
            permit.success();
        }
        assert_eq!(breaker.state(), Closed);
        assert_eq!(log.lock().unwrap().last(), Some(&(HalfOpen, Closed)));
    });
}

#[test]
fn a_failed_probe_reopens_and_admits_nobody_else() {
    model(|| {
        let clock = ManualClock::new();
        let rt = clock.runtime();
        let (breaker, _) = breaker(&rt, 1);
        trip_and_wait(&breaker, &clock);
        let probe = breaker.try_acquire().unwrap();
        let reporter = thread::spawn(move || probe.failure());
        let newcomer = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.try_acquire().is_err())
        };
        assert!(newcomer.join().unwrap(), "admitted beside the only probe");
        reporter.join().unwrap();
        assert_eq!(breaker.state(), Open);
        assert_eq!(breaker.stats().rejected, 1);
    });
}

#[test]
fn a_successful_probe_closes_and_a_newcomer_counts_in_the_new_epoch() {
    model(|| {
        let clock = ManualClock::new();
        let rt = clock.runtime();
        let (breaker, _) = breaker(&rt, 1);
        trip_and_wait(&breaker, &clock);
        let probe = breaker.try_acquire().unwrap();
        let reporter = thread::spawn(move || probe.success());
        let newcomer = {
            let breaker = breaker.clone();
            thread::spawn(move || match breaker.try_acquire() {
                Ok(permit) => {
                    permit.success();
                    true
                }
                Err(_) => false, // still half-open, its one probe in flight
            })
        };
        let admitted = newcomer.join().unwrap();
        reporter.join().unwrap();
        assert_eq!(breaker.state(), Closed);
        let stats = breaker.stats();
        // Admitted only once closed, so its success is of the current epoch: counted.
        assert_eq!(stats.ignored, 0, "{stats:?}");
        assert_eq!(stats.successes, 1 + u64::from(admitted));
        assert_eq!(stats.rejected, u64::from(!admitted));
    });
}

#[test]
fn a_trip_racing_a_closed_admission_stays_open() {
    model(|| {
        let rt = ManualClock::new().runtime();
        let (breaker, log) = breaker(&rt, 1);
        let failing = breaker.try_acquire().unwrap();
        let reporter = thread::spawn(move || failing.failure());
        let newcomer = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                if let Ok(permit) = breaker.try_acquire() {
                    permit.success(); // may land after the trip: of the old epoch
                }
            })
        };
        newcomer.join().unwrap();
        reporter.join().unwrap();
        assert_eq!(breaker.state(), Open);
        assert_eq!(*log.lock().unwrap(), [(Closed, Open)]);
    });
}
