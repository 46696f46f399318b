//! The one-shot slot through which a batch hands one item its result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// Written once by the batch that carries the item, read once by the item's `AddItem` future.
///
/// The waiter side needs no clean-up when it is cancelled: it drops its `Arc`, and the value the
/// batch writes later is dropped with the last one.
pub(super) struct Slot<T> {
    ready: AtomicBool,
    value: Mutex<Option<T>>,
    waker: AtomicWaker,
}

impl<T> Slot<T> {
    pub(super) fn new() -> Self {
        Slot {
            ready: AtomicBool::new(false),
            value: Mutex::new(None),
            waker: AtomicWaker::new(),
        }
    }

    fn value(&self) -> MutexGuard<'_, Option<T>> {
        // Only moves happen under this lock, so poisoning cannot leave it inconsistent.
        self.value.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn send(&self, value: T) {
        *self.value() = Some(value);
        self.ready.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// `Ready(None)` only if the value was already taken, which `AddItem` never does twice.
    pub(super) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if !self.ready.load(Ordering::Acquire) {
            // Register before the second check, so a `send` in between is not missed.
            self.waker.register(cx.waker());
            if !self.ready.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        Poll::Ready(self.value().take())
    }
}
