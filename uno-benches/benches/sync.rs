//! Locks, semaphores and timeouts: uno beside async-lock, tokio::sync and std.
//!
//! Uncontended paths are polled by hand (`futures_lite::future::block_on`, no runtime), so the
//! runtime's own cost does not hide uno's.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use uno_benches::report_allocations;
use uno_core::sync::{AsyncLock, AsyncSemaphore};

#[global_allocator]
static ALLOC: uno_benches::CountingAllocator = uno_benches::CountingAllocator;

fn lock_uncontended(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "lock_uncontended");
    let uno = AsyncLock::new(0u64);
    g.bench_function("uno", |b| {
        b.iter(|| block_on(async { *uno.lock().await += 1 }))
    });
    let al = async_lock::Mutex::new(0u64);
    g.bench_function("async-lock", |b| {
        b.iter(|| block_on(async { *al.lock().await += 1 }))
    });
    let tk = tokio::sync::Mutex::new(0u64);
    g.bench_function("tokio", |b| {
        b.iter(|| block_on(async { *tk.lock().await += 1 }))
    });
    let std = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| b.iter(|| *std.lock().unwrap() += 1));
    g.finish();
    report_allocations("lock_uncontended/uno", 1000, || {
        for _ in 0..1000 {
            block_on(async { *uno.lock().await += 1 });
        }
    });
}

fn lock_contended(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "lock_contended_8_tasks");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const ROUNDS: u64 = 200;
    // One workload for every lock: 8 tasks, each locking ROUNDS times. Only the lock differs.
    macro_rules! contended {
        ($name:literal, $new_lock:expr) => {
            g.bench_function($name, |b| {
                b.iter(|| {
                    rt.block_on(async {
                        let lock = $new_lock;
                        let tasks: Vec<_> = (0..8)
                            .map(|_| {
                                let lock = lock.clone();
                                tokio::spawn(async move {
                                    for _ in 0..ROUNDS {
                                        *lock.lock().await += 1;
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    })
                })
            });
        };
    }
    contended!("uno", AsyncLock::new(0u64));
    contended!("tokio", std::sync::Arc::new(tokio::sync::Mutex::new(0u64)));
    contended!(
        "async-lock",
        std::sync::Arc::new(async_lock::Mutex::new(0u64))
    );
    g.finish();
}

fn semaphore(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "semaphore_acquire_release");
    let uno = AsyncSemaphore::new(10);
    g.bench_function("uno", |b| {
        b.iter(|| block_on(async { drop(black_box(uno.acquire().await.unwrap())) }))
    });
    let tk = tokio::sync::Semaphore::new(10);
    g.bench_function("tokio", |b| {
        b.iter(|| block_on(async { drop(black_box(tk.acquire().await.unwrap())) }))
    });
    let al = async_lock::Semaphore::new(10);
    g.bench_function("async-lock", |b| {
        b.iter(|| block_on(async { drop(black_box(al.acquire().await)) }))
    });
    g.finish();
    report_allocations("semaphore_acquire_release/uno", 1000, || {
        for _ in 0..1000 {
            block_on(async { drop(uno.acquire().await.unwrap()) });
        }
    });
}

fn timeout_ready(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "timeout_ready_future");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let d = Duration::from_secs(1);
    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                rt.timeout(d, "bench", async { black_box(1) })
                    .await
                    .unwrap()
            })
        })
    });
    g.bench_function("tokio", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                tokio::time::timeout(d, async { black_box(1) })
                    .await
                    .unwrap()
            })
        })
    });
    g.finish();
    report_allocations("timeout_ready_future/uno", 1000, || {
        tokio_rt.block_on(async {
            for _ in 0..1000 {
                rt.timeout(d, "bench", async { black_box(1) })
                    .await
                    .unwrap();
            }
        })
    });
}

fn event(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "event_set_wait");
    let uno = uno_core::sync::AsyncEvent::new();
    g.bench_function("uno", |b| {
        b.iter(|| {
            uno.set();
            block_on(uno.wait());
            uno.clear();
        })
    });
    let notify = tokio::sync::Notify::new();
    g.bench_function("tokio-notify", |b| {
        b.iter(|| {
            notify.notify_one();
            block_on(notify.notified());
        })
    });
    g.finish();
}

fn timeout_pending(c: &mut Criterion) {
    let mut g = uno_benches::Group::new(c, "timeout_pending_then_ready");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = uno_tokio::runtime_from(tokio_rt.handle().clone()).unwrap();
    let d = Duration::from_secs(1);
    // The inner future is pending once (a yield), so the timer is armed, then it completes.
    g.bench_function("uno", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                rt.timeout(d, "bench", tokio::task::yield_now())
                    .await
                    .unwrap()
            })
        })
    });
    g.bench_function("tokio", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                tokio::time::timeout(d, tokio::task::yield_now())
                    .await
                    .unwrap()
            })
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    lock_uncontended,
    lock_contended,
    semaphore,
    event,
    timeout_ready,
    timeout_pending
);
criterion_main!(benches);
