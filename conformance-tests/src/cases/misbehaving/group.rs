//! Misbehaving user code around `TaskGroup` and `task_group`: children whose clean-up panics when
//! cancelled (at each await point), that panic while being dropped after finishing, or that block
//! in `Drop`; and groups dropped while their children are parked. A panic is always a failure of
//! the child that raised it, never "merely cancelled", and nothing outlives the group.

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_misbehaving_group {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; misbehaving_group:
            cancelled_child_whose_cleanup_panics_is_a_failure_at_every_await_point,
            shutdown_reports_cleanup_panics_in_supervisor_mode,
            fail_fast_cancellation_cleanup_panic_is_collected,
            finished_child_panicking_in_drop_is_panicked,
            waiting_child_panicking_in_drop_is_panicked_when_cancelled,
            dropped_group_drops_every_child_before_drop_returns,
            dropped_scoped_group_drops_every_child_before_drop_returns,
            dropped_group_with_panicking_and_blocking_drops_does_not_propagate,
        }
    };
}

use std::time::Duration;

use uno_core::Runtime;
use uno_core::task::{ChildError, TaskGroup, task_group, yield_now};

use crate::Env;
use crate::support::{
    BlockOnDrop, DropProbe, PanicOnDrop, PollCount, WatchedSpawner, panics_on_drop, within,
};

const LONG: Duration = Duration::from_secs(3600);

fn assert_panicked<T: std::fmt::Debug, E: std::fmt::Debug>(
    outcome: &Result<T, ChildError<E>>,
    child: &str,
    expected: &str,
) {
    match outcome {
        Err(ChildError::Panicked { name, message, .. }) => {
            assert_eq!((name.as_str(), message.as_str()), (child, expected));
        }
        other => panic!("expected {child} to have panicked with {expected:?}, got {other:?}"),
    }
}

/// Cancelled through its handle after `k` of its own await points, for each `k`, a child whose
/// clean-up panics reports that panic (in both modes), through the handle and as a failure.
pub async fn cancelled_child_whose_cleanup_panics_is_a_failure_at_every_await_point(env: Env) {
    let rt = env.rt().clone();
    for supervisor in [false, true] {
        for k in 0..4usize {
            let builder = TaskGroup::<(), String>::builder(&rt);
            let builder = if supervisor {
                builder.supervisor()
            } else {
                builder
            };
            let group = builder.build().unwrap();
            let child = group.spawn(
                "cleanup-panics",
                panics_on_drop("clean-up failed", async move {
                    for _ in 0..k {
                        yield_now().await;
                    }
                    std::future::pending::<Result<(), String>>().await
                }),
            );
            for _ in 0..k {
                yield_now().await;
            }
            child.cancel();
            let outcome = within(&rt, "the cancelled child", child).await;
            assert_panicked(&outcome, "cleanup-panics", "clean-up failed");
        }
    }
}

/// In supervisor mode, `shutdown` cancels every child; the ones whose clean-up panics are
/// reported as panicked by the stream, the others as cancelled.
pub async fn shutdown_reports_cleanup_panics_in_supervisor_mode(env: Env) {
    let rt = env.rt().clone();
    let mut group = TaskGroup::<(), String>::builder(&rt)
        .supervisor()
        .build()
        .unwrap();
    group.spawn("quiet", std::future::pending());
    group.spawn(
        "noisy",
        panics_on_drop("noisy clean-up", std::future::pending()),
    );
    yield_now().await;
    within(&rt, "shutdown", group.shutdown()).await;
    let mut outcomes = Vec::new();
    while let Some(outcome) = within(&rt, "the stream", group.next()).await {
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let noisy = outcomes
        .iter()
        .find(|o| matches!(o, Err(ChildError::Panicked { .. })))
        .expect("the noisy child's panic is reported");
    assert_panicked(noisy, "noisy", "noisy clean-up");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(ChildError::Cancelled { name }) if name == "quiet"))
    );
}

/// Fail-fast: the first failure cancels a sibling whose clean-up panics; `join_all` returns the
/// first failure and the clean-up panic among the others — never lost.
pub async fn fail_fast_cancellation_cleanup_panic_is_collected(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), String>::new(&rt);
    group.spawn(
        "sibling",
        panics_on_drop("sibling clean-up", std::future::pending()),
    );
    yield_now().await;
    group.spawn("failing", async { Err("disk full".to_string()) });
    let err = within(&rt, "join_all", group.join_all()).await.unwrap_err();
    assert!(
        matches!(
            &err.first,
            ChildError::Failed { name, error } if name == "failing" && error == "disk full"
        ),
        "{:?}",
        err.first
    );
    let others: Vec<Result<(), ChildError<String>>> = err.others.into_iter().map(Err).collect();
    assert_eq!(others.len(), 1, "{others:?}");
    assert_panicked(&others[0], "sibling", "sibling clean-up");
}

/// A child that returns `Ok` and then panics while its future is dropped is a panicked child.
pub async fn finished_child_panicking_in_drop_is_panicked(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<u32, String>::builder(&rt)
        .supervisor()
        .build()
        .unwrap();
    let child = group.spawn(
        "drop-bomb",
        panics_on_drop("drop after Ok", async { Ok(1) }),
    );
    let outcome = within(&rt, "the child", child).await;
    assert_panicked(&outcome, "drop-bomb", "drop after Ok");
}

