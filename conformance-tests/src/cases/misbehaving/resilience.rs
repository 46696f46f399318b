//! Misbehaving user code around retry, rate limiter, bulkhead, circuit breaker and the `Pipeline`.
//!
//! The rule these cases check (see `uno_core::resilience`, "Panics in user code"): a panic in user
//! code — the operation closure, its future (in `poll` or in `Drop`) or any callback a policy was
//! given — reaches the caller unchanged (the policy's future panics with the same payload), and
//! only after the policy has put back everything the call held: bulkhead slot, limiter place,
//! breaker probe slot, retry budget token. Afterwards the policy works as if the call had never
//! been made. An operation whose `Drop` blocks briefly is cut at the same points and must leave
//! the same clean state.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_resilience {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_resilience:
            breaker_recovers_from_a_panicking_listener,
            retry_callbacks_that_panic_leak_no_budget_token,
            panicking_operation_leaves_retry_usable_at_every_await_point,
            panicking_operation_leaves_timeout_usable_at_every_await_point,
            panicking_operation_leaves_rate_limiter_usable_at_every_await_point,
            panicking_operation_leaves_bulkhead_usable_at_every_await_point,
            panicking_operation_leaves_breaker_usable_at_every_await_point,
            panicking_operation_leaves_pipeline_usable_at_every_await_point,
        }
    };
}

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::FutureExt;
use uno_core::Runtime;
use uno_core::resilience::{
    Backoff, Bulkhead, CircuitBreaker, CircuitState, Pipeline, RateLimiter, ResilienceError, Retry,
    RetryBudget, StateChange, TimeoutPolicy,
};
use uno_core::sync::CancellationToken;
use uno_core::task::yield_now;

use crate::Env;
use crate::support::{
    BlockOnDrop, PanicOnDrop, drop_after_polls, panics_on_drop, poll_times, within,
};

const MS: Duration = Duration::from_millis(1);

/// The payload of a caught panic, as text.
fn message(payload: &(dyn Any + Send)) -> String {
    match payload.downcast_ref::<&str>() {
        Some(s) => (*s).to_owned(),
        None => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "<not a string>".to_owned()),
    }
}

/// Awaits `future`, catching a panic from its `poll` (or from a drop it makes inside `poll`).
async fn catch<F: Future>(future: F) -> Result<F::Output, String> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| message(&*payload))
}

/// How the operation misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    /// The closure panics instead of returning a future.
    PanicsWhenCalled,
    /// Panics in `poll`, after its await points.
    PanicsInPoll,
    /// Panics whenever its future is dropped: cancelled at an await point, or after completing.
    PanicsOnDrop,
    /// Its future's `Drop` blocks the thread briefly (and does not panic).
    BlocksOnDrop,
}

const ALL: [Misbehaviour; 4] = [
    Misbehaviour::PanicsWhenCalled,
    Misbehaviour::PanicsInPoll,
    Misbehaviour::PanicsOnDrop,
    Misbehaviour::BlocksOnDrop,
];
const WHEN_CALLED: &str = "operation panicked when called";
const IN_POLL: &str = "operation panicked in poll";
const ON_DROP: &str = "operation panicked on drop";

type Op = Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>;

/// The misbehaving operation: a yield and a short sleep (two await points), then `Ok(7)` — or a
/// panic before the future exists, in poll there, or whenever the future is dropped, or a `Drop`
/// that blocks.
fn operation(rt: &Runtime, how: Misbehaviour) -> Op {
    if how == Misbehaviour::PanicsWhenCalled {
        panic!("{WHEN_CALLED}");
    }
    let rt = rt.clone();
    let body = async move {
        yield_now().await;
        rt.sleep(5 * MS).await;
        if how == Misbehaviour::PanicsInPoll {
            panic!("{IN_POLL}");
        }
        Ok(7)
    };
    match how {
        Misbehaviour::PanicsOnDrop => Box::pin(panics_on_drop(ON_DROP, body)),
        Misbehaviour::BlocksOnDrop => {
            let blocks = BlockOnDrop;
            Box::pin(async move {
                let _blocks = blocks;
                body.await
            })
        }
        _ => Box::pin(body),
    }
}

/// An attempt that fails cleanly after an await point, so that a retry follows.
fn failing_attempt(rt: &Runtime) -> Op {
    let rt = rt.clone();
    Box::pin(async move {
        rt.sleep(5 * MS).await;
        Err("busy")
    })
}

