//! Cases: the tower layers of the limits — `BulkheadLayer`, `RateLimitLayer` (one limit and keyed)
//! and `TimeoutLayer`: readiness as backpressure, shedding, reservations released on drop, state
//! shared by every clone, cancellation of the call at each await point, a panicking inner service.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_tower_limits {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; tower_limits:
            bulkhead_service_is_pending_until_a_slot_frees,
            rate_limit_service_waits_its_turn_on_the_timer,
            shedding_services_refuse_at_once_with_the_typed_error,
            a_reservation_is_released_when_its_service_is_dropped,
            every_clone_shares_one_limit,
            keyed_limits_are_per_key,
            keyed_limits_hold_under_many_tasks,
            cancelling_the_call_at_each_await_point_releases_everything,
            a_panicking_inner_service_releases_its_slot,
            timeout_service_gives_up_with_the_policys_message,
        }
    };
}

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future::{poll_fn, poll_once};
use tower_layer::Layer;
use tower_service::Service;
use uno_core::resilience::{
    Bulkhead, BulkheadRejected, KeyedRateLimiter, RateLimiter, ResilienceError, TimeoutPolicy,
};
use uno_core::rt::{BoxFuture, Runtime};
use uno_core::tower::{BulkheadLayer, RateLimitLayer, TimeoutLayer};

use crate::Env;
use crate::support::{assert_duration, eventually, poll_times, within};

const MS: Duration = Duration::from_millis(1);

/// The inner services' own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the handler failed")
    }
}

/// A service from a closure (as tower's `service_fn`), always ready.
#[derive(Clone)]
struct Handler<F>(F);

impl<F, Fut, R, T> Service<R> for Handler<F>
where
    F: FnMut(R) -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    type Response = T;
    type Error = Failed;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Fut {
        (self.0)(req)
    }
}

/// A service that sleeps `d` on `rt`, then answers its request.
#[derive(Clone)]
struct Sleeping {
    rt: Runtime,
    d: Duration,
}

fn sleeping(rt: &Runtime, d: Duration) -> Sleeping {
    Sleeping { rt: rt.clone(), d }
}

impl Service<u32> for Sleeping {
    type Response = u32;
    type Error = Failed;
    type Future = BoxFuture<Result<u32, Failed>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u32) -> Self::Future {
        let (rt, d) = (self.rt.clone(), self.d);
        Box::pin(async move {
            rt.sleep(d).await;
            Ok(n)
        })
    }
}

/// Awaits the service's readiness.
async fn ready<S: Service<R>, R>(service: &mut S) -> Result<(), S::Error> {
    poll_fn(|cx| service.poll_ready(cx)).await
}

/// Readiness, then one call.
async fn oneshot<S: Service<R>, R>(service: &mut S, req: R) -> Result<S::Response, S::Error> {
    ready(service).await?;
    service.call(req).await
}

/// A bulkhead of one: a second service is `Pending` while the first call holds the slot, and
/// is woken (ready) the moment it ends.
pub async fn bulkhead_service_is_pending_until_a_slot_frees(env: Env) {
    let rt = env.rt();
    let bulkhead = Bulkhead::builder(rt, 1).build().unwrap();
    let mut first = bulkhead.layer().layer(sleeping(rt, 20 * MS));
    let mut second = first.clone();
    let start = rt.now();
    within(&env, "the first readiness", ready(&mut first))
        .await
        .unwrap();
    assert_eq!(bulkhead.stats().in_flight, 1, "poll_ready took the slot");
    let call = first.call(1);
    assert!(
        poll_once(ready(&mut second)).await.is_none(),
        "no slot: Pending"
    );
    let waiter = {
        let rt = rt.clone();
        rt.clone().spawn(async move {
            ready(&mut second).await.unwrap();
            let at = rt.now();
            (second.call(2).await, at)
        })
    };
    assert_eq!(within(&env, "the first call", call).await, Ok(1));
    let (second_out, admitted_at) = within(&env, "the woken service", waiter).await.unwrap();
    assert_eq!(second_out, Ok(2));
    assert_duration(
        &env,
        admitted_at - start,
        20 * MS,
        19 * MS..Duration::from_secs(5),
        "the second service's readiness",
    );
    let stats = bulkhead.stats();
    assert_eq!((stats.in_flight, stats.queued, stats.admitted), (0, 0, 2));
}

