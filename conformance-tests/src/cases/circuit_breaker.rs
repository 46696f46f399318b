//! Cases: the circuit breaker — windows, minimum calls, fail fast, half-open probes, slow calls
//! and state-change events.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_circuit_breaker {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; circuit_breaker:
            opens_on_failure_rate_over_a_count_window,
            waits_for_the_minimum_number_of_calls,
            opens_on_failure_rate_over_a_time_window,
            open_breaker_fails_fast_without_calling_the_operation,
            half_open_after_the_open_duration_then_closes_on_good_probes,
            half_open_lets_a_limited_number_of_probes_and_reopens_on_failure,
            dropped_probe_frees_its_slot,
            slow_successes_count_as_failures,
            timeouts_count_and_cancellations_do_not,
            invalid_breaker_configuration_is_a_typed_error,
        }
    };
}

use std::ops::Bound::{Excluded, Included};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::resilience::{
    CircuitBreaker, CircuitState, ConfigError, ResilienceError, StateChange,
};
use uno_core::time::Elapsed;

use crate::Env;
use crate::support::{assert_duration, poll_times};

const MS: Duration = Duration::from_millis(1);

async fn call(
    env: &Env,
    breaker: &CircuitBreaker,
    ok: bool,
) -> Result<(), ResilienceError<&'static str>> {
    let _ = env;
    breaker
        .run(|| async move { if ok { Ok(()) } else { Err("boom") } })
        .await
}

/// Opens once the failures in the last N calls reach the threshold; older calls slide out.
pub async fn opens_on_failure_rate_over_a_count_window(env: Env) {
    let breaker = CircuitBreaker::builder(env.rt())
        .count_window(3)
        .minimum_calls(3)
        .failure_rate_threshold(1.0)
        .build()
        .unwrap();
    for ok in [false, false, true, false, false] {
        let _ = call(&env, &breaker, ok).await;
        assert_eq!(
            breaker.state(),
            CircuitState::Closed,
            "the success is still in the window"
        );
    }
    let _ = call(&env, &breaker, false).await; // window: F F F
    assert_eq!(breaker.state(), CircuitState::Open);
    let stats = breaker.stats();
    assert_eq!((stats.successes, stats.failures, stats.opened), (1, 5, 1));
}

/// Below `minimum_calls` the rate is not evaluated, however bad.
pub async fn waits_for_the_minimum_number_of_calls(env: Env) {
    let breaker = CircuitBreaker::builder(env.rt())
        .count_window(10)
        .minimum_calls(5)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = call(&env, &breaker, false).await;
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    let _ = call(&env, &breaker, false).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

/// In a time window, failures older than the window no longer count.
pub async fn opens_on_failure_rate_over_a_time_window(env: Env) {
    let breaker = CircuitBreaker::builder(env.rt())
        .time_window(100 * MS)
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let _ = call(&env, &breaker, false).await;
    env.rt().sleep(150 * MS).await;
    let _ = call(&env, &breaker, false).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "the first failure has expired"
    );
    let _ = call(&env, &breaker, false).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

fn tripped(
    env: &Env,
    open_for: Duration,
    probes: u32,
    events: Option<Arc<Mutex<Vec<StateChange>>>>,
) -> CircuitBreaker {
    let mut builder = CircuitBreaker::builder(env.rt())
        .count_window(1)
        .minimum_calls(1)
        .failure_rate_threshold(1.0)
        .open_duration(open_for)
        .half_open_probes(probes);
    if let Some(events) = events {
        builder = builder.on_state_change(move |change| events.lock().unwrap().push(change));
    }
    builder.build().unwrap()
}

/// While open, calls fail with `CircuitOpen` and the time left, and the operation is not called.
pub async fn open_breaker_fails_fast_without_calling_the_operation(env: Env) {
    let breaker = tripped(&env, Duration::from_secs(60), 1, None);
    let _ = call(&env, &breaker, false).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    let mut called = false;
    let err = breaker
        .run(|| {
            called = true;
            async { Ok::<_, ()>(()) }
        })
        .await
        .unwrap_err();
    assert!(!called);
    let left = err
        .retry_after()
        .expect("an open breaker says when to retry");
    assert_duration(
        &env,
        left,
        Duration::from_secs(60),
        (
            Excluded(Duration::from_secs(50)),
            Included(Duration::from_secs(60)),
        ),
        "the open breaker's retry_after",
    );
    assert!(err.is_rejected());
    assert_eq!(breaker.stats().rejected, 1);
}

/// After the open duration the next call is a probe (half-open); enough good probes close it. The
/// listener sees every change.
pub async fn half_open_after_the_open_duration_then_closes_on_good_probes(env: Env) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let breaker = tripped(&env, 20 * MS, 2, Some(events.clone()));
    let _ = call(&env, &breaker, false).await;
    env.rt().sleep(20 * MS).await;
    call(&env, &breaker, true).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    call(&env, &breaker, true).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    use CircuitState::*;
    let expected = [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)];
    let seen: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(seen, expected);
}

