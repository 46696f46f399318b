//! Cases: [`AsyncCache`] — TTL, refresh-before-expiry, single-flight loads (with cancelled and
//! panicking leaders, and the hand-over of a load between its readers), errors and negative TTL, eviction, invalidation, statistics, configuration.
//!
//! Time is counted in units: one second on virtual time, 25 ms on real clocks, where only the order
//! of events is asserted and every window is several units wide.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_cache {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; cache:
            ttl_expires_entries,
            refresh_ahead_runs_once_under_concurrent_reads,
            failed_refresh_keeps_old_value_and_is_reported,
            stuck_refresh_blocks_neither_expiry_nor_later_refreshes,
            concurrent_misses_coalesce_into_one_fetch,
            cancelled_leader_does_not_strand_waiters,
            dropped_driver_hands_the_load_to_a_waiter,
            last_waiter_dropped_mid_fetch_still_fills_the_cache,
            fetch_panicking_while_a_waiter_drives_it_reaches_every_reader,
            panicking_fetch_is_an_error_for_every_waiter,
            fetch_error_is_shared_and_not_cached,
            negative_ttl_caches_errors_for_a_while,
            fetch_timeout_gives_up_on_a_stuck_load,
            capacity_evicts_least_recently_used,
            invalidate_and_clear_remove_entries_and_detach_loads,
            stats_count_every_outcome,
            invalid_configuration_is_a_typed_error,
            clones_share_one_cache_across_tasks,
        }
    };
}

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::cache::{AsyncCache, CacheConfigError, CacheError, CacheStats};
use uno_core::sync::AsyncEvent;
use uno_core::task::yield_now;

use crate::support::{assert_duration, eventually};
use crate::{Env, assert_send_sync, poll_times};

type Cache = AsyncCache<u32, u32, &'static str>;
type Outcome = Result<u32, CacheError<&'static str>>;

/// One unit of time: exact on virtual time, roomy on real clocks.
fn unit(env: &Env) -> Duration {
    if env.is_virtual_time() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(25)
    }
}

fn cache(env: &Env, capacity: usize, ttl: u32, refresh_after: Option<u32>) -> Cache {
    let mut builder = AsyncCache::builder(env.rt())
        .max_capacity(capacity)
        .ttl(unit(env) * ttl);
    if let Some(refresh_after) = refresh_after {
        builder = builder.refresh_after(unit(env) * refresh_after);
    }
    builder.build().unwrap()
}

/// A fetch that counts its runs and returns `outcome` at once.
fn counted(
    calls: &Arc<AtomicUsize>,
    outcome: Result<u32, &'static str>,
) -> impl FnOnce() -> std::future::Ready<Result<u32, &'static str>> + use<> {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(outcome)
    }
}

/// A fetch that counts its runs, waits for `release`, then returns `outcome`.
fn gated(
    calls: &Arc<AtomicUsize>,
    release: &AsyncEvent,
    outcome: Result<u32, &'static str>,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>> + use<>
{
    let (calls, release) = (calls.clone(), release.clone());
    move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            release.wait().await;
            outcome
        })
    }
}

/// Spawns `n` readers of `key` whose fetch (if it were ever called) returns `fallback`.
fn readers(
    env: &Env,
    cache: &Cache,
    n: usize,
    key: u32,
    calls: &Arc<AtomicUsize>,
    fallback: Result<u32, &'static str>,
) -> Vec<uno_core::Task<Outcome>> {
    (0..n)
        .map(|_| {
            let (cache, fetch) = (cache.clone(), counted(calls, fallback));
            env.rt().spawn(async move { cache.get(key, fetch).await })
        })
        .collect()
}

async fn join_all(tasks: Vec<uno_core::Task<Outcome>>) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("a reader task failed"));
    }
    outcomes
}

