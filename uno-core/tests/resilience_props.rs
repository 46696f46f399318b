//! Property tests of the resilience primitives on virtual time: the rate limiter never admits
//! more than `burst + rate × elapsed` in any interval, whatever the mix of `try_acquire`,
//! waiting, cancelled waiters and idle time; backoff delays always lie within their bounds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use uno_core::resilience::{Backoff, RateLimiter};
use uno_core::rt::VirtualRuntime;

#[derive(Debug, Clone)]
enum Step {
    Try,
    Wait,
    Cancel(usize),
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Try),
        3 => Just(Step::Wait),
        1 => (0usize..8).prop_map(Step::Cancel),
        3 => (0u64..300).prop_map(Step::Advance),
    ]
}

/// Every interval between two admissions holds at most `burst + ops × length / period` of them.
fn check_bound(times: &[Instant], ops: u32, period: Duration, burst: u32) -> Result<(), String> {
    let mut times = times.to_vec();
    times.sort();
    for i in 0..times.len() {
        for j in i..times.len() {
            let count = (j - i + 1) as u128;
            let length = (times[j] - times[i]).as_nanos();
            // count ≤ burst + ops × length / period, in integers.
            if count > u128::from(burst)
                && (count - u128::from(burst)) * period.as_nanos() > length * u128::from(ops)
            {
                return Err(format!(
                    "{count} admissions within {length} ns (ops {ops}/{period:?}, burst {burst})"
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn limiter_never_exceeds_burst_plus_rate(
        ops in 1u32..20,
        period_ms in 1u64..500,
        burst in 1u32..6,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let period = Duration::from_millis(period_ms);
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        let limiter = RateLimiter::builder(&rt, ops, period).burst(burst).build().unwrap();
        let admitted = Arc::new(Mutex::new(Vec::new()));
        let times = admitted.clone();
        vrt.block_on(async move {
            let mut waiters = Vec::new();
            for step in steps {
                match step {
                    Step::Try => {
                        if limiter.try_acquire().is_ok() {
                            admitted.lock().unwrap().push(rt.now());
                        }
                    }
                    Step::Wait => {
                        let (limiter, rt2, admitted) = (limiter.clone(), rt.clone(), admitted.clone());
                        waiters.push(rt.spawn(async move {
                            limiter.acquire().await;
                            admitted.lock().unwrap().push(rt2.now());
                        }));
                    }
                    Step::Cancel(i) => {
                        if !waiters.is_empty() {
                            let i = i % waiters.len();
                            drop(waiters.swap_remove(i));
                        }
                    }
                    Step::Advance(ms) => rt.sleep(Duration::from_millis(ms)).await,
                }
                uno_core::task::yield_now().await;
            }
            // Let every remaining waiter through: none may be stalled by a cancelled one.
            let deadline = rt.now() + period * (waiters.len() as u32 + 1);
            for waiter in waiters {
                waiter.await.unwrap();
            }
            assert!(rt.now() <= deadline, "a waiter was stalled");
        });
        let times = times.lock().unwrap();
        prop_assert!(check_bound(&times, ops, period, burst).is_ok(), "{:?}", check_bound(&times, ops, period, burst));
    }

    #[test]
    fn backoff_delays_stay_within_bounds(
        base_ms in 1u64..1000,
        extra_ms in 0u64..10_000,
        factor in 1.0f64..10.0,
        kind in 0u8..4,
        seed in any::<u64>(),
    ) {
        let base = Duration::from_millis(base_ms);
        let max = base + Duration::from_millis(extra_ms);
        let backoff = match kind {
            0 => Backoff::constant(base).max_delay(max),
            1 => Backoff::exponential(base, factor).max_delay(max),
            2 => Backoff::exponential(base, factor).max_delay(max).full_jitter(),
            _ => Backoff::decorrelated_jitter(base, max),
        };
        prop_assert!(backoff.validate().is_ok());
        for delay in backoff.delays(seed).take(40) {
            prop_assert!(delay <= max, "{delay:?} > {max:?}");
            if kind == 3 {
                prop_assert!(delay >= base, "{delay:?} < {base:?}");
            }
        }
    }
}