/// A child waiting for a place under `max_concurrency` is dropped where it waits when cancelled;
/// a panic in that drop is its outcome, and the place stays free for the next.
pub async fn waiting_child_panicking_in_drop_is_panicked_when_cancelled(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<u32, String>::builder(&rt)
        .supervisor()
        .max_concurrency(1)
        .build()
        .unwrap();
    let rt2 = rt.clone();
    let first = group.spawn("first", async move {
        rt2.sleep(Duration::from_millis(10)).await;
        Ok(1)
    });
    let waiting = group.spawn(
        "waiting",
        panics_on_drop("waiting clean-up", async { Ok(2) }),
    );
    let third = group.spawn("third", async { Ok(3) });
    waiting.cancel();
    let outcome = within(&rt, "the waiting child", waiting).await;
    assert_panicked(&outcome, "waiting", "waiting clean-up");
    assert_eq!(within(&rt, "first", first).await.unwrap(), 1);
    assert_eq!(within(&rt, "third", third).await.unwrap(), 3);
}

/// After a group (or a `task_group` scope) was dropped: every child's future must be gone, except
/// one whose task the executor was polling at the moment of the drop (possible on multi-threaded
/// executors), which must be gone as soon as that poll returns. `before[i]` is child `i`'s task's
/// finished polls read just before the drop (`None`: never handed to the executor).
async fn assert_children_dropped(
    rt: &Runtime,
    what: &str,
    probes: &[DropProbe],
    tasks: &[PollCount],
    before: &[usize],
) {
    for (i, probe) in probes.iter().enumerate() {
        if probe.is_dropped() {
            continue;
        }
        let overlapped = tasks
            .get(i)
            .zip(before.get(i))
            .is_some_and(|(task, &before)| task.polled_since(before));
        assert!(
            overlapped,
            "child-{i} is still alive after its {what} was dropped, and its task was not being polled"
        );
        probe.wait_dropped(rt).await;
    }
}

/// Dropping a `TaskGroup` drops every child's future before `drop` returns, on every backend:
/// nothing outlives the group, not even until the executor next polls the children. The only
/// exception is a child whose task was being polled during the drop (possible on multi-threaded
/// executors): it must be gone as soon as that poll returns. The executor's polls are counted by
/// a spawner wrapped around the backend's, so the group's own work around the child's poll counts
/// as "being polled" too.
pub async fn dropped_group_drops_every_child_before_drop_returns(env: Env) {
    for bounded in [false, true] {
        let (rt, spawner) = WatchedSpawner::runtime(env.rt());
        let builder = TaskGroup::<(), String>::builder(&rt);
        let builder = if bounded {
            builder.max_concurrency(2)
        } else {
            builder
        };
        let group = builder.build().unwrap();
        let probes: Vec<DropProbe> = (0..5).map(|_| DropProbe::new()).collect();
        for (i, probe) in probes.iter().enumerate() {
            let (guard, rt) = (probe.guard(), rt.clone());
            group.spawn(format!("child-{i}"), async move {
                let _guard = guard;
                rt.sleep(LONG).await;
                Ok(())
            });
        }
        for _ in 0..3 {
            yield_now().await;
        }
        let tasks = spawner.tasks();
        assert_eq!(tasks.len(), if bounded { 2 } else { 5 }, "children started");
        let before: Vec<usize> = tasks.iter().map(PollCount::finished).collect();
        drop(group);
        assert_children_dropped(&rt, "group", &probes, &tasks, &before).await;
    }
}

/// The same for the scoped form: when the `task_group(..)` future is dropped, every child's
/// future has been dropped by the time the drop returns.
pub async fn dropped_scoped_group_drops_every_child_before_drop_returns(env: Env) {
    let (rt, spawner) = WatchedSpawner::runtime(env.rt());
    let probes: Vec<DropProbe> = (0..4).map(|_| DropProbe::new()).collect();
    let guards: Vec<_> = probes.iter().map(DropProbe::guard).collect();
    let rt2 = rt.clone();
    let scope = task_group::<(), String, _, _, _>(&rt, move |group| async move {
        for (i, guard) in guards.into_iter().enumerate() {
            let rt = rt2.clone();
            group.spawn(format!("child-{i}"), async move {
                let _guard = guard;
                rt.sleep(LONG).await;
                Ok(())
            });
        }
        rt2.sleep(LONG).await;
    });
    let mut scope = Box::pin(scope);
    for _ in 0..4 {
        assert!(
            futures_lite::future::poll_once(scope.as_mut())
                .await
                .is_none()
        );
        yield_now().await;
    }
    let tasks = spawner.tasks();
    assert_eq!(tasks.len(), 4, "children started");
    let before: Vec<usize> = tasks.iter().map(PollCount::finished).collect();
    drop(scope);
    assert_children_dropped(&rt, "task_group", &probes, &tasks, &before).await;
}

/// Dropping a group whose children panic or block in `Drop` neither propagates the panics to the
/// dropping code nor hangs; the children's handles report what happened.
pub async fn dropped_group_with_panicking_and_blocking_drops_does_not_propagate(env: Env) {
    let rt = env.rt().clone();
    let group = TaskGroup::<(), String>::new(&rt);
    // Moved in at spawn, so they exist whether or not the executor polled the child yet.
    let bomb = PanicOnDrop("dropped with the group");
    let panicking = group.spawn("panicking", async move {
        let _bomb = bomb;
        std::future::pending::<Result<(), String>>().await
    });
    let slow = BlockOnDrop;
    let blocking = group.spawn("blocking", async move {
        let _slow = slow;
        std::future::pending::<Result<(), String>>().await
    });
    yield_now().await;
    drop(group);
    let outcome = within(&rt, "the panicking child", panicking).await;
    assert_panicked(&outcome, "panicking", "dropped with the group");
    let outcome = within(&rt, "the blocking child", blocking).await;
    assert!(
        matches!(outcome, Err(ChildError::Cancelled { ref name }) if name == "blocking"),
        "{outcome:?}"
    );
}
