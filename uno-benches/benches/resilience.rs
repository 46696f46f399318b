//! Policies on the happy path (the operation succeeds at once): uno beside a bare call, backon,
//! governor and tower, plus allocations per call.
//!
//! Every future is driven inside one `block_on` per iteration, the same for uno and the anchors.

use std::convert::Infallible;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Service, ServiceBuilder, ServiceExt};
use uno_benches::report_allocations;
use uno_core::resilience::{
    Backoff, Bulkhead, CircuitBreaker, Pipeline, RateLimiter, Retry, TimeoutPolicy,
};

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

async fn op() -> Result<u64, &'static str> {
    Ok(black_box(42))
}

fn policies(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();

    let mut g = uno_benches::Group::new(c, "retry_success_first_try");
    let retry = Retry::builder(&rt)
        .max_attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(10), 2.0))
        .build()
        .unwrap();
    g.bench_function("uno", |b| b.iter(|| tokio_rt.block_on(retry.run(op))));
    g.bench_function("backon", |b| {
        b.iter(|| tokio_rt.block_on(op.retry(ExponentialBuilder::default().with_max_times(2))))
    });
    // tower's `Retry` over a ready `service_fn`, with a policy that could retry every request
    // (it clones each one) and is never asked to: `ready` + `call`, as a server calls it.
    let mut tower_retry = ServiceBuilder::new()
        .retry(NeverRetried)
        .service_fn(|x: u64| async move { Ok::<_, &'static str>(x) });
    g.bench_function("tower", |b| {
        b.iter(|| {
            tokio_rt
                .block_on(async { tower_retry.ready().await.unwrap().call(black_box(42)).await })
        })
    });
    g.bench_function("bare", |b| b.iter(|| tokio_rt.block_on(op())));
    g.finish();
    report_allocations("retry_success_first_try/uno", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                retry.run(op).await.unwrap();
            }
        })
    });

    let mut g = uno_benches::Group::new(c, "rate_limit_check");
    let uno = RateLimiter::builder(&rt, 1_000_000_000, Duration::from_secs(1))
        .build()
        .unwrap();
    g.bench_function("uno", |b| b.iter(|| black_box(uno.try_acquire())));
    let gov = governor::RateLimiter::direct(governor::Quota::per_second(
        NonZeroU32::new(1_000_000_000).unwrap(),
    ));
    g.bench_function("governor", |b| b.iter(|| black_box(gov.check())));
    g.finish();
    report_allocations("rate_limit_check/uno", 1000, || {
        for _ in 0..1000 {
            let _ = uno.try_acquire();
        }
    });

    // Two threads checking one limiter at once: each iteration is one check on each thread, so
    // the time is per check per thread under contention (the arrival time's cache line bounces
    // between the cores on both sides; uno's admissions counter is striped).
    let mut g = uno_benches::Group::new(c, "rate_limit_check_2_threads");
    g.bench_function("uno", |b| {
        b.iter_custom(|iters| two_threads(iters, || drop(black_box(uno.try_acquire()))))
    });
    g.bench_function("governor", |b| {
        b.iter_custom(|iters| two_threads(iters, || drop(black_box(gov.check()))))
    });
    g.finish();

    // The limiter as a tower service, admitting every call: uno's `RateLimitLayer` (shedding,
    // never waiting) against tower's own `RateLimit` (a fixed window on tokio's clock, never
    // reached here), each over a ready `service_fn` driven by a current-thread `block_on`.
    let mut g = uno_benches::Group::new(c, "rate_limit_service");
    let mut uno_svc = ServiceBuilder::new()
        .layer(uno.layer().shed())
        .service_fn(|x: u64| async move { Ok::<_, Infallible>(x) });
    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async { uno_svc.ready().await.unwrap().call(black_box(42)).await })
        })
    });
    let mut tower_svc = tokio_rt.block_on(async {
        ServiceBuilder::new()
            .rate_limit(1_000_000_000, Duration::from_secs(1))
            .service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
    });
    g.bench_function("tower", |b| {
        b.iter(|| {
            tokio_rt.block_on(async { tower_svc.ready().await.unwrap().call(black_box(42)).await })
        })
    });
    g.finish();

    let mut g = uno_benches::Group::new(c, "bulkhead_call");
    let bulkhead = Bulkhead::builder(&rt, 5).build().unwrap();
    g.bench_function("uno", |b| b.iter(|| tokio_rt.block_on(bulkhead.run(op))));
    let mut tower_limit = ServiceBuilder::new()
        .concurrency_limit(5)
        .service_fn(|x: u64| async move { Ok::<_, Infallible>(x) });
    g.bench_function("tower", |b| {
        b.iter(|| {
            tokio_rt
                .block_on(async { tower_limit.ready().await.unwrap().call(black_box(42)).await })
        })
    });
    g.finish();
    report_allocations("bulkhead_call/uno", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                bulkhead.run(op).await.unwrap();
            }
        })
    });

    let mut g = uno_benches::Group::new(c, "breaker_call");
    let breaker = CircuitBreaker::builder(&rt).build().unwrap();
    g.bench_function("uno", |b| b.iter(|| tokio_rt.block_on(breaker.run(op))));
    g.bench_function("bare", |b| b.iter(|| tokio_rt.block_on(op())));
    g.finish();
    report_allocations("breaker_call/uno", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                breaker.run(op).await.unwrap();
            }
        })
    });

    let mut g = uno_benches::Group::new(c, "timeout_policy_call");
    let timeout = TimeoutPolicy::builder(&rt, Duration::from_secs(5))
        .message("call")
        .build()
        .unwrap();
    g.bench_function("uno", |b| b.iter(|| tokio_rt.block_on(timeout.run(op))));
    let mut tower_timeout = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .service_fn(|x: u64| async move { Ok::<_, Infallible>(x) });
    g.bench_function("tower", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                tower_timeout
                    .ready()
                    .await
                    .unwrap()
                    .call(black_box(42))
                    .await
            })
        })
    });
    g.finish();

    // The five decorators of the Uno seed, stacked as a `Pipeline`: cancellable, retry, attempt
    // timeout, rate limit, bulkhead (no circuit breaker: the seed has none; the five tower layers
    // with a breaker are `tower_stack` in benches/tower.rs). Anchor "tower": tower's timeout, rate
    // limit and concurrency limit, without retry or cancellation (tower has no such layers that
    // run without a policy of the caller's), so it does less than uno's stack.
    let mut g = uno_benches::Group::new(c, "seed_decorator_stack");
    let pipeline = Pipeline::builder(&rt)
        .cancellation(uno_core::sync::CancellationToken::new())
        .retry(
            Retry::builder(&rt)
                .max_attempts(3)
                .backoff(Backoff::exponential(Duration::from_millis(10), 2.0))
                .build()
                .unwrap(),
        )
        .attempt_timeout(Duration::from_secs(5), "attempt")
        .rate_limiter(
            RateLimiter::builder(&rt, 1_000_000_000, Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .bulkhead(Bulkhead::builder(&rt, 5).build().unwrap())
        .build()
        .unwrap();
    g.bench_function("uno", |b| b.iter(|| tokio_rt.block_on(pipeline.run(op))));
    // tower's rate limiter creates a tokio sleep when built: it must be inside the runtime.
    let entered = tokio_rt.enter();
    let mut tower_stack = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .rate_limit(1_000_000_000, Duration::from_secs(1))
        .concurrency_limit(5)
        .service_fn(|x: u64| async move { Ok::<_, Infallible>(x) });
    drop(entered);
    g.bench_function("tower", |b| {
        b.iter(|| {
            tokio_rt
                .block_on(async { tower_stack.ready().await.unwrap().call(black_box(42)).await })
        })
    });
    g.bench_function("bare", |b| b.iter(|| tokio_rt.block_on(op())));
    g.finish();
    report_allocations("seed_decorator_stack/uno", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                pipeline.run(op).await.unwrap();
            }
        })
    });
}

criterion_group!(benches, policies);
criterion_main!(benches);

/// Runs `check` `iters` times on each of two threads at once; the wall time of both.
fn two_threads(iters: u64, check: impl Fn() + Sync) -> Duration {
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            start.wait();
            for _ in 0..iters {
                check();
            }
        });
        start.wait();
        let began = std::time::Instant::now();
        for _ in 0..iters {
            check();
        }
        other.join().unwrap();
        began.elapsed()
    })
}

/// A tower retry policy for successful calls: it clones each request (so it could retry) and
/// retries nothing.
#[derive(Clone)]
struct NeverRetried;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for NeverRetried {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _req: &mut Req, _result: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}