/// A value is served until its TTL has passed, then loaded again.
pub async fn ttl_expires_entries(env: Env) {
    let cache = cache(&env, 10, 4, None);
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(cache.get(1, counted(&calls, Ok(10))).await, Ok(10));
    assert_eq!(cache.get(1, counted(&calls, Ok(11))).await, Ok(10));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a hit must not fetch");

    env.rt().sleep(unit(&env) * 5).await;
    assert_eq!(cache.peek(&1), None, "expired");
    assert_eq!(cache.get(1, counted(&calls, Ok(12))).await, Ok(12));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    if env.is_virtual_time() {
        // Exactly: served up to the last instant before `ttl`, reloaded at `ttl`.
        assert_eq!(cache.get(2, counted(&calls, Ok(20))).await, Ok(20));
        env.rt()
            .sleep(unit(&env) * 4 - Duration::from_nanos(1))
            .await;
        assert_eq!(cache.get(2, counted(&calls, Ok(21))).await, Ok(20));
        env.rt().sleep(Duration::from_nanos(1)).await;
        assert_eq!(cache.get(2, counted(&calls, Ok(22))).await, Ok(22));
    }
}

/// In the refresh window, 50 concurrent reads all get the cached value at once and start exactly
/// one background refresh, whose value then replaces the old one.
pub async fn refresh_ahead_runs_once_under_concurrent_reads(env: Env) {
    let cache = cache(&env, 10, 40, Some(2));
    let (loads, refreshes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    assert_eq!(cache.get(1, counted(&loads, Ok(1))).await, Ok(1));
    env.rt().sleep(unit(&env) * 3).await;

    let release = AsyncEvent::new();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, fetch) = (cache.clone(), gated(&refreshes, &release, Ok(2)));
            env.rt().spawn(async move { cache.get(1, fetch).await })
        })
        .collect();
    for outcome in join_all(tasks).await {
        assert_eq!(
            outcome,
            Ok(1),
            "a read in the refresh window returns the cached value"
        );
    }
    eventually(&env, "the refresh started", || {
        refreshes.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        cache.stats().refreshes,
        1,
        "exactly one refresh for 50 reads"
    );
    release.set();
    eventually(&env, "the refreshed value is cached", || {
        cache.peek(&1) == Some(2)
    })
    .await;
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.loads, stats.refreshes, stats.refresh_failures),
        (1, 1, 0)
    );
    assert_eq!(stats.hits, 50);
    if env.is_virtual_time() {
        // The refreshed value got a new TTL, counted from the refresh.
        env.rt().sleep(unit(&env) * 39).await;
        assert_eq!(cache.peek(&1), Some(2));
    }
}

