//! Misbehaving user code around `AsyncCache`.
//!
//! A fetch future that panics in its `Drop` (after finishing, at each await point, or when the
//! fetch timeout drops it), a refresh-error hook that panics, a value whose `Clone` panics: every
//! waiter gets the panic as a value, nobody hangs, the flight is gone (the next read fetches
//! again) and the statistics add up.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_cache {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_cache:
            fetch_panicking_reaches_every_waiter_at_each_await_point,
            fetch_panicking_in_drop_at_its_time_limit_is_a_panic_not_a_timeout,
            refresh_error_hook_panicking_keeps_the_cache_working,
            loaded_value_whose_clone_panics_does_not_wedge_the_key,
            fetch_dropped_with_its_runtime_while_panicking_in_drop_answers_its_readers,
        }
    };
}

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::poll_once;
use uno_core::Task;
use uno_core::cache::{AsyncCache, CacheError};
use uno_core::rt::VirtualRuntime;
use uno_core::sync::AsyncEvent;
use uno_core::task::yield_now;

use crate::support::{assert_duration, eventually, panics_on_drop, within};
use crate::{Env, poll_times};

type Cache = AsyncCache<u32, u32, &'static str>;
type Outcome = Result<u32, CacheError<&'static str>>;
type Fetch = Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>;

/// One unit of time: exact on virtual time, roomy on real clocks.
fn unit(env: &Env) -> Duration {
    if env.is_virtual_time() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(25)
    }
}

/// Where a fetch's future panics.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// In the poll after its last yield.
    InPoll,
    /// In its `Drop`, once it has returned its value.
    InDrop,
}

/// A fetch that waits for `gate`, yields `yields` times, then returns `value` — or panics with
/// `message` where `fault` says.
fn bombed(
    gate: &AsyncEvent,
    yields: usize,
    value: u32,
    fault: Fault,
    message: &'static str,
) -> impl FnOnce() -> Fetch + use<> {
    let gate = gate.clone();
    move || {
        let work = async move {
            gate.wait().await;
            for _ in 0..yields {
                yield_now().await;
            }
            if let Fault::InPoll = fault {
                panic!("{message}");
            }
            Ok(value)
        };
        match fault {
            Fault::InPoll => Box::pin(work),
            Fault::InDrop => Box::pin(panics_on_drop(message, work)),
        }
    }
}

/// A fetch for readers that must join the load already running, never start their own.
fn joins_only() -> Fetch {
    Box::pin(async { unreachable!("this reader should have joined the running load") })
}

fn spawn_readers(env: &Env, cache: &Cache, n: usize, key: u32) -> Vec<Task<Outcome>> {
    (0..n)
        .map(|_| {
            let cache = cache.clone();
            env.rt()
                .spawn(async move { cache.get(key, joins_only).await })
        })
        .collect()
}

/// A load whose fetch future panics — in a poll, or in its `Drop` once it has finished — after
/// waiting at each of its await points in turn: every reader (the one that started it, those that
/// joined it, and with one that gave up at the same await point) gets `Panicked` with the message,
/// and the next read fetches again.
pub async fn fetch_panicking_reaches_every_waiter_at_each_await_point(env: Env) {
    for yields in 0..=3 {
        for (fault, message) in [
            (Fault::InPoll, "fetch polled"),
            (Fault::InDrop, "fetch dropped"),
        ] {
            let cache: Cache = AsyncCache::builder(env.rt())
                .max_capacity(10)
                .build()
                .unwrap();
            let gate = AsyncEvent::new();
            let leader = {
                let (cache, fetch) = (cache.clone(), bombed(&gate, yields, 1, fault, message));
                env.rt().spawn(async move { cache.get(1, fetch).await })
            };
            eventually(&env, "the load starts", || cache.stats().loads == 1).await;
            let followers = spawn_readers(&env, &cache, 3, 1);
            // A reader that gives up after joining, at this await point of the load.
            assert!(
                poll_times(cache.get(1, joins_only), yields + 1)
                    .await
                    .is_none()
            );
            eventually(&env, "five readers joined", || cache.stats().misses == 5).await;
            gate.set();
            let panicked = Err(CacheError::Panicked {
                name: "cache".into(),
                message: message.into(),
            });
            let what = format!("{fault:?} after {yields} yields");
            assert_eq!(
                within(&env, "the leader", leader).await.unwrap(),
                panicked,
                "{what}"
            );
            for follower in followers {
                let outcome = within(&env, "a follower", follower).await.unwrap();
                assert_eq!(outcome, panicked, "{what}");
            }
            assert_eq!(cache.peek(&1), None, "{what}: a failed load is not cached");
            let again = cache.get(1, || async { Ok(100) }).await;
            assert_eq!(again, Ok(100), "{what}: the next read fetches again");
            let stats = cache.stats();
            assert_eq!(
                (stats.loads, stats.load_failures),
                (2, 1),
                "{what}: {stats:?}"
            );
            assert_eq!(stats.misses, 6, "{what}: {stats:?}");
        }
    }
}

