//! The tower layers allocate nothing per request over a ready inner service: `TimeoutLayer`,
//! `RateLimitLayer` (waiting and shedding) and `BulkheadLayer` (waiting and shedding), alone and
//! stacked, counted by a global allocator.

use std::alloc::System;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service};
use uno_core::resilience::{Bulkhead, RateLimiter, TimeoutPolicy};
use uno_core::rt::VirtualRuntime;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A ready inner service answering at once (as `service_fn(|n| async { Ok(n) })`, named).
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u64) -> Self::Future {
        ready(Ok(n))
    }
}

/// Drives `n` requests through `service` by hand (ready, call, one poll each) and returns the
/// allocations they made, after a warm-up request.
fn allocations_per_request<S>(mut service: S, n: u64) -> usize
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut one = |i: u64| {
        assert!(service.poll_ready(&mut cx).is_ready(), "ready at once");
        let mut call = std::pin::pin!(service.call(i));
        match call.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(_)) => {}
            other => panic!("request {i}: {:?}", other.map(|r| r.map(|_| ()))),
        }
    };
    one(0); // first-use initialisation (the limiter's origin) is not per request
    // The counter is process-wide, and the test harness's own thread may allocate meanwhile: the
    // fewest over a few rounds. A per-request allocation would show in every round.
    (0..5)
        .map(|round| {
            let region = Region::new(GLOBAL);
            for i in 1..=n {
                one(round * n + i);
            }
            let stats = region.change();
            stats.allocations + stats.reallocations
        })
        .min()
        .unwrap()
}

#[test]
fn each_layer_allocates_nothing_per_request_over_a_ready_service() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let n = 1_000;
    let limiter = || {
        RateLimiter::builder(&rt, 10_000, Duration::from_secs(1)) // a burst above n: the clock stands still
            .build()
            .unwrap()
    };
    let bulkhead = || Bulkhead::builder(&rt, 4).build().unwrap();
    let timeout = || {
        TimeoutPolicy::builder(&rt, Duration::from_secs(1))
            .name("api")
            .message("a named policy with a message")
            .build()
            .unwrap()
    };

    let counts = [
        (
            "timeout",
            allocations_per_request(timeout().layer().layer(Echo), n),
        ),
        (
            "rate limit",
            allocations_per_request(limiter().layer().layer(Echo), n),
        ),
        (
            "rate limit, shedding",
            allocations_per_request(limiter().layer().shed().layer(Echo), n),
        ),
        (
            "bulkhead",
            allocations_per_request(bulkhead().layer().layer(Echo), n),
        ),
        (
            "bulkhead, shedding",
            allocations_per_request(bulkhead().layer().shed().layer(Echo), n),
        ),
        (
            "all three, stacked",
            allocations_per_request(
                limiter()
                    .layer()
                    .layer(bulkhead().layer().layer(timeout().layer().layer(Echo))),
                n,
            ),
        ),
    ];
    // The counter does count: one box is one allocation.
    let region = Region::new(GLOBAL);
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(region.change().allocations, 1);
    for (layer, allocations) in counts {
        assert_eq!(
            allocations, 0,
            "{layer}: {allocations} allocations for {n} requests"
        );
    }
}