/// A failed refresh keeps serving the old value until it expires, and is reported (stats and the
/// listener).
pub async fn failed_refresh_keeps_old_value_and_is_reported(env: Env) {
    let reported = Arc::new(Mutex::new(Vec::new()));
    let cache: Cache = {
        let reported = reported.clone();
        AsyncCache::builder(env.rt())
            .name("quotes")
            .max_capacity(10)
            .ttl(unit(&env) * 40)
            .refresh_after(unit(&env) * 2)
            .on_refresh_error(move |key, error| {
                reported.lock().unwrap().push((*key, error.clone()));
            })
            .build()
            .unwrap()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(cache.get(1, counted(&calls, Ok(1))).await, Ok(1));
    env.rt().sleep(unit(&env) * 3).await;
    assert_eq!(
        cache.get(1, counted(&calls, Err("refresh boom"))).await,
        Ok(1)
    );
    eventually(&env, "the refresh failure is reported", || {
        !reported.lock().unwrap().is_empty()
    })
    .await;
    eventually(&env, "the refresh failure is counted", || {
        cache.stats().refresh_failures == 1
    })
    .await;
    assert_eq!(
        *reported.lock().unwrap(),
        vec![(
            1,
            CacheError::Failed {
                name: "quotes".into(),
                error: Arc::new("refresh boom")
            }
        )]
    );
    assert_eq!(cache.peek(&1), Some(1), "the old value is kept");
    assert_eq!(
        cache.stats().load_failures,
        0,
        "a refresh failure is not a load failure"
    );

    env.rt().sleep(unit(&env) * 38).await;
    assert_eq!(cache.peek(&1), None, "kept only until its expiry");
    assert_eq!(cache.get(1, counted(&calls, Ok(5))).await, Ok(5));
}

/// A refresh that never finishes does not keep the entry alive past its TTL, and the reloaded entry
/// refreshes normally.
pub async fn stuck_refresh_blocks_neither_expiry_nor_later_refreshes(env: Env) {
    let cache = cache(&env, 10, 16, Some(2));
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(cache.get(1, counted(&calls, Ok(1))).await, Ok(1));
    env.rt().sleep(unit(&env) * 3).await;
    let stuck = std::future::pending::<Result<u32, &'static str>>;
    assert_eq!(cache.get(1, stuck).await, Ok(1));
    assert_eq!(cache.get(1, stuck).await, Ok(1));
    assert_eq!(
        cache.stats().refreshes,
        1,
        "one refresh in flight at a time"
    );

    env.rt().sleep(unit(&env) * 14).await; // past the TTL, the refresh still stuck
    assert_eq!(cache.get(1, counted(&calls, Ok(2))).await, Ok(2));
    env.rt().sleep(unit(&env) * 3).await; // in the new value's refresh window
    assert_eq!(cache.get(1, counted(&calls, Ok(3))).await, Ok(2));
    eventually(&env, "the second refresh lands", || {
        cache.peek(&1) == Some(3)
    })
    .await;
    assert_eq!(cache.stats().refreshes, 2);
    if env.is_virtual_time() {
        // The stuck refresh was dropped at its limit (the TTL) and reported, but wrote nothing.
        assert_eq!(cache.stats().refresh_failures, 1);
    }
}

/// 100 concurrent misses of one key run exactly one fetch, and all get its value.
pub async fn concurrent_misses_coalesce_into_one_fetch(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let (calls, others) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let release = AsyncEvent::new();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, fetch) = (cache.clone(), gated(&calls, &release, Ok(77)));
            env.rt().spawn(async move { cache.get(7, fetch).await })
        })
        .collect();
    eventually(&env, "100 readers wait", || cache.stats().misses == 100).await;
    release.set();
    for outcome in join_all(tasks).await {
        assert_eq!(outcome, Ok(77));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one fetch");
    assert_eq!(cache.get(7, counted(&others, Ok(0))).await, Ok(77));
    assert_eq!(others.load(Ordering::SeqCst), 0);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.loads, stats.hits), (100, 1, 1));
}

/// The reader that started a load is dropped mid-wait: the others still get the value, from the
/// same fetch; and a load whose readers all left still fills the cache.
pub async fn cancelled_leader_does_not_strand_waiters(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let (calls, others) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let release = AsyncEvent::new();
    let leader = cache.get(1, gated(&calls, &release, Ok(1)));
    assert!(
        poll_times(leader, 3).await.is_none(),
        "the leader is dropped"
    );
    assert_eq!(cache.stats().loads, 1, "the leader started the load");
    eventually(&env, "the fetch runs", || calls.load(Ordering::SeqCst) == 1).await;

    let followers = readers(&env, &cache, 10, 1, &others, Ok(999));
    eventually(&env, "the followers wait", || cache.stats().misses == 11).await;
    release.set();
    for outcome in join_all(followers).await {
        assert_eq!(
            outcome,
            Ok(1),
            "a follower hung on, or refetched after, the dropped leader"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(others.load(Ordering::SeqCst), 0);

    // Alone and dropped: the fetch finishes detached and the value is cached.
    let release = AsyncEvent::new();
    assert!(
        poll_times(cache.get(2, gated(&calls, &release, Ok(2))), 2)
            .await
            .is_none()
    );
    release.set();
    eventually(&env, "the detached load fills the cache", || {
        cache.peek(&2) == Some(2)
    })
    .await;
}

/// The reader driving a load (the one that started it, polling the fetch in its own task) is
/// dropped mid-fetch while others wait: one of them drives the same fetch on — it is not started
/// again, and it makes progress (its wake-ups reach the new driver) — and every waiter gets its
/// value, which is cached.
pub async fn dropped_driver_hands_the_load_to_a_waiter(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let (calls, others) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (first_step, release) = (AsyncEvent::new(), AsyncEvent::new());
    let fetch = {
        let (calls, first_step, release) = (calls.clone(), first_step.clone(), release.clone());
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            first_step.wait().await; // where the first driver leaves it
            release.wait().await; // where the next driver must be woken
            Ok(5)
        }
    };
    let mut driver = Box::pin(cache.get(1, fetch));
    assert!(
        futures_lite::future::poll_once(driver.as_mut())
            .await
            .is_none()
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the reader drives the fetch"
    );
    let followers = readers(&env, &cache, 5, 1, &others, Ok(999));
    eventually(&env, "the followers wait", || cache.stats().misses == 6).await;
    drop(driver);
    first_step.set();
    // Not yet released: the load must still be in flight, driven by a follower.
    for _ in 0..5 {
        yield_now().await;
    }
    assert_eq!(cache.peek(&1), None, "the load waits for its release");
    release.set();
    for outcome in join_all(followers).await {
        assert_eq!(
            outcome,
            Ok(5),
            "a waiter hung on, or refetched after, the dropped driver"
        );
    }
    assert_eq!(
        (calls.load(Ordering::SeqCst), others.load(Ordering::SeqCst)),
        (1, 0),
        "one fetch, never restarted"
    );
    assert_eq!(cache.peek(&1), Some(5));
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.load_failures), (1, 0));
}

