//! Shielding: work that the cancellation of its caller does not interrupt (trio's shielded cancel
//! scope).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::rt::Runtime;
use crate::task::{JoinError, Task};

/// Runs `future` so that cancelling (dropping) the caller does not interrupt it: for cleanup that
/// must finish, such as flushing a buffer or closing a connection while the task around it is
/// being cancelled.
///
/// The future is spawned on `rt` at once and the returned [`Shielded`] waits for its output. If the
/// `Shielded` is dropped before that, **the future keeps running in the background to completion**
/// with nobody observing its output — that is the point. Because of that it must be `Send +
/// 'static`, and nothing bounds how long it runs: give it its own timeout if it might hang.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] with the original panic payload if it panicked
/// (a cancelled one only if the executor itself shut down).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::shield;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let flushed = Arc::new(AtomicBool::new(false));
/// let seen = flushed.clone();
/// vrt.block_on(async move {
///     let rt2 = rt.clone();
///     let worker = rt.spawn(async move {
///         let rt3 = rt2.clone();
///         shield(&rt2, async move {
///             rt3.sleep(Duration::from_secs(1)).await; // a slow flush
///             flushed.store(true, Ordering::SeqCst);
///         })
///         .await
///     });
///     rt.sleep(Duration::from_millis(10)).await;
///     worker.cancel_and_wait().await.unwrap_err(); // the worker is gone...
///     rt.sleep(Duration::from_secs(2)).await;
/// });
/// assert!(seen.load(Ordering::SeqCst)); // ...but its shielded flush finished
/// ```
///
/// # Cancel safety
///
/// This is what it is for: dropping the `Shielded` neither cancels nor disturbs `future`.
pub fn shield<F>(rt: &Runtime, future: F) -> Shielded<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Shielded {
        task: Some(rt.spawn(future)),
    }
}

/// The future returned by [`shield`]: the shielded work's output. Dropping it leaves the work
/// running.
#[must_use = "futures do nothing unless you .await or poll them (the shielded work runs anyway)"]
pub struct Shielded<T> {
    task: Option<Task<T>>,
}

impl<T> Future for Shielded<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self
            .task
            .as_mut()
            .expect("`Shielded` polled after completion");
        let output = std::task::ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(output)
    }
}

impl<T> Drop for Shielded<T> {
    fn drop(&mut self) {
        // A Task cancels on drop; detaching is what lets the shielded work outlive its caller.
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for Shielded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded")
            .field(
                "finished",
                &self.task.as_ref().is_none_or(Task::is_finished),
            )
            .finish()
    }
}
