//! Cases: [`TaskGroup`] — structured concurrency. No child outlives its group; the first failure
//! cancels the siblings (fail-fast) or not (supervisor); panics are values naming the child.
//!
//! [`TaskGroup`]: uno_core::task::TaskGroup

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_group {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; group:
            fail_fast_first_error_cancels_siblings,
            supervisor_lets_siblings_run_and_collects_every_error,
            dropping_group_cancels_every_child,
            dropping_parent_task_mid_way_cancels_children,
            shutdown_cancels_and_waits_for_every_child,
            panic_is_a_value_naming_the_task,
            resume_panic_reraises_on_request,
            stream_yields_in_completion_order,
            join_all_returns_outputs_in_spawn_order,
            concurrency_bound_is_respected,
            zero_concurrency_is_a_typed_error,
            handle_awaits_its_child_and_cancels_only_it,
            spawn_after_failure_starts_cancelled,
            join_all_after_cancellation_does_not_panic,
            scoped_group_waits_for_every_child,
            scoped_group_cancels_body_and_siblings_on_failure,
            bounded_group_admits_children_in_spawn_order,
            fail_fast_never_starts_a_waiting_child_after_failure,
            outcomes_taken_through_handles_leave_nothing_for_the_stream,
            group_types_are_send_sync,
        }
    };
}

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uno_core::task::{
    ChildError, ChildHandle, GroupConfigError, GroupError, GroupSpawner, TaskGroup,
    TaskGroupBuilder, task_group,
};

use crate::support::{DropProbe, assert_duration, eventually, within};
use crate::{Env, assert_send_sync};

const LONG: Duration = Duration::from_secs(3600);

/// Fail-fast: the first child error cancels every sibling (their futures are dropped) and comes
/// back from `join_all` naming the child.
pub async fn fail_fast_first_error_cancels_siblings(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<u32, String>::new(&rt);
    let probes: Vec<DropProbe> = (0..3).map(|_| DropProbe::new()).collect();
    for (i, probe) in probes.iter().enumerate() {
        let (guard, rt) = (probe.guard(), rt.clone());
        group.spawn(format!("sleeper-{i}"), async move {
            let _guard = guard;
            rt.sleep(LONG).await;
            Ok(0)
        });
    }
    let rt2 = rt.clone();
    group.spawn("failing", async move {
        rt2.sleep(Duration::from_millis(20)).await;
        Err("database is down".to_string())
    });
    let start = rt.now();
    let err = within(&env, "join_all after a failure", group.join_all())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err.first,
            ChildError::Failed { name, error } if name == "failing" && error == "database is down"
        ),
        "{:?}",
        err.first
    );
    assert!(err.others.is_empty(), "cancelled siblings are not errors");
    for probe in &probes {
        assert!(probe.is_dropped(), "a sibling outlived the group");
    }
    assert_duration(
        &env,
        rt.now() - start,
        Duration::from_millis(20),
        ..,
        "the group (until the first error)",
    );
}