/// The driver leaves its load to a waiter, and that waiter is dropped too before it ever polls
/// again: with no reader left, the rest of the fetch runs detached and still fills the cache; a
/// reader that comes later joins it instead of fetching again.
pub async fn last_waiter_dropped_mid_fetch_still_fills_the_cache(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let (calls, others) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let release = AsyncEvent::new();
    let mut driver = Box::pin(cache.get(1, gated(&calls, &release, Ok(8))));
    let mut waiter = Box::pin(cache.get(1, counted(&others, Ok(999))));
    assert!(
        futures_lite::future::poll_once(driver.as_mut())
            .await
            .is_none()
    );
    assert!(
        futures_lite::future::poll_once(waiter.as_mut())
            .await
            .is_none()
    );
    drop(driver); // the load is parked for the waiter...
    drop(waiter); // ...which leaves without taking it
    let late = readers(&env, &cache, 1, 1, &others, Ok(999));
    eventually(&env, "the late reader joins", || cache.stats().misses == 3).await;
    release.set();
    eventually(&env, "the detached load fills the cache", || {
        cache.peek(&1) == Some(8)
    })
    .await;
    assert_eq!(join_all(late).await, vec![Ok(8)]);
    assert_eq!(
        (calls.load(Ordering::SeqCst), others.load(Ordering::SeqCst)),
        (1, 0)
    );
    assert_eq!(cache.stats().loads, 1);
}

/// A load handed to a waiter whose fetch then panics (in a poll, and in a second round in its
/// `Drop` once finished): every reader gets `Panicked`, nobody hangs, and the key loads normally
/// afterwards.
pub async fn fetch_panicking_while_a_waiter_drives_it_reaches_every_reader(env: Env) {
    for in_drop in [false, true] {
        let cache = cache(&env, 10, 40, None);
        let others = Arc::new(AtomicUsize::new(0));
        let release = AsyncEvent::new();
        let fetch = {
            let release = release.clone();
            move || -> std::pin::Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>> {
                let work = async move {
                    release.wait().await;
                    if !in_drop {
                        panic!("driven fetch boom");
                    }
                    Ok(1)
                };
                if in_drop {
                    Box::pin(crate::support::panics_on_drop("driven fetch boom", work))
                } else {
                    Box::pin(work)
                }
            }
        };
        let mut driver = Box::pin(cache.get(1, fetch));
        assert!(
            futures_lite::future::poll_once(driver.as_mut())
                .await
                .is_none()
        );
        let followers = readers(&env, &cache, 4, 1, &others, Ok(999));
        eventually(&env, "the followers wait", || cache.stats().misses == 5).await;
        drop(driver);
        for _ in 0..5 {
            yield_now().await; // a follower takes the load over
        }
        release.set();
        for outcome in join_all(followers).await {
            assert_eq!(
                outcome,
                Err(CacheError::Panicked {
                    name: "cache".into(),
                    message: "driven fetch boom".into()
                }),
                "in_drop: {in_drop}"
            );
        }
        assert_eq!(cache.peek(&1), None);
        assert_eq!(cache.get(1, counted(&others, Ok(2))).await, Ok(2));
        assert_eq!(others.load(Ordering::SeqCst), 1);
        let stats = cache.stats();
        assert_eq!(
            (stats.loads, stats.load_failures),
            (2, 1),
            "in_drop: {in_drop}"
        );
    }
}

