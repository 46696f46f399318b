//! The uno tour: what exists so far, run on tokio, smol and async-std in turn, then on virtual time.
//!
//! `cargo run -p uno-db-sqlx --example tour` — the database section runs on an embedded SQLite file;
//! give `-- postgres://user@host/db` (or set `UNO_TOUR_DATABASE_URL`) to run it on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uno_core::Runtime;
use uno_core::batch::AsyncBatcher;
use uno_core::cache::AsyncCache;
use uno_core::lifecycle::{self, on_close};
use uno_core::resilience::{Backoff, Bulkhead, CircuitBreaker, Pipeline, RateLimiter, Retry};
use uno_core::rt::VirtualRuntime;
use uno_core::sync::{AsyncEvent, AsyncLock, AsyncSemaphore, CancellationToken, cancellable};
use uno_core::task::TaskGroup;

mod db;
mod http;
mod redis;
mod redis_cache;

async fn tour(rt: Runtime) {
    // 1. Tasks: one handle, one drop policy, panics as values.
    let task = rt.spawn(async { 6 * 7 });
    println!("  task: spawned and joined -> {}", task.await.unwrap());

    let ran = Arc::new(AtomicUsize::new(0));
    let dropped = {
        let (rt2, ran) = (rt.clone(), ran.clone());
        rt.spawn(async move {
            rt2.sleep(Duration::from_millis(50)).await;
            ran.fetch_add(1, Ordering::SeqCst);
        })
    };
    drop(dropped);
    rt.sleep(Duration::from_millis(100)).await;
    println!(
        "  task: dropped a handle -> its task was cancelled (side effects: {})",
        ran.load(Ordering::SeqCst)
    );

    match rt.spawn(async { panic!("the disk is full") }).await {
        Err(error) if error.is_panic() => {
            let message = error.panic_message().unwrap_or_default();
            println!("  task: a panic came back as a value -> {message:?}");
            // The payload itself is kept: `error.resume_panic()` would re-raise it as it was.
            let payload = error.into_panic();
            println!(
                "  task: its payload is the original &str -> {:?}",
                payload.downcast_ref::<&str>()
            )
        }
        other => println!("  task: unexpected {other:?}"),
    }

    // Even a future that panics while it is being dropped (here: when cancelled) resolves.
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("clean-up failed");
        }
    }
    let bomb = PanicsOnDrop;
    let stuck = rt.spawn(async move {
        let _bomb = bomb;
        std::future::pending::<()>().await
    });
    match stuck.cancel_and_wait().await {
        Err(error) if error.is_panic() => {
            let message = error.panic_message().unwrap_or_default();
            println!("  task: cancelled, its Drop panicked -> reported: {message:?}")
        }
        other => println!("  task: unexpected {other:?}"),
    }

    let sum = rt
        .spawn_blocking(|| (1..=1000u64).sum::<u64>())
        .await
        .unwrap();
    println!("  task: spawn_blocking on the executor's pool -> {sum}");

    // 2. Time: sleeps and timeouts with a message, on the runtime's own clock.
    let start = rt.now();
    rt.sleep(Duration::from_millis(20)).await;
    println!("  time: slept {:?} (at least 20ms)", rt.now() - start);
    let err = rt
        .timeout(
            Duration::from_millis(30),
            "fetching the exchange rate",
            rt.sleep(Duration::from_secs(10)),
        )
        .await
        .unwrap_err();
    println!("  time: timeout -> {err}");

    // 3. Primitives.
    let counter = AsyncLock::named("counter", 0u32);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let counter = counter.clone();
            rt.spawn(async move {
                for _ in 0..100 {
                    *counter.lock().await += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    println!(
        "  sync: 8 tasks x 100 increments under AsyncLock -> {}",
        *counter.lock().await
    );

    let pool = AsyncSemaphore::new(2);
    let peak = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..6)
        .map(|_| {
            let (pool, peak, in_flight, rt2) =
                (pool.clone(), peak.clone(), in_flight.clone(), rt.clone());
            rt.spawn(async move {
                let _permit = pool.acquire().await.unwrap();
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                rt2.sleep(Duration::from_millis(10)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for job in jobs {
        job.await.unwrap();
    }
    println!(
        "  sync: 6 jobs through AsyncSemaphore(2) -> at most {} at once",
        peak.load(Ordering::SeqCst)
    );

    let ready = AsyncEvent::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let ready = ready.clone();
            rt.spawn(async move { ready.wait().await })
        })
        .collect();
    ready.set();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    println!("  sync: AsyncEvent set -> 3 waiters woken");

    // 4. Cancellation: a parent token cancels its children; cancellable() stops the work.
    let shutdown = CancellationToken::new();
    let request = shutdown.child_token();
    let work = {
        let rt2 = rt.clone();
        rt.spawn(cancellable(&request, async move {
            rt2.sleep(Duration::from_secs(60)).await;
        }))
    };
    rt.sleep(Duration::from_millis(10)).await;
    shutdown.cancel();
    println!(
        "  cancel: parent token cancelled -> child work returned {:?}",
        work.await.unwrap()
    );

    // 5. Batching: callers add one item each and get their own result; the batcher groups them.
    let batches = Arc::new(AtomicUsize::new(0));
    let counted = batches.clone();
    let squares: AsyncBatcher<u64, u64> = AsyncBatcher::builder(&rt, 10, Duration::from_millis(20))
        .name("squares")
        .build(move |items: Vec<u64>| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::ready(items.into_iter().map(|x| x * x).collect::<Vec<_>>())
        })
        .expect("a valid batcher configuration");
    let callers: Vec<_> = (1..=25u64)
        .map(|x| {
            let squares = squares.clone();
            rt.spawn(async move { squares.add_item(x).await })
        })
        .collect();
    let mut total = 0;
    for caller in callers {
        total += caller.await.unwrap().unwrap();
    }
    squares.shutdown().await;
    println!(
        "  batch: 25 callers (max 10 a batch), sum of their squares {total}, in {} batch calls",
        batches.load(Ordering::SeqCst)
    );
    // Greedy batching: with `flush_when_idle` a batch starts as soon as the runner is free, so a
    // lone item does not wait out its (hour-long) window; under load, batches grow by themselves.
    let greedy: AsyncBatcher<u64, u64> = AsyncBatcher::builder(&rt, 10, Duration::from_secs(3600))
        .name("greedy")
        .flush_when_idle()
        .build(|items: Vec<u64>| std::future::ready(items))
        .expect("a valid batcher configuration");
    let lone = rt
        .timeout(Duration::from_secs(5), "the lone item", greedy.add_item(7))
        .await
        .expect("flush_when_idle does not wait for the window");
    println!(
        "  batch: flush_when_idle answered a lone item ({}) at once, in {} idle flush",
        lone.unwrap(),
        greedy.stats().idle_flushes
    );
    greedy.shutdown().await;

    // 6. Caching: concurrent misses share one fetch; later reads are hits.
    let fetches = Arc::new(AtomicUsize::new(0));
    let prices: AsyncCache<&'static str, u64, String> = AsyncCache::builder(&rt)
        .max_capacity(100)
        .ttl(Duration::from_secs(60))
        .refresh_after(Duration::from_secs(50))
        .build()
        .expect("a valid cache configuration");
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let (prices, fetches, rt2) = (prices.clone(), fetches.clone(), rt.clone());
            rt.spawn(async move {
                prices
                    .get("EURUSD", || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        rt2.sleep(Duration::from_millis(10)).await;
                        Ok(108)
                    })
                    .await
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap().unwrap();
    }
    let again = prices.get("EURUSD", || async { Ok(0) }).await.unwrap();
    assert_eq!(
        again, 108,
        "a hit returns the cached value, not the fetch's"
    );
    let stats = prices.stats();
    println!(
        "  cache: 20 concurrent readers of one key -> {} fetch; then a read -> {} hit ({} misses)",
        fetches.load(Ordering::SeqCst),
        stats.hits,
        stats.misses
    );
}

/// Structured concurrency, resilience and lifecycle: the application-level features.
async fn tour_application(rt: Runtime) {
    // 7. A task group fails fast: the first error cancels the siblings and nothing outlives it.
    let cancelled = Arc::new(AtomicUsize::new(0));
    let group: TaskGroup<&str, String> = TaskGroup::new(&rt);
    for name in ["inventory", "pricing"] {
        let (rt2, cancelled) = (rt.clone(), cancelled.clone());
        group.spawn(name, async move {
            struct OnDrop(Arc<AtomicUsize>);
            impl Drop for OnDrop {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _probe = OnDrop(cancelled);
            rt2.sleep(Duration::from_secs(60)).await;
            Ok(name)
        });
    }
    let rt2 = rt.clone();
    group.spawn("payments", async move {
        rt2.sleep(Duration::from_millis(20)).await;
        Err("card declined".to_string())
    });
    match group.join_all().await {
        Err(error) => println!(
            "  group: fail-fast -> {} ; siblings cancelled: {}",
            error.first,
            cancelled.load(Ordering::SeqCst)
        ),
        Ok(all) => println!("  group: unexpected success {all:?}"),
    }

    // Rust has no async drop, yet dropping a group drops its children's futures before the drop
    // returns: nothing outlives it, not even until the executor next runs them.
    let alive = Arc::new(AtomicUsize::new(0));
    let group: TaskGroup<(), String> = TaskGroup::builder(&rt).max_concurrency(2).build().unwrap();
    for i in 0..4 {
        let (rt2, alive) = (rt.clone(), alive.clone());
        alive.fetch_add(1, Ordering::SeqCst);
        struct Alive(Arc<AtomicUsize>);
        impl Drop for Alive {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let guard = Alive(alive);
        group.spawn(format!("worker-{i}"), async move {
            let _guard = guard;
            rt2.sleep(Duration::from_secs(60)).await;
            Ok(())
        });
    }
    rt.sleep(Duration::from_millis(5)).await;
    drop(group);
    println!(
        "  group: dropped with 4 children (2 running, 2 waiting in spawn order) -> alive after drop: {}",
        alive.load(Ordering::SeqCst)
    );

    // 8. Resilience: a flaky operation behind the whole Uno decorator stack.
    let pipeline = Pipeline::builder(&rt)
        .name("quotes")
        .timeout(Duration::from_secs(10), "fetching the quote")
        .retry(
            Retry::builder(&rt)
                .name("quotes")
                .max_attempts(4)
                .backoff(Backoff::exponential(Duration::from_millis(10), 2.0))
                .build()
                .expect("a valid retry"),
        )
        .attempt_timeout(Duration::from_secs(1), "one attempt")
        .circuit_breaker(
            CircuitBreaker::builder(&rt)
                .name("quotes-api")
                .build()
                .expect("a valid breaker"),
        )
        .rate_limiter(
            RateLimiter::builder(&rt, 100, Duration::from_secs(1))
                .build()
                .expect("a valid limiter"),
        )
        .bulkhead(Bulkhead::builder(&rt, 5).build().expect("a valid bulkhead"))
        .build()
        .expect("a valid pipeline");
    let attempts = Arc::new(AtomicUsize::new(0));
    let start = rt.now();
    let quote = pipeline
        .run(|| {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n < 3 {
                    Err("503 Service Unavailable")
                } else {
                    Ok(108)
                }
            }
        })
        .await;
    println!(
        "  resilience: flaky call -> {quote:?} after {} attempts in {:?} (backoff 10 + 20 ms)",
        attempts.load(Ordering::SeqCst),
        rt.now() - start
    );
    // A limiter on its own: lock-free checks on the adapter's monotonic clock (a calibrated CPU
    // counter) where the runtime lends one, on the runtime's `now()` under virtual time.
    let limiter = RateLimiter::builder(&rt, 100, Duration::from_secs(1))
        .burst(10)
        .build()
        .expect("a valid limiter");
    let admitted = (0..15).filter(|_| limiter.try_acquire().is_ok()).count();
    let refused = limiter.try_acquire().expect_err("past the burst");
    println!(
        "  resilience: a 100/s limiter (burst 10) admitted {admitted} of 15 at once, then \
         retry after ~{:?}; its clock: {}",
        Duration::from_millis(
            refused
                .retry_after
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX)
        ),
        if rt.timer().monotonic_clock().is_some() {
            "the machine's counter"
        } else {
            "the runtime's (virtual) time"
        }
    );

    // 9. Lifecycle: startup, a programmatic shutdown, then tasks stop and resources close LIFO.
    let closed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let report = lifecycle::run_application(
        &rt,
        |manager| {
            let (closed, rt2) = (closed.clone(), rt.clone());
            async move {
                for name in ["database", "cache", "http-server"] {
                    let closed = closed.clone();
                    manager.register_resource(
                        name,
                        on_close(move || {
                            closed.lock().unwrap().push(name);
                            async { Ok(()) }
                        }),
                    )?;
                }
                let token = manager.shutdown_token();
                manager.spawn_task("heartbeat", async move {
                    token.cancelled().await;
                    Ok::<_, String>(())
                })?;
                let (stopper, clock) = (manager.clone(), rt2.clone());
                rt2.spawn(async move {
                    clock.sleep(Duration::from_millis(20)).await;
                    stopper.request_shutdown(); // as SIGTERM would
                })
                .detach();
                Ok::<_, uno_core::lifecycle::LifecycleError>(())
            }
        },
        |_manager| async {},
        std::future::pending::<()>(),
        Duration::from_secs(5),
    )
    .await
    .expect("the application starts");
    println!(
        "  lifecycle: shutdown {:?}, clean: {}, resources closed in order {:?}",
        report.reason,
        report.is_clean(),
        closed.lock().unwrap()
    );

    // 10. A scoped exit stack: a `?` leaves the body, and both resources are closed (LIFO) before
    //     the caller sees the error.
    let closed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = closed.clone();
    // Named, so its errors, metrics and events say which group (`context_group(&rt, ..)` is the
    // same with the default name).
    let group = lifecycle::AsyncContextGroup::builder(&rt)
        .name("import")
        .build()
        .expect("a valid configuration");
    let result = group
        .scoped(|scope| async move {
            for name in ["connection", "transaction"] {
                let log = log.clone();
                scope.enter_named(
                    name,
                    on_close(move || {
                        log.lock().unwrap().push(name);
                        async { Ok(()) }
                    }),
                );
            }
            let rows: u32 = "many".parse().map_err(|_| "not a row count")?;
            Ok::<_, &str>(rows)
        })
        .await;
    println!(
        "  lifecycle: scoped group left by `?` -> {:?}, already closed {:?}",
        result.map_err(|e| e.to_string()),
        closed.lock().unwrap()
    );
}

/// The database section, then its outcome.
async fn tour_database(rt: Runtime, url: Option<String>) {
    if let Err(error) = db::tour_section(&rt, url.as_deref()).await {
        println!("  db: the database section failed: {error}");
    }
}

fn main() {
    // The tour panics inside a task on purpose; show uno's report of it, not the default hook's.
    std::panic::set_hook(Box::new(|_| {}));
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("UNO_TOUR_DATABASE_URL").ok());
    println!("uno tour: the same code on every runtime\n");

    println!("tokio (multi-thread):");
    let db_url = url.clone();
    uno_tokio::run(|rt| async move {
        tour(rt.clone()).await;
        tour_application(rt.clone()).await;
        http::tour_section(&rt, http::Net::Tokio).await;
        redis::tour_section(&rt).await;
        tour_database(rt, db_url).await;
    })
    .expect("tokio runtime");

    println!("\nsmol:");
    let db_url = url.clone();
    uno_smol::run(|rt| async move {
        tour(rt.clone()).await;
        tour_application(rt.clone()).await;
        http::tour_section(&rt, http::Net::Smol).await;
        redis::tour_section(&rt).await;
        tour_database(rt, db_url).await;
    });

    println!("\nasync-std (discontinued upstream; prefer smol):");
    let db_url = url.clone();
    uno_async_std::run(|rt| async move {
        tour(rt.clone()).await;
        tour_application(rt.clone()).await;
        http::tour_section(&rt, http::Net::AsyncStd).await;
        redis::tour_section(&rt).await;
        tour_database(rt, db_url).await;
    });

    println!("\nvirtual time (deterministic, instant):");
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let wall = std::time::Instant::now();
    vrt.block_on(async move {
        tour(rt.clone()).await;
        tour_application(rt.clone()).await;
        http::tour_section(&rt, http::Net::Memory).await;
        let start = rt.now();
        rt.sleep(Duration::from_secs(24 * 3600)).await;
        println!("  virtual: slept {:?} of virtual time", rt.now() - start);
    });
    println!(
        "  virtual: the whole section took {:?} of real time",
        wall.elapsed()
    );
}