/// Supervisor mode: failures do not cancel siblings; every failure is collected, in completion
/// order, each naming its child.
pub async fn supervisor_lets_siblings_run_and_collects_every_error(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<u32, String>::builder(&rt)
        .supervisor()
        .build()
        .unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    for (name, ms, fail) in [("a", 10, true), ("b", 30, true), ("ok", 50, false)] {
        let (rt, finished) = (rt.clone(), finished.clone());
        group.spawn(name, async move {
            rt.sleep(Duration::from_millis(ms)).await;
            if fail {
                Err(format!("{name} broke"))
            } else {
                finished.store(true, Ordering::SeqCst);
                Ok(7)
            }
        });
    }
    let err = within(&env, "supervised join_all", group.join_all())
        .await
        .unwrap_err();
    assert!(
        finished.load(Ordering::SeqCst),
        "the healthy sibling was cancelled"
    );
    assert_eq!(err.names(), ["a", "b"]);
    assert_eq!(err.others[0].name(), "b");
    let text = err.to_string();
    assert_eq!(text, r#"task group "task_group" failed: 2 children failed"#);
    assert_eq!(err.first.to_string(), r#"task "a" failed"#);
    assert_eq!(
        err.into_errors().pop().unwrap().into_error().unwrap(),
        "b broke"
    );
}

/// Dropping the group cancels every child: each future is dropped, and none runs afterwards.
pub async fn dropping_group_cancels_every_child(env: Env) {
    let rt = env.rt().clone();
    let ran_on = Arc::new(AtomicUsize::new(0));
    let probes: Vec<DropProbe> = (0..5).map(|_| DropProbe::new()).collect();
    {
        let group = TaskGroup::<(), ()>::new(&rt);
        for (i, probe) in probes.iter().enumerate() {
            let (guard, rt, ran_on) = (probe.guard(), rt.clone(), ran_on.clone());
            group.spawn(format!("child-{i}"), async move {
                let _guard = guard;
                rt.sleep(Duration::from_millis(30)).await;
                ran_on.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        rt.sleep(Duration::from_millis(5)).await;
    }
    for probe in &probes {
        probe.wait_dropped(&rt).await;
    }
    rt.sleep(Duration::from_millis(60)).await;
    assert_eq!(
        ran_on.load(Ordering::SeqCst),
        0,
        "a child ran on after its group was dropped"
    );
}

/// A parent task that owns a group is cancelled mid-way: every child is cancelled with it.
pub async fn dropping_parent_task_mid_way_cancels_children(env: Env) {
    let rt = env.rt().clone();
    let probes: Vec<DropProbe> = (0..4).map(|_| DropProbe::new()).collect();
    let guards: Vec<_> = probes.iter().map(DropProbe::guard).collect();
    let started = Arc::new(AtomicUsize::new(0));
    let parent = {
        let (rt, started) = (rt.clone(), started.clone());
        env.rt().spawn(async move {
            let group = TaskGroup::<(), ()>::new(&rt);
            for (i, guard) in guards.into_iter().enumerate() {
                let (rt, started) = (rt.clone(), started.clone());
                group.spawn(format!("child-{i}"), async move {
                    let _guard = guard;
                    started.fetch_add(1, Ordering::SeqCst);
                    rt.sleep(LONG).await;
                    Ok(())
                });
            }
            group.join_all().await.ok();
        })
    };
    eventually(&env, "all children started", || {
        started.load(Ordering::SeqCst) == 4
    })
    .await;
    parent.cancel_and_wait().await.unwrap_err();
    for probe in &probes {
        probe.wait_dropped(&rt).await;
    }
}

/// `shutdown().await` cancels every child and returns only once each future has been dropped.
pub async fn shutdown_cancels_and_waits_for_every_child(env: Env) {
    let rt = env.rt().clone();
    let mut group = TaskGroup::<(), ()>::new(&rt);
    let probes: Vec<DropProbe> = (0..4).map(|_| DropProbe::new()).collect();
    for (i, probe) in probes.iter().enumerate() {
        let (guard, rt) = (probe.guard(), rt.clone());
        group.spawn(format!("child-{i}"), async move {
            let _guard = guard;
            rt.sleep(LONG).await;
            Ok(())
        });
    }
    within(&env, "shutdown", group.shutdown()).await;
    for probe in &probes {
        assert!(
            probe.is_dropped(),
            "shutdown returned before a child was dropped"
        );
    }
    assert_eq!(group.running(), 0);
    let mut cancelled = 0;
    while let Some(outcome) = group.next().await {
        assert!(outcome.unwrap_err().is_cancelled());
        cancelled += 1;
    }
    assert_eq!(cancelled, 4);
}

/// A child panic is caught and comes back as a value naming the child; in fail-fast mode it
/// cancels the siblings like an error does.
pub async fn panic_is_a_value_naming_the_task(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), ()>::new(&rt);
    let probe = DropProbe::new();
    let (guard, rt2) = (probe.guard(), rt.clone());
    group.spawn("sleeper", async move {
        let _guard = guard;
        rt2.sleep(LONG).await;
        Ok(())
    });
    group.spawn("exploder", async { panic!("exploded at {}", 42) });
    let err = within(&env, "join_all after a panic", group.join_all())
        .await
        .unwrap_err();
    assert_eq!(err.first.name(), "exploder");
    assert_eq!(err.first.panic_message(), Some("exploded at 42"));
    assert!(err.first.is_panic());
    assert!(probe.is_dropped());
    // The runtime is unharmed.
    assert_eq!(rt.spawn(async { 5 }).await.unwrap(), 5);
}

/// A panic payload that is neither a `&str` nor a `String`.
#[derive(Debug, PartialEq)]
struct Inner(u32);

/// `resume_panic` re-raises a caught child panic on request, with its original payload, and leaves
/// other errors alone.
pub async fn resume_panic_reraises_on_request(env: Env) {
    let group = TaskGroup::<(), String>::builder(env.rt())
        .supervisor()
        .build()
        .unwrap();
    group.spawn("bad", async { std::panic::panic_any(Inner(7)) });
    let err = within(&env, "join_all", group.join_all())
        .await
        .unwrap_err();
    let caught = catch_unwind(AssertUnwindSafe(|| err.resume_panic()));
    let payload = caught.expect_err("resume_panic must re-raise");
    // The original payload, not a copy of its text.
    assert_eq!(payload.downcast_ref::<Inner>(), Some(&Inner(7)));
    let plain = ChildError::<String>::Failed {
        name: "x".into(),
        error: "e".into(),
    };
    assert_eq!(plain.resume_panic().into_error().as_deref(), Some("e"));
}

/// The group, as a stream, yields outcomes in completion order.
pub async fn stream_yields_in_completion_order(env: Env) {
    let rt = env.rt().clone();
    let mut group = TaskGroup::<&'static str, ()>::new(&rt);
    // Generous gaps: completion order must not depend on scheduling jitter.
    for (name, ms) in [("third", 90), ("first", 10), ("second", 50)] {
        let rt = rt.clone();
        group.spawn(name, async move {
            rt.sleep(Duration::from_millis(ms)).await;
            Ok(name)
        });
    }
    let mut order = Vec::new();
    while let Some(outcome) = within(&env, "the next outcome", group.next()).await {
        order.push(outcome.unwrap());
    }
    assert_eq!(order, ["first", "second", "third"]);
}

/// `join_all` returns every output, in spawn order whatever the completion order.
pub async fn join_all_returns_outputs_in_spawn_order(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<u64, ()>::new(&rt);
    for i in 0..20u64 {
        let rt = rt.clone();
        group.spawn(format!("n{i}"), async move {
            rt.sleep(Duration::from_millis(20 - i)).await;
            Ok(i * i)
        });
    }
    let all = within(&env, "join_all", group.join_all()).await.unwrap();
    assert_eq!(all, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
}

/// `max_concurrency(2)`: never more than two children run at once, and all of them run.
pub async fn concurrency_bound_is_respected(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), ()>::builder(&rt)
        .max_concurrency(2)
        .build()
        .unwrap();
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    // Before spawning: on a multi-threaded executor the first children start at once.
    let start = rt.now();
    for i in 0..6 {
        let (rt, now, max) = (rt.clone(), now.clone(), max.clone());
        group.spawn(format!("job-{i}"), async move {
            let running = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(running, Ordering::SeqCst);
            rt.sleep(Duration::from_millis(20)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    assert_eq!(
        within(&env, "join_all", group.join_all())
            .await
            .unwrap()
            .len(),
        6
    );
    assert_eq!(max.load(Ordering::SeqCst), 2);
    let elapsed = rt.now() - start;
    assert_duration(
        &env,
        elapsed,
        Duration::from_millis(60),
        Duration::from_millis(60)..,
        "six 20 ms children, two at a time",
    );
}

/// A zero (or absurd) concurrency bound is a typed error at build time, not a panic.
pub async fn zero_concurrency_is_a_typed_error(env: Env) {
    let zero = TaskGroup::<(), ()>::builder(env.rt())
        .max_concurrency(0)
        .build();
    assert_eq!(zero.unwrap_err(), GroupConfigError::ZeroConcurrency);
    if usize::BITS > 32 {
        let huge = TaskGroup::<(), ()>::builder(env.rt())
            .max_concurrency(usize::MAX)
            .build();
        assert!(matches!(
            huge.unwrap_err(),
            GroupConfigError::ConcurrencyTooLarge { .. }
        ));
    }
    let message = GroupConfigError::ZeroConcurrency.to_string();
    assert_eq!(message, "max_concurrency is zero");
}

/// A child's handle yields its own outcome; cancelling one child through its handle does not
/// count as a failure, so a fail-fast group keeps the others running.
pub async fn handle_awaits_its_child_and_cancels_only_it(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<u32, ()>::new(&rt);
    let rt2 = rt.clone();
    let victim = group.spawn("victim", async move {
        rt2.sleep(LONG).await;
        Ok(1)
    });
    let rt3 = rt.clone();
    let survivor = group.spawn("survivor", async move {
        rt3.sleep(Duration::from_millis(20)).await;
        Ok(2)
    });
    assert_eq!(victim.name(), "victim");
    victim.cancel();
    let outcome = within(&env, "the cancelled child", victim).await;
    let outcome = outcome.unwrap_err();
    assert!(outcome.is_cancelled());
    assert_eq!(outcome.name(), "victim");
    assert_eq!(within(&env, "the survivor", survivor).await.unwrap(), 2);
    assert_eq!(group.failed(), None);
    // Both outcomes went to the handles: the group has nothing left to report.
    assert_eq!(
        within(&env, "join_all", group.join_all()).await.unwrap(),
        vec![]
    );
}

/// After a fail-fast failure, children spawned into the group start cancelled.
pub async fn spawn_after_failure_starts_cancelled(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), &'static str>::new(&rt);
    let first = group.spawn("first", async { Err("boom") });
    assert!(
        within(&env, "the failing child", first)
            .await
            .unwrap_err()
            .into_error()
            .is_some()
    );
    assert_eq!(group.failed().as_deref(), Some("first"));
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    let late = group.spawn("late", async move {
        ran2.store(true, Ordering::SeqCst);
        Ok(())
    });
    assert!(
        within(&env, "the late child", late)
            .await
            .unwrap_err()
            .is_cancelled()
    );
    assert!(!ran.load(Ordering::SeqCst));
}

/// Cancelling a whole group and then joining it returns a value, never a panic (tokio's
/// `JoinSet::join_all` panics here).
pub async fn join_all_after_cancellation_does_not_panic(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), ()>::new(&rt);
    for i in 0..3 {
        let rt = rt.clone();
        group.spawn(format!("c{i}"), async move {
            rt.sleep(LONG).await;
            Ok(())
        });
    }
    group.cancel_all();
    let result = within(&env, "join_all", group.join_all()).await;
    assert_eq!(result.unwrap(), vec![]);
}

/// The scoped form (trio's nursery) returns only once every child has finished.
pub async fn scoped_group_waits_for_every_child(env: Env) {
    let rt = env.rt().clone();
    let done = Arc::new(AtomicUsize::new(0));
    let (rt2, done2) = (rt.clone(), done.clone());
    let (body, children) = within(
        &env,
        "task_group",
        task_group(&rt, |spawner: GroupSpawner<u32, ()>| async move {
            for i in 1..=3u32 {
                let (rt, done) = (rt2.clone(), done2.clone());
                spawner.spawn(format!("w{i}"), async move {
                    rt.sleep(Duration::from_millis(10 * u64::from(i))).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(i)
                });
            }
            "body done"
        }),
    )
    .await
    .unwrap();
    assert_eq!(body, "body done");
    assert_eq!(children, [1, 2, 3]);
    assert_eq!(done.load(Ordering::SeqCst), 3, "task_group returned early");
}

/// In the scoped form a failing child cancels its siblings and the body itself.
pub async fn scoped_group_cancels_body_and_siblings_on_failure(env: Env) {
    let rt = env.rt().clone();
    let body_probe = DropProbe::new();
    let sibling_probe = DropProbe::new();
    let body_finished = Arc::new(AtomicBool::new(false));
    let (body_guard, sibling_guard) = (body_probe.guard(), sibling_probe.guard());
    let (rt2, finished) = (rt.clone(), body_finished.clone());
    let result: Result<((), Vec<()>), GroupError<String>> = within(
        &env,
        "task_group",
        task_group(&rt, move |spawner| async move {
            let _guard = body_guard;
            let rt3 = rt2.clone();
            spawner.spawn("sibling", async move {
                let _guard = sibling_guard;
                rt3.sleep(LONG).await;
                Ok(())
            });
            spawner.spawn("failing", async { Err("nope".to_string()) });
            rt2.sleep(LONG).await;
            finished.store(true, Ordering::SeqCst);
        }),
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.first.name(), "failing");
    assert!(body_probe.is_dropped() && sibling_probe.is_dropped());
    assert!(!body_finished.load(Ordering::SeqCst));
}

/// The group's public types can cross threads.
pub async fn group_types_are_send_sync(_env: Env) {
    assert_send_sync::<TaskGroup<u32, String>>();
    assert_send_sync::<ChildHandle<u32, String>>();
    assert_send_sync::<GroupSpawner<u32, String>>();
    assert_send_sync::<TaskGroupBuilder<u32, String>>();
    assert_send_sync::<GroupError<String>>();
}

/// Under `max_concurrency(n)`, children are admitted in spawn order on every backend: with one
/// place they start exactly in spawn order, and with three, child `i` starts only once at least
/// `i - 2` earlier children have finished.
pub async fn bounded_group_admits_children_in_spawn_order(env: Env) {
    let rt = env.rt().clone();
    for limit in [1usize, 3] {
        let group = TaskGroup::<(), String>::builder(&rt)
            .max_concurrency(limit)
            .build()
            .unwrap();
        let started = Arc::new(Mutex::new(Vec::new()));
        let finished = Arc::new(AtomicUsize::new(0));
        for i in 0..24usize {
            let (started, finished) = (started.clone(), finished.clone());
            group.spawn(format!("child-{i}"), async move {
                let done = finished.load(Ordering::SeqCst);
                assert!(
                    done + limit > i,
                    "child-{i} started with only {done} finished under a bound of {limit}"
                );
                started.lock().unwrap().push(i);
                uno_core::task::yield_now().await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        within(&env, "join_all", group.join_all()).await.unwrap();
        let started = started.lock().unwrap().clone();
        assert_eq!(started.len(), 24);
        if limit == 1 {
            assert_eq!(
                started,
                (0..24).collect::<Vec<_>>(),
                "admission out of spawn order"
            );
        }
    }
}

/// Fail-fast never starts a child after the first failure: a child still waiting for a place is
/// dropped unpolled (its outcome: cancelled), and `join_all` reports the one failure.
pub async fn fail_fast_never_starts_a_waiting_child_after_failure(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), String>::builder(&rt)
        .max_concurrency(1)
        .build()
        .unwrap();
    let rt2 = rt.clone();
    group.spawn("first", async move {
        rt2.sleep(Duration::from_millis(5)).await;
        Err("first failed".to_string())
    });
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    let second = group.spawn("second", async move {
        ran2.store(true, Ordering::SeqCst);
        Err("second failed".to_string())
    });
    assert!(
        within(&env, "second", second)
            .await
            .unwrap_err()
            .is_cancelled()
    );
    let err = within(&env, "join_all", group.join_all())
        .await
        .unwrap_err();
    assert_eq!(err.names(), ["first"]);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a waiting child ran after the failure"
    );
}

/// Outcomes taken through handles are gone from the group: after many children awaited one by
/// one through their handles, the stream has nothing left and ends at once.
pub async fn outcomes_taken_through_handles_leave_nothing_for_the_stream(env: Env) {
    let rt = env.rt().clone();
    let mut group = TaskGroup::<usize, String>::new(&rt);
    for i in 0..500usize {
        let child = group.spawn("one-at-a-time", async move { Ok(i) });
        assert_eq!(within(&env, "the child", child).await.unwrap(), i);
    }
    assert!(within(&env, "the stream", group.next()).await.is_none());
    assert_eq!(group.running(), 0);
}
