//! [`Runner`]: the future a [`Task`]'s executor polls. It runs the user's future, catches its
//! panics, obeys cancellation, and publishes the outcome (see `state` for the protocol).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::state::Shared;
use super::{JoinError, Task};
use crate::loom::Arc;
use crate::panic;

pin_project_lite::pin_project! {
    /// The future handed to the executor: runs the user's future, catches its panic, obeys
    /// cancellation, and stores the outcome for the [`Task`].
    ///
    /// If the executor drops it before completion (runtime shut down), the task resolves to a
    /// cancelled [`JoinError`] instead of hanging its joiner.
    pub(crate) struct Runner<F: Future> {
        shared: Arc<Shared<F::Output>>,
        #[pin]
        future: Option<F>,
    }

    impl<F: Future> PinnedDrop for Runner<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                // Drop the user's future before publishing, so that "cancelled" implies "dropped".
                let outcome = drop_future(this.future).and(Err(JoinError::cancelled()));
                this.shared.complete(outcome);
            }
        }
    }
}

/// Drops the user's future in place, catching a panic from its `Drop`.
///
/// Every path that ends a task goes through here, so a future that panics while being dropped
/// (cancelled, finished, or dropped with the executor) still publishes an outcome — a panic,
/// with that payload — and its joiner never hangs. After a panicking drop the slot is `None`
/// all the same: assignment writes the new value on the unwind path too.
fn drop_future<F>(mut future: Pin<&mut Option<F>>) -> Result<(), JoinError> {
    panic::catch(|| future.set(None)).map_err(JoinError::panicked)
}

impl<F: Future> Future for Runner<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        // Register before checking, so a cancel request racing with this poll is never missed.
        this.shared.runner.register(cx.waker());
        if this.shared.is_cancel_requested() {
            let outcome = drop_future(this.future).and(Err(JoinError::cancelled()));
            this.shared.complete(outcome);
            return Poll::Ready(());
        }
        // The panic is caught here, in the core, so every backend reports it the same way.
        let result = match panic::catch(|| future.poll(cx)) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(JoinError::panicked(payload)),
        };
        // A panic in the finished future's `Drop` wins over its output, as on tokio: the output is
        // dropped and the task reports the panic. A panic in poll keeps its own payload.
        let result = match (drop_future(this.future), result) {
            (Err(panic), Ok(value)) => {
                // Its own `Drop` may panic too; the task reports the first panic either way.
                let _ = panic::call(move || drop(value));
                Err(panic)
            }
            (_, result) => result,
        };
        this.shared.complete(result);
        Poll::Ready(())
    }
}

/// Creates the runner to hand to an executor and the handle to give the user.
pub(crate) fn pair<F: Future>(future: F) -> (Runner<F>, Task<F::Output>) {
    let shared = Shared::new();
    let runner = Runner {
        shared: shared.clone(),
        future: Some(future),
    };
    (runner, Task::new(shared))
}
