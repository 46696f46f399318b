//! Cases: spawning, joining, cancelling, detaching, panics and the drop policy of [`Task`].
//!
//! [`Task`]: uno_core::Task

/// This module's cases, in order.
#[doc(hidden)]
#[macro_export]
macro_rules! __uno_cases_task {
    ($cb:ident, $be:tt) => {
        $crate::$cb! { $be; task:
            spawn_returns_output,
        }
    };
}

use crate::Env;

/// A spawned task's output comes back through its handle.
pub async fn spawn_returns_output(env: Env) {
    let task = env.rt().spawn(async { 40 + 2 });
    assert_eq!(task.await.unwrap(), 42);
}
