//! The tower stack: uno's five layers (retry, timeout, rate limit, bulkhead, circuit breaker)
//! beside tower-resilience 0.13's five (retry, time limiter, rate limiter, bulkhead, circuit
//! breaker) and plain tower (no middleware), over a ready `service_fn`, in one criterion run on a
//! current-thread tokio runtime. Then the counting allocator's heap allocations per request of
//! each stack, printed as `ALLOC name per-request` lines.

use std::convert::Infallible;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use uno_core::resilience::{Backoff, Bulkhead, CircuitBreaker, RateLimiter, Retry, TimeoutPolicy};

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

/// The limits of both stacks: generous enough that no request waits or is refused.
const PER_SECOND: u32 = 1_000_000_000;
const CONCURRENT: u32 = 1_000;

/// Calls `service` once: `ready` then `call`, as a server does per request.
async fn one<S: Service<u64>>(service: &mut S) {
    let svc = service.ready().await.ok().expect("ready");
    let _ = std::hint::black_box(svc.call(std::hint::black_box(7)).await.is_ok());
}

fn backend() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|n: u64| async move { Ok::<u64, Infallible>(n + 1) })
}

fn uno_stack(
    rt: &uno_core::Runtime,
) -> impl Service<u64, Response = u64, Error: std::fmt::Debug> + Clone {
    let retry = Retry::builder(rt)
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .build()
        .unwrap();
    let timeout = TimeoutPolicy::builder(rt, Duration::from_secs(5))
        .build()
        .unwrap();
    let limiter = RateLimiter::builder(rt, PER_SECOND, Duration::from_secs(1))
        .burst(PER_SECOND)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder(rt, CONCURRENT).build().unwrap();
    let breaker = CircuitBreaker::builder(rt).build().unwrap();
    ServiceBuilder::new()
        .layer(retry.layer())
        .layer(timeout.layer())
        .layer(limiter.layer())
        .layer(bulkhead.layer())
        .layer(breaker.layer())
        .service(backend())
}

fn tower_resilience_stack() -> impl Service<u64, Response = u64, Error: std::fmt::Debug> + Clone {
    use tower_resilience::bulkhead::BulkheadLayer;
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;
    use tower_resilience::ratelimiter::RateLimiterLayer;
    use tower_resilience::retry::RetryLayer;
    use tower_resilience::timelimiter::TimeLimiterLayer;
    let breaker = CircuitBreakerLayer::builder().build().unwrap();
    let bulkhead = BulkheadLayer::builder()
        .max_concurrent_calls(CONCURRENT as usize)
        .build()
        .unwrap();
    let limiter = RateLimiterLayer::builder()
        .limit_for_period(PER_SECOND as usize)
        .refresh_period(Duration::from_secs(1))
        .build()
        .unwrap();
    let time_limiter = TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(5))
        .build();
    let inner = ServiceBuilder::new()
        .layer(time_limiter)
        .layer(limiter)
        .layer(bulkhead)
        .layer(breaker)
        .service(backend());
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .fixed_backoff(Duration::from_millis(1))
        .build();
    ServiceBuilder::new().layer(retry).service(inner)
}

fn stacks(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let _entered = tokio_rt.enter();
    let mut group = uno_benches::Group::new(c, "tower_stack");
    let mut uno = uno_stack(&rt);
    group.bench_function("uno", |b| b.iter(|| tokio_rt.block_on(one(&mut uno))));
    let mut anchor = tower_resilience_stack();
    group.bench_function("tower-resilience", |b| {
        b.iter(|| tokio_rt.block_on(one(&mut anchor)))
    });
    let mut plain = backend();
    group.bench_function("tower", |b| b.iter(|| tokio_rt.block_on(one(&mut plain))));
    group.finish();

    // Allocations per request, after a warm-up request (lazy registrations are not per request).
    const N: u64 = 1_000;
    let count = |name: &str, run: &mut dyn FnMut()| {
        run();
        let allocations = uno_benches::allocations_during(|| (0..N).for_each(|_| run()));
        println!(
            "ALLOC tower_stack/{name} {:.2}",
            allocations as f64 / N as f64
        );
    };
    count("uno", &mut || tokio_rt.block_on(one(&mut uno)));
    count("tower-resilience", &mut || {
        tokio_rt.block_on(one(&mut anchor))
    });
    count("tower", &mut || tokio_rt.block_on(one(&mut plain)));
}

criterion_group!(benches, stacks);
criterion_main!(benches);
