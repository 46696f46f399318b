//! The errors of tasks, groups, managers, primitives and timeouts follow std's rule: an inner
//! error is printed by `Display` or returned by `source()`, never both. Each test walks a source
//! chain and checks that no message repeats the next one's.

mod common {
    pub(crate) mod chain;
}

use std::time::Duration;

use uno_core::rt::VirtualRuntime;
use uno_core::sync::{AcquireTimeoutError, AsyncSemaphore, CancellationToken, cancellable};
use uno_core::task::{ManagedTaskError, TaskGroup, TaskManager};

use common::chain::{assert_each_cause_once, chain};

fn refused() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused")
}

#[test]
fn a_group_error_shows_the_group_then_the_child_then_its_cause() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let err = vrt.block_on(async move {
        let group = TaskGroup::<(), std::io::Error>::builder(&rt)
            .name("imports")
            .supervisor()
            .build()
            .unwrap();
        group.spawn("prices", async { Err(refused()) });
        group.spawn("rates", async { panic!("bad row") });
        group.join_all().await.unwrap_err()
    });
    let messages = chain(&err);
    assert_eq!(
        messages,
        [
            r#"task group "imports" failed: 2 children failed"#,
            r#"task "prices" failed"#,
            "connection refused",
        ]
    );
    assert_each_cause_once(&messages);
    let panicked = chain(&err.others[0]);
    assert_eq!(panicked, [r#"task "rates" panicked: bad row"#]);
}

#[test]
fn join_and_manager_errors_have_no_hidden_causes() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let (join, managed) = vrt.block_on(async move {
        let join = rt.spawn(async { panic!("boom") }).await.unwrap_err();
        let tasks = TaskManager::new(&rt);
        let managed = tasks.spawn("import", async { Err(refused()) }).unwrap();
        (join, managed.await.unwrap_err())
    });
    assert_eq!(chain(&join), ["task panicked: boom"]);
    // Transparent: the task's own error, once.
    assert!(matches!(managed, ManagedTaskError::Failed(_)));
    let messages = chain(&managed);
    assert_eq!(messages, ["connection refused"]);
    assert_each_cause_once(&messages);
}

#[test]
fn timeouts_and_cancellation_say_what_happened_once() {
    let vrt = VirtualRuntime::new();
    let rt = vrt.handle();
    let (elapsed, acquire, cancelled) = vrt.block_on(async move {
        let elapsed = rt
            .timeout(
                Duration::from_millis(100),
                "fetching the quote",
                std::future::pending::<()>(),
            )
            .await
            .unwrap_err();
        let pool = AsyncSemaphore::new(0);
        let acquire = pool
            .acquire_timeout(&rt, Duration::from_secs(1))
            .await
            .unwrap_err();
        let token = CancellationToken::new();
        token.cancel();
        let cancelled = cancellable(&token, async {}).await.unwrap_err();
        (elapsed, acquire, cancelled)
    });
    assert_eq!(
        chain(&elapsed),
        ["fetching the quote: timed out after 100ms"]
    );
    assert!(matches!(acquire, AcquireTimeoutError::Elapsed(_)));
    assert_eq!(
        chain(&acquire),
        ["acquiring semaphore permits: timed out after 1s"]
    );
    assert_eq!(chain(&cancelled), ["operation was cancelled"]);
}
