//! Helpers shared by the cases.

use std::future::Future;
use std::pin::pin;

/// Polls `future` up to `k` times with the calling task's waker, yielding to the executor between
/// polls, then drops it. Returns the output if it completed within those polls.
///
/// The cancellation cases use it to drop a waiter "at every await point": for each `k` from 0 up.
pub async fn poll_times<F: Future>(future: F, k: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    for _ in 0..k {
        if let Some(output) = futures_lite::future::poll_once(future.as_mut()).await {
            return Some(output);
        }
        uno_core::task::yield_now().await;
    }
    None
}

/// Compile-time check that `T` is `Send + Sync`.
pub fn assert_send_sync<T: Send + Sync>() {}