/// Half-open admits only `half_open_probes` calls; a failed probe opens the breaker again.
pub async fn half_open_lets_a_limited_number_of_probes_and_reopens_on_failure(env: Env) {
    let breaker = tripped(&env, 20 * MS, 1, None);
    let _ = call(&env, &breaker, false).await;
    env.rt().sleep(20 * MS).await;
    let probe = breaker.try_acquire().unwrap();
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    let refused = breaker.try_acquire().unwrap_err();
    assert_eq!(
        refused.retry_after, None,
        "probes are running; no fixed time"
    );
    probe.failure();
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(breaker.stats().opened, 2);
}

/// A probe whose caller is dropped at any await point frees its slot: half-open never wedges.
pub async fn dropped_probe_frees_its_slot(env: Env) {
    for polls in 1..4 {
        let breaker = tripped(&env, 20 * MS, 1, None);
        let _ = call(&env, &breaker, false).await;
        env.rt().sleep(20 * MS).await;
        let rt = env.rt().clone();
        let victim = breaker.run(|| async move {
            rt.sleep(Duration::from_secs(3600)).await;
            Ok::<_, ()>(())
        });
        assert!(poll_times(victim, polls).await.is_none());
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        let probe = breaker
            .try_acquire()
            .expect("the dropped probe's slot is free again");
        probe.success();
        assert_eq!(breaker.state(), CircuitState::Closed, "polls={polls}");
        assert_eq!(breaker.stats().ignored, 1);
    }
}

/// With a slow-call threshold, a success that took longer counts as a failure.
pub async fn slow_successes_count_as_failures(env: Env) {
    let breaker = CircuitBreaker::builder(env.rt())
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(1.0)
        .slow_call(20 * MS)
        .build()
        .unwrap();
    let rt = env.rt();
    call(&env, &breaker, true).await.unwrap(); // fast
    for _ in 0..2 {
        breaker
            .run(|| async {
                rt.sleep(30 * MS).await;
                Ok::<_, ()>(())
            })
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let stats = breaker.stats();
    assert_eq!(
        (stats.slow_calls, stats.successes, stats.failures),
        (2, 1, 2)
    );
}

/// A timeout reported by the operation counts as a failure; a cancellation does not count.
pub async fn timeouts_count_and_cancellations_do_not(env: Env) {
    let breaker = tripped(&env, Duration::from_secs(60), 1, None);
    let cancelled = breaker
        .run_flat(|| async { Err::<(), ResilienceError<()>>(ResilienceError::Cancelled) })
        .await;
    assert_eq!(cancelled, Err(ResilienceError::Cancelled));
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.stats().ignored, 1);
    let timed_out = breaker
        .run_flat(|| async {
            Err::<(), ResilienceError<()>>(Elapsed::new(MS).with_message("slow").into())
        })
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    assert_eq!(breaker.state(), CircuitState::Open);
}

/// Bad thresholds, zero sizes and durations, and an unreachable minimum are typed errors.
pub async fn invalid_breaker_configuration_is_a_typed_error(env: Env) {
    for ratio in [f64::NAN, 0.0, -0.1, 1.5, f64::INFINITY] {
        assert!(matches!(
            CircuitBreaker::builder(env.rt())
                .failure_rate_threshold(ratio)
                .build(),
            Err(ConfigError::InvalidRatio { .. })
        ));
    }
    let zero = |r: Result<CircuitBreaker, ConfigError>| matches!(r, Err(ConfigError::Zero { .. }));
    assert!(zero(
        CircuitBreaker::builder(env.rt()).count_window(0).build()
    ));
    assert!(zero(
        CircuitBreaker::builder(env.rt())
            .time_window(Duration::ZERO)
            .build()
    ));
    assert!(zero(
        CircuitBreaker::builder(env.rt()).minimum_calls(0).build()
    ));
    assert!(zero(
        CircuitBreaker::builder(env.rt())
            .open_duration(Duration::ZERO)
            .build()
    ));
    assert!(zero(
        CircuitBreaker::builder(env.rt())
            .half_open_probes(0)
            .build()
    ));
    assert!(zero(
        CircuitBreaker::builder(env.rt())
            .slow_call(Duration::ZERO)
            .build()
    ));
    assert_eq!(
        CircuitBreaker::builder(env.rt())
            .count_window(5)
            .minimum_calls(6)
            .build()
            .unwrap_err(),
        ConfigError::MinimumCallsExceedWindow {
            minimum_calls: 6,
            window: 5
        }
    );
    assert!(
        CircuitBreaker::builder(env.rt())
            .failure_rate_threshold(1.0)
            .build()
            .is_ok()
    );
}
