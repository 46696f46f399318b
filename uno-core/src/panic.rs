//! Catching panics of user code: one wrapper for futures and one conversion of a payload to its
//! message, shared by tasks, groups, the task manager, the lifecycle manager, the cache and the
//! batcher.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::JoinError;

pin_project_lite::pin_project! {
    /// Runs a future, catching a panic in any of its polls as `Err(message)`.
    pub(crate) struct CatchPanic<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchPanic<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchPanic { future }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(panic_message(payload))),
        }
    }
}

/// The message of a caught panic: its `&str` or `String` payload, or a placeholder.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match JoinError::from_panic(payload) {
        JoinError::Panicked { message } => message,
        // `from_panic` only makes `Panicked`; keep a message all the same.
        other => other.to_string(),
    }
}