/// Without shedding, the limiter's service waits in `poll_ready`, one interval per call.
pub async fn rate_limit_service_waits_its_turn_on_the_timer(env: Env) {
    let rt = env.rt();
    let limiter = RateLimiter::builder(rt, 1, 20 * MS)
        .burst(1)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut service = limiter.layer().layer(Handler(move |n: u32| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok(n) }
    }));
    let start = rt.now();
    for n in 0..3 {
        let out = within(&env, "a paced call", oneshot(&mut service, n)).await;
        assert_eq!(out, Ok(n));
    }
    assert_duration(
        &env,
        rt.now() - start,
        40 * MS,
        38 * MS..Duration::from_secs(5),
        "three calls at one per 20 ms",
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(limiter.stats().waited, 2);
}

/// Shedding: `poll_ready` is ready at once, and a call without capacity answers the typed
/// refusal without calling the inner service.
pub async fn shedding_services_refuse_at_once_with_the_typed_error(env: Env) {
    let rt = env.rt();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let inner = Handler(move |n: u32| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok(n) }
    });

    let bulkhead = Bulkhead::builder(rt, 1).name("db").build().unwrap();
    let mut shedding = BulkheadLayer::new(bulkhead.clone())
        .shed()
        .layer(inner.clone());
    let held = bulkhead.try_acquire().unwrap();
    let start = rt.now();
    let err = oneshot(&mut shedding, 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            ResilienceError::Rejected(BulkheadRejected::QueueFull { max_queue: 0, .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), r#"bulkhead "db" is full"#);
    assert_eq!(bulkhead.stats().rejected_queue_full, 1);
    drop(held);
    assert_eq!(oneshot(&mut shedding, 2).await, Ok(2));

    let limiter = RateLimiter::builder(rt, 1, 50 * MS)
        .name("api")
        .build()
        .unwrap();
    let mut shedding = RateLimitLayer::new(limiter.clone()).shed().layer(inner);
    assert_eq!(oneshot(&mut shedding, 3).await, Ok(3));
    let err = oneshot(&mut shedding, 4).await.unwrap_err();
    let retry_after = err.retry_after().expect("a RateLimited refusal");
    assert!(matches!(err, ResilienceError::RateLimited(_)), "{err:?}");
    assert_duration(
        &env,
        retry_after,
        50 * MS,
        ..=50 * MS,
        "the refusal's retry_after",
    );
    assert_duration(
        &env,
        rt.now() - start,
        Duration::ZERO,
        ..Duration::from_secs(5),
        "shedding never waits",
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refused calls never ran");
    assert_eq!(limiter.stats().rejected, 1);
}

/// A service holding a slot gives it back when dropped; a clone starts without one; a service
/// dropped while it waits leaves the queue, and the one behind it moves up; a service admitted
/// by the rate limit and dropped before its call gives the admission back.
pub async fn a_reservation_is_released_when_its_service_is_dropped(env: Env) {
    let rt = env.rt();
    let bulkhead = Bulkhead::builder(rt, 1).build().unwrap();
    let mut holder = bulkhead.layer().layer(sleeping(rt, MS));
    ready(&mut holder).await.unwrap();
    let clone = holder.clone();
    assert_eq!(bulkhead.stats().in_flight, 1, "the clone holds nothing");
    let mut waiting = clone.clone();
    assert!(poll_once(ready(&mut waiting)).await.is_none());
    assert_eq!(bulkhead.stats().queued, 1);
    drop(waiting);
    assert_eq!(
        bulkhead.stats().queued,
        0,
        "a dropped waiter left the queue"
    );
    drop(holder);
    assert_eq!(
        bulkhead.stats().in_flight,
        0,
        "a dropped holder gave its slot back"
    );
    let mut next = clone;
    within(&env, "readiness after the drop", ready(&mut next))
        .await
        .unwrap();
    assert_eq!(next.call(5).await, Ok(5));

    let limiter = RateLimiter::builder(rt, 1, Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut first = limiter.layer().layer(sleeping(rt, MS));
    assert_eq!(oneshot(&mut first, 1).await, Ok(1));
    let mut waiting = first.clone();
    assert!(poll_once(ready(&mut waiting)).await.is_none());
    assert_eq!(limiter.stats().queued, 1);
    drop(waiting);
    let stats = limiter.stats();
    assert_eq!(
        (stats.queued, stats.abandoned),
        (0, 1),
        "left, consuming nothing"
    );

    // Admitted in `poll_ready`, then dropped before its call: the admission goes back.
    let once = RateLimiter::builder(rt, 1, Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut admitted = once.layer().layer(sleeping(rt, MS));
    ready(&mut admitted).await.unwrap();
    drop(admitted);
    let mut next = once.layer().layer(sleeping(rt, MS));
    assert!(
        matches!(poll_once(ready(&mut next)).await, Some(Ok(()))),
        "the unused admission came back"
    );
    assert_eq!(next.call(9).await, Ok(9));
}

/// Many clones on many tasks (threads, on a multi-thread runtime) share one bulkhead and one
/// limit: never more than the bulkhead's bound in flight, and no more admissions than the rate.
pub async fn every_clone_shares_one_limit(env: Env) {
    let rt = env.rt();
    let bulkhead = Bulkhead::builder(rt, 3).build().unwrap();
    let limiter = RateLimiter::builder(rt, 1, 5 * MS)
        .burst(4)
        .build()
        .unwrap();
    let current = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let inner = {
        let (rt, current, peak) = (rt.clone(), current.clone(), peak.clone());
        Handler(move |n: u32| {
            let (rt, current, peak) = (rt.clone(), current.clone(), peak.clone());
            async move {
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                rt.sleep(2 * MS).await;
                current.fetch_sub(1, Ordering::SeqCst);
                Ok(n)
            }
        })
    };
    let service = limiter.layer().layer(bulkhead.layer().layer(inner));
    let start = rt.now();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let mut service = service.clone();
            rt.spawn(async move {
                for i in 0..3 {
                    assert_eq!(oneshot(&mut service, t * 10 + i).await, Ok(t * 10 + i));
                }
            })
        })
        .collect();
    for task in tasks {
        within(&env, "a client task", task).await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 3, "the bulkhead's bound");
    assert_eq!(bulkhead.stats().admitted, 24);
    assert_eq!(limiter.stats().admitted, 24);
    // 24 admissions, 4 at once, then one per 5 ms: the last at 100 ms, then its 2 ms call.
    assert_duration(
        &env,
        rt.now() - start,
        102 * MS,
        98 * MS..Duration::from_secs(10),
        "24 calls through one shared limit",
    );
}

/// A keyed limit: each key has its own; waiting is inside the call, and shedding refuses.
pub async fn keyed_limits_are_per_key(env: Env) {
    let rt = env.rt();
    let per_key = KeyedRateLimiter::builder(rt, 1, 30 * MS).build().unwrap();
    let inner = Handler(|req: (&'static str, u32)| async move { Ok(req.1) });
    let mut waiting = RateLimitLayer::keyed(per_key.clone(), |req: &(&'static str, u32)| req.0)
        .layer(inner.clone());
    let mut shedding = RateLimitLayer::keyed(per_key.clone(), |req: &(&'static str, u32)| req.0)
        .shed()
        .layer(inner);
    let start = rt.now();
    assert_eq!(oneshot(&mut waiting, ("a", 1)).await, Ok(1));
    assert_eq!(oneshot(&mut waiting, ("b", 2)).await, Ok(2));
    let err = oneshot(&mut shedding, ("a", 3)).await.unwrap_err();
    assert!(matches!(err, ResilienceError::RateLimited(_)), "{err:?}");
    assert_duration(
        &env,
        rt.now() - start,
        Duration::ZERO,
        ..Duration::from_secs(5),
        "other keys and refusals never wait",
    );
    let out = within(&env, "a keyed wait", oneshot(&mut waiting, ("a", 4))).await;
    assert_eq!(out, Ok(4));
    assert_duration(
        &env,
        rt.now() - start,
        30 * MS,
        28 * MS..Duration::from_secs(5),
        "key a's second call",
    );
    let stats = per_key.stats();
    assert_eq!((stats.admitted, stats.rejected), (3, 1));
}

/// Eight tasks (threads, on a multi-thread runtime) share a keyed service's clones, on two keys:
/// each key admits at its own rate, whatever the interleaving, and no call is lost.
pub async fn keyed_limits_hold_under_many_tasks(env: Env) {
    let rt = env.rt();
    let per_key = KeyedRateLimiter::builder(rt, 1, 10 * MS)
        .burst(2)
        .build()
        .unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counted = served.clone();
    let service = RateLimitLayer::keyed(per_key.clone(), |req: &(u32, u32)| req.0).layer(Handler(
        move |req: (u32, u32)| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(req.1) }
        },
    ));
    let start = rt.now();
    let tasks: Vec<_> = (0..8u32)
        .map(|t| {
            let mut service = service.clone();
            rt.spawn(async move {
                for i in 0..3 {
                    let req = (t % 2, t * 10 + i);
                    assert_eq!(oneshot(&mut service, req).await, Ok(req.1));
                }
            })
        })
        .collect();
    for task in tasks {
        within(&env, "a client task", task).await.unwrap();
    }
    assert_eq!(served.load(Ordering::SeqCst), 24);
    let stats = per_key.stats();
    assert_eq!((stats.admitted, stats.rejected), (24, 0));
    // Twelve admissions per key, two at once, then one per 10 ms: the last at 100 ms.
    assert_duration(
        &env,
        rt.now() - start,
        100 * MS,
        98 * MS..Duration::from_secs(10),
        "two keys, twelve calls each",
    );
}

/// The call's future dropped at each await point — waiting for the key's admission, for the
/// inner readiness, inside the inner call — releases the slot and consumes nothing unspent.
pub async fn cancelling_the_call_at_each_await_point_releases_everything(env: Env) {
    let rt = env.rt();
    for polls in 0..4 {
        let bulkhead = Bulkhead::builder(rt, 1).build().unwrap();
        let mut service = bulkhead
            .layer()
            .layer(sleeping(rt, Duration::from_secs(3600)));
        ready(&mut service).await.unwrap();
        let out = poll_times(service.call(1), polls).await;
        assert!(out.is_none(), "{polls} polls");
        assert_eq!(
            bulkhead.stats().in_flight,
            0,
            "{polls} polls: the slot leaked"
        );
        assert!(bulkhead.try_acquire().is_some(), "{polls} polls");

        let per_key = KeyedRateLimiter::builder(rt, 1, Duration::from_secs(3600))
            .build()
            .unwrap();
        per_key.try_acquire(&"k").unwrap();
        let mut keyed = RateLimitLayer::keyed(per_key.clone(), |k: &&'static str| *k)
            .layer(Handler(|_: &'static str| async { Ok(()) }));
        ready(&mut keyed).await.unwrap();
        assert!(poll_times(keyed.call("k"), polls).await.is_none());
        // The waiter consumed nothing: the key's debt is what it was.
        let wait = per_key.try_acquire(&"k").unwrap_err().retry_after;
        assert!(wait > Duration::from_secs(3000), "{polls} polls: {wait:?}");
        assert_eq!(per_key.stats().admitted, 1, "{polls} polls");
    }
    // Dropped while it waits for the limiter in `poll_ready`: the queue is left at once and
    // the next waiter moves up.
    let limiter = RateLimiter::builder(rt, 1, 10 * MS)
        .burst(1)
        .build()
        .unwrap();
    limiter.try_acquire().unwrap();
    let mut victim = limiter.layer().layer(sleeping(rt, MS));
    let mut behind = victim.clone();
    assert!(poll_once(ready(&mut victim)).await.is_none());
    let mut behind_ready = pin!(ready(&mut behind));
    assert!(poll_once(behind_ready.as_mut()).await.is_none());
    drop(victim);
    within(&env, "the service behind a dropped one", behind_ready)
        .await
        .unwrap();
    assert_eq!(limiter.stats().abandoned, 1);
}

/// An inner service whose future panics: the panic comes back as the task's `JoinError`, and the
/// slot is released as the future unwinds.
pub async fn a_panicking_inner_service_releases_its_slot(env: Env) {
    let rt = env.rt();
    let bulkhead = Bulkhead::builder(rt, 1).build().unwrap();
    let mut service = bulkhead.layer().layer(Handler(|n: u32| async move {
        if n == 0 {
            panic!("handler bug");
        }
        Ok(n)
    }));
    let task = {
        let mut service = service.clone();
        rt.spawn(async move { oneshot(&mut service, 0).await })
    };
    let err = within(&env, "the panicking call", task).await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    eventually(&env, "the slot to come back", || {
        bulkhead.stats().in_flight == 0
    })
    .await;
    assert_eq!(
        within(&env, "the next call", oneshot(&mut service, 7)).await,
        Ok(7)
    );
}

/// The timeout layer gives up a slow call after exactly the policy's duration, with its message.
pub async fn timeout_service_gives_up_with_the_policys_message(env: Env) {
    let rt = env.rt();
    let policy = TimeoutPolicy::builder(rt, 20 * MS)
        .message("rendering")
        .build()
        .unwrap();
    let mut service = TimeoutLayer::new(policy).layer(sleeping(rt, Duration::from_secs(3600)));
    let start = rt.now();
    let err = within(&env, "a timed-out call", oneshot(&mut service, 1))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("rendering: timed out after 20ms"),
        "{err}"
    );
    assert_duration(
        &env,
        rt.now() - start,
        20 * MS,
        19 * MS..Duration::from_secs(5),
        "the timeout",
    );
    let mut quick = TimeoutLayer::new(TimeoutPolicy::builder(rt, 20 * MS).build().unwrap())
        .layer(sleeping(rt, MS));
    assert_eq!(oneshot(&mut quick, 2).await, Ok(2));
}