/// A fetch that panics gives every waiter `CacheError::Panicked` (nobody panics, nobody hangs), and
/// the next read loads normally. A fetch closure that panics before returning its future too.
pub async fn panicking_fetch_is_an_error_for_every_waiter(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let calls = Arc::new(AtomicUsize::new(0));
    let release = AsyncEvent::new();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (cache, release) = (cache.clone(), release.clone());
            env.rt().spawn(async move {
                cache
                    .get(1, move || async move {
                        release.wait().await;
                        panic!("fetch boom")
                    })
                    .await
            })
        })
        .collect();
    eventually(&env, "10 readers wait", || cache.stats().misses == 10).await;
    release.set();
    for outcome in join_all(tasks).await {
        assert_eq!(
            outcome,
            Err(CacheError::Panicked {
                name: "cache".into(),
                message: "fetch boom".into()
            })
        );
    }
    assert_eq!(cache.get(1, counted(&calls, Ok(5))).await, Ok(5));

    fn exploding() -> std::future::Ready<Result<u32, &'static str>> {
        panic!("closure boom")
    }
    let outcome = cache.get(2, exploding).await;
    assert!(
        outcome.as_ref().is_err_and(CacheError::is_panic),
        "{outcome:?}"
    );
    assert_eq!(cache.get(2, counted(&calls, Ok(6))).await, Ok(6));
    assert_eq!(cache.stats().load_failures, 2);
}

/// An error reaches every reader of that load, shared, and is not cached.
pub async fn fetch_error_is_shared_and_not_cached(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let (calls, others) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let release = AsyncEvent::new();
    let first = {
        let (cache, fetch) = (cache.clone(), gated(&calls, &release, Err("down")));
        env.rt().spawn(async move { cache.get(1, fetch).await })
    };
    eventually(&env, "the load starts", || cache.stats().loads == 1).await;
    let mut tasks = readers(&env, &cache, 4, 1, &others, Ok(999));
    tasks.push(first);
    eventually(&env, "5 readers wait", || cache.stats().misses == 5).await;
    release.set();
    for outcome in join_all(tasks).await {
        let error = outcome.unwrap_err();
        assert_eq!(error.fetch_error(), Some(&"down"));
    }
    assert_eq!(
        (calls.load(Ordering::SeqCst), others.load(Ordering::SeqCst)),
        (1, 0)
    );
    assert_eq!(cache.peek(&1), None);
    assert_eq!(
        cache.get(1, counted(&calls, Ok(3))).await,
        Ok(3),
        "not cached"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().load_failures, 1);
}

/// With a negative TTL an error is cached for that long, then the key is loaded again.
pub async fn negative_ttl_caches_errors_for_a_while(env: Env) {
    let cache: Cache = AsyncCache::builder(env.rt())
        .max_capacity(10)
        .ttl(unit(&env) * 40)
        .negative_ttl(unit(&env) * 4)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let down = Err(CacheError::Failed {
        name: "cache".into(),
        error: Arc::new("down"),
    });
    assert_eq!(cache.get(1, counted(&calls, Err("down"))).await, down);
    assert_eq!(cache.get(1, counted(&calls, Ok(4))).await, down, "cached");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.peek(&1), None, "peek sees no value");
    env.rt().sleep(unit(&env) * 5).await;
    assert_eq!(cache.get(1, counted(&calls, Ok(4))).await, Ok(4));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.load_failures), (1, 2, 1));
}

