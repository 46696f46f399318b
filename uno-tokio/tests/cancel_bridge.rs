//! The bridges between uno's and tokio-util's `CancellationToken` (`uno_tokio::cancel`, feature
//! `tokio-util`), on a current-thread and a multi-thread tokio runtime: both directions, children,
//! one-way-ness, the waiter task ending, and what a runtime shutdown does.

#![cfg(feature = "tokio-util")]

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken as TokioUtilToken;
use uno_core::Runtime;
use uno_core::sync::CancellationToken as UnoToken;
use uno_tokio::cancel::{from_tokio_util, to_tokio_util};

/// A generous bound: these waits end at the next wake-up, never near it.
const PATIENCE: Duration = Duration::from_secs(10);

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `case` on both kinds of tokio runtime.
fn on_both<F, Fut>(case: F)
where
    F: Fn(Runtime) -> Fut,
    Fut: Future<Output = ()>,
{
    for tokio in [current_thread(), multi_thread()] {
        let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
        tokio.block_on(case(rt));
    }
}

/// The number of tasks alive on the current tokio runtime.
fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (yielding to the runtime) until `alive()` is `n`: a waiter task has ended.
async fn until_alive(n: usize) {
    tokio::time::timeout(PATIENCE, async {
        while alive() != n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} tasks alive, expected {n}", alive()));
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen"))
}

#[test]
fn cancelling_the_uno_token_cancels_the_tokio_util_one_and_its_children() {
    on_both(|rt| async move {
        let base = alive();
        let uno = UnoToken::new();
        let bridged = to_tokio_util(&rt, &uno);
        let child = bridged.child_token();
        assert_eq!(alive(), base + 1, "one waiter task");
        assert!(!bridged.is_cancelled());
        uno.cancel();
        within("the bridged token's cancel", bridged.cancelled()).await;
        within("its child's cancel", child.cancelled()).await;
        until_alive(base).await;
    });
}

#[test]
fn cancelling_a_uno_parent_reaches_a_bridged_uno_child() {
    on_both(|rt| async move {
        let parent = UnoToken::new();
        let bridged = to_tokio_util(&rt, &parent.child_token());
        parent.cancel();
        within("the bridged token's cancel", bridged.cancelled()).await;
    });
}

#[test]
fn cancelling_the_tokio_util_token_cancels_the_uno_one_and_its_children() {
    on_both(|rt| async move {
        let base = alive();
        let tu = TokioUtilToken::new();
        let bridged = from_tokio_util(&rt, &tu);
        let child = bridged.child_token();
        assert_eq!(alive(), base + 1, "one waiter task");
        // Cancelled from another thread, as a framework's shutdown would.
        let canceller = tu.clone();
        std::thread::spawn(move || canceller.cancel())
            .join()
            .unwrap();
        within("the bridged token's cancel", bridged.cancelled()).await;
        within("its child's cancel", child.cancelled()).await;
        until_alive(base).await;
    });
}

#[test]
fn the_bridges_are_one_way_and_a_bridged_cancel_ends_the_waiter() {
    on_both(|rt| async move {
        let base = alive();
        let uno = UnoToken::new();
        let to = to_tokio_util(&rt, &uno);
        to.cancel();
        until_alive(base).await; // the waiter saw the bridged token cancelled, and left
        assert!(
            !uno.is_cancelled(),
            "a bridged token's cancel does not reach its source"
        );

        let tu = TokioUtilToken::new();
        let from = from_tokio_util(&rt, &tu);
        from.child_token().cancel();
        assert!(
            !from.is_cancelled(),
            "a child's cancel does not reach its parent"
        );
        from.cancel();
        until_alive(base).await;
        assert!(
            !tu.is_cancelled(),
            "a bridged token's cancel does not reach its source"
        );
    });
}

#[test]
fn an_already_cancelled_source_gives_a_cancelled_token_and_spawns_nothing() {
    on_both(|rt| async move {
        let base = alive();
        let uno = UnoToken::new();
        uno.cancel();
        assert!(to_tokio_util(&rt, &uno).is_cancelled());
        let tu = TokioUtilToken::new();
        tu.cancel();
        assert!(from_tokio_util(&rt, &tu).is_cancelled());
        assert_eq!(alive(), base, "no waiter for a source already cancelled");
    });
}

#[test]
fn a_dropped_bridged_token_leaves_the_waiter_until_the_source_is_cancelled() {
    on_both(|rt| async move {
        let base = alive();
        let uno = UnoToken::new();
        drop(to_tokio_util(&rt, &uno));
        let tu = TokioUtilToken::new();
        drop(from_tokio_util(&rt, &tu));
        tokio::task::yield_now().await;
        assert_eq!(alive(), base + 2, "the waiters are parked on their sources");
        uno.cancel();
        tu.cancel();
        until_alive(base).await;
    });
}

#[test]
fn after_the_runtime_shuts_down_the_bridge_no_longer_carries_cancellation() {
    for tokio in [current_thread(), multi_thread()] {
        let rt = uno_tokio::runtime_from(tokio.handle().clone()).unwrap();
        let (uno, tu) = (UnoToken::new(), TokioUtilToken::new());
        let (to, from) = tokio.block_on(async {
            let bridges = (to_tokio_util(&rt, &uno), from_tokio_util(&rt, &tu));
            tokio::task::yield_now().await; // the waiters are parked
            bridges
        });
        drop(tokio); // drops the waiters, and cancels nothing
        assert!(!to.is_cancelled() && !from.is_cancelled());
        uno.cancel();
        tu.cancel();
        assert!(!to.is_cancelled(), "no waiter is left to carry the cancel");
        assert!(
            !from.is_cancelled(),
            "no waiter is left to carry the cancel"
        );
    }
}