/// The victim's end: completed (`Ok(Some)`), dropped quietly (`Ok(None)`), or a panic, which must
/// be the operation's own.
fn check_panic<T>(out: &Result<Option<T>, String>, context: &str) {
    if let Err(msg) = out {
        assert!(
            [WHEN_CALLED, IN_POLL, ON_DROP].contains(&msg.as_str()),
            "{context}: the operation's panic must reach the caller unchanged, got {msg:?}"
        );
    }
}

/// Runs `scenario(k)` for every cut point `k` (the victim dropped after `k` polls), from 0 until
/// the victim finishes before being cut. `scenario` returns how many polls the victim took.
async fn at_every_cut<Fut>(what: &str, mut scenario: impl FnMut(usize) -> Fut)
where
    Fut: Future<Output = usize>,
{
    for k in 0.. {
        assert!(
            k < 500,
            "{what}: the victim never finished on its own after {k} polls"
        );
        if scenario(k).await < k {
            return; // finished (completed or panicked in poll) before the cut
        }
    }
}

fn listener_breaker(
    rt: &Runtime,
    probes: u32,
    log: Arc<Mutex<Vec<StateChange>>>,
) -> CircuitBreaker {
    CircuitBreaker::builder(rt)
        .count_window(1)
        .minimum_calls(1)
        .failure_rate_threshold(1.0)
        .open_duration(10 * MS)
        .half_open_probes(probes)
        .on_state_change(move |change| {
            log.lock().unwrap().push(change);
            panic!("listener panicked");
        })
        .build()
        .unwrap()
}

/// An `on_state_change` listener that always panics: every state change still completes (the
/// panic reaches the caller whose call made the change, after the change), the half-open probe
/// slot of a caller that got the panic is freed, and successful probes close the breaker again —
/// through `run`, `try_acquire` and a `Pipeline`, for one and for several probes.
pub async fn breaker_recovers_from_a_panicking_listener(env: Env) {
    use CircuitState::*;
    let rt = env.rt();
    for path in ["run", "try_acquire", "pipeline"] {
        for probes in [1, 2] {
            let context = format!("through {path} with {probes} probe(s)");
            let log = Arc::new(Mutex::new(Vec::new()));
            let breaker = listener_breaker(env.rt(), probes, log.clone());
            let pipeline = Pipeline::builder(env.rt())
                .circuit_breaker(breaker.clone())
                .build()
                .unwrap();
            let call = |ok: bool| {
                let breaker = breaker.clone();
                let pipeline = pipeline.clone();
                async move {
                    let op = || async move { if ok { Ok(()) } else { Err("down") } };
                    match path {
                        "run" => breaker.run(op).await,
                        "pipeline" => pipeline.run(op).await,
                        _ => match breaker.try_acquire() {
                            Ok(permit) if ok => {
                                permit.success();
                                Ok(())
                            }
                            Ok(permit) => {
                                permit.failure();
                                Err(ResilienceError::Inner("down"))
                            }
                            Err(open) => Err(open.into()),
                        },
                    }
                }
            };
            // Closed -> Open: the failing call that trips the breaker gets the listener's panic.
            assert_eq!(
                catch(call(false)).await,
                Err("listener panicked".to_owned()),
                "{context}"
            );
            assert_eq!(breaker.state(), Open, "{context}");
            rt.sleep(10 * MS).await;
            // Open -> HalfOpen: the first probe's caller gets the panic; its probe slot is freed.
            assert_eq!(
                catch(call(true)).await,
                Err("listener panicked".to_owned()),
                "{context}"
            );
            assert_eq!(breaker.state(), HalfOpen, "{context}");
            for probe in 1..=probes {
                let out = catch(call(true)).await;
                if probe < probes {
                    assert_eq!(out, Ok(Ok(())), "{context}: probe {probe} must be admitted");
                } else {
                    // HalfOpen -> Closed, made by the last probe, whose caller gets the panic.
                    assert_eq!(
                        out,
                        Err("listener panicked".to_owned()),
                        "{context}: probe {probe} must be admitted and close the breaker"
                    );
                }
            }
            assert_eq!(breaker.state(), Closed, "{context}");
            assert_eq!(catch(call(true)).await, Ok(Ok(())), "{context}");
            let expected = [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)];
            let seen: Vec<_> = log.lock().unwrap().iter().map(|c| (c.from, c.to)).collect();
            assert_eq!(seen, expected, "{context}");
        }
    }
}