/// A fetch that never finishes and panics when the fetch timeout drops it: its readers get the
/// panic (the more specific fault) at the time limit, and the key loads normally afterwards.
pub async fn fetch_panicking_in_drop_at_its_time_limit_is_a_panic_not_a_timeout(env: Env) {
    let cache: Cache = AsyncCache::builder(env.rt())
        .max_capacity(10)
        .fetch_timeout(unit(&env) * 2)
        .build()
        .unwrap();
    let start = env.rt().now();
    let stuck = || -> Fetch {
        Box::pin(panics_on_drop(
            "fetch dropped at its limit",
            std::future::pending(),
        ))
    };
    let leader = {
        let cache = cache.clone();
        env.rt().spawn(async move { cache.get(1, stuck).await })
    };
    eventually(&env, "the load starts", || cache.stats().loads == 1).await;
    let followers = spawn_readers(&env, &cache, 2, 1);
    let panicked = Err(CacheError::Panicked {
        name: "cache".into(),
        message: "fetch dropped at its limit".into(),
    });
    assert_eq!(within(&env, "the leader", leader).await.unwrap(), panicked);
    for follower in followers {
        assert_eq!(
            within(&env, "a follower", follower).await.unwrap(),
            panicked
        );
    }
    let elapsed = env.rt().now() - start;
    assert_duration(
        &env,
        elapsed,
        unit(&env) * 2,
        unit(&env) * 2..,
        "the stuck load (until its fetch timeout)",
    );
    assert_eq!(cache.get(1, || async { Ok(3) }).await, Ok(3));
    assert_eq!(cache.stats().load_failures, 1);
}

/// A refresh-error hook that panics on every call: the panic is contained, the old value is served,
/// the failure is counted, and the next read in the window refreshes again. A refresh whose fetch
/// future panics in `Drop` reaches the hook as `Panicked`; a good refresh then replaces the value.
pub async fn refresh_error_hook_panicking_keeps_the_cache_working(env: Env) {
    let reported: Arc<Mutex<Vec<String>>> = Arc::default();
    let cache: Cache = {
        let reported = reported.clone();
        AsyncCache::builder(env.rt())
            .max_capacity(10)
            .ttl(unit(&env) * 40)
            .refresh_after(unit(&env) * 2)
            .on_refresh_error(move |_key, error| {
                // The fetch's own error is not in the cache error's `Display`: it is the source.
                let text = match error.fetch_error() {
                    Some(cause) => format!("{error}: {cause}"),
                    None => error.to_string(),
                };
                reported.lock().unwrap().push(text);
                panic!("the hook itself is broken");
            })
            .build()
            .unwrap()
    };
    assert_eq!(cache.get(1, || async { Ok(1) }).await, Ok(1));
    env.rt().sleep(unit(&env) * 3).await;

    assert_eq!(cache.get(1, || async { Err("refresh down") }).await, Ok(1));
    eventually(&env, "the first failure is counted", || {
        cache.stats().refresh_failures == 1
    })
    .await;

    let gate = AsyncEvent::new();
    gate.set();
    let fetch = bombed(&gate, 1, 2, Fault::InDrop, "refresh dropped");
    assert_eq!(cache.get(1, fetch).await, Ok(1), "the old value is served");
    eventually(&env, "the second failure is counted", || {
        cache.stats().refresh_failures == 2
    })
    .await;
    assert_eq!(
        cache.peek(&1),
        Some(1),
        "a panicked refresh installs nothing"
    );

    assert_eq!(cache.get(1, || async { Ok(3) }).await, Ok(1));
    eventually(&env, "the good refresh lands", || cache.peek(&1) == Some(3)).await;
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert!(reported[0].contains("refresh down"), "{reported:?}");
    assert!(reported[1].contains("refresh dropped"), "{reported:?}");
    let stats = cache.stats();
    assert_eq!(
        (stats.refreshes, stats.refresh_failures),
        (3, 2),
        "{stats:?}"
    );
}