/// A fetch timeout turns a load that never finishes into `CacheError::TimedOut` for its readers.
pub async fn fetch_timeout_gives_up_on_a_stuck_load(env: Env) {
    let cache: Cache = AsyncCache::builder(env.rt())
        .max_capacity(10)
        .fetch_timeout(unit(&env) * 2)
        .build()
        .unwrap();
    let start = env.rt().now();
    let outcome = cache
        .get(1, std::future::pending::<Result<u32, &'static str>>)
        .await;
    assert!(
        outcome.as_ref().is_err_and(CacheError::is_timeout),
        "{outcome:?}"
    );
    assert_duration(
        &env,
        env.rt().now() - start,
        unit(&env) * 2,
        unit(&env) * 2..,
        "the stuck load (until its fetch timeout)",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(cache.get(1, counted(&calls, Ok(1))).await, Ok(1));
}

/// At capacity, a new entry evicts the least recently used one; the cache never grows past it.
pub async fn capacity_evicts_least_recently_used(env: Env) {
    let cache = cache(&env, 3, 40, None);
    let calls = Arc::new(AtomicUsize::new(0));
    for key in 1..=3 {
        assert_eq!(cache.get(key, counted(&calls, Ok(key))).await, Ok(key));
    }
    assert_eq!(cache.get(1, counted(&calls, Ok(0))).await, Ok(1)); // 1 is now the most recent
    assert_eq!(cache.get(4, counted(&calls, Ok(4))).await, Ok(4));
    assert_eq!(cache.entry_count(), 3);
    assert_eq!(cache.peek(&2), None, "2 was the least recently used");
    for key in [1, 3, 4] {
        assert_eq!(cache.peek(&key), Some(key));
    }
    assert_eq!(cache.stats().evictions, 1);
    for key in 10..30 {
        cache.get(key, counted(&calls, Ok(key))).await.unwrap();
        assert!(cache.entry_count() <= 3);
    }
    assert_eq!(cache.stats().evictions, 21);
}

/// `invalidate` and `clear` remove entries; a load in flight during `invalidate` still answers its
/// readers but is not cached.
pub async fn invalidate_and_clear_remove_entries_and_detach_loads(env: Env) {
    let cache = cache(&env, 10, 40, None);
    let calls = Arc::new(AtomicUsize::new(0));
    for key in 1..=3 {
        cache.get(key, counted(&calls, Ok(key))).await.unwrap();
    }
    assert!(cache.invalidate(&1));
    assert!(!cache.invalidate(&1), "already gone");
    assert_eq!(cache.peek(&1), None);
    assert_eq!(cache.get(1, counted(&calls, Ok(10))).await, Ok(10));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    cache.clear();
    assert_eq!(cache.entry_count(), 0);
    assert_eq!(cache.get(2, counted(&calls, Ok(20))).await, Ok(20));

    let release = AsyncEvent::new();
    let reader = {
        let (cache, fetch) = (cache.clone(), gated(&calls, &release, Ok(90)));
        env.rt().spawn(async move { cache.get(9, fetch).await })
    };
    eventually(&env, "the load starts", || cache.stats().loads == 6).await;
    assert!(!cache.invalidate(&9));
    release.set();
    assert_eq!(
        reader.await.unwrap(),
        Ok(90),
        "the reader still gets the value"
    );
    assert_eq!(cache.peek(&9), None, "an invalidated load is not cached");
}

/// Every outcome is counted once: hits, misses, loads, load failures, refreshes, refresh failures,
/// evictions.
pub async fn stats_count_every_outcome(env: Env) {
    let cache = cache(&env, 2, 40, Some(2));
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(cache.stats(), CacheStats::default());
    cache.get(1, counted(&calls, Ok(1))).await.unwrap(); // miss, load
    cache.get(1, counted(&calls, Ok(1))).await.unwrap(); // hit
    cache.get(2, counted(&calls, Err("no"))).await.unwrap_err(); // miss, load, load failure
    cache.get(2, counted(&calls, Ok(2))).await.unwrap(); // miss, load
    cache.get(3, counted(&calls, Ok(3))).await.unwrap(); // miss, load, eviction (of 1)
    env.rt().sleep(unit(&env) * 3).await;
    cache.get(3, counted(&calls, Err("no"))).await.unwrap(); // hit, refresh, refresh failure
    eventually(&env, "the refresh fails", || {
        cache.stats().refresh_failures == 1
    })
    .await;
    let stats = cache.stats();
    assert_eq!(stats.hits, 2);
    assert_eq!(stats.misses, 4);
    assert_eq!(stats.loads, 4);
    assert_eq!(stats.load_failures, 1);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.refresh_failures, 1);
    assert_eq!(stats.evictions, 1);
    assert!((stats.hit_rate() - 2.0 / 6.0).abs() < 1e-9);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

/// Zero capacity, zero durations and a refresh window not inside the TTL are typed errors.
pub async fn invalid_configuration_is_a_typed_error(env: Env) {
    let rt = env.rt();
    let b = || Cache::builder(rt).max_capacity(10);
    let s = Duration::from_secs;
    assert_eq!(
        Cache::builder(rt).build().unwrap_err(),
        CacheConfigError::MissingCapacity
    );
    assert_eq!(
        Cache::builder(rt).max_capacity(0).build().unwrap_err(),
        CacheConfigError::ZeroCapacity
    );
    assert_eq!(
        b().ttl(Duration::ZERO).build().unwrap_err(),
        CacheConfigError::ZeroTtl
    );
    assert_eq!(
        b().ttl(s(5))
            .refresh_after(Duration::ZERO)
            .build()
            .unwrap_err(),
        CacheConfigError::ZeroRefreshAfter
    );
    for refresh_after in [s(5), s(6)] {
        assert_eq!(
            b().ttl(s(5))
                .refresh_after(refresh_after)
                .build()
                .unwrap_err(),
            CacheConfigError::RefreshNotBeforeTtl {
                refresh_after,
                ttl: s(5)
            }
        );
    }
    assert_eq!(
        b().negative_ttl(Duration::ZERO).build().unwrap_err(),
        CacheConfigError::ZeroNegativeTtl
    );
    assert_eq!(
        b().fetch_timeout(Duration::ZERO).build().unwrap_err(),
        CacheConfigError::ZeroFetchTimeout
    );
    let error = b().ttl(s(5)).refresh_after(s(5)).build().unwrap_err();
    assert!(
        error.to_string().contains("is not shorter than its ttl"),
        "{error}"
    );
    assert!(b().ttl(s(5)).refresh_after(s(4)).build().is_ok());
    assert!(
        b().refresh_after(s(4)).build().is_ok(),
        "no ttl: never expires"
    );
}

/// The cache and its types are `Send + Sync`; clones used from many tasks share one bounded cache.
pub async fn clones_share_one_cache_across_tasks(env: Env) {
    assert_send_sync::<Cache>();
    assert_send_sync::<CacheError<&'static str>>();
    assert_send_sync::<CacheStats>();
    assert_send_sync::<CacheConfigError>();
    let cache = cache(&env, 64, 40, Some(20));
    let calls = Arc::new(AtomicUsize::new(0));
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&cache.get(0, counted(&calls, Ok(0)))); // the `get` future moves between threads
    let tasks: Vec<_> = (0..8u32)
        .map(|t| {
            let (cache, calls) = (cache.clone(), calls.clone());
            env.rt().spawn(async move {
                for i in 0..200u32 {
                    let key = (i * 7 + t) % 100;
                    let value = cache.get(key, counted(&calls, Ok(key * 2))).await.unwrap();
                    assert_eq!(value, key * 2);
                    if i % 16 == 0 {
                        yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(cache.entry_count() <= 64);
    let stats = cache.stats();
    assert_eq!(stats.hits + stats.misses, 1600);
    assert_eq!(stats.loads as usize, calls.load(Ordering::SeqCst));
}
