//! Known workloads that a metrics test and a tracing test both observe: one run, two views.

use std::future::{Ready, ready};
use std::time::Duration;

use uno_core::Runtime;
use uno_core::lifecycle::{AsyncManager, on_close};
use uno_core::task::TaskManager;

/// Registers three resources on `manager`: "db" closes in 200 ms, "cache" fails to close
/// ("flush failed"), "hung" never closes (it runs into the manager's close timeout).
#[allow(dead_code, reason = "only the lifecycle tests close resources")]
pub(crate) fn register_slow_failing_and_hung_resources(manager: &AsyncManager, rt: &Runtime) {
    let slow = rt.clone();
    manager
        .register_resource(
            "db",
            on_close(move || {
                let rt = slow.clone();
                async move {
                    rt.sleep(Duration::from_millis(200)).await;
                    Ok(())
                }
            }),
        )
        .unwrap();
    manager
        .register_resource("cache", on_close(|| async { Err("flush failed".into()) }))
        .unwrap();
    manager
        .register_resource("hung", on_close(std::future::pending))
        .unwrap();
}

/// An operation that answers `Err("busy")` to its first two calls and `Ok(3)` to the third.
#[allow(dead_code, reason = "only the resilience tests retry")]
pub(crate) fn busy_twice() -> impl FnMut() -> Ready<Result<u32, &'static str>> {
    let mut calls = 0;
    move || {
        calls += 1;
        ready(if calls < 3 { Err("busy") } else { Ok(calls) })
    }
}

/// Spawns on `tasks` one task of each outcome: "heartbeat" succeeds (after the event "in a
/// managed task"), "import" fails ("bad row 7"), "buggy" panics ("index 3 of 2"), and "stuck"
/// never ends (the shutdown cancels it).
#[allow(dead_code, reason = "only the task tests spawn")]
pub(crate) fn spawn_one_task_of_each_outcome(tasks: &TaskManager) {
    tasks
        .spawn("heartbeat", async {
            tracing::info!("in a managed task");
            Ok::<_, String>(())
        })
        .unwrap();
    tasks.spawn("import", async { Err("bad row 7") }).unwrap();
    tasks
        .spawn("buggy", async {
            panic!("index 3 of 2") as Result<(), String>
        })
        .unwrap();
    tasks
        .spawn("stuck", std::future::pending::<Result<(), String>>())
        .unwrap();
}

/// A batch operation that takes `took` on `rt`'s clock, then: panics ("lookup bug") on a batch
/// holding 99, fails the whole batch ("backend down") on one holding 0, answers no results
/// (the wrong number) on one holding 50, and otherwise `answer`s each item.
#[allow(dead_code, reason = "only the batch tests run batches")]
pub(crate) async fn lookup(
    rt: Runtime,
    took: Duration,
    answer: fn(u32) -> u32,
    items: Vec<u32>,
) -> Result<Vec<u32>, &'static str> {
    rt.sleep(took).await;
    if items.contains(&99) {
        panic!("lookup bug");
    }
    if items.contains(&0) {
        return Err("backend down");
    }
    if items.contains(&50) {
        return Ok(Vec::new());
    }
    Ok(items.into_iter().map(answer).collect())
}
