//! shuttle models of the cache's single-flight hand-over (`src/cache/flight.rs`, `load.rs`): the
//! load of a miss is driven in place by the reader that started it; a driver dropped mid-fetch
//! parks the load for the other readers, and the last reader to leave moves it to a task.
//!
//! Run: `RUSTFLAGS="--cfg uno_shuttle" cargo test -p uno-core --release --test loom_cache`.
//!
//! Readers are real `AsyncCache::get` futures on shuttle threads, each polled by hand (a reader
//! that gives up after one poll, as a cancelled caller does) or to the end (`block_on`); the
//! runtime runs a spawned load on a shuttle thread of its own. Each model asserts, in every
//! interleaving explored: a reader that waits to the end gets the loaded value (a load parked
//! with nobody to take it, or a lost wake-up, is a reported deadlock), the fetch runs exactly
//! once, and the value ends up in the cache even when every reader left before it was loaded.
//!
//! shuttle, not loom: the waiting goes through event-listener, whose std lock loom does not see
//! (see `loom_cancel.rs`); shuttle treats each event-listener call as one step, with sequentially
//! consistent memory. The flight's `OnceLock` is std's too, one step for the same reason.

#![cfg(uno_shuttle)]

mod loom_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use loom_support::{ThreadSpawner, flag_waker, poll_with};
use shuttle::future::block_on;
use shuttle::thread;
use uno_core::Runtime;
use uno_core::cache::{AsyncCache, CacheError};

type Cache = AsyncCache<u32, u32, ()>;

/// Depth-first over the schedules of the two-thread models (their set-up is sequential, so only
/// the race itself branches), up to 50 000 of them: a few seconds. Both hand-over bugs tried on
/// this model (a last reader that leaves a parked load behind, a park that wakes nobody) fail
/// within that budget.
fn model(f: impl Fn() + Send + Sync + 'static) {
    shuttle::check_dfs(f, Some(50_000));
}

/// Three readers are too many steps to enumerate in seconds: PCT's random schedules, which find
/// any bug of up to `depth` ordering constraints with a known probability per run.
fn model_sampled(f: impl Fn() + Send + Sync + 'static) {
    shuttle::check_pct(f, 20_000, 3);
}

/// Pending on its first poll (waking itself at once), then ready: a fetch in the middle of its
/// work when a reader gives up after one poll.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The cache, its runtime's spawner and the count of fetches started.
fn cache() -> (Cache, ThreadSpawner, Arc<AtomicUsize>) {
    let spawner = ThreadSpawner::default();
    let rt: Runtime = spawner.runtime();
    let cache = AsyncCache::builder(&rt).max_capacity(4).build().unwrap();
    (cache, spawner, Arc::default())
}

/// A reader of key 1 that loads 42 after one pending poll, counting the fetch; it owns its clone
/// of the cache, so it can be polled on one thread and moved to another.
type Reader = Pin<Box<dyn Future<Output = Result<u32, CacheError<()>>> + Send>>;

fn reader(cache: &Cache, fetches: &Arc<AtomicUsize>) -> Reader {
    let (cache, fetches) = (cache.clone(), fetches.clone());
    Box::pin(async move {
        cache
            .get(1, move || {
                fetches.fetch_add(1, Ordering::SeqCst);
                async {
                    YieldOnce(false).await;
                    Ok(42)
                }
            })
            .await
    })
}

/// Polls `reader` up to `polls` times, as a caller that gives up; whether it finished.
fn poll_then_give_up(reader: &mut Reader, polls: usize) -> bool {
    let (waker, _) = flag_waker();
    (0..polls).any(|_| poll_with(reader, &waker).is_ready())
}

/// After the model's readers are done: the load ran once and filled the cache.
fn assert_loaded_once(cache: &Cache, spawner: &ThreadSpawner, fetches: &AtomicUsize) {
    spawner.join_all();
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the fetch runs exactly once"
    );
    assert_eq!(cache.peek(&1), Some(42), "the load filled the cache");
}

/// The driver (polled once: its fetch is pending) is dropped while a second reader, which joined
/// its flight or arrives during the drop, waits to the end: it gets the value.
#[test]
fn a_dropped_driver_hands_its_load_to_the_waiting_reader() {
    model(|| {
        for joined_first in [false, true] {
            let (cache, spawner, fetches) = cache();
            let mut driver = reader(&cache, &fetches);
            assert!(!poll_then_give_up(&mut driver, 1));
            let mut waiter = reader(&cache, &fetches);
            if joined_first {
                assert!(!poll_then_give_up(&mut waiter, 1));
            }
            let quitter = thread::spawn(move || drop(driver));
            assert!(
                matches!(block_on(waiter), Ok(42)),
                "the waiter gets the value"
            );
            quitter.join().unwrap();
            assert_loaded_once(&cache, &spawner, &fetches);
        }
    });
}

/// Both readers of a flight leave while its load is pending, at once: the driver's drop parks
/// the load or spawns it, the other's finds it parked or not yet, or takes it over first and
/// leaves holding it. Whoever leaves last moves the load to a task, which fills the cache.
#[test]
fn a_load_whose_readers_all_left_still_fills_the_cache() {
    model(|| {
        for second_polls in [0, 1] {
            let (cache, spawner, fetches) = cache();
            let mut driver = reader(&cache, &fetches);
            assert!(!poll_then_give_up(&mut driver, 1));
            let mut joined = reader(&cache, &fetches);
            assert!(!poll_then_give_up(&mut joined, 1));
            let quitter = thread::spawn(move || drop(driver));
            // One more poll may take over a parked load before leaving.
            let _ = poll_then_give_up(&mut joined, second_polls);
            drop(joined);
            quitter.join().unwrap();
            assert_loaded_once(&cache, &spawner, &fetches);
        }
    });
}

/// Three readers: the driver leaves, a second reader may take the load over and leave in turn,
/// and the third, waiting to the end, gets the value.
#[test]
fn a_load_handed_on_twice_reaches_the_last_reader() {
    model_sampled(|| {
        let (cache, spawner, fetches) = cache();
        let mut driver = reader(&cache, &fetches);
        assert!(!poll_then_give_up(&mut driver, 1));
        let mut second = reader(&cache, &fetches);
        assert!(!poll_then_give_up(&mut second, 1));
        let mut last = reader(&cache, &fetches);
        assert!(!poll_then_give_up(&mut last, 1));
        let first_quits = thread::spawn(move || drop(driver));
        let second_quits = thread::spawn(move || {
            let _ = poll_then_give_up(&mut second, 1);
        });
        assert!(
            matches!(block_on(last), Ok(42)),
            "the last reader gets the value"
        );
        first_quits.join().unwrap();
        second_quits.join().unwrap();
        assert_loaded_once(&cache, &spawner, &fetches);
    });
}
