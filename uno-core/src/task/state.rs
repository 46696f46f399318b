//! The state a [`Task`](super::Task) shares with the future that runs it on the executor
//! ([`Runner`](super::runner::Runner)) or with its [`BlockingJob`](super::BlockingJob).
//!
//! # Implementation notes
//!
//! - **Two bits, only ever set** ([`CANCEL`], [`DONE`]) in one `AtomicU8`, beside the outcome
//!   under a lock and two wakers: the runner's (woken by a cancel request) and the joiner's
//!   (woken by the outcome).
//! - **One outcome, published once**: it is stored under the lock, then `DONE` is set, then the
//!   joiner is woken. The joiner registers its waker before checking `DONE` a second time, so a
//!   completion racing its registration is never missed.
//! - **A cancel request wakes the runner only if neither bit was set**, and the runner registers
//!   its waker before it checks `CANCEL`, so a request racing a poll is seen by that poll or wakes
//!   the next one.
//! - **"Cancelled" implies "dropped"**: every path that ends a task drops the user's future (or
//!   closure) before publishing, so a joiner that sees a cancelled [`JoinError`] knows it is gone.
//! - The loom models of this hand-over are `tests/loom_task.rs`.

use std::task::{Context, Poll};

use super::JoinError;
use crate::loom::atomic::{AtomicU8, Ordering};
use crate::loom::{Arc, AtomicWaker, Mutex, MutexGuard};

/// Cancellation was requested through the handle.
const CANCEL: u8 = 1;
/// The output (or the error) is stored; the task's future has been dropped.
const DONE: u8 = 2;

/// State shared by a [`Task`](super::Task) and the future that runs it on the executor.
pub(super) struct Shared<T> {
    state: AtomicU8,
    /// Woken to make the runner notice a cancellation request.
    pub(super) runner: AtomicWaker,
    /// Woken when the output is stored.
    joiner: AtomicWaker,
    output: Mutex<Option<Result<T, JoinError>>>,
}

impl<T> Shared<T> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Shared {
            state: AtomicU8::new(0),
            runner: AtomicWaker::new(),
            joiner: AtomicWaker::new(),
            output: Mutex::new(None),
        })
    }

    fn output(&self) -> MutexGuard<'_, Option<Result<T, JoinError>>> {
        // A panic while holding this lock is impossible (we only move values in and out), but a
        // poisoned lock must never turn into a second panic.
        self.output.lock()
    }

    pub(super) fn is_cancel_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCEL != 0
    }

    /// Whether the outcome is stored (and the task's future dropped).
    pub(super) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) & DONE != 0
    }

    pub(super) fn complete(&self, result: Result<T, JoinError>) {
        *self.output() = Some(result);
        self.state.fetch_or(DONE, Ordering::AcqRel);
        self.joiner.wake();
    }

    pub(super) fn request_cancel(&self) {
        if self.state.fetch_or(CANCEL, Ordering::AcqRel) & (CANCEL | DONE) == 0 {
            self.runner.wake();
        }
    }

    /// The joiner's side: the outcome once it is published, taken out (a second take, after the
    /// handle returned it, would find `Cancelled`).
    pub(super) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        if !self.is_done() {
            self.joiner.register(cx.waker());
            if !self.is_done() {
                return Poll::Pending;
            }
        }
        let output = self.output().take();
        Poll::Ready(output.unwrap_or_else(|| Err(JoinError::cancelled())))
    }
}
