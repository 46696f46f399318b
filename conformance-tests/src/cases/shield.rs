//! Cases: [`shield`] — cleanup that the cancellation of its caller does not interrupt.
//!
//! [`shield`]: uno_core::task::shield

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_shield {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; shield:
            shielded_output_is_returned,
            shielded_work_finishes_after_caller_is_cancelled,
            shielded_cleanup_survives_group_shutdown,
            shielded_panic_is_a_value,
        }
    };
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uno_core::sync::AsyncEvent;
use uno_core::task::{TaskGroup, shield};

use crate::Env;
use crate::support::{eventually, within};

/// Awaiting a shielded future gives its output.
pub async fn shielded_output_is_returned(env: Env) {
    let rt = env.rt().clone();
    let rt2 = rt.clone();
    let out = within(
        &env,
        "shielded work",
        shield(&rt, async move {
            rt2.sleep(Duration::from_millis(5)).await;
            21 * 2
        }),
    )
    .await;
    assert_eq!(out.unwrap(), 42);
}

/// The task awaiting a shielded future is cancelled mid-way; the shielded work still runs to its
/// end.
pub async fn shielded_work_finishes_after_caller_is_cancelled(env: Env) {
    let rt = env.rt().clone();
    let entered = AsyncEvent::new();
    let release = AsyncEvent::new();
    let finished = Arc::new(AtomicBool::new(false));
    let caller = {
        let (rt, entered, release, finished) = (
            rt.clone(),
            entered.clone(),
            release.clone(),
            finished.clone(),
        );
        env.rt().spawn(async move {
            let inner_rt = rt.clone();
            shield(&inner_rt, async move {
                entered.set();
                release.wait().await;
                rt.sleep(Duration::from_millis(10)).await;
                finished.store(true, Ordering::SeqCst);
            })
            .await
        })
    };
    within(&env, "the shielded work to start", entered.wait()).await;
    caller.cancel_and_wait().await.unwrap_err();
    assert!(!finished.load(Ordering::SeqCst));
    release.set();
    eventually(&env, "the shielded work to finish", || {
        finished.load(Ordering::SeqCst)
    })
    .await;
}

/// A group child doing shielded cleanup: the group's shutdown returns at once (the child's own
/// future is dropped), and the cleanup completes afterwards anyway.
pub async fn shielded_cleanup_survives_group_shutdown(env: Env) {
    let rt = env.rt().clone();
    let flushed = Arc::new(AtomicBool::new(false));
    let started = AsyncEvent::new();
    let group = TaskGroup::<(), ()>::new(&rt);
    {
        let (rt, flushed, started) = (rt.clone(), flushed.clone(), started.clone());
        group.spawn("writer", async move {
            let rt2 = rt.clone();
            let _ = shield(&rt, async move {
                started.set();
                rt2.sleep(Duration::from_millis(30)).await;
                flushed.store(true, Ordering::SeqCst);
            })
            .await;
            Ok(())
        });
    }
    within(&env, "the cleanup to start", started.wait()).await;
    within(&env, "group shutdown", group.shutdown()).await;
    eventually(&env, "the shielded flush", || {
        flushed.load(Ordering::SeqCst)
    })
    .await;
}

/// A panic inside shielded work comes back as a panic `JoinError`.
pub async fn shielded_panic_is_a_value(env: Env) {
    let out = within(
        &env,
        "shielded work",
        shield(env.rt(), async {
            if env_is_sane() {
                panic!("shield boom");
            }
            7u8
        }),
    )
    .await;
    assert_eq!(out.unwrap_err().panic_message(), Some("shield boom"));
}

fn env_is_sane() -> bool {
    true
}