/// A value whose `Clone` panics.
#[derive(Debug, PartialEq)]
struct Fragile(u32);

/// The value whose clone panics.
const UNCLONABLE: u32 = 13;

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if self.0 == UNCLONABLE {
            panic!("Fragile({UNCLONABLE}) cannot be cloned");
        }
        Fragile(self.0)
    }
}

/// The cache clones a loaded value to keep one and hand one out. A `Clone` that panics there fails
/// that load for its readers (as a panic, not a hang), and the key is not wedged: the next read
/// fetches again.
pub async fn loaded_value_whose_clone_panics_does_not_wedge_the_key(env: Env) {
    let cache: AsyncCache<u32, Fragile, &'static str> = AsyncCache::builder(env.rt())
        .max_capacity(10)
        .build()
        .unwrap();
    let gate = AsyncEvent::new();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (cache, gate) = (cache.clone(), gate.clone());
            env.rt().spawn(async move {
                cache
                    .get(1, move || async move {
                        gate.wait().await;
                        Ok(Fragile(UNCLONABLE))
                    })
                    .await
            })
        })
        .collect();
    eventually(&env, "three readers wait", || cache.stats().misses == 3).await;
    gate.set();
    for reader in readers {
        let outcome = within(&env, "a reader", reader).await.unwrap();
        assert!(
            outcome.as_ref().is_err_and(CacheError::is_panic),
            "{outcome:?}"
        );
    }
    let again = within(
        &env,
        "the next read",
        cache.get(1, || async { Ok(Fragile(2)) }),
    )
    .await;
    assert_eq!(again, Ok(Fragile(2)));
    assert_eq!(cache.stats().loads, 2);
}

/// The cache's runtime shuts down (drops its tasks) while a fetch runs whose future panics when
/// dropped: the panic stays inside the cache — it does not unwind out of the runtime's shutdown —
/// and the fetch's reader is answered `Cancelled` instead of waiting forever. (A fetch runs in a
/// task of the cache's runtime once every reader driving it has left: here the one that started
/// it is dropped, and a second reader joins the detached load.)
pub async fn fetch_dropped_with_its_runtime_while_panicking_in_drop_answers_its_readers(env: Env) {
    let doomed = VirtualRuntime::new();
    let cache: Cache = AsyncCache::builder(&doomed.handle())
        .max_capacity(10)
        .build()
        .unwrap();
    let stuck = || -> Fetch {
        Box::pin(panics_on_drop(
            "fetch dropped with its runtime",
            std::future::pending(),
        ))
    };
    let mut reader = Box::pin(cache.get(1, joins_only));
    doomed.block_on(async {
        let mut starter = Box::pin(cache.get(1, stuck));
        assert!(poll_once(starter.as_mut()).await.is_none());
        drop(starter); // the load goes on in a task of the doomed runtime
        assert!(poll_once(reader.as_mut()).await.is_none());
        for _ in 0..10 {
            yield_now().await; // the fetch runs on the doomed runtime
        }
    });
    drop(doomed); // shuts down mid-fetch
    let outcome = within(&env, "the reader", reader).await;
    assert_eq!(
        outcome,
        Err(CacheError::Cancelled {
            name: "cache".into()
        })
    );
    assert_eq!(cache.stats().load_failures, 1);
}