/// A retry hook (`on_retry`), predicate (`retry_if`) or Retry-After extractor (`delay_from`) that
/// panics: the panic reaches the caller unchanged, no retry is made, the operation is not called
/// again, the budget is back to full — through `Retry::run`, a hand-driven `Retry::attempts` loop
/// and a `Pipeline` — and the policy works afterwards.
pub async fn retry_callbacks_that_panic_leak_no_budget_token(env: Env) {
    let env = &env;
    for callback in ["on_retry", "retry_if", "delay_from"] {
        for path in ["run", "attempts", "pipeline"] {
            let context = format!("{callback} through {path}");
            let budget = RetryBudget::try_new(3, 1.0).unwrap();
            let builder = Retry::<&'static str>::builder(env.rt())
                .max_attempts(5)
                .backoff(Backoff::constant(MS))
                .budget(budget.clone());
            let retry = match callback {
                "on_retry" => builder.on_retry(|_, _, _| panic!("on_retry panicked")),
                "retry_if" => builder.retry_if(|_| panic!("retry_if panicked")),
                _ => builder.delay_from(|_| panic!("delay_from panicked")),
            }
            .build()
            .unwrap();
            let pipeline = Pipeline::builder(env.rt())
                .retry(retry.clone())
                .build()
                .unwrap();
            let calls = AtomicU32::new(0);
            let op = || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>("busy") }
            };
            let out = match path {
                "run" => catch(retry.run(op)).await,
                "pipeline" => catch(pipeline.run(op)).await,
                _ => {
                    catch(async {
                        let mut attempts = retry.attempts();
                        loop {
                            let err = op().await.unwrap_err();
                            match attempts.failed(ResilienceError::Inner(err)).await {
                                Ok(next) => attempts = next,
                                Err(end) => break Err::<(), _>(end),
                            }
                        }
                    })
                    .await
                }
            };
            assert_eq!(out, Err(format!("{callback} panicked")), "{context}");
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{context}: no retry");
            assert_eq!(budget.available(), 3, "{context}: a budget token leaked");
            assert_eq!(retry.stats().retries, 0, "{context}");
            let ok = within(env, "a call after the panic", retry.run(|| async { Ok(5) })).await;
            assert_eq!(ok, Ok(5), "{context}");
        }
    }
}

/// An operation that panics (when called, in poll or on drop) or blocks in `Drop`, with the call dropped at every await point
/// (attempt, backoff, the second attempt): the panic reaches the caller, the budget holds every
/// token not spent on an attempt that actually started — a retry whose backoff was cut short
/// gives its token back — and the policy works afterwards.
pub async fn panicking_operation_leaves_retry_usable_at_every_await_point(env: Env) {
    let env = &env;
    let rt = env.rt();
    for how in ALL {
        at_every_cut("retry", |k| async move {
            let context = format!("{how:?}, cut after {k} polls");
            let budget = RetryBudget::try_new(3, 1.0).unwrap();
            let retry = Retry::builder(env.rt())
                .max_attempts(3)
                .backoff(Backoff::constant(5 * MS))
                .budget(budget.clone())
                .build()
                .unwrap();
            let calls = AtomicU32::new(0);
            let victim = retry.run(|| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    failing_attempt(rt)
                } else {
                    operation(rt, how)
                }
            });
            let made = Cell::new(0);
            let out = catch(drop_after_polls(victim, k, &made)).await;
            check_panic(&out, &context);
            let calls = calls.load(Ordering::SeqCst);
            assert!(calls <= 2, "{context}: the panic must end the call");
            // One token per attempt after the first; a success (the operation whose drop only
            // blocks) pays one back.
            let spent = calls.saturating_sub(1);
            let earned = u32::from(matches!(out, Ok(Some(Ok(_)))));
            assert_eq!(
                budget.available(),
                (3 - spent + earned).min(3),
                "{context}: tokens not spent on an attempt must be back"
            );
            let ok = within(env, "a call after the panic", retry.run(|| async { Ok(5) })).await;
            assert_eq!(ok, Ok(5), "{context}");
            made.get()
        })
        .await;
    }
}

/// An operation that panics (when called, in poll or on drop) or blocks in `Drop` under a `TimeoutPolicy` — cut at every await point,
/// or dropped by the timeout itself at expiry — panics into the caller; the policy works
/// afterwards.
pub async fn panicking_operation_leaves_timeout_usable_at_every_await_point(env: Env) {
    let env = &env;
    let rt = env.rt();
    let roomy = TimeoutPolicy::builder(env.rt(), Duration::from_secs(3600))
        .message("roomy")
        .build()
        .unwrap();
    for how in ALL {
        at_every_cut("timeout", |k| {
            let roomy = roomy.clone();
            async move {
                let context = format!("{how:?}, cut after {k} polls");
                let made = Cell::new(0);
                let victim = roomy.run(|| operation(rt, how));
                let out = catch(drop_after_polls(victim, k, &made)).await;
                check_panic(&out, &context);
                let ok = within(
                    env,
                    "a call after the panic",
                    roomy.run(|| async { Ok::<_, ()>(5) }),
                )
                .await;
                assert_eq!(ok, Ok(5), "{context}");
                made.get()
            }
        })
        .await;
    }
    // Expiry: the timeout drops an operation whose `Drop` panics; the panic reaches the caller.
    let short = TimeoutPolicy::builder(env.rt(), 2 * MS)
        .message("short")
        .build()
        .unwrap();
    let hangs = || {
        let bomb = PanicOnDrop(ON_DROP);
        async move {
            let _bomb = bomb;
            std::future::pending::<Result<(), ()>>().await
        }
    };
    let out = within(env, "an expiring timeout", catch(short.run(hangs))).await;
    assert_eq!(out.unwrap_err(), ON_DROP);
    let out = within(
        env,
        "a timeout after the panic",
        short.run(std::future::pending::<Result<(), ()>>),
    )
    .await;
    assert!(out.unwrap_err().is_timeout());
}

/// An operation that panics (when called, in poll or on drop) or blocks in `Drop` behind `RateLimiter::run`, the call cut while it
/// queues for its turn or while the operation runs: nobody is left queued and the limiter keeps
/// admitting at its rate.
pub async fn panicking_operation_leaves_rate_limiter_usable_at_every_await_point(env: Env) {
    let env = &env;
    let rt = env.rt();
    for how in ALL {
        at_every_cut("rate limiter", |k| async move {
            let context = format!("{how:?}, cut after {k} polls");
            let limiter = RateLimiter::builder(env.rt(), 1, 10 * MS)
                .burst(1)
                .build()
                .unwrap();
            limiter.try_acquire().unwrap(); // the victim queues for the next turn
            let made = Cell::new(0);
            let victim = limiter.run(|| operation(rt, how));
            let out = catch(drop_after_polls(victim, k, &made)).await;
            check_panic(&out, &context);
            assert_eq!(
                limiter.stats().queued,
                0,
                "{context}: a waiter stayed queued"
            );
            within(env, "an admission after the panic", limiter.acquire()).await;
            within(env, "a second admission after the panic", limiter.acquire()).await;
            made.get()
        })
        .await;
    }
    // `acquire` itself, cut after k yields (the `poll_times` way), with a waiter behind it.
    for k in 0..4 {
        let limiter = RateLimiter::builder(env.rt(), 1, 10 * MS)
            .burst(1)
            .build()
            .unwrap();
        limiter.try_acquire().unwrap();
        assert!(poll_times(limiter.acquire(), k).await.is_none());
        within(env, "the next waiter", limiter.acquire()).await;
        assert_eq!(limiter.stats().queued, 0, "k={k}");
    }
}

/// An operation that panics (when called, in poll or on drop) or blocks in `Drop` in a bulkhead slot — the call cut while it queues
/// for the slot or while it runs: the slot and the queue place are given back.
pub async fn panicking_operation_leaves_bulkhead_usable_at_every_await_point(env: Env) {
    let env = &env;
    let rt = env.rt();
    for how in ALL {
        at_every_cut("bulkhead", |k| async move {
            let context = format!("{how:?}, cut after {k} polls");
            let bulkhead = Bulkhead::builder(env.rt(), 1).build().unwrap();
            let holder = bulkhead.try_acquire().unwrap(); // the victim queues first
            let release = async move {
                rt.sleep(5 * MS).await;
                drop(holder);
            };
            let made = Cell::new(0);
            let victim = bulkhead.run(|| operation(rt, how));
            let ((), out) =
                futures_lite::future::zip(release, catch(drop_after_polls(victim, k, &made))).await;
            check_panic(&out, &context);
            let stats = bulkhead.stats();
            assert_eq!((stats.in_flight, stats.queued), (0, 0), "{context}");
            assert!(bulkhead.try_acquire().is_some(), "{context}: a slot leaked");
            let ok = within(
                env,
                "a call after the panic",
                bulkhead.run(|| async { Ok::<_, ()>(5) }),
            )
            .await;
            assert_eq!(ok, Ok(5), "{context}");
            made.get()
        })
        .await;
    }
}

/// A half-open probe whose operation panics (when called, in poll or on drop) or blocks in `Drop`, cut at every await point: the
/// probe counts as neither success nor failure, its slot is freed, and the next probe closes the
/// breaker.
pub async fn panicking_operation_leaves_breaker_usable_at_every_await_point(env: Env) {
    let env = &env;
    let rt = env.rt();
    for how in ALL {
        at_every_cut("breaker", |k| async move {
            let context = format!("{how:?}, cut after {k} polls");
            let breaker = CircuitBreaker::builder(env.rt())
                .count_window(1)
                .minimum_calls(1)
                .open_duration(10 * MS)
                .half_open_probes(1)
                .build()
                .unwrap();
            breaker.try_acquire().unwrap().failure();
            rt.sleep(10 * MS).await;
            let made = Cell::new(0);
            let victim = breaker.run(|| operation(rt, how));
            let out = catch(drop_after_polls(victim, k, &made)).await;
            check_panic(&out, &context);
            // Closed (the probe succeeded), or half-open with the slot free (or still open, if
            // the victim never asked): either way this call is admitted and closes the breaker.
            let permit = breaker.try_acquire();
            assert!(permit.is_ok(), "{context}: the probe slot is still taken");
            permit.unwrap().success();
            assert_eq!(breaker.state(), CircuitState::Closed, "{context}");
            let ok = within(
                env,
                "a call after the panic",
                breaker.run(|| async { Ok::<_, ()>(5) }),
            )
            .await;
            assert_eq!(ok, Ok(5), "{context}");
            made.get()
        })
        .await;
    }
}

/// The full `Pipeline` (token, overall timeout, retry with a budget, per-attempt timeout, breaker,
/// limiter, bulkhead): a first attempt that fails, then one that panics (when called, in poll or on drop) or blocks in `Drop`, with
/// the call cut at every await point. Afterwards no slot is held, nobody is queued, the breaker is
/// closed and admits, the budget holds every token not spent on a started attempt, and the next
/// call goes through.
pub async fn panicking_operation_leaves_pipeline_usable_at_every_await_point(env: Env) {
    let env = &env;
    let rt = env.rt();
    for how in ALL {
        at_every_cut("pipeline", |k| async move {
            let context = format!("{how:?}, cut after {k} polls");
            let budget = RetryBudget::try_new(3, 1.0).unwrap();
            let pipeline = Pipeline::builder(env.rt())
                .cancellation(CancellationToken::new())
                .timeout(Duration::from_secs(3600), "the whole call")
                .retry(
                    Retry::builder(env.rt())
                        .max_attempts(3)
                        .backoff(Backoff::constant(5 * MS))
                        .budget(budget.clone())
                        .build()
                        .unwrap(),
                )
                .attempt_timeout(Duration::from_secs(3600), "one attempt")
                .circuit_breaker(CircuitBreaker::builder(env.rt()).build().unwrap())
                .rate_limiter(
                    RateLimiter::builder(env.rt(), 1, 10 * MS)
                        .burst(1)
                        .build()
                        .unwrap(),
                )
                .bulkhead(Bulkhead::builder(env.rt(), 1).build().unwrap())
                .build()
                .unwrap();
            let calls = AtomicU32::new(0);
            let victim = pipeline.run(|| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    failing_attempt(rt)
                } else {
                    operation(rt, how)
                }
            });
            let made = Cell::new(0);
            let out = catch(drop_after_polls(victim, k, &made)).await;
            check_panic(&out, &context);
            let bulkhead = pipeline.bulkhead().unwrap().stats();
            assert_eq!((bulkhead.in_flight, bulkhead.queued), (0, 0), "{context}");
            assert_eq!(
                pipeline.rate_limiter().unwrap().stats().queued,
                0,
                "{context}"
            );
            let breaker = pipeline.circuit_breaker().unwrap();
            assert_eq!(breaker.state(), CircuitState::Closed, "{context}");
            drop(breaker.try_acquire().expect("the breaker admits"));
            let spent = calls.load(Ordering::SeqCst).saturating_sub(1);
            let earned = u32::from(matches!(out, Ok(Some(Ok(_)))));
            assert_eq!(
                budget.available(),
                (3 - spent + earned).min(3),
                "{context}: a budget token leaked"
            );
            let ok = within(
                env,
                "a call after the panic",
                pipeline.run(|| async { Ok(5) }),
            )
            .await;
            assert_eq!(ok, Ok(5), "{context}");
            made.get()
        })
        .await;
    }
}
